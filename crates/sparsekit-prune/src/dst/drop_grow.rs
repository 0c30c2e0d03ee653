//! The host-side drop-and-grow rules of SET and RigL on a CSR pattern and its values.
//!
//! These are plain functions over a [`CsrPattern`], the values in CSR order and (for RigL) the
//! dense gradient `∂L/∂W` in row-major order; [`DynamicSparsity`](super::DynamicSparsity) calls
//! them on a layer read back from its device. Counts and ranking are the sparsity vocabulary's
//! ([`sparsekit_formats::sparsity`]): the active weights **kept** are the best `|w|`, and the
//! inactive positions grown are the best `|g|`, NaN ranking first and ties going to the lower
//! position, so every result is deterministic (a NaN weight is never dropped, a NaN gradient is
//! grown first: a NaN is never silently hidden).

use rand::Rng;
use sparsekit_formats::sparsity::{self, select_best};
use sparsekit_formats::CsrPattern;

use super::IndexMap;
use crate::error::{PruneError, Result};

/// A rebuilt pattern, its values (grown weights are `0.0`) and where each value came from.
#[derive(Clone, Debug, PartialEq)]
pub struct PatternUpdate {
    /// The new pattern (same shape, same nnz).
    pub pattern: CsrPattern,
    /// The new values in CSR order.
    pub values: Vec<f32>,
    /// New position → old position (`None` = grown).
    pub map: IndexMap,
}

/// Number of weights moved per update: the fraction of the `nnz` active weights that the
/// vocabulary's count prunes ([`sparsity::prune_count`]`(nnz, fraction)`), at most the number of
/// inactive positions (so nnz is preserved exactly).
pub fn drop_count(pattern: &CsrPattern, fraction: f64) -> Result<usize> {
    super::config::check_fraction("drop fraction", fraction)?;
    let inactive = total(pattern)? - pattern.nnz();
    Ok(sparsity::prune_count(pattern.nnz(), fraction)?.min(inactive))
}

/// SET: drops the `k = drop_count(fraction)` smallest-|w| weights and grows `k` weights at
/// uniformly random positions that were inactive before the update (never a just-dropped one).
///
/// ```
/// use rand::SeedableRng;
/// use sparsekit_formats::CsrPattern;
/// use sparsekit_prune::dst::set_update;
/// let p = CsrPattern::try_new(2, 3, vec![0, 2, 3], vec![0, 2, 1])?;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
/// let up = set_update(&p, &[0.5, -0.1, 2.0], 0.34, &mut rng)?; // moves 3 − round(0.66·3) = 1 weight
/// assert_eq!(up.pattern.nnz(), 3);
/// assert_eq!(up.map.dropped(), vec![1]); // -0.1 was the smallest
/// assert_eq!(up.map.grown(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn set_update<R: Rng + ?Sized>(
    pattern: &CsrPattern,
    values: &[f32],
    fraction: f64,
    rng: &mut R,
) -> Result<PatternUpdate> {
    check_values(pattern, values)?;
    let k = drop_count(pattern, fraction)?;
    let dropped = smallest_magnitude(values, 0..values.len(), k);
    let inactive = total(pattern)? - pattern.nnz();
    let mut ranks = rand::seq::index::sample(rng, inactive, k).into_vec();
    ranks.sort_unstable();
    let grown = inactive_at_ranks(pattern, &ranks);
    Ok(rebuild(pattern, values, &dropped, &grown))
}

/// RigL: drops the `k = drop_count(fraction)` smallest-|w| weights and grows the `k`
/// positions, inactive before the update, of largest `|gradient|` (`gradient` is the dense
/// `rows × cols` gradient, row-major).
///
/// ```
/// use sparsekit_formats::CsrPattern;
/// use sparsekit_prune::dst::rigl_update;
/// // W = [[0.5, ., -0.1], [., 2.0, .]]
/// let p = CsrPattern::try_new(2, 3, vec![0, 2, 3], vec![0, 2, 1])?;
/// let grad = [9.0, 0.3, 9.0, -0.7, 9.0, 0.2]; // inactive: (0,1) 0.3, (1,0) -0.7, (1,2) 0.2
/// let up = rigl_update(&p, &[0.5, -0.1, 2.0], 0.34, &grad)?;
/// assert_eq!(up.pattern.row_ptr(), &[0, 1, 3]);
/// assert_eq!(up.pattern.col_idx(), &[0, 0, 1]); // (0,2) dropped, (1,0) grown
/// assert_eq!(up.values, vec![0.5, 0.0, 2.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn rigl_update(
    pattern: &CsrPattern,
    values: &[f32],
    fraction: f64,
    gradient: &[f32],
) -> Result<PatternUpdate> {
    check_values(pattern, values)?;
    check_gradient(pattern, gradient)?;
    let k = drop_count(pattern, fraction)?;
    let dropped = smallest_magnitude(values, 0..values.len(), k);
    let grown = largest_inactive_gradient(pattern, gradient, 0..pattern.nrows(), k);
    Ok(rebuild(pattern, values, &dropped, &grown))
}

pub(crate) fn total(pattern: &CsrPattern) -> Result<usize> {
    pattern
        .nrows()
        .checked_mul(pattern.ncols())
        .ok_or_else(|| PruneError::Shape("rows × cols overflows usize".into()))
}

pub(crate) fn check_values(pattern: &CsrPattern, values: &[f32]) -> Result<()> {
    if values.len() != pattern.nnz() {
        return Err(PruneError::Shape(format!(
            "{} values for a pattern with {} entries",
            values.len(),
            pattern.nnz()
        )));
    }
    Ok(())
}

pub(crate) fn check_gradient(pattern: &CsrPattern, gradient: &[f32]) -> Result<()> {
    if gradient.len() != total(pattern)? {
        return Err(PruneError::Shape(format!(
            "dense gradient has {} entries, the layer is {} × {}",
            gradient.len(),
            pattern.nrows(),
            pattern.ncols()
        )));
    }
    Ok(())
}

/// The `k` CSR positions in `range` with the lowest-ranked `|values|` (every position but the
/// `len − k` best), in increasing order.
pub(crate) fn smallest_magnitude(
    values: &[f32],
    range: std::ops::Range<usize>,
    k: usize,
) -> Vec<usize> {
    let mut idx: Vec<usize> = range.collect();
    let kept = idx.len() - k.min(idx.len());
    select_best(&mut idx, kept, |p| values[p].abs());
    let mut out = idx.split_off(kept);
    out.sort_unstable();
    out
}

/// The `k` best-ranked positions (flat `i · cols + j`) by `|gradient|` among the positions of
/// `rows` that are not in `pattern`, in increasing order.
pub(crate) fn largest_inactive_gradient(
    pattern: &CsrPattern,
    gradient: &[f32],
    rows: std::ops::Range<usize>,
    k: usize,
) -> Vec<usize> {
    let cols = pattern.ncols();
    let mut cand = Vec::new();
    for i in rows {
        let mut active = pattern.row(i).iter().map(|&j| j as usize).peekable();
        for j in 0..cols {
            if active.peek() == Some(&j) {
                active.next();
            } else {
                cand.push(i * cols + j);
            }
        }
    }
    let len = select_best(&mut cand, k, |p| gradient[p].abs()).len();
    cand.truncate(len);
    cand.sort_unstable();
    cand
}

/// The flat positions of the inactive entries of the given ascending ranks (rank `r` = the
/// `r`-th inactive position in row-major order).
fn inactive_at_ranks(pattern: &CsrPattern, ranks: &[usize]) -> Vec<usize> {
    let cols = pattern.ncols();
    let mut out = Vec::with_capacity(ranks.len());
    let mut next = ranks.iter().peekable();
    let mut seen = 0usize; // inactive positions before the current row
    for i in 0..pattern.nrows() {
        let row = pattern.row(i);
        let in_row = cols - row.len();
        while let Some(&&r) = next.peek() {
            if r >= seen + in_row {
                break;
            }
            // The (r - seen)-th inactive column of row i: skip over the active columns.
            let mut want = r - seen;
            let mut j = 0usize;
            for &a in row {
                let a = a as usize;
                let gap = a - j;
                if want < gap {
                    break;
                }
                want -= gap;
                j = a + 1;
            }
            out.push(i * cols + j + want);
            next.next();
        }
        seen += in_row;
    }
    out
}

/// The pattern without `dropped` (ascending CSR positions), plus `grown` (ascending flat
/// positions, all inactive before), with grown values `0.0`.
pub(crate) fn rebuild(
    pattern: &CsrPattern,
    values: &[f32],
    dropped: &[usize],
    grown: &[usize],
) -> PatternUpdate {
    let (rows, cols) = pattern.shape();
    let mut row_ptr = Vec::with_capacity(rows + 1);
    row_ptr.push(0u32);
    let nnz = pattern.nnz() - dropped.len() + grown.len();
    let mut col_idx = Vec::with_capacity(nnz);
    let mut new_values = Vec::with_capacity(nnz);
    let mut source = Vec::with_capacity(nnz);
    let mut drop_it = dropped.iter().peekable();
    let mut grow_it = grown.iter().peekable();
    for i in 0..rows {
        let start = pattern.row_ptr()[i] as usize;
        let row = pattern.row(i);
        let mut q = start;
        // Merge the surviving entries of row i with the grown ones of row i, by column.
        loop {
            while q < start + row.len() && drop_it.peek() == Some(&&q) {
                drop_it.next();
                q += 1;
            }
            let old_col = (q < start + row.len()).then(|| row[q - start] as usize);
            let new_col = grow_it
                .peek()
                .filter(|&&&p| p / cols == i)
                .map(|&&p| p % cols);
            match (old_col, new_col) {
                (None, None) => break,
                (Some(a), Some(b)) if b < a => {
                    col_idx.push(b as u32);
                    new_values.push(0.0);
                    source.push(None);
                    grow_it.next();
                }
                (Some(a), _) => {
                    col_idx.push(a as u32);
                    new_values.push(values[q]);
                    source.push(Some(q as u32));
                    q += 1;
                }
                (None, Some(b)) => {
                    col_idx.push(b as u32);
                    new_values.push(0.0);
                    source.push(None);
                    grow_it.next();
                }
            }
        }
        row_ptr.push(col_idx.len() as u32);
    }
    let map = IndexMap::try_new(values.len(), source).expect("sources are distinct and in range");
    let pattern = CsrPattern::try_new(rows, cols, row_ptr, col_idx)
        .expect("merging a valid pattern with inactive positions gives a valid pattern");
    PatternUpdate {
        pattern,
        values: new_values,
        map,
    }
}
