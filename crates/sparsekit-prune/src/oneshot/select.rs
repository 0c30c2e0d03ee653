//! Private mask selection helpers: keep the highest-scoring entries of a row (unstructured) or of
//! every group of `M` consecutive columns (N:M). Counts and ranking (NaN first, ties to the lower
//! column) are the sparsity vocabulary's ([`sparsekit_formats::sparsity`]).

use sparsekit_formats::sparsity::{self, select_best};

use super::SparsityTarget;

/// Number of entries to prune out of `len` at `sparsity` ([`sparsity::prune_count`]); the
/// sparsity was validated with the target.
pub(crate) fn prune_count(len: usize, sparsity: f64) -> usize {
    sparsity::prune_count(len, sparsity).unwrap_or(0)
}

/// Marks as pruned (`keep[j] = false`) the `k` lowest-ranked of the entries `cols` (indices into
/// `scores` / `keep`): every entry but the `len − k` best. O(len) expected (selection).
pub(crate) fn prune_lowest(scores: &[f64], cols: &mut [usize], k: usize, keep: &mut [bool]) {
    let kept = cols.len() - k.min(cols.len());
    select_best(cols, kept, |j| scores[j]);
    for &j in &cols[kept..] {
        keep[j] = false;
    }
}

/// Per-group N:M: within columns `start..start+len` (one group), keep the `min(n, len)`
/// highest-scoring entries and prune the rest.
pub(crate) fn prune_group(scores: &[f64], start: usize, len: usize, n: usize, keep: &mut [bool]) {
    let mut idx: Vec<usize> = (start..start + len).collect();
    prune_lowest(scores, &mut idx, len.saturating_sub(n), keep);
}

/// Selects a whole row: `keep` (all `true` on entry) gets `false` at the pruned columns.
pub(crate) fn select_row(scores: &[f64], target: SparsityTarget, keep: &mut [bool]) {
    let cols = scores.len();
    match target {
        SparsityTarget::Unstructured(s) => {
            let mut idx: Vec<usize> = (0..cols).collect();
            prune_lowest(scores, &mut idx, prune_count(cols, s), keep);
        }
        SparsityTarget::NM { n, m } => {
            let mut g = 0;
            while g < cols {
                let len = m.min(cols - g);
                prune_group(scores, g, len, n, keep);
                g += m;
            }
        }
    }
}
