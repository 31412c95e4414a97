//! Random tokens and their hashes.
//!
//! Session tokens, invite tokens and MFA enrolment tokens are 256 random bits
//! from the OS CSPRNG, shown to their holder once (base64url) and stored only
//! as SHA-256. A stolen database therefore yields no usable token, and a
//! token is never needed in the clear after it is issued.

use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};

/// Fills `N` bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The OS generator failing is not recoverable; refusing to issue a
    // predictable token is the only safe answer.
    if SystemRandom::new().fill(&mut buf).is_err() {
        std::process::abort();
    }
    buf
}

/// A fresh 256-bit token in base64url, with its SHA-256.
pub fn new_token() -> (SecretString, Vec<u8>) {
    let raw = random_bytes::<32>();
    let text = data_encoding::BASE64URL_NOPAD.encode(&raw);
    let hash = hash_token(&text);
    (SecretString::from(text), hash)
}

/// SHA-256 of a presented token, as stored.
pub fn hash_token(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// SHA-256 with a domain label, for values that are not tokens (throttle
/// keys, recovery codes), so equal inputs in different roles hash apart.
pub fn labelled_hash(label: &str, value: &str) -> Vec<u8> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(label.as_bytes());
    ctx.update(&[0]);
    ctx.update(value.as_bytes());
    ctx.finish().as_ref().to_vec()
}

/// The CSRF token of a session: derived from the stored token hash, so the
/// server keeps nothing extra, and useless without the session cookie.
pub fn csrf_token(session_token_hash: &[u8]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"alcove-csrf-v1\0");
    ctx.update(session_token_hash);
    data_encoding::BASE64URL_NOPAD.encode(ctx.finish().as_ref())
}

/// Constant-time equality for presented secrets.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Ten one-time recovery codes of 80 bits each, formatted `xxxx-xxxx-xxxx-xxxx`.
pub fn new_recovery_codes() -> Vec<SecretString> {
    (0..10)
        .map(|_| {
            let raw = random_bytes::<10>();
            let text = data_encoding::BASE32_NOPAD.encode(&raw).to_lowercase();
            let grouped: Vec<&str> = (0..4).map(|i| &text[i * 4..i * 4 + 4]).collect();
            SecretString::from(grouped.join("-"))
        })
        .collect()
}

/// A fresh set of recovery codes: the hashes to store, and the codes to
/// show the person once.
pub struct NewRecoveryCodes {
    codes: Vec<SecretString>,
    /// What is stored (`hash_recovery_code` of each).
    pub hashes: Vec<Vec<u8>>,
}

impl NewRecoveryCodes {
    /// Ten new codes ([`new_recovery_codes`]) and their hashes.
    pub fn generate() -> Self {
        let codes = new_recovery_codes();
        let hashes = codes.iter().map(hash_recovery_code).collect();
        Self { codes, hashes }
    }

    /// The codes as the person is shown them, once.
    pub fn shown(&self) -> Vec<String> {
        self.codes
            .iter()
            .map(|c| c.expose_secret().to_string())
            .collect()
    }
}

/// The stored form of a recovery code; spacing, dashes and case are ignored.
pub fn hash_recovery_code(code: &SecretString) -> Vec<u8> {
    let normalised: String = code
        .expose_secret()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    labelled_hash("alcove-recovery-v1", &normalised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_and_256_bits() {
        let (a, ha) = new_token();
        let (b, hb) = new_token();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_ne!(ha, hb);
        let decoded = data_encoding::BASE64URL_NOPAD
            .decode(a.expose_secret().as_bytes())
            .expect("base64url");
        assert_eq!(decoded.len(), 32);
        assert_eq!(hash_token(a.expose_secret()), ha);
    }

    #[test]
    fn recovery_codes_normalise() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let code = &codes[0];
        let sloppy = SecretString::from(code.expose_secret().to_uppercase().replace('-', " "));
        assert_eq!(hash_recovery_code(code), hash_recovery_code(&sloppy));
        assert_ne!(hash_recovery_code(code), hash_recovery_code(&codes[1]));
    }
}
