//! Proximal operators, applied to parameters after an optimizer step.
//!
//! `prox_{t·φ}(x) = argmin_y ½‖y − x‖² + t·φ(y)`, with `t = lr × strength` in a
//! [`ProximalStep`].

use std::fmt::Debug;

use burn::module::Module;
use burn::tensor::Tensor;

use crate::error::{check, RegError, Result};
use crate::groups::{GroupWeights, Groups};
use crate::schedule::Schedule;
use crate::select::{select, Selector};
use sparsekit_tensor::params::{collect_params_detached, map_params};

/// A proximal operator on a parameter's matrix view (see [`ParamEntry`](crate::ParamEntry)).
pub trait ProxOp: Debug + Send + Sync {
    /// Checks that the operator applies to a parameter of 2-D shape `shape` (groups).
    fn validate(&self, _path: &str, _shape: [usize; 2]) -> Result<()> {
        Ok(())
    }

    /// `prox_{t·φ}(w)`, `t ≥ 0`, computed outside the autodiff graph.
    fn prox(&self, w: Tensor<2>, t: f64) -> Result<Tensor<2>>;
}

impl<P: ProxOp + ?Sized> ProxOp for Box<P> {
    fn validate(&self, path: &str, shape: [usize; 2]) -> Result<()> {
        (**self).validate(path, shape)
    }
    fn prox(&self, w: Tensor<2>, t: f64) -> Result<Tensor<2>> {
        (**self).prox(w, t)
    }
}

/// Applies a proximal operator to (some of) a module's parameters.
pub trait Proximal {
    /// The module with the operator applied, step `t = lr × strength`.
    fn apply<M: Module>(&self, module: M, lr: f64) -> Result<M>;
}

fn check_t(t: f64) -> Result<()> {
    check("prox step t", t, t >= 0.0, "≥ 0 and finite")
}

/// Soft threshold, the prox of `t·‖w‖₁`: `sign(w)·max(|w| − t, 0)` (Donoho 1995; ISTA).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use sparsekit_reg::{ProxOp, SoftThreshold};
/// let w = Tensor::<2>::from_floats([[1.5, -0.2, -3.0]], &Device::flex());
/// let p = SoftThreshold.prox(w, 1.0).unwrap();
/// assert_eq!(p.into_data().to_vec::<f32>().unwrap(), vec![0.5, 0.0, -2.0]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SoftThreshold;

impl ProxOp for SoftThreshold {
    fn prox(&self, w: Tensor<2>, t: f64) -> Result<Tensor<2>> {
        check_t(t)?;
        Ok(w.clone() - w.clamp(-t, t))
    }
}

/// Group soft threshold, the prox of `t·Σ_g c_g‖w_g‖₂`: `w_g·max(0, 1 − t·c_g/‖w_g‖₂)`.
/// Custom groups must be disjoint.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSoftThreshold {
    groups: Groups,
    weights: GroupWeights,
}

impl GroupSoftThreshold {
    /// Groups and multipliers `c_g`.
    pub fn new(groups: Groups, weights: GroupWeights) -> Result<Self> {
        weights.validate()?;
        Ok(Self { groups, weights })
    }
}

impl ProxOp for GroupSoftThreshold {
    fn validate(&self, path: &str, shape: [usize; 2]) -> Result<()> {
        self.groups.resolve(path, shape, true).map(|_| ())
    }

    fn prox(&self, w: Tensor<2>, t: f64) -> Result<Tensor<2>> {
        check_t(t)?;
        let [r, c] = w.dims();
        let res = self.groups.resolve("", [r, c], true)?;
        let cg = self.weights.tensor("", [r, c], &res, &w)?;
        let norm = self.groups.sq_norms(&w, &res).sqrt();
        let factor = (-(cg * t) / norm.clamp_min(1e-30) + 1.0).clamp_min(0.0);
        Ok(self.groups.scale(w, factor, &res))
    }
}

/// Hard threshold, the prox of `t·‖w‖₀`: keeps `w` where `|w| > √(2t)`, else 0.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HardThreshold;

impl ProxOp for HardThreshold {
    fn prox(&self, w: Tensor<2>, t: f64) -> Result<Tensor<2>> {
        check_t(t)?;
        let thr = (2.0 * t).sqrt();
        let small = w.clone().abs().lower_equal_elem(thr);
        Ok(w.mask_fill(small, 0.0))
    }
}

/// `firm(w; λ, μ)`: 0 if `|w| ≤ λ`, `sign(w)·μ(|w| − λ)/(μ − λ)` if `λ < |w| ≤ μ`, else `w`.
fn firm(w: Tensor<2>, lambda: f64, mu: f64) -> Tensor<2> {
    let a = w.clone().abs();
    let mid = w.clone().sign() * (a.clone() - lambda) * (mu / (mu - lambda));
    w.mask_where(a.clone().lower_equal_elem(mu), mid)
        .mask_fill(a.lower_equal_elem(lambda), 0.0)
}

/// Firm threshold (Gao & Bruce 1997) with `λ = t`, `μ = ratio·t`, ratio > 1: 0 below λ, linear
/// between, identity above μ. Non-convex: it is the prox of MCP (see [`Mcp`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Firm {
    ratio: f64,
}

impl Firm {
    /// `ratio = μ/λ` > 1.
    pub fn new(ratio: f64) -> Result<Self> {
        check("ratio", ratio, ratio > 1.0, "> 1")?;
        Ok(Self { ratio })
    }
}

impl ProxOp for Firm {
    fn prox(&self, w: Tensor<2>, t: f64) -> Result<Tensor<2>> {
        check_t(t)?;
        if t == 0.0 {
            return Ok(w);
        }
        Ok(firm(w, t, self.ratio * t))
    }
}

/// Prox of the minimax concave penalty (Zhang 2010), `t·Σ ρ(w)` with
/// `ρ(w) = |w| − w²/(2γt)` for `|w| ≤ γt`, `γt/2` beyond (γ > 1): the firm threshold with
/// λ = t, μ = γt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mcp {
    gamma: f64,
}

impl Mcp {
    /// γ > 1.
    pub fn new(gamma: f64) -> Result<Self> {
        check("gamma", gamma, gamma > 1.0, "> 1")?;
        Ok(Self { gamma })
    }
}

impl ProxOp for Mcp {
    fn prox(&self, w: Tensor<2>, t: f64) -> Result<Tensor<2>> {
        check_t(t)?;
        if t == 0.0 {
            return Ok(w);
        }
        Ok(firm(w, t, self.gamma * t))
    }
}

/// Prox of SCAD (Fan & Li 2001) with parameter a > 2 and threshold t: `soft(w, t)` for
/// `|w| ≤ 2t`, `((a − 1)w − sign(w)·a·t)/(a − 2)` for `2t < |w| ≤ a·t`, `w` beyond.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scad {
    a: f64,
}

impl Scad {
    /// a > 2 (3.7 in the paper).
    pub fn new(a: f64) -> Result<Self> {
        check("a", a, a > 2.0, "> 2")?;
        Ok(Self { a })
    }
}

impl Default for Scad {
    fn default() -> Self {
        Self { a: 3.7 }
    }
}

impl ProxOp for Scad {
    fn prox(&self, w: Tensor<2>, t: f64) -> Result<Tensor<2>> {
        check_t(t)?;
        let a = self.a;
        let abs = w.clone().abs();
        let soft = w.clone() - w.clone().clamp(-t, t);
        let mid = (w.clone() * (a - 1.0) - w.clone().sign() * (a * t)) / (a - 2.0);
        Ok(w.mask_where(abs.clone().lower_equal_elem(a * t), mid)
            .mask_where(abs.lower_equal_elem(2.0 * t), soft))
    }
}

/// Half thresholding (Xu, Chang, Xu & Zhang 2012), the prox of `t·Σ|w|^{1/2}`: with `λ = 2t`,
/// `(2/3)·w·(1 + cos(2π/3 − (2/3)·φ(w)))`, `φ(w) = arccos((λ/8)·(|w|/3)^{−3/2})`, where
/// `|w| > (∛54/4)·λ^{2/3}`, else 0. Non-convex.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HalfThreshold;

impl ProxOp for HalfThreshold {
    fn prox(&self, w: Tensor<2>, t: f64) -> Result<Tensor<2>> {
        check_t(t)?;
        if t == 0.0 {
            return Ok(w);
        }
        let lambda = 2.0 * t;
        let thr = 54f64.cbrt() / 4.0 * lambda.powf(2.0 / 3.0);
        let a = w.clone().abs();
        let arg = ((a.clone().clamp_min(1e-30) / 3.0).powf_scalar(-1.5) * (lambda / 8.0))
            .clamp(-1.0, 1.0);
        let phi = arg.acos();
        let out = w
            * ((-(phi * (2.0 / 3.0)) + 2.0 * std::f64::consts::PI / 3.0).cos() + 1.0)
            * (2.0 / 3.0);
        Ok(out.mask_fill(a.lower_equal_elem(thr), 0.0))
    }
}

/// A [`ProxOp`] applied to the parameters a pattern selects, with step `t = lr × strength ×
/// schedule(step)`; implements [`Proximal`].
///
/// ```
/// use burn::nn::LinearConfig;
/// use burn::tensor::Device;
/// use sparsekit_reg::{Proximal, ProximalStep, SoftThreshold};
/// let layer = LinearConfig::new(4, 3).init(&Device::flex());
/// let step = ProximalStep::new(SoftThreshold, "weight", 10.0).unwrap();
/// let layer = step.apply(layer, 1.0).unwrap(); // t = 10: every weight goes to 0
/// let zeros: f32 = layer.weight.val().abs().sum().into_scalar();
/// assert_eq!(zeros, 0.0);
/// ```
#[derive(Debug, Clone)]
pub struct ProximalStep<P> {
    /// The operator.
    pub op: P,
    /// Which parameters.
    pub selector: Selector,
    /// Strength multiplying the learning rate.
    pub strength: f64,
    /// Strength schedule (constant unless set).
    pub schedule: Schedule,
}

impl<P: ProxOp> ProximalStep<P> {
    /// `op` on the parameters matching `pattern`, `strength` ≥ 0.
    pub fn new(op: P, pattern: &str, strength: f64) -> Result<Self> {
        check("strength", strength, strength >= 0.0, "≥ 0 and finite")?;
        Ok(Self {
            op,
            selector: Selector::new(pattern)?,
            strength,
            schedule: Schedule::constant(),
        })
    }

    /// With a strength schedule (used by [`apply_at`](Self::apply_at)).
    pub fn with_schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// [`Proximal::apply`] with the schedule evaluated at `step`.
    pub fn apply_at<M: Module>(&self, module: M, lr: f64, step: usize) -> Result<M> {
        self.apply_t(module, lr * self.strength * self.schedule.factor(step))
    }

    fn apply_t<M: Module>(&self, module: M, t: f64) -> Result<M> {
        check_t(t)?;
        let params = collect_params_detached(&module);
        for p in select(&params, &self.selector)? {
            self.op.validate(&p.path, p.shape())?;
        }
        drop(params);
        let mut err: Option<RegError> = None;
        let out = map_params(
            module,
            |p| self.selector.matches(p),
            |_, _, w| match self.op.prox(w.clone(), t) {
                Ok(v) => v,
                Err(e) => {
                    err.get_or_insert(e);
                    w
                }
            },
        );
        match err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

impl<P: ProxOp> Proximal for ProximalStep<P> {
    fn apply<M: Module>(&self, module: M, lr: f64) -> Result<M> {
        self.apply_t(module, lr * self.strength)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A proximal step reads the parameters outside the autodiff graph (see
    /// `sparsekit_tensor::params::ParamReader::detached`) and gives them back trainable.
    #[test]
    fn proximal_step_keeps_parameters_trainable() {
        use burn::nn::LinearConfig;
        use burn::tensor::Device;
        let layer = LinearConfig::new(4, 3).init(&Device::flex().autodiff());
        let before = layer
            .weight
            .val()
            .inner()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let layer = ProximalStep::new(SoftThreshold, "weight", 0.1)
            .unwrap()
            .apply(layer, 1e-3)
            .unwrap();
        let w = layer.weight.val();
        assert!(w.is_autodiff() && w.is_require_grad());
        // Soft thresholding at t = 1e-4: every weight moves 1e-4 towards zero (or to zero).
        let after = w.inner().into_data().try_to_vec::<f32>().unwrap();
        for (b, a) in before.iter().zip(&after) {
            let want = b.signum() * (b.abs() - 1e-4).max(0.0);
            assert!((a - want).abs() < 1e-7, "{b} became {a}, expected {want}");
        }
    }
}
