//! The server's MLS external-sender key, which signs Remove proposals for
//! revoked devices. Kept in a file in the data directory (mode 0600), never
//! in the database, so a database copy cannot forge proposals. Several nodes
//! must share the same file.

use alcove_crypto::server::{ExternalSenderKey, DEFAULT_SERVER_IDENTITY};
use std::path::Path;

/// File name in the data directory.
pub const FILE: &str = "mls-external-sender.key";

/// Loads the key, creating it on first start.
pub fn load_or_create(data_dir: &Path) -> anyhow::Result<ExternalSenderKey> {
    let path = data_dir.join(FILE);
    if path.exists() {
        let bytes = zeroize::Zeroizing::new(std::fs::read(&path)?);
        return ExternalSenderKey::from_secret_bytes(&bytes).map_err(|e| {
            anyhow::anyhow!("{} is not a valid server key: {}", path.display(), e.code())
        });
    }
    crate::private_files::create_dir(data_dir)?;
    let key = ExternalSenderKey::generate(DEFAULT_SERVER_IDENTITY)
        .map_err(|e| anyhow::anyhow!("cannot generate the server key: {}", e.code()))?;
    let secret = key
        .to_secret_bytes()
        .map_err(|e| anyhow::anyhow!("cannot encode the server key: {}", e.code()))?;
    crate::private_files::write_new(&path, &secret)?;
    Ok(key)
}
