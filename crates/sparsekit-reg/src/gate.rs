//! Hard-concrete gates for L0 regularization (Louizos, Welling & Kingma 2018).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Distribution, Tensor};

use crate::error::{check, Result as Res};
use crate::penalty::L0;

/// Configuration of a [`HardConcreteGate`].
#[derive(Config, Debug)]
pub struct HardConcreteGateConfig {
    /// Number of gates (e.g. neurons of a layer).
    pub size: usize,
    /// Temperature β.
    #[config(default = "2.0 / 3.0")]
    pub beta: f64,
    /// Lower stretch γ < 0.
    #[config(default = -0.1)]
    pub gamma: f64,
    /// Upper stretch ζ > 1.
    #[config(default = 1.1)]
    pub zeta: f64,
    /// Initial drop rate p ∈ (0, 1): `log_alpha` starts at `ln(1 − p) − ln p` plus N(0, 0.01²)
    /// noise, as in the paper's code.
    #[config(default = 0.5)]
    pub droprate_init: f64,
}

impl HardConcreteGateConfig {
    /// Builds the gate; errors on out-of-range hyper-parameters.
    ///
    /// ```
    /// use burn::tensor::Device;
    /// use sparsekit_reg::HardConcreteGateConfig;
    /// let gate = HardConcreteGateConfig::new(8).init(&Device::flex()).unwrap();
    /// assert_eq!(gate.gates(false).dims(), [8]);
    /// assert!(HardConcreteGateConfig::new(8).with_zeta(0.5).init(&Device::flex()).is_err());
    /// ```
    pub fn init(&self, device: &Device) -> Res<HardConcreteGate> {
        let l0 = L0::new(self.beta, self.gamma, self.zeta)?;
        let p = self.droprate_init;
        check("droprate_init", p, p > 0.0 && p < 1.0, "in (0, 1)")?;
        let mean = (1.0 - p).ln() - p.ln();
        let la = Tensor::<1>::random([self.size], Distribution::Normal(mean, 0.01), device);
        Ok(HardConcreteGate {
            log_alpha: Param::from_tensor(la),
            beta: l0.beta,
            gamma: l0.gamma,
            zeta: l0.zeta,
        })
    }
}

/// A vector of hard-concrete gates `z ∈ [0, 1]^n` with trainable `log_alpha`.
///
/// Training: `u ~ U(0, 1)`, `s = sigmoid((ln u − ln(1 − u) + log_alpha) / β)`,
/// `z = clamp(s·(ζ − γ) + γ, 0, 1)` (reparameterized, differentiable in `log_alpha`).
/// Test: `z = clamp(sigmoid(log_alpha)·(ζ − γ) + γ, 0, 1)`. The expected number of non-zero
/// gates is `Σ sigmoid(log_alpha − β·ln(−γ/ζ))` ([`expected_l0`](Self::expected_l0), or the
/// [`L0`] regularizer on the path `**.log_alpha`).
#[derive(Module, Debug)]
pub struct HardConcreteGate {
    /// Gate logits.
    pub log_alpha: Param<Tensor<1>>,
    /// Temperature β.
    pub beta: f64,
    /// Lower stretch γ.
    pub gamma: f64,
    /// Upper stretch ζ.
    pub zeta: f64,
}

impl HardConcreteGate {
    /// Number of gates.
    pub fn size(&self) -> usize {
        self.log_alpha.val().dims()[0]
    }

    /// Sampled gates (`sample = true`, for training) or the deterministic test-time gates.
    pub fn gates(&self, sample: bool) -> Tensor<1> {
        let la = self.log_alpha.val();
        let s = if sample {
            let u = Tensor::<1>::random(
                la.dims(),
                Distribution::Uniform(1e-6, 1.0 - 1e-6),
                &la.device(),
            );
            let logit = u.clone().log() - (u.neg() + 1.0).log();
            sigmoid((logit + la) / self.beta)
        } else {
            sigmoid(la)
        };
        (s * (self.zeta - self.gamma) + self.gamma).clamp(0.0, 1.0)
    }

    /// `x · z` with the gates broadcast over the last dimension of `x`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>, sample: bool) -> Tensor<D> {
        let n = self.size();
        let mut shape = [1usize; D];
        shape[D - 1] = n;
        x * self.gates(sample).reshape(shape)
    }

    /// Expected L0 norm `Σ sigmoid(log_alpha − β·ln(−γ/ζ))`, differentiable.
    pub fn expected_l0(&self) -> Tensor<1> {
        L0 {
            beta: self.beta,
            gamma: self.gamma,
            zeta: self.zeta,
        }
        .expected_l0(self.log_alpha.val())
    }

    /// Number of test-time gates that are exactly 0 (the units they remove).
    pub fn closed(&self) -> usize {
        let z = self.gates(false).inner().into_data().convert::<f32>();
        z.iter::<f32>().filter(|&v| v == 0.0).count()
    }
}
