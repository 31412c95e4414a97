//! What a history archive may be (pure).

use super::error::ArchiveError;
use data_encoding::BASE64;

/// The largest sealed archive of one conversation: years of a weekly
/// conversation fit (a year is tens of KiB), and a lying device cannot
/// make the server keep more than this per conversation.
pub const MAX_ARCHIVE_BYTES: usize = 1024 * 1024;

/// The request body limit of the store route: the base64 of the largest
/// archive and its JSON around it.
pub const BODY_LIMIT: usize = MAX_ARCHIVE_BYTES / 3 * 4 + 8 * 1024;

/// The magic a sealed archive starts with (`crypto/src/archive.rs`): what
/// is not one is refused, so nothing else is stored under this name.
const MAGIC: &[u8] = b"ALCA";

/// Checks a history key's public id: 16 lower-case hex digits.
pub fn key_id(id: &str) -> Result<String, ArchiveError> {
    if id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(id.to_owned())
    } else {
        Err(ArchiveError::Invalid(
            "key_id must be 16 lower-case hex digits",
        ))
    }
}

/// Decodes and checks an archive sent by a device.
pub fn parse(b64: &str) -> Result<Vec<u8>, ArchiveError> {
    if b64.len() > BODY_LIMIT {
        return Err(ArchiveError::TooLarge);
    }
    let bytes = BASE64
        .decode(b64.as_bytes())
        .map_err(|_| ArchiveError::Invalid("archive is not base64"))?;
    if bytes.len() > MAX_ARCHIVE_BYTES {
        return Err(ArchiveError::TooLarge);
    }
    // magic + version + nonce + tag: the smallest sealed archive.
    if bytes.len() < 4 + 1 + 12 + 16 || !bytes.starts_with(MAGIC) {
        return Err(ArchiveError::Invalid(
            "archive is not a sealed history archive",
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(len: usize) -> String {
        let mut b = b"ALCA".to_vec();
        b.resize(len, 7);
        BASE64.encode(&b)
    }

    #[test]
    fn a_sealed_archive_up_to_the_limit_is_taken() {
        assert!(matches!(parse(&sealed(33)).map(|b| b.len()), Ok(33)));
        assert!(matches!(
            parse(&sealed(MAX_ARCHIVE_BYTES)).map(|b| b.len()),
            Ok(MAX_ARCHIVE_BYTES)
        ));
    }

    #[test]
    fn a_key_id_is_sixteen_hex_digits() {
        assert!(key_id("0123456789abcdef").is_ok());
        for bad in [
            "",
            "0123456789ABCDEF",
            "0123456789abcde",
            "0123456789abcdef0",
            "0123456789abcdeg",
        ] {
            assert!(key_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn anything_else_is_refused() {
        assert!(matches!(
            parse(&sealed(MAX_ARCHIVE_BYTES + 1)),
            Err(ArchiveError::TooLarge)
        ));
        assert!(matches!(parse(&sealed(32)), Err(ArchiveError::Invalid(_))));
        assert!(matches!(
            parse("not base64!"),
            Err(ArchiveError::Invalid(_))
        ));
        assert!(matches!(
            parse(&BASE64.encode(&[0u8; 64])),
            Err(ArchiveError::Invalid(_))
        ));
    }
}
