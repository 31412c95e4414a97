//! A real HTTP server on loopback receiving webhooks, as a practice's own
//! system would: it records every request (headers and the raw body) and
//! answers 204, or the failures it was told to give first. Signatures are
//! checked by the Standard Webhooks reference library (`verify`), not by
//! code of ours.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: String,
    /// `webhook-signature`.
    pub signature: String,
    /// The raw body.
    pub body: String,
    /// Whether it was answered with a failure.
    pub refused: bool,
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    fail_next: usize,
}

/// The running receiver.
#[derive(Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:port/hook` (or `[::1]`).
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

async fn hook(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut inner = inner.lock().expect("receiver state");
    let refused = inner.fail_next > 0;
    if refused {
        inner.fail_next -= 1;
    }
    inner.received.push(Received {
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp"),
        signature: h("webhook-signature"),
        body: String::from_utf8_lossy(&body).into_owned(),
        refused,
    });
    if refused {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::NO_CONTENT
    }
}

impl Receiver {
    /// Starts on `host:0` (`127.0.0.1` or `[::1]`).
    pub async fn start(host: &str) -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(format!("{host}:0"))
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, inner }
    }

    /// Answers the next `n` requests with 503.
    pub fn fail_next(&self, n: usize) {
        self.inner.lock().expect("receiver state").fail_next = n;
    }

    /// What arrived so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().expect("receiver state").received.clone()
    }

    /// Waits until `pred` holds of what arrived (or the deadline).
    pub async fn wait_until(
        &self,
        deadline: Duration,
        pred: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let end = tokio::time::Instant::now() + deadline;
        loop {
            let got = self.received();
            if pred(&got) || tokio::time::Instant::now() >= end {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Verifies one request with the `standardwebhooks` package from PyPI
/// (in the test venv): the parsed payload, or the library's refusal.
pub fn verify(secret: &str, r: &Received) -> Result<serde_json::Value, String> {
    let script = "import json, sys\n\
                  from standardwebhooks import Webhook\n\
                  d = json.load(sys.stdin)\n\
                  try:\n\
                  \x20   print(json.dumps(Webhook(d['secret']).verify(d['body'], d['headers'])))\n\
                  except Exception as e:\n\
                  \x20   print('REFUSED: ' + type(e).__name__ + ': ' + str(e)); sys.exit(3)\n";
    let input = serde_json::json!({
        "secret": secret,
        "body": r.body,
        "headers": {"webhook-id": r.id, "webhook-timestamp": r.timestamp, "webhook-signature": r.signature},
    });
    crate::smtp::python_json(script, &input)
}
