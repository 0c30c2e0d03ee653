//! Cube (wgpu, CUDA): the backend-ops formulation of `generic.rs` on Cube primitives.

use burn::backend::tensor::FloatTensor;
use burn::backend::Cube;

use super::{alpha_of, generic, NormalizeBackend, Normalizer};

impl NormalizeBackend for Cube {
    fn normalize_fwd(
        z: FloatTensor<Self>,
        kind: Normalizer,
        alpha: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        generic::forward::<Self>(z, kind, alpha_of::<Self>(alpha))
    }
    fn normalize_bwd(
        p: FloatTensor<Self>,
        dp: FloatTensor<Self>,
        kind: Normalizer,
        alpha: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        generic::backward::<Self>(p, dp, kind, alpha_of::<Self>(alpha))
    }
    fn normalize_alpha_grad(
        p: FloatTensor<Self>,
        dp: FloatTensor<Self>,
        alpha: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        generic::alpha_grad::<Self>(p, dp, alpha)
    }
}
