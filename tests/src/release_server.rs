//! The release `alcove` binary as a separate process on 127.0.0.1:0 over a
//! temporary SQLite file, for the benchmarks in `tests/examples/` (each
//! process then holds one end of every socket). `ALCOVE_BIN` names another
//! binary; the default is `target/release/alcove`.

use tokio::io::AsyncBufReadExt;

/// A running server; killed when dropped.
pub struct ReleaseServer {
    /// The process.
    pub child: tokio::process::Child,
    /// `host:port` it listens on.
    pub addr: String,
    /// The first admin's setup link it printed.
    pub link: String,
    _dir: tempfile::TempDir,
}

impl ReleaseServer {
    /// Starts the binary with extra environment (settings as `ALCOVE_*`
    /// variables) and waits for its listening line.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let bin = std::env::var("ALCOVE_BIN").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/alcove").to_string()
        });
        let dir = tempfile::tempdir().expect("dir");
        let mut cmd = tokio::process::Command::new(&bin);
        cmd.args([
            "--data-dir",
            dir.path().to_str().expect("utf-8"),
            "--listen",
            "127.0.0.1:0",
        ])
        .env("ALCOVE_LOG__FILTER", "warn")
        .env_remove("ALCOVE_DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {bin} (build it first): {e}"));
        let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let (mut addr, mut link) = (None, None);
        while addr.is_none() {
            let line = lines
                .next_line()
                .await
                .expect("read")
                .expect("server exited");
            if line.contains("/invite#") {
                link = Some(line.trim().to_string());
            }
            if let Some(a) = line.trim().strip_prefix("Alcove is listening on http://") {
                addr = Some(a.to_string());
            }
        }
        Self {
            child,
            addr: addr.expect("addr"),
            link: link.expect("link"),
            _dir: dir,
        }
    }
}
