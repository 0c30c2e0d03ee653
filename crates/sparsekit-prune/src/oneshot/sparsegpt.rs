//! SparseGPT (Frantar & Alistarh 2023, "SparseGPT: Massive Language Models Can Be Accurately
//! Pruned in One-Shot"): row-wise Optimal Brain Surgeon with the layer Hessian `H = 2XᵀX/n`,
//! processing columns left to right, pruning with adaptive mask selection and updating the not
//! yet processed weights to compensate (weight reconstruction).
//!
//! This follows `fasterprune` of the reference implementation (IST-DASLab/sparsegpt):
//!
//! 1. dead inputs (`H_jj = 0`) get `H_jj = 1` and their weights are zeroed;
//! 2. dampening `H += λI`, `λ = percdamp · mean(diag H)`;
//! 3. `U` = upper Cholesky factor of `H⁻¹` ([`inverse_cholesky_upper`]);
//! 4. columns are processed in blocks of `blocksize`; at the start of a block the mask of the
//!    block is chosen from the current (already updated) weights by the OBS saliency
//!    `w² / U_jj²` (unstructured), or every `M` columns within the block (N:M); then column by
//!    column: `q = w·keep`, `err = (w − q)/U_jj`, `w[j..block_end] −= err · U[j, j..block_end]`;
//! 5. after the block, the rest of the row gets the batched ("lazy") update
//!    `w[block_end..] −= Σ err_k · U[k, block_end..]`.
//!
//! Compensation only flows to the right: a pruned weight is absorbed by the weights in later
//! columns, so the last columns of a row get the least help (as in the reference).
//!
//! Differences from the reference, all deliberate:
//! - the whole computation runs in f64 (the reference: f32 on GPU);
//! - unstructured selection prunes exactly `prune_count(count, s)` entries (the vocabulary's count); the reference's
//!   `tmp <= sort(tmp)[int(numel·s)]` prunes one more per block (and one even at `s = 0`);
//! - [`MaskScope::Row`] (default) selects per row and block with a cumulative per-row budget, so
//!   every row ends with exactly `prune_count(cols, s)` pruned entries; [`MaskScope::Block`] is the
//!   reference's joint selection over all rows of a block (per-row counts then vary);
//! - N:M groups are aligned to absolute column indices: `blocksize` is rounded up to a multiple
//!   of `M` (the reference assumes it already is), and a last partial group of `r < M` columns
//!   keeps `min(N, r)`.
//!
//! Rows are independent given the mask, so the column sweep runs in parallel over rows (rayon);
//! every row's arithmetic is sequential, so results do not depend on the thread count.

use rayon::prelude::*;

use sparsekit_formats::Mask;

use super::linalg::inverse_cholesky_upper;
use super::select::{prune_count, prune_group, prune_lowest};
use super::{
    check_finite, check_len, mask_bools, HessianAccumulator, Pruned, Result, SparsityTarget,
};
use crate::PruneError;

/// Which entries compete in SparseGPT's unstructured adaptive mask selection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MaskScope {
    /// Within each row and block; each row's cumulative budget keeps every row at exactly
    /// `prune_count(cols, s)` pruned entries (same comparison groups as Wanda).
    #[default]
    Row,
    /// Jointly over all rows of a block (the reference `fasterprune`): `prune_count(rows · count, s)`
    /// entries per block, per-row counts vary.
    Block,
}

/// Parameters of [`sparsegpt`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SparseGptConfig {
    /// Columns per block (lazy batched updates and, for unstructured, adaptive mask selection);
    /// default 128. Must be ≥ 1; rounded up to a multiple of `M` for N:M.
    pub blocksize: usize,
    /// Dampening as a fraction of the mean Hessian diagonal; default 0.01.
    pub percdamp: f64,
    /// Comparison group of the unstructured mask selection; default [`MaskScope::Row`].
    pub scope: MaskScope,
}

impl Default for SparseGptConfig {
    fn default() -> Self {
        SparseGptConfig {
            blocksize: 128,
            percdamp: 0.01,
            scope: MaskScope::Row,
        }
    }
}

/// How the mask is obtained.
#[derive(Clone, Copy)]
enum Selection<'a> {
    Adaptive(SparsityTarget),
    Fixed(&'a [bool]),
}

/// SparseGPT: prunes `w` (`rows × cols` = `d_out × d_in`, row-major) to `target` using the
/// calibration statistics in `calib` (`d_in = cols`), and reconstructs the surviving weights to
/// minimize `‖(W − Ŵ)Xᵀ‖²` (see the module docs for the algorithm).
///
/// Errors: shape mismatches, invalid target or config, non-finite weights, an empty accumulator,
/// and a Hessian that is not positive definite after dampening (e.g. `percdamp = 0` with
/// linearly dependent inputs) as [`PruneError::InvalidArgument`].
///
/// ```
/// use sparsekit_prune::oneshot::{sparsegpt, HessianAccumulator, SparseGptConfig, SparsityTarget};
/// let w = [1.0, 2.0, 3.0, 4.0f32];
/// let mut acc = HessianAccumulator::new(4)?;
/// acc.add_batch(&[1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0], 4)?;
/// let p = sparsegpt(&w, 1, 4, &acc, SparsityTarget::NM { n: 2, m: 4 }, &SparseGptConfig::default())?;
/// assert_eq!(p.mask.count_ones(), 2);
/// # Ok::<(), sparsekit_prune::PruneError>(())
/// ```
pub fn sparsegpt(
    w: &[f32],
    rows: usize,
    cols: usize,
    calib: &HessianAccumulator,
    target: SparsityTarget,
    config: &SparseGptConfig,
) -> Result<Pruned> {
    target.validate()?;
    run(w, rows, cols, calib, Selection::Adaptive(target), config)
}

/// SparseGPT's weight reconstruction for a given mask (`true` = kept, `rows × cols`), e.g. one
/// chosen by [`wanda`](super::wanda()): the same OBS column sweep with the mask fixed in
/// advance. `config.scope` is ignored.
///
/// ```
/// use sparsekit_prune::oneshot::{sparsegpt_with_mask, HessianAccumulator, SparseGptConfig};
/// use sparsekit_formats::Mask;
/// let mut acc = HessianAccumulator::new(2)?;
/// acc.add_batch(&[1.0, 1.0, 1.0, 0.9, 0.0, 0.1], 3)?; // strongly correlated inputs
/// // OBS compensates to the right: prune column 0, column 1 absorbs it.
/// let mask = Mask::from_bools(&[false, true], 1, 2)?;
/// let p = sparsegpt_with_mask(&[1.0, 1.0], 1, 2, &acc, &mask, &SparseGptConfig::default())?;
/// assert_eq!(p.weights[0], 0.0);
/// assert!(p.weights[1] > 1.5); // the kept weight absorbs the removed one
/// # Ok::<(), sparsekit_prune::PruneError>(())
/// ```
pub fn sparsegpt_with_mask(
    w: &[f32],
    rows: usize,
    cols: usize,
    calib: &HessianAccumulator,
    mask: &Mask,
    config: &SparseGptConfig,
) -> Result<Pruned> {
    let keep = mask_bools(mask, rows, cols)?;
    run(w, rows, cols, calib, Selection::Fixed(&keep), config)
}

fn run(
    w: &[f32],
    rows: usize,
    cols: usize,
    calib: &HessianAccumulator,
    sel: Selection<'_>,
    config: &SparseGptConfig,
) -> Result<Pruned> {
    check_len(w.len(), rows, cols, "weights")?;
    check_finite(w, "weights")?;
    if calib.d_in() != cols {
        return Err(PruneError::Shape(format!(
            "calibration statistics have d_in {}, layer has {cols} columns",
            calib.d_in()
        )));
    }
    if config.blocksize == 0 {
        return Err(PruneError::InvalidArgument(
            "blocksize must be \u{2265} 1".into(),
        ));
    }
    if !(config.percdamp.is_finite() && config.percdamp >= 0.0) {
        return Err(PruneError::InvalidArgument(format!(
            "percdamp {} must be finite and \u{2265} 0",
            config.percdamp
        )));
    }
    let mut h = calib.hessian()?; // errors on n_samples = 0
    let mut keep = match sel {
        Selection::Fixed(k) => k.to_vec(),
        Selection::Adaptive(_) => vec![true; rows * cols],
    };
    if rows == 0 || cols == 0 {
        return Pruned::from_keep(&keep, w.to_vec(), rows, cols);
    }

    let mut wf: Vec<f64> = w.iter().map(|&v| v as f64).collect();
    // Dead inputs: never active on the calibration data, so their weights do not matter for the
    // error; zero them and make H invertible there (reference behaviour).
    for j in 0..cols {
        if h[j * cols + j] == 0.0 {
            h[j * cols + j] = 1.0;
            for i in 0..rows {
                wf[i * cols + j] = 0.0;
            }
        }
    }
    let mean_diag = (0..cols).map(|j| h[j * cols + j]).sum::<f64>() / cols as f64;
    let damp = config.percdamp * mean_diag;
    for j in 0..cols {
        h[j * cols + j] += damp;
    }
    let u = inverse_cholesky_upper(&h, cols)?;
    drop(h);
    let udiag: Vec<f64> = (0..cols).map(|j| u[j * cols + j]).collect();

    let blocksize = match sel {
        Selection::Adaptive(SparsityTarget::NM { m, .. }) => config.blocksize.div_ceil(m) * m,
        _ => config.blocksize,
    };
    let saliency = |wv: f64, j: usize| wv * wv / (udiag[j] * udiag[j]);

    let mut i1 = 0;
    while i1 < cols {
        let i2 = (i1 + blocksize).min(cols);
        let count = i2 - i1;
        // Joint selection over all rows of the block (MaskScope::Block).
        if let Selection::Adaptive(SparsityTarget::Unstructured(s)) = sel {
            if config.scope == MaskScope::Block {
                let mut scores = vec![0.0f64; rows * count];
                let mut bkeep = vec![true; rows * count];
                for i in 0..rows {
                    for c in 0..count {
                        scores[i * count + c] = saliency(wf[i * cols + i1 + c], i1 + c);
                    }
                }
                let mut idx: Vec<usize> = (0..rows * count).collect();
                prune_lowest(&scores, &mut idx, prune_count(rows * count, s), &mut bkeep);
                for i in 0..rows {
                    keep[i * cols + i1..i * cols + i2]
                        .copy_from_slice(&bkeep[i * count..(i + 1) * count]);
                }
            }
        }
        wf.par_chunks_mut(cols)
            .zip(keep.par_chunks_mut(cols))
            .with_min_len(8)
            .for_each(|(wr, kr)| {
                process_block(
                    wr,
                    kr,
                    &u,
                    &udiag,
                    cols,
                    i1,
                    i2,
                    sel,
                    config.scope,
                    &saliency,
                );
            });
        i1 = i2;
    }
    let out: Vec<f32> = wf.iter().map(|&v| v as f32).collect();
    Pruned::from_keep(&keep, out, rows, cols)
}

/// One row, one block `i1..i2`: (row-scope) selection, the OBS column sweep inside the block,
/// then the lazy update of the columns after the block.
#[allow(clippy::too_many_arguments)]
fn process_block(
    wr: &mut [f64],
    kr: &mut [bool],
    u: &[f64],
    udiag: &[f64],
    cols: usize,
    i1: usize,
    i2: usize,
    sel: Selection<'_>,
    scope: MaskScope,
    saliency: &(impl Fn(f64, usize) -> f64 + Sync),
) {
    let count = i2 - i1;
    if let Selection::Adaptive(SparsityTarget::Unstructured(s)) = sel {
        if scope == MaskScope::Row {
            // Cumulative budget: after this block the row has prune_count(i2, s) pruned entries.
            let k = prune_count(i2, s) - prune_count(i1, s);
            let scores: Vec<f64> = (i1..i2).map(|j| saliency(wr[j], j)).collect();
            let mut idx: Vec<usize> = (0..count).collect();
            prune_lowest(&scores, &mut idx, k, &mut kr[i1..i2]);
        }
    }
    let mut err = vec![0.0f64; count];
    let mut scores = Vec::new();
    for j in i1..i2 {
        if let Selection::Adaptive(SparsityTarget::NM { n, m }) = sel {
            // Groups start at multiples of M, and blocks too (blocksize is a multiple of M).
            if j % m == 0 {
                let len = m.min(cols - j);
                scores.clear();
                scores.extend((j..j + len).map(|c| saliency(wr[c], c)));
                prune_group(&scores, 0, len, n, &mut kr[j..j + len]);
            }
        }
        let wj = wr[j];
        let q = if kr[j] { wj } else { 0.0 };
        let e = (wj - q) / udiag[j];
        if e != 0.0 {
            let urow = &u[j * cols..(j + 1) * cols];
            for c in j + 1..i2 {
                wr[c] -= e * urow[c];
            }
        }
        wr[j] = q;
        err[j - i1] = e;
    }
    // Lazy batched update of the rest of the row.
    for (b, &e) in err.iter().enumerate() {
        if e != 0.0 {
            let urow = &u[(i1 + b) * cols..(i1 + b + 1) * cols];
            for c in i2..cols {
                wr[c] -= e * urow[c];
            }
        }
    }
}
