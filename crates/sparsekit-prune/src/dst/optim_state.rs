//! Carrying optimizer state (Adam's moments, SGD's momentum, …) across a pattern update.
//!
//! burn's [`ModuleOptimizer`] keeps one state per [`ParamId`]; after a pattern update the
//! values parameter keeps its id and its length (nnz is preserved), but position `p` now holds
//! another weight. [`remap_optimizer_state`] rewrites that state so that every surviving weight
//! keeps its moments at its new position and grown weights start from zero moments, exactly
//! what the value itself does.
//!
//! How: burn's public API exposes the state only as a serialized record
//! ([`ModuleOptimizer::into_bytes`], a *burnpack* container) and takes it back with
//! [`ModuleOptimizer::from_bytes`]. We read that container with burn's own reader
//! ([`burn_pack::Reader`]: every state tensor with its parameter id, shape and dtype), permute
//! every 1-D `f32` state tensor of the given parameter whose length is the layer's nnz (Adam:
//! `moment_1`, `moment_2`, and `max_moment_2` with AMSGrad), write the container back with
//! [`burn_pack::Writer`] (keeping the record's scalars, such as Adam's step count, and its
//! parameter paths) and load it. The cost is one serialization of the whole optimizer state per
//! update, small next to the `ΔT` training steps between updates.
//!
//! Why the container and not the record's types: in burn-optim 0.22.1 the fields of
//! `OptimizerRecord` (from [`ModuleOptimizer::to_record`]) are crate-private and the per-parameter
//! states are type-erased, so the burnpack bytes are the only public, editable form of the
//! state.
//!
//! If the record ever stops being readable (a new container version), the function returns an
//! error instead of guessing; the fallback is then to give the layer a fresh `ParamId`
//! ([`reset_optimizer_state`]), which restarts the optimizer state of that layer.

use std::collections::BTreeMap;

use burn::module::{Param, ParamId};
use burn::tensor::{DType, Tensor, TensorData};
use burn_optim::ModuleOptimizer;
use burn_pack::{Reader, Scalar, Writer};

use super::IndexMap;
use crate::error::{PruneError, Result};

fn err(msg: impl std::fmt::Display) -> PruneError {
    PruneError::InvalidArgument(format!("optimizer state: {msg}"))
}

/// An optimizer's state as burn serializes it: the state tensors (each named
/// `{param_id}.{field}` and carrying its parameter id), the scalars (step counts, ranks) and the
/// parameter paths, read with burn's burnpack reader.
struct State {
    tensors: Vec<burn_pack::Tensor>,
    scalars: BTreeMap<String, Scalar>,
    metadata: BTreeMap<String, String>,
}

impl State {
    fn of(optim: &ModuleOptimizer) -> Result<Self> {
        let reader = Reader::from_bytes(optim.into_bytes().map_err(err)?).map_err(err)?;
        let scalars = reader.scalars().clone();
        let metadata = reader.metadata().clone();
        Ok(Self {
            tensors: reader.into_tensors().map_err(err)?,
            scalars,
            metadata,
        })
    }

    /// Loads the (edited) state into `optim`.
    fn load_into(self, optim: &mut ModuleOptimizer) -> Result<()> {
        let mut writer = Writer::new(self.tensors);
        for (k, v) in &self.scalars {
            writer = writer.with_scalar(k, *v);
        }
        for (k, v) in &self.metadata {
            writer = writer.with_metadata(k, v);
        }
        let bytes = writer.into_bytes().map_err(err)?;
        *optim = optim.clone().from_bytes(bytes).map_err(err)?;
        Ok(())
    }
}

/// The values of an `f32` state tensor.
fn f32_values(t: &burn_pack::Tensor) -> Result<Vec<f32>> {
    TensorData::from_bytes(t.to_bytes().map_err(err)?, t.shape.clone(), t.dtype)
        .try_into_vec::<f32>()
        .map_err(|e| err(format!("{}: {e:?}", t.name)))
}

/// `t` with new `f32` values of the same shape.
fn with_f32_values(t: &burn_pack::Tensor, values: Vec<f32>) -> burn_pack::Tensor {
    let (bytes, shape, dtype) = TensorData::new(values, t.shape.clone()).into_parts();
    burn_pack::Tensor::new(t.name.clone(), dtype, shape, t.param_id, bytes)
}

/// Rewrites the optimizer state of the given value parameters after pattern updates: for each
/// `(id, map)`, every 1-D `f32` state tensor of length `map.old_len()` carried by `id` becomes
/// `map.apply(old, 0.0)`. Returns how many state tensors were rewritten (0 when the optimizer
/// has not stepped yet, or the map is the identity).
///
/// Requires `map.new_len() == map.old_len()` (every DST update preserves nnz).
///
/// ```
/// use burn::module::Module;
/// use burn_optim::{AdamConfig, GradientsParams};
/// use burn::tensor::{Device, Tensor};
/// use sparsekit_prune::dst::{remap_optimizer_state, IndexMap};
/// use sparsekit_tensor::SparseLinearConfig;
/// let device = Device::flex().autodiff();
/// let layer = SparseLinearConfig::new(3, 2).with_sparsity(0.5).with_seed(Some(1)).init(&device);
/// let mut optim = AdamConfig::new().init();
/// let grads = layer.forward(Tensor::<2>::ones([1, 3], &device)).sum().backward();
/// let layer = optim.step(1e-3, layer.clone(), GradientsParams::from_grads(grads, &layer));
/// // Swap the first two values' meaning, drop the third and grow one.
/// let map = IndexMap::try_new(3, vec![Some(1), Some(0), None])?;
/// assert_eq!(remap_optimizer_state(&mut optim, &[(layer.values.id, &map)])?, 2); // m and v
/// # Ok::<(), sparsekit_prune::PruneError>(())
/// ```
pub fn remap_optimizer_state(
    optim: &mut ModuleOptimizer,
    changes: &[(ParamId, &IndexMap)],
) -> Result<usize> {
    for (_, map) in changes {
        if map.new_len() != map.old_len() {
            return Err(err(format!(
                "in-place remap needs equal lengths, got {} → {}",
                map.old_len(),
                map.new_len()
            )));
        }
    }
    if changes.iter().all(|(_, m)| m.is_identity()) {
        return Ok(0);
    }
    let mut state = State::of(optim)?;
    let mut rewritten = 0;
    for t in &mut state.tensors {
        let Some(map) = t
            .param_id
            .and_then(|id| changes.iter().find(|(pid, _)| pid.val() == id))
            .map(|(_, map)| map)
        else {
            continue;
        };
        if t.shape.as_slice() != [map.old_len()] {
            continue; // not a per-value state tensor
        }
        if t.dtype != DType::F32 {
            return Err(err("per-value state tensor is not f32"));
        }
        *t = with_f32_values(t, map.apply(&f32_values(t)?, 0.0)?);
        rewritten += 1;
    }
    if rewritten > 0 {
        state.load_into(optim)?;
    }
    Ok(rewritten)
}

/// The fallback: a fresh [`ParamId`] for `param`, so the optimizer forgets its state (it
/// restarts from zero moments on the next step; the old entry is never used again).
pub fn reset_optimizer_state(param: Param<Tensor<1>>) -> Param<Tensor<1>> {
    let (_, tensor, mapper) = param.consume();
    Param::from_mapped_value(ParamId::new(), tensor, mapper)
}

/// Sets every subnormal value (`0 < |x| < f32::MIN_POSITIVE ≈ 1.2e-38`) of the optimizer's
/// `f32` state to zero and returns how many were flushed.
///
/// Why: a weight whose gradient is exactly zero — pruned behind a mask, or the input of a dead
/// neuron after a proximal step — still has its momenta multiplied by β (Adam: 0.9 and 0.999)
/// at every step. They decay into the subnormal range and *stay there*: in round-to-nearest,
/// `0.9 ×` the smallest subnormal rounds back to itself, so they never reach zero. On x86 every
/// arithmetic operation with a subnormal operand can take a microcode assist (tens to hundreds
/// of cycles). Calling this every few hundred steps removes them; the values it zeroes
/// (< 1.2e-38) change no update. (The speed effect has not been measured in this crate yet.)
///
/// The cost is one serialization of the optimizer state (as [`remap_optimizer_state`]).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use burn_optim::{AdamConfig, GradientsParams};
/// use sparsekit_prune::flush_subnormal_optimizer_state;
/// use sparsekit_tensor::SparseLinearConfig;
/// let device = Device::flex().autodiff();
/// let layer = SparseLinearConfig::new(3, 2).with_sparsity(0.5).with_seed(Some(1)).init(&device);
/// let mut optim = AdamConfig::new().init();
/// let grads = layer.forward(Tensor::<2>::ones([1, 3], &device)).sum().backward();
/// let _layer = optim.step(1e-3, layer.clone(), GradientsParams::from_grads(grads, &layer));
/// assert_eq!(flush_subnormal_optimizer_state(&mut optim)?, 0); // nothing subnormal yet
/// # Ok::<(), sparsekit_prune::PruneError>(())
/// ```
pub fn flush_subnormal_optimizer_state(optim: &mut ModuleOptimizer) -> Result<usize> {
    let mut state = State::of(optim)?;
    let mut flushed = 0;
    for t in &mut state.tensors {
        if t.param_id.is_none() || t.dtype != DType::F32 {
            continue;
        }
        let mut v = f32_values(t)?;
        let before = flushed;
        for x in v.iter_mut().filter(|x| x.is_subnormal()) {
            *x = 0.0;
            flushed += 1;
        }
        if flushed > before {
            *t = with_f32_values(t, v);
        }
    }
    if flushed > 0 {
        state.load_into(optim)?;
    }
    Ok(flushed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use burn_optim::{AdamConfig, GradientsParams};
    use sparsekit_tensor::SparseLinearConfig;

    /// Every f32 value of the optimizer's state, in container order.
    fn state_values(optim: &ModuleOptimizer) -> Vec<f32> {
        let state = State::of(optim).unwrap();
        let f32s = state.tensors.iter().filter(|t| t.dtype == DType::F32);
        f32s.flat_map(|t| f32_values(t).unwrap()).collect()
    }

    /// The flush zeroes exactly the subnormal values. Inputs spanning five orders of magnitude
    /// give first moments `0.1·g·0.9^780` from ~1e-40 (subnormal) to ~1e-35 (tiny but normal);
    /// the second moments (0.999^780 ≈ 0.46 of their value) stay large. Everything but the
    /// subnormals must come back bit for bit.
    #[test]
    fn flush_touches_only_subnormal_values() {
        let device = Device::flex().autodiff();
        let layer = SparseLinearConfig::new(6, 4)
            .with_sparsity(0.5)
            .with_seed(Some(3))
            .init(&device);
        let mut optim = AdamConfig::new().init();
        let x = burn::tensor::Tensor::<2>::from_data(
            burn::tensor::TensorData::new(vec![1e-3f32, 1e-2, 0.1, 1.0, 10.0, 100.0], [1, 6]),
            &device,
        );
        let g = layer.forward(x.clone()).sum().backward();
        let mut layer = optim.step(1e-3, layer.clone(), GradientsParams::from_grads(g, &layer));
        for _ in 0..780 {
            let g = (layer.forward(x.clone()).sum() * 0.0).backward();
            layer = optim.step(1e-3, layer.clone(), GradientsParams::from_grads(g, &layer));
        }
        let before = state_values(&optim);
        let subnormal = before.iter().filter(|v| v.is_subnormal()).count();
        let tiny_normal = before
            .iter()
            .filter(|v| v.is_normal() && v.abs() < 1e-30)
            .count();
        assert!(
            subnormal > 0 && tiny_normal > 0,
            "{subnormal} subnormal, {tiny_normal} normal below 1e-30"
        );
        assert_eq!(
            flush_subnormal_optimizer_state(&mut optim).unwrap(),
            subnormal
        );
        let after = state_values(&optim);
        assert_eq!(before.len(), after.len());
        for (b, a) in before.iter().zip(&after) {
            let want = if b.is_subnormal() { 0.0 } else { *b };
            assert_eq!(a.to_bits(), want.to_bits(), "{b:e} became {a:e}");
        }
    }
}
