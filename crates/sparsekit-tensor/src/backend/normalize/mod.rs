//! The sparse-normaliser extension: [`NormalizeBackend`] (sparsemax, 1.5-entmax, α-entmax with a
//! fixed or a per-row α), row-wise along the last dimension of a 2-D `[rows, n]` f32 tensor.
//!
//! Implemented for
//! - [`Flex`] and [`NdArray`] (`cpu.rs`): the `sparsekit-kernels` normalisers
//!   ([`sparsekit_kernels::normalize`]: exact linear-time solves in f64) on host slices;
//! - [`Cube`] (wgpu, CUDA; `generic.rs`): bisection on the threshold written with backend ops,
//!   then the exact threshold from the found support for sparsemax and 1.5-entmax;
//! - [`Autodiff<B, C>`] (`autodiff.rs`): a hand-written backward pass (the closed-form Jacobian
//!   products of the inner backend's [`normalize_bwd`](NormalizeBackend::normalize_bwd) and
//!   [`normalize_alpha_grad`](NormalizeBackend::normalize_alpha_grad)), registering gradients for
//!   `z` and, when it is tracked, the per-row α.
//!
//! `alpha` is either `[rows, 1]` (one α per row, each finite and > 1; the `kind` argument is then
//! ignored) or an empty 1-D tensor for "no per-row α: use `kind`" (burn's extension macro does not
//! carry an `Option<FloatTensor>`; [`alpha_of`] reads the convention back).
//!
//! `−∞` entries are masks (probability 0); a row without a finite entry gives zeros and a zero
//! gradient (never NaN).

use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend, TensorMetadata};
#[allow(unused_imports)]
use burn::backend::{Autodiff, Cube, Dispatch, Flex, NdArray};
pub use sparsekit_kernels::normalize::Normalizer;

mod autodiff;
mod cpu;
mod cube;
pub(crate) mod generic;

/// Sparse normalisers on backend primitives (see the module docs for shapes and conventions).
#[backend_extension(NdArray, Flex, Cube, Autodiff)]
pub trait NormalizeBackend: Backend {
    /// `p = map(z)` row-wise; `z` is `[rows, n]` f32, `alpha` `[rows, 1]` or empty.
    fn normalize_fwd(
        z: FloatTensor<Self>,
        kind: Normalizer,
        alpha: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// `dz` of [`normalize_fwd`](Self::normalize_fwd) from its output `p` and the upstream
    /// gradient `dp`: `g = p^{2−α}` on the support, `dz = g⊙dp − (Σg·dp/Σg)·g`. A backward
    /// kernel: under `Autodiff` it is not differentiated again (first-order gradients only).
    fn normalize_bwd(
        p: FloatTensor<Self>,
        dp: FloatTensor<Self>,
        kind: Normalizer,
        alpha: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// `∂L/∂α` per row, `[rows, 1]`, of α-entmax from its output `p` and `dp` (the `entmax`
    /// package's `EntmaxBisectFunction.backward`; see
    /// [`entmax_alpha_grad`](sparsekit_kernels::normalize::entmax_alpha_grad)). `alpha` is
    /// `[rows, 1]`.
    fn normalize_alpha_grad(
        p: FloatTensor<Self>,
        dp: FloatTensor<Self>,
        alpha: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// The per-row α of an op call: `None` for the empty "no per-row α" tensor.
pub fn alpha_of<B: Backend>(a: FloatTensor<B>) -> Option<FloatTensor<B>> {
    (a.shape().num_dims() == 2).then_some(a)
}
