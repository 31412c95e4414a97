//! Device identity: the bytes carried in every device's MLS BasicCredential.
//!
//! Exact encoding (version 1):
//!
//! ```text
//! "alcove-id-v1"                      12 ASCII bytes
//! u16 BE length || practice_id UTF-8  1..=255 bytes
//! u16 BE length || user_id UTF-8      1..=255 bytes
//! u16 BE length || device_id UTF-8    1..=255 bytes
//! ```
//!
//! Nothing follows the last field. The server uses canonical lower-case UUID
//! strings (36 bytes) for all three ids; this crate accepts any non-empty
//! UTF-8 up to 255 bytes without control characters and compares bytes
//! exactly (no normalisation), so callers must pass canonical strings.

use crate::error::{Error, Result};
use crate::wire::Reader;

/// Prefix of identity bytes, version 1.
pub const IDENTITY_PREFIX: &[u8; 12] = b"alcove-id-v1";
/// Maximum length in bytes of each id field.
pub const MAX_ID_LEN: usize = 255;

/// The (practice, user, device) triple a device credential binds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceIdentity {
    /// Practice (tenant) id.
    pub practice_id: String,
    /// User id within the practice.
    pub user_id: String,
    /// Device id of the user.
    pub device_id: String,
}

fn check_field(name: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.len() > MAX_ID_LEN {
        return Err(Error::InvalidArgument(format!(
            "{name} must be 1..={MAX_ID_LEN} bytes"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(format!(
            "{name} contains control characters"
        )));
    }
    Ok(())
}

impl DeviceIdentity {
    /// Build and validate an identity.
    pub fn new(
        practice_id: impl Into<String>,
        user_id: impl Into<String>,
        device_id: impl Into<String>,
    ) -> Result<Self> {
        let id = Self {
            practice_id: practice_id.into(),
            user_id: user_id.into(),
            device_id: device_id.into(),
        };
        id.validate()?;
        Ok(id)
    }

    fn validate(&self) -> Result<()> {
        check_field("practice_id", &self.practice_id)?;
        check_field("user_id", &self.user_id)?;
        check_field("device_id", &self.device_id)
    }

    /// Encode as the credential identity bytes (see module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            IDENTITY_PREFIX.len()
                + 6
                + self.practice_id.len()
                + self.user_id.len()
                + self.device_id.len(),
        );
        out.extend_from_slice(IDENTITY_PREFIX);
        for field in [&self.practice_id, &self.user_id, &self.device_id] {
            // Lengths are validated to be <= 255 at construction; values
            // built by struct literal are re-checked in `from_bytes` by peers.
            let len = u16::try_from(field.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out
    }

    /// Decode and validate credential identity bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let prefix = r.take(IDENTITY_PREFIX.len())?;
        if prefix != IDENTITY_PREFIX {
            return Err(Error::malformed("identity prefix"));
        }
        let practice_id = r.string_u16(MAX_ID_LEN)?;
        let user_id = r.string_u16(MAX_ID_LEN)?;
        let device_id = r.string_u16(MAX_ID_LEN)?;
        r.finish()?;
        let id = Self {
            practice_id,
            user_id,
            device_id,
        };
        id.validate().map_err(|e| Error::Malformed(e.to_string()))?;
        Ok(id)
    }
}

impl core::fmt::Display for DeviceIdentity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.practice_id, self.user_id, self.device_id
        )
    }
}
