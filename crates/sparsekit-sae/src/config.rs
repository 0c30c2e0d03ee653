//! What an SAE is: its architecture, sizes and input conventions ([`SaeConfig`]).
//!
//! Names follow SAELens where it has one (`apply_b_dec_to_input`, `normalize_activations`), so a
//! configuration maps onto SAELens' `cfg.json` field for field (see [`crate::format`]).

use serde::{Deserialize, Serialize};

use crate::error::{Result, SaeError};

/// The activation function that turns pre-activations into the sparse code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// `ReLU(top-k(pre))` per token (Makhzani & Frey 2013; Gao et al. 2024).
    TopK,
    /// The `k·B` largest pre-activations over a batch of `B` tokens; a global threshold at
    /// inference (Bussmann et al. 2024).
    BatchTopK,
    /// `pre · H(pre − θ_j)` with a learned per-latent threshold, trained with a straight-through
    /// estimator and an L0 penalty (Rajamanoharan et al. 2024b).
    JumpRelu,
    /// `ReLU(pre)` with an L1 penalty weighted by the decoder norms (Bricken et al. 2023;
    /// Conerly et al. 2024).
    Relu,
    /// Gated SAE: a gate path decides which latents fire, a magnitude path (sharing the encoder
    /// directions, rescaled by `exp(r_mag)`) how strongly (Rajamanoharan et al. 2024a).
    Gated,
}

impl Architecture {
    /// Every architecture, in documentation order.
    pub const ALL: [Architecture; 5] = [
        Architecture::TopK,
        Architecture::BatchTopK,
        Architecture::JumpRelu,
        Architecture::Relu,
        Architecture::Gated,
    ];

    /// The command-line / file name: `topk`, `batchtopk`, `jumprelu`, `relu`, `gated`.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::TopK => "topk",
            Architecture::BatchTopK => "batchtopk",
            Architecture::JumpRelu => "jumprelu",
            Architecture::Relu => "relu",
            Architecture::Gated => "gated",
        }
    }

    /// Parses [`Architecture::name`].
    pub fn from_name(s: &str) -> Option<Architecture> {
        Architecture::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether the code has a fixed number of active latents per token (`k`).
    pub fn uses_k(self) -> bool {
        matches!(self, Architecture::TopK | Architecture::BatchTopK)
    }
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How inputs are scaled before encoding; the names are SAELens' `normalize_activations` values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalization {
    /// Inputs as they are.
    None,
    /// Multiply inputs by one constant, estimated before training so that the mean input norm is
    /// `sqrt(d_in)`; outputs are divided by it again (SAELens' `expected_average_only_in`).
    ExpectedAverageOnlyIn,
    /// Each input scaled to norm `sqrt(d_in)` and the reconstruction scaled back by the same
    /// factor (SAELens' `constant_norm_rescale`).
    ConstantNormRescale,
    /// Each input centred and scaled to unit variance, the reconstruction mapped back with the
    /// same mean and standard deviation (SAELens' `layer_norm`).
    LayerNorm,
}

impl Normalization {
    /// The SAELens name.
    pub fn name(self) -> &'static str {
        match self {
            Normalization::None => "none",
            Normalization::ExpectedAverageOnlyIn => "expected_average_only_in",
            Normalization::ConstantNormRescale => "constant_norm_rescale",
            Normalization::LayerNorm => "layer_norm",
        }
    }

    /// Parses [`Normalization::name`].
    pub fn from_name(s: &str) -> Option<Normalization> {
        [
            Normalization::None,
            Normalization::ExpectedAverageOnlyIn,
            Normalization::ConstantNormRescale,
            Normalization::LayerNorm,
        ]
        .into_iter()
        .find(|n| n.name() == s.trim())
    }
}

/// The arithmetic of the encoder's dense product `x·W_encᵀ`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// bf16 on AMX tiles for TopK and BatchTopK where the CPU has AMX (their top-k is exact:
    /// the kernel re-ranks its bf16 candidates in f32, so results equal the f32 path bit for
    /// bit); f32 everywhere else.
    #[default]
    Auto,
    /// f32 fused multiply-adds.
    F32,
    /// bf16 inputs and weights, f32 accumulation. TopK / BatchTopK selections stay exact; the
    /// dense-threshold architectures (ReLU, JumpReLU, Gated) see pre-activations with bf16
    /// rounding error (bound in `sparsekit_kernels::sae`).
    Bf16,
}

/// The shape and conventions of one SAE (what is saved beside its weights).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SaeConfig {
    /// The activation function.
    pub architecture: Architecture,
    /// Width of the input activations.
    pub d_in: usize,
    /// Number of latents (dictionary size).
    pub d_sae: usize,
    /// Active latents per token for [`Architecture::TopK`] and [`Architecture::BatchTopK`]
    /// (the mean for BatchTopK); `None` for the others.
    pub k: Option<usize>,
    /// Subtract `b_dec` from the input before encoding (SAELens' default `true`).
    pub apply_b_dec_to_input: bool,
    /// Input normalisation.
    pub normalize_activations: Normalization,
    /// The input scale of [`Normalization::ExpectedAverageOnlyIn`] (`None` until estimated).
    pub norm_scale: Option<f32>,
}

impl SaeConfig {
    /// A configuration with SAELens' defaults for the conventions.
    pub fn new(architecture: Architecture, d_in: usize, d_sae: usize, k: Option<usize>) -> Self {
        SaeConfig {
            architecture,
            d_in,
            d_sae,
            k,
            apply_b_dec_to_input: true,
            normalize_activations: Normalization::None,
            norm_scale: None,
        }
    }

    /// Checks the sizes: `d_in, d_sae > 0`; `1 ≤ k ≤ d_sae` exactly when the architecture uses
    /// `k`; `norm_scale` finite and positive where present.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(SaeError::Config(m));
        if self.d_in == 0 {
            return bad("d_in is 0".into());
        }
        if self.d_sae == 0 {
            return bad("d_sae is 0".into());
        }
        match (self.architecture.uses_k(), self.k) {
            (true, None) => return bad(format!("architecture {} needs k", self.architecture)),
            (true, Some(k)) if k == 0 || k > self.d_sae => {
                return bad(format!("k = {k} is outside 1..={}", self.d_sae))
            }
            (false, Some(k)) => {
                return bad(format!(
                    "k = {k} given but architecture {} has no k",
                    self.architecture
                ))
            }
            _ => {}
        }
        if let Some(s) = self.norm_scale {
            if !(s.is_finite() && s > 0.0) {
                return bad(format!("norm_scale = {s} is not finite and positive"));
            }
        }
        Ok(())
    }
}
