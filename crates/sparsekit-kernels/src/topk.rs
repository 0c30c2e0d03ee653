//! Row-wise top-k selection: [`topk_rows`] (largest values) and [`topk_rows_abs`] (largest
//! magnitudes).

use rayon::prelude::*;
use sparsekit_formats::sparsity::rank_key;

use crate::dense::MatRef;
use crate::error::KernelError;
use crate::partition::PAR_MIN_WORK;

/// Per row of `x` (rows × ncols), the `k` largest values in descending order, ranked by the
/// sparsity vocabulary's rule ([`sparsekit_formats::sparsity`]): a NaN of either sign counts as
/// the largest, `-0.0 == +0.0`, ties go to the lower column index.
/// `values` and `indices` are rows × k, row-major (overwritten).
///
/// One pass per row over a size-k sorted buffer: an element enters only if it beats the current
/// k-th best (one compare for most elements once the buffer is full), so the cost is
/// O(ncols + k·log k·#entries). Rows run in parallel; results do not depend on the thread count.
pub fn topk_rows(
    x: MatRef<'_, f32>,
    k: usize,
    values: &mut [f32],
    indices: &mut [u32],
) -> Result<(), KernelError> {
    topk_impl("topk_rows", x, k, values, indices, |v| v)
}

/// Like [`topk_rows`] but ranks by `|x|`; the returned `values` keep their sign.
pub fn topk_rows_abs(
    x: MatRef<'_, f32>,
    k: usize,
    values: &mut [f32],
    indices: &mut [u32],
) -> Result<(), KernelError> {
    topk_impl("topk_rows_abs", x, k, values, indices, f32::abs)
}

fn topk_impl(
    op: &'static str,
    x: MatRef<'_, f32>,
    k: usize,
    values: &mut [f32],
    indices: &mut [u32],
    key: impl Fn(f32) -> f32 + Sync,
) -> Result<(), KernelError> {
    let (r, c) = (x.nrows(), x.ncols());
    if k > c {
        return Err(KernelError::InvalidK { op, k, ncols: c });
    }
    if c > u32::MAX as usize {
        return Err(KernelError::Unsupported {
            op,
            detail: format!("rows of {c} columns do not fit u32 indices"),
        });
    }
    let need = r * k;
    if values.len() != need {
        return Err(KernelError::shape(
            op,
            format!(
                "X is {r}×{c} and k = {k} but values has {} elements (need {need})",
                values.len()
            ),
        ));
    }
    if indices.len() != need {
        return Err(KernelError::shape(
            op,
            format!(
                "X is {r}×{c} and k = {k} but indices has {} elements (need {need})",
                indices.len()
            ),
        ));
    }
    if k == 0 || r == 0 {
        return Ok(());
    }
    // Ranking keys: total_cmp on rank_key is the vocabulary's order.
    let key = |v: f32| rank_key(key(v));
    let row = |i: usize, vo: &mut [f32], io: &mut [u32]| select_row(x.row(i), k, &key, vo, io);
    if r * c >= PAR_MIN_WORK && r > 1 && rayon::current_num_threads() > 1 {
        values
            .par_chunks_mut(k)
            .zip(indices.par_chunks_mut(k))
            .enumerate()
            .with_min_len((PAR_MIN_WORK / c.max(1)).max(1))
            .for_each(|(i, (vo, io))| row(i, vo, io));
    } else {
        for (i, (vo, io)) in values.chunks_mut(k).zip(indices.chunks_mut(k)).enumerate() {
            row(i, vo, io);
        }
    }
    Ok(())
}

/// `(key, index)` with "better" = larger key, then lower index.
#[inline(always)]
fn better(ka: f32, ia: u32, kb: f32, ib: u32) -> bool {
    match ka.total_cmp(&kb) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => ia < ib,
    }
}

fn select_row(row: &[f32], k: usize, key: &impl Fn(f32) -> f32, vo: &mut [f32], io: &mut [u32]) {
    // Sorted buffer (best first) of keys, indices; filled with the first k elements.
    let mut keys: Vec<f32> = Vec::with_capacity(k);
    let mut idx: Vec<u32> = Vec::with_capacity(k);
    let mut order: Vec<u32> = (0..k as u32).collect();
    order.sort_by(|&p, &q| {
        let (kp, kq) = (key(row[p as usize]), key(row[q as usize]));
        kq.total_cmp(&kp).then(p.cmp(&q))
    });
    for &p in &order {
        keys.push(key(row[p as usize]));
        idx.push(p);
    }
    let mut worst = keys[k - 1];
    for (j, &v) in row.iter().enumerate().skip(k) {
        let kv = key(v);
        let j = j as u32;
        // Indices increase, so an equal key never beats the current worst.
        if kv.total_cmp(&worst) != std::cmp::Ordering::Greater {
            continue;
        }
        // Binary search for the insertion point among better-first keys.
        let pos = {
            let (mut lo, mut hi) = (0usize, k - 1);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if better(keys[mid], idx[mid], kv, j) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        };
        keys.copy_within(pos..k - 1, pos + 1);
        idx.copy_within(pos..k - 1, pos + 1);
        keys[pos] = kv;
        idx[pos] = j;
        worst = keys[k - 1];
    }
    for t in 0..k {
        io[t] = idx[t];
        vo[t] = row[idx[t] as usize];
    }
}
