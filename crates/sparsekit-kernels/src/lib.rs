//! # sparsekit-kernels
//!
//! Sparse kernels over [`sparsekit_formats`] views and row-major dense views ([`MatRef`],
//! [`MatMut`]), layer L1 of sparsekit (no burn types). CPU paths use runtime SIMD dispatch
//! (AVX-512 / AVX2+FMA on x86_64, NEON on aarch64, portable fallback; see [`Isa`]) and rayon.
//!
//! | op | computes |
//! |---|---|
//! | [`spmm`](fn@spmm), [`spmm_with`] | `Y = αA·X + βY` (CSR `A`) |
//! | [`spmm_t`], [`spmm_t_bias`] | `Y = X·Wᵀ + b` (linear-layer forward, CSR `W`) |
//! | [`spmm_at`], [`spmm_at_cached`] | `Y = Aᵀ·X` (input gradient; [`CsrTranspose`] cache) |
//! | [`sddmm`](fn@sddmm), [`sddmm_linear`] | `A·Bᵀ` / `dYᵀ·X` sampled at a pattern (weight gradient) |
//! | [`spmv`](fn@spmv) | `y = A·x` |
//! | [`topk_rows`], [`topk_rows_abs`] | row-wise top-k |
//! | [`bsr_spmm`], [`bsr_spmm_t`] | BSR (`r × c` blocks) forms of `spmm` / `spmm_t` (+ bias) |
//! | [`bsr_spmm_amx`] ([`amx_available`]) | `Y = A·X` for bf16 BSR `A` (blocks multiples of 16 × 16) and bf16 `X` on Intel AMX |
//! | [`nm_spmm`], [`nm_spmm_t`] | N:M forms of `spmm` / `spmm_t` (+ bias) |
//! | [`nm_sddmm`] | `dYᵀ·X` sampled at an N:M pattern (N:M weight gradient) |
//! | [`block_attention_forward`], [`block_attention_backward`] ([`attention`](mod@attention)) | flash-style block-sparse attention `softmax(scale·Q·Kᵀ)·V` over a [`BlockLayout`]'s kept tiles, and its gradients `dQ`, `dK`, `dV` |
//! | [`normalize`](fn@normalize), [`normalize_backward`] ([`normalize`](mod@normalize)) | sparsemax, 1.5-entmax, α-entmax row-wise ([`Normalizer`]), their backward, `∂/∂α`, losses |
//! | [`encode_dense`], [`encode_topk`] ([`sae`](mod@sae)) | SAE encoder `X·Wᵀ + b` (dense `W`, f32 or bf16; [`PackedEncoder`]), fused with a row top-k |
//!
//! Guarantees:
//! - every public kernel returns `Result<(), KernelError>` and never panics on mismatched inputs;
//! - results are bit-identical for any rayon thread count (rows are split by non-zeros, but each
//!   output element is computed by one thread in a fixed order);
//! - values may be `f32`, `f64`, `f16` or `bf16`; dense operands and outputs `f32`, `bf16` or
//!   `f16` ([`Element`], any mix); arithmetic is f32, half outputs are rounded once (see
//!   [`element`](mod@element) and docs/kernels.md, "Half precision");
//! - [`reference`](mod@reference) holds a plain scalar twin of every kernel, and the `*_isa` variants run a
//!   kernel on an explicit [`Isa`] — tests and benches compare them.

#![warn(missing_docs)]

pub mod attention;
pub mod dense;
pub mod element;
pub mod error;
pub mod normalize;
pub mod reference;
pub mod sae;
pub mod sddmm;
pub mod simd;
pub mod spmm;
pub mod spmv;
pub mod structured;
pub mod topk;

mod amx;
mod blocked;
mod bsr_amx;
mod partition;
mod scratch;
mod shape;

pub use attention::{
    block_attention_backward, block_attention_backward_isa, block_attention_forward,
    block_attention_forward_isa, AttentionShape, BlockLayout,
};
pub use dense::{MatMut, MatRef};
pub use element::Element;
pub use error::KernelError;
pub use normalize::{normalize, normalize_backward, Normalizer};
pub use sae::{encode_dense, encode_topk, EncoderPath, EncoderPrecision, PackedEncoder};
pub use sddmm::{sddmm, sddmm_linear};
pub use simd::Isa;
pub use spmm::{spmm, spmm_at, spmm_at_cached, spmm_t, spmm_t_bias, spmm_with, CsrTranspose};
pub use spmv::spmv;
pub use structured::{
    amx_available, bsr_spmm, bsr_spmm_amx, bsr_spmm_isa, bsr_spmm_t, bsr_spmm_t_isa, nm_sddmm,
    nm_sddmm_isa, nm_spmm, nm_spmm_isa, nm_spmm_t, nm_spmm_t_isa,
};
pub use topk::{topk_rows, topk_rows_abs};
