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
    /// When it arrived (the benchmark's lateness).
    pub received: std::time::Instant,
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
        received: std::time::Instant::now(),
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

    /// How many were posted so far, without copying them (a benchmark
    /// polling `posted()` spent its time cloning 100,000 forms).
    pub fn count(&self) -> usize {
        self.inner.lock().expect("gateway state").posted.len()
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
        ca_file: None,
    });
}

/// The gateway over `https://` (tests/gateway/https_gateway.py, Python's
/// own TLS), with a certificate chain made for it by the `openssl` tool: a
/// throwaway CA and a leaf for 127.0.0.1. Stopped when dropped.
pub struct TlsGateway {
    /// `https://127.0.0.1:port`.
    pub base: String,
    /// The CA's certificate (PEM): what `reminders.sms.ca_file` names.
    pub ca_file: std::path::PathBuf,
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl TlsGateway {
    /// Makes the certificates and starts it.
    pub fn start() -> Self {
        use std::process::{Command, Stdio};
        let dir = tempfile::tempdir().expect("temp dir");
        let at = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
        std::fs::write(
            at("leaf.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write the extensions");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let steps: Vec<Vec<String>> = vec![
            [
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    &at("ca.key"),
                    "-out",
                    &at("ca.pem"),
                    "-days",
                    "2",
                    "-subj",
                    "/CN=Alcove test CA",
                ],
            ]
            .concat(),
            [
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    &at("leaf.key"),
                    "-out",
                    &at("leaf.csr"),
                    "-subj",
                    "/CN=127.0.0.1",
                ],
            ]
            .concat(),
            vec![
                "x509",
                "-req",
                "-in",
                &at("leaf.csr"),
                "-CA",
                &at("ca.pem"),
                "-CAkey",
                &at("ca.key"),
                "-CAcreateserial",
                "-out",
                &at("leaf.pem"),
                "-days",
                "2",
                "-extfile",
                &at("leaf.ext"),
            ],
        ]
        .into_iter()
        .map(|v| v.into_iter().map(str::to_owned).collect())
        .collect();
        for args in steps {
            let out = Command::new("openssl")
                .args(&args)
                .output()
                .expect("run openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::fs::create_dir(dir.path().join("posted")).expect("mkdir");
        // The workspace root (this file is also built into the server's
        // own tests).
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root")
            .to_path_buf();
        let mut child = Command::new(crate::smtp::python())
            .arg(root.join("tests/gateway/https_gateway.py"))
            .arg(at("posted"))
            .arg(at("leaf.pem"))
            .arg(at("leaf.key"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the https gateway");
        let mut line = String::new();
        {
            use std::io::BufRead;
            let stdout = child.stdout.take().expect("stdout");
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .expect("the gateway's port");
        }
        let port: u16 = line.trim().parse().expect("a port number");
        Self {
            base: format!("https://127.0.0.1:{port}"),
            ca_file: dir.path().join("ca.pem"),
            dir,
            child,
        }
    }

    /// The forms posted so far, in order.
    pub fn posted(&self) -> Vec<HashMap<String, String>> {
        let folder = self.dir.path().join("posted");
        let mut names: Vec<std::path::PathBuf> = std::fs::read_dir(&folder)
            .expect("read the gateway's folder")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| {
                let v: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(p).expect("record")).expect("json");
                serde_json::from_value(v["form"].clone()).expect("a form")
            })
            .collect()
    }
}

impl Drop for TlsGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
