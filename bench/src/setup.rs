//! Sets up a practice through the HTTP API exactly as clients do: the admin
//! from the setup link (TOTP enrolment), P clinicians invited by the admin,
//! one client invited by each clinician (and so assigned to them), one
//! bearer-authenticated device each, KeyPackages, and one MLS conversation
//! per pair created by the clinician's device and joined by the client's.

use alcove_crypto::{Content, Device, DeviceIdentity, Envelope};
use anyhow::{anyhow, bail, Context, Result};
use futures_util::StreamExt;
use serde_json::{json, Value};

/// Base64 of bytes.
pub fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

fn unb64(v: &Value) -> Result<Vec<u8>> {
    let s = v
        .as_str()
        .ok_or_else(|| anyhow!("expected a base64 string, got {v}"))?;
    Ok(data_encoding::BASE64.decode(s.as_bytes())?)
}

/// A JSON API client over one shared connection pool.
#[derive(Clone)]
pub struct Api {
    /// HTTP client (keep-alive pool).
    pub http: reqwest::Client,
    /// `http://127.0.0.1:port`.
    pub base: String,
}

impl Api {
    /// A client for the server at `base`.
    pub fn new(base: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(4096)
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        Ok(Self {
            http,
            base: base.to_string(),
        })
    }

    /// POST JSON, returning status and body.
    pub async fn post(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: &Value,
    ) -> Result<(u16, Value)> {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        finish(req).await
    }

    /// GET, returning status and body.
    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Result<(u16, Value)> {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        finish(req).await
    }
}

async fn finish(req: reqwest::RequestBuilder) -> Result<(u16, Value)> {
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let text = resp.text().await?;
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Ok((status, body))
}

pub fn expect(what: &str, want: u16, got: (u16, Value)) -> Result<Value> {
    if got.0 != want {
        bail!("{what}: expected HTTP {want}, got {}: {}", got.0, got.1);
    }
    Ok(got.1)
}

pub fn token_of(link: &str) -> String {
    link.rsplit('#').next().unwrap_or_default().to_string()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn decode_base32(s: &str) -> Result<Vec<u8>> {
    data_encoding::BASE32_NOPAD
        .decode(s.trim_end_matches('=').as_bytes())
        .map_err(|e| anyhow!("TOTP secret: {e}"))
}

fn totp_now(secret_b32: &str) -> Result<String> {
    let secret = decode_base32(secret_b32)?;
    let step = (now_secs() / 30) as i64;
    // The server's own RFC 6238 code (checked against the RFC's vectors in
    // its unit tests), rather than a second copy here.
    Ok(format!(
        "{:06}",
        alcove_server::auth::totp::code_at_step(&secret, step)
    ))
}

/// A signed-in device: bearer token, ids, MLS state.
pub struct Peer {
    /// Bearer token.
    pub token: String,
    /// User id.
    pub user_id: String,
    /// The MLS device.
    pub device: Device,
}

/// A clinician and their client, in one conversation.
pub struct Pair {
    /// Conversation id (its bytes are the MLS group id).
    pub conv: String,
    /// The sender in the load phases.
    pub clinician: Peer,
    /// The receiver in the load phases.
    pub client: Peer,
}

/// Accepts a staff invite and enrols TOTP; returns the SignedIn body.
pub async fn register_staff(api: &Api, link: &str, login: &str) -> Result<Value> {
    let accepted = expect(
        "accept staff invite",
        201,
        api.post(
            "/api/v1/invites/accept",
            None,
            &json!({"token": token_of(link), "login": login, "display_name": login,
                    "password": format!("bench staff passphrase {login}")}),
        )
        .await?,
    )?;
    let secret = accepted["totp_secret"]
        .as_str()
        .ok_or_else(|| anyhow!("no totp_secret: {accepted}"))?;
    expect(
        "enrol TOTP",
        200,
        api.post(
            "/api/v1/auth/mfa/enroll",
            None,
            &json!({"enrollment_token": accepted["enrollment_token"], "totp_code": totp_now(secret)?,
                    "device_name": "Bench laptop", "transport": "bearer"}),
        )
        .await?,
    )
}

async fn peer(api: &Api, signed: &Value, practice_id: &str) -> Result<Peer> {
    let token = signed["token"]
        .as_str()
        .ok_or_else(|| anyhow!("no bearer token: {signed}"))?
        .to_string();
    let user_id = signed["user_id"]
        .as_str()
        .ok_or_else(|| anyhow!("no user_id"))?
        .to_string();
    let device_id = signed["device_id"]
        .as_str()
        .ok_or_else(|| anyhow!("no device_id"))?
        .to_string();
    let identity = DeviceIdentity::new(practice_id, &user_id, &device_id)
        .map_err(|e| anyhow!("identity: {e}"))?;
    let mut device = Device::new(identity).map_err(|e| anyhow!("device: {e}"))?;
    let now = now_secs();
    let kps = device
        .key_packages(2, now)
        .map_err(|e| anyhow!("key packages: {e}"))?;
    let last = device
        .last_resort_key_package(now)
        .map_err(|e| anyhow!("last resort: {e}"))?;
    expect(
        "upload KeyPackages",
        200,
        api.post(
            "/api/v1/key-packages",
            Some(&token),
            &json!({"key_packages": kps.iter().map(|k| b64(k)).collect::<Vec<_>>(), "last_resort": b64(&last)}),
        )
        .await?,
    )?;
    Ok(Peer {
        token,
        user_id,
        device,
    })
}

/// The practice's admin (bearer token) and practice id.
pub struct Admin {
    /// Bearer token.
    pub token: String,
    /// Practice id.
    pub practice_id: String,
}

/// Redeems the setup link.
pub async fn admin(api: &Api, setup_link: &str) -> Result<Admin> {
    let signed = register_staff(api, setup_link, "admin@bench.example")
        .await
        .context("admin")?;
    let token = signed["token"]
        .as_str()
        .ok_or_else(|| anyhow!("no token"))?
        .to_string();
    let me = expect("me", 200, api.get("/api/v1/me", Some(&token)).await?)?;
    let practice_id = me["practice_id"]
        .as_str()
        .ok_or_else(|| anyhow!("no practice_id: {me}"))?
        .to_string();
    Ok(Admin { token, practice_id })
}

/// An invite link for `role`, created by the holder of `token`.
pub async fn invite(api: &Api, token: &str, role: &str) -> Result<String> {
    let invite = expect(
        "invite",
        201,
        api.post("/api/v1/invites", Some(token), &json!({ "role": role }))
            .await?,
    )?;
    invite["link"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no link"))
}

/// One clinician/client pair with its conversation.
pub async fn pair(api: &Api, admin: &Admin, i: usize) -> Result<Pair> {
    let link = invite(api, &admin.token, "clinician").await?;
    let link = link.as_str();
    let signed = register_staff(api, link, &format!("dr{i}@bench.example")).await?;
    let mut clinician = peer(api, &signed, &admin.practice_id).await?;
    let link = invite(api, &clinician.token, "client").await?;
    let link = link.as_str();
    let login = format!("client{i}@bench.example");
    let signed = expect(
        "accept client invite",
        201,
        api.post(
            "/api/v1/invites/accept",
            None,
            &json!({"token": token_of(link), "login": login, "display_name": login,
                    "password": format!("bench client passphrase {login}"), "device_name": "Bench phone",
                    "transport": "bearer"}),
        )
        .await?,
    )?;
    let mut client = peer(api, &signed, &admin.practice_id).await?;

    // The clinician's device creates the group and adds the client's device.
    let started = expect(
        "start conversation",
        201,
        api.post(
            "/api/v1/conversations",
            Some(&clinician.token),
            &json!({"with_user_id": client.user_id}),
        )
        .await?,
    )?;
    let conv = started["id"]
        .as_str()
        .ok_or_else(|| anyhow!("no id"))?
        .to_string();
    let sender = unb64(&started["external_sender"])?;
    clinician
        .device
        .create_group(conv.as_bytes(), &sender)
        .map_err(|e| anyhow!("create group: {e}"))?;
    let gi = clinician
        .device
        .group_info(conv.as_bytes())
        .map_err(|e| anyhow!("group info: {e}"))?;
    expect(
        "upload group info",
        204,
        api.post(
            &format!("/api/v1/conversations/{conv}/group-info"),
            Some(&clinician.token),
            &json!({"group_info": b64(&gi)}),
        )
        .await?,
    )?;
    let claimed = expect(
        "claim KeyPackages",
        200,
        api.post(
            &format!("/api/v1/conversations/{conv}/key-packages/claim"),
            Some(&clinician.token),
            &json!({}),
        )
        .await?,
    )?;
    let claimed = claimed["key_packages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if claimed.len() != 1 {
        bail!("expected one claimed KeyPackage, got {claimed:?}");
    }
    let kp = unb64(&claimed[0]["key_package"])?;
    let out = clinician
        .device
        .add_devices(conv.as_bytes(), &[kp])
        .map_err(|e| anyhow!("add: {e}"))?;
    let body = json!({"commit": b64(&out.commit), "welcome": out.welcome.as_ref().map(|w| b64(w)),
                      "group_info": out.group_info.as_ref().map(|g| b64(g))});
    expect(
        "commit add",
        200,
        api.post(
            &format!("/api/v1/conversations/{conv}/commits"),
            Some(&clinician.token),
            &body,
        )
        .await?,
    )?;
    clinician
        .device
        .merge_pending_commit(conv.as_bytes())
        .map_err(|e| anyhow!("merge: {e}"))?;

    // The client's device joins from the Welcome.
    let welcomes = expect(
        "welcomes",
        200,
        api.get("/api/v1/welcomes", Some(&client.token)).await?,
    )?;
    let w = welcomes
        .as_array()
        .and_then(|a| a.first())
        .ok_or_else(|| anyhow!("no welcome"))?;
    client
        .device
        .join_from_welcome(&unb64(&w["data"])?)
        .map_err(|e| anyhow!("join: {e}"))?;
    let id = w["id"].as_str().ok_or_else(|| anyhow!("no welcome id"))?;
    expect(
        "ack welcome",
        204,
        api.post(
            &format!("/api/v1/welcomes/{id}/ack"),
            Some(&client.token),
            &json!({}),
        )
        .await?,
    )?;
    Ok(Pair {
        conv,
        clinician,
        client,
    })
}

/// Sets up `n` pairs, `concurrency` at a time.
pub async fn pairs(api: &Api, admin: &Admin, n: usize, concurrency: usize) -> Result<Vec<Pair>> {
    let results: Vec<Result<Pair>> =
        futures_util::stream::iter((0..n).map(|i| pair(api, admin, i)))
            .buffered(concurrency.max(1))
            .collect()
            .await;
    results.into_iter().collect()
}

/// One pre-encrypted message.
pub struct Prepared {
    /// The JSON body of the send request.
    pub body: String,
    /// Its client message id (base64): how the socket's answer names it.
    pub client_msg_id_b64: String,
    /// The same message as a `send` frame for the delivery socket.
    pub send_frame: String,
    /// The ciphertext in base64, as the receiver will see it.
    pub data_b64: String,
    /// The text inside, to check decryption.
    pub text: String,
}

/// Plaintext length whose ciphertext is closest to `target` bytes
/// (measured; MLS pads, so sizes come in steps). Returns (plaintext,
/// ciphertext) lengths.
pub fn calibrate(device: &mut Device, conv: &str, target: usize) -> Result<(usize, usize)> {
    let mut best = (1usize, usize::MAX);
    for len in (1..=target).step_by(2) {
        let ct = encrypt_text(device, conv, &"x".repeat(len))?.1.len();
        if ct.abs_diff(target) < best.1.abs_diff(target) {
            best = (len, ct);
        }
        if ct > target {
            break;
        }
    }
    Ok(best)
}

fn encrypt_text(device: &mut Device, conv: &str, text: &str) -> Result<([u8; 16], Vec<u8>)> {
    let id: [u8; 16] = uuid::Uuid::new_v4().into_bytes();
    let envelope = Envelope {
        client_message_id: id,
        sent_at_ms: now_secs() * 1000,
        content: Content::Text(text.into()),
    };
    let pt = envelope.encode().map_err(|e| anyhow!("encode: {e}"))?;
    let ct = device
        .encrypt(conv.as_bytes(), &pt)
        .map_err(|e| anyhow!("encrypt: {e}"))?;
    Ok((id, ct))
}

/// Encrypts `n` texts of `len` characters on the pair's sending device.
pub fn prepare(pair: &mut Pair, n: usize, len: usize, tag: &str) -> Result<Vec<Prepared>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let head = format!("{tag} {i} ");
        let text = format!("{head}{}", "x".repeat(len.saturating_sub(head.len())));
        let (id, ct) = encrypt_text(&mut pair.clinician.device, &pair.conv, &text)?;
        let data_b64 = b64(&ct);
        let client_msg_id_b64 = b64(&id);
        let body = json!({"client_msg_id": client_msg_id_b64, "data": data_b64}).to_string();
        let send_frame = json!({"type": "send", "conversation_id": pair.conv,
            "client_msg_id": client_msg_id_b64, "data": data_b64})
        .to_string();
        out.push(Prepared {
            body,
            client_msg_id_b64,
            send_frame,
            data_b64,
            text,
        });
    }
    Ok(out)
}

/// Decrypts received ciphertexts on the pair's receiving device, in the
/// order received, and checks them against what was sent.
pub fn verify_decrypt(pair: &mut Pair, received: &[String], sent: &[Prepared]) -> Result<usize> {
    let by_data: std::collections::HashMap<&str, &str> = sent
        .iter()
        .map(|p| (p.data_b64.as_str(), p.text.as_str()))
        .collect();
    let mut ok = 0;
    for data in received {
        let Some(want) = by_data.get(data.as_str()) else {
            continue;
        };
        let bytes = data_encoding::BASE64.decode(data.as_bytes())?;
        match pair
            .client
            .device
            .process(&bytes)
            .map_err(|e| anyhow!("decrypt: {e}"))?
        {
            alcove_crypto::Processed::Application { plaintext, .. } => {
                let env = Envelope::decode(&plaintext).map_err(|e| anyhow!("envelope: {e}"))?;
                match env.content {
                    Content::Text(t) if t == *want => ok += 1,
                    other => bail!("decrypted {other:?}, expected {want:?}"),
                }
            }
            other => bail!("expected an application message, got {other:?}"),
        }
    }
    Ok(ok)
}
