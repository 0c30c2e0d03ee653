//! [`spmv`]: `y = A·x`.

use rayon::prelude::*;
use sparsekit_formats::{CsrView, Scalar, SpIndex};

use crate::error::KernelError;
use crate::partition::{num_chunks, row_bounds};

/// `y = A·x` for sparse `A` (m × k), `x` of length k and `y` of length m (overwritten).
///
/// Memory-bound (one gathered `x` load per non-zero), so it is written without explicit SIMD:
/// four independent accumulators per row break the add dependency chain; rows are split over
/// rayon by non-zeros. Each `y[i]` is summed in a fixed order by one thread.
pub fn spmv<T: Scalar, I: SpIndex>(
    a: CsrView<'_, T, I>,
    x: &[f32],
    y: &mut [f32],
) -> Result<(), KernelError> {
    const OP: &str = "spmv";
    let (m, k) = a.shape();
    if x.len() != k {
        return Err(KernelError::shape(
            OP,
            format!("A is {m}×{k} but x has {} elements", x.len()),
        ));
    }
    if y.len() != m {
        return Err(KernelError::shape(
            OP,
            format!("A is {m}×{k} but y has {} elements", y.len()),
        ));
    }
    let (rp, ci, vals) = (a.row_ptr(), a.col_idx(), a.values());
    let rows = |r0: usize, ys: &mut [f32]| {
        for (t, yi) in ys.iter_mut().enumerate() {
            let i = r0 + t;
            let (s, e) = (rp[i].index(), rp[i + 1].index());
            let (c, v) = (&ci[s..e], &vals[s..e]);
            let mut acc = [0.0f32; 4];
            let mut c4 = c.chunks_exact(4);
            let mut v4 = v.chunks_exact(4);
            for (cc, vv) in (&mut c4).zip(&mut v4) {
                for l in 0..4 {
                    // SAFETY: column indices are < k = x.len() (pattern invariant, checked above).
                    acc[l] += vv[l].to_f32() * unsafe { *x.get_unchecked(cc[l].index()) };
                }
            }
            for (cc, vv) in c4.remainder().iter().zip(v4.remainder()) {
                // SAFETY: as above.
                acc[0] += vv.to_f32() * unsafe { *x.get_unchecked(cc.index()) };
            }
            *yi = (acc[0] + acc[2]) + (acc[1] + acc[3]);
        }
    };
    let chunks = num_chunks(a.nnz() + m, m);
    let bounds = row_bounds(rp, 1, chunks);
    if bounds.len() <= 2 {
        rows(0, y);
    } else {
        let mut parts = Vec::with_capacity(bounds.len() - 1);
        let mut rest = y;
        for w in bounds.windows(2) {
            let (head, tail) = rest.split_at_mut(w[1] - w[0]);
            parts.push((w[0], head));
            rest = tail;
        }
        parts.into_par_iter().for_each(|(r0, ys)| rows(r0, ys));
    }
    Ok(())
}
