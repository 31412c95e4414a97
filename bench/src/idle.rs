//! Idle density: N authenticated, idle delivery sockets held open against
//! the server, and the server's resident memory per socket.

use crate::load::ws_config;
use crate::server::{fd_count, rss_kib};
use anyhow::Result;
use futures_util::StreamExt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the idle phase saw.
#[derive(Debug, Default)]
pub struct IdleResult {
    /// Sockets asked for.
    pub target: usize,
    /// Sockets that completed the WebSocket handshake.
    pub opened: usize,
    /// Still open at the end of the hold.
    pub alive_at_end: usize,
    /// Failed connects.
    pub failed: usize,
    /// A sample failure.
    pub sample_error: Option<String>,
    /// Seconds to open them all.
    pub connect_secs: f64,
    /// Server VmRSS before, KiB.
    pub rss_before_kib: u64,
    /// Server VmRSS with the sockets open (after settling), KiB.
    pub rss_after_kib: u64,
    /// Server open file descriptors with the sockets open.
    pub server_fds: usize,
    /// Source addresses used.
    pub source_addrs: usize,
    /// Load generator VmRSS with the sockets open, KiB.
    pub generator_rss_kib: u64,
    /// (sockets open, server VmRSS KiB) sampled while opening.
    pub checkpoints: Vec<(usize, u64)>,
}

impl IdleResult {
    /// Server RSS growth per open socket, KiB.
    pub fn per_conn_kib(&self) -> f64 {
        if self.opened == 0 {
            return f64::NAN;
        }
        (self.rss_after_kib as f64 - self.rss_before_kib as f64) / self.opened as f64
    }

    /// Marginal server RSS per socket between the first checkpoint and the
    /// end, KiB (excludes memory the allocator had free before the phase).
    pub fn marginal_kib(&self) -> f64 {
        match self.checkpoints.first() {
            Some(&(n0, r0)) if self.opened > n0 => {
                (self.rss_after_kib as f64 - r0 as f64) / (self.opened - n0) as f64
            }
            _ => f64::NAN,
        }
    }
}

async fn open(
    addr: SocketAddr,
    source: Ipv4Addr,
    token: &str,
) -> Result<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    let stream = sock.connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{addr}/api/v1/ws"),
    )?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let (ws, _) =
        tokio_tungstenite::client_async_with_config(req, stream, Some(ws_config())).await?;
    Ok(ws)
}

/// Opens `n` sockets (round-robin over `tokens`, `per_ip` per source
/// address 127.0.0.2, .3, …; 127.0.0.1 is left to other traffic), holds them `hold`, measures, closes them.
pub async fn run(
    addr: SocketAddr,
    server_pid: u32,
    tokens: &[String],
    n: usize,
    per_ip: usize,
    concurrency: usize,
    hold: Duration,
) -> Result<IdleResult> {
    let mut r = IdleResult {
        target: n,
        ..Default::default()
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    r.rss_before_kib = rss_kib(server_pid)?;
    let per_ip = per_ip.max(1);
    r.source_addrs = n.div_ceil(per_ip);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let alive = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let connect_deadline = start + Duration::from_secs(300);
    let mut results = futures_util::stream::iter((0..n).map(|i| {
        let source = Ipv4Addr::new(127, 0, 0, 2 + (i / per_ip).min(250) as u8);
        let token = tokens[i % tokens.len()].clone();
        async move {
            match tokio::time::timeout(Duration::from_secs(10), open(addr, source, &token)).await {
                Ok(r) => r,
                Err(_) => Err(anyhow::anyhow!("no WebSocket handshake within 10 s")),
            }
        }
    }))
    .buffer_unordered(concurrency.max(1));
    let mut holders = Vec::with_capacity(n);
    let step = (n / 5).max(1);
    while let Some(res) = results.next().await {
        if r.opened > 0
            && r.opened % step == 0
            && r.checkpoints.last().map(|c| c.0) != Some(r.opened)
        {
            r.checkpoints
                .push((r.opened, rss_kib(server_pid).unwrap_or(0)));
        }
        match res {
            Ok(mut ws) => {
                r.opened += 1;
                let mut stop = stop_rx.clone();
                let alive = alive.clone();
                alive.fetch_add(1, Ordering::Relaxed);
                holders.push(tokio::spawn(async move {
                    // Reading answers the server's pings; nothing else arrives.
                    loop {
                        tokio::select! {
                            msg = ws.next() => match msg {
                                Some(Ok(_)) => continue,
                                _ => break,
                            },
                            _ = stop.changed() => break,
                        }
                    }
                    alive.fetch_sub(1, Ordering::Relaxed);
                }));
            }
            Err(e) => {
                r.failed += 1;
                r.sample_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
        if Instant::now() > connect_deadline {
            r.sample_error
                .get_or_insert_with(|| "connect phase exceeded 300 s".into());
            break;
        }
    }
    drop(results);
    r.connect_secs = start.elapsed().as_secs_f64();
    // Let the server finish the per-socket start-up (cursor and conversation
    // reads) and settle, then take the highest of a few readings.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let until = Instant::now() + hold;
    let mut peak = 0;
    while Instant::now() < until {
        peak = peak.max(rss_kib(server_pid).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    r.rss_after_kib = peak.max(rss_kib(server_pid).unwrap_or(0));
    r.server_fds = fd_count(server_pid);
    r.generator_rss_kib = rss_kib(std::process::id()).unwrap_or(0);
    r.alive_at_end = alive.load(Ordering::Relaxed);
    let _ = stop_tx.send(true);
    for h in holders {
        let _ = h.await;
    }
    Ok(r)
}
