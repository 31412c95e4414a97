//! The browser client, served from this origin with its assets compiled into
//! the binary (no CDN, no third-party origin).
//!
//! Every client-side page (`/`, `/login`, `/invite`, …) gets the same shell;
//! the page reads secrets only from the URL fragment (never sent here).
//! Source: `client-web/static/` (plain ES modules, no build step). Add a new
//! file to `ASSETS` and a new page path to `PAGES`.

use crate::state::AppState;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";
const MANIFEST: &str = "application/manifest+json";
const PNG: &str = "image/png";

const INDEX_HTML: &str = include_str!("../../client-web/static/index.html");

/// Binary assets: URL path, body, content type.
const BINARY_ASSETS: &[(&str, &[u8], &str)] = &[
    (
        "/icons/icon-192.png",
        include_bytes!("../../client-web/static/icons/icon-192.png"),
        PNG,
    ),
    (
        "/icons/icon-512.png",
        include_bytes!("../../client-web/static/icons/icon-512.png"),
        PNG,
    ),
];

/// Static assets: URL path, body, content type.
const ASSETS: &[(&str, &str, &str)] = &[
    // The installable app: its manifest, and the service worker that shows
    // push notices and opens the shell offline. At the root, so its scope
    // is the whole app.
    (
        "/manifest.webmanifest",
        include_str!("../../client-web/static/manifest.webmanifest"),
        MANIFEST,
    ),
    ("/sw.js", include_str!("../../client-web/static/sw.js"), JS),
    (
        "/favicon.svg",
        include_str!("../../client-web/static/favicon.svg"),
        SVG,
    ),
    (
        "/app.js",
        include_str!("../../client-web/static/app.js"),
        JS,
    ),
    (
        "/app.css",
        include_str!("../../client-web/static/app.css"),
        CSS,
    ),
    (
        "/js/api.js",
        include_str!("../../client-web/static/js/api.js"),
        JS,
    ),
    (
        "/js/dom.js",
        include_str!("../../client-web/static/js/dom.js"),
        JS,
    ),
    (
        "/js/session.js",
        include_str!("../../client-web/static/js/session.js"),
        JS,
    ),
    (
        "/js/qr.js",
        include_str!("../../client-web/static/js/qr.js"),
        JS,
    ),
    (
        "/js/pages/auth.js",
        include_str!("../../client-web/static/js/pages/auth.js"),
        JS,
    ),
    (
        "/js/pages/reminders.js",
        include_str!("../../client-web/static/js/pages/reminders.js"),
        JS,
    ),
    (
        "/js/pages/devices.js",
        include_str!("../../client-web/static/js/pages/devices.js"),
        JS,
    ),
    (
        "/js/pages/account.js",
        include_str!("../../client-web/static/js/pages/account.js"),
        JS,
    ),
    (
        "/js/pages/backup.js",
        include_str!("../../client-web/static/js/pages/backup.js"),
        JS,
    ),
    (
        "/js/pages/invites.js",
        include_str!("../../client-web/static/js/pages/invites.js"),
        JS,
    ),
    (
        "/js/pages/conversations.js",
        include_str!("../../client-web/static/js/pages/conversations.js"),
        JS,
    ),
    (
        "/js/pages/admin.js",
        include_str!("../../client-web/static/js/pages/admin.js"),
        JS,
    ),
    (
        "/js/pages/audit.js",
        include_str!("../../client-web/static/js/pages/audit.js"),
        JS,
    ),
    (
        "/js/pages/incidents.js",
        include_str!("../../client-web/static/js/pages/incidents.js"),
        JS,
    ),
    (
        "/js/deadlines.js",
        include_str!("../../client-web/static/js/deadlines.js"),
        JS,
    ),
    (
        "/js/notify.js",
        include_str!("../../client-web/static/js/notify.js"),
        JS,
    ),
    (
        "/js/pages/revoke.js",
        include_str!("../../client-web/static/js/pages/revoke.js"),
        JS,
    ),
    (
        "/js/messaging/client.js",
        include_str!("../../client-web/static/js/messaging/client.js"),
        JS,
    ),
    (
        "/js/messaging/bytes.js",
        include_str!("../../client-web/static/js/messaging/bytes.js"),
        JS,
    ),
    (
        "/js/messaging/appointment.js",
        include_str!("../../client-web/static/js/messaging/appointment.js"),
        JS,
    ),
    (
        "/js/pages/appointments.js",
        include_str!("../../client-web/static/js/pages/appointments.js"),
        JS,
    ),
    (
        "/js/messaging/history.js",
        include_str!("../../client-web/static/js/messaging/history.js"),
        JS,
    ),
    (
        "/js/messaging/transport.js",
        include_str!("../../client-web/static/js/messaging/transport.js"),
        JS,
    ),
    (
        "/js/messaging/store.js",
        include_str!("../../client-web/static/js/messaging/store.js"),
        JS,
    ),
    (
        "/js/messaging/wasm.js",
        include_str!("../../client-web/static/js/messaging/wasm.js"),
        JS,
    ),
    (
        "/js/messaging/state.js",
        include_str!("../../client-web/static/js/messaging/state.js"),
        JS,
    ),
    (
        "/js/messaging/engine.js",
        include_str!("../../client-web/static/js/messaging/engine.js"),
        JS,
    ),
    (
        "/js/messaging/join.js",
        include_str!("../../client-web/static/js/messaging/join.js"),
        JS,
    ),
    (
        "/js/messaging/outbox.js",
        include_str!("../../client-web/static/js/messaging/outbox.js"),
        JS,
    ),
    (
        "/js/messaging/handover.js",
        include_str!("../../client-web/static/js/messaging/handover.js"),
        JS,
    ),
    (
        "/js/messaging/archive.js",
        include_str!("../../client-web/static/js/messaging/archive.js"),
        JS,
    ),
    (
        "/vendor/qrcode.mjs",
        include_str!("../../client-web/static/vendor/qrcode.mjs"),
        JS,
    ),
];

/// Client-side pages: each answers with the shell (`index.html`).
const PAGES: &[&str] = &[
    "/",
    "/login",
    "/invite",
    "/invites",
    "/devices",
    "/account",
    "/reminders",
    "/admin",
    "/audit",
    "/incidents",
    "/conversation",
];

/// The WebAssembly module (wasm-bindgen `--target web` output), embedded when
/// `client-web/wasm/pkg` was built before compiling (see `server/build.rs`).
#[cfg(alcove_wasm_pkg)]
const WASM_JS: Option<&str> = Some(include_str!("../../client-web/wasm/pkg/alcove_wasm.js"));
#[cfg(alcove_wasm_pkg)]
const WASM_BIN: Option<&[u8]> = Some(include_bytes!(
    "../../client-web/wasm/pkg/alcove_wasm_bg.wasm"
));
#[cfg(not(alcove_wasm_pkg))]
const WASM_JS: Option<&str> = None;
#[cfg(not(alcove_wasm_pkg))]
const WASM_BIN: Option<&[u8]> = None;

const WASM_MISSING: &str = "The encryption module was not built into this server. \
Run `bash client-web/build-wasm.sh` (./scripts/run.sh does this) and rebuild the server.";

/// Whether this binary embeds the WebAssembly module.
pub fn wasm_available() -> bool {
    WASM_JS.is_some() && WASM_BIN.is_some()
}

fn wasm_missing() -> Response {
    let mut r = (StatusCode::SERVICE_UNAVAILABLE, WASM_MISSING).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn wasm_js() -> Response {
    match WASM_JS {
        Some(body) => asset(body, JS),
        None => wasm_missing(),
    }
}

fn wasm_bin() -> Response {
    match WASM_BIN {
        Some(body) => {
            let mut r = (StatusCode::OK, body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/wasm"),
            );
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        None => wasm_missing(),
    }
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// Routes of the web client.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for &page in PAGES {
        router = router.route(page, get(|| async { asset(INDEX_HTML, HTML) }));
    }
    for &(path, body, content_type) in ASSETS {
        router = router.route(path, get(move || async move { asset(body, content_type) }));
    }
    for &(path, body, content_type) in BINARY_ASSETS {
        router = router.route(
            path,
            get(move || async move {
                let mut r = (StatusCode::OK, body).into_response();
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                r.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                r
            }),
        );
    }
    router
        .route("/wasm/alcove_wasm.js", get(|| async { wasm_js() }))
        .route("/wasm/alcove_wasm_bg.wasm", get(|| async { wasm_bin() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_import_is_served() {
        // Each `from "./x.js"` / `from "../x.js"` in a served module must
        // resolve to another served asset, or the page breaks at run time.
        let mut served: Vec<&str> = ASSETS.iter().map(|a| a.0).collect();
        served.push("/wasm/alcove_wasm.js");
        for &(path, body, _) in ASSETS {
            let dir = &path[..path.rfind('/').unwrap_or(0)];
            for part in body.split(" from \"").skip(1) {
                let Some(spec) = part.split('"').next() else {
                    continue;
                };
                let mut segs: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
                for seg in spec.split('/') {
                    match seg {
                        "." => {}
                        ".." => {
                            segs.pop();
                        }
                        s => segs.push(s),
                    }
                }
                let resolved = format!("/{}", segs.join("/"));
                assert!(
                    served.contains(&resolved.as_str()),
                    "{path} imports {spec} ({resolved}), which is not served"
                );
            }
        }
    }

    #[test]
    fn wasm_routes_answer_module_or_503() {
        let js = wasm_js();
        let bin = wasm_bin();
        if wasm_available() {
            assert_eq!(js.status(), StatusCode::OK);
            assert_eq!(bin.status(), StatusCode::OK);
            assert_eq!(bin.headers()[header::CONTENT_TYPE], "application/wasm");
        } else {
            assert_eq!(js.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(bin.status(), StatusCode::SERVICE_UNAVAILABLE);
        }
    }
}
