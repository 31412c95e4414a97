//! Job: after a burst of password hashing, give the freed memory back.
//!
//! The hashes' own blocks are separate mappings and go back by themselves
//! (`hashing.rs`); what a burst leaves resident is everything else its
//! thousands of connections allocated and freed — request buffers, tasks,
//! answers — which glibc keeps in its arenas. Measured: 87 MiB a minute
//! after 2,000 sign-ins against 14 MiB idle. Once the hashing gate has been
//! used and is idle again, one `malloc_trim` on a blocking thread returns
//! those pages (`alcove-trim`). It runs only after a burst, never on a
//! quiet server, and never while a hash runs: it locks each arena while it
//! walks it.

use super::hashing::Hashing;
use crate::jobs::{Job, Round};
use async_trait::async_trait;

/// The trim job.
pub struct Trim {
    hashing: Hashing,
}

impl Trim {
    /// The job for this gate.
    pub fn new(hashing: Hashing) -> Self {
        Self { hashing }
    }
}

#[async_trait]
impl Job for Trim {
    fn name(&self) -> &'static str {
        "auth.trim"
    }

    async fn round(&self) -> anyhow::Result<Round> {
        if self.hashing.burst_over() {
            let released = tokio::task::spawn_blocking(alcove_trim::release_free_memory).await?;
            tracing::debug!(released, "memory given back after a hashing burst");
        }
        Ok(Round::Idle)
    }
}
