//! Alcove server: accounts, sessions, the MLS delivery service and the audit
//! log for end-to-end encrypted messaging in therapy practices.
//!
//! Layout: `config` (layered settings), `storage` (one trait, SQLite and
//! PostgreSQL), `auth` (passwords, TOTP, sessions, throttling), `audit`
//! (events written in the same transaction as the action), `api` (HTTP
//! handlers), `web` (the embedded browser client), `bootstrap` (first start).

#![deny(missing_docs)]

pub mod api;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod error;
pub mod ids;
pub mod revocation;
pub mod state;
pub mod storage;
pub mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// Serves the application on an already bound listener until `shutdown`
/// resolves. Tests bind `127.0.0.1:0` and pass the listener in.
pub async fn launch_with_tcp_listener(
    state: state::AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use axum::serve::ListenerExt;
    let app = api::router(state).into_make_service_with_connect_info::<SocketAddr>();
    // Small frames (a message, an answer to a send) go out at once instead of
    // waiting, under Nagle's algorithm, for the acknowledgement of the last
    // one — which a peer in delayed-ACK mode holds for up to 40 ms.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
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
    let key = delivery::server_key::load_or_create(&settings.data_dir)?;
    let public = key
        .public_bytes()
        .map_err(|e| anyhow::anyhow!("server key: {}", e.code()))?;
    let wakeups: Arc<dyn delivery::wake::Wakeups> =
        Arc::new(delivery::wake::LocalWakeups::default());
    let messages = delivery::batcher::Batcher::start(store.clone(), clock.clone(), wakeups.clone());
    let acks = delivery::batcher::Batcher::start(store.clone(), clock.clone(), wakeups.clone());
    Ok(state::AppState {
        store,
        audit: audit::service::AuditService::new(&settings),
        settings: Arc::new(settings),
        clock,
        dummy_hash: auth::password::dummy_hash().into(),
        messages,
        acks,
        wakeups,
        external_sender: Arc::new(key),
        external_sender_b64: data_encoding::BASE64.encode(&public).into(),
    })
}
