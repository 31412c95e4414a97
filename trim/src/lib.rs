//! Gives the memory the C allocator holds free back to the system.
//!
//! glibc keeps what a thread freed in that thread's arena, and returns pages
//! to the system only from the top of each heap. After a burst — 2,000
//! sign-ins at once, each with its connection's buffers and task — the
//! server stays resident at tens of MiB above idle although nothing uses
//! that memory (BENCHMARKS.md, "Sign-in storm"). `malloc_trim(0)` walks every
//! arena and releases its free pages (`MADV_DONTNEED` in the middle of a
//! heap, not only at its top).
//!
//! Invariant: this is the only `unsafe` in the workspace's own code; the
//! other crates forbid it. Call it from a quiet moment on a blocking thread:
//! glibc locks each arena in turn while it walks it.

/// Releases the allocator's free pages; true when it gave something back.
/// Elsewhere than Linux with glibc it does nothing (musl and the other
/// systems' allocators have no such call) and answers false.
#[must_use]
pub fn release_free_memory() -> bool {
    imp::release()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }

    #[allow(unsafe_code)]
    pub fn release() -> bool {
        // SAFETY: malloc_trim(3) takes no pointer and has no precondition;
        // glibc takes each arena's own lock while it trims it, so it is safe
        // beside allocations on other threads.
        unsafe { malloc_trim(0) == 1 }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub fn release() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn freed_memory_goes_back_without_harm() {
        // Many small blocks below a live one: glibc cannot return them from
        // the top of the heap, only a trim can.
        let blocks: Vec<Vec<u8>> = (0..4096).map(|i| vec![(i % 251) as u8; 4096]).collect();
        let keep = Box::new([7u8; 64]);
        drop(blocks);
        let _ = super::release_free_memory();
        // The live allocation is untouched and the allocator still works.
        assert!(keep.iter().all(|&b| b == 7));
        let again = vec![1u8; 1 << 20];
        assert_eq!(again.len(), 1 << 20);
    }
}
