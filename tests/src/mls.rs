//! A Rust client that speaks to the server exactly as the browser will:
//! HTTP for KeyPackages, commits and sends; the WebSocket for live delivery;
//! `alcove-crypto` for every MLS operation.

use crate::{ApiClient, Person, TestApp};
use alcove_crypto::{Content, Device, DeviceIdentity, Envelope, Processed};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Base64 of bytes.
pub fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

/// Bytes of base64.
pub fn unb64(s: &str) -> Vec<u8> {
    data_encoding::BASE64.decode(s.as_bytes()).expect("base64")
}

/// One device of a person: bearer session, MLS state, optional socket.
pub struct MlsClient {
    /// API client with the device's bearer token.
    pub api: ApiClient,
    /// The MLS device.
    pub device: Device,
    /// Server ids.
    pub practice_id: String,
    /// User id.
    pub user_id: String,
    /// Device id.
    pub device_id: String,
    /// Delivery socket, when connected.
    pub ws: Option<Ws>,
    /// Highest seq processed per conversation (dedup of at-least-once delivery).
    pub processed: HashMap<String, i64>,
    /// Decrypted texts per conversation, in order.
    pub texts: HashMap<String, Vec<String>>,
}

impl MlsClient {
    /// Logs `person` in on a new device (bearer), and uploads KeyPackages.
    pub async fn sign_in(app: &TestApp, person: &Person, device_name: &str) -> Self {
        let mut body = json!({"practice_id": person.practice_id, "login": person.login, "password": person.password, "device_name": device_name,
                              "transport": "bearer"});
        if let Some(secret) = &person.totp_secret {
            app.next_totp_step();
            body["totp_code"] = json!(app.totp(secret));
        }
        let (status, signed) = app.client().post("/api/v1/auth/login", &body).await;
        assert_eq!(status, StatusCode::OK, "{signed}");
        let mut api = ApiClient::new(&app.base);
        api.bearer = signed["token"].as_str().map(str::to_string);
        let (_, me) = api.get("/api/v1/me").await;
        let practice_id = me["practice_id"].as_str().expect("practice").to_string();
        let device_id = signed["device_id"].as_str().expect("device").to_string();
        let identity =
            DeviceIdentity::new(&practice_id, &person.user_id, &device_id).expect("identity");
        let device = Device::new(identity).expect("device");
        let mut client = Self {
            api,
            device,
            practice_id,
            user_id: person.user_id.clone(),
            device_id,
            ws: None,
            processed: HashMap::new(),
            texts: HashMap::new(),
        };
        client.upload_key_packages(app, 5).await;
        client
    }

    /// Uploads `n` KeyPackages plus a last-resort one.
    pub async fn upload_key_packages(&mut self, app: &TestApp, n: usize) -> Value {
        let now = now_secs(app);
        let kps = self.device.key_packages(n, now).expect("key packages");
        let last = self
            .device
            .last_resort_key_package(now)
            .expect("last resort");
        let (status, body) = self
            .api
            .post(
                "/api/v1/key-packages",
                &json!({"key_packages": kps.iter().map(|k| b64(k)).collect::<Vec<_>>(),
                                                  "last_resort": b64(&last)}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Starts the conversation with another user and creates its MLS group.
    pub async fn start_conversation(&mut self, with_user_id: &str) -> String {
        let (status, body) = self
            .api
            .post(
                "/api/v1/conversations",
                &json!({"with_user_id": with_user_id}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["id"].as_str().expect("id").to_string();
        let sender = unb64(body["external_sender"].as_str().expect("external sender"));
        self.device
            .create_group(id.as_bytes(), &sender)
            .expect("create group");
        let gi = self.device.group_info(id.as_bytes()).expect("group info");
        let (status, body) = self
            .api
            .post(
                &format!("/api/v1/conversations/{id}/group-info"),
                &json!({"group_info": b64(&gi)}),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        id
    }

    /// Posts a commit this device made (with its GroupInfo) and merges or
    /// discards it by the answer.
    pub async fn post_commit(
        &mut self,
        conversation: &str,
        out: &alcove_crypto::CommitOutput,
    ) -> (StatusCode, Value) {
        let body = json!({"commit": b64(&out.commit), "welcome": out.welcome.as_ref().map(|w| b64(w)),
                          "group_info": out.group_info.as_ref().map(|g| b64(g))});
        let (status, answer) = self
            .api
            .post(
                &format!("/api/v1/conversations/{conversation}/commits"),
                &body,
            )
            .await;
        if status == StatusCode::OK {
            self.device
                .merge_pending_commit(conversation.as_bytes())
                .expect("merge");
        } else {
            self.device
                .discard_pending_commit(conversation.as_bytes())
                .expect("discard");
        }
        (status, answer)
    }

    /// Joins a conversation by external commit against the server's
    /// GroupInfo; returns the HTTP status and body of the commit. On a
    /// refusal the local group is forgotten.
    pub async fn join_external(&mut self, conversation: &str) -> (StatusCode, Value) {
        let (status, info) = self
            .api
            .get(&format!("/api/v1/conversations/{conversation}/group-info"))
            .await;
        assert_eq!(status, StatusCode::OK, "{info}");
        let gi = unb64(info["group_info"].as_str().expect("group info"));
        let out = self
            .device
            .join_by_external_commit(&gi)
            .expect("external commit");
        let body = json!({"commit": b64(&out.commit), "group_info": out.group_info.as_ref().map(|g| b64(g))});
        let (status, answer) = self
            .api
            .post(
                &format!("/api/v1/conversations/{conversation}/commits"),
                &body,
            )
            .await;
        if status == StatusCode::OK {
            // Its log starts after its own commit.
            let seq = answer["seq"].as_i64().expect("seq");
            self.processed.insert(conversation.to_string(), seq);
        } else {
            self.device
                .forget_group(conversation.as_bytes())
                .expect("forget");
        }
        (status, answer)
    }

    /// Claims KeyPackages for every missing device and commits the Add.
    /// Returns the HTTP status and body of the commit.
    pub async fn add_missing(&mut self, conversation: &str) -> (StatusCode, Value) {
        let (status, claimed) = self
            .api
            .post(
                &format!("/api/v1/conversations/{conversation}/key-packages/claim"),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{claimed}");
        let kps: Vec<Vec<u8>> = claimed["key_packages"]
            .as_array()
            .expect("array")
            .iter()
            .map(|k| unb64(k["key_package"].as_str().expect("kp")))
            .collect();
        let out = self
            .device
            .add_devices(conversation.as_bytes(), &kps)
            .expect("add");
        self.post_commit(conversation, &out).await
    }

    /// Encrypts and sends a text; returns (status, body).
    pub async fn send_text(
        &mut self,
        app: &TestApp,
        conversation: &str,
        text: &str,
    ) -> (StatusCode, Value) {
        let id: [u8; 16] = uuid::Uuid::new_v4().into_bytes();
        let envelope = Envelope {
            client_message_id: id,
            sent_at_ms: now_secs(app) * 1000,
            content: Content::Text(text.into()),
        };
        let ct = self
            .device
            .encrypt(conversation.as_bytes(), &envelope.encode().expect("encode"))
            .expect("encrypt");
        self.post_message(conversation, &id, &ct).await
    }

    /// Posts ciphertext with a client message id.
    pub async fn post_message(
        &self,
        conversation: &str,
        id: &[u8],
        ct: &[u8],
    ) -> (StatusCode, Value) {
        self.api
            .post(
                &format!("/api/v1/conversations/{conversation}/messages"),
                &json!({"client_msg_id": b64(id), "data": b64(ct)}),
            )
            .await
    }

    /// Joins every pending Welcome (over HTTP).
    pub async fn join_welcomes(&mut self) -> Vec<String> {
        let (status, welcomes) = self.api.get("/api/v1/welcomes").await;
        assert_eq!(status, StatusCode::OK);
        let mut joined = Vec::new();
        for w in welcomes.as_array().expect("array") {
            self.join(w).await;
            joined.push(w["conversation_id"].as_str().expect("id").to_string());
        }
        joined
    }

    async fn join(&mut self, w: &Value) {
        let out = self
            .device
            .join_from_welcome(&unb64(w["data"].as_str().expect("data")))
            .expect("join");
        let conversation = w["conversation_id"].as_str().expect("id").to_string();
        assert_eq!(out.group_id, conversation.as_bytes());
        let (status, _) = self
            .api
            .post(
                &format!("/api/v1/welcomes/{}/ack", w["id"].as_str().expect("id")),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }

    /// Fetches, processes and acknowledges everything pending over HTTP.
    pub async fn sync_http(&mut self, conversation: &str) {
        loop {
            let after = self.processed.get(conversation).copied().unwrap_or(0);
            let (status, page) = self
                .api
                .get(&format!(
                    "/api/v1/conversations/{conversation}/messages?after={after}"
                ))
                .await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let entries = page["entries"].as_array().expect("entries").clone();
            if entries.is_empty() {
                break;
            }
            for e in &entries {
                self.handle_entry(conversation, e);
            }
            let last = self.processed.get(conversation).copied().unwrap_or(0);
            let (status, _) = self
                .api
                .post(
                    &format!("/api/v1/conversations/{conversation}/ack"),
                    &json!({"seq": last}),
                )
                .await;
            assert_eq!(status, StatusCode::OK);
        }
    }

    /// Processes one log entry (idempotently, by seq).
    pub fn handle_entry(&mut self, conversation: &str, entry: &Value) {
        let seq = entry["seq"].as_i64().expect("seq");
        let done = self.processed.entry(conversation.to_string()).or_insert(0);
        if seq <= *done {
            return;
        }
        *done = seq;
        let data = unb64(entry["data"].as_str().expect("data"));
        match self.device.process(&data).expect("process") {
            Processed::Application { plaintext, .. } => {
                let env = Envelope::decode(&plaintext).expect("envelope");
                if let Content::Text(t) = env.content {
                    self.texts
                        .entry(conversation.to_string())
                        .or_default()
                        .push(t);
                }
            }
            Processed::ProposalStored { .. } | Processed::CommitMerged { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Opens the delivery socket with the bearer token.
    pub async fn connect(&mut self, app: &TestApp) {
        let url = format!("ws://{}/api/v1/ws", app.addr);
        let mut req =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
                .expect("req");
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {}", self.api.bearer.as_deref().expect("bearer"))
                .parse()
                .expect("header"),
        );
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("connect ws");
        self.ws = Some(ws);
    }

    /// The next JSON frame from the socket (deadline 10 s).
    pub async fn next_frame(&mut self) -> Value {
        let ws = self.ws.as_mut().expect("connected");
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("a frame within 10 s")
                .expect("socket open")
                .expect("frame");
            match msg {
                Message::Text(t) => return serde_json::from_str(t.as_str()).expect("json frame"),
                Message::Close(c) => {
                    return json!({"type": "closed", "frame": c.map(|c| (u16::from(c.code), c.reason.to_string()))})
                }
                _ => continue,
            }
        }
    }

    /// Sends a JSON frame on the socket.
    pub async fn send_frame(&mut self, frame: Value) {
        self.ws
            .as_mut()
            .expect("connected")
            .send(Message::Text(frame.to_string().into()))
            .await
            .expect("send frame");
    }

    /// Reads socket frames, joining Welcomes and processing entries (and
    /// acknowledging them), until `texts` of `conversation` has `count` items.
    pub async fn receive_texts(&mut self, conversation: &str, count: usize) -> Vec<String> {
        while self.texts.get(conversation).map_or(0, Vec::len) < count {
            let frame = self.next_frame().await;
            match frame["type"].as_str() {
                Some("welcome") => {
                    self.join(&frame).await;
                }
                Some("entry") => {
                    let conv = frame["conversation_id"].as_str().expect("id").to_string();
                    self.handle_entry(&conv, &frame);
                    let seq = frame["seq"].as_i64().expect("seq");
                    self.send_frame(json!({"type": "ack", "conversation_id": conv, "seq": seq}))
                        .await;
                }
                other => panic!("unexpected frame {other:?}: {frame}"),
            }
        }
        self.texts[conversation].clone()
    }
}

fn now_secs(app: &TestApp) -> u64 {
    use alcove_server::clock::Clock;
    app.clock.now().max(0) as u64
}

/// A clinician's office device and their client's phone in one
/// conversation: the office starts it and adds the phone, which joins from
/// its Welcome. Returns the conversation id and the two devices.
pub async fn two_device_conversation(
    app: &TestApp,
    clinician: &Person,
    client: &Person,
) -> (String, MlsClient, MlsClient) {
    let mut c1 = MlsClient::sign_in(app, clinician, "Office").await;
    let mut k1 = MlsClient::sign_in(app, client, "Phone").await;
    let conv = c1.start_conversation(&client.user_id).await;
    let (status, body) = c1.add_missing(&conv).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(k1.join_welcomes().await, vec![conv.clone()]);
    (conv, c1, k1)
}

/// A clinician with two devices (office, phone) and their client with two
/// (phone, laptop) in one conversation: the office device starts it and
/// adds the others, who join from their Welcomes. Returns the conversation
/// id and the devices in that order.
pub async fn four_device_conversation(
    app: &TestApp,
    clinician: &Person,
    client: &Person,
) -> (String, Vec<MlsClient>) {
    let mut c1 = MlsClient::sign_in(app, clinician, "Office").await;
    let c2 = MlsClient::sign_in(app, clinician, "Phone").await;
    let k1 = MlsClient::sign_in(app, client, "Phone").await;
    let k2 = MlsClient::sign_in(app, client, "Laptop").await;
    let conv = c1.start_conversation(&client.user_id).await;
    let (status, body) = c1.add_missing(&conv).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut devices = vec![c1, c2, k1, k2];
    for d in devices.iter_mut().skip(1) {
        assert_eq!(d.join_welcomes().await, vec![conv.clone()]);
    }
    (conv, devices)
}
