//! Typed errors for pruning.

/// Everything that can go wrong while pruning user data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PruneError {
    /// A sparsity / density outside `[0, 1]`, an N:M with `n > m`, a zero block size, ...
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Two inputs whose shapes do not agree.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// An error from the sparse formats layer.
    #[error(transparent)]
    Format(#[from] sparsekit_formats::FormatError),
    /// An error from the sparse tensor layer.
    #[cfg(feature = "burn")]
    #[error(transparent)]
    Tensor(#[from] sparsekit_tensor::SparseError),
}

/// `Result` with [`PruneError`].
pub type Result<T, E = PruneError> = std::result::Result<T, E>;
