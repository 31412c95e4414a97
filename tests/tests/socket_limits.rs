//! One device holds a bounded number of delivery sockets, on both
//! backends: thirty opened at once with one token give exactly the limit,
//! the rest are answered 429 `too_many_sockets` (the JSON error body)
//! before any upgrade, and a closed socket frees its place.

use alcove_tests::mls::MlsClient;
use alcove_tests::{on_both_backends, Backend, TestApp};
use futures_util::future::join_all;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

on_both_backends!(one_token_cannot_open_more_than_the_limit_of_sockets,);

type Opened = Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    (u16, serde_json::Value),
>;

async fn open(app: &TestApp, token: &str) -> Opened {
    let mut req = format!("ws://{}/api/v1/ws", app.addr)
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(serde_json::Value::Null);
            Err((response.status().as_u16(), body))
        }
        Err(e) => panic!("unexpected socket error {e}"),
    }
}

async fn one_token_cannot_open_more_than_the_limit_of_sockets(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let limit = app.settings.limits.max_sockets_per_device;
    let people = app.practice_with_people().await;
    let phone = MlsClient::sign_in(&app, &people.client, "Phone").await;
    let token = phone.api.bearer.clone().expect("bearer");

    let results = join_all((0..30).map(|_| open(&app, &token))).await;
    let (mut opened, refused): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    assert_eq!(opened.len(), limit, "exactly the limit is open");
    for r in &refused {
        let (status, body) = r.as_ref().expect_err("refused");
        assert_eq!(*status, 429, "{body}");
        assert_eq!(body["error"], "too_many_sockets", "{body}");
    }

    // Another device of the same person is not affected.
    let laptop = MlsClient::sign_in(&app, &people.client, "Laptop").await;
    assert!(open(&app, laptop.api.bearer.as_deref().expect("bearer"))
        .await
        .is_ok());

    // Closing one frees a place (once the server has seen it close).
    let mut first = opened.pop().expect("one").expect("open");
    first.close(None).await.expect("close");
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match open(&app, &token).await {
            Ok(_) => break,
            Err((429, _)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await
            }
            Err(other) => panic!("no place freed: {other:?}"),
        }
    }
    drop(opened);
    app.stop().await;
}
