//! Work partitioning for rayon: row blocks balanced by non-zeros (prefix sums of `row_ptr`), not by
//! row count. The split only decides *which thread* computes a row; every output element is still
//! produced by one thread in a fixed order, so results are bit-identical for any thread count.

use rayon::prelude::*;
use sparsekit_formats::SpIndex;

/// Below this many multiply-adds (≈ 30 µs of work) a kernel runs sequentially: rayon's fork/join
/// costs a few µs per task.
pub(crate) const PAR_MIN_WORK: usize = 1 << 17;

/// Chunks per thread: several, so a thread slowed by a noisy neighbour does not hold up the rest.
const CHUNKS_PER_THREAD: usize = 4;

/// How many chunks to cut `work` multiply-adds into (1 = run sequentially).
pub(crate) fn num_chunks(work: usize, nrows: usize) -> usize {
    if work < PAR_MIN_WORK || nrows < 2 {
        return 1;
    }
    let threads = rayon::current_num_threads();
    if threads <= 1 {
        return 1;
    }
    let by_work = work / (PAR_MIN_WORK / 4);
    (threads * CHUNKS_PER_THREAD).min(nrows).min(by_work.max(2))
}

/// Row boundaries `[0, b1, …, nrows]` cutting rows into `nchunks` blocks of about equal cost,
/// where row `i` costs `(row_ptr[i+1] - row_ptr[i]) + row_weight` (the per-row overhead in
/// non-zero units: zeroing and storing the output row).
pub(crate) fn row_bounds<I: SpIndex>(
    row_ptr: &[I],
    row_weight: usize,
    nchunks: usize,
) -> Vec<usize> {
    let nrows = row_ptr.len().saturating_sub(1);
    let cost = |i: usize| row_ptr[i].index() + i * row_weight;
    if nchunks <= 1 || nrows == 0 {
        return vec![0, nrows];
    }
    let total = cost(nrows);
    let mut b = Vec::with_capacity(nchunks + 1);
    b.push(0);
    for c in 1..nchunks {
        let target = (total as u128 * c as u128 / nchunks as u128) as usize;
        // First i with cost(i) >= target (cost is non-decreasing).
        let (mut lo, mut hi) = (*b.last().unwrap(), nrows);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if cost(mid) < target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        b.push(lo);
    }
    b.push(nrows);
    b.dedup();
    b
}

/// Runs `task(&[b0, b1])` for each block `b0..b1` of `bounds` (as made by [`row_bounds`]): on
/// the calling thread when there is a single block, else one rayon task per block.
pub(crate) fn for_each_block(bounds: &[usize], task: impl Fn(&[usize]) + Sync + Send) {
    if bounds.len() <= 2 {
        task(bounds);
    } else {
        bounds.par_windows(2).for_each(task);
    }
}

/// A raw pointer that may cross threads. Used where threads write disjoint, non-contiguous
/// elements of one buffer (e.g. columns of `Y` in `spmm_t`); every use site documents why the
/// writes are disjoint.
#[derive(Clone, Copy)]
pub(crate) struct SyncPtr<T>(pub *mut T);

impl<T> SyncPtr<T> {
    /// The pointer (a method, so closures capture the `Sync` wrapper, not the raw field).
    #[inline(always)]
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}
// SAFETY: the pointer is only dereferenced at disjoint locations by different threads (see uses).
unsafe impl<T: Send> Send for SyncPtr<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SyncPtr<T> {}
