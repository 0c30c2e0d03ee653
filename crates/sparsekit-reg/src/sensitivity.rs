//! Sensitivity-based shrinkage: LOBSTER (Tartaglione et al. 2022) at weight level and a
//! SeReNe-style (Tartaglione et al. 2021) neuron level.

use std::collections::HashMap;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;
use burn_optim::GradientsParams;

use crate::error::{check, Result};
use crate::select::{map_selected, view2, Selector};

/// Weight-level or neuron-level sensitivity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `S_i = |∂L/∂w_i · w_i|` per weight (LOBSTER).
    Weight,
    /// One sensitivity per column of the matrix view (an output neuron of a burn `Linear`):
    /// `S_j = Σ_i |∂L/∂w_ij · w_ij|`, shared by the neuron's weights (SeReNe-style; SeReNe
    /// measures the sensitivity of the network output to the neuron, this uses the loss).
    Neuron,
}

/// Shrinks the weights the loss is insensitive to:
/// `w ← w − lr·λ·w·1[S/max(S) < threshold]`, with `S` as in [`Level`], after the optimizer step.
///
/// Simplification: LOBSTER's insensitivity is a smooth function of `S`; here it is a hard
/// relative threshold, per parameter tensor.
#[derive(Debug, Clone)]
pub struct SensitivityShrink {
    selector: Selector,
    lambda: f64,
    threshold: f64,
    level: Level,
}

impl SensitivityShrink {
    /// `lambda` ≥ 0, `threshold` ∈ [0, 1] relative to the largest sensitivity of the tensor.
    pub fn new(pattern: &str, lambda: f64, threshold: f64, level: Level) -> Result<Self> {
        check("lambda", lambda, lambda >= 0.0, "≥ 0 and finite")?;
        check(
            "threshold",
            threshold,
            (0.0..=1.0).contains(&threshold),
            "in [0, 1]",
        )?;
        Ok(Self {
            selector: Selector::new(pattern)?,
            lambda,
            threshold,
            level,
        })
    }

    /// Applies the shrinkage with the gradients `grads` of the module's parameters (those of the
    /// step just taken). Parameters without a gradient are left alone.
    ///
    /// ```
    /// use burn::module::Module;
    /// use burn::nn::LinearConfig;
    /// use burn::tensor::{Device, Tensor};
    /// use burn_optim::GradientsParams;
    /// use sparsekit_reg::{Level, SensitivityShrink};
    /// let dev = Device::flex().autodiff();
    /// let layer = LinearConfig::new(4, 3).init(&dev);
    /// let x = Tensor::<2>::ones([2, 4], &dev);
    /// let grads = GradientsParams::from_grads(layer.forward(x).sum().backward(), &layer);
    /// let shrink = SensitivityShrink::new("weight", 0.1, 0.5, Level::Weight).unwrap();
    /// let layer = shrink.apply(layer, &grads, 1.0).unwrap();
    /// ```
    pub fn apply<M: Module>(&self, module: M, grads: &GradientsParams, lr: f64) -> Result<M> {
        check("lr", lr, lr >= 0.0, "≥ 0 and finite")?;
        struct G<'a> {
            grads: &'a GradientsParams,
            out: HashMap<ParamId, Tensor<2>>,
        }
        impl ModuleVisitor for G<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                if let Some(g) = self.grads.get::<D>(param.id) {
                    let [r, c] = view2(&g.dims());
                    self.out.insert(param.id, g.reshape([r, c]));
                }
            }
        }
        let mut v = G {
            grads,
            out: HashMap::new(),
        };
        module.visit(&mut v);
        let gmap = v.out;
        let shrink = lr * self.lambda;
        Ok(map_selected(module, &self.selector, &mut |_, id, w| {
            let Some(g) = gmap.get(&id) else { return w };
            let g = g.clone().to_device(&w.device());
            let s = (g * w.clone()).abs();
            let s = match self.level {
                Level::Weight => s,
                Level::Neuron => s.sum_dim(0),
            };
            let max = s.clone().max().clamp_min(1e-30);
            let rel = s / max.unsqueeze();
            let insensitive = rel.lower_elem(self.threshold).float();
            w.clone() - w * insensitive * shrink
        }))
    }
}
