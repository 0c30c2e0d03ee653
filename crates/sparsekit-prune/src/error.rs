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
    /// An error from the sparse formats layer (other than an invalid argument, which is
    /// [`PruneError::InvalidArgument`] whichever layer checked it).
    #[error(transparent)]
    Format(sparsekit_formats::FormatError),
    /// An error from the sparse tensor layer.
    #[cfg(feature = "burn")]
    #[error(transparent)]
    Tensor(#[from] sparsekit_tensor::SparseError),
}

impl From<sparsekit_formats::FormatError> for PruneError {
    fn from(e: sparsekit_formats::FormatError) -> Self {
        match e {
            // The sparsity vocabulary (keep counts, structures, masks) lives in formats: its
            // argument errors are the user's arguments to the pruner.
            sparsekit_formats::FormatError::InvalidArgument(why) => {
                PruneError::InvalidArgument(why)
            }
            e @ (sparsekit_formats::FormatError::LengthMismatch { .. }
            | sparsekit_formats::FormatError::ShapeOverflow(_)
            | sparsekit_formats::FormatError::ShapeMismatch { .. }) => {
                PruneError::Shape(e.to_string())
            }
            e => PruneError::Format(e),
        }
    }
}

/// `Result` with [`PruneError`].
pub type Result<T, E = PruneError> = std::result::Result<T, E>;
