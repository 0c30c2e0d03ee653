//! Transposition: `Aᵀ` in the same format as `A`. CSR and CSC: one counting sort,
//! O(nnz + nrows + ncols), canonical output. COO: swaps the index arrays (O(nnz) copy).
//!
//! ```
//! use sparsekit_formats::Csr;
//! // [[1, 2, 0],
//! //  [0, 0, 3]]
//! let a = Csr::<f32>::try_new(2, 3, vec![0, 2, 3], vec![0, 1, 2], vec![1.0, 2.0, 3.0])?;
//! let t = a.transpose();
//! assert_eq!(t.shape(), (3, 2));
//! assert_eq!(t.to_dense(), vec![1.0, 0.0, 2.0, 0.0, 0.0, 3.0]);
//! # Ok::<(), sparsekit_formats::FormatError>(())
//! ```

use crate::compressed;
use crate::coo::Coo;
use crate::csc::{Csc, CscPattern};
use crate::csr::{Csr, CsrPattern};
use crate::index::SpIndex;
use crate::scalar::Scalar;

impl<I: SpIndex> CsrPattern<I> {
    /// The pattern of the transpose (`ncols × nrows`). O(nnz + nrows + ncols).
    pub fn transpose(&self) -> CsrPattern<I> {
        let (p, c, _) = compressed::transpose::<I, ()>(
            self.nrows(),
            self.ncols(),
            self.row_ptr(),
            self.col_idx(),
            &[],
        );
        // SAFETY: transpose of a canonical structure is canonical; dims fit I (both checked).
        unsafe { CsrPattern::new_unchecked(self.ncols(), self.nrows(), p, c) }
    }
}

impl<I: SpIndex> CscPattern<I> {
    /// The pattern of the transpose (`ncols × nrows`). O(nnz + nrows + ncols).
    pub fn transpose(&self) -> CscPattern<I> {
        let (p, r, _) = compressed::transpose::<I, ()>(
            self.ncols(),
            self.nrows(),
            self.col_ptr(),
            self.row_idx(),
            &[],
        );
        // SAFETY: as above.
        unsafe { CscPattern::new_unchecked(self.ncols(), self.nrows(), p, r) }
    }
}

impl<T: Scalar, I: SpIndex> Csr<T, I> {
    /// `Aᵀ` as CSR (`ncols × nrows`). O(nnz + nrows + ncols).
    pub fn transpose(&self) -> Csr<T, I> {
        let (p, c, v) = compressed::transpose(
            self.nrows(),
            self.ncols(),
            self.row_ptr(),
            self.col_idx(),
            self.values(),
        );
        // SAFETY: transpose of a canonical structure is canonical; dims fit I (both checked).
        unsafe { Csr::new_unchecked(self.ncols(), self.nrows(), p, c, v) }
    }
}

impl<T: Scalar, I: SpIndex> Csc<T, I> {
    /// `Aᵀ` as CSC (`ncols × nrows`). O(nnz + nrows + ncols).
    pub fn transpose(&self) -> Csc<T, I> {
        let (p, r, v) = compressed::transpose(
            self.ncols(),
            self.nrows(),
            self.col_ptr(),
            self.row_idx(),
            self.values(),
        );
        // SAFETY: as above.
        unsafe { Csc::new_unchecked(self.ncols(), self.nrows(), p, r, v) }
    }
}

impl<T: Scalar, I: SpIndex> Coo<T, I> {
    /// `Aᵀ` as COO (`ncols × nrows`): row and column arrays swapped, entry order kept.
    pub fn transpose(&self) -> Coo<T, I> {
        // SAFETY: swapping the arrays together with the dims keeps every index in bounds.
        unsafe {
            Coo::new_unchecked(
                self.ncols(),
                self.nrows(),
                self.cols().to_vec(),
                self.rows().to_vec(),
                self.values().to_vec(),
            )
        }
    }
}
