//! The one error type of the crate.

/// What can go wrong while fetching, reading or evaluating data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// An I/O error, with the path or action it concerns.
    #[error("{context}: {source}")]
    Io {
        /// What was being done ("reading /x/descriptions.jsonl").
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Input that does not have the expected form (a malformed line, a wrong shape, …).
    #[error("{0}")]
    Invalid(String),
    /// A required external tool or system state is missing; the message says what to run.
    #[error("{0}")]
    Missing(String),
    /// A malformed line of a file, with its 1-based line number.
    #[error("{path}:{line}: {message}")]
    Malformed {
        /// The file (or a description of the text, e.g. `<translations>`).
        path: std::path::PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// An external command ran but failed; the message says which and how.
    #[error("{command} failed: {message}")]
    Command {
        /// The command line, as it could be typed.
        command: String,
        /// Exit status and the end of its stderr.
        message: String,
    },
}

impl DataError {
    /// An [`DataError::Io`] with its context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        DataError::Io {
            context: context.into(),
            source,
        }
    }
}
