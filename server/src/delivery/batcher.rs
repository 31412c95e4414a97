//! Group commit for the delivery service's hot writes: application messages,
//! the access records of deliveries, and delivery acknowledgements.
//!
//! Each must be durable before it is answered, and on SQLite every commit
//! is an fsync. Requests that arrive while a commit is in flight are queued
//! and written together in the next transaction: one fsync for the batch,
//! each request still answered only after its batch committed. Under light
//! load a batch is a single request, so latency does not grow; under heavy
//! load throughput scales with the batch size instead of the fsync rate.
//! Order is the order of arrival.
//!
//! After a batch commits and before anyone is answered, `committed` passes
//! what was written on to the members' sockets (for messages: the entries
//! themselves, in sequence order), so a receiver is never told later than
//! the sender.

use super::error::{DeliveryError, DeliveryResult};
use super::wake::{CarriedEntry, Wake, Wakeups};
use crate::audit::Event;
use crate::clock::Clock;
use crate::delivery::store::{Appended, Conversation, Delivery, LogEntry, NewMessage};
use crate::ids::DeviceId;
use crate::storage::{Store, StoreError, StoreResult};
use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most requests written in one transaction.
pub const MAX_BATCH: usize = 256;
/// Requests waiting for a batch; beyond this, callers wait (back-pressure).
const QUEUE: usize = 4096;

/// A kind of write that can be group-committed.
#[async_trait]
pub trait BatchWrite: Send + Sync + 'static {
    /// One request.
    type Item: Send + 'static;
    /// Its answer.
    type Output: Send + 'static;
    /// Writes a batch in one transaction; one answer per item, or an error
    /// that failed the whole batch (nothing of it written).
    async fn write(
        store: &dyn Store,
        items: &[Self::Item],
        now: i64,
    ) -> StoreResult<Vec<DeliveryResult<Self::Output>>>;

    /// Called once a batch has committed, before its answers are sent.
    fn committed(
        _wakeups: &dyn Wakeups,
        _items: Vec<Self::Item>,
        _results: &[DeliveryResult<Self::Output>],
    ) {
    }
}

/// Application messages.
pub struct Messages;

#[async_trait]
impl BatchWrite for Messages {
    type Item = (NewMessage, Event);
    type Output = Appended;
    async fn write(
        store: &dyn Store,
        items: &[Self::Item],
        now: i64,
    ) -> StoreResult<Vec<DeliveryResult<Appended>>> {
        store.append_messages(items, now).await
    }

    /// Carries each new message to its members' sockets: the entry frame is
    /// encoded once and shared. The sender's own devices get it too (their
    /// sockets skip it) so that every member sees an unbroken run of
    /// sequence numbers and can tell a missing one from one not meant for it.
    fn committed(
        wakeups: &dyn Wakeups,
        items: Vec<Self::Item>,
        results: &[DeliveryResult<Appended>],
    ) {
        for ((message, _), result) in items.into_iter().zip(results) {
            let Ok(appended) = result else { continue };
            if appended.duplicate {
                continue;
            }
            let entry = LogEntry {
                seq: appended.seq,
                kind: "application".into(),
                epoch: message.epoch,
                sender_device_id: Some(message.sender_device.to_string()),
                data: message.data,
            };
            let frame = super::ws::entry_frame(&message.conversation_id, &entry);
            let mut devices = appended.wake.clone();
            devices.push(message.sender_device);
            wakeups.wake(
                &devices,
                Wake::Entry(Arc::new(CarriedEntry {
                    conversation_id: message.conversation_id,
                    seq: appended.seq,
                    sender: message.sender_device,
                    frame: frame.into(),
                })),
            );
        }
    }
}

/// Delivery acknowledgements: cursor moves only (no audit record; see
/// `Deliveries`).
pub struct Acks;

#[async_trait]
impl BatchWrite for Acks {
    type Item = (Conversation, DeviceId, i64);
    type Output = i64;
    async fn write(
        store: &dyn Store,
        items: &[Self::Item],
        now: i64,
    ) -> StoreResult<Vec<DeliveryResult<i64>>> {
        store.ack_many(items, now).await
    }
}

/// The access records of entries handed to devices, written before they
/// are sent: a socket sending to many devices at once costs one
/// transaction per batch, not one per device.
pub struct Deliveries;

#[async_trait]
impl BatchWrite for Deliveries {
    type Item = Delivery;
    type Output = ();
    async fn write(
        store: &dyn Store,
        items: &[Self::Item],
        now: i64,
    ) -> StoreResult<Vec<DeliveryResult<()>>> {
        store.record_deliveries(items, now).await
    }
}

type Job<W> = (
    <W as BatchWrite>::Item,
    oneshot::Sender<DeliveryResult<<W as BatchWrite>::Output>>,
);

/// Handle to a batching writer task.
pub struct Batcher<W: BatchWrite> {
    jobs: mpsc::Sender<Job<W>>,
}

impl<W: BatchWrite> Clone for Batcher<W> {
    fn clone(&self) -> Self {
        Self {
            jobs: self.jobs.clone(),
        }
    }
}

impl<W: BatchWrite> Batcher<W> {
    /// Starts the writer task (needs a Tokio runtime).
    pub fn start(store: Arc<dyn Store>, clock: Arc<dyn Clock>, wakeups: Arc<dyn Wakeups>) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run::<W>(store, clock, wakeups, rx));
        Self { jobs }
    }

    /// Writes one request; returns once it is durable (or refused).
    pub async fn submit(&self, item: W::Item) -> DeliveryResult<W::Output> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send((item, reply))
            .await
            .map_err(|_| DeliveryError::Store(StoreError::Unavailable))?;
        answer
            .await
            .map_err(|_| DeliveryError::Store(StoreError::Unavailable))?
    }

    /// Queues one request without waiting for it, when the queue has room
    /// (false otherwise: the caller keeps it and tries again later). For
    /// writes nobody waits on, such as a socket's acknowledgements, which
    /// must never hold up what the socket sends.
    pub fn enqueue(&self, item: W::Item) -> bool {
        let (reply, _) = oneshot::channel();
        self.jobs.try_send((item, reply)).is_ok()
    }
}

async fn run<W: BatchWrite>(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    wakeups: Arc<dyn Wakeups>,
    mut rx: mpsc::Receiver<Job<W>>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (items, replies): (Vec<_>, Vec<_>) = jobs.drain(..).unzip();
        match W::write(&*store, &items, clock.now()).await {
            Ok(results) => {
                W::committed(&*wakeups, items, &results);
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, size = items.len(), "batch write failed");
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Unavailable.into()));
                }
            }
        }
    }
}
