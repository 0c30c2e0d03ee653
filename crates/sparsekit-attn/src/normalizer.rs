//! Which function turns attention scores into probabilities.

use serde::{Deserialize, Serialize};

use crate::error::{AttnError, Result};

/// The attention normaliser (along the key dimension) of
/// [`SparseMultiHeadAttention`](crate::SparseMultiHeadAttention) and, with feature `models`,
/// of [`SparseSelfAttention`](crate::SparseSelfAttention).
///
/// | variant | probabilities | exact zeros |
/// |---|---|---|
/// | `Softmax` | `exp(z − max) / Σ` | no |
/// | `Sparsemax` | Euclidean projection of `z` on the simplex (Martins & Astudillo 2016) | yes |
/// | `Entmax15` | 1.5-entmax (Peters et al. 2019) | yes |
/// | `Entmax { alpha }` | α-entmax, fixed `alpha > 1` | yes |
/// | `EntmaxLearned { init_alpha }` | α-entmax with one learned α per head (Correia et al. 2019), starting at `init_alpha > 1` | yes |
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalizer {
    /// Softmax (dense probabilities).
    Softmax,
    /// Sparsemax (α = 2).
    Sparsemax,
    /// 1.5-entmax.
    Entmax15,
    /// α-entmax with a fixed `alpha > 1`.
    Entmax {
        /// The entmax α (> 1; 2 is sparsemax).
        alpha: f64,
    },
    /// α-entmax with a learned α per head.
    EntmaxLearned {
        /// α of every head at initialisation (> 1).
        init_alpha: f64,
    },
}

impl Normalizer {
    /// Checks `alpha > 1` (finite) where there is one.
    pub fn validate(&self) -> Result<()> {
        let alpha = match self {
            Normalizer::Entmax { alpha } => *alpha,
            Normalizer::EntmaxLearned { init_alpha } => *init_alpha,
            _ => return Ok(()),
        };
        if !(alpha.is_finite() && alpha > 1.0) {
            return Err(AttnError::Config(format!(
                "entmax alpha must be finite and > 1, got {alpha}"
            )));
        }
        Ok(())
    }

    /// Whether probabilities come out with exact zeros (every normaliser but softmax).
    pub fn is_sparse(&self) -> bool {
        !matches!(self, Normalizer::Softmax)
    }
}
