//! A small runner for the server's background jobs.
//!
//! A job is a named unit of work run again and again: each round does what
//! is due (taking "due" from the injected `Clock`, so tests move time
//! instead of waiting) and says whether more is waiting. The runner calls
//! it at once while it has more, else after its interval; a failed round is
//! logged (the job's name and the error's kind, never a payload) and
//! retried after a backoff that doubles up to 30 s. Shutdown lets the round
//! in progress finish, then stops.
//!
//! Work that a state change creates is not queued here: it is a row written
//! in that change's own transaction, through the one SQLite writer (a
//! reminder row with its appointment), which the job then claims. A change
//! that rolls back therefore leaves no work behind, and several nodes on
//! PostgreSQL share the rows with `FOR UPDATE SKIP LOCKED`. Job-queue crates
//! (apalis and the like) enqueue through a pool of their own — a second
//! SQLite writer, and a queue outside the change's transaction — so none is
//! used.

use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What a round found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// Nothing more is due now: wait for the interval.
    Idle,
    /// More was waiting than one round takes: go again at once.
    More,
}

/// A background job.
#[async_trait]
pub trait Job: Send + Sync + 'static {
    /// Its name, for logs.
    fn name(&self) -> &'static str;
    /// One round.
    async fn round(&self) -> anyhow::Result<Round>;
}

/// The running jobs.
pub struct Runner {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Default for Runner {
    fn default() -> Self {
        Self::new()
    }
}

impl Runner {
    /// No jobs yet.
    pub fn new() -> Self {
        Self {
            stop: watch::channel(false).0,
            tasks: Vec::new(),
        }
    }

    /// Starts a job, run every `interval` when idle.
    pub fn spawn(&mut self, job: Arc<dyn Job>, interval: Duration) {
        let mut stop = self.stop.subscribe();
        self.tasks.push(tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                if *stop.borrow() {
                    break;
                }
                let wait = match job.round().await {
                    Ok(Round::More) => {
                        backoff = Duration::from_millis(100);
                        continue;
                    }
                    Ok(Round::Idle) => {
                        backoff = Duration::from_millis(100);
                        interval
                    }
                    Err(e) => {
                        tracing::warn!(job = job.name(), error = %e, "job round failed; retrying");
                        let wait = backoff;
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                        wait
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => break,
                }
            }
        }));
    }

    /// Stops every job after its current round.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting {
        rounds: AtomicUsize,
        fail_first: usize,
        more_until: usize,
    }

    #[async_trait]
    impl Job for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }
        async fn round(&self) -> anyhow::Result<Round> {
            let n = self.rounds.fetch_add(1, Ordering::SeqCst) + 1;
            if n <= self.fail_first {
                anyhow::bail!("failing round {n}");
            }
            Ok(if n < self.more_until {
                Round::More
            } else {
                Round::Idle
            })
        }
    }

    async fn until(deadline: Duration, mut ok: impl FnMut() -> bool) -> bool {
        let end = tokio::time::Instant::now() + deadline;
        while tokio::time::Instant::now() < end {
            if ok() {
                return true;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        ok()
    }

    #[tokio::test]
    async fn a_job_with_more_work_goes_again_at_once_and_failures_are_retried() {
        let job = Arc::new(Counting {
            rounds: AtomicUsize::new(0),
            fail_first: 2,
            more_until: 10,
        });
        let mut runner = Runner::new();
        // An interval far longer than the test: only More and the retry
        // backoff (100 + 200 ms) can bring rounds 1..=10.
        runner.spawn(job.clone(), Duration::from_secs(3600));
        assert!(
            until(Duration::from_secs(10), || job
                .rounds
                .load(Ordering::SeqCst)
                >= 10)
            .await
        );
        runner.shutdown().await;
        let after = job.rounds.load(Ordering::SeqCst);
        assert_eq!(after, 10, "idle after round 10, and stopped");
    }
}
