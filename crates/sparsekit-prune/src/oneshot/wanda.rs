//! Wanda (Sun et al. 2023, "A Simple and Effective Pruning Approach for Large Language Models"):
//! prune by `|W_ij| · ‖X_:,j‖₂`, compared within each output row; and the magnitude baseline
//! `|W_ij|` with the same comparison groups.

use rayon::prelude::*;

use super::select::select_row;
use super::{check_finite, check_len, Pruned, Result, SparsityTarget};
use crate::PruneError;

/// Rows per rayon task: scoring a row is cheap, so small layers stay on one thread.
const MIN_ROWS_PER_TASK: usize = 16;

/// Prunes every row by a per-entry score (the shared core of Wanda and magnitude).
fn prune_by_score(
    w: &[f32],
    rows: usize,
    cols: usize,
    target: SparsityTarget,
    score: impl Fn(usize, f32) -> f64 + Sync,
) -> Result<Pruned> {
    check_len(w.len(), rows, cols, "weights")?;
    target.validate()?;
    check_finite(w, "weights")?;
    let mut keep = vec![true; rows * cols];
    if cols > 0 {
        keep.par_chunks_mut(cols)
            .zip(w.par_chunks(cols))
            .with_min_len(MIN_ROWS_PER_TASK)
            .for_each(|(k, wr)| {
                let scores: Vec<f64> = wr.iter().enumerate().map(|(j, &v)| score(j, v)).collect();
                select_row(&scores, target, k);
            });
    }
    Pruned::from_keep(&keep, w.to_vec(), rows, cols)
}

/// Wanda: prunes the weights with the smallest `|W_ij| · ‖X_:,j‖₂` in every output row
/// (unstructured: `prune_count(cols, s)` per row; N:M: per group). `w` is `rows × cols` = `d_out × d_in`
/// row-major; `input_norms` (length `cols`) are the calibration inputs' column norms, from
/// [`input_norms`](super::input_norms) or
/// [`HessianAccumulator::input_norms`](super::HessianAccumulator::input_norms). The surviving
/// weights are not changed. Ties are pruned lower column first.
///
/// Errors on shape mismatches, invalid targets, non-finite or negative norms, non-finite weights.
///
/// ```
/// use sparsekit_prune::oneshot::{wanda, SparsityTarget};
/// // |W|·‖X‖ = [1·3, 2·1, 3·0.5, 4·1]: the two smallest are columns 2 and 1.
/// let p = wanda(&[1.0, -2.0, 3.0, 4.0], 1, 4, &[3.0, 1.0, 0.5, 1.0], SparsityTarget::Unstructured(0.5))?;
/// assert_eq!(p.weights, vec![1.0, 0.0, 0.0, 4.0]);
/// # Ok::<(), sparsekit_prune::PruneError>(())
/// ```
pub fn wanda(
    w: &[f32],
    rows: usize,
    cols: usize,
    input_norms: &[f64],
    target: SparsityTarget,
) -> Result<Pruned> {
    if input_norms.len() != cols {
        return Err(PruneError::Shape(format!(
            "{} input norms for {cols} columns",
            input_norms.len()
        )));
    }
    if let Some(p) = input_norms
        .iter()
        .position(|v| !(v.is_finite() && *v >= 0.0))
    {
        return Err(PruneError::InvalidArgument(format!(
            "input norm {p} is {}",
            input_norms[p]
        )));
    }
    prune_by_score(w, rows, cols, target, |j, v| {
        (v as f64).abs() * input_norms[j]
    })
}

/// Magnitude pruning baseline: prunes the smallest `|W_ij|` in every output row (or N:M group),
/// the same comparison groups as [`wanda`] so that the two are directly comparable.
///
/// ```
/// use sparsekit_prune::oneshot::{magnitude, SparsityTarget};
/// let p = magnitude(&[1.0, -2.0, 3.0, 0.5], 1, 4, SparsityTarget::NM { n: 1, m: 2 })?;
/// assert_eq!(p.weights, vec![0.0, -2.0, 3.0, 0.0]);
/// # Ok::<(), sparsekit_prune::PruneError>(())
/// ```
pub fn magnitude(w: &[f32], rows: usize, cols: usize, target: SparsityTarget) -> Result<Pruned> {
    prune_by_score(w, rows, cols, target, |_, v| (v as f64).abs())
}
