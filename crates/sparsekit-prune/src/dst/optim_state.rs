//! Carrying optimizer state (Adam's moments, SGD's momentum, …) across a pattern update.
//!
//! burn's [`ModuleOptimizer`] keeps one state per [`ParamId`]; after a pattern update the
//! values parameter keeps its id and its length (nnz is preserved), but position `p` now holds
//! another weight. [`remap_optimizer_state`] rewrites that state so that every surviving weight
//! keeps its moments at its new position and grown weights start from zero moments, exactly
//! what the value itself does.
//!
//! How: burn's public API exposes the state only as a serialized record
//! ([`ModuleOptimizer::into_bytes`], a *burnpack* container: a 10-byte header, CBOR metadata
//! naming each state tensor with its parameter id, shape, dtype and byte range, then the raw
//! tensor bytes) and takes it back with [`ModuleOptimizer::from_bytes`]. We decode the metadata
//! with a small CBOR reader, permute in place the bytes of every 1-D `f32` state tensor of the
//! given parameter whose length is the layer's nnz (Adam: `moment_1`, `moment_2`, and
//! `max_moment_2` with AMSGrad), and load the container back. Scalars (Adam's step count) are
//! left alone. The cost is one serialization of the whole optimizer state per update, small
//! next to the `ΔT` training steps between updates.
//!
//! If the container format ever changes (the header carries a version), the function returns
//! an error instead of guessing; the fallback is then to give the layer a fresh `ParamId`
//! ([`reset_optimizer_state`]), which restarts the optimizer state of that layer.

use burn::module::{Param, ParamId};
use burn::tensor::{Bytes, Tensor};
use burn_optim::ModuleOptimizer;

use super::cbor::{self, Cbor};
use super::IndexMap;
use crate::error::{PruneError, Result};

const MAGIC: u32 = 0x4255_524E;
const VERSION: u16 = 1;
const HEADER: usize = 10;
const ALIGN: usize = 256;

fn err(msg: impl std::fmt::Display) -> PruneError {
    PruneError::InvalidArgument(format!("optimizer state: {msg}"))
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
    let bytes = optim.into_bytes().map_err(err)?;
    let mut buf: Vec<u8> = bytes.to_vec();
    let rewritten = remap_container(&mut buf, changes)?;
    if rewritten > 0 {
        *optim = optim
            .clone()
            .from_bytes(Bytes::from_bytes_vec(buf))
            .map_err(err)?;
    }
    Ok(rewritten)
}

/// The fallback: a fresh [`ParamId`] for `param`, so the optimizer forgets its state (it
/// restarts from zero moments on the next step; the old entry is never used again).
pub fn reset_optimizer_state(param: Param<Tensor<1>>) -> Param<Tensor<1>> {
    let (_, tensor, mapper) = param.consume();
    Param::from_mapped_value(ParamId::new(), tensor, mapper)
}

/// Calls `f(param_id, shape, dtype, bytes)` for every state tensor of a burnpack container that
/// carries a parameter id (`bytes` = its raw little-endian data, checked to lie in the buffer).
fn for_each_state_tensor(
    buf: &mut [u8],
    mut f: impl FnMut(u64, &[u64], &str, &mut [u8]) -> Result<()>,
) -> Result<()> {
    if buf.len() < HEADER {
        return Err(err("container shorter than its header"));
    }
    let magic = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let version = u16::from_le_bytes([buf[4], buf[5]]);
    let meta_len = u32::from_le_bytes([buf[6], buf[7], buf[8], buf[9]]) as usize;
    if magic != MAGIC || version != VERSION {
        return Err(err(format!(
            "unsupported container (magic {magic:#x}, version {version})"
        )));
    }
    let meta_end = HEADER
        .checked_add(meta_len)
        .filter(|&e| e <= buf.len())
        .ok_or_else(|| err("metadata runs past the container"))?;
    let meta = cbor::decode(&buf[HEADER..meta_end]).map_err(err)?;
    let data_start = meta_end.div_ceil(ALIGN) * ALIGN;
    let tensors = meta
        .get("tensors")
        .and_then(Cbor::as_map)
        .ok_or_else(|| err("no tensor table"))?;
    for (_, desc) in tensors {
        let Some(id) = desc.get("param_id").and_then(Cbor::as_u64) else {
            continue;
        };
        let shape: Vec<u64> = desc
            .get("shape")
            .and_then(Cbor::as_array)
            .map(|a| a.iter().filter_map(Cbor::as_u64).collect())
            .unwrap_or_default();
        let dtype = desc.get("dtype").and_then(Cbor::as_text).unwrap_or("");
        let offsets = desc
            .get("data_offsets")
            .and_then(Cbor::as_array)
            .filter(|a| a.len() == 2)
            .and_then(|a| Some((a[0].as_u64()? as usize, a[1].as_u64()? as usize)))
            .ok_or_else(|| err("bad data offsets"))?;
        let (lo, hi) = (
            data_start.saturating_add(offsets.0),
            data_start.saturating_add(offsets.1),
        );
        if hi > buf.len() || hi < lo {
            return Err(err("state tensor bytes out of range"));
        }
        f(id, &shape, dtype, &mut buf[lo..hi])?;
    }
    Ok(())
}

/// Permutes, in a burnpack container, the `f32` 1-D state tensors of the given parameters.
fn remap_container(buf: &mut [u8], changes: &[(ParamId, &IndexMap)]) -> Result<usize> {
    let mut rewritten = 0;
    for_each_state_tensor(buf, |id, shape, dtype, bytes| {
        let Some((_, map)) = changes.iter().find(|(pid, _)| pid.val() == id) else {
            return Ok(());
        };
        if shape != [map.old_len() as u64] {
            return Ok(()); // not a per-value state tensor
        }
        if dtype != "F32" {
            return Err(err("per-value state tensor is not f32"));
        }
        if bytes.len() != 4 * map.old_len() {
            return Err(err("state tensor bytes out of range"));
        }
        let old: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let new = map.apply(&old, 0.0)?;
        for (c, v) in bytes.chunks_exact_mut(4).zip(new) {
            c.copy_from_slice(&v.to_le_bytes());
        }
        rewritten += 1;
        Ok(())
    })?;
    Ok(rewritten)
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
    let bytes = optim.into_bytes().map_err(err)?;
    let mut buf: Vec<u8> = bytes.to_vec();
    let mut flushed = 0;
    for_each_state_tensor(&mut buf, |_, _, dtype, bytes| {
        if dtype == "F32" {
            for c in bytes.chunks_exact_mut(4) {
                let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                if v.is_subnormal() {
                    c.copy_from_slice(&0f32.to_le_bytes());
                    flushed += 1;
                }
            }
        }
        Ok(())
    })?;
    if flushed > 0 {
        *optim = optim
            .clone()
            .from_bytes(Bytes::from_bytes_vec(buf))
            .map_err(err)?;
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
        let mut buf = optim.clone().into_bytes().unwrap().to_vec();
        let mut out = Vec::new();
        for_each_state_tensor(&mut buf, |_, _, dtype, bytes| {
            if dtype == "F32" {
                out.extend(
                    bytes
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                );
            }
            Ok(())
        })
        .unwrap();
        out
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
