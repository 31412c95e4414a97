//! Delivery wake-ups: the one interface through which "something new for
//! these devices" travels. `LocalWakeups` serves one node; a multi-node
//! deployment replaces it (e.g. with PostgreSQL LISTEN/NOTIFY) and nothing
//! else changes.
//!
//! A wake-up may carry the entry that caused it (`Wake::Entry`), so a socket
//! that is up to date can send it without reading the log. That is only a
//! shortcut: a socket uses a carried entry only when it directly follows
//! what the socket has already sent, and otherwise reads the log, so a lost,
//! late or reordered wake-up still cannot drop or reorder anything. An
//! implementation that cannot carry entries (between nodes) may pass
//! `Entry` on as a plain `Conversation` wake-up.

use crate::ids::DeviceId;
use axum::extract::ws::Utf8Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::Notify;

/// Entries kept per conversation in one mailbox; beyond this the socket is
/// told to read the log instead (memory per connection stays bounded).
pub const MAX_CARRIED: usize = 128;

/// What woke a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wake {
    /// New log entries in a conversation: read the log.
    Conversation(String),
    /// One new, committed log entry, carried along.
    Entry(Arc<CarriedEntry>),
    /// A Welcome is waiting.
    Welcome,
    /// The device was revoked: close its sockets.
    Revoked,
    /// One session of the device ended (logout, idle or lifetime expiry):
    /// close the sockets opened with it.
    SessionEnded(crate::ids::SessionId),
    /// The device's stock of one-time KeyPackages ran low (a claim took
    /// one): it should upload more.
    KeyPackagesLow,
    /// An appointment the device's user may see changed (scheduled, moved,
    /// cancelled, confirmed): it should read the list again. Carries
    /// nothing: what changed is read through the API, under its checks.
    Appointments,
}

/// A committed log entry as every member's socket sends it.
#[derive(Debug, PartialEq, Eq)]
pub struct CarriedEntry {
    /// Conversation.
    pub conversation_id: String,
    /// Its sequence number.
    pub seq: i64,
    /// The device that sent it: its own sockets skip it, as the log does.
    pub sender: DeviceId,
    /// The `entry` frame, encoded once for all recipients.
    pub frame: Utf8Bytes,
}

/// Carries wake-ups to the connections of devices.
pub trait Wakeups: Send + Sync + 'static {
    /// Wakes every connection of these devices.
    fn wake(&self, devices: &[DeviceId], wake: Wake);
    /// Registers a connection of a device; dropping the mailbox unregisters.
    /// None when the device already has `max` connections on this node
    /// (checked and registered at once, so concurrent opens cannot pass it).
    fn subscribe(&self, device: DeviceId, max: usize) -> Option<Arc<Mailbox>>;
    /// Whether any of these devices has a connection open (here; between
    /// nodes, an implementation answers for all of them).
    fn online(&self, devices: &[DeviceId]) -> bool;
}

/// What woke a connection for one conversation since it last looked.
#[derive(Debug, Default)]
pub struct Pending {
    /// Carried entries, in the order they were posted.
    pub entries: Vec<Arc<CarriedEntry>>,
    /// Read the log (something was not carried, or too much was).
    pub read_log: bool,
    /// The highest sequence number carried, even if not kept: committed
    /// before it was posted, so a later read of the log covers it.
    pub last_seq: i64,
}

/// What a connection has been woken for since it last looked. Bounded: per
/// conversation at most `MAX_CARRIED` entries.
#[derive(Debug, Default)]
pub struct Mailbox {
    notify: Notify,
    conversations: Mutex<HashMap<String, Pending>>,
    welcome: AtomicBool,
    revoked: AtomicBool,
    key_packages_low: AtomicBool,
    appointments: AtomicBool,
    /// Sessions of this device that ended since the socket subscribed (a
    /// device has a handful of sessions; bounded below).
    ended_sessions: Mutex<Vec<crate::ids::SessionId>>,
}

impl Mailbox {
    fn post(&self, wake: &Wake) {
        match wake {
            Wake::Conversation(id) => {
                if let Ok(mut map) = self.conversations.lock() {
                    let pending = map.entry(id.clone()).or_default();
                    // The log read covers whatever was carried.
                    pending.entries = Vec::new();
                    pending.read_log = true;
                }
            }
            Wake::Entry(entry) => {
                if let Ok(mut map) = self.conversations.lock() {
                    let pending = map.entry(entry.conversation_id.clone()).or_default();
                    pending.last_seq = pending.last_seq.max(entry.seq);
                    if pending.read_log {
                        // Committed before this post, so the coming read sees it.
                    } else if pending.entries.len() >= MAX_CARRIED {
                        pending.entries = Vec::new();
                        pending.read_log = true;
                    } else {
                        pending.entries.push(entry.clone());
                    }
                }
            }
            Wake::Welcome => self.welcome.store(true, Ordering::SeqCst),
            Wake::Revoked => self.revoked.store(true, Ordering::SeqCst),
            Wake::KeyPackagesLow => self.key_packages_low.store(true, Ordering::SeqCst),
            Wake::Appointments => self.appointments.store(true, Ordering::SeqCst),
            Wake::SessionEnded(session) => {
                if let Ok(mut ended) = self.ended_sessions.lock() {
                    if ended.len() >= 64 {
                        ended.remove(0);
                    }
                    ended.push(*session);
                }
            }
        }
        self.notify.notify_one();
    }

    /// Waits until something is posted (returns at once if already posted).
    pub async fn notified(&self) {
        self.notify.notified().await
    }

    /// Takes what was posted per conversation since the last call.
    pub fn take_conversations(&self) -> HashMap<String, Pending> {
        self.conversations
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }

    /// Takes the Welcome flag.
    pub fn take_welcome(&self) -> bool {
        self.welcome.swap(false, Ordering::SeqCst)
    }

    /// Whether this session was ended.
    pub fn session_ended(&self, session: crate::ids::SessionId) -> bool {
        self.ended_sessions
            .lock()
            .map(|e| e.contains(&session))
            .unwrap_or(true)
    }

    /// Takes the KeyPackages-low flag.
    pub fn take_key_packages_low(&self) -> bool {
        self.key_packages_low.swap(false, Ordering::SeqCst)
    }

    /// Takes the appointments-changed flag.
    pub fn take_appointments(&self) -> bool {
        self.appointments.swap(false, Ordering::SeqCst)
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
    /// Devices woken as revoked. Revocation is final, so a socket that
    /// authenticated just before the revocation committed but subscribes
    /// after its wake-up is closed too. One id per revoked device.
    revoked: Mutex<HashSet<DeviceId>>,
}

impl Wakeups for LocalWakeups {
    fn wake(&self, devices: &[DeviceId], wake: Wake) {
        if wake == Wake::Revoked {
            if let Ok(mut revoked) = self.revoked.lock() {
                revoked.extend(devices.iter().copied());
            }
        }
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

    fn subscribe(&self, device: DeviceId, max: usize) -> Option<Arc<Mailbox>> {
        let mailbox = Arc::new(Mailbox::default());
        if self.revoked.lock().map_or(true, |r| r.contains(&device)) {
            mailbox.revoked.store(true, Ordering::SeqCst);
        }
        let mut map = self.devices.lock().ok()?;
        let boxes = map.entry(device).or_default();
        boxes.retain(|b| b.strong_count() > 0);
        if boxes.len() >= max {
            return None;
        }
        boxes.push(Arc::downgrade(&mailbox));
        Some(mailbox)
    }

    fn online(&self, devices: &[DeviceId]) -> bool {
        let Ok(map) = self.devices.lock() else {
            // A poisoned map says nothing; "online" only ever delays a nudge.
            return true;
        };
        devices.iter().any(|d| {
            map.get(d)
                .is_some_and(|boxes| boxes.iter().any(|b| b.strong_count() > 0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(conversation: &str, seq: i64) -> Wake {
        Wake::Entry(Arc::new(CarriedEntry {
            conversation_id: conversation.into(),
            seq,
            sender: DeviceId::new(),
            frame: Utf8Bytes::from(format!("{seq}")),
        }))
    }

    fn seqs(p: &Pending) -> Vec<i64> {
        p.entries.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn carried_entries_are_kept_in_order_per_conversation() {
        let wakeups = LocalWakeups::default();
        let device = DeviceId::new();
        let mailbox = wakeups.subscribe(device, 8).expect("room");
        for seq in 1..=3 {
            wakeups.wake(&[device], entry("a", seq));
        }
        wakeups.wake(&[device], entry("b", 7));
        wakeups.wake(&[DeviceId::new()], entry("a", 4));
        let mut taken = mailbox.take_conversations();
        assert_eq!(seqs(&taken["a"]), vec![1, 2, 3]);
        assert_eq!(seqs(&taken["b"]), vec![7]);
        assert!(!taken.remove("a").is_some_and(|p| p.read_log));
        assert!(mailbox.take_conversations().is_empty(), "taken once");
    }

    #[test]
    fn too_many_or_uncarried_entries_turn_into_a_log_read() {
        let wakeups = LocalWakeups::default();
        let device = DeviceId::new();
        let mailbox = wakeups.subscribe(device, 8).expect("room");
        for seq in 0..=MAX_CARRIED as i64 {
            wakeups.wake(&[device], entry("a", seq));
        }
        wakeups.wake(&[device], entry("b", 1));
        wakeups.wake(&[device], Wake::Conversation("b".into()));
        wakeups.wake(&[device], entry("b", 2));
        let taken = mailbox.take_conversations();
        for id in ["a", "b"] {
            assert!(taken[id].read_log, "{id}");
            assert!(taken[id].entries.is_empty(), "{id}: the read covers them");
        }
        assert_eq!(taken["a"].last_seq, MAX_CARRIED as i64);
        assert_eq!(taken["b"].last_seq, 2);
    }

    #[test]
    fn a_device_is_online_while_a_connection_of_it_is_open() {
        let wakeups = LocalWakeups::default();
        let (phone, laptop) = (DeviceId::new(), DeviceId::new());
        assert!(!wakeups.online(&[phone, laptop]));
        let held = wakeups.subscribe(laptop, 8).expect("room");
        assert!(wakeups.online(&[phone, laptop]));
        assert!(!wakeups.online(&[phone]));
        drop(held);
        assert!(!wakeups.online(&[phone, laptop]), "closed is offline");
    }

    #[test]
    fn a_device_holds_at_most_max_connections() {
        let wakeups = LocalWakeups::default();
        let device = DeviceId::new();
        let held: Vec<_> = (0..3)
            .map(|_| wakeups.subscribe(device, 3).expect("room"))
            .collect();
        assert!(
            wakeups.subscribe(device, 3).is_none(),
            "a fourth is refused"
        );
        assert!(
            wakeups.subscribe(DeviceId::new(), 3).is_some(),
            "per device"
        );
        drop(held);
        assert!(
            wakeups.subscribe(device, 3).is_some(),
            "closed ones free their place"
        );
    }

    #[test]
    fn every_connection_of_a_device_is_woken_until_dropped() {
        let wakeups = LocalWakeups::default();
        let device = DeviceId::new();
        let (one, two) = (
            wakeups.subscribe(device, 8).expect("room"),
            wakeups.subscribe(device, 8).expect("room"),
        );
        wakeups.wake(&[device], Wake::Revoked);
        assert!(one.revoked() && two.revoked());
        drop(one);
        wakeups.wake(&[device], entry("a", 1));
        assert_eq!(seqs(&two.take_conversations()["a"]), vec![1]);
        assert!(
            wakeups.subscribe(device, 8).expect("room").revoked(),
            "a connection made after the revocation is closed too"
        );
        assert!(!wakeups
            .subscribe(DeviceId::new(), 8)
            .expect("room")
            .revoked());
    }
}
