//! The pruner's walks over a model (through `sparsekit_tensor::params`): reading the pruned
//! parameters (checked against the pruner's), writing weights and `MaskedLinear` masks, and
//! multiplying the weights by the masks cached on the device.

use std::collections::HashMap;

use burn::module::Module;
use burn::tensor::Tensor;
use burn_optim::GradientsParams;
use sparsekit_tensor::params::{self, ParamEntry, ParamReader};

use super::config::selector;
use super::Pruner;
use crate::error::{PruneError, Result};

impl Pruner {
    /// The pruned parameters of `model` (detached, with their gradients when `grads` is given),
    /// checked to be the pruner's: same paths in the same order, same shapes.
    pub(super) fn read<M: Module>(
        &self,
        model: &M,
        grads: Option<&GradientsParams>,
    ) -> Result<Vec<ParamEntry>> {
        let include = selector(&self.config.include)?;
        let reader = ParamReader::detached().min_rank(2).select(&include);
        let floats = match grads {
            Some(g) => reader.with_grads(g).read(model),
            None => reader.read(model),
        };
        let got: Vec<&str> = floats.iter().map(|f| f.path.as_str()).collect();
        let want: Vec<&str> = self.layers.iter().map(|l| l.path.as_str()).collect();
        if got != want {
            return Err(PruneError::Shape(format!(
                "the model's selected parameters {got:?} are not the pruner's {want:?}"
            )));
        }
        for (f, l) in floats.iter().zip(&self.layers) {
            if f.dims != l.dims {
                return Err(PruneError::Shape(format!(
                    "{}: shape {:?}, the pruner has {:?}",
                    l.path, f.dims, l.dims
                )));
            }
        }
        Ok(floats)
    }

    /// `model` with every pruned parameter multiplied by its device mask (the fast path of
    /// `step`: no host round trip); `floats` is what [`read`](Self::read) returned.
    pub(super) fn multiply_masks<M: Module>(&mut self, model: M, floats: &[ParamEntry]) -> M {
        let mut masks: HashMap<String, Tensor<2>> = HashMap::new();
        for (l, f) in self.layers.iter_mut().zip(floats) {
            let device = f.value.device().inner();
            masks.insert(l.path.clone(), l.device_mask(&device));
        }
        params::map_params(
            model,
            |p| masks.contains_key(p),
            |p, _, w| w * masks[p].clone(),
        )
    }
}

/// `model` with new weights (storage order, by path) and new `MaskedLinear` masks (by path).
pub(super) fn write<M: Module>(
    model: M,
    floats: HashMap<String, Vec<f32>>,
    bools: HashMap<String, Vec<bool>>,
) -> Result<M> {
    let model = params::write_params(model, floats)?;
    Ok(params::write_bool_params(model, bools)?)
}

/// The `mask` parameter next to a `MaskedLinear`'s `weight`.
pub(super) fn sibling_mask(path: &str) -> String {
    match path.rsplit_once('.') {
        Some((prefix, _)) => format!("{prefix}.mask"),
        None => "mask".into(),
    }
}
