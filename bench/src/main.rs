//! `alcove-bench`: load benchmark of the Alcove delivery service.
//!
//! Starts the real `alcove` server process on 127.0.0.1 (SQLite by default,
//! `--postgres URL` for a fresh PostgreSQL database), sets up clinician /
//! client pairs with one device each through the HTTP API and real MLS
//! (`alcove-crypto`), and measures:
//!
//! * throughput: each clinician device sends pre-encrypted messages as fast
//!   as the server acknowledges them (200 = durably stored), its client's
//!   device receives them over the WebSocket;
//! * latency at a fixed total send rate: send-to-receive percentiles, lost;
//! * idle density: N authenticated idle WebSockets, server RSS per socket;
//! * the raw storage ceiling: the same statements without the server.
//!
//! Everything goes to 127.0.0.1 / 127.0.0.x, every loop is bounded in count
//! and time, and the run stops by itself. `--smoke` is a < 30 s check that
//! exits non-zero if any acknowledged message is lost.

mod crashloop;
mod idle;
mod load;
mod logout;
mod raw;
mod server;
mod setup;

use anyhow::{bail, Context, Result};
use clap::Parser;
use load::{Lane, Offer, PhaseResult, Track};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug, Clone)]
#[command(about = "Load benchmark for the Alcove delivery service (loopback only)")]
struct Args {
    /// The server binary (default: target/<this profile>/alcove).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// PostgreSQL admin URL: run on a fresh database there instead of SQLite.
    #[arg(long)]
    postgres: Option<String>,
    /// Phases to run.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "throughput,latency,idle,raw"
    )]
    phases: Vec<String>,
    /// Sender/receiver pairs in the throughput phase.
    #[arg(long, default_value_t = 32)]
    pairs: usize,
    /// How senders send: `http` (one POST per message, what the browser
    /// client does today) or `ws` (`send` frames on the sender's socket).
    #[arg(long, value_enum, default_value_t = load::Transport::Http)]
    send_over: load::Transport,
    /// Receivers acknowledge after this many entries (or a 20 ms pause):
    /// 1 is what the browser does (one `ack` frame per entry it processed).
    #[arg(long, default_value_t = 64)]
    ack_every: usize,
    /// Requests in flight per sender in the throughput phase.
    #[arg(long, default_value_t = 1)]
    inflight: usize,
    /// Messages prepared per pair for the throughput phase.
    #[arg(long, default_value_t = 2500)]
    messages_per_pair: usize,
    /// Time limit of the throughput phase, seconds.
    #[arg(long, default_value_t = 20)]
    throughput_secs: u64,
    /// Total send rate of the latency phase, messages/s.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Duration of the latency phase, seconds.
    #[arg(long, default_value_t = 10)]
    latency_secs: u64,
    /// Pairs in the latency phase (default: --pairs).
    #[arg(long)]
    latency_pairs: Option<usize>,
    /// Idle sockets to hold.
    #[arg(long, default_value_t = 10_000)]
    idle: usize,
    /// Sockets per source address (127.0.0.2, .3, …).
    #[arg(long, default_value_t = 10_000)]
    idle_per_ip: usize,
    /// Pairs whose device sessions the idle sockets use (fresh server).
    #[arg(long, default_value_t = 2)]
    idle_pairs: usize,
    /// Concurrent connection attempts in the idle phase.
    #[arg(long, default_value_t = 256)]
    idle_concurrency: usize,
    /// Seconds to hold the idle sockets while sampling RSS.
    #[arg(long, default_value_t = 5)]
    idle_hold_secs: u64,
    /// Messages per transaction in the batched raw-storage run.
    #[arg(long, default_value_t = 256)]
    raw_batch: usize,
    /// Time limit of each raw-storage run, seconds.
    #[arg(long, default_value_t = 10)]
    raw_secs: u64,
    /// Target ciphertext size, bytes.
    #[arg(long, default_value_t = 300)]
    ciphertext_bytes: usize,
    /// Pairs set up concurrently.
    #[arg(long, default_value_t = 4)]
    setup_concurrency: usize,
    /// Server log filter (ALCOVE_LOG__FILTER).
    #[arg(long, default_value = "info")]
    server_log: String,
    /// Short run for the test suite: a few pairs, a few hundred messages
    /// and sockets, decryption checked; fails if anything is lost.
    #[arg(long)]
    smoke: bool,
    /// Crash loop (`--phases crashloop`): SIGKILL/restart cycles.
    #[arg(long, default_value_t = 200)]
    cycles: usize,
    /// Crash loop: clinician/client pairs (each sends both ways: the
    /// clinician over HTTP, the client over its socket).
    #[arg(long, default_value_t = 4)]
    crash_pairs: usize,
    /// Crash loop: the kill comes uniformly between this many ms …
    #[arg(long, default_value_t = 30)]
    kill_min_ms: u64,
    /// … and this many ms after the load starts.
    #[arg(long, default_value_t = 400)]
    kill_max_ms: u64,
    /// Crash loop: `alcove audit verify` every this many cycles (and at the end).
    #[arg(long, default_value_t = 1)]
    audit_every: usize,
    /// Crash loop: re-read every log from the start every this many cycles.
    #[arg(long, default_value_t = 25)]
    full_check_every: usize,
    /// Crash loop: random seed for the kill moments (0: from the clock).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Logout phase: sessions, each with an open socket.
    #[arg(long, default_value_t = 400)]
    logout_sessions: usize,
    /// Logout phase: the second half log out in concurrent bursts of this many.
    #[arg(long, default_value_t = 25)]
    logout_burst: usize,
    /// Logout phase: sessions logged out the moment their socket's upgrade
    /// is answered (race probe).
    #[arg(long, default_value_t = 20)]
    logout_race: usize,
    /// Hard time limit of the whole run, seconds (default 1800; 120 with --smoke).
    #[arg(long)]
    budget_secs: Option<u64>,
}

impl Args {
    fn apply_smoke(&mut self) {
        self.pairs = 3;
        self.messages_per_pair = 100;
        self.throughput_secs = 10;
        self.rate = 100.0;
        self.latency_secs = 2;
        self.latency_pairs = Some(3);
        self.idle = 300;
        self.idle_per_ip = 150;
        self.idle_pairs = 2;
        self.idle_hold_secs = 1;
        self.raw_secs = 1;
        self.raw_batch = 64;
    }

    fn has(&self, phase: &str) -> bool {
        self.phases.iter().any(|p| p == phase)
    }
}

fn default_server_bin() -> PathBuf {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join(profile)
        .join("alcove")
}

#[derive(Default)]
struct Report {
    lines: Vec<String>,
    failures: Vec<String>,
}

impl Report {
    fn say(&mut self, line: impl Into<String>) {
        let line = line.into();
        println!("{line}");
        self.lines.push(line);
    }
}

fn fmt4(v: [f64; 4]) -> String {
    format!("{:.2} / {:.2} / {:.2} / {:.2}", v[0], v[1], v[2], v[3])
}

fn check_phase(report: &mut Report, name: &str, r: &PhaseResult) {
    if r.lost > 0 {
        report.failures.push(format!(
            "{name}: {} acknowledged messages were never delivered",
            r.lost
        ));
    }
    if r.acked == 0 {
        report.failures.push(format!(
            "{name}: nothing was acknowledged ({:?})",
            r.sample_error
        ));
    }
    for e in &r.receiver_errors {
        report.failures.push(format!("{name}: receiver: {e}"));
    }
}

fn phase_rows(report: &mut Report, name: &str, r: &PhaseResult) {
    report.say(format!(
        "| {name}: sends attempted / acknowledged (200) / errors | {} / {} / {} |",
        r.attempted, r.acked, r.errors
    ));
    if let Some(e) = &r.sample_error {
        report.say(format!("| {name}: sample error | {e} |"));
    }
    report.say(format!(
        "| {name}: acknowledged msg/s (over {:.2} s) | **{:.0}** |",
        r.send_secs, r.acked_per_sec
    ));
    report.say(format!(
        "| {name}: send→200 ms p50 / p95 / p99 / max | {} |",
        fmt4(r.http_ms)
    ));
    report.say(format!(
        "| {name}: send→receive ms p50 / p95 / p99 / max | {} |",
        fmt4(r.e2e_ms)
    ));
    report.say(format!(
        "| {name}: lost (200 but never received) / redelivered | {} / {} |",
        r.lost, r.duplicates
    ));
}

async fn delivery_phases(
    args: &Args,
    bin: &std::path::Path,
    report: &mut Report,
) -> Result<Option<f64>> {
    let t = Instant::now();
    let server = server::Server::start(bin, args.postgres.as_deref(), &args.server_log).await?;
    let api = setup::Api::new(&format!("http://{}", server.addr))?;
    let admin = setup::admin(&api, &server.setup_link).await?;
    let lat_pairs = args.latency_pairs.unwrap_or(args.pairs).max(1);
    let n_pairs = args.pairs.max(lat_pairs).max(1);
    let mut pairs = setup::pairs(&api, &admin, n_pairs, args.setup_concurrency)
        .await
        .context("set up pairs")?;
    let conv0 = pairs[0].conv.clone();
    let (pt_len, ct_len) = setup::calibrate(
        &mut pairs[0].clinician.device,
        &conv0,
        args.ciphertext_bytes,
    )?;
    eprintln!(
        "setup: {n_pairs} pairs in {:.1} s; plaintext {pt_len} B -> ciphertext {ct_len} B",
        t.elapsed().as_secs_f64()
    );
    let mut best = None;
    let base_rss = server.rss_kib().unwrap_or(0);

    if args.has("throughput") {
        let t = Instant::now();
        let mut sent_msgs = Vec::new();
        for p in pairs.iter_mut().take(args.pairs) {
            sent_msgs.push(Arc::new(setup::prepare(
                p,
                args.messages_per_pair,
                pt_len,
                "tp",
            )?));
        }
        eprintln!(
            "throughput: encrypted {} messages in {:.1} s",
            args.pairs * args.messages_per_pair,
            t.elapsed().as_secs_f64()
        );
        let lanes: Vec<Lane> = pairs
            .iter()
            .zip(&sent_msgs)
            .map(|(p, m)| Lane {
                conv: p.conv.clone(),
                sender_token: p.clinician.token.clone(),
                receiver_token: p.client.token.clone(),
                track: Arc::new(Track::new(m.clone(), args.smoke)),
            })
            .collect();
        let offer = Offer::ClosedLoop {
            inflight: args.inflight,
            limit: Duration::from_secs(args.throughput_secs),
        };
        let r = load::run_phase(
            server.addr,
            &api,
            &lanes,
            offer,
            args.send_over,
            Duration::from_secs(10),
            args.ack_every,
        )
        .await?;
        let peak_rss = server.rss_kib().unwrap_or(0);
        report.say(format!(
            "\n### Throughput ({} pairs, {} in flight per sender, sent over {:?}, acknowledged every {} entries, {ct_len}-byte ciphertexts, {})\n",
            args.pairs,
            args.inflight,
            args.send_over,
            args.ack_every,
            if args.postgres.is_some() {
                "PostgreSQL"
            } else {
                "SQLite"
            }
        ));
        report.say("| measure | value |");
        report.say("|---|---|");
        phase_rows(report, "throughput", &r);
        report.say(format!(
            "| server RSS after setup / after phase | {} / {} KiB |",
            base_rss, peak_rss
        ));
        check_phase(report, "throughput", &r);
        best = Some(r.acked_per_sec);
        if args.smoke {
            // The receiving devices decrypt everything they got, in order.
            let mut ok = 0;
            for (p, lane) in pairs.iter_mut().zip(&lanes) {
                let received = lane
                    .track
                    .received
                    .lock()
                    .map(|r| r.clone())
                    .unwrap_or_default();
                ok += setup::verify_decrypt(p, &received, &lane.track.msgs)?;
            }
            report.say(format!(
                "| throughput: decrypted and matched by the receiving devices | {ok} |"
            ));
            if ok != r.acked {
                report.failures.push(format!(
                    "decrypted {ok} of {} acknowledged messages",
                    r.acked
                ));
            }
        }
    }

    if args.has("latency") {
        let per_pair = ((args.rate * args.latency_secs as f64) / lat_pairs as f64).ceil() as usize;
        let mut lanes = Vec::new();
        for p in pairs.iter_mut().take(lat_pairs) {
            let msgs = Arc::new(setup::prepare(p, per_pair, pt_len, "lat")?);
            lanes.push(Lane {
                conv: p.conv.clone(),
                sender_token: p.clinician.token.clone(),
                receiver_token: p.client.token.clone(),
                track: Arc::new(Track::new(msgs, false)),
            });
        }
        let r = load::run_phase(
            server.addr,
            &api,
            &lanes,
            Offer::FixedRate { rate: args.rate },
            args.send_over,
            Duration::from_secs(10),
            args.ack_every,
        )
        .await?;
        report.say(format!(
            "\n### Latency at a fixed {} msg/s ({} pairs, {} s, sent over {:?}, acknowledged every {} entries, {ct_len}-byte ciphertexts, {})\n",
            args.rate,
            lat_pairs,
            args.latency_secs,
            args.send_over,
            args.ack_every,
            if args.postgres.is_some() {
                "PostgreSQL"
            } else {
                "SQLite"
            }
        ));
        report.say("| measure | value |");
        report.say("|---|---|");
        phase_rows(report, "latency", &r);
        check_phase(report, "latency", &r);
    }
    server.stop().await;
    Ok(best)
}

async fn idle_phase(args: &Args, bin: &std::path::Path, report: &mut Report) -> Result<()> {
    let server = server::Server::start(bin, args.postgres.as_deref(), &args.server_log).await?;
    let api = setup::Api::new(&format!("http://{}", server.addr))?;
    let admin = setup::admin(&api, &server.setup_link).await?;
    let pairs = setup::pairs(&api, &admin, args.idle_pairs.max(1), args.setup_concurrency).await?;
    let tokens: Vec<String> = pairs
        .iter()
        .flat_map(|p| [p.clinician.token.clone(), p.client.token.clone()])
        .collect();
    let r = idle::run(
        server.addr,
        server.pid(),
        &tokens,
        args.idle,
        args.idle_per_ip,
        args.idle_concurrency,
        Duration::from_secs(args.idle_hold_secs),
    )
    .await?;
    report.say(format!(
        "\n### Idle density ({} sockets over {} device sessions, {} source addresses, fresh server, {})\n",
        r.target,
        tokens.len(),
        r.source_addrs,
        if args.postgres.is_some() { "PostgreSQL" } else { "SQLite" }
    ));
    report.say("| measure | value |");
    report.say("|---|---|");
    report.say(format!(
        "| sockets opened / failed / still open after hold | {} / {} / {} |",
        r.opened, r.failed, r.alive_at_end
    ));
    if let Some(e) = &r.sample_error {
        report.say(format!("| sample failure | {e} |"));
    }
    report.say(format!(
        "| time to open them | {:.1} s ({:.0}/s) |",
        r.connect_secs,
        r.opened as f64 / r.connect_secs.max(1e-9)
    ));
    report.say(format!(
        "| server RSS before / with sockets | {} / {} KiB |",
        r.rss_before_kib, r.rss_after_kib
    ));
    report.say(format!(
        "| **server RSS per socket** (growth / sockets) | **{:.1} KiB** |",
        r.per_conn_kib()
    ));
    let cps: Vec<String> = r
        .checkpoints
        .iter()
        .map(|(n, k)| format!("{n}: {k}"))
        .collect();
    report.say(format!(
        "| server RSS KiB while opening (sockets: KiB) | {} |",
        cps.join(", ")
    ));
    report.say(format!(
        "| marginal server RSS per socket after the first checkpoint | {:.1} KiB |",
        r.marginal_kib()
    ));
    report.say(format!(
        "| server open fds / load generator RSS | {} / {} KiB |",
        r.server_fds, r.generator_rss_kib
    ));
    if r.opened < r.target || r.alive_at_end < r.opened {
        report.failures.push(format!(
            "idle: {} of {} opened, {} alive at the end",
            r.opened, r.target, r.alive_at_end
        ));
    }
    server.stop().await;
    Ok(())
}

async fn raw_phase(args: &Args, report: &mut Report, best: Option<f64>) -> Result<()> {
    let data = vec![0xA5u8; args.ciphertext_bytes];
    let limit = Duration::from_secs(args.raw_secs);
    let dir = tempfile::Builder::new()
        .prefix("alcove-bench-raw-")
        .tempdir()?;
    let max = 1_000_000;
    let pairs = args.pairs.max(1);
    let mut rows = Vec::new();
    for batch in [1, args.raw_batch] {
        rows.push((
            "SQLite",
            raw::sqlite(dir.path(), pairs, batch, max, limit, &data).await?,
        ));
    }
    if let Some(url) = &args.postgres {
        for batch in [1, args.raw_batch] {
            rows.push((
                "PostgreSQL",
                raw::postgres(url, pairs, batch, max, limit, &data).await?,
            ));
        }
    }
    report.say(format!("\n### Raw storage ceiling (the server's own batch writes called directly: messages then their acknowledgements, one transaction each; {pairs} conversations)\n"));
    report.say(
        "| backend | messages per transaction | messages | msg/s | server throughput / this |",
    );
    report.say("|---|---|---|---|---|");
    let backend = if args.postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    for (name, r) in rows {
        let ratio = match best {
            Some(b) if name == backend => format!("{:.1} %", 100.0 * b / r.per_sec()),
            _ => "–".into(),
        };
        report.say(format!(
            "| {name} | {} | {} | {:.0} | {ratio} |",
            r.batch,
            r.messages,
            r.per_sec()
        ));
    }
    Ok(())
}

fn budget(args: &Args) -> Duration {
    Duration::from_secs(
        args.budget_secs
            .unwrap_or(if args.smoke { 120 } else { 1800 }),
    )
}

fn backend(args: &Args) -> &'static str {
    if args.postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    }
}

async fn logout_phase(args: &Args, bin: &std::path::Path, report: &mut Report) -> Result<()> {
    let server = server::Server::start(bin, args.postgres.as_deref(), &args.server_log).await?;
    let api = setup::Api::new(&format!("http://{}", server.addr))?;
    let admin = setup::admin(&api, &server.setup_link).await?;
    let r = logout::run(
        server.addr,
        &api,
        &admin,
        args.logout_sessions,
        args.logout_burst,
        args.logout_race,
    )
    .await?;
    server.stop().await;
    report.say(format!(
        "\n### Logout → socket closed ({} sessions with an open socket each, {} logged out one at a time, the rest in concurrent bursts of {}, {})\n",
        r.sessions, r.sequential, r.burst, backend(args)
    ));
    report.say("| measure | value |");
    report.say("|---|---|");
    report.say(format!(
        "| sessions signed in and sockets opened | {} in {:.1} s |",
        r.sessions, r.setup_secs
    ));
    report.say(format!(
        "| one at a time: logout sent → close frame ms p50 / p95 / p99 / max | **{}** |",
        fmt4(r.seq_close_ms)
    ));
    report.say(format!(
        "| one at a time: logout sent → 204 ms p50 / p95 / p99 / max | {} |",
        fmt4(r.seq_http_ms)
    ));
    report.say(format!(
        "| one at a time: close frame read before the 204 | {} of {} |",
        r.close_before_answer, r.sequential
    ));
    report.say(format!(
        "| bursts of {}: logout sent → close frame ms p50 / p95 / p99 / max | **{}** |",
        r.burst,
        fmt4(r.burst_close_ms)
    ));
    report.say(format!(
        "| bursts of {}: logout sent → 204 ms p50 / p95 / p99 / max | {} |",
        r.burst,
        fmt4(r.burst_http_ms)
    ));
    report.say(format!(
        "| logged out right after the socket's upgrade answer: socket still open 10 s later | {} of {} |",
        r.race_open, r.race
    ));
    report.say(format!("| problems | {} |", r.problems.len()));
    for p in r.problems.iter().take(10) {
        report.failures.push(format!("logout: {p}"));
    }
    if r.problems.len() > 10 {
        report
            .failures
            .push(format!("logout: {} problems in all", r.problems.len()));
    }
    Ok(())
}

async fn crashloop_phase(args: &Args, bin: &std::path::Path, report: &mut Report) -> Result<()> {
    let opts = crashloop::Opts {
        cycles: args.cycles,
        pairs: args.crash_pairs,
        kill_ms: (args.kill_min_ms, args.kill_max_ms.max(args.kill_min_ms)),
        audit_every: args.audit_every,
        full_check_every: args.full_check_every,
        seed: args.seed,
        text_len: 200,
        log_filter: args.server_log.clone(),
        budget: budget(args).saturating_sub(Duration::from_secs(90)),
    };
    let o = crashloop::run(bin, args.postgres.as_deref(), &opts).await?;
    let t = &o.totals;
    let ms = |v: &[f64]| {
        let ns: Vec<u64> = v.iter().map(|x| (x * 1e6) as u64).collect();
        fmt4(load::percentiles(ns))
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    report.say(format!(
        "\n### Crash loop ({}: {} pairs = {} senders, half over HTTP and half over the socket; SIGKILL {}–{} ms into each cycle's load; seed {})\n",
        backend(args),
        opts.pairs,
        opts.pairs * 2,
        opts.kill_ms.0,
        opts.kill_ms.1,
        o.seed
    ));
    report.say("| measure | value |");
    report.say("|---|---|");
    report.say(format!(
        "| kill → restart → check cycles | **{}**{} |",
        t.cycles,
        if o.out_of_time {
            " (stopped by the time budget)"
        } else {
            ""
        }
    ));
    report.say(format!(
        "| messages encrypted / send attempts | {} / {} |",
        t.messages, t.attempts
    ));
    report.say(format!(
        "| acknowledged (HTTP 200 / socket `sent`) | **{}** ({} / {}) |",
        t.acked, t.acked_http, t.acked_socket
    ));
    report.say(format!(
        "| in flight at a kill: stored without an answer / not stored | {} / {} |",
        t.stored_unacked, t.unstored_unacked
    ));
    report.say(format!(
        "| resends after a restart (same client_msg_id) / answered duplicate | {} / {} |",
        t.resends, t.resend_duplicates
    ));
    report.say(format!(
        "| **lost** (acknowledged, not in the log) / **duplicates** / out of order / unknown | **{}** / **{}** / {} / {} |",
        t.lost, t.duplicates, t.order_violations, t.unknown_entries
    ));
    report.say(format!(
        "| 503 `unavailable` answers while up (retried, as a client does) | {}{} |",
        t.unavailable,
        t.unavailable_sample
            .as_ref()
            .map(|s| format!(" (e.g. {})", s.replace('|', "/")))
            .unwrap_or_default()
    ));
    report.say(format!(
        "| decrypted from the log by the receiving devices and matched / failures | {} / {} |",
        t.decrypted, t.decrypt_failures
    ));
    report.say(format!(
        "| `alcove audit verify` after a kill: verified / failed | **{}** / {} |",
        t.audit_ok, t.audit_failed
    ));
    report.say(format!(
        "| full re-reads of every log / disagreeing | {} / {} |",
        t.full_checks, t.full_check_failures
    ));
    report.say(format!(
        "| cycle ms mean; p50 / p95 / p99 / max | {:.0}; {} |",
        mean(&o.timings.cycle_ms),
        ms(&o.timings.cycle_ms)
    ));
    report.say(format!(
        "| load before the kill ms p50 / p95 / p99 / max | {} |",
        ms(&o.timings.load_ms)
    ));
    report.say(format!(
        "| restart (spawn → listening) ms p50 / p95 / p99 / max | {} |",
        ms(&o.timings.restart_ms)
    ));
    report.say(format!(
        "| `alcove audit verify` ms p50 / p95 / p99 / max | {} |",
        ms(&o.timings.audit_ms)
    ));
    report.say(format!(
        "| log read + decrypt + ack per cycle ms p50 / p95 / p99 / max | {} |",
        ms(&o.timings.check_ms)
    ));
    report.say(format!("| campaign wall time | {:.1} s |", o.secs));
    report.failures.extend(t.failures());
    if o.out_of_time {
        report.failures.push(format!(
            "crashloop: only {} of {} cycles within the time budget",
            t.cycles, args.cycles
        ));
    }
    Ok(())
}

fn machine(report: &mut Report, bin: &std::path::Path) {
    let cmd = |c: &str| {
        std::process::Command::new("sh")
            .args(["-c", c])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    report.say(format!(
        "machine: nproc {}; {}; kernel {}",
        cmd("nproc"),
        cmd("free -h | awk '/Mem:/{print \"RAM \" $2}'"),
        cmd("uname -r")
    ));
    report.say(format!(
        "load average at start: {}",
        cmd("cut -d' ' -f1-3 /proc/loadavg")
    ));
    report.say(format!("server binary: {}", bin.display()));
}

async fn run(mut args: Args) -> Result<Vec<String>> {
    if args.smoke {
        args.apply_smoke();
    }
    let bin = args.server_bin.clone().unwrap_or_else(default_server_bin);
    if !bin.exists() {
        bail!("server binary {} not found: build it (cargo build [--release] -p alcove-server --bin alcove)", bin.display());
    }
    let bin = std::fs::canonicalize(&bin)?;
    let want = ((args.idle as u64) * 2 + 10_000).clamp(20_000, 1_048_576);
    let nofile = server::raise_nofile(want);
    let mut report = Report::default();
    machine(&mut report, &bin);
    report.say(format!("open-files limit (harness and server): {nofile}"));
    // Each socket is one descriptor in the server and one here; without
    // CAP_SYS_RESOURCE the hard limit cannot be raised, so cap and say so.
    if nofile < args.idle as u64 + 1000 && args.has("idle") {
        let capped = nofile.saturating_sub(1000) as usize;
        report.say(format!(
            "**idle sockets capped at {capped} (asked {}): the open-files hard limit is {nofile} and could not be raised**",
            args.idle
        ));
        args.idle = capped;
    }
    let started = Instant::now();
    let mut best = None;
    if args.has("throughput") || args.has("latency") {
        best = delivery_phases(&args, &bin, &mut report).await?;
    }
    if args.has("idle") {
        idle_phase(&args, &bin, &mut report).await?;
    }
    if args.has("raw") {
        raw_phase(&args, &mut report, best).await?;
    }
    if args.has("logout") {
        logout_phase(&args, &bin, &mut report).await?;
    }
    if args.has("crashloop") {
        crashloop_phase(&args, &bin, &mut report).await?;
    }
    report.say(format!(
        "\ntotal run time {:.1} s; load average at end: {}",
        started.elapsed().as_secs_f64(),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split(' ')
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    ));
    Ok(report.failures)
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("alcove-bench: runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // A hard stop in case anything hangs: the harness always ends by itself.
    let budget = budget(&args);
    let result = runtime.block_on(async { tokio::time::timeout(budget, run(args)).await });
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(Ok(failures)) if failures.is_empty() => std::process::ExitCode::SUCCESS,
        Ok(Ok(failures)) => {
            for f in failures {
                eprintln!("FAIL: {f}");
            }
            std::process::ExitCode::FAILURE
        }
        Ok(Err(e)) => {
            eprintln!("alcove-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("alcove-bench: time budget exceeded");
            std::process::ExitCode::FAILURE
        }
    }
}
