//! Sensitivity-based shrinkage: LOBSTER (Tartaglione, Bragagnolo, Odierna, Fiandrotti &
//! Grangetto 2022) at weight level, and its neuron-level variant (the "NeuronLOBSTER" of the
//! authors' EIDOSearch library, after SeReNe, Tartaglione et al. 2021).

use std::collections::HashMap;

use burn::module::Module;
use burn::tensor::Tensor;
use burn_optim::GradientsParams;
use sparsekit_tensor::params::{map_params, ParamReader};

use crate::error::{check, RegError, Result};
use crate::select::Selector;

/// What a sensitivity is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// LOBSTER: `S_i = |∂L/∂w_i|` per weight.
    Weight,
    /// Per output neuron (a column of the matrix view, e.g. of a burn `Linear` weight
    /// `[d_in, d_out]`): `S_j = |∂L/∂b_j|`, the gradient of the neuron's bias, i.e. the loss
    /// gradient w.r.t. the neuron's pre-activation summed over the batch. The bias is the
    /// parameter at the sibling path (`l1.weight` → `l1.bias`); the neuron's weights and its
    /// bias shrink together.
    Neuron,
}

/// How a sensitivity `S` becomes an insensitivity `S̄ ∈ [0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Insensitivity {
    /// `S̄ = max(0, 1 − S)` (LOBSTER's definition).
    #[default]
    Clipped,
    /// `S̄ = 1 − S / max(S)` per tensor (the reference code's `rescaled` option).
    Rescaled,
}

/// Shrinks the parameters the loss is insensitive to, by LOBSTER's update
/// `w ← w − λ·w·S̄` (with `S`, `S̄` as in [`Level`] and [`Insensitivity`]).
///
/// Call [`apply`](Self::apply) with the gradients of the current step **before**
/// `optim.step`: with SGD the two together give the paper's
/// `w⁺ = w − η·∂L/∂w − λ·w·S̄(w)`. As in the authors' code, λ is used as given (it is not
/// multiplied by the learning rate).
///
/// Differences from the publications, on purpose: SeReNe proper measures a neuron's
/// sensitivity on the network *output* (`Σ_k |∂y_k/∂z_n|`, one extra backward pass per output);
/// [`Level::Neuron`] uses the loss, as the authors' NeuronLOBSTER does, and reads it from the
/// bias gradient instead of a backward hook (the same quantity up to the batch-mean factor);
/// there is no momentum on the neuron sensitivity.
#[derive(Debug, Clone)]
pub struct SensitivityShrink {
    selector: Selector,
    lambda: f64,
    level: Level,
    insensitivity: Insensitivity,
}

/// The bias path of a weight path: `a.b.weight` → `a.b.bias`, `weight` → `bias`.
fn bias_path(path: &str) -> String {
    match path.rsplit_once('.') {
        Some((prefix, _)) => format!("{prefix}.bias"),
        None => "bias".to_string(),
    }
}

impl SensitivityShrink {
    /// The parameters `pattern` selects (weights; for [`Level::Neuron`] each must have a
    /// sibling bias), λ ≥ 0, [`Insensitivity::Clipped`].
    pub fn new(pattern: &str, lambda: f64, level: Level) -> Result<Self> {
        check("lambda", lambda, lambda >= 0.0, "≥ 0 and finite")?;
        Ok(Self {
            selector: Selector::new(pattern)?,
            lambda,
            level,
            insensitivity: Insensitivity::Clipped,
        })
    }

    /// With another insensitivity function.
    pub fn with_insensitivity(mut self, insensitivity: Insensitivity) -> Self {
        self.insensitivity = insensitivity;
        self
    }

    fn insensitive(&self, s: Tensor<2>) -> Tensor<2> {
        match self.insensitivity {
            Insensitivity::Clipped => (-s + 1.0).clamp_min(0.0),
            Insensitivity::Rescaled => {
                let max = s.clone().max().clamp_min(1e-10);
                -(s / max.unsqueeze()) + 1.0
            }
        }
    }

    /// Applies `w ← w − λ·w·S̄` to the selected parameters (and, at neuron level, their
    /// biases) with the gradients `grads` of the current step. Selected parameters without a
    /// gradient are left alone; at neuron level a selected weight whose bias is missing, has no
    /// gradient or does not match its columns is an error.
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
    /// let shrink = SensitivityShrink::new("weight", 0.1, Level::Neuron).unwrap();
    /// let layer = shrink.apply(layer, &grads).unwrap();
    /// ```
    pub fn apply<M: Module>(&self, module: M, grads: &GradientsParams) -> Result<M> {
        // Gradients (as matrix views) by path.
        let read = ParamReader::detached().with_grads(grads).read(&module);
        let paths: Vec<String> = read.iter().map(|p| p.path.clone()).collect();
        let gmap: HashMap<String, Tensor<2>> = read
            .into_iter()
            .filter_map(|p| Some((p.path, p.grad?)))
            .collect();
        let selected: Vec<&String> = paths.iter().filter(|p| self.selector.matches(p)).collect();
        if selected.is_empty() {
            return Err(RegError::NoMatch(self.selector.pattern().to_string()));
        }
        // Factor (1 − λ·S̄) per path to scale, as a matrix broadcastable to the parameter's view.
        let mut factors: HashMap<String, Tensor<2>> = HashMap::new();
        for path in selected {
            let Some(g) = gmap.get(path) else { continue };
            match self.level {
                Level::Weight => {
                    let ins = self.insensitive(g.clone().abs());
                    factors.insert(path.clone(), -(ins * self.lambda) + 1.0);
                }
                Level::Neuron => {
                    let bp = bias_path(path);
                    let gb = gmap
                        .get(&bp)
                        .ok_or_else(|| RegError::NoMatch(format!("{bp} (gradient of the bias)")))?;
                    let [_, c] = g.dims();
                    let [br, bc] = gb.dims();
                    if br != 1 || bc != c {
                        return Err(RegError::Shape {
                            what: format!("bias {bp} of {path}"),
                            expected: vec![c],
                            got: vec![br, bc],
                        });
                    }
                    let ins = self.insensitive(gb.clone().abs());
                    let f = -(ins * self.lambda) + 1.0;
                    factors.insert(bp, f.clone());
                    factors.insert(path.clone(), f);
                }
            }
        }
        Ok(map_params(
            module,
            |_| true,
            |path, _, w| match factors.get(path) {
                Some(f) => {
                    let device = w.device();
                    w * f.clone().to_device(&device)
                }
                None => w,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::bias_path;

    #[test]
    fn bias_paths() {
        assert_eq!(bias_path("l1.weight"), "l1.bias");
        assert_eq!(bias_path("a.b.weight"), "a.b.bias");
        assert_eq!(bias_path("weight"), "bias");
    }
}
