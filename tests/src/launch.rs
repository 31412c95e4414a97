//! Starting the `alcove` binary as a child process on `127.0.0.1:0` and
//! waiting — with a deadline — for the address it prints and, on a first
//! start, the setup link. One copy for every Rust test and example that
//! runs the binary: `alcove-tests` uses it as a module, and the server's own
//! process tests (`server/tests/crash.rs`, `process.rs`), which cannot depend
//! on this crate, include this file by path. It uses only tokio and std.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A started server.
pub struct Launched {
    /// The process (killed when dropped).
    pub child: Child,
    /// `host:port` it listens on.
    pub addr: String,
    /// The first admin's setup link, when it printed one (first start).
    pub link: Option<String>,
}

/// Starts `bin` over `data_dir` on 127.0.0.1:0 with extra environment
/// (settings as `ALCOVE_*`), never a database URL or configuration file of
/// the caller's environment, and waits up to 60 s for its listening line.
/// Its standard error is discarded; `ALCOVE_LOG__FILTER` defaults to `warn`.
pub async fn launch(bin: &Path, data_dir: &Path, env: &[(&str, &str)]) -> Result<Launched, String> {
    let mut cmd = Command::new(bin);
    cmd.arg("--data-dir")
        .arg(data_dir)
        .args(["--listen", "127.0.0.1:0"])
        .env("ALCOVE_LOG__FILTER", "warn")
        .env_remove("ALCOVE_DATABASE_URL")
        .env_remove("ALCOVE_CONFIG")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("start {} (build it first): {e}", bin.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut link = None;
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
            let line = line.trim();
            if line.contains("/invite#") {
                link = Some(line.to_owned());
            }
            if let Some(addr) = line.strip_prefix("Alcove is listening on ") {
                return Ok(addr.trim_start_matches("http://").to_owned());
            }
        }
        Err("the server exited before listening".to_owned())
    })
    .await;
    let addr = match waited {
        Ok(result) => result?,
        Err(_) => return Err("the server did not listen within 60 s".to_owned()),
    };
    Ok(Launched { child, addr, link })
}
