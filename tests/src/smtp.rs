//! A real SMTP server process on loopback (tests/smtp/sink.py on aiosmtpd),
//! and what arrived at it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The running sink; stopped when dropped.
pub struct SmtpSink {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The test venv's Python (aiosmtpd, twilio, standardwebhooks, http_ece,
/// py_vapid), installed
/// or brought up to the pinned versions once per test process (the script
/// returns at once when they are there).
pub fn python() -> PathBuf {
    static SETUP: std::sync::Once = std::sync::Once::new();
    SETUP.call_once(|| {
        let status = Command::new("bash")
            .arg(root().join("scripts/setup.d/30-test-python.sh"))
            .status()
            .expect("run the test-python setup");
        assert!(status.success(), "installing the test venv failed");
    });
    venv_python()
}

/// Runs a Python script in the test venv with `input` as JSON on its
/// standard input; its standard output parsed as JSON, or — when it exits
/// non-zero (a library refusing what it was given) — what it printed.
pub fn python_json(script: &str, input: &serde_json::Value) -> Result<serde_json::Value, String> {
    let mut child = Command::new(python())
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(input.to_string().as_bytes())
            .expect("write");
    }
    let out = child.wait_with_output().expect("python output");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() {
        serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))
    } else {
        Err(text)
    }
}

fn venv_python() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root().join(t) })
        .unwrap_or_else(|| root().join("target"));
    target.join("test-python/bin/python")
}

impl SmtpSink {
    /// Starts it (installing aiosmtpd first when the venv is missing).
    pub fn start() -> Self {
        Self::start_slow(0)
    }

    /// Starts one that takes `delay_ms` over each message.
    pub fn start_slow(delay_ms: u64) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(python())
            .arg(root().join("tests/smtp/sink.py"))
            .arg(dir.path())
            .arg(delay_ms.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SMTP sink");
        let mut line = String::new();
        {
            use std::io::BufRead;
            let stdout = child.stdout.take().expect("stdout");
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .expect("the sink's port");
        }
        let port = line.trim().parse().expect("a port number");
        Self { port, dir, child }
    }

    /// The messages that arrived so far, in order, as text.
    pub fn messages(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("read the sink's folder")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| String::from_utf8_lossy(&std::fs::read(p).expect("message")).into_owned())
            .collect()
    }

    /// Waits until at least `n` messages arrived (or the deadline passes).
    pub async fn wait_for(&self, n: usize, deadline: Duration) -> Vec<String> {
        let end = tokio::time::Instant::now() + deadline;
        loop {
            let got = self.messages();
            if got.len() >= n || tokio::time::Instant::now() >= end {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `X-Twilio-Signature` that Twilio's own library (`RequestValidator`)
/// computes for a request — an implementation we did not write.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = params
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
        .collect();
    let out = Command::new(python())
        .arg("-c")
        .arg(
            "import json, sys\n\
             from twilio.request_validator import RequestValidator\n\
             print(RequestValidator(sys.argv[1]).compute_signature(sys.argv[2], json.loads(sys.argv[3])))",
        )
        .arg(auth_token)
        .arg(url)
        .arg(serde_json::Value::Object(map).to_string())
        .output()
        .expect("run twilio's RequestValidator");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
