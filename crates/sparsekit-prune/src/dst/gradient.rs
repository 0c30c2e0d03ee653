//! The dense weight gradient RigL and SRigL grow by, computed only at update steps.
//!
//! A [`SparseLinear`]'s backward pass is sparse: it yields `∂L/∂W` at the stored positions only
//! (an SDDMM). RigL needs `|∂L/∂W|` at the *inactive* positions too, i.e. the dense product
//! `dYᵀ·X` for one batch. Two ways to get it, both costing one dense `b × d_in × d_out` product
//! at update steps and nothing at the other steps:
//!
//! - [`dense_gradient`]`(x, dy)`: when the loop already has the layer input `X` and the
//!   gradient `dY` of its output.
//! - [`forward_probed`]: the layer's forward plus `X·Zᵀ` with a zero dense leaf `Z`
//!   (`d_out × d_in`). The output is unchanged (`Z = 0`), the model's gradients are unchanged
//!   (the probe's input is detached), and after `backward` the gradient of `Z` is exactly
//!   `dYᵀ·X`. This is the convenient path: a model's `forward` takes a flag and calls
//!   `forward_probed` instead of `forward` at update steps (see the [module docs](super)).
//!
//! We chose the probe over a `MaskedLinear` twin because it keeps the model's own parameters
//! and graph (no copy of the weights, no second model to keep in sync) and costs the same one
//! dense product as the paper's implementation.

use burn::tensor::{Gradients, Tensor};
use sparsekit_tensor::SparseLinear;

use crate::error::{PruneError, Result};

/// `∂L/∂W = dYᵀ·X` (`d_out × d_in`) from a layer input `x` (`b × d_in`) and the gradient `dy`
/// (`b × d_out`) of the layer output. Computed detached from any autodiff graph.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use sparsekit_prune::dst::dense_gradient;
/// let device = Device::flex();
/// let x = Tensor::<2>::from_floats([[1.0, 2.0, 3.0]], &device);
/// let dy = Tensor::<2>::from_floats([[1.0], [2.0]], &device).transpose(); // 1 × 2
/// let g = dense_gradient(x, dy)?;
/// assert_eq!(g.into_data().to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0, 2.0, 4.0, 6.0]);
/// # Ok::<(), sparsekit_prune::PruneError>(())
/// ```
pub fn dense_gradient(x: Tensor<2>, dy: Tensor<2>) -> Result<Tensor<2>> {
    let [bx, _] = x.dims();
    let [by, _] = dy.dims();
    if bx != by {
        return Err(PruneError::Shape(format!(
            "layer input has {bx} rows, output gradient {by}"
        )));
    }
    Ok(dy.detach().transpose().matmul(x.detach()))
}

/// The zero dense leaf added by [`forward_probed`]; read its gradient after `backward`.
#[derive(Debug, Clone)]
pub struct GradientProbe {
    z: Tensor<2>,
}

/// `layer.forward(x) + x.detach()·Zᵀ` with a zero leaf `Z` (`d_out × d_in`, requiring grad):
/// the same output as `layer.forward(x)`, and after `backward` the [`GradientProbe`] holds the
/// dense weight gradient `dYᵀ·X` summed over all leading dimensions of `x`.
///
/// `x` must live on an autodiff device for the probe to receive a gradient (otherwise
/// [`GradientProbe::gradient`] returns an error).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use sparsekit_prune::dst::forward_probed;
/// use sparsekit_tensor::SparseLinearConfig;
/// let device = Device::flex().autodiff();
/// let layer = SparseLinearConfig::new(4, 3).with_sparsity(0.5).with_seed(Some(1)).init(&device);
/// let x = Tensor::<2>::ones([2, 4], &device);
/// let (y, probe) = forward_probed(&layer, x);
/// let grads = y.sum().backward();
/// let g = probe.gradient(&grads)?; // d_out × d_in, every entry = batch size
/// assert_eq!(g.into_data().to_vec::<f32>().unwrap(), vec![2.0; 12]);
/// # Ok::<(), sparsekit_prune::PruneError>(())
/// ```
pub fn forward_probed<const D: usize>(
    layer: &SparseLinear,
    x: Tensor<D>,
) -> (Tensor<D>, GradientProbe) {
    let device = x.device();
    let z = Tensor::<2>::zeros([layer.d_output, layer.d_input], &device);
    // Without autodiff there is no gradient to collect (and require_grad would panic).
    let z = if device.is_autodiff() {
        z.require_grad()
    } else {
        z
    };
    let y = layer.forward(x.clone());
    let dims = x.dims();
    let batch: usize = dims[..D - 1].iter().product();
    let x2 = x.detach().reshape([batch, layer.d_input]);
    let extra = x2.matmul(z.clone().transpose());
    let mut out = dims;
    out[D - 1] = layer.d_output;
    (y + extra.reshape(out), GradientProbe { z })
}

impl GradientProbe {
    /// The dense gradient `∂L/∂W` (`d_out × d_in`, not on an autodiff graph).
    ///
    /// [`PruneError::InvalidArgument`] when `grads` holds no gradient for the probe (the forward
    /// did not run on an autodiff device, or the loss does not depend on this layer).
    pub fn gradient(&self, grads: &Gradients) -> Result<Tensor<2>> {
        self.z.grad(grads).ok_or_else(|| {
            PruneError::InvalidArgument(
                "no gradient for the probe: run forward_probed on an autodiff device and \
                 call backward on a loss that depends on it"
                    .into(),
            )
        })
    }
}
