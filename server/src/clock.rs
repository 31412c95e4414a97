//! Time as a dependency.
//!
//! Session idle timeouts, invite expiry and throttling windows are all decided
//! against `Clock::now`, so tests can move time forward instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Seconds since the Unix epoch.
pub type UnixTime = i64;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time, in whole seconds since the Unix epoch.
    fn now(&self) -> UnixTime;
}

/// The operating system's clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// Starts at the given time.
    pub fn new(start: UnixTime) -> Self {
        Self(Arc::new(AtomicI64::new(start)))
    }

    /// Moves time forward.
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        self.0.load(Ordering::SeqCst)
    }
}

/// The system clock moved by an offset read from a file (the `testing.
/// clock_file` setting): lets a test of the real binary — the browser
/// tests, the crash tests — make "48 h before" happen now, by writing a
/// number of seconds into the file. Never for a deployment: whoever can
/// write the file moves the server's time (session expiry, throttles).
/// Read at most every 50 ms.
#[derive(Debug)]
pub struct FileOffsetClock {
    path: std::path::PathBuf,
    cached: std::sync::Mutex<(Option<std::time::Instant>, i64)>,
}

impl FileOffsetClock {
    /// Reads its offset from `path` (missing or unreadable: no offset).
    pub fn new(path: std::path::PathBuf) -> Self {
        Self {
            path,
            cached: std::sync::Mutex::new((None, 0)),
        }
    }
}

impl Clock for FileOffsetClock {
    fn now(&self) -> UnixTime {
        let offset = match self.cached.lock() {
            Ok(mut c) => {
                let stale =
                    c.0.is_none_or(|at| at.elapsed() > std::time::Duration::from_millis(50));
                if stale {
                    c.1 = std::fs::read_to_string(&self.path)
                        .ok()
                        .and_then(|s| s.trim().parse().ok())
                        .unwrap_or(0);
                    c.0 = Some(std::time::Instant::now());
                }
                c.1
            }
            Err(_) => 0,
        };
        SystemClock.now().saturating_add(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_offset_clock_follows_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock");
        let clock = FileOffsetClock::new(path.clone());
        let before = SystemClock.now();
        assert!(clock.now() - before <= 1, "no file: no offset");
        std::fs::write(&path, "172800").unwrap();
        // Re-read after at most 50 ms: wait on the condition.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while clock.now() < before + 172_800 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert!(clock.now() >= before + 172_800);
    }
}
