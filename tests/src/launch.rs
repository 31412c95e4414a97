//! Starting the `alcove` binary as a child process on `127.0.0.1:0` and
//! waiting — with a deadline — for the address it prints and, on a first
//! start, the setup link. One copy for every Rust test and example that
//! runs the binary: `alcove-tests` uses it as a module, and the server's own
//! process tests (`server/tests/crash.rs`, `process.rs`), which cannot depend
//! on this crate, include this file by path, as does the benchmark
//! (`bench/src/server.rs`), which restarts the server on the same data
//! and needs its logs ([`Options`]). It uses only tokio and std.

use std::fs::{File, OpenOptions};
use std::io::Write;
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

/// How to start the server, beyond its binary and data directory. The
/// default is what [`launch`] does.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options<'a> {
    /// Extra environment (settings as `ALCOVE_*`), set after the others,
    /// so it may override them.
    pub env: &'a [(&'a str, &'a str)],
    /// `ALCOVE_LOG__FILTER`; `warn` when not given.
    pub log_filter: Option<&'a str>,
    /// `ALCOVE_DATABASE_URL`; when not given, none (the caller's own is
    /// never passed on): SQLite in the data directory.
    pub database_url: Option<&'a str>,
    /// Run in the data directory and append the server's standard output
    /// and error to `server.stdout` and `server.stderr` there — a restart
    /// on the same directory keeps the story, and a start that fails says
    /// the end of it. Otherwise standard error is discarded.
    pub logs_in_data_dir: bool,
}

/// Starts `bin` over `data_dir` on 127.0.0.1:0 with extra environment
/// (settings as `ALCOVE_*`), never a database URL or configuration file of
/// the caller's environment, and waits up to 60 s for its listening line.
/// Its standard error is discarded; `ALCOVE_LOG__FILTER` defaults to `warn`.
pub async fn launch(bin: &Path, data_dir: &Path, env: &[(&str, &str)]) -> Result<Launched, String> {
    launch_with(
        bin,
        data_dir,
        Options {
            env,
            ..Options::default()
        },
    )
    .await
}

/// [`launch`] with [`Options`]. The setup link is printed before the
/// listening line, so a first start returns with it.
pub async fn launch_with(
    bin: &Path,
    data_dir: &Path,
    options: Options<'_>,
) -> Result<Launched, String> {
    let append = |name: &str| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join(name))
            .map_err(|e| format!("open {name} in the data directory: {e}"))
    };
    let mut cmd = Command::new(bin);
    cmd.arg("--data-dir")
        .arg(data_dir)
        .args(["--listen", "127.0.0.1:0"])
        .env("ALCOVE_LOG__FILTER", options.log_filter.unwrap_or("warn"))
        .env_remove("ALCOVE_DATABASE_URL")
        .env_remove("ALCOVE_CONFIG");
    if let Some(url) = options.database_url {
        cmd.env("ALCOVE_DATABASE_URL", url);
    }
    let mut stdout_log: Option<File> = None;
    if options.logs_in_data_dir {
        cmd.current_dir(data_dir)
            .stderr(Stdio::from(append("server.stderr")?));
        stdout_log = Some(append("server.stdout")?);
    } else {
        cmd.stderr(Stdio::null());
    }
    cmd.envs(options.env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("start {} (build it first): {e}", bin.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut link = None;
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
            keep(&mut stdout_log, &line);
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
        Ok(Ok(addr)) => addr,
        Ok(Err(e)) => return Err(with_stderr_tail(e, data_dir, options)),
        Err(_) => {
            let e = "the server did not listen within 60 s".to_owned();
            return Err(with_stderr_tail(e, data_dir, options));
        }
    };
    if let Some(mut log) = stdout_log {
        // The rest of its output goes on to the file; a closed pipe would
        // make a later line fail in the server.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = writeln!(log, "{line}");
            }
        });
    }
    Ok(Launched { child, addr, link })
}

/// Appends a line of the server's output to its log file, if it has one.
/// A failed write loses a log line, never the start.
fn keep(log: &mut Option<File>, line: &str) {
    if let Some(log) = log.as_mut() {
        let _ = writeln!(log, "{line}");
    }
}

/// A failed start's reason, with the last 30 lines of its standard error
/// when they were kept.
fn with_stderr_tail(reason: String, data_dir: &Path, options: Options<'_>) -> String {
    if !options.logs_in_data_dir {
        return reason;
    }
    let err = std::fs::read_to_string(data_dir.join("server.stderr")).unwrap_or_default();
    let lines: Vec<&str> = err.lines().collect();
    let tail = &lines[lines.len().saturating_sub(30)..];
    format!("{reason}; stderr tail:\n{}", tail.join("\n"))
}
