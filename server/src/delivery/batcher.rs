//! Group commit for application messages.
//!
//! Each send must be durable before it is acknowledged, and on SQLite every
//! commit is an fsync. Sends that arrive while a commit is in flight are
//! queued and written together in the next transaction: one fsync for the
//! batch, each message still acknowledged only after its batch committed.
//! Under light load a batch is a single message, so latency does not grow;
//! under heavy load throughput scales with the batch size instead of the
//! fsync rate. Order within a conversation is the order of arrival.

use crate::audit::Event;
use crate::clock::Clock;
use crate::storage::delivery::{Appended, NewMessage};
use crate::storage::{Store, StoreError, StoreResult};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most messages written in one transaction.
pub const MAX_BATCH: usize = 256;
/// Sends waiting for a batch; beyond this, senders wait (back-pressure).
const QUEUE: usize = 4096;

struct Job {
    message: NewMessage,
    event: Event,
    reply: oneshot::Sender<StoreResult<Appended>>,
}

/// Handle to the batching writer task.
#[derive(Clone)]
pub struct Batcher {
    jobs: mpsc::Sender<Job>,
}

impl Batcher {
    /// Starts the writer task (needs a Tokio runtime).
    pub fn start(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, clock, rx));
        Self { jobs }
    }

    /// Appends a message; returns once it is durably stored (or refused).
    pub async fn append(&self, message: NewMessage, event: Event) -> StoreResult<Appended> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                message,
                event,
                reply,
            })
            .await
            .map_err(|_| StoreError::Unavailable)?;
        answer.await.map_err(|_| StoreError::Unavailable)?
    }
}

async fn run(store: Arc<dyn Store>, clock: Arc<dyn Clock>, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (batch, replies): (Vec<_>, Vec<_>) = jobs
            .drain(..)
            .map(|j| ((j.message, j.event), j.reply))
            .unzip();
        match store.append_messages(&batch, clock.now()).await {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, size = batch.len(), "message batch failed");
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Unavailable));
                }
            }
        }
    }
}
