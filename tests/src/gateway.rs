//! A real HTTP server on loopback standing in for the SMS gateway (a third
//! party we cannot reach), in Twilio's API shape: it records each form
//! POST to `/2010-04-01/Accounts/{sid}/Messages.json` and answers with a
//! `sid`, or with the failures it was told to give first.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::{Form, Json, Router};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One message the gateway was asked to send.
#[derive(Debug, Clone)]
pub struct Posted {
    /// The account in the path.
    pub account: String,
    /// The `Authorization` header.
    pub authorization: String,
    /// The form fields (`To`, `From`, `Body`).
    pub form: HashMap<String, String>,
}

#[derive(Default)]
struct Inner {
    posted: Vec<Posted>,
    fail_next: usize,
}

/// The running gateway.
#[derive(Clone)]
pub struct Gateway {
    /// `http://127.0.0.1:port`.
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

async fn messages(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> impl IntoResponse {
    let mut inner = inner.lock().expect("gateway state");
    if inner.fail_next > 0 {
        inner.fail_next -= 1;
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"message": "busy"})),
        );
    }
    inner.posted.push(Posted {
        account,
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        form,
    });
    let sid = format!("SM{:032}", inner.posted.len());
    (
        StatusCode::CREATED,
        Json(serde_json::json!({"sid": sid, "status": "queued"})),
    )
}

impl Gateway {
    /// Starts on 127.0.0.1:0.
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route(
                "/2010-04-01/Accounts/{account}/Messages.json",
                axum::routing::post(messages),
            )
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, inner }
    }

    /// Answers the next `n` requests with 503.
    pub fn fail_next(&self, n: usize) {
        self.inner.lock().expect("gateway state").fail_next = n;
    }

    /// What was posted so far.
    pub fn posted(&self) -> Vec<Posted> {
        self.inner.lock().expect("gateway state").posted.clone()
    }

    /// Waits until at least `n` messages were posted (or the deadline).
    pub async fn wait_for(&self, n: usize, deadline: Duration) -> Vec<Posted> {
        let end = tokio::time::Instant::now() + deadline;
        loop {
            let got = self.posted();
            if got.len() >= n || tokio::time::Instant::now() >= end {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Points a server's reminder channels at a local SMTP sink (its port) and
/// a gateway (its base URL), as the reminder and nudge stories do.
pub fn configure_channels(
    s: &mut alcove_server::config::Settings,
    smtp_port: u16,
    gateway_base: String,
) {
    s.reminders.email = Some(alcove_server::config::EmailSettings {
        host: "127.0.0.1".into(),
        port: smtp_port,
        tls: "none".into(),
        username: None,
        password: None,
        from: "reminders@practice.example".into(),
    });
    s.reminders.sms = Some(alcove_server::config::SmsSettings {
        base_url: gateway_base,
        account_sid: "AC123".into(),
        auth_token: "gateway-token".to_string().into(),
        from: "+15555550000".into(),
    });
}
