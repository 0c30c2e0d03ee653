//! Sparse tensors on burn: [`SparseTensor`] (CSR on any burn `Device`), sparse ops with sparse
//! backward passes ([`spmm`], [`spmm_t`], [`sddmm`], [`SparseTensor::to_dense`],
//! [`SparseTensor::transpose`]), the TopK-autoencoder ops [`topk`] / [`topk_abs`] and
//! [`gather_decode`], block-sparse attention ([`block_sparse_attention`] over an
//! [`AttentionLayout`]), the sparse normalisers of [`normalize`] (sparsemax, 1.5-entmax,
//! α-entmax with a learned α, their losses), dense → CSR on the device
//! ([`SparseTensor::from_dense_threshold`], [`SparseTensor::from_dense_topk_rows`]), and the layers [`SparseLinear`] and [`MaskedLinear`].
//!
//! The ops go through the backend extension [`backend::SparseBackend`], implemented for Flex and
//! NdArray (the `sparsekit-kernels` CPU kernels), Cube (CubeCL kernels; wgpu, CUDA) and
//! `Autodiff<B>` (hand-written backward passes: the weight gradient of `Y = X·Wᵀ` is an SDDMM at
//! `W`'s pattern, the input gradient a sparse product; no dense weight gradient).
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use sparsekit_formats::Csr;
//! use sparsekit_tensor::{spmm_t, SparseTensor};
//! let device = Device::flex();
//! let w = Csr::<f32>::try_new(2, 3, vec![0, 2, 3], vec![0, 2, 1], vec![1.0, 2.0, 3.0])?;
//! let w = SparseTensor::from_csr(&w, &device)?;
//! let x = Tensor::<2>::from_floats([[1.0, 10.0, 100.0]], &device);
//! let y = spmm_t(x, &w); // X·Wᵀ = [[201, 30]]
//! assert_eq!(y.into_data().to_vec::<f32>().unwrap(), vec![201.0, 30.0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![allow(deprecated)] // burn's NdArray backend is deprecated upstream but still supported here.

mod attention;
pub mod backend;
mod error;
mod linear;
pub mod normalize;
pub mod params;
pub mod structure;
mod tensor;
mod topk;

pub use attention::{block_sparse_attention, AttentionLayout};
pub use error::SparseError;
pub use linear::{
    random_pattern, random_structured_pattern, MaskedLinear, SparseLinear, SparseLinearConfig,
};
pub use structure::Structure;
pub use tensor::{cast_float, sddmm, spmm, spmm_t, storage_dtype, SparseTensor};
pub use topk::{gather_decode, topk, topk_abs};
