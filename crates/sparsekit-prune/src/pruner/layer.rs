//! The mask state of one pruned parameter: its output × input mask, criterion statistics,
//! straight-through values, rewind weights, and the mask cached on the device.

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use sparsekit_formats::Mask;
use sparsekit_tensor::params::{view2, Layout};

use crate::criterion::ScoreAccumulator;

/// One pruned parameter.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Tracked {
    pub(super) path: String,
    pub(super) dims: Vec<usize>,
    pub(super) layout: Layout,
    /// Owned by a `MaskedLinear`: its `mask` parameter is kept equal to `mask`.
    pub(super) masked_linear: bool,
    /// Output × input.
    pub(super) mask: Mask,
    pub(super) acc: Option<ScoreAccumulator>,
    /// The latest gradient (output × input), for the gradient criteria; not serialized.
    #[serde(skip)]
    pub(super) last_grad: Option<Vec<f32>>,
    /// Dense values of the pruned weights (output × input) while a gradient flow is open.
    pub(super) shadow: Option<Vec<f32>>,
    /// Weights (storage layout) recorded for rewinding.
    pub(super) rewind: Option<Vec<f32>>,
    /// The mask as 0/1 floats (2-D view of the storage) on the parameter's device; rebuilt
    /// after every mask change.
    #[serde(skip)]
    pub(super) on_device: Option<Tensor<2>>,
}

impl Tracked {
    /// Output × input shape of the mask.
    pub(super) fn rows_cols(&self) -> (usize, usize) {
        self.layout.rows_cols(&self.dims)
    }
    /// Storage → output × input.
    pub(super) fn storage_to_oi(&self, v: &[f32]) -> Vec<f32> {
        self.layout.to_output_input(&self.dims, v)
    }
    /// Output × input → storage.
    pub(super) fn oi_to_storage(&self, v: &[f32]) -> Vec<f32> {
        self.layout.to_storage(&self.dims, v)
    }
    /// The cached device mask (see `on_device`), built on `device` if missing.
    pub(super) fn device_mask(&mut self, device: &Device) -> Tensor<2> {
        if let Some(m) = &self.on_device {
            return m.clone();
        }
        let [r, c] = view2(&self.dims);
        let m = Tensor::<2>::from_data(TensorData::new(self.mask_storage(), [r, c]), device);
        self.on_device = Some(m.clone());
        m
    }

    /// The mask as 0/1 factors in storage layout.
    pub(super) fn mask_storage(&self) -> Vec<f32> {
        let m: Vec<f32> = self
            .mask
            .to_bools()
            .into_iter()
            .map(|b| b as u8 as f32)
            .collect();
        self.oi_to_storage(&m)
    }
}
