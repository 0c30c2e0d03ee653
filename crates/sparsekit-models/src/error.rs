//! The one error type of the crate.

use std::path::PathBuf;

/// What can go wrong while loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file of the model directory is missing.
    #[error("{path}: missing ({hint})")]
    MissingFile {
        /// The file that was expected.
        path: PathBuf,
        /// What to do about it.
        hint: String,
    },
    /// An I/O error, with the path or action it concerns.
    #[error("{context}: {source}")]
    Io {
        /// What was being done ("reading config.json").
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A configuration file that does not parse or describes an unsupported model.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The checkpoint does not match the configuration (a missing tensor, a wrong shape or
    /// dtype), or is not a readable safetensors file.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The safetensors file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The tokenizer cannot be loaded or does not fit the model.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// An input text the model refuses (empty, or longer than the model takes when truncation
    /// is off). `index` is the 0-based position of the text in its batch or file.
    #[error("text {index}: {message}")]
    Text {
        /// 0-based index of the text.
        index: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A request that does not fit the model (a layer that does not exist, a replacement
    /// of the wrong shape, …).
    #[error("{0}")]
    Invalid(String),
    /// An error of the sparse layers (a pattern of the wrong shape, …).
    #[error(transparent)]
    Sparse(#[from] sparsekit_tensor::SparseError),
    /// An error of a pruning core (sparsekit-prune).
    #[error(transparent)]
    Prune(#[from] sparsekit_prune::PruneError),
    /// An error of sparsekit-data (shards, corpus, evaluation).
    #[error(transparent)]
    Data(#[from] sparsekit_data::DataError),
}

impl ModelError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ModelError::Io {
            context: context.into(),
            source,
        }
    }
}
