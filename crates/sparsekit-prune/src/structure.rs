//! Structure: turning scores into a [`Mask`] at a target sparsity.
//!
//! Matrices are row-major `rows × cols` in the orientation of `SparseLinear` / `MaskedLinear`
//! weights: **one row per output feature, one column per input feature** (burn's `Linear` stores
//! the transpose; [`crate::Pruner`] transposes for it). So N:M groups run along the input
//! dimension (consecutive columns of one row), "neurons" are rows and "channels" (input
//! features) are columns.
//!
//! Ranking is deterministic: higher score first, ties broken by the lower (flat, block, row or
//! column) index, and NaN scores rank below every number.
//!
//! | structure | kept | unit score |
//! |---|---|---|
//! | [`Structure::Unstructured`] | exactly `round((1 − s) · rows · cols)` weights | the score |
//! | [`Structure::NM`] | top `n` of every group of `m` consecutive columns of each row | the score |
//! | [`Structure::Block`] | `round((1 − s) · blocks)` whole `r × c` blocks | L2 norm of the block's scores |
//! | [`Structure::Rows`] | `round((1 − s) · rows)` whole rows (output neurons) | L2 norm of the row |
//! | [`Structure::Columns`] | `round((1 − s) · cols)` whole columns (input channels) | L2 norm of the column |
//!
//! **N:M when `cols` is not a multiple of `m`**: the last group of a row has `r < m` columns and
//! keeps its top `min(n, r)`. This is exactly the N:M constraint on the row zero-padded to a
//! multiple of `m` (the padding counts as pruned), so [`is_nm`] holds and the matrix can be
//! padded for N:M hardware. The N:M sparsity `1 − n/m` is fixed by the structure: the `sparsity`
//! argument is ignored for it (see [`Structure::fixed_sparsity`]).
//!
//! Edge blocks (when `rows` or `cols` is not a multiple of the block size) are smaller blocks
//! that count as one block each.

use serde::{Deserialize, Serialize};
use sparsekit_formats::Mask;

use crate::error::{PruneError, Result};

/// How the kept weights are grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Structure {
    /// Any weights.
    Unstructured,
    /// At most `n` kept in each group of `m` consecutive inputs (`0 ≤ n ≤ m`, `m ≥ 1`).
    NM {
        /// Kept per group.
        n: usize,
        /// Group length.
        m: usize,
    },
    /// Whole `rows × cols` blocks.
    Block {
        /// Block height.
        rows: usize,
        /// Block width.
        cols: usize,
    },
    /// Whole rows: output neurons.
    Rows,
    /// Whole columns: input channels.
    Columns,
}

impl Structure {
    /// Checks the parameters (`n ≤ m`, `m ≥ 1`, non-zero block sizes).
    pub fn validate(&self) -> Result<()> {
        match *self {
            Structure::NM { n, m } if m == 0 || n > m => Err(PruneError::InvalidArgument(format!(
                "N:M needs 0 ≤ N ≤ M and M ≥ 1, got {n}:{m}"
            ))),
            Structure::Block { rows, cols } if rows == 0 || cols == 0 => Err(
                PruneError::InvalidArgument(format!("block size {rows}x{cols} has a zero side")),
            ),
            _ => Ok(()),
        }
    }

    /// The sparsity the structure itself fixes: `1 − n/m` for N:M, `None` otherwise.
    pub fn fixed_sparsity(&self) -> Option<f64> {
        match *self {
            Structure::NM { n, m } if m > 0 => Some(1.0 - n as f64 / m as f64),
            _ => None,
        }
    }
}

/// Errors unless `sparsity` is a number in `[0, 1]`.
pub fn check_sparsity(sparsity: f64) -> Result<()> {
    if (0.0..=1.0).contains(&sparsity) {
        Ok(())
    } else {
        Err(PruneError::InvalidArgument(format!(
            "sparsity {sparsity} is not in [0, 1]"
        )))
    }
}

/// How many of `total` units a sparsity keeps: `round((1 − sparsity) · total)`.
///
/// ```
/// use sparsekit_prune::structure::keep_count;
/// assert_eq!(keep_count(10, 0.75)?, 3); // 2.5 rounds half away from zero
/// assert_eq!(keep_count(10, 0.0)?, 10);
/// assert!(keep_count(10, 1.5).is_err());
/// # Ok::<(), sparsekit_prune::PruneError>(())
/// ```
pub fn keep_count(total: usize, sparsity: f64) -> Result<usize> {
    check_sparsity(sparsity)?;
    Ok((((1.0 - sparsity) * total as f64).round() as usize).min(total))
}

/// NaN ranks lowest.
#[inline]
fn key(s: f32) -> f32 {
    if s.is_nan() {
        f32::NEG_INFINITY
    } else {
        s
    }
}

/// Higher score first, then lower index: a total order, so the top-k set is unique.
#[inline]
pub(crate) fn rank(a: (f32, usize), b: (f32, usize)) -> std::cmp::Ordering {
    key(b.0).total_cmp(&key(a.0)).then(a.1.cmp(&b.1))
}

/// The indices of the `k` best scores (in no particular order). O(n).
pub(crate) fn top_k(scores: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<(f32, usize)> = scores.iter().copied().zip(0..).collect();
    if k < idx.len() && k > 0 {
        idx.select_nth_unstable_by(k - 1, |a, b| rank(*a, *b));
    }
    idx.truncate(k);
    idx.into_iter().map(|(_, i)| i).collect()
}

fn check_scores(scores: &[f32], rows: usize, cols: usize) -> Result<()> {
    match rows.checked_mul(cols) {
        Some(n) if n == scores.len() => Ok(()),
        _ => Err(PruneError::Shape(format!(
            "{} scores for a {rows}x{cols} matrix",
            scores.len()
        ))),
    }
}

/// The mask of the kept weights of a `rows × cols` score matrix (see the [module docs](self)).
///
/// ```
/// use sparsekit_prune::structure::{mask, Structure};
/// let scores = [4.0, 1.0, 3.0, 2.0,
///               0.5, 0.1, 0.2, 0.9];
/// let m = mask(&scores, 2, 4, 0.5, Structure::Unstructured)?;
/// assert_eq!(m.to_bools(), [true, true, true, true, false, false, false, false]);
/// let m = mask(&scores, 2, 4, 0.0, Structure::NM { n: 1, m: 2 })?;
/// assert_eq!(m.to_bools(), [true, false, true, false, true, false, false, true]);
/// # Ok::<(), sparsekit_prune::PruneError>(())
/// ```
pub fn mask(
    scores: &[f32],
    rows: usize,
    cols: usize,
    sparsity: f64,
    structure: Structure,
) -> Result<Mask> {
    structure.validate()?;
    check_sparsity(sparsity)?;
    check_scores(scores, rows, cols)?;
    let mut out = Mask::new(rows, cols)?;
    match structure {
        Structure::Unstructured => {
            for i in top_k(scores, keep_count(scores.len(), sparsity)?) {
                out.set(i / cols, i % cols, true);
            }
        }
        Structure::NM { n, m } => {
            let mut group: Vec<(f32, usize)> = Vec::with_capacity(m);
            for r in 0..rows {
                for start in (0..cols).step_by(m) {
                    let end = (start + m).min(cols);
                    group.clear();
                    group.extend((start..end).map(|j| (scores[r * cols + j], j)));
                    group.sort_unstable_by(|a, b| rank(*a, *b));
                    for &(_, j) in group.iter().take(n) {
                        out.set(r, j, true);
                    }
                }
            }
        }
        Structure::Block { rows: br, cols: bc } => {
            let (nbr, nbc) = (rows.div_ceil(br), cols.div_ceil(bc));
            let mut norms = vec![0f64; nbr * nbc];
            for r in 0..rows {
                for c in 0..cols {
                    let s = key(scores[r * cols + c]) as f64;
                    norms[(r / br) * nbc + c / bc] += s * s;
                }
            }
            let norms: Vec<f32> = norms.iter().map(|&x| x.sqrt() as f32).collect();
            for b in top_k(&norms, keep_count(norms.len(), sparsity)?) {
                let (r0, c0) = ((b / nbc) * br, (b % nbc) * bc);
                for r in r0..(r0 + br).min(rows) {
                    for c in c0..(c0 + bc).min(cols) {
                        out.set(r, c, true);
                    }
                }
            }
        }
        Structure::Rows | Structure::Columns => {
            let by_row = structure == Structure::Rows;
            let units = if by_row { rows } else { cols };
            let mut norms = vec![0f64; units];
            for r in 0..rows {
                for c in 0..cols {
                    let s = key(scores[r * cols + c]) as f64;
                    norms[if by_row { r } else { c }] += s * s;
                }
            }
            let norms: Vec<f32> = norms.iter().map(|&x| x.sqrt() as f32).collect();
            for u in top_k(&norms, keep_count(units, sparsity)?) {
                if by_row {
                    (0..cols).for_each(|c| out.set(u, c, true));
                } else {
                    (0..rows).for_each(|r| out.set(r, u, true));
                }
            }
        }
    }
    Ok(out)
}

/// Whether every group of `m` consecutive columns of every row (the last one possibly shorter)
/// has at most `n` kept entries.
///
/// ```
/// use sparsekit_formats::Mask;
/// use sparsekit_prune::structure::is_nm;
/// let m = Mask::from_bools(&[true, true, false, false, true, false], 1, 6)?;
/// assert!(is_nm(&m, 2, 4));
/// assert!(!is_nm(&m, 1, 4));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn is_nm(mask: &Mask, n: usize, m: usize) -> bool {
    if m == 0 {
        return false;
    }
    let (rows, cols) = mask.shape();
    (0..rows).all(|r| {
        (0..cols)
            .step_by(m)
            .all(|s| (s..(s + m).min(cols)).filter(|&j| mask.get(r, j)).count() <= n)
    })
}

/// Whether the mask is a union of whole `br × bc` blocks (edge blocks included).
pub fn is_block(mask: &Mask, br: usize, bc: usize) -> bool {
    if br == 0 || bc == 0 {
        return false;
    }
    let (rows, cols) = mask.shape();
    (0..rows).all(|r| (0..cols).all(|c| mask.get(r, c) == mask.get(r - r % br, c - c % bc)))
}

/// Whether every row is all kept or all pruned.
pub fn is_rows(mask: &Mask) -> bool {
    let (rows, cols) = mask.shape();
    (0..rows).all(|r| {
        let k = mask.count_ones_row(r);
        k == 0 || k == cols
    })
}

/// Whether every column is all kept or all pruned.
pub fn is_columns(mask: &Mask) -> bool {
    let (rows, cols) = mask.shape();
    (0..cols).all(|c| (0..rows).all(|r| mask.get(r, c) == mask.get(0, c)))
}

/// Whether `mask` has the given structure (unstructured: always).
pub fn satisfies(mask: &Mask, structure: Structure) -> bool {
    match structure {
        Structure::Unstructured => true,
        Structure::NM { n, m } => is_nm(mask, n, m),
        Structure::Block { rows, cols } => is_block(mask, rows, cols),
        Structure::Rows => is_rows(mask),
        Structure::Columns => is_columns(mask),
    }
}
