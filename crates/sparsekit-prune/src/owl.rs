//! OWL — Outlier Weighted Layerwise sparsity (Yin et al., 2024, "Outlier Weighed Layerwise
//! Sparsity (OWL): A Missing Secret Sauce for Pruning LLMs to High Sparsity").
//!
//! Layers (transformer blocks) holding more *outliers* of the Wanda score `|W_ij|·‖X_j‖₂` are
//! kept denser. Two steps, as in the reference implementation (`prune_wanda_outlier`):
//!
//! 1. [`outlier_ratio`]: a block's outlier ratio `D_l` is the fraction of its scores (all its
//!    linear layers together) above `M` times their mean;
//! 2. [`owl_sparsities`]: the ratios are min-max scaled to `[0, 2λ]`, centred on their mean and
//!    added to the target density: `density_l = (1 − s) + 2λ·(D_l − min D)/(max D − min D) − mean`,
//!    so the sparsities span exactly `2λ` (the block with the most outliers is the densest) and
//!    average exactly `s` over the blocks; each lies within `2λ` of `s`.
//!
//! The paper's defaults for LLaMA are `M = 5`, `λ = 0.08` ([`OwlConfig::default`]). The reference
//! computes the ratios on the *dense* model's calibration inputs, then prunes sequentially with
//! the per-block sparsities.

use serde::{Deserialize, Serialize};

use crate::error::{PruneError, Result};
use crate::structure::check_sparsity;

/// OWL's two hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OwlConfig {
    /// `λ`: half the spread of the blocks' sparsities (they span `2λ` around the target;
    /// default 0.08).
    pub lambda: f64,
    /// `M`: a score is an outlier above `M` × the block's mean score (default 5).
    pub m: f64,
}

impl Default for OwlConfig {
    fn default() -> Self {
        OwlConfig {
            lambda: 0.08,
            m: 5.0,
        }
    }
}

impl OwlConfig {
    /// `λ ∈ [0, 1]` and `M > 0`, both finite.
    pub fn validate(&self) -> Result<()> {
        if !(self.lambda.is_finite() && (0.0..=1.0).contains(&self.lambda)) {
            return Err(PruneError::InvalidArgument(format!(
                "OWL lambda {} is not in [0, 1]",
                self.lambda
            )));
        }
        if !(self.m.is_finite() && self.m > 0.0) {
            return Err(PruneError::InvalidArgument(format!(
                "OWL M {} is not a positive number",
                self.m
            )));
        }
        Ok(())
    }
}

/// The fraction of `scores` (one block's scores, all its layers together; non-negative, e.g.
/// Wanda's `|W_ij|·‖X_j‖₂`) strictly above `m` × their mean. Errors on an empty block,
/// non-finite or negative scores, or `m ≤ 0`.
///
/// ```
/// use sparsekit_prune::owl::outlier_ratio;
/// // Mean 1.4; 3 × mean = 4.2: one score of five is above.
/// let r = outlier_ratio([[0.5f64, 0.5, 0.5].as_slice(), &[0.5, 5.0]], 3.0)?;
/// assert_eq!(r, 0.2);
/// # Ok::<(), sparsekit_prune::PruneError>(())
/// ```
pub fn outlier_ratio<'a, I>(scores: I, m: f64) -> Result<f64>
where
    I: IntoIterator<Item = &'a [f64]> + Clone,
{
    if !(m.is_finite() && m > 0.0) {
        return Err(PruneError::InvalidArgument(format!(
            "outlier multiplier M {m} is not a positive number"
        )));
    }
    let (mut n, mut sum) = (0usize, 0.0f64);
    for part in scores.clone() {
        for &s in part {
            if !(s.is_finite() && s >= 0.0) {
                return Err(PruneError::InvalidArgument(format!(
                    "outlier ratio: score {s} is not a non-negative number"
                )));
            }
            sum += s;
        }
        n += part.len();
    }
    if n == 0 {
        return Err(PruneError::InvalidArgument(
            "outlier ratio of a block without scores".into(),
        ));
    }
    let threshold = m * sum / n as f64;
    let above: usize = scores
        .into_iter()
        .map(|p| p.iter().filter(|&&s| s > threshold).count())
        .sum();
    Ok(above as f64 / n as f64)
}

/// Per-block sparsities from the blocks' outlier ratios at the global `target` (see the
/// [module docs](self)). When every ratio is equal every block gets `target`. Sparsities are
/// clamped to `[0, 1]` (only reachable with `2λ > min(s, 1 − s)`, where the mean is then no longer
/// exactly `target`). Errors on an invalid target or config, or a non-finite ratio.
///
/// ```
/// use sparsekit_prune::owl::{owl_sparsities, OwlConfig};
/// let s = owl_sparsities(&[0.01, 0.03, 0.02], 0.7, &OwlConfig::default())?;
/// // More outliers → denser; range 2λ; mean = target.
/// assert!((s[0] - 0.78).abs() < 1e-12 && (s[1] - 0.62).abs() < 1e-12 && (s[2] - 0.70).abs() < 1e-12);
/// # Ok::<(), sparsekit_prune::PruneError>(())
/// ```
pub fn owl_sparsities(ratios: &[f64], target: f64, config: &OwlConfig) -> Result<Vec<f64>> {
    check_sparsity(target)?;
    config.validate()?;
    if let Some(r) = ratios.iter().find(|r| !r.is_finite()) {
        return Err(PruneError::InvalidArgument(format!(
            "OWL: outlier ratio {r} is not finite"
        )));
    }
    if ratios.is_empty() {
        return Ok(Vec::new());
    }
    let lo = ratios.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if hi - lo <= 0.0 {
        return Ok(vec![target; ratios.len()]);
    }
    let scaled: Vec<f64> = ratios
        .iter()
        .map(|r| (r - lo) / (hi - lo) * 2.0 * config.lambda)
        .collect();
    let mean = scaled.iter().sum::<f64>() / scaled.len() as f64;
    Ok(scaled
        .iter()
        .map(|d| (target - (d - mean)).clamp(0.0, 1.0))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's numpy expression, transcribed in f64.
    fn reference(ratios: &[f64], s: f64, lambda: f64) -> Vec<f64> {
        let lo = ratios.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = ratios.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let a: Vec<f64> = ratios
            .iter()
            .map(|r| (r - lo) * (1.0 / (hi - lo) * lambda * 2.0))
            .collect();
        let mean = a.iter().sum::<f64>() / a.len() as f64;
        a.iter().map(|x| 1.0 - (x - mean + (1.0 - s))).collect()
    }

    #[test]
    fn matches_the_reference_and_keeps_the_mean() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for case in 0..200 {
            let n = 1 + case % 12;
            let ratios: Vec<f64> = (0..n).map(|_| rng.random::<f64>() * 0.1).collect();
            let s = 0.2 + 0.6 * rng.random::<f64>();
            // Within 2λ ≤ min(s, 1 − s): no clamping, the reference's range.
            let cfg = OwlConfig {
                lambda: 0.5 * s.min(1.0 - s) * rng.random::<f64>(),
                m: 5.0,
            };
            let got = owl_sparsities(&ratios, s, &cfg).unwrap();
            if n > 1 {
                for (g, w) in got.iter().zip(reference(&ratios, s, cfg.lambda)) {
                    assert!((g - w).abs() < 1e-12, "{g} vs {w}");
                }
            }
            let mean = got.iter().sum::<f64>() / n as f64;
            assert!((mean - s).abs() < 1e-12);
            assert!(got
                .iter()
                .all(|g| (g - s).abs() <= 2.0 * cfg.lambda + 1e-12));
            let lo = got.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = got.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            if n > 1 {
                assert!(
                    (hi - lo - 2.0 * cfg.lambda).abs() < 1e-12,
                    "spread {}",
                    hi - lo
                );
            }
        }
    }

    #[test]
    fn equal_ratios_and_bad_input() {
        let c = OwlConfig::default();
        assert_eq!(owl_sparsities(&[0.1, 0.1], 0.5, &c).unwrap(), [0.5, 0.5]);
        assert!(owl_sparsities(&[], 0.5, &c).unwrap().is_empty());
        assert!(owl_sparsities(&[0.1, f64::NAN], 0.5, &c).is_err());
        assert!(owl_sparsities(&[0.1], 1.5, &c).is_err());
        let bad = OwlConfig {
            lambda: -0.1,
            m: 5.0,
        };
        assert!(owl_sparsities(&[0.1], 0.5, &bad).is_err());
        assert!(outlier_ratio([[].as_slice()], 5.0).is_err());
        assert!(outlier_ratio([[1.0, -1.0].as_slice()], 5.0).is_err());
        assert!(outlier_ratio([[1.0].as_slice()], 0.0).is_err());
        // 2λ past the target: clamped to [0, 1].
        let wide = OwlConfig {
            lambda: 0.3,
            m: 5.0,
        };
        let c = owl_sparsities(&[0.0, 1.0, 1.0, 1.0], 0.1, &wide).unwrap();
        assert!(c.iter().all(|v| (0.0..=1.0).contains(v)), "{c:?}");
        // All zero scores: nothing is above 0.
        assert_eq!(outlier_ratio([[0.0, 0.0].as_slice()], 5.0).unwrap(), 0.0);
    }
}
