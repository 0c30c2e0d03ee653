//! Errors of the constructors.

use sparsekit_formats::FormatError;

/// Why a [`SparseTensor`](crate::SparseTensor) or a layer could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SparseError {
    /// The pattern is not a valid canonical CSR pattern.
    #[error("invalid sparse pattern: {0}")]
    Format(#[from] FormatError),
    /// `values` has the wrong length.
    #[error("values has {got} entries, the pattern has {expected}")]
    ValuesLength {
        /// nnz of the pattern.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A shape does not match.
    #[error("shape mismatch: expected {expected:?}, got {got:?}")]
    Shape {
        /// Expected `[rows, cols]`.
        expected: [usize; 2],
        /// Given `[rows, cols]`.
        got: [usize; 2],
    },
    /// Indices do not fit the i32 index tensors.
    #[error("the matrix has more than i32::MAX entries or columns")]
    TooLarge,
    /// An index tensor holds a negative or out-of-range entry.
    #[error("an index tensor holds a negative or out-of-range entry")]
    Index,
    /// A row-wise top-k asked for more entries than a row has.
    #[error("top-k: k = {k} is larger than the {cols} columns")]
    InvalidK {
        /// `k` given.
        k: usize,
        /// Columns of the input.
        cols: usize,
    },
    /// `sparsity` is outside `[0, 1]`.
    #[error("sparsity must be in [0, 1], got {0}")]
    Sparsity(f64),
    /// The pattern does not have the claimed [`Structure`](crate::Structure).
    #[error("structure: {0}")]
    Structure(String),
    /// A values dtype other than F32, F16 or BF16.
    #[error("values dtype must be F32, F16 or BF16, got {0}")]
    Dtype(String),
    /// A module parameter named by path is missing or has another size.
    #[error("parameter: {0}")]
    Param(String),
    /// An attention operand has the wrong rank or a size that does not match the others.
    #[error("attention: {tensor} has shape {got:?}, {detail}")]
    AttentionShape {
        /// Which operand (`"q"`, `"k"`, `"v"`, `"key_padding"`).
        tensor: &'static str,
        /// Its shape.
        got: Vec<usize>,
        /// What was expected.
        detail: String,
    },
    /// A block-sparse attention layout is invalid or does not fit the operands.
    #[error("attention layout: {0}")]
    Layout(String),
}
