//! Structure: turning scores into a [`Mask`](sparsekit_formats::Mask) at a target sparsity.
//!
//! The rules — how many entries a sparsity keeps, how NaN scores and ties rank, what N:M and
//! block structure mean — are the sparsity vocabulary of `sparsekit-formats`
//! ([`sparsekit_formats::sparsity`], where they are documented), re-exported here (the
//! fallible ones return [`PruneError`](crate::PruneError)) so that pruning code reads as pruning
//! code. Every sparsekit crate uses the same definitions, so a mask this
//! crate produces is accepted by the storage formats and by `SparseTensor::with_structure`.
//!
//! Matrices are row-major `rows × cols` in the orientation of `SparseLinear` / `MaskedLinear`
//! weights: **one row per output feature, one column per input feature** (burn's `Linear` stores
//! the transpose; [`crate::Pruner`] transposes for it). So N:M groups run along the input
//! dimension, "neurons" are rows and "channels" (input features) are columns.
//!
//! ```
//! use sparsekit_prune::structure::{mask, Structure};
//! let scores = [4.0, 1.0, 3.0, 2.0,
//!               0.5, 0.1, 0.2, 0.9];
//! let m = mask(&scores, 2, 4, 0.0, Structure::NM { n: 1, m: 2 })?;
//! assert_eq!(m.to_bools(), [true, false, true, false, true, false, false, true]);
//! # Ok::<(), sparsekit_prune::PruneError>(())
//! ```

use sparsekit_formats::sparsity;
pub use sparsekit_formats::sparsity::{
    better, is_block, is_columns, is_nm, is_rows, satisfies, select_best, top_k, Score, Structure,
};
use sparsekit_formats::Mask;

use crate::error::Result;

/// [`sparsity::check_sparsity`] with this crate's error.
pub fn check_sparsity(s: f64) -> Result<()> {
    Ok(sparsity::check_sparsity(s)?)
}

/// [`sparsity::keep_count`] with this crate's error.
pub fn keep_count(total: usize, s: f64) -> Result<usize> {
    Ok(sparsity::keep_count(total, s)?)
}

/// [`sparsity::prune_count`] with this crate's error.
pub fn prune_count(total: usize, s: f64) -> Result<usize> {
    Ok(sparsity::prune_count(total, s)?)
}

/// [`sparsity::mask`] with this crate's error: the mask of the entries a `rows × cols` score
/// matrix keeps at `sparsity` under `structure`.
pub fn mask(
    scores: &[f32],
    rows: usize,
    cols: usize,
    sparsity: f64,
    structure: Structure,
) -> Result<Mask> {
    Ok(sparsity::mask(scores, rows, cols, sparsity, structure)?)
}
