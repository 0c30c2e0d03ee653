//! The crate's error type.

use thiserror::Error;

/// Errors from bad user input: invalid hyper-parameters, patterns, groups or shapes.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RegError {
    /// A hyper-parameter outside its valid range (`name` = `value`, `expected` says the range).
    #[error("invalid {name} = {value}: expected {expected}")]
    Hyper {
        /// Name of the hyper-parameter.
        name: &'static str,
        /// The value given.
        value: f64,
        /// Human-readable valid range.
        expected: &'static str,
    },
    /// A path pattern that cannot be parsed (empty alternative, empty segment).
    #[error("{0}")]
    Pattern(String),
    /// A pattern that selects no float parameter of the module.
    #[error("pattern {0:?} selects no float parameter")]
    NoMatch(String),
    /// The module has no float parameter at all.
    #[error("the module has no float parameter")]
    NoParameters,
    /// Groups that do not fit the parameter's shape (as seen as a 2-D matrix).
    #[error("groups do not fit parameter {path:?} of 2-D shape {shape:?}: {reason}")]
    Groups {
        /// Parameter path.
        path: String,
        /// The parameter seen as `[dims[0], product of the other dims]`.
        shape: [usize; 2],
        /// What is wrong.
        reason: String,
    },
    /// A tensor or mask of the wrong shape.
    #[error("shape mismatch for {what}: expected {expected:?}, got {got:?}")]
    Shape {
        /// What was checked.
        what: String,
        /// Expected shape.
        expected: Vec<usize>,
        /// Shape given.
        got: Vec<usize>,
    },
}

/// `Result` with [`RegError`].
pub type Result<T> = core::result::Result<T, RegError>;

pub(crate) fn check(
    name: &'static str,
    value: f64,
    ok: bool,
    expected: &'static str,
) -> Result<()> {
    if ok && value.is_finite() {
        Ok(())
    } else {
        Err(RegError::Hyper {
            name,
            value,
            expected,
        })
    }
}

impl From<sparsekit_formats::FormatError> for RegError {
    /// The only formats error reg can meet is a bad [`Selector`](crate::Selector) pattern.
    fn from(e: sparsekit_formats::FormatError) -> Self {
        RegError::Pattern(e.to_string())
    }
}
