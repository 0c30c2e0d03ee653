//! [`DynamicSparsity`]: the stateful updater a training loop calls every step.

use burn::tensor::{Tensor, TensorData};
use burn_optim::ModuleOptimizer;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use sparsekit_tensor::{SparseLinear, SparseTensor, Structure};

use super::drop_grow::{rigl_update, set_update, PatternUpdate};
use super::optim_state::remap_optimizer_state;
use super::srigl::srigl_update;
use super::{DstConfig, DstMethod, IndexMap};
use crate::error::{PruneError, Result};

/// What the grow step may look at.
// A tensor handle is large but the signal is built once per layer update; boxing would only
// make call sites noisier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum GrowSignal {
    /// Nothing (enough for SET, an error for RigL and SRigL).
    None,
    /// The dense gradient `∂L/∂W` of the layer's weight (`d_output × d_input`), e.g. from
    /// [`forward_probed`](super::forward_probed) or [`dense_gradient`](super::dense_gradient).
    DenseGradient(Tensor<2>),
}

/// Dynamic sparse training: rebuilds the pattern of [`SparseLinear`] layers every `ΔT` steps
/// (drop by magnitude, grow at random or by gradient), preserving nnz exactly and giving grown
/// weights the value zero.
///
/// Its state (the configuration and the number of layer updates done, which seeds SET's
/// random growth) is serializable with serde, so a checkpoint can resume the same sequence:
///
/// ```
/// use sparsekit_prune::dst::{DstConfig, DstMethod, DynamicSparsity};
/// let dst = DstConfig::new(DstMethod::Set).with_t_end(Some(1000)).init()?;
/// let json = serde_json::to_string(&dst).unwrap();
/// let back: DynamicSparsity = serde_json::from_str(&json).unwrap();
/// assert_eq!(back.config().t_end, Some(1000));
/// # Ok::<(), sparsekit_prune::PruneError>(())
/// ```
///
/// A full training loop is in the [module docs](super).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DynamicSparsity {
    config: DstConfig,
    layer_updates: u64,
}

impl DynamicSparsity {
    pub(crate) fn from_config(config: DstConfig) -> Self {
        DynamicSparsity {
            config,
            layer_updates: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DstConfig {
        &self.config
    }

    /// Number of layer updates performed so far.
    pub fn layer_updates(&self) -> u64 {
        self.layer_updates
    }

    /// Whether step `t` rebuilds the pattern: `t > 0`, `t` a multiple of `ΔT`, `t < T_end`
    /// (when set), and a positive drop fraction.
    pub fn is_update_step(&self, t: usize) -> bool {
        self.config.delta_t > 0
            && t > 0
            && t % self.config.delta_t == 0
            && self.config.t_end.is_none_or(|e| t < e)
            && self.config.drop_fraction(t) > 0.0
    }

    /// Whether the method grows by gradient (RigL, SRigL): then the loop must pass a
    /// [`GrowSignal::DenseGradient`] at update steps.
    pub fn needs_gradient(&self) -> bool {
        self.config.method != DstMethod::Set
    }

    /// The drop fraction `ζ_t` at step `t` (see [`DstConfig::drop_fraction`]).
    pub fn drop_fraction(&self, t: usize) -> f64 {
        self.config.drop_fraction(t)
    }

    /// Updates one layer at step `t`. Outside update steps the layer is returned unchanged with
    /// the identity map. The values parameter keeps its [`ParamId`](burn::module::ParamId),
    /// its length and its autodiff setting; pass the returned map to
    /// [`remap_optimizer_state`] (or use [`update_with_optimizer`](Self::update_with_optimizer)).
    ///
    /// Errors: an invalid configuration, a RigL/SRigL update without gradient, a gradient of
    /// the wrong shape ([`PruneError::Shape`]), an SRigL layer without constant fan-in.
    pub fn update(
        &mut self,
        layer: SparseLinear,
        t: usize,
        signal: GrowSignal,
    ) -> Result<(SparseLinear, IndexMap)> {
        self.config.validate()?;
        if !self.is_update_step(t) {
            let n = layer.nnz();
            return Ok((layer, IndexMap::identity(n)));
        }
        let fraction = self.config.drop_fraction(t);
        let pattern = layer.pattern();
        let values = host_f32(layer.values.val())?;
        let up = match self.config.method {
            DstMethod::Set => {
                let mut rng =
                    rand::rngs::StdRng::seed_from_u64(mix(self.config.seed, self.layer_updates));
                set_update(&pattern, &values, fraction, &mut rng)?
            }
            DstMethod::RigL => {
                let g = gradient_host(signal, &layer)?;
                rigl_update(&pattern, &values, fraction, &g)?
            }
            DstMethod::SRigL => {
                let g = gradient_host(signal, &layer)?;
                srigl_update(&pattern, &values, fraction, &g, self.config.gamma_sal)?
            }
        };
        self.layer_updates += 1;
        let map = up.map.clone();
        Ok((with_pattern(layer, up)?, map))
    }

    /// [`update`](Self::update), then [`remap_optimizer_state`] for the layer's values, so
    /// that Adam (or any optimizer with per-value state) continues with the surviving weights'
    /// moments and zero moments for grown ones.
    pub fn update_with_optimizer(
        &mut self,
        layer: SparseLinear,
        t: usize,
        signal: GrowSignal,
        optim: &mut ModuleOptimizer,
    ) -> Result<SparseLinear> {
        let (layer, map) = self.update(layer, t, signal)?;
        remap_optimizer_state(optim, &[(layer.values.id, &map)])?;
        Ok(layer)
    }

    /// Updates several layers at step `t` (e.g. every `SparseLinear` of a model), each with its
    /// signal (`signals` may be empty for SET), and remaps the optimizer state of all of them in
    /// one pass when `optim` is given.
    pub fn update_layers(
        &mut self,
        layers: Vec<SparseLinear>,
        t: usize,
        signals: Vec<GrowSignal>,
        optim: Option<&mut ModuleOptimizer>,
    ) -> Result<Vec<SparseLinear>> {
        if !signals.is_empty() && signals.len() != layers.len() {
            return Err(PruneError::Shape(format!(
                "{} signals for {} layers",
                signals.len(),
                layers.len()
            )));
        }
        let mut signals = signals.into_iter();
        let mut out = Vec::with_capacity(layers.len());
        let mut maps = Vec::with_capacity(layers.len());
        for layer in layers {
            let signal = signals.next().unwrap_or(GrowSignal::None);
            let (layer, map) = self.update(layer, t, signal)?;
            maps.push((layer.values.id, map));
            out.push(layer);
        }
        if let Some(optim) = optim {
            let changes: Vec<_> = maps.iter().map(|(id, m)| (*id, m)).collect();
            remap_optimizer_state(optim, &changes)?;
        }
        Ok(out)
    }
}

/// SplitMix64 of the seed and the update counter: independent streams per layer update.
fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn host_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| PruneError::InvalidArgument(format!("reading tensor: {e:?}")))
}

fn gradient_host(signal: GrowSignal, layer: &SparseLinear) -> Result<Vec<f32>> {
    match signal {
        GrowSignal::None => Err(PruneError::InvalidArgument(
            "RigL and SRigL need a dense gradient (GrowSignal::DenseGradient) at update steps"
                .into(),
        )),
        GrowSignal::DenseGradient(g) => {
            let dims = g.dims();
            if dims != [layer.d_output, layer.d_input] {
                return Err(PruneError::Shape(format!(
                    "dense gradient is {dims:?}, the layer's weight is [{}, {}]",
                    layer.d_output, layer.d_input
                )));
            }
            host_f32(g)
        }
    }
}

/// The layer over a new pattern and values. The parameters keep their ids (the optimizer
/// state then follows through [`remap_optimizer_state`]) and their autodiff settings.
pub(crate) fn with_pattern(layer: SparseLinear, up: PatternUpdate) -> Result<SparseLinear> {
    let old = layer.values.val();
    let device = old.device();
    let require_grad = old.is_require_grad();
    let n = up.values.len();
    let values = Tensor::<1>::from_data(TensorData::new(up.values, [n]), &device);
    let w = SparseTensor::from_pattern(&up.pattern, values.clone())?;
    let SparseLinear {
        values: values_param,
        row_ptr,
        col_idx,
        bias,
        d_input,
        d_output,
        structure: _,
    } = layer;
    let values = if require_grad {
        values.require_grad()
    } else {
        values
    };
    Ok(SparseLinear {
        values: values_param.map(|_| values),
        row_ptr: row_ptr.map(|_| w.row_ptr().clone()),
        col_idx: col_idx.map(|_| w.col_idx().clone()),
        bias,
        d_input,
        d_output,
        // Drop-and-grow does not keep N:M or block structure.
        structure: Structure::Unstructured,
    })
}
