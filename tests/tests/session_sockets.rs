//! Every way a session ends ends its sockets too, on both backends: logout
//! closes the session's open socket at once, an idle-expired session's
//! socket delivers nothing more and closes, and a `send` frame re-checks
//! the session before anything is stored.

use alcove_tests::mls::{four_device_conversation, MlsClient};
use alcove_tests::{on_both_backends, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(
    logout_closes_the_sessions_socket_at_once,
    an_idle_session_delivers_nothing_more_and_closes,
    a_send_frame_after_the_session_timed_out_is_not_stored,
);

/// Lets `secs` pass while `busy` keeps using the app (an HTTP request every
/// ten minutes), so only the others' sessions go idle.
async fn pass_time(app: &TestApp, busy: &MlsClient, secs: i64) {
    let mut left = secs;
    while left > 0 {
        let step = left.min(600);
        app.clock.advance(step);
        left -= step;
        let (status, body) = busy.api.get("/api/v1/me").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

/// The next frame that is not a delivery or a welcome.
async fn next_control_frame(d: &mut MlsClient) -> serde_json::Value {
    loop {
        let frame = d.next_frame().await;
        if frame["type"] != "entry" && frame["type"] != "welcome" {
            return frame;
        }
    }
}

async fn logout_closes_the_sessions_socket_at_once(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (conv, mut d) = four_device_conversation(&app, &p.clinician, &p.client).await;
    d[2].connect(&app).await;
    d[3].connect(&app).await;
    let (status, _) = d[2].api.post("/api/v1/auth/logout", &json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let closed = next_control_frame(&mut d[2]).await;
    assert_eq!(closed["frame"], json!([4000, "session_ended"]), "{closed}");
    // The other device of the same person keeps its socket and receives.
    d[0].send_text(&app, &conv, "still here").await;
    assert_eq!(d[3].receive_texts(&conv, 1).await, vec!["still here"]);
    app.stop().await;
}

async fn an_idle_session_delivers_nothing_more_and_closes(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (conv, mut d) = four_device_conversation(&app, &p.clinician, &p.client).await;
    d[2].connect(&app).await;
    // Nobody touches the client's phone for longer than the idle timeout;
    // the clinician's office keeps working (its activity is its own).
    pass_time(&app, &d[0], app.settings.auth.client_idle_timeout_secs + 60).await;
    d[0].send_text(&app, &conv, "after you left").await;
    let frame = d[2].next_frame().await;
    assert_eq!(
        frame["type"], "closed",
        "nothing is delivered first: {frame}"
    );
    assert_eq!(frame["frame"], json!([4000, "session_expired"]), "{frame}");
    let (status, body) = d[2].api.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    app.stop().await;
}

async fn a_send_frame_after_the_session_timed_out_is_not_stored(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (conv, mut d) = four_device_conversation(&app, &p.clinician, &p.client).await;
    d[2].connect(&app).await;
    let (_, before) = d[0].api.get(&format!("/api/v1/conversations/{conv}")).await;
    pass_time(&app, &d[0], app.settings.auth.client_idle_timeout_secs + 60).await;
    let ct = d[2]
        .device
        .encrypt(conv.as_bytes(), b"typed before the timeout")
        .expect("encrypt");
    d[2].send_frame(json!({"type": "send", "conversation_id": conv,
        "client_msg_id": alcove_tests::mls::b64(&[7; 16]), "data": alcove_tests::mls::b64(&ct)}))
        .await;
    let frame = next_control_frame(&mut d[2]).await;
    assert_eq!(frame["frame"], json!([4000, "session_expired"]), "{frame}");
    let (_, after) = d[0].api.get(&format!("/api/v1/conversations/{conv}")).await;
    assert_eq!(after["last_seq"], before["last_seq"], "nothing was stored");
    app.stop().await;
}
