//! The real `alcove` server as a child process on 127.0.0.1, over a fresh
//! SQLite data directory or a fresh PostgreSQL database (dropped afterwards).
//! It is started by the tests' one launcher (`tests/src/launch.rs`), with
//! the options the benchmark needs: its log filter, its database, its logs
//! kept in the data directory across restarts.

use anyhow::{anyhow, bail, Context, Result};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use tokio::process::Child;

/// The one launcher of the binary, shared with the tests (which use its
/// shorthand `launch`; the benchmark always passes options).
#[path = "../../tests/src/launch.rs"]
#[allow(dead_code)]
mod launch;

/// A PostgreSQL database made for one run.
pub struct PgDb {
    admin_url: String,
    name: String,
    /// URL of the new database.
    pub url: String,
}

impl PgDb {
    /// The database's name (safe to print, unlike its URL).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates `alcove_bench_<pid>_<n>` on the server of `admin_url`.
    pub async fn create(admin_url: &str, tag: &str) -> Result<Self> {
        let name = format!("alcove_bench_{}_{tag}", std::process::id());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(admin_url)
            .await
            .context("connect to the PostgreSQL admin URL")?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        let base = admin_url.split('?').next().unwrap_or(admin_url);
        let slash = base
            .rfind('/')
            .ok_or_else(|| anyhow!("the PostgreSQL URL has no database path"))?;
        let url = format!("{}/{name}", &base[..slash]);
        Ok(Self {
            admin_url: admin_url.to_string(),
            name,
            url,
        })
    }

    /// Drops the database.
    pub async fn drop_db(&self) {
        if let Ok(mut conn) =
            <sqlx::PgConnection as sqlx::Connection>::connect(&self.admin_url).await
        {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await;
        }
    }
}

/// A running server process.
pub struct Server {
    // Killed when dropped (the launcher sets `kill_on_drop`).
    child: Child,
    pid: u32,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The first admin's one-time setup link.
    pub setup_link: String,
    // Its data directory (SQLite file, keys, logs), removed on drop.
    _dir: tempfile::TempDir,
    pg: Option<PgDb>,
}

impl Server {
    /// Starts `bin` on 127.0.0.1:0 and waits for its listening line.
    pub async fn start(bin: &Path, postgres: Option<&str>, log_filter: &str) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("alcove-bench-").tempdir()?;
        let pg = match postgres {
            Some(url) => Some(PgDb::create(url, "srv").await?),
            None => None,
        };
        let db_url = pg.as_ref().map(|p| p.url.clone());
        // The idle phase holds thousands of sockets over a few device
        // sessions to measure memory per socket, and setup signs many
        // people in at once: neither is what the per-device socket limit
        // or the hashing queue's deadline guard against, so both are
        // raised here (never in a deployment).
        let env = [
            ("ALCOVE_LIMITS__MAX_SOCKETS_PER_DEVICE", "1000000"),
            ("ALCOVE_AUTH__HASH_QUEUE_MS", "600000"),
        ];
        let spawned = spawn(bin, dir.path(), db_url.as_deref(), log_filter, &env, true).await?;
        let (Some(setup_link), Some(pid)) = (spawned.setup_link, spawned.child.id()) else {
            bail!("the server started without its setup link or a process id");
        };
        Ok(Self {
            child: spawned.child,
            pid,
            addr: spawned.addr,
            setup_link,
            _dir: dir,
            pg,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Resident set size of the server, KiB.
    pub fn rss_kib(&self) -> Result<u64> {
        rss_kib(self.pid())
    }

    /// Kills the server and drops its PostgreSQL database.
    pub async fn stop(mut self) {
        // SIGKILL, then reaped.
        let _ = self.child.kill().await;
        if let Some(pg) = self.pg.take() {
            pg.drop_db().await;
        }
    }
}

/// A server process started by [`spawn`].
pub struct Spawned {
    /// The process (killed when dropped).
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The setup link, when it printed one (first start only).
    pub setup_link: Option<String>,
}

/// Starts `bin` over the data directory `dir` (and the database `db_url`
/// when given) on 127.0.0.1:0 through the shared launcher and waits for
/// its listening line; with `want_link`, a start that printed no setup
/// link is an error. Its stdout and stderr are appended to
/// `dir/server.stdout` and `dir/server.stderr`, so restarts keep the story.
pub async fn spawn(
    bin: &Path,
    dir: &Path,
    db_url: Option<&str>,
    log_filter: &str,
    env: &[(&str, &str)],
    want_link: bool,
) -> Result<Spawned> {
    let options = launch::Options {
        env,
        log_filter: Some(log_filter),
        database_url: db_url,
        logs_in_data_dir: true,
    };
    let launched = launch::launch_with(bin, dir, options)
        .await
        .map_err(|e| anyhow!(e))?;
    if want_link && launched.link.is_none() {
        bail!("the server listened without printing its setup link (not a first start?)");
    }
    Ok(Spawned {
        addr: launched.addr.parse()?,
        child: launched.child,
        setup_link: launched.link,
    })
}

/// VmRSS of a process, KiB.
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS for {pid}"))
}

/// Open file descriptors of a process.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Raises this process's open-files limit (children inherit it) with
/// `prlimit`, which needs no unsafe code here. Returns the limit in force.
pub fn raise_nofile(want: u64) -> u64 {
    let pid = std::process::id().to_string();
    let _ = Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={want}:{want}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    current_nofile()
}

/// The soft open-files limit of this process.
pub fn current_nofile() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
