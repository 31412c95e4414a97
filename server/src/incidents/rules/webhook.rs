//! Webhooks as the Standard Webhooks specification has them, and what may
//! be in them. Pure: signing, secrets, the address check, the retry
//! schedule, the event types and their PHI-free payloads.
//!
//! - Headers `webhook-id` (one per event and endpoint: every attempt of
//!   one event carries it, so a receiver drops duplicates),
//!   `webhook-timestamp` (Unix seconds of the attempt) and
//!   `webhook-signature`: `v1,` + base64 of HMAC-SHA256 under the secret's
//!   key over `id.timestamp.body`.
//! - Secrets are `whsec_` + base64 of 32 random bytes.
//! - A payload is `{type, timestamp, data}`, and `data` holds only ids,
//!   types, statuses, deadlines, counts and a link: never a name, login,
//!   contact detail or content. It is built here from fields of those
//!   kinds only, so nothing else can reach it.

use crate::audit::Action;
use data_encoding::BASE64;
use serde_json::{json, Value};
use std::net::IpAddr;

/// The event types an endpoint may subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "incident.opened",
    "incident.updated",
    "incident.decided",
    "incident.deadline_approaching",
    "device.revoked",
    "user.deactivated",
    "audit.verification_failed",
];

/// The event a test delivery carries (sent by hand from the webhook
/// settings, to every endpoint whatever it subscribes to): no data at all.
pub const TEST_EVENT: &str = "webhook.test";

/// The webhook event type an audit action is announced as, if any.
pub fn event_type_of(action: &str) -> Option<&'static str> {
    Some(match Action::parse(action)? {
        Action::IncidentOpened => "incident.opened",
        Action::IncidentUpdated => "incident.updated",
        Action::IncidentDecided => "incident.decided",
        Action::IncidentDeadlineApproaching => "incident.deadline_approaching",
        Action::DeviceRevoked | Action::DeviceReportedLost => "device.revoked",
        Action::UserDeactivated => "user.deactivated",
        Action::AuditVerificationFailed => "audit.verification_failed",
        _ => return None,
    })
}

/// Encodes a secret's key as `whsec_…`.
pub fn secret_string(key: &[u8]) -> String {
    format!("whsec_{}", BASE64.encode(key))
}

/// The `webhook-signature` value for one attempt.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut ctx = ring::hmac::Context::with_key(&mac);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body.as_bytes());
    format!("v1,{}", BASE64.encode(ctx.sign().as_ref()))
}

/// The `webhook-signature` value under several keys (during a secret's
/// rotation: the new one first, then the previous): the specification's
/// space-separated list, of which a receiver accepts any it can verify.
pub fn signatures(keys: &[&[u8]], id: &str, timestamp: i64, body: &str) -> String {
    keys.iter()
        .map(|k| signature(k, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether an address may be called: not loopback, private, link-local,
/// shared (CGNAT), unspecified, broadcast, multicast or documentation —
/// the addresses through which a webhook URL would reach the server's own
/// network (server-side request forgery).
pub fn address_allowed(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared (carrier NAT)
                || (a == 198 && (18..20).contains(&b)) // benchmarking
                || a >= 240) // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return address_allowed(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            // An IPv4 address inside IPv6 reaches that IPv4 address: the
            // deprecated compatible form (::a.b.c.d) and the NAT64 prefix
            // (64:ff9b::/96) are judged as the address they carry.
            let [.., c, d] = seg;
            let carried = std::net::Ipv4Addr::new((c >> 8) as u8, c as u8, (d >> 8) as u8, d as u8);
            if seg[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified()
                || seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
            {
                return address_allowed(IpAddr::V4(carried));
            }
            let first = seg[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
        }
    }
}

/// Whether a URL's host, as written, may be called: not `localhost` or a
/// name under `.localhost`, and, when it is a literal address, one
/// `address_allowed` allows. Names are checked again on every address
/// they resolve to, at connection time.
pub fn host_allowed(host: &str) -> bool {
    let lower = host.to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return false;
    }
    let literal: Option<IpAddr> = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok();
    literal.is_none_or(address_allowed)
}

/// Seconds after attempt `attempts` (1-based) before the next, with jitter
/// in `[0, 1)` as a fraction of a fifth of the delay: 5 s, 5 min, 30 min,
/// 2 h, 5 h, 10 h, 10 h, 14 h, 20 h — about three days in all. `None`
/// after the last: the delivery has failed.
pub fn retry_after(attempts: u32, jitter: f64) -> Option<i64> {
    const SCHEDULE: [i64; 9] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000, 50_400, 72_000];
    let base = *SCHEDULE.get(usize::try_from(attempts).ok()?.checked_sub(1)?)?;
    let spread = (base as f64 / 5.0 * jitter.clamp(0.0, 1.0)) as i64;
    Some(base + spread)
}

/// Attempts before a delivery fails.
pub const MAX_ATTEMPTS: u32 = 10;

/// A delivery's first attempt follows its creation by the length of a
/// round: one created this long before its endpoint began failing belongs
/// to the same outage (it failed throughout its life).
pub const OUTAGE_SLACK_SECS: i64 = 60;

/// What an event's payload may say: only fields of these kinds.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The incident's id.
    pub incident_id: Option<String>,
    /// Its kind, status and decision codes.
    pub kind: Option<String>,
    /// Status code.
    pub status: Option<String>,
    /// Decision code.
    pub decision: Option<String>,
    /// Affected individuals (a count).
    pub affected_count: Option<i64>,
    /// Deadlines (ISO dates).
    pub deadlines: Option<Value>,
    /// A device's id.
    pub device_id: Option<String>,
    /// A user's id (an opaque identifier, never a name or login).
    pub user_id: Option<String>,
    /// A link into the app (no more than an id in it).
    pub link: Option<String>,
}

/// The JSON body of one event.
pub fn payload(event_type: &str, timestamp_rfc3339: &str, f: &Facts) -> Value {
    let mut data = serde_json::Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            data.insert(k.to_owned(), v);
        }
    };
    put("incident_id", f.incident_id.clone().map(Value::from));
    put("kind", f.kind.clone().map(Value::from));
    put("status", f.status.clone().map(Value::from));
    put("decision", f.decision.clone().map(Value::from));
    put("affected_count", f.affected_count.map(Value::from));
    put("deadlines", f.deadlines.clone());
    put("device_id", f.device_id.clone().map(Value::from));
    put("user_id", f.user_id.clone().map(Value::from));
    put("link", f.link.clone().map(Value::from));
    json!({"type": event_type, "timestamp": timestamp_rfc3339, "data": data})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_specifications() {
        // The example of the Standard Webhooks reference libraries.
        let key = BASE64.decode(b"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = signature(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(secret_string(&key).starts_with("whsec_MfKQ"));
        // During a rotation: the new key's signature first, then this one.
        let both = signatures(
            &[b"another key".as_slice(), &key],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1], sig);
        assert_ne!(parts[0], sig);
    }

    #[test]
    fn loopback_private_and_link_local_addresses_are_refused() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
            "198.18.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!address_allowed(bad.parse().unwrap()), "{bad}");
        }
        for good in [
            "93.184.216.34",
            "2606:2800:220:1::1",
            "8.8.8.8",
            "64:ff9b::5db8:d822",
        ] {
            assert!(address_allowed(good.parse().unwrap()), "{good}");
        }
        for host in [
            "localhost",
            "LocalHost",
            "a.localhost",
            "127.0.0.1",
            "[::1]",
            "[::ffff:10.0.0.1]",
        ] {
            assert!(!host_allowed(host), "{host}");
        }
        for host in ["example.org", "93.184.216.34", "[2606:2800:220:1::1]"] {
            assert!(host_allowed(host), "{host}");
        }
    }

    #[test]
    fn retries_spread_over_about_three_days_then_stop() {
        let total: i64 = (1..MAX_ATTEMPTS)
            .map(|n| retry_after(n, 0.0).unwrap())
            .sum();
        assert!((2 * 86_400..4 * 86_400).contains(&total), "{total}");
        assert_eq!(retry_after(MAX_ATTEMPTS, 0.0), None);
        assert_eq!(retry_after(0, 0.5), None);
        assert!(
            retry_after(2, 1.0).unwrap() > retry_after(2, 0.0).unwrap(),
            "jitter"
        );
    }

    #[test]
    fn a_payload_holds_only_the_allowed_fields() {
        let p = payload(
            "incident.opened",
            "2026-12-06T00:00:00Z",
            &Facts {
                incident_id: Some("i".into()),
                kind: Some("lost_device".into()),
                affected_count: Some(3),
                ..Default::default()
            },
        );
        assert_eq!(p["type"], "incident.opened");
        let keys: Vec<&String> = p["data"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["affected_count", "incident_id", "kind"]);
        for t in EVENT_TYPES {
            assert!(t.contains('.'));
        }
        assert_eq!(
            event_type_of("device.reported_lost"),
            Some("device.revoked")
        );
        assert_eq!(event_type_of("auth.login"), None);
    }
}
