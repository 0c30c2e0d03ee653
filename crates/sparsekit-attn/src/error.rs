//! The crate's error type.

use sparsekit_kernels::KernelError;
use sparsekit_tensor::SparseError;

/// Why a pattern, a layout or an attention module could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AttnError {
    /// A block size of zero.
    #[error("the block size must be positive")]
    ZeroBlock,
    /// A pattern parameter out of its range (`window = 0`, `dilation = 0`, …).
    #[error("{pattern}: {detail}")]
    InvalidPattern {
        /// The pattern (`"sliding_window"`, …).
        pattern: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A top-k asked for more entries than there are (or for none).
    #[error("{what}: k = {k} must be in 1..={available}")]
    InvalidK {
        /// `"top-k keys"`, `"MoBA key blocks"`.
        what: &'static str,
        /// `k` given.
        k: usize,
        /// Keys (or key blocks) there are.
        available: usize,
    },
    /// A host buffer or a tensor of the wrong size or shape.
    #[error("{what}: expected {expected} values, got {got}")]
    Shape {
        /// The operand.
        what: &'static str,
        /// Values its shape needs.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// A module configuration that cannot be built (`d_model` not a multiple of `n_heads`, …).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A layout could not be built or checked.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// A sparse tensor op failed.
    #[error(transparent)]
    Sparse(#[from] SparseError),
}

/// `Result` with [`AttnError`].
pub type Result<T, E = AttnError> = std::result::Result<T, E>;
