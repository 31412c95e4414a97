//! TOTP (RFC 6238): HMAC-SHA1, 30-second steps, 6 digits, one step of skew
//! either way. Replay of an accepted code is refused by remembering the last
//! accepted step per user (see `Store::consume_totp_step`).

// This module reads bytes from outside (the network or a file someone
// handed us): no index or slice that could panic on what it is given.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use ring::hmac;

/// Step length in seconds.
pub const STEP_SECS: i64 = 30;

/// A fresh 160-bit secret (RFC 4226's recommended length).
pub fn new_secret() -> Vec<u8> {
    super::secrets::random_bytes::<20>().to_vec()
}

/// The secret as people type it into an authenticator app.
pub fn secret_base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

/// The `otpauth://` URI an authenticator app scans from a QR code. The label
/// is only the product name and the user's own login.
pub fn otpauth_uri(secret: &[u8], login: &str) -> String {
    let label: String = login
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!(
        "otpauth://totp/Alcove:{label}?secret={}&issuer=Alcove&algorithm=SHA1&digits=6&period=30",
        secret_base32(secret)
    )
}

/// The code for one time step (RFC 4226 HOTP with the step as counter).
pub fn code_at_step(secret: &[u8], step: i64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &(step as u64).to_be_bytes());
    // RFC 4226 5.3 dynamic truncation. An HMAC-SHA1 tag is 20 bytes and the
    // offset at most 15, so the window always exists; `get` says so without
    // an index that could panic.
    let mac = tag.as_ref();
    let offset = mac.last().map_or(0, |b| usize::from(b & 0x0f));
    let window = mac
        .get(offset..offset + 4)
        .and_then(|w| <[u8; 4]>::try_from(w).ok())
        .unwrap_or_default();
    (u32::from_be_bytes(window) & 0x7fff_ffff) % 1_000_000
}

/// The step a code matches at `now` (±1 step), compared in constant time.
pub fn verify(secret: &[u8], code: &str, now: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = now.div_euclid(STEP_SECS);
    let mut found = None;
    for step in [current - 1, current, current + 1] {
        let expected = format!("{:06}", code_at_step(secret, step));
        if super::secrets::constant_time_eq(expected.as_bytes(), code.as_bytes()) {
            found = Some(step);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (8-digit values reduced to 6).
    #[test]
    fn rfc6238_vectors() {
        let secret = b"12345678901234567890";
        for (t, expect8) in [
            (59i64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(code_at_step(secret, t / 30), expect8 % 1_000_000, "t={t}");
        }
    }

    #[test]
    fn verify_accepts_skew_and_rejects_junk() {
        let secret = new_secret();
        let now = 1_700_000_000;
        let code = format!("{:06}", code_at_step(&secret, now / 30 - 1));
        assert_eq!(verify(&secret, &code, now), Some(now / 30 - 1));
        let old = format!("{:06}", code_at_step(&secret, now / 30 - 3));
        assert_eq!(verify(&secret, &old, now), None);
        assert_eq!(verify(&secret, "12345", now), None);
        assert_eq!(verify(&secret, "abcdef", now), None);
    }
}
