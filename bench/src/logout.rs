//! Logout → socket closed: N client sessions (one new device each, signed
//! in with password over HTTP as the app does) each hold an open delivery
//! socket; then each session logs out (`POST /api/v1/auth/logout`) and the
//! time from sending the request to that socket reading its close frame
//! (4000 `session_ended`) is measured. The first half log out one at a
//! time, the rest in concurrent bursts; every other socket must stay open
//! until its own logout.

use crate::load::{connect, percentiles};
use crate::setup::{self, Admin, Api};
use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

/// What the socket saw at the end.
struct Closed {
    at: Instant,
    code: Option<u16>,
    reason: String,
}

/// One session with its socket being watched.
struct Session {
    token: String,
    closed: oneshot::Receiver<Closed>,
    task: tokio::task::JoinHandle<()>,
}

/// Results, ms: p50, p95, p99, max.
pub struct LogoutResult {
    /// Sessions (and sockets) opened.
    pub sessions: usize,
    /// Logged out one at a time.
    pub sequential: usize,
    /// Logged out in concurrent bursts of this many.
    pub burst: usize,
    /// Logout request → close frame, sequential logouts.
    pub seq_close_ms: [f64; 4],
    /// Logout request → 204 answer, sequential logouts.
    pub seq_http_ms: [f64; 4],
    /// Logout request → close frame, concurrent logouts.
    pub burst_close_ms: [f64; 4],
    /// Logout request → 204 answer, concurrent logouts.
    pub burst_http_ms: [f64; 4],
    /// Close frame before the 204 answer (sequential logouts).
    pub close_before_answer: usize,
    /// Problems (wrong close code, a socket closed early, timeouts).
    pub problems: Vec<String>,
    /// Sessions logged out right after their socket's upgrade answer.
    pub race: usize,
    /// Of which the socket was not closed within 10 s.
    pub race_open: usize,
    /// Time to sign in N sessions and open their sockets, s.
    pub setup_secs: f64,
}

/// Opens a socket and waits until the server's socket task answers a ping
/// (so it is subscribed to wake-ups), then watches it for its close frame.
async fn watch(addr: SocketAddr, token: String, ready: bool) -> Result<Session> {
    let mut ws = connect(addr, &token).await?;
    ws.send(Message::Ping(b"ready?".to_vec().into())).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut waiting = ready;
    while waiting {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Pong(_)))) => waiting = false,
            Ok(Some(Ok(Message::Close(c)))) => bail!("socket closed before use: {c:?}"),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => bail!("socket: {e}"),
            Ok(None) => bail!("socket ended before use"),
            Err(_) => bail!("no pong within 10 s"),
        }
    }
    let (tx, closed) = oneshot::channel();
    let task = tokio::spawn(async move {
        let end = loop {
            match ws.next().await {
                Some(Ok(Message::Close(c))) => {
                    break Closed {
                        at: Instant::now(),
                        code: c.as_ref().map(|c| u16::from(c.code)),
                        reason: c.map(|c| c.reason.to_string()).unwrap_or_default(),
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    break Closed {
                        at: Instant::now(),
                        code: None,
                        reason: format!("error: {e}"),
                    }
                }
                None => {
                    break Closed {
                        at: Instant::now(),
                        code: None,
                        reason: "ended without a close frame".into(),
                    }
                }
            }
        };
        let _ = tx.send(end);
    });
    Ok(Session {
        token,
        closed,
        task,
    })
}

/// Logs one session out; returns (ms to the 204, ms to the close frame,
/// whether the close came first).
async fn logout_one(api: &Api, s: Session) -> Result<(f64, f64, bool)> {
    let t0 = Instant::now();
    let (status, body) = api
        .post("/api/v1/auth/logout", Some(&s.token), &json!({}))
        .await?;
    let answered = Instant::now();
    if status != 204 {
        bail!("logout: HTTP {status}: {body}");
    }
    let closed = tokio::time::timeout(Duration::from_secs(10), s.closed)
        .await
        .map_err(|_| anyhow!("socket not closed within 10 s of logout"))?
        .map_err(|_| anyhow!("watcher gone"))?;
    s.task.abort();
    if closed.code != Some(4000) || closed.reason != "session_ended" {
        bail!(
            "socket closed with {:?} {:?}, expected 4000 session_ended",
            closed.code,
            closed.reason
        );
    }
    let ms = |t: Instant| t.saturating_duration_since(t0).as_secs_f64() * 1e3;
    Ok((ms(answered), ms(closed.at), closed.at < answered))
}

/// Signs in `n` sessions of a few client accounts (one new device per
/// session); returns their bearer tokens.
async fn sessions(api: &Api, admin: &Admin, n: usize, tag: &str) -> Result<Vec<String>> {
    let link = setup::invite(api, &admin.token, "clinician").await?;
    let link = link.as_str();
    let clinician = setup::register_staff(api, link, &format!("dr.{tag}@bench.example")).await?;
    let clinician = clinician["token"]
        .as_str()
        .ok_or_else(|| anyhow!("no token"))?
        .to_string();
    // A few accounts, so concurrent sign-ins stay under the per-account
    // throttle (in-flight attempts count until they succeed).
    let users = 8.min(n.max(1));
    let mut logins = Vec::new();
    for u in 0..users {
        let link = setup::invite(api, &clinician, "client").await?;
        let link = link.as_str();
        let login = format!("{tag}{u}@bench.example");
        let password = format!("bench client passphrase {login}");
        setup::expect(
            "accept client invite",
            201,
            api.post(
                "/api/v1/invites/accept",
                None,
                &json!({"token": setup::token_of(link), "login": login, "display_name": login,
                        "password": password, "device_name": "Bench phone 0", "transport": "bearer"}),
            )
            .await?,
        )?;
        logins.push((login, password));
    }
    let opened: Vec<Result<String>> = futures_util::stream::iter((0..n).map(|i| {
        let (login, password) = logins[i % users].clone();
        async move {
            let signed = setup::expect(
                "login",
                200,
                api.post(
                    "/api/v1/auth/login",
                    None,
                    &json!({"login": login, "password": password,
                            "device_name": format!("Bench phone {i}"), "transport": "bearer"}),
                )
                .await?,
            )?;
            signed["token"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow!("no token: {signed}"))
        }
    }))
    .buffer_unordered(4)
    .collect()
    .await;
    opened.into_iter().collect()
}

/// The whole phase on a running server.
pub async fn run(
    addr: SocketAddr,
    api: &Api,
    admin: &Admin,
    n: usize,
    burst: usize,
    race: usize,
) -> Result<LogoutResult> {
    let t = Instant::now();
    let tokens = sessions(api, admin, n, "logout")
        .await
        .context("sign in sessions")?;
    let mut all: Vec<Session> =
        futures_util::stream::iter(tokens.into_iter().map(|t| watch(addr, t, true)))
            .buffer_unordered(16)
            .collect::<Vec<Result<Session>>>()
            .await
            .into_iter()
            .collect::<Result<_>>()?;
    let setup_secs = t.elapsed().as_secs_f64();
    let mut problems = Vec::new();
    let sequential = all.len() / 2;
    let rest = all.split_off(sequential);
    let (mut seq_http, mut seq_close, mut early) = (Vec::new(), Vec::new(), 0);
    for s in all {
        match logout_one(api, s).await {
            Ok((h, c, first)) => {
                seq_http.push((h * 1e6) as u64);
                seq_close.push((c * 1e6) as u64);
                early += first as usize;
            }
            Err(e) => problems.push(format!("sequential: {e:#}")),
        }
    }
    let mut rest: Vec<Session> = rest;
    let burst = burst.max(1);
    let (mut b_http, mut b_close) = (Vec::new(), Vec::new());
    loop {
        // The sockets still open must not have closed meanwhile. One that
        // did is counted and set aside (its close was consumed here, so
        // timing its logout would wait for nothing).
        rest.retain_mut(|s| {
            let closed = s.closed.try_recv().is_ok();
            if closed {
                problems.push("a socket closed before its session logged out".into());
            }
            !closed
        });
        if rest.is_empty() {
            break;
        }
        let take = burst.min(rest.len());
        let group: Vec<Session> = rest.drain(..take).collect();
        let results =
            futures_util::future::join_all(group.into_iter().map(|s| logout_one(api, s))).await;
        for r in results {
            match r {
                Ok((h, c, _)) => {
                    b_http.push((h * 1e6) as u64);
                    b_close.push((c * 1e6) as u64);
                }
                Err(e) => problems.push(format!("burst: {e:#}")),
            }
        }
    }
    // The race probe: log out the moment the socket's upgrade is answered,
    // before anything shows the server's socket task is running.
    let mut race_open = 0;
    let probes = sessions(api, admin, race, "race")
        .await
        .context("sign in race sessions")?;
    let race = probes.len();
    for token in probes {
        let s = watch(addr, token, false).await?;
        if let Err(e) = logout_one(api, s).await {
            race_open += 1;
            if race_open <= 3 {
                problems.push(format!("logout right after the upgrade: {e:#}"));
            }
        }
    }
    Ok(LogoutResult {
        race,
        race_open,
        sessions: n,
        sequential,
        burst,
        seq_close_ms: percentiles(seq_close),
        seq_http_ms: percentiles(seq_http),
        burst_close_ms: percentiles(b_close),
        burst_http_ms: percentiles(b_http),
        close_before_answer: early,
        problems,
        setup_secs,
    })
}
