//! File I/O, interoperable with the files real tools write:
//!
//! - [`npz`]: SciPy `scipy.sparse.save_npz` / `load_npz` archives (csr, csc, coo, bsr; int32 or
//!   int64 indices; f16/f32/f64 values, compressed or stored);
//! - [`mtx`]: Matrix Market `coordinate` (and `array`) files, as `scipy.io.mmwrite` and the
//!   SuiteSparse collection write them;
//! - [`safetensors`]: dense tensors of any checkpoint, and sparse matrices stored as a documented
//!   set of named arrays;
//! - [`idx`]: IDX arrays (MNIST / Fashion-MNIST files, plain or gzip);
//! - [`npy`]: the bounded NumPy `.npy` reader/writer underneath [`npz`];
//! - [`any`]: [`read_any`], one call that reads any of them (type from extension and magic
//!   bytes) and returns its matrices / tensors with their metadata.
//!
//! Every reader validates what it reads (typed [`FormatError`]s, never a panic) and bounds its
//! allocations by the bytes actually present, not by sizes the file declares.
//!
//! [`SparseMatrix`] is the format-erased matrix the readers return:
//!
//! ```
//! use sparsekit_formats::{io::SparseMatrix, Coo};
//! let coo = Coo::<f32>::try_new(2, 3, vec![0, 1], vec![2, 0], vec![1.5, -2.0])?;
//! let m = SparseMatrix::from(coo);
//! assert_eq!((m.format_name(), m.shape(), m.nnz()), ("coo", (2, 3), 2));
//! assert_eq!(m.to_csr()?.to_dense(), vec![0.0, 0.0, 1.5, -2.0, 0.0, 0.0]);
//! # Ok::<(), sparsekit_formats::FormatError>(())
//! ```
//!
//! [`FormatError`]: crate::FormatError

use std::borrow::Cow;

use crate::error::{FormatError, Result};
use crate::{Bsr, Coo, Csc, Csr, Scalar, SpIndex};

pub mod any;
pub mod idx;
pub mod mtx;
pub mod npy;
pub mod npz;
pub mod safetensors;

pub use any::{read_any, AnyFile, Data, DenseTensor, Entry, FileKind};

/// A sparse matrix in any of the crate's general formats, as read from a file.
#[derive(Clone, Debug, PartialEq)]
pub enum SparseMatrix<T: Scalar, I: SpIndex = u32> {
    /// Compressed sparse row.
    Csr(Csr<T, I>),
    /// Compressed sparse column.
    Csc(Csc<T, I>),
    /// Coordinate (triplets).
    Coo(Coo<T, I>),
    /// Block sparse row.
    Bsr(Bsr<T, I>),
}

impl<T: Scalar, I: SpIndex> SparseMatrix<T, I> {
    /// `(nrows, ncols)`.
    pub fn shape(&self) -> (usize, usize) {
        match self {
            SparseMatrix::Csr(a) => a.shape(),
            SparseMatrix::Csc(a) => a.shape(),
            SparseMatrix::Coo(a) => a.shape(),
            SparseMatrix::Bsr(a) => a.shape(),
        }
    }

    /// Number of stored values, as SciPy counts them: COO counts duplicates, BSR counts every
    /// value of every stored block (`nblocks · r · c`).
    pub fn nnz(&self) -> usize {
        match self {
            SparseMatrix::Csr(a) => a.nnz(),
            SparseMatrix::Csc(a) => a.nnz(),
            SparseMatrix::Coo(a) => a.nnz(),
            SparseMatrix::Bsr(a) => a.values().len(),
        }
    }

    /// `"csr"`, `"csc"`, `"coo"` or `"bsr"` (SciPy's `format` string).
    pub fn format_name(&self) -> &'static str {
        match self {
            SparseMatrix::Csr(_) => "csr",
            SparseMatrix::Csc(_) => "csc",
            SparseMatrix::Coo(_) => "coo",
            SparseMatrix::Bsr(_) => "bsr",
        }
    }

    /// Canonical CSR of the same matrix (COO duplicates summed; BSR keeps only the non-zero values
    /// of its blocks, see [`Bsr::to_csr`]).
    pub fn to_csr(&self) -> Result<Csr<T, I>> {
        Ok(match self {
            SparseMatrix::Csr(a) => a.clone(),
            SparseMatrix::Csc(a) => a.to_csr(),
            SparseMatrix::Coo(a) => a.to_csr(),
            SparseMatrix::Bsr(a) => a.to_csr(),
        })
    }

    /// Triplets of the same matrix (borrowed when it already is COO).
    pub fn to_coo(&self) -> Cow<'_, Coo<T, I>> {
        self.as_coo()
    }

    /// The same matrix with values converted to `U` (exact when `U` is at least as wide).
    pub fn cast<U: Scalar>(&self) -> SparseMatrix<U, I> {
        match self {
            SparseMatrix::Csr(a) => SparseMatrix::Csr(a.cast()),
            SparseMatrix::Csc(a) => SparseMatrix::Csc(a.cast()),
            SparseMatrix::Coo(a) => SparseMatrix::Coo(a.cast()),
            SparseMatrix::Bsr(a) => SparseMatrix::Bsr(a.cast()),
        }
    }

    /// Dense row-major copy (`nrows · ncols` values; duplicates summed).
    pub fn to_dense(&self) -> Vec<T> {
        match self {
            SparseMatrix::Csr(a) => a.to_dense(),
            SparseMatrix::Csc(a) => a.to_dense(),
            SparseMatrix::Coo(a) => a.to_dense(),
            SparseMatrix::Bsr(a) => a.to_dense(),
        }
    }
}

impl<T: Scalar, I: SpIndex> From<Csr<T, I>> for SparseMatrix<T, I> {
    fn from(a: Csr<T, I>) -> Self {
        SparseMatrix::Csr(a)
    }
}
impl<T: Scalar, I: SpIndex> From<Csc<T, I>> for SparseMatrix<T, I> {
    fn from(a: Csc<T, I>) -> Self {
        SparseMatrix::Csc(a)
    }
}
impl<T: Scalar, I: SpIndex> From<Coo<T, I>> for SparseMatrix<T, I> {
    fn from(a: Coo<T, I>) -> Self {
        SparseMatrix::Coo(a)
    }
}
impl<T: Scalar, I: SpIndex> From<Bsr<T, I>> for SparseMatrix<T, I> {
    fn from(a: Bsr<T, I>) -> Self {
        SparseMatrix::Bsr(a)
    }
}

/// Anything that can be seen as triplets: what [`mtx::write`] accepts (`&Coo`, `&Csr`, `&Csc`,
/// `&Bsr` or `&SparseMatrix`).
pub trait AsCoo<T: Scalar, I: SpIndex> {
    /// The matrix as COO, borrowed when it already is one.
    fn as_coo(&self) -> Cow<'_, Coo<T, I>>;
}

impl<T: Scalar, I: SpIndex> AsCoo<T, I> for Coo<T, I> {
    fn as_coo(&self) -> Cow<'_, Coo<T, I>> {
        Cow::Borrowed(self)
    }
}
impl<T: Scalar, I: SpIndex> AsCoo<T, I> for Csr<T, I> {
    fn as_coo(&self) -> Cow<'_, Coo<T, I>> {
        Cow::Owned(self.to_coo())
    }
}
impl<T: Scalar, I: SpIndex> AsCoo<T, I> for Csc<T, I> {
    fn as_coo(&self) -> Cow<'_, Coo<T, I>> {
        Cow::Owned(self.to_coo())
    }
}
impl<T: Scalar, I: SpIndex> AsCoo<T, I> for Bsr<T, I> {
    fn as_coo(&self) -> Cow<'_, Coo<T, I>> {
        Cow::Owned(self.to_coo())
    }
}
impl<T: Scalar, I: SpIndex> AsCoo<T, I> for SparseMatrix<T, I> {
    fn as_coo(&self) -> Cow<'_, Coo<T, I>> {
        match self {
            SparseMatrix::Csr(a) => a.as_coo(),
            SparseMatrix::Csc(a) => a.as_coo(),
            SparseMatrix::Coo(a) => a.as_coo(),
            SparseMatrix::Bsr(a) => a.as_coo(),
        }
    }
}

/// One index read from a file (any integer width, widened to `i128`) as the index type `I`:
/// negative values and values beyond `usize` or `I` are errors naming `what` and the position.
/// Shared by the `.npy`/`.npz` and safetensors readers.
pub(crate) fn index_from_file<I: SpIndex>(
    what: &'static str,
    position: usize,
    v: i128,
) -> Result<I> {
    if v < 0 {
        return Err(FormatError::NegativeIndex {
            what,
            position,
            value: v,
        });
    }
    let u = usize::try_from(v).map_err(|_| FormatError::IndexTypeOverflow {
        what,
        value: v as u128,
        index_type: "usize",
    })?;
    I::try_from_usize(u, what)
}
