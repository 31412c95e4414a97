//! A push service of our own on loopback (no real one is reachable from
//! here), and a browser's side of Web Push done by libraries we did not
//! write: the subscription's keys made with Python's `cryptography`, each
//! push decrypted with `http_ece` (RFC 8291) and its VAPID signature
//! checked with `py_vapid` (RFC 8292).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One push as the service received it.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// `Authorization` (`vapid t=…, k=…`).
    pub authorization: String,
    /// `TTL`.
    pub ttl: String,
    /// `Content-Encoding`.
    pub encoding: String,
    /// The encrypted body.
    pub body: Vec<u8>,
}

#[derive(Default)]
struct Inner {
    received: Vec<Pushed>,
    /// Answer this status to every push (default 201).
    answer: Option<u16>,
}

/// The push service.
pub struct PushService {
    /// The subscription endpoint it serves.
    pub endpoint: String,
    inner: Arc<Mutex<Inner>>,
}

async fn push(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let mut inner = inner.lock().expect("push state");
    inner.received.push(Pushed {
        authorization: h("authorization"),
        ttl: h("ttl"),
        encoding: h("content-encoding"),
        body: body.to_vec(),
    });
    StatusCode::from_u16(inner.answer.unwrap_or(201)).unwrap_or(StatusCode::CREATED)
}

impl PushService {
    /// Starts on 127.0.0.1:0.
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/push/{id}", axum::routing::post(push))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let endpoint = format!(
            "http://{}/push/{}",
            listener.local_addr().expect("addr"),
            uuid::Uuid::new_v4().simple()
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { endpoint, inner }
    }

    /// From now on answer every push with `status` (410: the browser
    /// unsubscribed).
    pub fn answer(&self, status: u16) {
        self.inner.lock().expect("push state").answer = Some(status);
    }

    /// What arrived so far.
    pub fn received(&self) -> Vec<Pushed> {
        self.inner.lock().expect("push state").received.clone()
    }

    /// Waits until `n` pushes arrived (or the deadline).
    pub async fn wait_for(&self, n: usize, deadline: Duration) -> Vec<Pushed> {
        let end = tokio::time::Instant::now() + deadline;
        loop {
            let got = self.received();
            if got.len() >= n || tokio::time::Instant::now() >= end {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A browser's push keys: its P-256 private key (PEM), and the
/// subscription's `keys` as `PushSubscription.toJSON()` gives them.
#[derive(Debug, Clone)]
pub struct BrowserKeys {
    /// PKCS#8 PEM of the private key.
    pub private_pem: String,
    /// base64url uncompressed public point.
    pub p256dh: String,
    /// base64url 16-byte secret.
    pub auth: String,
}

/// Makes a browser's keys (Python's `cryptography`).
pub fn browser_keys() -> BrowserKeys {
    let script = "import base64, json, os\n\
                  from cryptography.hazmat.primitives.asymmetric import ec\n\
                  from cryptography.hazmat.primitives import serialization as s\n\
                  k = ec.generate_private_key(ec.SECP256R1())\n\
                  b = lambda x: base64.urlsafe_b64encode(x).rstrip(b'=').decode()\n\
                  pub = k.public_key().public_bytes(s.Encoding.X962, s.PublicFormat.UncompressedPoint)\n\
                  pem = k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()).decode()\n\
                  print(json.dumps({'pem': pem, 'p256dh': b(pub), 'auth': b(os.urandom(16))}))\n";
    let v = crate::smtp::python_json(script, &Value::Null).expect("browser keys");
    BrowserKeys {
        private_pem: v["pem"].as_str().expect("pem").to_string(),
        p256dh: v["p256dh"].as_str().expect("p256dh").to_string(),
        auth: v["auth"].as_str().expect("auth").to_string(),
    }
}

/// What a push said, opened as the browser would: the decrypted payload
/// (`http_ece`, aes128gcm) and the VAPID token's claims, its signature
/// checked against the key it names (`py_vapid`), and that key.
pub fn open(keys: &BrowserKeys, p: &Pushed) -> Result<Value, String> {
    let script = "import base64, json, sys\n\
                  import http_ece, py_vapid\n\
                  from cryptography.hazmat.primitives import serialization as s\n\
                  d = json.load(sys.stdin)\n\
                  key = s.load_pem_private_key(d['pem'].encode(), None)\n\
                  pad = lambda x: x + '=' * (-len(x) % 4)\n\
                  body = base64.b64decode(d['body'])\n\
                  auth = base64.urlsafe_b64decode(pad(d['auth']))\n\
                  plain = http_ece.decrypt(body, private_key=key, auth_secret=auth, version='aes128gcm')\n\
                  scheme, rest = d['authorization'].split(' ', 1)\n\
                  parts = dict(p.strip().split('=', 1) for p in rest.split(','))\n\
                  # RFC 7235 allows spaces after the comma; py_vapid does not.\n\
                  ok = py_vapid.Vapid02.verify('vapid t=%s,k=%s' % (parts['t'], parts['k']))\n\
                  if scheme.lower() != 'vapid' or not ok: print('REFUSED: VAPID signature'); sys.exit(3)\n\
                  claims = json.loads(base64.urlsafe_b64decode(pad(parts['t'].split('.')[1])))\n\
                  print(json.dumps({'payload': plain.decode(), 'claims': claims, 'k': parts['k']}))\n";
    let input = serde_json::json!({
        "pem": keys.private_pem,
        "auth": keys.auth,
        "body": data_encoding::BASE64.encode(&p.body),
        "authorization": p.authorization,
    });
    crate::smtp::python_json(script, &input)
}
