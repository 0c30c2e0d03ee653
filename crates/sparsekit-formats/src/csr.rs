//! Compressed sparse row: [`CsrPattern`] (structure, shareable), [`Csr`] (pattern + values) and the
//! borrowed views [`CsrPatternView`] / [`CsrView`] that kernels take.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::compressed::{self, CSR};
use crate::error::{FormatError, Result};
use crate::index::SpIndex;
use crate::scalar::Scalar;

/// The structure of a CSR matrix: shape, row pointers and column indices, no values.
///
/// Invariants (always checked on construction from outside data, including deserialization):
/// - `row_ptr.len() == nrows + 1`, `row_ptr[0] == 0`, `row_ptr` is non-decreasing,
///   `row_ptr[nrows] == col_idx.len()` (= nnz);
/// - within each row, column indices are strictly increasing (sorted, no duplicates) and
///   `< ncols` (canonical form);
/// - `nrows * ncols` fits in `usize`; `nrows`, `ncols` and `nnz` fit in the index type `I`
///   (so transposing or converting to CSC/COO can never overflow the index type).
///
/// Many value arrays may share one pattern (`Arc<CsrPattern>`): training updates values over a
/// fixed pattern, dynamic sparse training swaps the pattern.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "RawCsrPattern<I>",
    bound(
        deserialize = "I: SpIndex + Deserialize<'de>",
        serialize = "I: SpIndex + Serialize"
    )
)]
pub struct CsrPattern<I: SpIndex = u32> {
    nrows: usize,
    ncols: usize,
    row_ptr: Vec<I>,
    col_idx: Vec<I>,
}

#[derive(Deserialize)]
struct RawCsrPattern<I> {
    nrows: usize,
    ncols: usize,
    row_ptr: Vec<I>,
    col_idx: Vec<I>,
}

impl<I: SpIndex> TryFrom<RawCsrPattern<I>> for CsrPattern<I> {
    type Error = FormatError;
    fn try_from(r: RawCsrPattern<I>) -> Result<Self> {
        CsrPattern::try_new(r.nrows, r.ncols, r.row_ptr, r.col_idx)
    }
}

impl<I: SpIndex> CsrPattern<I> {
    /// Validates and wraps the arrays. Every invariant listed on the type is checked.
    ///
    /// ```
    /// use sparsekit_formats::CsrPattern;
    /// let p = CsrPattern::<u32>::try_new(2, 3, vec![0, 2, 3], vec![0, 2, 1]).unwrap();
    /// assert_eq!(p.nnz(), 3);
    /// let err = CsrPattern::<u32>::try_new(2, 3, vec![0, 2, 3], vec![0, 5, 1]).unwrap_err();
    /// assert_eq!(err.to_string(), "row 0: column 5 \u{2265} ncols 3");
    /// ```
    pub fn try_new(nrows: usize, ncols: usize, row_ptr: Vec<I>, col_idx: Vec<I>) -> Result<Self> {
        compressed::check_dims::<I>(nrows, ncols, "CSR shape")?;
        I::try_from_usize(col_idx.len(), "nnz")?;
        compressed::check(CSR, nrows, ncols, &row_ptr, &col_idx)?;
        Ok(CsrPattern {
            nrows,
            ncols,
            row_ptr,
            col_idx,
        })
    }

    /// Wraps the arrays without checking.
    ///
    /// # Safety
    /// The caller guarantees every invariant listed on the type. Kernels index without bounds
    /// checks on the strength of them.
    pub unsafe fn new_unchecked(
        nrows: usize,
        ncols: usize,
        row_ptr: Vec<I>,
        col_idx: Vec<I>,
    ) -> Self {
        debug_assert!(compressed::check(CSR, nrows, ncols, &row_ptr, &col_idx).is_ok());
        CsrPattern {
            nrows,
            ncols,
            row_ptr,
            col_idx,
        }
    }

    /// An `nrows × ncols` pattern with no stored entries.
    pub fn empty(nrows: usize, ncols: usize) -> Result<Self> {
        compressed::check_dims::<I>(nrows, ncols, "CSR shape")?;
        let row_ptr = crate::error::try_vec(nrows + 1, I::default(), "row_ptr")?;
        Ok(CsrPattern {
            nrows,
            ncols,
            row_ptr,
            col_idx: Vec::new(),
        })
    }

    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.nrows
    }
    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.ncols
    }
    /// `(nrows, ncols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.nrows, self.ncols)
    }
    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.col_idx.len()
    }
    /// Row pointers, length `nrows + 1`: row `i` is `col_idx[row_ptr[i]..row_ptr[i + 1]]`.
    pub fn row_ptr(&self) -> &[I] {
        &self.row_ptr
    }
    /// Column indices, length nnz; strictly increasing within each row (canonical).
    pub fn col_idx(&self) -> &[I] {
        &self.col_idx
    }
    /// Column indices of row `i`. Panics if `i >= nrows`.
    pub fn row(&self, i: usize) -> &[I] {
        &self.col_idx[self.row_ptr[i].index()..self.row_ptr[i + 1].index()]
    }
    /// Fraction of entries that are not stored (1.0 for an empty or zero-size matrix).
    pub fn sparsity(&self) -> f64 {
        let total = self.nrows as f64 * self.ncols as f64;
        if total == 0.0 {
            1.0
        } else {
            1.0 - self.nnz() as f64 / total
        }
    }
    /// The arrays, consuming the pattern: `(nrows, ncols, row_ptr, col_idx)`.
    pub fn into_parts(self) -> (usize, usize, Vec<I>, Vec<I>) {
        (self.nrows, self.ncols, self.row_ptr, self.col_idx)
    }
    /// A borrowed view for kernels.
    pub fn view(&self) -> CsrPatternView<'_, I> {
        CsrPatternView {
            nrows: self.nrows,
            ncols: self.ncols,
            row_ptr: &self.row_ptr,
            col_idx: &self.col_idx,
        }
    }
    /// Raw bytes of the row pointers (zero-copy, native endianness).
    pub fn row_ptr_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.row_ptr)
    }
    /// Raw bytes of the column indices (zero-copy, native endianness).
    pub fn col_idx_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.col_idx)
    }
}

/// A borrowed CSR structure. Same invariants as [`CsrPattern`]; obtained from a validated
/// pattern, or checked by [`CsrPatternView::try_new`].
#[derive(Clone, Copy, Debug)]
pub struct CsrPatternView<'a, I: SpIndex = u32> {
    nrows: usize,
    ncols: usize,
    row_ptr: &'a [I],
    col_idx: &'a [I],
}

impl<'a, I: SpIndex> CsrPatternView<'a, I> {
    /// Validates borrowed arrays (O(nrows + nnz)).
    pub fn try_new(nrows: usize, ncols: usize, row_ptr: &'a [I], col_idx: &'a [I]) -> Result<Self> {
        compressed::check_dims::<I>(nrows, ncols, "CSR shape")?;
        I::try_from_usize(col_idx.len(), "nnz")?;
        compressed::check(CSR, nrows, ncols, row_ptr, col_idx)?;
        Ok(CsrPatternView {
            nrows,
            ncols,
            row_ptr,
            col_idx,
        })
    }
    /// # Safety
    /// The arrays satisfy every invariant listed on [`CsrPattern`].
    pub unsafe fn new_unchecked(
        nrows: usize,
        ncols: usize,
        row_ptr: &'a [I],
        col_idx: &'a [I],
    ) -> Self {
        CsrPatternView {
            nrows,
            ncols,
            row_ptr,
            col_idx,
        }
    }
    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.nrows
    }
    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.ncols
    }
    /// `(nrows, ncols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.nrows, self.ncols)
    }
    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.col_idx.len()
    }
    /// Row pointers, length `nrows + 1`: row `i` is `col_idx[row_ptr[i]..row_ptr[i + 1]]`.
    pub fn row_ptr(&self) -> &'a [I] {
        self.row_ptr
    }
    /// Column indices, length nnz; strictly increasing within each row (canonical).
    pub fn col_idx(&self) -> &'a [I] {
        self.col_idx
    }
    /// Owned copy of the borrowed arrays.
    pub fn to_owned(&self) -> CsrPattern<I> {
        CsrPattern {
            nrows: self.nrows,
            ncols: self.ncols,
            row_ptr: self.row_ptr.to_vec(),
            col_idx: self.col_idx.to_vec(),
        }
    }
}

/// A CSR matrix: a shared [`CsrPattern`] plus one value per stored entry.
///
/// Invariants: those of [`CsrPattern`] (always checked), and `values.len() == nnz`
/// (always checked). Explicit zeros may be stored; they are part of the pattern.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    try_from = "RawCsr<T, I>",
    bound(
        deserialize = "T: Scalar + Deserialize<'de>, I: SpIndex + Deserialize<'de>",
        serialize = "T: Scalar + Serialize, I: SpIndex + Serialize"
    )
)]
pub struct Csr<T: Scalar, I: SpIndex = u32> {
    pattern: Arc<CsrPattern<I>>,
    values: Vec<T>,
}

#[derive(Deserialize)]
struct RawCsr<T, I: SpIndex> {
    pattern: CsrPattern<I>,
    values: Vec<T>,
}

impl<T: Scalar, I: SpIndex> TryFrom<RawCsr<T, I>> for Csr<T, I> {
    type Error = FormatError;
    fn try_from(r: RawCsr<T, I>) -> Result<Self> {
        Csr::from_pattern(Arc::new(r.pattern), r.values)
    }
}

impl<T: Scalar, I: SpIndex> Csr<T, I> {
    /// Validates canonical CSR arrays (sorted, duplicate-free rows) and wraps them.
    ///
    /// ```
    /// use sparsekit_formats::Csr;
    /// // [[1, 0, 2],
    /// //  [0, 0, 0],
    /// //  [0, 3, 0]]
    /// let a = Csr::<f32>::try_new(3, 3, vec![0, 2, 2, 3], vec![0, 2, 1], vec![1.0, 2.0, 3.0]).unwrap();
    /// assert_eq!(a.to_dense(), vec![1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0]);
    /// ```
    pub fn try_new(
        nrows: usize,
        ncols: usize,
        row_ptr: Vec<I>,
        col_idx: Vec<I>,
        values: Vec<T>,
    ) -> Result<Self> {
        if values.len() != col_idx.len() {
            return Err(FormatError::len("values", col_idx.len(), values.len()));
        }
        let pattern = CsrPattern::try_new(nrows, ncols, row_ptr, col_idx)?;
        Ok(Csr {
            pattern: Arc::new(pattern),
            values,
        })
    }

    /// Like [`Csr::try_new`] but accepts rows whose column indices are unsorted or repeated:
    /// rows are sorted and duplicates summed (SciPy's rule). Bounds and `row_ptr` are still checked.
    pub fn try_from_unsorted(
        nrows: usize,
        ncols: usize,
        row_ptr: Vec<I>,
        col_idx: Vec<I>,
        values: Vec<T>,
    ) -> Result<Self> {
        if values.len() != col_idx.len() {
            return Err(FormatError::len("values", col_idx.len(), values.len()));
        }
        compressed::check_dims::<I>(nrows, ncols, "CSR shape")?;
        I::try_from_usize(col_idx.len(), "nnz")?;
        match compressed::check(CSR, nrows, ncols, &row_ptr, &col_idx) {
            Ok(()) => Ok(Csr {
                pattern: Arc::new(CsrPattern {
                    nrows,
                    ncols,
                    row_ptr,
                    col_idx,
                }),
                values,
            }),
            Err(FormatError::NotCanonical { .. }) => {
                // Pointer array valid; check bounds of every row, then sort and merge.
                compressed::check_unsorted(CSR, nrows, ncols, &row_ptr, &col_idx)?;
                let (p, c, v) = compressed::canonicalize(nrows, &row_ptr, &col_idx, &values);
                Ok(Csr {
                    pattern: Arc::new(CsrPattern {
                        nrows,
                        ncols,
                        row_ptr: p,
                        col_idx: c,
                    }),
                    values: v,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Wraps the arrays without checking.
    ///
    /// # Safety
    /// The caller guarantees every invariant listed on [`CsrPattern`] and `values.len() == nnz`.
    pub unsafe fn new_unchecked(
        nrows: usize,
        ncols: usize,
        row_ptr: Vec<I>,
        col_idx: Vec<I>,
        values: Vec<T>,
    ) -> Self {
        debug_assert_eq!(values.len(), col_idx.len());
        Csr {
            pattern: Arc::new(CsrPattern::new_unchecked(nrows, ncols, row_ptr, col_idx)),
            values,
        }
    }

    /// Values over an existing (shared) pattern. Checks only `values.len() == nnz`.
    pub fn from_pattern(pattern: Arc<CsrPattern<I>>, values: Vec<T>) -> Result<Self> {
        if values.len() != pattern.nnz() {
            return Err(FormatError::len("values", pattern.nnz(), values.len()));
        }
        Ok(Csr { pattern, values })
    }

    /// An `nrows × ncols` matrix with no stored entries.
    pub fn zeros(nrows: usize, ncols: usize) -> Result<Self> {
        Ok(Csr {
            pattern: Arc::new(CsrPattern::empty(nrows, ncols)?),
            values: Vec::new(),
        })
    }

    /// The structure: shape, row pointers and column indices.
    pub fn pattern(&self) -> &CsrPattern<I> {
        &self.pattern
    }
    /// The shared pattern handle (cheap clone).
    pub fn pattern_arc(&self) -> &Arc<CsrPattern<I>> {
        &self.pattern
    }
    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.pattern.nrows
    }
    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.pattern.ncols
    }
    /// `(nrows, ncols)`.
    pub fn shape(&self) -> (usize, usize) {
        self.pattern.shape()
    }
    /// Number of stored entries (explicit zeros included).
    pub fn nnz(&self) -> usize {
        self.values.len()
    }
    /// Fraction of entries that are not stored (1.0 for an empty or zero-size matrix).
    pub fn sparsity(&self) -> f64 {
        self.pattern.sparsity()
    }
    /// Row pointers, length `nrows + 1`: row `i` is `col_idx[row_ptr[i]..row_ptr[i + 1]]`.
    pub fn row_ptr(&self) -> &[I] {
        &self.pattern.row_ptr
    }
    /// Column indices, length nnz; strictly increasing within each row (canonical).
    pub fn col_idx(&self) -> &[I] {
        &self.pattern.col_idx
    }
    /// Stored values, length nnz, aligned with `col_idx`.
    pub fn values(&self) -> &[T] {
        &self.values
    }
    /// Values may be changed freely: the pattern stays valid.
    pub fn values_mut(&mut self) -> &mut [T] {
        &mut self.values
    }
    /// Raw bytes of the values (zero-copy, native endianness).
    pub fn values_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.values)
    }
    /// `(pattern, values)`.
    pub fn into_parts(self) -> (Arc<CsrPattern<I>>, Vec<T>) {
        (self.pattern, self.values)
    }
    /// A borrowed view for kernels.
    pub fn view(&self) -> CsrView<'_, T, I> {
        CsrView {
            pattern: self.pattern.view(),
            values: &self.values,
        }
    }
    /// Column indices and values of row `i`. Panics if `i >= nrows`.
    pub fn row(&self, i: usize) -> (&[I], &[T]) {
        let (s, e) = (
            self.pattern.row_ptr[i].index(),
            self.pattern.row_ptr[i + 1].index(),
        );
        (&self.pattern.col_idx[s..e], &self.values[s..e])
    }
    /// Dense row-major copy (`nrows * ncols` values).
    pub fn to_dense(&self) -> Vec<T> {
        self.view().to_dense()
    }
    /// Same matrix with values converted to another scalar type.
    pub fn cast<U: Scalar>(&self) -> Csr<U, I> {
        Csr {
            pattern: self.pattern.clone(),
            values: self
                .values
                .iter()
                .map(|v| U::from_f64(v.to_f64()))
                .collect(),
        }
    }
}

/// A borrowed CSR matrix: pattern view plus values. What kernels take.
#[derive(Clone, Copy, Debug)]
pub struct CsrView<'a, T: Scalar, I: SpIndex = u32> {
    pattern: CsrPatternView<'a, I>,
    values: &'a [T],
}

impl<'a, T: Scalar, I: SpIndex> CsrView<'a, T, I> {
    /// Validates borrowed arrays (O(nrows + nnz)).
    pub fn try_new(
        nrows: usize,
        ncols: usize,
        row_ptr: &'a [I],
        col_idx: &'a [I],
        values: &'a [T],
    ) -> Result<Self> {
        if values.len() != col_idx.len() {
            return Err(FormatError::len("values", col_idx.len(), values.len()));
        }
        Ok(CsrView {
            pattern: CsrPatternView::try_new(nrows, ncols, row_ptr, col_idx)?,
            values,
        })
    }
    /// Values over a validated pattern view; checks the length.
    pub fn from_pattern(pattern: CsrPatternView<'a, I>, values: &'a [T]) -> Result<Self> {
        if values.len() != pattern.nnz() {
            return Err(FormatError::len("values", pattern.nnz(), values.len()));
        }
        Ok(CsrView { pattern, values })
    }
    /// # Safety
    /// The arrays satisfy every invariant listed on [`CsrPattern`] and `values.len() == nnz`.
    pub unsafe fn new_unchecked(
        nrows: usize,
        ncols: usize,
        row_ptr: &'a [I],
        col_idx: &'a [I],
        values: &'a [T],
    ) -> Self {
        CsrView {
            pattern: CsrPatternView::new_unchecked(nrows, ncols, row_ptr, col_idx),
            values,
        }
    }
    /// The borrowed structure (a cheap copy).
    pub fn pattern(&self) -> CsrPatternView<'a, I> {
        self.pattern
    }
    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.pattern.nrows
    }
    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.pattern.ncols
    }
    /// `(nrows, ncols)`.
    pub fn shape(&self) -> (usize, usize) {
        self.pattern.shape()
    }
    /// Number of stored entries (explicit zeros included).
    pub fn nnz(&self) -> usize {
        self.values.len()
    }
    /// Row pointers, length `nrows + 1`: row `i` is `col_idx[row_ptr[i]..row_ptr[i + 1]]`.
    pub fn row_ptr(&self) -> &'a [I] {
        self.pattern.row_ptr
    }
    /// Column indices, length nnz; strictly increasing within each row (canonical).
    pub fn col_idx(&self) -> &'a [I] {
        self.pattern.col_idx
    }
    /// Stored values, length nnz, aligned with `col_idx`.
    pub fn values(&self) -> &'a [T] {
        self.values
    }
    /// Dense row-major copy.
    pub fn to_dense(&self) -> Vec<T> {
        let (m, n) = self.shape();
        let mut out = vec![T::ZERO; m * n];
        for i in 0..m {
            let (s, e) = (
                self.pattern.row_ptr[i].index(),
                self.pattern.row_ptr[i + 1].index(),
            );
            for p in s..e {
                out[i * n + self.pattern.col_idx[p].index()] = self.values[p];
            }
        }
        out
    }
    /// Owned copy: allocates a new pattern and value array.
    pub fn to_owned(&self) -> Csr<T, I> {
        Csr {
            pattern: Arc::new(self.pattern.to_owned()),
            values: self.values.to_vec(),
        }
    }
}
