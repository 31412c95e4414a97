//! Bounded password hashing.
//!
//! Every Argon2id computation (19 MiB, t = 2) is reachable without an
//! account: an unknown login verifies against a dummy hash, an invite
//! redemption hashes the new password. Unbounded, 200 concurrent logins
//! took the server from 14 MB to a 3.7 GB peak. So:
//!
//! - at most `permits` hashes run at once, `permits` being what the memory
//!   budget (`auth.hash_memory_mib`) holds and at most the machine's cores
//!   (`auth.hash_concurrency`; more than the cores adds memory, not
//!   throughput, and starves the request threads);
//! - a request waits for a permit at most `auth.hash_queue_ms`, then is
//!   answered 503 `busy` with `Retry-After` — nothing about the secret is
//!   decided, and its throttle reservation is dropped, not counted;
//! - each hash's memory is a fresh allocation above glibc's largest dynamic
//!   mmap threshold (32 MiB), so it is always its own mapping and returned
//!   to the system when the hash ends (`password::argon2_blocks`): the
//!   resident size falls back after a burst instead of staying in malloc
//!   arenas.
//!
//! - what the burst's connections freed stays in malloc's arenas; after a
//!   whole interval without hashing, the `trim` job (`auth/trim.rs`) gives
//!   it back.
//!
//! Invariant: no Argon2 work runs outside `Hashing::run`.

use crate::config::AuthSettings;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Memory of one hash, MiB (Argon2id m = 19 MiB; the allocation's untouched
/// tail is never resident).
pub const MIB_PER_HASH: u64 = 19;

/// Why a hash did not run.
#[derive(Debug, PartialEq, Eq)]
pub enum HashingError {
    /// No permit within the queue deadline: answer 503 with `Retry-After`.
    Busy,
    /// The hashing task failed (a panic inside argon2).
    Failed,
}

impl From<HashingError> for crate::error::AppError {
    fn from(e: HashingError) -> Self {
        match e {
            HashingError::Busy => crate::error::AppError::busy(1),
            HashingError::Failed => {
                crate::error::AppError::internal(anyhow::anyhow!("password hashing task failed"))
            }
        }
    }
}

/// The gate every password hash goes through. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Hashing {
    permits: Arc<Semaphore>,
    size: usize,
    wait: Duration,
    /// Set by every `run` (answered busy or not), taken by the trim job.
    used: Arc<AtomicBool>,
}

impl Hashing {
    /// A gate sized from the settings and the machine's cores.
    pub fn new(auth: &AuthSettings) -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let size = permits(auth.hash_memory_mib, auth.hash_concurrency, cores);
        Self {
            permits: Arc::new(Semaphore::new(size)),
            size,
            wait: Duration::from_millis(auth.hash_queue_ms),
            used: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the gate was used since the last call (and forgets it).
    pub fn take_used(&self) -> bool {
        self.used.swap(false, Ordering::AcqRel)
    }

    /// Whether no hash runs now.
    pub fn idle(&self) -> bool {
        self.permits.available_permits() == self.size
    }

    /// Hashes that may run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Runs `work` on the blocking pool once a permit is free, waiting at
    /// most the queue deadline for it.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashingError> {
        self.used.store(true, Ordering::Release);
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| HashingError::Busy)?
            .map_err(|_| HashingError::Busy)?;
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await
        .map_err(|_| HashingError::Failed)
    }
}

/// Hashes allowed at once: what the memory budget holds, at most
/// `concurrency` (0: the cores), at least one.
pub fn permits(memory_mib: u64, concurrency: usize, cores: usize) -> usize {
    let by_memory = usize::try_from(memory_mib / MIB_PER_HASH).unwrap_or(usize::MAX);
    let by_cpu = if concurrency == 0 { cores } else { concurrency };
    by_memory.min(by_cpu).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_follow_the_budget_and_the_cores() {
        assert_eq!(permits(128, 0, 2), 2, "cores bound a generous budget");
        assert_eq!(permits(128, 0, 64), 6, "128 MiB holds six 19 MiB hashes");
        assert_eq!(permits(10, 0, 8), 1, "always at least one");
        assert_eq!(permits(1024, 3, 8), 3, "explicit concurrency");
    }

    /// Starts a hash that runs until the returned sender says so; returns
    /// once it is running.
    async fn hold(
        gate: &Hashing,
    ) -> (
        tokio::task::JoinHandle<Result<(), HashingError>>,
        std::sync::mpsc::Sender<()>,
    ) {
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let gate = gate.clone();
        let task = tokio::spawn(async move {
            gate.run(move || {
                let _ = started_tx.send(());
                let _ = hold_rx.recv();
            })
            .await
        });
        started_rx.await.expect("the hash started");
        (task, hold_tx)
    }

    #[tokio::test]
    async fn the_gate_says_whether_it_was_used_and_whether_it_is_idle() {
        let gate = Hashing::new(&AuthSettings::default());
        assert!(!gate.take_used(), "never used");
        assert!(gate.idle());
        let (running, hold_tx) = hold(&gate).await;
        assert!(!gate.idle(), "a hash is running");
        hold_tx.send(()).expect("release");
        running.await.expect("join").expect("ran");
        assert!(gate.idle());
        assert!(gate.take_used(), "used");
        assert!(!gate.take_used(), "told once");
    }

    #[tokio::test]
    async fn a_full_gate_answers_busy_after_its_deadline_and_runs_again_after() {
        let auth = AuthSettings {
            hash_memory_mib: 19,
            hash_concurrency: 1,
            hash_queue_ms: 20,
            ..AuthSettings::default()
        };
        let gate = Hashing::new(&auth);
        assert_eq!(gate.size(), 1);
        let (busy, hold_tx) = hold(&gate).await;
        assert_eq!(gate.run(|| ()).await, Err(HashingError::Busy));
        hold_tx.send(()).expect("release");
        assert_eq!(busy.await.expect("task"), Ok(()));
        assert_eq!(gate.run(|| 7).await, Ok(7));
    }
}
