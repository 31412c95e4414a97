//! Delivery wake-ups: the one interface through which "something new for
//! these devices" travels. `LocalWakeups` serves one node; a multi-node
//! deployment replaces it (e.g. with PostgreSQL LISTEN/NOTIFY) and nothing
//! else changes.

use crate::ids::DeviceId;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::Notify;

/// What woke a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wake {
    /// New log entries in a conversation.
    Conversation(String),
    /// A Welcome is waiting.
    Welcome,
    /// The device was revoked: close its sockets.
    Revoked,
}

/// Carries wake-ups to the connections of devices.
pub trait Wakeups: Send + Sync + 'static {
    /// Wakes every connection of these devices.
    fn wake(&self, devices: &[DeviceId], wake: Wake);
    /// Registers a connection of a device; dropping the mailbox unregisters.
    fn subscribe(&self, device: DeviceId) -> Arc<Mailbox>;
}

/// What a connection has been woken for since it last looked. Bounded: at
/// most one entry per conversation.
#[derive(Debug, Default)]
pub struct Mailbox {
    notify: Notify,
    conversations: Mutex<HashSet<String>>,
    welcome: AtomicBool,
    revoked: AtomicBool,
}

impl Mailbox {
    fn post(&self, wake: &Wake) {
        match wake {
            Wake::Conversation(id) => {
                if let Ok(mut set) = self.conversations.lock() {
                    set.insert(id.clone());
                }
            }
            Wake::Welcome => self.welcome.store(true, Ordering::SeqCst),
            Wake::Revoked => self.revoked.store(true, Ordering::SeqCst),
        }
        self.notify.notify_one();
    }

    /// Waits until something is posted (returns at once if already posted).
    pub async fn notified(&self) {
        self.notify.notified().await
    }

    /// Takes the conversations woken since the last call.
    pub fn take_conversations(&self) -> HashSet<String> {
        self.conversations
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }

    /// Takes the Welcome flag.
    pub fn take_welcome(&self) -> bool {
        self.welcome.swap(false, Ordering::SeqCst)
    }

    /// Whether the device was revoked.
    pub fn revoked(&self) -> bool {
        self.revoked.load(Ordering::SeqCst)
    }
}

/// In-process wake-ups for a single node.
#[derive(Default)]
pub struct LocalWakeups {
    devices: Mutex<HashMap<DeviceId, Vec<Weak<Mailbox>>>>,
}

impl Wakeups for LocalWakeups {
    fn wake(&self, devices: &[DeviceId], wake: Wake) {
        let Ok(mut map) = self.devices.lock() else {
            return;
        };
        for device in devices {
            if let Some(boxes) = map.get_mut(device) {
                boxes.retain(|b| match b.upgrade() {
                    Some(mailbox) => {
                        mailbox.post(&wake);
                        true
                    }
                    None => false,
                });
                if boxes.is_empty() {
                    map.remove(device);
                }
            }
        }
    }

    fn subscribe(&self, device: DeviceId) -> Arc<Mailbox> {
        let mailbox = Arc::new(Mailbox::default());
        if let Ok(mut map) = self.devices.lock() {
            let boxes = map.entry(device).or_default();
            boxes.retain(|b| b.strong_count() > 0);
            boxes.push(Arc::downgrade(&mailbox));
        }
        mailbox
    }
}
