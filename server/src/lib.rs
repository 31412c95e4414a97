//! Alcove server: accounts, sessions, the MLS delivery service and the audit
//! log for end-to-end encrypted messaging in therapy practices.
//!
//! Layout: `config` (layered settings), `storage` (one trait, SQLite and
//! PostgreSQL), `auth` (passwords, TOTP, sessions, throttling), `audit`
//! (events written in the same transaction as the action), `api` (HTTP
//! handlers), `web` (the embedded browser client), `bootstrap` (first start).

#![deny(missing_docs)]

#[macro_use]
pub mod account;
pub mod api;
#[macro_use]
pub mod archive;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod clock;
pub mod config;
#[macro_use]
pub mod delivery;
pub mod error;
pub mod ids;
#[macro_use]
pub mod incidents;
#[macro_use]
pub mod invites;
pub mod jobs;
#[macro_use]
pub mod people;
pub mod policy;
#[macro_use]
pub mod practice;
pub mod private_files;
#[macro_use]
pub mod push;
#[macro_use]
pub mod reminders;
pub mod request;
#[macro_use]
pub mod revocation;
pub mod sealing;
pub mod state;
pub mod storage;
pub mod web;

use std::future::Future;
use std::sync::Arc;

/// Largest number of header fields hyper parses in one request.
/// Above it hyper itself answers 431 with an empty body, before any layer
/// runs; up to it the API's own, lower limit (`api::MAX_HEADER_COUNT`)
/// answers with a JSON error body (docs/threat-model.md).
pub const HYPER_MAX_HEADERS: usize = 400;
/// Largest header block hyper reads (its read buffer; hyper's default).
/// Above it hyper answers 431 with an empty body.
pub const HYPER_MAX_BUF: usize = 8192 + 4096 * 100;

/// Serves the application on an already bound listener until `shutdown`
/// resolves. Tests bind `127.0.0.1:0` and pass the listener in.
///
/// This is what `axum::serve` does (HTTP/1.1 with upgrades for WebSockets,
/// graceful shutdown that lets open connections finish), with hyper's
/// header limits raised above the API's own, so that oversized headers get
/// the API's JSON 431 rather than hyper's empty one (`axum::serve` offers
/// no way to configure hyper).
pub async fn launch_with_tcp_listener(
    state: state::AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use axum::extract::connect_info::ConnectInfo;
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt;

    let app = api::router(state);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .max_headers(HYPER_MAX_HEADERS)
        .max_buf_size(HYPER_MAX_BUF);

    // Dropped (closing every receiver's `changed`) when shutdown begins;
    // each connection holds a `done` sender clone until it ends.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(stop_tx);
    });
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut stopping = stop_rx.clone();
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // EMFILE and the like: back off instead of spinning.
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopping.changed() => break,
        };
        // Small frames (a message, an answer to a send) go out at once
        // instead of waiting, under Nagle's algorithm, for the
        // acknowledgement of the last one — which a peer in delayed-ACK
        // mode holds for up to 40 ms.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        // What `into_make_service_with_connect_info` would add.
        let service =
            app.clone()
                .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(remote));
                    req.map(axum::body::Body::new)
                });
        let builder = builder.clone();
        let mut stop = stop_rx.clone();
        let done = done_tx.clone();
        tokio::spawn(async move {
            let hyper_service = TowerToHyperService::new(service);
            let conn = builder
                .serve_connection(TokioIo::new(tcp), hyper_service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            let mut draining = false;
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::trace!(error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    _ = stop.changed(), if !draining => {
                        draining = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(done);
        });
    }
    drop(listener);
    drop(done_tx);
    // Every connection has finished when the last sender is gone.
    let _ = done_rx.recv().await;
    Ok(())
}

/// The server as `alcove serve` runs it — the one start-up path, used by
/// the binary and by the tests alike: the state (batchers, wake-ups, the
/// server's MLS key, the audit service), the server's Remove proposals
/// re-issued for every revoked device still in a conversation, the audit
/// signing key created, the publisher handing signed heads to the
/// witnesses (its first round runs beside the server, not before it), and
/// the background jobs (the reminder dispatcher).
pub struct Application {
    state: state::AppState,
    listener: tokio::net::TcpListener,
    publisher: tokio::task::JoinHandle<()>,
    jobs: jobs::Runner,
}

impl Application {
    /// Builds everything on an already bound listener (tests bind
    /// `127.0.0.1:0`).
    pub async fn build(
        store: Arc<dyn storage::Store>,
        settings: config::Settings,
        clock: Arc<dyn clock::Clock>,
        listener: tokio::net::TcpListener,
    ) -> anyhow::Result<Self> {
        let state = app_state_with_clock(store, settings, clock)?;
        // Before anything is served: `open` refuses plain values.
        let resealed =
            sealing::reseal_plain(state.store.as_ref(), &state.at_rest, state.now()).await?;
        if resealed > 0 {
            tracing::info!(
                rows = resealed,
                "secrets written before sealing are now sealed"
            );
        }
        revocation::ensure_all_removals(&state).await?;
        state.audit.key()?; // created (0600) on first start
        let publisher = audit::service::spawn_publisher(
            state.audit.clone(),
            state.clock.clone(),
            audit::service::configured_witnesses(&state.settings),
            std::time::Duration::from_secs(state.settings.audit.publish_interval_secs.max(1)),
            Some(Arc::new(incidents::damage::RecordDamage::new(
                state.store.clone(),
            ))),
        );
        // Every slice's background jobs, on the one runner.
        let mut jobs = jobs::Runner::new();
        jobs.spawn(
            Arc::new(reminders::jobs::dispatch::Dispatch::new(state.clone())?),
            std::time::Duration::from_millis(state.settings.reminders.dispatch_interval_ms.max(10)),
        );
        jobs.spawn(
            Arc::new(incidents::jobs::watch::Watch::new(state.clone())),
            std::time::Duration::from_millis(state.settings.incidents.watch_interval_ms.max(10)),
        );
        jobs.spawn(
            Arc::new(incidents::jobs::deadlines::Deadlines::new(state.clone())),
            std::time::Duration::from_millis(
                state.settings.incidents.deadlines_interval_ms.max(10),
            ),
        );
        jobs.spawn(
            Arc::new(incidents::jobs::deliver::Deliver::new(state.clone())?),
            std::time::Duration::from_millis(state.settings.incidents.deliver_interval_ms.max(10)),
        );
        jobs.spawn(
            Arc::new(reminders::jobs::nudge::Nudge::new(state.clone())?),
            std::time::Duration::from_millis(state.settings.reminders.dispatch_interval_ms.max(10)),
        );
        jobs.spawn(
            Arc::new(push::jobs::send::Send::new(state.clone())?),
            std::time::Duration::from_millis(state.settings.push.interval_ms.max(10)),
        );
        // A shared computer's device is signed out within a minute of its
        // session lapsing (logout runs a round at once).
        jobs.spawn(
            Arc::new(revocation::jobs::shared_devices::SharedDevices::new(
                state.clone(),
            )),
            std::time::Duration::from_millis(
                state.settings.auth.shared_devices_interval_ms.max(10),
            ),
        );
        // Looks every 10 s: memory comes back well within a minute of a
        // sign-in storm, and a quiet server does nothing.
        jobs.spawn(
            Arc::new(auth::trim::Trim::new(state.hashing.clone())),
            std::time::Duration::from_secs(10),
        );
        Ok(Self {
            state,
            listener,
            publisher,
            jobs,
        })
    }

    /// Its state (tests look inside).
    pub fn state(&self) -> &state::AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops the publisher.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let result = launch_with_tcp_listener(self.state, self.listener, shutdown).await;
        self.publisher.abort();
        self.jobs.shutdown().await;
        result
    }
}

/// Builds the state for a store and settings with the system clock.
pub fn app_state(
    store: Arc<dyn storage::Store>,
    settings: config::Settings,
) -> anyhow::Result<state::AppState> {
    app_state_with_clock(store, settings, Arc::new(clock::SystemClock))
}

/// Builds the state with a given clock (tests move time). Loads (or creates)
/// the server's MLS key in the data directory.
pub fn app_state_with_clock(
    store: Arc<dyn storage::Store>,
    settings: config::Settings,
    clock: Arc<dyn clock::Clock>,
) -> anyhow::Result<state::AppState> {
    let delivery = delivery::service::DeliveryService::start(
        store.clone(),
        clock.clone(),
        &settings.data_dir,
    )?;
    let audit = audit::service::AuditService::new(&settings, store.audit_store());
    let settings_data_dir = settings.data_dir.clone();
    let hashing = auth::hashing::Hashing::new(&settings.auth);
    Ok(state::AppState {
        store,
        audit,
        settings: Arc::new(settings),
        clock,
        hashing,
        dummy_hash: auth::password::dummy_hash().into(),
        delivery,
        reminders: reminders::service::ReminderService::start(&settings_data_dir)?,
        push: push::PushService::load_or_create(&settings_data_dir)?,
        at_rest: Arc::new(sealing::SealKey::load_or_create(&settings_data_dir)?),
    })
}
