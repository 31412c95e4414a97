//! Job: after a burst of password hashing, give the freed memory back.
//!
//! The hashes' own blocks are separate mappings and go back by themselves
//! (`hashing.rs`); what a burst leaves resident is everything else its
//! thousands of connections allocated and freed — request buffers, tasks,
//! answers — which glibc keeps in its arenas. Measured: 87 MiB a minute
//! after 2,000 sign-ins against 14 MiB idle. After the hashing gate has
//! been used, the first round that finds it unused since the round before
//! (a whole interval of quiet) and idle runs one `malloc_trim` on a
//! blocking thread, which returns those pages (`alcove-trim`). Never during
//! a burst — it locks each arena while it walks it, and measured mid-storm
//! that showed as a `/readyz` p99 of 100+ ms — and never on a quiet server.

use super::hashing::Hashing;
use crate::jobs::{Job, Round};
use async_trait::async_trait;
use std::sync::atomic::{AtomicBool, Ordering};

/// The trim job.
pub struct Trim {
    hashing: Hashing,
    /// A burst was seen and has not been trimmed after yet.
    pending: AtomicBool,
}

impl Trim {
    /// The job for this gate.
    pub fn new(hashing: Hashing) -> Self {
        Self {
            hashing,
            pending: AtomicBool::new(false),
        }
    }
}

#[async_trait]
impl Job for Trim {
    fn name(&self) -> &'static str {
        "auth.trim"
    }

    async fn round(&self) -> anyhow::Result<Round> {
        if self.hashing.take_used() {
            // Still in a burst, or just out of one: wait for a quiet round.
            self.pending.store(true, Ordering::Release);
            return Ok(Round::Idle);
        }
        if self.pending.load(Ordering::Acquire) && self.hashing.idle() {
            self.pending.store(false, Ordering::Release);
            let released = tokio::task::spawn_blocking(alcove_trim::release_free_memory).await?;
            tracing::debug!(released, "memory given back after a hashing burst");
        }
        Ok(Round::Idle)
    }
}
