//! Password and passphrase hashing and policy.
//!
//! Argon2id with OWASP's recommended minimum (m = 19 MiB, t = 2, p = 1).
//! Policy: at least 12 characters, at most 256, not on the list of common
//! passwords, not the login itself, not one repeated character.
//! Verification of an unknown login runs against a dummy hash so that the
//! response time does not reveal whether the account exists.

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};

/// Shortest acceptable password, in characters.
pub const MIN_LEN: usize = 12;
/// Longest accepted password, in characters (bounds hashing work).
pub const MAX_LEN: usize = 256;

const COMMON: &str = include_str!("common-passwords.txt");

fn argon2() -> Argon2<'static> {
    // The parameters are constants known to be valid.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a password was refused; the message is safe to show.
#[derive(Debug, PartialEq, Eq)]
pub enum Weakness {
    /// Fewer than `MIN_LEN` characters.
    TooShort,
    /// More than `MAX_LEN` characters.
    TooLong,
    /// On the common-password list, equal to the login, or trivially repetitive.
    TooCommon,
}

impl Weakness {
    /// A sentence for the person choosing the password.
    pub fn message(&self) -> String {
        match self {
            Weakness::TooShort => format!("use at least {MIN_LEN} characters"),
            Weakness::TooLong => format!("use at most {MAX_LEN} characters"),
            Weakness::TooCommon => {
                "this password is too common or too easy to guess; choose another".into()
            }
        }
    }
}

/// Checks the policy.
pub fn check_policy(password: &SecretString, login: &str) -> Result<(), Weakness> {
    let pw = password.expose_secret();
    let len = pw.chars().count();
    if len < MIN_LEN {
        return Err(Weakness::TooShort);
    }
    if len > MAX_LEN {
        return Err(Weakness::TooLong);
    }
    let lowered = pw.to_lowercase();
    let first = lowered.chars().next();
    if lowered.chars().all(|c| Some(c) == first)
        || lowered == login.to_lowercase()
        || COMMON.lines().any(|l| !l.is_empty() && l == lowered)
    {
        return Err(Weakness::TooCommon);
    }
    Ok(())
}

/// Blocks of Argon2 memory for `params`, allocated with room for more than
/// glibc's largest dynamic mmap threshold (32 MiB) so that the allocation
/// is always a mapping of its own, unmapped when dropped: after a burst of
/// sign-ins the memory goes back to the system instead of staying in
/// malloc's arenas. Only the first `block_count` blocks are ever written,
/// so the untouched tail is never resident.
fn argon2_blocks(params: &Params) -> Vec<Block> {
    const MAPPED_BYTES: usize = 33 << 20;
    let count = params.block_count();
    let mut blocks = Vec::with_capacity(count.max(MAPPED_BYTES / Block::SIZE));
    blocks.resize(count, Block::default());
    blocks
}

/// Argon2id of `password` and `salt` under `params` into `out`.
fn compute(params: Params, password: &[u8], salt: &[u8], out: &mut [u8]) -> anyhow::Result<()> {
    let mut blocks = argon2_blocks(&params);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into_with_memory(password, salt, out, &mut blocks)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))
}

/// Hashes a password to a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`,
/// what the argon2 crate writes and verifies).
pub fn hash(password: &SecretString) -> anyhow::Result<String> {
    let salt = SaltString::encode_b64(&super::secrets::random_bytes::<16>())
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let mut salt_bytes = [0u8; 16];
    let salt_raw = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let params = argon2().params().clone();
    let mut out = [0u8; 32];
    compute(
        params.clone(),
        password.expose_secret().as_bytes(),
        salt_raw,
        &mut out,
    )?;
    let output = Output::new(&out).map_err(|e| anyhow::anyhow!("output: {e}"))?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        salt.as_str(),
        output
    ))
}

/// True when the password matches the stored PHC string (Argon2id only;
/// the comparison is constant-time).
pub fn verify(password: &SecretString, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    let (Ok(params), Some(salt), Some(expected)) =
        (Params::try_from(&parsed), parsed.salt, parsed.hash)
    else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    if compute(params, password.expose_secret().as_bytes(), salt, &mut out).is_err() {
        return false;
    }
    Output::new(&out).is_ok_and(|computed| computed == expected)
}

/// A hash to verify against when the login is unknown, so the timing of a
/// wrong login matches that of a wrong password.
pub fn dummy_hash() -> String {
    hash(&SecretString::from("alcove-dummy-password-for-timing"))
        .unwrap_or_else(|_| "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$ZmFrZQ".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_interoperate_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let pw = s("correct horse battery staple");
        let ours = hash(&pw).expect("hash");
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).expect("phc");
        assert!(argon2()
            .verify_password(pw.expose_secret().as_bytes(), &parsed)
            .is_ok());
        let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
        let theirs = argon2()
            .hash_password(pw.expose_secret().as_bytes(), &salt)
            .expect("hash")
            .to_string();
        assert!(verify(&pw, &theirs));
        assert!(!verify(&s("correct horse battery stapler"), &theirs));
        assert!(!verify(
            &pw,
            "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$ZmFrZQ"
        ));
        assert!(!verify(&pw, "not a phc string"));
    }

    fn s(x: &str) -> SecretString {
        SecretString::from(x.to_string())
    }

    #[test]
    fn policy() {
        assert_eq!(check_policy(&s("short"), "a"), Err(Weakness::TooShort));
        assert_eq!(
            check_policy(&s("password1234"), "a"),
            Err(Weakness::TooCommon)
        );
        assert_eq!(
            check_policy(&s("aaaaaaaaaaaaaaa"), "a"),
            Err(Weakness::TooCommon)
        );
        assert_eq!(
            check_policy(&s("dr.who@example.org"), "Dr.Who@example.org"),
            Err(Weakness::TooCommon)
        );
        assert_eq!(
            check_policy(&s("correct horse battery staple"), "a"),
            Err(Weakness::TooCommon)
        );
        assert_eq!(check_policy(&s("violet river lantern 42"), "a"), Ok(()));
    }

    #[test]
    fn hash_and_verify() {
        let phc = hash(&s("violet river lantern 42")).expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify(&s("violet river lantern 42"), &phc));
        assert!(!verify(&s("violet river lantern 43"), &phc));
        assert!(!verify(&s("x"), "not a phc string"));
    }
}
