//! [`Projection`]: a model's linear layer, dense or sparse, swappable in one call.
//!
//! Every `Linear` of the models of this crate is a `Projection`, so pruning, sparse training
//! and sparse inference replace a layer without touching the model code:
//! [`Bert::map_projections`](crate::bert::Bert::map_projections) walks them by their Hugging
//! Face names and swaps each for a [`SparseLinear`] (stored non-zeros; the N:M and block kernels
//! when the layer has that structure) or a [`MaskedLinear`] (dense weights times a mask).

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Tensor, TensorData};
use sparsekit_formats::Mask;
use sparsekit_tensor::{MaskedLinear, SparseLinear, Structure};

use crate::ModelError;

/// A linear layer `y = x·Wᵀ + b` (`W`: `d_output × d_input`) in one of three storages.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Projection {
    /// burn's dense `Linear` (weight stored `[d_input, d_output]`).
    Dense(Linear),
    /// Only the non-zeros of `W` (CSR; N:M or block kernels when structured).
    Sparse(SparseLinear),
    /// Dense `W` times a fixed boolean mask.
    Masked(MaskedLinear),
}

impl Projection {
    /// `y = x·Wᵀ + b` over the last dimension.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Projection::Dense(l) => l.forward(x),
            Projection::Sparse(l) => l.forward(x),
            Projection::Masked(l) => l.forward(x),
        }
    }

    /// `(d_output, d_input)`.
    pub fn shape(&self) -> (usize, usize) {
        match self {
            Projection::Dense(l) => {
                let [i, o] = l.weight.val().dims();
                (o, i)
            }
            Projection::Sparse(l) => (l.d_output, l.d_input),
            Projection::Masked(l) => {
                let [o, i] = l.weight.val().dims();
                (o, i)
            }
        }
    }

    /// The effective weight `W` as a dense `d_output × d_input` tensor (zeros off the pattern
    /// for the sparse and masked storages).
    pub fn weight(&self) -> Tensor<2> {
        match self {
            Projection::Dense(l) => l.weight.val().transpose(),
            Projection::Sparse(l) => l.weight().to_dense(),
            Projection::Masked(l) => l.masked_weight(),
        }
    }

    /// The bias, if any.
    pub fn bias(&self) -> Option<Tensor<1>> {
        match self {
            Projection::Dense(l) => l.bias.as_ref().map(|b| b.val()),
            Projection::Sparse(l) => l.bias.as_ref().map(|b| b.val()),
            Projection::Masked(l) => l.bias.as_ref().map(|b| b.val()),
        }
    }

    /// The layer as a dense `Linear` (the effective weight; a sparse layer is densified).
    pub fn to_linear(&self) -> Linear {
        match self {
            Projection::Dense(l) => l.clone(),
            Projection::Sparse(l) => l.to_linear(),
            Projection::Masked(l) => l.to_sparse().to_linear(),
        }
    }

    /// The effective weight `W` (`d_output × d_input`, row-major: PyTorch's `nn.Linear.weight`
    /// layout, the one pruning methods and checkpoints use) on the host.
    pub fn weight_values(&self) -> Result<Vec<f32>, ModelError> {
        self.weight()
            .into_data()
            .try_into_vec::<f32>()
            .map_err(|e| ModelError::Invalid(format!("reading a weight back: {e:?}")))
    }

    /// The non-zeros of the effective weight as a mask (`d_output × d_input`, `true` = non-zero):
    /// the pattern of a pruned checkpoint, whose pruned weights are exactly 0.
    pub fn nonzero_mask(&self) -> Result<Mask, ModelError> {
        let (o, i) = self.shape();
        let keep: Vec<bool> = self.weight_values()?.iter().map(|&v| v != 0.0).collect();
        Mask::from_bools(&keep, o, i).map_err(|e| ModelError::Invalid(format!("weight mask: {e}")))
    }

    /// A dense layer with weight `w` (`d_output × d_input`, row-major, as
    /// [`weight_values`](Self::weight_values)) and this layer's bias, on the same device: how a
    /// pruning method's result goes back into the model.
    pub fn with_weight(&self, w: &[f32]) -> Result<Projection, ModelError> {
        let (o, i) = self.shape();
        if w.len() != o * i {
            return Err(ModelError::Invalid(format!(
                "weight has {} values, the layer is {o}×{i}",
                w.len()
            )));
        }
        let mut t = vec![0.0f32; w.len()];
        for r in 0..o {
            for c in 0..i {
                t[c * o + r] = w[r * i + c];
            }
        }
        let device = self.weight().device();
        let weight = Tensor::from_data(TensorData::new(t, [i, o]), &device);
        Ok(Projection::Dense(Linear {
            weight: Param::from_tensor(weight),
            bias: self.bias().map(Param::from_tensor),
        }))
    }

    /// Keeps the weights of `mask` (`d_output × d_input`) in a [`SparseLinear`]; with a
    /// `structure` other than [`Structure::Unstructured`], the mask must satisfy it and the
    /// layer runs the structured kernels.
    pub fn sparsify(&self, mask: &Mask, structure: Structure) -> Result<Projection, ModelError> {
        self.check_mask(mask)?;
        let sparse = SparseLinear::from_linear(&self.to_linear(), mask)?;
        let sparse = match structure {
            Structure::Unstructured => sparse,
            s => sparse.with_structure(s)?,
        };
        Ok(Projection::Sparse(sparse))
    }

    /// Keeps the weights of `mask` in a [`MaskedLinear`] (dense storage, masked product).
    pub fn masked(&self, mask: &Mask) -> Result<Projection, ModelError> {
        self.check_mask(mask)?;
        Ok(Projection::Masked(MaskedLinear::from_linear(
            &self.to_linear(),
            mask,
        )?))
    }

    fn check_mask(&self, mask: &Mask) -> Result<(), ModelError> {
        let (o, i) = self.shape();
        if mask.shape() != (o, i) {
            let (r, c) = mask.shape();
            return Err(ModelError::Invalid(format!(
                "mask is {r}×{c}, the layer's weight is {o}×{i}"
            )));
        }
        Ok(())
    }

    /// Stored weight entries: `d_output·d_input` for the dense and masked storages, nnz for a
    /// sparse one.
    pub fn stored_weights(&self) -> usize {
        match self {
            Projection::Sparse(l) => l.nnz(),
            _ => {
                let (o, i) = self.shape();
                o * i
            }
        }
    }
}

impl From<Linear> for Projection {
    fn from(l: Linear) -> Self {
        Projection::Dense(l)
    }
}
