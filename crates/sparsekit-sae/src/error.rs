//! The crate's error type.

use std::path::PathBuf;

/// Errors of sparse-autoencoder configuration, training and I/O.
#[derive(Debug, thiserror::Error)]
pub enum SaeError {
    /// A configuration that cannot work (names the field).
    #[error("invalid SAE configuration: {0}")]
    Config(String),
    /// Input of the wrong shape (names both shapes).
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A file or directory that is not what it claims to be (names the path).
    #[error("{path}: {detail}")]
    Format {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// An I/O failure (names what was being done).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A kernel rejected its input.
    #[error(transparent)]
    Kernel(#[from] sparsekit_kernels::KernelError),
    /// Activation shards could not be read.
    #[error(transparent)]
    Data(#[from] sparsekit_data::DataError),
    /// Training diverged (a NaN or infinite loss), with the step.
    #[error("training diverged at step {step}: {detail}")]
    Diverged {
        /// Optimizer step.
        step: u64,
        /// What became non-finite.
        detail: String,
    },
}

impl SaeError {
    /// An I/O error with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        SaeError::Io {
            context: context.into(),
            source,
        }
    }

    /// A format error for `path`.
    pub fn format(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        SaeError::Format {
            path: path.into(),
            detail: detail.into(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = SaeError> = std::result::Result<T, E>;
