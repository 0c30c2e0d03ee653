//! The relative reconstruction error of a pruned layer on calibration inputs,
//! `‖(W − Ŵ)Xᵀ‖²_F / ‖W Xᵀ‖²_F`: what one-shot methods minimize layer by layer.

use rayon::prelude::*;

use super::linalg::dot;
use super::{check_finite, check_len, HessianAccumulator, Result};
use crate::PruneError;

fn check_pair(w: &[f32], w_hat: &[f32], rows: usize, cols: usize) -> Result<()> {
    check_len(w.len(), rows, cols, "dense weights")?;
    check_len(w_hat.len(), rows, cols, "pruned weights")?;
    check_finite(w, "dense weights")?;
    check_finite(w_hat, "pruned weights")
}

/// `num / den`, with `0/0 = 0` and `x/0 = ∞` (a layer whose dense output is zero).
fn ratio(num: f64, den: f64) -> f64 {
    if den > 0.0 {
        num / den
    } else if num == 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

/// `‖(W − Ŵ)Xᵀ‖²_F / ‖W Xᵀ‖²_F`: `w` (dense) and `w_hat` (pruned) are `rows × cols` row-major
/// (`d_out × d_in`), `x` is `n × cols` (one sample per row). Computed directly in f64 in
/// O(rows · n · cols) (rayon over rows, summed in row order: independent of the thread count).
/// Returns 0 when both norms are 0 and `∞` when only the dense output is 0.
/// Errors on shape mismatches, non-finite values and `n = 0`.
///
/// ```
/// use sparsekit_prune::oneshot::reconstruction_error;
/// let w = [1.0, 1.0f32];
/// let x = [1.0, 1.0, 2.0, 0.0f32]; // outputs 2 and 2
/// let e = reconstruction_error(&w, &[1.0, 0.0], 1, 2, &x, 2)?; // outputs 1 and 2
/// assert!((e - 1.0 / 8.0).abs() < 1e-15);
/// # Ok::<(), sparsekit_prune::PruneError>(())
/// ```
pub fn reconstruction_error(
    w: &[f32],
    w_hat: &[f32],
    rows: usize,
    cols: usize,
    x: &[f32],
    n: usize,
) -> Result<f64> {
    check_pair(w, w_hat, rows, cols)?;
    check_len(x.len(), n, cols, "calibration inputs")?;
    check_finite(x, "calibration inputs")?;
    if n == 0 {
        return Err(PruneError::InvalidArgument(
            "no calibration samples (n_samples = 0)".into(),
        ));
    }
    if rows == 0 || cols == 0 {
        return Ok(0.0);
    }
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let per_row: Vec<(f64, f64)> = w
        .par_chunks(cols)
        .zip(w_hat.par_chunks(cols))
        .map(|(wr, hr)| {
            let wd: Vec<f64> = wr.iter().map(|&v| v as f64).collect();
            let dd: Vec<f64> = wr
                .iter()
                .zip(hr)
                .map(|(&a, &b)| a as f64 - b as f64)
                .collect();
            let (mut num, mut den) = (0.0, 0.0);
            for xs in x64.chunks_exact(cols) {
                let y = dot(&wd, xs);
                let e = dot(&dd, xs);
                den += y * y;
                num += e * e;
            }
            (num, den)
        })
        .collect();
    let (num, den) = per_row
        .iter()
        .fold((0.0, 0.0), |(a, b), (c, d)| (a + c, b + d));
    Ok(ratio(num, den))
}

/// The same ratio as [`reconstruction_error`] from accumulated statistics:
/// `Σ_i (w_i − ŵ_i)ᵀ G (w_i − ŵ_i) / Σ_i w_iᵀ G w_i` with `G = XᵀX`, in O(rows · cols²) instead
/// of O(rows · n · cols) — cheaper when there are more samples than inputs.
/// Errors on shape mismatches, non-finite values and an empty accumulator.
///
/// ```
/// use sparsekit_prune::oneshot::{reconstruction_error, reconstruction_error_gram, HessianAccumulator};
/// let (w, w_hat, x) = ([1.0, 1.0f32], [1.0, 0.0f32], [1.0, 1.0, 2.0, 0.0f32]);
/// let mut acc = HessianAccumulator::new(2)?;
/// acc.add_batch(&x, 2)?;
/// let a = reconstruction_error(&w, &w_hat, 1, 2, &x, 2)?;
/// let b = reconstruction_error_gram(&w, &w_hat, 1, 2, &acc)?;
/// assert!((a - b).abs() < 1e-15);
/// # Ok::<(), sparsekit_prune::PruneError>(())
/// ```
pub fn reconstruction_error_gram(
    w: &[f32],
    w_hat: &[f32],
    rows: usize,
    cols: usize,
    calib: &HessianAccumulator,
) -> Result<f64> {
    check_pair(w, w_hat, rows, cols)?;
    if calib.d_in() != cols {
        return Err(PruneError::Shape(format!(
            "calibration statistics have d_in {}, layer has {cols} columns",
            calib.d_in()
        )));
    }
    let g = calib.second_moment()?;
    if rows == 0 || cols == 0 {
        return Ok(0.0);
    }
    // vᵀGv from the upper triangle (G symmetric), skipping zero entries of v (the residual of a
    // mask-only method is zero on every kept weight).
    let quad = |v: &[f64]| -> f64 {
        let mut s = 0.0;
        for (i, &vi) in v.iter().enumerate() {
            if vi != 0.0 {
                let gi = &g[i * cols..(i + 1) * cols];
                s += vi * (gi[i] * vi + 2.0 * dot(&gi[i + 1..], &v[i + 1..]));
            }
        }
        s
    };
    let per_row: Vec<(f64, f64)> = w
        .par_chunks(cols)
        .zip(w_hat.par_chunks(cols))
        .map(|(wr, hr)| {
            let wd: Vec<f64> = wr.iter().map(|&v| v as f64).collect();
            let dd: Vec<f64> = wr
                .iter()
                .zip(hr)
                .map(|(&a, &b)| a as f64 - b as f64)
                .collect();
            (quad(&dd), quad(&wd))
        })
        .collect();
    let (num, den) = per_row
        .iter()
        .fold((0.0, 0.0), |(a, b), (c, d)| (a + c, b + d));
    Ok(ratio(num, den))
}
