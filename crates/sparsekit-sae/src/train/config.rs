//! Training hyper-parameters ([`TrainConfig`]), each with the default of the paper or library
//! it comes from.

use serde::{Deserialize, Serialize};

use super::adam::AdamConfig;
use super::init::BDecInit;
use crate::config::{Architecture, Precision, SaeConfig};
use crate::error::{Result, SaeError};

/// Which Adam updates the encoder and decoder rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    /// `torch.optim.Adam`: every value, every step.
    Adam,
    /// Lazy Adam: only rows of latents that fired (or received an AuxK gradient) this step.
    LazyAdam,
}

/// The k-sparse autoencoder's k annealing (Makhzani & Frey 2013): `k` falls linearly from
/// `start` to the target over the first `tokens` training tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KAnneal {
    /// Active latents per token at the start.
    pub start: usize,
    /// Tokens over which `k` reaches its target.
    pub tokens: u64,
}

/// Everything about training except the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Learning rate; `None`: `2e-4 / sqrt(d_sae / 2^14)` (Gao et al. 2024, sparsify's rule).
    pub lr: Option<f32>,
    /// Linear warm-up of the learning rate over this many steps (0: none).
    pub lr_warmup_steps: u64,
    /// Adam's constants.
    pub adam: AdamConfig,
    /// Dense or lazy Adam for the encoder and decoder rows.
    pub optimizer: Optimizer,
    /// How `b_dec` starts (from the first batch).
    pub b_dec_init: BDecInit,
    /// Keep decoder rows at unit norm, removing the gradient component parallel to each row
    /// before the step (Gao et al. 2024); `None`: on for TopK and BatchTopK.
    pub normalize_decoder: Option<bool>,
    /// k annealing (TopK, BatchTopK).
    pub k_anneal: Option<KAnneal>,
    /// AuxK: dead latents considered per token; `None`: `d_in / 2` (Gao et al. 2024, B.1).
    pub aux_k: Option<usize>,
    /// AuxK coefficient (1/32; 0 turns AuxK off).
    pub aux_coefficient: f32,
    /// A latent is dead after this many tokens without firing (10M, as sparsify).
    pub dead_after_tokens: u64,
    /// ReLU and Gated: coefficient of the decoder-norm-weighted L1 penalty.
    pub l1_coefficient: f32,
    /// JumpReLU: coefficient of the L0 penalty.
    pub l0_coefficient: f32,
    /// JumpReLU: rectangle-kernel bandwidth ε of the straight-through estimator (SAELens 0.001).
    pub bandwidth: f32,
    /// JumpReLU: initial threshold (SAELens 0.001).
    pub threshold_init: f32,
    /// BatchTopK: EMA factor of the inference threshold (the mean minimum positive activation).
    pub threshold_beta: f32,
    /// Seed of the initial weights.
    pub seed: u64,
    /// Arithmetic of the encoder's dense product.
    #[serde(default)]
    pub precision: Precision,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            lr: None,
            lr_warmup_steps: 0,
            adam: AdamConfig::default(),
            optimizer: Optimizer::Adam,
            b_dec_init: BDecInit::GeometricMedian,
            normalize_decoder: None,
            k_anneal: None,
            aux_k: None,
            aux_coefficient: 1.0 / 32.0,
            dead_after_tokens: 10_000_000,
            l1_coefficient: 1.0,
            l0_coefficient: 1.0,
            bandwidth: 0.001,
            threshold_init: 0.001,
            threshold_beta: 0.999,
            seed: 0,
            precision: Precision::Auto,
        }
    }
}

impl TrainConfig {
    /// The learning rate for an SAE of `d_sae` latents.
    pub fn lr_for(&self, d_sae: usize) -> f32 {
        self.lr
            .unwrap_or_else(|| 2e-4 / (d_sae as f32 / 16384.0).sqrt())
    }

    /// Whether decoder rows are kept at unit norm for `arch`.
    pub fn normalizes_decoder(&self, arch: Architecture) -> bool {
        self.normalize_decoder
            .unwrap_or(matches!(arch, Architecture::TopK | Architecture::BatchTopK))
    }

    /// AuxK's `k_aux` for an input width.
    pub fn aux_k_for(&self, d_in: usize) -> usize {
        self.aux_k.unwrap_or((d_in / 2).max(1))
    }

    /// Checks the values against the SAE they will train.
    pub fn validate(&self, sae: &SaeConfig) -> Result<()> {
        let bad = |m: String| Err(SaeError::Config(m));
        let lr = self.lr_for(sae.d_sae);
        if !(lr.is_finite() && lr > 0.0) {
            return bad(format!("learning rate {lr} is not finite and positive"));
        }
        let a = &self.adam;
        if !(0.0..1.0).contains(&a.beta1)
            || !(0.0..1.0).contains(&a.beta2)
            || a.eps.is_nan()
            || a.eps <= 0.0
        {
            return bad(format!("Adam betas must be in [0, 1) and eps > 0: {a:?}"));
        }
        for (name, v) in [
            ("aux_coefficient", self.aux_coefficient),
            ("l1_coefficient", self.l1_coefficient),
            ("l0_coefficient", self.l0_coefficient),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("{name} = {v} is not finite and ≥ 0"));
            }
        }
        if !(self.bandwidth.is_finite() && self.bandwidth > 0.0) {
            return bad(format!("bandwidth = {} is not positive", self.bandwidth));
        }
        if !(self.threshold_init.is_finite() && self.threshold_init > 0.0) {
            return bad(format!(
                "threshold_init = {} is not positive",
                self.threshold_init
            ));
        }
        if !(0.0..1.0).contains(&self.threshold_beta) {
            return bad(format!(
                "threshold_beta = {} is not in [0, 1)",
                self.threshold_beta
            ));
        }
        if let Some(ka) = self.k_anneal {
            let k = sae.k.unwrap_or(0);
            if !sae.architecture.uses_k() {
                return bad(format!(
                    "k annealing needs TopK or BatchTopK, not {}",
                    sae.architecture
                ));
            }
            if ka.start < k || ka.start > sae.d_sae {
                return bad(format!(
                    "k annealing starts at {} but must start in {k}..={}",
                    ka.start, sae.d_sae
                ));
            }
        }
        if self.aux_k == Some(0) {
            return bad("aux_k is 0 (set aux_coefficient = 0 to turn AuxK off)".into());
        }
        Ok(())
    }
}
