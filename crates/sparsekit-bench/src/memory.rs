//! Memory accounting for the `train`, `model` and `sae` suites: a global allocator that
//! forwards to the system allocator and counts live bytes and their high-water mark.
//!
//! burn's CPU backends (Flex, NdArray) keep tensors in ordinary heap allocations, so the bytes a
//! layer's parameters, gradients and optimizer state hold show up here exactly; a GPU backend's
//! device memory would not (no GPU rows use it).
//!
//! Also the process's peak resident set size (VmHWM, Linux) and its reset.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts live heap bytes and the peak since the last [`reset_peak`].
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(by: usize) {
    LIVE.fetch_sub(by, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees (alignment, size, ownership) carry over; the counters are only arithmetic on the
// sizes of successful calls and never touch the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is (see the impl's comment).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` was allocated by `System` through this allocator.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

/// Live heap bytes now.
pub fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// The highest [`live`] value since the last [`reset_peak`].
pub fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Starts a new high-water mark at the current live bytes.
pub fn reset_peak() {
    PEAK.store(live(), Ordering::Relaxed);
}

/// Peak resident set size of this process (VmHWM), bytes.
pub fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0); false where that is not possible.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Serializes the unit tests that read the global counters: they are process-wide, so two such
/// tests running on parallel test threads would see each other's allocations.
#[cfg(test)]
pub(crate) static COUNTER_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(test)]
mod tests {
    use super::*;

    /// One pass of the check; `Err` names the first expectation that failed.
    fn counts_once() -> Result<(), &'static str> {
        // Other test threads allocate too; a 64 MiB buffer dwarfs their noise.
        const N: usize = 64 << 20;
        let check = |ok: bool, what| if ok { Ok(()) } else { Err(what) };
        let before = live();
        reset_peak();
        let mut v: Vec<u8> = Vec::with_capacity(N);
        v.push(1);
        check(live() >= before + N - (1 << 20), "allocation counted")?;
        v.reserve_exact(2 * N); // realloc grows
        check(live() >= before + 2 * N, "realloc growth counted")?;
        v.shrink_to_fit(); // realloc shrinks to 1 byte
        check(live() < before + N, "realloc shrink counted")?;
        let zeroed = vec![0u8; N]; // alloc_zeroed
        check(live() >= before + N - (1 << 20), "alloc_zeroed counted")?;
        drop(zeroed);
        drop(v);
        check(
            peak() >= before + 2 * N,
            "peak remembers the largest live size",
        )?;
        check(
            live() < before + (1 << 20),
            "freed memory is no longer live",
        )
    }

    // `main.rs` installs `Counting` as the global allocator of this crate's binary and its unit
    // tests alike, so the counters see this test's allocations. The counters are process-wide:
    // a thread of another test that ends meanwhile (and frees its thread-local scratch, e.g.
    // the attention kernels') moves them, so the check passes if one of three passes is clean;
    // broken counting fails all three.
    #[test]
    fn counts_live_and_peak_bytes_through_alloc_realloc_and_free() {
        let _serial = COUNTER_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let mut last = Ok(());
        for _ in 0..3 {
            last = counts_once();
            if last.is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(last, Ok(()));
    }
}
