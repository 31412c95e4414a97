//! What a push subscription may be, and whether a device is pushed now.
//! Pure: decisions over facts the store and the wake-up registry read.
//!
//! A subscription comes from the device's own browser, so every field is a
//! lying client's to choose: the endpoint is where the server will POST
//! (server-side request forgery: the same address rules as webhooks, and
//! https only unless a setting allows http), and the keys must be a P-256
//! point and a 16-byte secret, or nothing can be encrypted to them.

use super::error::PushError;
use crate::incidents::rules::webhook;
use crate::reminders::rules::schedule::QuietHours;
use chrono_tz::Tz;
use data_encoding::BASE64URL_NOPAD;
use web_push_native::p256;

/// What every push says, and all it says: no name, no conversation, no
/// count. The service worker shows "New secure message" and opens the app.
pub const PAYLOAD: &str = r#"{"type":"message"}"#;

/// The longest endpoint accepted (push services' URLs are ~200–500 bytes).
pub const MAX_ENDPOINT: usize = 2048;

/// A subscription as checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Where pushes go.
    pub endpoint: String,
    /// The browser's P-256 key, base64url (65 bytes, uncompressed).
    pub p256dh: String,
    /// Its authentication secret, base64url (16 bytes).
    pub auth: String,
}

/// Checks a subscription as the browser gave it.
pub fn check(
    endpoint: &str,
    p256dh: &str,
    auth: &str,
    allow_http: bool,
    allow_private: bool,
) -> Result<Subscription, PushError> {
    if endpoint.len() > MAX_ENDPOINT {
        return Err(PushError::Invalid("endpoint: at most 2048 characters"));
    }
    let url =
        reqwest::Url::parse(endpoint).map_err(|_| PushError::Invalid("endpoint: not a URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        _ => {
            return Err(PushError::EndpointRefused(
                "push endpoints must be https://",
            ))
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(PushError::EndpointRefused(
            "push endpoints carry no credentials",
        ));
    }
    let host = url
        .host_str()
        .ok_or(PushError::Invalid("endpoint: no host"))?;
    if !allow_private && !webhook::host_allowed(host) {
        return Err(PushError::EndpointRefused(
            "push endpoints may not point at this server's own network",
        ));
    }
    let key = BASE64URL_NOPAD
        .decode(p256dh.trim_end_matches('=').as_bytes())
        .map_err(|_| PushError::Invalid("keys.p256dh: not base64url"))?;
    if p256::PublicKey::from_sec1_bytes(&key).is_err() || key.len() != 65 {
        return Err(PushError::Invalid(
            "keys.p256dh: not an uncompressed P-256 point",
        ));
    }
    let secret = BASE64URL_NOPAD
        .decode(auth.trim_end_matches('=').as_bytes())
        .map_err(|_| PushError::Invalid("keys.auth: not base64url"))?;
    if secret.len() != 16 {
        return Err(PushError::Invalid("keys.auth: 16 bytes"));
    }
    Ok(Subscription {
        endpoint: endpoint.to_owned(),
        p256dh: BASE64URL_NOPAD.encode(&key),
        auth: BASE64URL_NOPAD.encode(&secret),
    })
}

/// What is known of one subscribed device when the job looks.
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    /// The person's quiet hours (clients' preferences; the same as their
    /// reminders and nudges keep).
    pub quiet: Option<QuietHours>,
    /// The zone they are read in.
    pub tz: Tz,
    /// Now.
    pub now: i64,
    /// A socket of the device is open: the page has the message already.
    pub online: bool,
    /// The person turned reminders and notices off (clients' preferences).
    pub opted_out: bool,
    /// When the last push to it went.
    pub pushed_at: Option<i64>,
    /// At most one push per device this often (seconds).
    pub cooldown_secs: i64,
}

/// What to do with a device that has a message it has not acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Push now.
    Push,
    /// Nothing now; the messages stay new for a later look, from then.
    Later(i64),
    /// Not at all for these messages (online, opted out): they count as
    /// told.
    Skip,
}

/// One push per device per cooldown: "a new secure message" once is the
/// news; ten on the lock screen are noise, and a chatty conversation
/// would otherwise buzz for every line. Never in the person's quiet hours
/// (the notice waits for their end), as their reminders and nudges.
pub fn decide(f: &Facts) -> Decision {
    if f.online || f.opted_out {
        return Decision::Skip;
    }
    if let Some(end) = f.quiet.and_then(|q| q.ends(f.tz, f.now)) {
        return Decision::Later(end);
    }
    match f.pushed_at {
        Some(at) if f.now < at + f.cooldown_secs => Decision::Later(at + f.cooldown_secs),
        _ => Decision::Push,
    }
}

/// After a push service refused (`status`, or none: no answer): whether
/// the subscription is gone for good (404, 410: the browser unsubscribed
/// or the service expired it) — else it is retried after `retry_after`.
pub fn gone(status: Option<u16>) -> bool {
    matches!(status, Some(404 | 410))
}

/// The wait before the `failures`-th retry of a failing subscription
/// (seconds): 10 s doubling, at most an hour.
pub fn retry_after(failures: i64) -> i64 {
    let n = failures.clamp(1, 10) as u32;
    (10_i64 << (n - 1)).min(3_600)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "BLn9b-VR0ca83knDNZ32dCHGyjJp-1riX9ZTN40MqV8K_LpQmLqxC_DoHvqvFXO_nGdAB4W9dogZb_sM-uV4JbY";
    const AUTH: &str = "_ordMnz7uTCmrpBTeUV4Bw";

    fn facts() -> Facts {
        Facts {
            quiet: None,
            tz: chrono_tz::UTC,
            now: 1_000,
            online: false,
            opted_out: false,
            pushed_at: None,
            cooldown_secs: 60,
        }
    }

    #[test]
    fn a_browser_subscription_is_accepted_and_a_lying_one_is_not() {
        let ok = check("https://push.example.net/abc", KEY, AUTH, false, false).unwrap();
        assert_eq!(ok.p256dh, KEY);
        assert_eq!(ok.auth, AUTH);
        for (endpoint, key, auth) in [
            ("http://push.example.net/abc", KEY, AUTH),
            ("https://127.0.0.1/abc", KEY, AUTH),
            ("https://10.0.0.8/abc", KEY, AUTH),
            ("https://localhost/abc", KEY, AUTH),
            ("https://user:pw@push.example.net/abc", KEY, AUTH),
            ("not a url", KEY, AUTH),
            ("https://push.example.net/abc", "AAAA", AUTH),
            ("https://push.example.net/abc", KEY, "c2hvcnQ"),
            ("https://push.example.net/abc", "not base64!", AUTH),
        ] {
            assert!(
                check(endpoint, key, auth, false, false).is_err(),
                "{endpoint} {key} {auth}"
            );
        }
        let long = format!("https://push.example.net/{}", "a".repeat(MAX_ENDPOINT));
        assert!(check(&long, KEY, AUTH, false, false).is_err());
        // Tests allow their loopback receiver.
        assert!(check("http://127.0.0.1:9/abc", KEY, AUTH, true, true).is_ok());
    }

    #[test]
    fn a_device_is_pushed_once_per_cooldown_and_never_while_online_or_opted_out() {
        assert_eq!(decide(&facts()), Decision::Push);
        let recent = Facts {
            pushed_at: Some(970),
            ..facts()
        };
        assert_eq!(decide(&recent), Decision::Later(1_030));
        let long_ago = Facts {
            pushed_at: Some(900),
            ..facts()
        };
        assert_eq!(decide(&long_ago), Decision::Push);
        assert_eq!(
            decide(&Facts {
                online: true,
                ..facts()
            }),
            Decision::Skip
        );
        assert_eq!(
            decide(&Facts {
                opted_out: true,
                ..facts()
            }),
            Decision::Skip
        );
    }

    #[test]
    fn in_quiet_hours_a_notice_waits_for_their_end() {
        use chrono::NaiveTime;
        // 21:00–07:00 in New York; 1_000_000 is 1970-01-12 08:46 EST
        // (13:46 UTC): not quiet. 02:00 UTC is 21:00 EST: quiet until
        // 07:00 EST, 12:00 UTC.
        let quiet = QuietHours {
            start: NaiveTime::from_hms_opt(21, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(7, 0, 0).unwrap(),
        };
        let tz: Tz = "America/New_York".parse().unwrap();
        let day = Facts {
            quiet: Some(quiet),
            tz,
            now: 1_000_000,
            ..facts()
        };
        assert_eq!(decide(&day), Decision::Push);
        let night_start = 950_400 + 2 * 3600; // 1970-01-12 02:00 UTC
        let night = Facts {
            now: night_start + 60,
            ..day
        };
        assert_eq!(decide(&night), Decision::Later(950_400 + 12 * 3600));
        // Online or opted out still wins: nothing to wait for.
        assert_eq!(
            decide(&Facts {
                online: true,
                ..night
            }),
            Decision::Skip
        );
    }

    #[test]
    fn a_subscription_the_service_says_is_gone_is_dropped_others_retried() {
        assert!(gone(Some(410)));
        assert!(gone(Some(404)));
        assert!(!gone(Some(500)));
        assert!(!gone(None));
        assert_eq!(retry_after(1), 10);
        assert_eq!(retry_after(2), 20);
        assert_eq!(retry_after(50), 3_600);
    }

    #[test]
    fn the_payload_says_only_that_a_message_waits() {
        let v: serde_json::Value = serde_json::from_str(PAYLOAD).unwrap();
        assert_eq!(v, serde_json::json!({"type": "message"}));
    }
}
