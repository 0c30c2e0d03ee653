//! SRigL (Lasby et al. 2023, "Dynamic Sparse Training with Structured Sparsity"): RigL under a
//! constant fan-in constraint, with neuron ablation.
//!
//! One update of a layer whose active rows (output neurons) all hold `f` weights:
//!
//! 1. **Saliency.** Run unstructured RigL on the layer with `k = drop_count(ζ_t)` (the vocabulary's count of a fraction of nnz): a weight is
//!    salient if RigL would keep it (not among the `k` smallest |w|) or grow it (among the `k`
//!    largest |∂L/∂W| of the inactive positions). Count the salient weights of each neuron.
//! 2. **Ablation.** A neuron with fewer than `γ_sal · f` salient weights is ablated: all its
//!    weights are removed and their budget is given to the surviving neurons, whose fan-in
//!    becomes `f' = nnz / n_active` (the total nnz is unchanged).
//! 3. **Per-neuron drop and grow.** Every surviving neuron drops its `d = prune_count(f, ζ_t)` smallest-|w|
//!    weights and grows the `f' − f + d` inactive positions of its row with the largest
//!    |∂L/∂W|, so it ends with exactly `f'` weights.
//!
//! Simplifications (documented, deliberate):
//! - Ablation is limited to the largest number of candidates (those with the fewest salient
//!   weights first) for which `nnz` divides evenly among the surviving neurons and `f' ≤ cols`,
//!   so that nnz is preserved *exactly* and the fan-in stays *exactly* constant; the paper
//!   rounds instead. With `nnz = n_active · f`, "no ablation" is always admissible.
//! - Ablated neurons stay ablated (their bias is kept, their output is then constant), as in
//!   the paper; they are never revived.
//! - Growth never picks a position dropped in the same update (as in our SET and RigL).
//! - The per-neuron drop count is `prune_count(f, ζ_t)` (capped so the row has enough inactive
//!   positions), the paper's layer-wise ζ applied row by row.

use sparsekit_formats::sparsity;
use sparsekit_formats::CsrPattern;

use super::drop_grow::{
    check_gradient, check_values, drop_count, largest_inactive_gradient, rebuild,
    smallest_magnitude, PatternUpdate,
};
use crate::error::{PruneError, Result};

/// The common row length of the non-empty rows (`None` for an empty pattern); an error when
/// two non-empty rows differ.
///
/// ```
/// use sparsekit_formats::CsrPattern;
/// use sparsekit_prune::dst::fan_in;
/// let p = CsrPattern::try_new(3, 4, vec![0, 2, 2, 4], vec![0, 3, 1, 2])?; // row 1 ablated
/// assert_eq!(fan_in(&p)?, Some(2));
/// let q = CsrPattern::try_new(2, 4, vec![0, 2, 3], vec![0, 3, 1])?;
/// assert!(fan_in(&q).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn fan_in(pattern: &CsrPattern) -> Result<Option<usize>> {
    let mut f = None;
    for i in 0..pattern.nrows() {
        let len = pattern.row(i).len();
        if len == 0 {
            continue;
        }
        match f {
            None => f = Some(len),
            Some(f) if f == len => {}
            Some(f) => {
                return Err(PruneError::InvalidArgument(format!(
                    "SRigL needs a constant fan-in: row {i} has {len} weights, others {f}"
                )))
            }
        }
    }
    Ok(f)
}

/// A `rows × cols` pattern where every row holds `fan_in` uniformly random columns (the
/// initial pattern SRigL expects).
///
/// ```
/// use sparsekit_prune::dst::{constant_fan_in_pattern, fan_in};
/// let p = constant_fan_in_pattern(4, 10, 3, 7)?;
/// assert_eq!(p.nnz(), 12);
/// assert_eq!(fan_in(&p)?, Some(3));
/// assert!(constant_fan_in_pattern(4, 10, 11, 7).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn constant_fan_in_pattern(
    rows: usize,
    cols: usize,
    fan_in: usize,
    seed: u64,
) -> Result<CsrPattern> {
    use rand::SeedableRng;
    if fan_in > cols {
        return Err(PruneError::InvalidArgument(format!(
            "fan-in {fan_in} exceeds the {cols} inputs"
        )));
    }
    let total = rows
        .checked_mul(fan_in)
        .filter(|&t| t <= u32::MAX as usize)
        .ok_or_else(|| PruneError::Shape("rows × fan-in does not fit u32 indices".into()))?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut row_ptr = Vec::with_capacity(rows + 1);
    let mut col_idx = Vec::with_capacity(total);
    row_ptr.push(0u32);
    for _ in 0..rows {
        let mut cols_i = rand::seq::index::sample(&mut rng, cols, fan_in).into_vec();
        cols_i.sort_unstable();
        col_idx.extend(cols_i.into_iter().map(|j| j as u32));
        row_ptr.push(col_idx.len() as u32);
    }
    Ok(CsrPattern::try_new(rows, cols, row_ptr, col_idx)?)
}

/// One SRigL update (see the [module docs](self)); `gradient` is the dense `rows × cols`
/// gradient, row-major. Errors: a pattern whose non-empty rows differ in length, wrong
/// lengths, fractions outside `[0, 1]`.
///
/// ```
/// use sparsekit_prune::dst::{constant_fan_in_pattern, fan_in, srigl_update};
/// let p = constant_fan_in_pattern(6, 8, 4, 1)?;
/// let values: Vec<f32> = (0..p.nnz()).map(|i| (i as f32 - 11.5) / 7.0).collect();
/// let grad: Vec<f32> = (0..48).map(|i| ((i * 37) % 11) as f32).collect();
/// let up = srigl_update(&p, &values, 0.5, &grad, 0.3)?;
/// assert_eq!(up.pattern.nnz(), p.nnz());
/// assert!(fan_in(&up.pattern)?.is_some()); // still constant fan-in
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn srigl_update(
    pattern: &CsrPattern,
    values: &[f32],
    fraction: f64,
    gradient: &[f32],
    gamma_sal: f64,
) -> Result<PatternUpdate> {
    check_values(pattern, values)?;
    check_gradient(pattern, gradient)?;
    super::config::check_fraction("gamma_sal", gamma_sal)?;
    let k = drop_count(pattern, fraction)?;
    let (rows, cols) = pattern.shape();
    let Some(f) = fan_in(pattern)? else {
        return Ok(rebuild(pattern, values, &[], &[]));
    };
    let nnz = pattern.nnz();
    let row_of = |q: usize| pattern.row_ptr().partition_point(|&p| p as usize <= q) - 1;

    // 1. Saliency from unstructured RigL.
    let mut salient: Vec<usize> = (0..rows).map(|i| pattern.row(i).len()).collect();
    for q in smallest_magnitude(values, 0..nnz, k) {
        salient[row_of(q)] -= 1;
    }
    for p in largest_inactive_gradient(pattern, gradient, 0..rows, k) {
        salient[p / cols] += 1;
    }

    // 2. Ablation, limited to counts that keep nnz and the fan-in exact.
    let active: Vec<usize> = (0..rows).filter(|&i| !pattern.row(i).is_empty()).collect();
    let mut candidates: Vec<usize> = active
        .iter()
        .copied()
        .filter(|&i| (salient[i] as f64) < gamma_sal * f as f64)
        .collect();
    candidates.sort_by_key(|&i| (salient[i], i));
    let admissible = |a: usize| {
        let n = active.len() - a;
        n >= 1 && nnz % n == 0 && nnz / n <= cols
    };
    let a = (0..=candidates.len())
        .rev()
        .find(|&a| admissible(a))
        .unwrap_or(0);
    let mut ablated = vec![false; rows];
    for &i in &candidates[..a] {
        ablated[i] = true;
    }
    let f_new = nnz / (active.len() - a);

    // 3. Per-neuron drop and grow to exactly f_new weights.
    let d = sparsity::prune_count(f, fraction)?.min(cols - f_new);
    let mut dropped = Vec::new();
    let mut grown = Vec::new();
    for &i in &active {
        let start = pattern.row_ptr()[i] as usize;
        if ablated[i] {
            dropped.extend(start..start + f);
            continue;
        }
        dropped.extend(smallest_magnitude(values, start..start + f, d));
        grown.extend(largest_inactive_gradient(
            pattern,
            gradient,
            i..i + 1,
            f_new - f + d,
        ));
    }
    Ok(rebuild(pattern, values, &dropped, &grown))
}
