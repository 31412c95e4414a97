//! Typed errors with stable machine-readable codes.

use thiserror::Error;

/// Every failure the protocol core can report.
///
/// [`Error::code`] returns a stable, lower-case identifier that callers (the
/// server, the wasm boundary, the UI) can match on; the `Display` text is for
/// humans and may change.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// Input bytes could not be parsed (bad framing, truncated, trailing data,
    /// invalid UTF-8, out-of-range field).
    #[error("malformed input: {0}")]
    Malformed(String),
    /// Input exceeds a size limit.
    #[error("input too large: {len} bytes, limit {limit}")]
    TooLarge {
        /// Actual size in bytes.
        len: usize,
        /// Limit in bytes.
        limit: usize,
    },
    /// A format version this build does not understand.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u32),
    /// A handshake/application message is for a different epoch than the
    /// group's current one and cannot be processed now. If `message_epoch` is
    /// ahead of `group_epoch`, catch up on earlier messages and retry.
    #[error("message is for epoch {message_epoch}, group is at epoch {group_epoch}")]
    WrongEpoch {
        /// Epoch stated in the message.
        message_epoch: u64,
        /// Current epoch of the local group state.
        group_epoch: u64,
    },
    /// This device is not (or no longer) a member of the group.
    #[error("this device is not a member of the group")]
    NotMember,
    /// The group id is not known on this device.
    #[error("unknown group")]
    UnknownGroup,
    /// A group with this id already exists on this device.
    #[error("group already exists")]
    GroupExists,
    /// An application message could not be decrypted.
    #[error("decryption failed")]
    DecryptFailed,
    /// An MLS message failed validation (signature, membership tag,
    /// confirmation tag, proposal rules, ...).
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// A KeyPackage failed validation.
    #[error("invalid key package: {0}")]
    InvalidKeyPackage(String),
    /// A KeyPackage is outside its lifetime at the given time.
    #[error("key package lifetime invalid at the given time")]
    KeyPackageLifetime,
    /// A ciphersuite other than the one Alcove allows.
    #[error("unsupported ciphersuite")]
    UnsupportedCiphersuite,
    /// The credential identity does not match the expected device.
    #[error("credential identity does not match the expected device")]
    IdentityMismatch,
    /// A local commit is pending; merge or discard it first.
    #[error("a commit is pending for this group")]
    PendingCommit,
    /// No local commit is pending.
    #[error("no commit is pending for this group")]
    NoPendingCommit,
    /// Sealed state could not be opened: wrong key, wrong device, or damaged.
    #[error("sealed state could not be opened")]
    UnsealFailed,
    /// A caller-supplied argument is invalid.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An internal error that should not happen; report it.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Stable machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Malformed(_) => "malformed",
            Error::TooLarge { .. } => "too_large",
            Error::UnsupportedVersion(_) => "unsupported_version",
            Error::WrongEpoch { .. } => "wrong_epoch",
            Error::NotMember => "not_member",
            Error::UnknownGroup => "unknown_group",
            Error::GroupExists => "group_exists",
            Error::DecryptFailed => "decrypt_failed",
            Error::InvalidMessage(_) => "invalid_message",
            Error::InvalidKeyPackage(_) => "invalid_key_package",
            Error::KeyPackageLifetime => "key_package_lifetime",
            Error::UnsupportedCiphersuite => "unsupported_ciphersuite",
            Error::IdentityMismatch => "identity_mismatch",
            Error::PendingCommit => "pending_commit",
            Error::NoPendingCommit => "no_pending_commit",
            Error::UnsealFailed => "unseal_failed",
            Error::InvalidArgument(_) => "invalid_argument",
            Error::Internal(_) => "internal",
        }
    }

    pub(crate) fn malformed(what: impl core::fmt::Display) -> Self {
        Error::Malformed(what.to_string())
    }

    pub(crate) fn internal(what: impl core::fmt::Display) -> Self {
        Error::Internal(what.to_string())
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
