//! # sparsekit-attn
//!
//! Sparse attention on burn, on every device.
//!
//! - [`pattern`]: which keys each query sees, as a
//!   [`BlockLayout`](sparsekit_kernels::attention::BlockLayout) of kept tiles — causal, sliding
//!   window, dilated, global tokens, BigBird, explicit block masks and their compositions
//!   ([`Pattern`], serde), and the data-dependent per-query top-k and MoBA block selection
//!   (one layout per head). Burn-free.
//! - [`Normalizer`]: softmax, sparsemax, 1.5-entmax, α-entmax, α-entmax with a learned α per
//!   head ([`LearnedAlpha`]).
//! - [`SparseMultiHeadAttention`]: burn's multi-head attention with a normaliser and a pattern.
//! - `SparseSelfAttention` (feature `models`): the same inside the MiniLM / BERT encoder of
//!   `sparsekit-models`, from a model's own `SelfAttention` blocks.
#![warn(missing_docs)]

mod attend;
pub mod error;
mod mha;
#[cfg(feature = "models")]
mod minilm;
mod normalizer;
pub mod pattern;
pub mod stats;

pub use attend::LearnedAlpha;
pub use error::{AttnError, Result};
pub use mha::{SparseMultiHeadAttention, SparseMultiHeadAttentionConfig};
#[cfg(feature = "models")]
pub use minilm::SparseSelfAttention;
pub use normalizer::Normalizer;
pub use pattern::Pattern;

/// The sparse normalisers (sparsemax, 1.5-entmax, α-entmax with a fixed or learned α) and their
/// losses, as burn ops on every device: one home, `sparsekit_tensor::normalize`.
pub use sparsekit_tensor::normalize;
