//! The one error type of this crate: every constructor from outside data and every file reader
//! returns `Result<_, FormatError>`, with a message that names the problem and where it is.

use std::fmt;

/// Which axis an index refers to, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    /// The row axis (displayed as "row").
    Row,
    /// The column axis (displayed as "column").
    Col,
}

impl fmt::Display for Axis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Axis::Row => "row",
            Axis::Col => "column",
        })
    }
}

/// Everything that can be wrong with sparse data handed to this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// Two arrays that must agree in length do not.
    #[error("lengths differ: {what} has length {got}, expected {expected}")]
    LengthMismatch {
        /// Name of the array whose length is wrong.
        what: &'static str,
        /// Length it must have.
        expected: usize,
        /// Length it has.
        got: usize,
    },

    /// A pointer array (row_ptr / col_ptr / block_ptr) does not start at 0.
    #[error("{what}[0] is {got}, must be 0")]
    PtrStart {
        /// Name of the pointer array.
        what: &'static str,
        /// Its first element (non-zero).
        got: usize,
    },

    /// A pointer array decreases somewhere.
    #[error("{what} not monotone at {at}: {prev} > {next}")]
    PtrNotMonotone {
        /// Name of the pointer array.
        what: &'static str,
        /// Position of `next` in the array (`prev` is at `at - 1`).
        at: usize,
        /// Value at position `at - 1`.
        prev: usize,
        /// Value at position `at`, smaller than `prev`.
        next: usize,
    },

    /// The last pointer does not equal the number of stored entries.
    #[error("{what} ends at {got}, but there are {expected} stored entries")]
    PtrEnd {
        /// Name of the pointer array.
        what: &'static str,
        /// Number of stored entries (the length of the index/value arrays).
        expected: usize,
        /// Last element of the pointer array.
        got: usize,
    },

    /// An index lies outside the matrix. `outer` is the row (CSR) or column (CSC) or entry
    /// number (COO) where it was found.
    #[error("{outer_axis} {outer}: {axis} {index} \u{2265} {bound_name} {bound}")]
    IndexOutOfBounds {
        /// What `outer` counts ("row", "column", "block row" or "entry").
        outer_axis: &'static str,
        /// Row, column, block row or entry number where the index was found.
        outer: usize,
        /// The axis the bad index refers to.
        axis: Axis,
        /// The out-of-range index.
        index: usize,
        /// Name of the bound it violates ("nrows", "ncols" or "block columns").
        bound_name: &'static str,
        /// The bound (exclusive): `index >= bound`.
        bound: usize,
    },

    /// Indices inside one compressed row/column are not strictly increasing
    /// (unsorted or duplicated) where canonical form is required.
    #[error("{outer_axis} {outer}: indices not strictly increasing at position {position} ({prev} then {next})")]
    NotCanonical {
        /// What `outer` counts ("row", "column" or "block row").
        outer_axis: &'static str,
        /// The row or column whose indices are out of order.
        outer: usize,
        /// Position of `next` in the whole index array (not within the row/column).
        position: usize,
        /// Index before `position`.
        prev: usize,
        /// Index at `position`, not greater than `prev`.
        next: usize,
    },

    /// `nrows * ncols` (or a derived size) does not fit in `usize`, or a count does not fit
    /// the chosen index type.
    #[error("shape overflow: {0}")]
    ShapeOverflow(String),

    /// A value does not fit in the index type chosen for the matrix (e.g. u32).
    #[error("{what} = {value} does not fit in the index type {index_type}")]
    IndexTypeOverflow {
        /// Name of the quantity that overflows.
        what: &'static str,
        /// Its value.
        value: u128,
        /// Name of the index type it does not fit (e.g. "u32").
        index_type: &'static str,
    },

    /// A structural constraint of a format is violated (block shape not dividing the matrix,
    /// N:M group with more than N non-zeros, …).
    #[error("structure: {0}")]
    Structure(String),

    /// Two operands of an operation have different shapes (e.g. `Mask::and`).
    #[error("shape mismatch: {left:?} vs {right:?}")]
    ShapeMismatch {
        /// Shape `(nrows, ncols)` of the left operand.
        left: (usize, usize),
        /// Shape `(nrows, ncols)` of the right operand.
        right: (usize, usize),
    },

    /// Invalid argument to an operation (threshold NaN, k larger than a row, …).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A file is not what it claims to be, or is truncated / corrupt.
    #[error("malformed {kind} file: {message}")]
    Malformed {
        /// File format ("npz", "mtx", …).
        kind: &'static str,
        /// What is wrong.
        message: String,
    },

    /// A file uses a feature this crate does not support (complex values, …).
    #[error("unsupported {kind} content: {message}")]
    Unsupported {
        /// File format ("npz", "mtx", …).
        kind: &'static str,
        /// What is not supported.
        message: String,
    },

    /// A text file (Matrix Market) has a syntax or content error at a known line (1-based).
    #[error("{kind} line {line}: {message}")]
    Parse {
        /// File format ("mtx", …).
        kind: &'static str,
        /// Line number, 1-based.
        line: usize,
        /// What is wrong on that line.
        message: String,
    },

    /// An index array read from a file holds a negative value.
    #[error("{what}[{position}] = {value} is negative")]
    NegativeIndex {
        /// Name of the index array.
        what: &'static str,
        /// Position of the value in the array.
        position: usize,
        /// The negative value.
        value: i128,
    },

    /// A file whose type neither its extension nor its first bytes tell (see
    /// [`io::read_any`](crate::io::read_any)). `extension` is the path's extension, if any.
    #[error("{}; expected .npz, .mtx, .safetensors or .npy", match extension {
        Some(e) => format!("unknown extension '.{e}'"),
        None => "no file extension".to_string(),
    })]
    UnknownFileKind {
        /// The path's extension (without the dot), if it has one.
        extension: Option<String>,
    },

    /// A file whose extension names one supported type and whose first bytes another.
    #[error("the extension says .{extension} but the content is a .{detected} file")]
    FileKindMismatch {
        /// The type the extension names (without the dot).
        extension: &'static str,
        /// The type the first bytes show.
        detected: &'static str,
    },

    /// Underlying I/O failure.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl FormatError {
    pub(crate) fn malformed(kind: &'static str, message: impl Into<String>) -> Self {
        FormatError::Malformed {
            kind,
            message: message.into(),
        }
    }
    pub(crate) fn unsupported(kind: &'static str, message: impl Into<String>) -> Self {
        FormatError::Unsupported {
            kind,
            message: message.into(),
        }
    }
    pub(crate) fn parse(kind: &'static str, line: usize, message: impl Into<String>) -> Self {
        FormatError::Parse {
            kind,
            line,
            message: message.into(),
        }
    }
    pub(crate) fn len(what: &'static str, expected: usize, got: usize) -> Self {
        FormatError::LengthMismatch {
            what,
            expected,
            got,
        }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = FormatError> = std::result::Result<T, E>;

/// `a * b` or a [`FormatError::ShapeOverflow`] naming the shape.
pub(crate) fn checked_size(a: usize, b: usize, what: &str) -> Result<usize> {
    a.checked_mul(b).ok_or_else(|| {
        FormatError::ShapeOverflow(format!("{what}: {a} \u{d7} {b} overflows usize"))
    })
}

/// `vec![value; len]`, or a [`FormatError::ShapeOverflow`] when the allocation cannot be made
/// (instead of aborting): for sizes derived from a declared shape rather than from data.
pub(crate) fn try_vec<T: Clone>(len: usize, value: T, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| {
        FormatError::ShapeOverflow(format!("{what}: cannot allocate {len} elements"))
    })?;
    v.resize(len, value);
    Ok(v)
}

/// `Vec::with_capacity(cap)`, or a [`FormatError::ShapeOverflow`] when it cannot be allocated.
pub(crate) fn try_with_capacity<T>(cap: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(cap).map_err(|_| {
        FormatError::ShapeOverflow(format!("{what}: cannot allocate {cap} elements"))
    })?;
    Ok(v)
}
