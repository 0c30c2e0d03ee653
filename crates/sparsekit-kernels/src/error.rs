//! [`KernelError`]: every public kernel returns `Result<(), KernelError>` and never panics on
//! mismatched inputs.

use thiserror::Error;

/// Why a kernel refused its inputs. Messages name the operation and both shapes, e.g.
/// `"spmm: A is 4×5 but X has 6 rows"`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KernelError {
    /// Operand shapes do not fit together.
    #[error("{op}: {detail}")]
    ShapeMismatch {
        /// The operation (`"spmm"`, ...).
        op: &'static str,
        /// Which shapes disagree.
        detail: String,
    },
    /// A dense buffer is shorter than its shape and stride require.
    #[error("{what}: buffer has {got} elements but {needed} are needed")]
    BufferTooShort {
        /// The view or operand (`"MatRef"`, ...).
        what: &'static str,
        /// Elements the shape and stride need.
        needed: usize,
        /// Elements the buffer has.
        got: usize,
    },
    /// A dense view whose row stride is smaller than its number of columns.
    #[error("row stride {row_stride} is smaller than ncols {ncols}")]
    InvalidStride {
        /// Columns of the view.
        ncols: usize,
        /// The row stride given.
        row_stride: usize,
    },
    /// `nrows * row_stride` does not fit in `usize`.
    #[error("dense view {nrows}×{ncols} with row stride {row_stride} overflows usize")]
    SizeOverflow {
        /// Rows of the view.
        nrows: usize,
        /// Columns of the view.
        ncols: usize,
        /// The row stride given.
        row_stride: usize,
    },
    /// Top-k with `k` larger than the row length.
    #[error("{op}: k = {k} is larger than the row length {ncols}")]
    InvalidK {
        /// The operation.
        op: &'static str,
        /// The `k` asked for.
        k: usize,
        /// The row length.
        ncols: usize,
    },
    /// A cached structure (e.g. [`crate::CsrTranspose`]) does not belong to the given matrix.
    #[error("{op}: {detail}")]
    PatternMismatch {
        /// The operation.
        op: &'static str,
        /// What differs.
        detail: String,
    },
    /// A scalar argument out of its domain (e.g. an entmax `α ≤ 1`, a class target out of range).
    #[error("{op}: {detail}")]
    InvalidArgument {
        /// The operation.
        op: &'static str,
        /// Which argument, its value and the accepted range.
        detail: String,
    },
    /// A block or N:M shape the kernel does not accept.
    #[error("{op}: {detail}")]
    Unsupported {
        /// The operation.
        op: &'static str,
        /// What is not accepted, and why.
        detail: String,
    },
}

impl KernelError {
    pub(crate) fn shape(op: &'static str, detail: String) -> Self {
        KernelError::ShapeMismatch { op, detail }
    }
}
