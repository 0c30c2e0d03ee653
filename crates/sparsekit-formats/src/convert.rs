//! Conversions between the compressed and coordinate formats: CSR ⇄ CSC ⇄ COO. Every conversion
//! is a counting sort, O(nnz + nrows + ncols); none allocates a dense array. Conversions to and
//! from BSR and N:M live with those types ([`crate::bsr`], [`crate::nm`]) and go through CSR;
//! dense conversions are in [`crate::dense`].
//!
//! Conversions are infallible: every validated type guarantees that `nrows`, `ncols` and `nnz` fit
//! in its index type, so no conversion can overflow it.

use crate::compressed;
use crate::coo::Coo;
use crate::csc::{Csc, CscPattern};
use crate::csr::{Csr, CsrPattern};
use crate::index::SpIndex;
use crate::scalar::Scalar;

/// Expands a pointer array into one outer index per entry.
fn expand_ptr<I: SpIndex>(ptr: &[I]) -> Vec<I> {
    let nnz = ptr.last().map_or(0, |p| p.index());
    let mut out = Vec::with_capacity(nnz);
    for (o, w) in ptr.windows(2).enumerate() {
        let oi = I::from_usize(o);
        out.extend(std::iter::repeat_n(oi, w[1].index() - w[0].index()));
    }
    out
}

impl<I: SpIndex> CsrPattern<I> {
    /// The same structure in CSC layout. O(nnz + nrows + ncols).
    pub fn to_csc(&self) -> CscPattern<I> {
        let units = vec![(); 0];
        let (p, r, _) = compressed::transpose(
            self.nrows(),
            self.ncols(),
            self.row_ptr(),
            self.col_idx(),
            &units,
        );
        // SAFETY: the transpose of a canonical structure is canonical; dims unchanged.
        unsafe { CscPattern::new_unchecked(self.nrows(), self.ncols(), p, r) }
    }
}

impl<I: SpIndex> CscPattern<I> {
    /// The same structure in CSR layout. O(nnz + nrows + ncols).
    pub fn to_csr(&self) -> CsrPattern<I> {
        let units = vec![(); 0];
        let (p, c, _) = compressed::transpose(
            self.ncols(),
            self.nrows(),
            self.col_ptr(),
            self.row_idx(),
            &units,
        );
        // SAFETY: as in `CsrPattern::to_csc`.
        unsafe { CsrPattern::new_unchecked(self.nrows(), self.ncols(), p, c) }
    }
}

impl<T: Scalar, I: SpIndex> Csr<T, I> {
    /// The same matrix in CSC layout (explicit zeros kept). O(nnz + nrows + ncols).
    pub fn to_csc(&self) -> Csc<T, I> {
        let (p, r, v) = compressed::transpose(
            self.nrows(),
            self.ncols(),
            self.row_ptr(),
            self.col_idx(),
            self.values(),
        );
        // SAFETY: the transpose of a canonical structure is canonical; dims and nnz unchanged.
        unsafe { Csc::new_unchecked(self.nrows(), self.ncols(), p, r, v) }
    }
    /// The same matrix as triplets in row-major order (explicit zeros kept).
    pub fn to_coo(&self) -> Coo<T, I> {
        Coo::from_csr(self)
    }
}

impl<T: Scalar, I: SpIndex> Csc<T, I> {
    /// The same matrix in CSR layout (explicit zeros kept). O(nnz + nrows + ncols).
    pub fn to_csr(&self) -> Csr<T, I> {
        let (p, c, v) = compressed::transpose(
            self.ncols(),
            self.nrows(),
            self.col_ptr(),
            self.row_idx(),
            self.values(),
        );
        // SAFETY: as in `Csr::to_csc`.
        unsafe { Csr::new_unchecked(self.nrows(), self.ncols(), p, c, v) }
    }
    /// The same matrix as triplets in column-major order (explicit zeros kept).
    pub fn to_coo(&self) -> Coo<T, I> {
        Coo::from_csc(self)
    }
}

impl<T: Scalar, I: SpIndex> Coo<T, I> {
    /// Canonical CSR: entries sorted by (row, column), duplicates summed (SciPy's rule). Explicit
    /// zeros (and duplicates summing to zero) are kept. O(nnz + nrows + ncols), two counting sorts.
    pub fn to_csr(&self) -> Csr<T, I> {
        let (p, c, v) = compressed::compress_coo(
            self.nrows(),
            self.ncols(),
            self.rows(),
            self.cols(),
            self.values(),
        );
        // SAFETY: `compress_coo` yields canonical arrays; bounds and sizes come from a valid Coo.
        unsafe { Csr::new_unchecked(self.nrows(), self.ncols(), p, c, v) }
    }
    /// Canonical CSC: entries sorted by (column, row), duplicates summed. O(nnz + nrows + ncols).
    pub fn to_csc(&self) -> Csc<T, I> {
        let (p, r, v) = compressed::compress_coo(
            self.ncols(),
            self.nrows(),
            self.cols(),
            self.rows(),
            self.values(),
        );
        // SAFETY: as in `Coo::to_csr`.
        unsafe { Csc::new_unchecked(self.nrows(), self.ncols(), p, r, v) }
    }
    /// Triplets of a CSR matrix, in row-major order. O(nnz + nrows).
    pub fn from_csr(a: &Csr<T, I>) -> Self {
        let rows = expand_ptr(a.row_ptr());
        // SAFETY: indices of a valid CSR are in bounds; same dims and nnz.
        unsafe {
            Coo::new_unchecked(
                a.nrows(),
                a.ncols(),
                rows,
                a.col_idx().to_vec(),
                a.values().to_vec(),
            )
        }
    }
    /// Triplets of a CSC matrix, in column-major order. O(nnz + ncols).
    pub fn from_csc(a: &Csc<T, I>) -> Self {
        let cols = expand_ptr(a.col_ptr());
        // SAFETY: indices of a valid CSC are in bounds; same dims and nnz.
        unsafe {
            Coo::new_unchecked(
                a.nrows(),
                a.ncols(),
                a.row_idx().to_vec(),
                cols,
                a.values().to_vec(),
            )
        }
    }
}

impl<T: Scalar, I: SpIndex> From<&Csr<T, I>> for Csc<T, I> {
    fn from(a: &Csr<T, I>) -> Self {
        a.to_csc()
    }
}
impl<T: Scalar, I: SpIndex> From<&Csc<T, I>> for Csr<T, I> {
    fn from(a: &Csc<T, I>) -> Self {
        a.to_csr()
    }
}
impl<T: Scalar, I: SpIndex> From<&Coo<T, I>> for Csr<T, I> {
    fn from(a: &Coo<T, I>) -> Self {
        a.to_csr()
    }
}
impl<T: Scalar, I: SpIndex> From<&Coo<T, I>> for Csc<T, I> {
    fn from(a: &Coo<T, I>) -> Self {
        a.to_csc()
    }
}
impl<T: Scalar, I: SpIndex> From<&Csr<T, I>> for Coo<T, I> {
    fn from(a: &Csr<T, I>) -> Self {
        Coo::from_csr(a)
    }
}
impl<T: Scalar, I: SpIndex> From<&Csc<T, I>> for Coo<T, I> {
    fn from(a: &Csc<T, I>) -> Self {
        Coo::from_csc(a)
    }
}

impl<T: Scalar, I: SpIndex> Csr<T, I> {
    /// Blocks this matrix (see [`crate::Bsr::from_csr`]).
    pub fn to_bsr(&self, block_shape: (usize, usize)) -> crate::Result<crate::Bsr<T, I>> {
        crate::Bsr::from_csr(self, block_shape)
    }
    /// Packs this matrix as N:M (see [`crate::NM::from_csr`]).
    pub fn to_nm(&self, n: usize, m: usize) -> crate::Result<crate::NM<T>> {
        crate::NM::from_csr(self, n, m)
    }
}

impl<T: Scalar> crate::NM<T> {
    /// CSC of the non-zero values (through CSR; see [`crate::NM::to_csr`]).
    pub fn to_csc<I: SpIndex>(&self) -> crate::Result<Csc<T, I>> {
        Ok(self.to_csr::<I>()?.to_csc())
    }
    /// Triplets of the non-zero values, row-major (see [`crate::NM::to_csr`]).
    pub fn to_coo<I: SpIndex>(&self) -> crate::Result<Coo<T, I>> {
        Ok(Coo::from_csr(&self.to_csr::<I>()?))
    }
}
