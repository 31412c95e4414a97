//! The openmls provider a [`crate::Device`] owns: RustCrypto + in-memory
//! storage whose values are zeroized on drop and can be exported/imported
//! deterministically for snapshots.

use std::collections::HashMap;
use std::sync::RwLock;

use openmls_memory_storage::MemoryStorage;
use openmls_rust_crypto::RustCrypto;
use openmls_traits::OpenMlsProvider;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::wire::{put_bytes_u32, Reader};

/// Maximum number of storage entries accepted when restoring.
const MAX_ENTRIES: usize = 1 << 20;
/// Maximum size of one storage key or value accepted when restoring.
const MAX_ENTRY_LEN: usize = 16 * 1024 * 1024;

#[derive(Default)]
pub(crate) struct AlcoveProvider {
    crypto: RustCrypto,
    storage: MemoryStorage,
}

impl OpenMlsProvider for AlcoveProvider {
    type CryptoProvider = RustCrypto;
    type RandProvider = RustCrypto;
    type StorageProvider = MemoryStorage;

    fn storage(&self) -> &Self::StorageProvider {
        &self.storage
    }
    fn crypto(&self) -> &Self::CryptoProvider {
        &self.crypto
    }
    fn rand(&self) -> &Self::RandProvider {
        &self.crypto
    }
}

impl AlcoveProvider {
    /// Export all storage entries, sorted by key (deterministic).
    pub(crate) fn export_storage(&self, out: &mut Zeroizing<Vec<u8>>) -> Result<()> {
        let values = self
            .storage
            .values
            .read()
            .map_err(|_| Error::internal("storage lock poisoned"))?;
        let mut keys: Vec<&Vec<u8>> = values.keys().collect();
        keys.sort();
        let n = u32::try_from(keys.len()).map_err(|_| Error::internal("too many entries"))?;
        out.extend_from_slice(&n.to_be_bytes());
        for k in keys {
            put_bytes_u32(out, k)?;
            let v = values
                .get(k)
                .ok_or_else(|| Error::internal("storage changed"))?;
            put_bytes_u32(out, v)?;
        }
        Ok(())
    }

    /// Build a provider from exported entries.
    pub(crate) fn import_storage(r: &mut Reader<'_>) -> Result<Self> {
        let n = usize::try_from(r.u32()?).map_err(|_| Error::malformed("entry count"))?;
        if n > MAX_ENTRIES || n > r.remaining() / 8 {
            return Err(Error::malformed("entry count"));
        }
        let mut map = HashMap::with_capacity(n);
        for _ in 0..n {
            let k = r.bytes_u32(MAX_ENTRY_LEN)?.to_vec();
            let v = r.bytes_u32(MAX_ENTRY_LEN)?.to_vec();
            if map.insert(k, v).is_some() {
                return Err(Error::malformed("duplicate storage key"));
            }
        }
        Ok(Self {
            crypto: RustCrypto::default(),
            storage: MemoryStorage {
                values: RwLock::new(map),
            },
        })
    }
}

impl Drop for AlcoveProvider {
    fn drop(&mut self) {
        if let Ok(values) = self.storage.values.get_mut() {
            for v in values.values_mut() {
                v.zeroize();
            }
            values.clear();
        }
    }
}
