//! One access policy (`server/src/policy.rs`), held by the running server
//! for every operation and every role, on both backends: a role without
//! the operation's permission is refused 403 `forbidden` before its body,
//! query or ids are read (a malformed body changes nothing), and the
//! refusal is audited; a role with it is never refused by role.

use alcove_server::policy::{self, Access};
use alcove_server::storage::Role;
use alcove_tests::{on_both_backends, ApiClient, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(every_operation_admits_exactly_the_roles_the_policy_gives);

/// The operation's path with every `{…}` segment filled in.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "00000000-0000-4000-8000-000000000000"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn call(client: &ApiClient, method: &str, path: &str) -> (StatusCode, serde_json::Value) {
    let url = format!("/api/v1{path}");
    // Not the shape of any request body: a role check after the body was
    // parsed would answer 422 instead of 403.
    let body = json!("not a request");
    match method {
        "GET" => client.get(&url).await,
        "POST" => client.post(&url, &body).await,
        "PUT" => client.put(&url, &body).await,
        "PATCH" => client.patch(&url, &body).await,
        "DELETE" => client.delete(&url).await,
        other => panic!("method {other}"),
    }
}

async fn every_operation_admits_exactly_the_roles_the_policy_gives(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let associate = app
        .register_staff(&app.invite(&p.admin, "associate").await, "assoc@p.example")
        .await;
    let people = [
        (Role::Admin, &p.admin),
        (Role::Clinician, &p.clinician),
        (Role::Associate, &associate),
        (Role::Client, &p.client),
    ];
    let mut checked = 0;
    for route in policy::ROUTES {
        let Access::Session(permission) = route.access else {
            continue;
        };
        // Ending the session would end the rest of the story.
        if route.path == "/auth/logout" {
            continue;
        }
        let path = concrete(route.path);
        for (role, person) in &people {
            let (status, body) = call(&person.client, route.method, &path).await;
            let what = format!("{role} {} {}: {status} {body}", route.method, route.path);
            if policy::allows(*role, permission) {
                assert!(
                    !(status == StatusCode::FORBIDDEN
                        && body["error"] == "forbidden"
                        && body["message"] == "your role does not allow this"),
                    "refused by role although allowed: {what}"
                );
                assert_ne!(status, StatusCode::UNAUTHORIZED, "{what}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
                assert_eq!(body["error"], "forbidden", "{what}");
            }
            checked += 1;
        }
    }
    assert!(checked > 200, "{checked} checks");

    // The refusals are in the audit log, under the client as actor, with
    // the permission that was missing — and the audit log's own reads
    // under their own action, as before.
    let practice: alcove_server::ids::PracticeId = p.client.practice_id.parse().expect("practice");
    let events = app.store.recent_audit(practice, 1000).await.expect("audit");
    let refused_by_client = |action: &str| {
        events
            .iter()
            .filter(|e| {
                e.action == action
                    && e.outcome == "failure"
                    && e.actor_user_id.as_deref() == Some(p.client.user_id.as_str())
            })
            .count()
    };
    assert!(refused_by_client("access.refused") >= 20);
    assert_eq!(refused_by_client("audit.exported"), 1);

    // No session at all: 401, whatever the permission.
    let anonymous = app.client();
    let (status, body) = call(&anonymous, "POST", "/webhooks").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );
    app.stop().await;
}
