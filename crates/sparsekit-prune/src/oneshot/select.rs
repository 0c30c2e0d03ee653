//! Private mask selection helpers: keep the highest-scoring entries of a row (unstructured) or of
//! every group of `M` consecutive columns (N:M). Ties go by column index (the lower index is
//! pruned first), so selections are deterministic.

use std::cmp::Ordering;

use super::SparsityTarget;

/// Number of entries to prune out of `len` at `sparsity`: `round(sparsity · len)`.
pub(crate) fn prune_count(len: usize, sparsity: f64) -> usize {
    ((sparsity * len as f64).round() as usize).min(len)
}

/// Total order "less important first": by score, then by index.
#[inline]
fn order(scores: &[f64], a: usize, b: usize) -> Ordering {
    scores[a].total_cmp(&scores[b]).then(a.cmp(&b))
}

/// Marks as pruned (`keep[j] = false`) the `k` lowest-scoring of the entries `cols` (indices into
/// `scores` / `keep`). O(len) expected (selection, not a full sort).
pub(crate) fn prune_lowest(scores: &[f64], cols: &mut [usize], k: usize, keep: &mut [bool]) {
    let k = k.min(cols.len());
    if k == 0 {
        return;
    }
    if k < cols.len() {
        cols.select_nth_unstable_by(k - 1, |&a, &b| order(scores, a, b));
    }
    for &j in &cols[..k] {
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
