//! The API's JSON request bodies through the server's own extractor
//! (`api::extract::ApiJson`, with its rejection mapping): the first byte
//! picks the body type, the rest is the body.
#![no_main]

use alcove_server::auth::http as auth;
use alcove_server::api::extract::ApiJson;
use alcove_server::delivery::http::{assignments, commits, conversations, key_packages, messages};
use alcove_server::invites::http as invites;
use alcove_server::revocation::http as revocation;
use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{header, Request};
use axum::response::IntoResponse;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;

fn extract<T: DeserializeOwned>(rt: &tokio::runtime::Runtime, body: &[u8]) {
    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/fuzz")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_vec()))
        .expect("request");
    let result = rt.block_on(ApiJson::<T>::from_request(request, &()));
    if let Err(e) = result {
        let response = e.into_response();
        assert!(response.status().is_client_error());
    }
}

thread_local! {
    static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
}

/// The body types, in the order of the selector byte.
pub const BODIES: &[&str] = &[
    "LoginRequest",
    "EnrollRequest",
    "UploadKeyPackages",
    "Assign",
    "StartConversation",
    "PostCommit",
    "PostGroupInfo",
    "PostMessage",
    "Ack",
    "CreateInvite",
    "InspectInvite",
    "AcceptInvite",
    "RevokeDevice",
];

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    RT.with(|rt| match usize::from(which) % BODIES.len() {
        0 => extract::<auth::LoginRequest>(rt, body),
        1 => extract::<auth::EnrollRequest>(rt, body),
        2 => extract::<key_packages::UploadKeyPackages>(rt, body),
        3 => extract::<assignments::Assign>(rt, body),
        4 => extract::<conversations::StartConversation>(rt, body),
        5 => extract::<commits::PostCommit>(rt, body),
        6 => extract::<commits::PostGroupInfo>(rt, body),
        7 => extract::<messages::PostMessage>(rt, body),
        8 => extract::<messages::Ack>(rt, body),
        9 => extract::<invites::CreateInvite>(rt, body),
        10 => extract::<invites::InspectInvite>(rt, body),
        11 => extract::<invites::AcceptInvite>(rt, body),
        _ => extract::<revocation::RevokeDevice>(rt, body),
    });
});
