//! [`Projection`]: a model's linear layer, dense or sparse, swappable in one call.
//!
//! Every `Linear` of the models of this crate is a `Projection`, so pruning, sparse training
//! and sparse inference replace a layer without touching the model code:
//! [`Bert::map_projections`](crate::bert::Bert::map_projections) walks them by their Hugging
//! Face names and swaps each for a [`SparseLinear`] (stored non-zeros; the N:M and block kernels
//! when the layer has that structure) or a [`MaskedLinear`] (dense weights times a mask).

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::Tensor;
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
