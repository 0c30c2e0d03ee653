//! Compressed sparse column: [`CscPattern`] (structure, shareable), [`Csc`] (pattern + values) and
//! the borrowed views [`CscPatternView`] / [`CscView`]. The mirror image of [`crate::csr`]:
//! `col_ptr` over columns, sorted row indices inside each column (SciPy's `csc_matrix` layout).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::compressed::{self, CSC};
use crate::error::{FormatError, Result};
use crate::index::SpIndex;
use crate::scalar::Scalar;

/// The structure of a CSC matrix: shape, column pointers and row indices, no values.
///
/// Invariants (always checked on construction from outside data, including deserialization):
/// - `col_ptr.len() == ncols + 1`, `col_ptr[0] == 0`, `col_ptr` is non-decreasing,
///   `col_ptr[ncols] == row_idx.len()` (= nnz);
/// - within each column, row indices are strictly increasing (sorted, no duplicates) and
///   `< nrows` (canonical form);
/// - `nrows * ncols` fits in `usize`; `nrows`, `ncols` and `nnz` fit in the index type `I`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "RawCscPattern<I>",
    bound(
        deserialize = "I: SpIndex + Deserialize<'de>",
        serialize = "I: SpIndex + Serialize"
    )
)]
pub struct CscPattern<I: SpIndex = u32> {
    nrows: usize,
    ncols: usize,
    col_ptr: Vec<I>,
    row_idx: Vec<I>,
}

#[derive(Deserialize)]
struct RawCscPattern<I> {
    nrows: usize,
    ncols: usize,
    col_ptr: Vec<I>,
    row_idx: Vec<I>,
}

impl<I: SpIndex> TryFrom<RawCscPattern<I>> for CscPattern<I> {
    type Error = FormatError;
    fn try_from(r: RawCscPattern<I>) -> Result<Self> {
        CscPattern::try_new(r.nrows, r.ncols, r.col_ptr, r.row_idx)
    }
}

impl<I: SpIndex> CscPattern<I> {
    /// Validates and wraps the arrays. Every invariant listed on the type is checked.
    ///
    /// ```
    /// use sparsekit_formats::CscPattern;
    /// let p = CscPattern::<u32>::try_new(3, 2, vec![0, 2, 3], vec![0, 2, 1]).unwrap();
    /// assert_eq!(p.nnz(), 3);
    /// let err = CscPattern::<u32>::try_new(3, 2, vec![0, 2, 3], vec![0, 5, 1]).unwrap_err();
    /// assert_eq!(err.to_string(), "column 0: row 5 \u{2265} nrows 3");
    /// ```
    pub fn try_new(nrows: usize, ncols: usize, col_ptr: Vec<I>, row_idx: Vec<I>) -> Result<Self> {
        compressed::check_dims::<I>(nrows, ncols, "CSC shape")?;
        I::try_from_usize(row_idx.len(), "nnz")?;
        compressed::check(CSC, ncols, nrows, &col_ptr, &row_idx)?;
        Ok(CscPattern {
            nrows,
            ncols,
            col_ptr,
            row_idx,
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
        col_ptr: Vec<I>,
        row_idx: Vec<I>,
    ) -> Self {
        debug_assert!(compressed::check(CSC, ncols, nrows, &col_ptr, &row_idx).is_ok());
        CscPattern {
            nrows,
            ncols,
            col_ptr,
            row_idx,
        }
    }

    /// An `nrows × ncols` pattern with no stored entries.
    pub fn empty(nrows: usize, ncols: usize) -> Result<Self> {
        compressed::check_dims::<I>(nrows, ncols, "CSC shape")?;
        Ok(CscPattern {
            nrows,
            ncols,
            col_ptr: crate::error::try_vec(ncols + 1, I::default(), "col_ptr")?,
            row_idx: Vec::new(),
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
        self.row_idx.len()
    }
    /// Column pointers, length `ncols + 1`: column `j` is `row_idx[col_ptr[j]..col_ptr[j + 1]]`.
    pub fn col_ptr(&self) -> &[I] {
        &self.col_ptr
    }
    /// Row indices, length nnz; strictly increasing within each column (canonical).
    pub fn row_idx(&self) -> &[I] {
        &self.row_idx
    }
    /// Row indices of column `j`. Panics if `j >= ncols`.
    pub fn col(&self, j: usize) -> &[I] {
        &self.row_idx[self.col_ptr[j].index()..self.col_ptr[j + 1].index()]
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
    /// The arrays, consuming the pattern: `(nrows, ncols, col_ptr, row_idx)`.
    pub fn into_parts(self) -> (usize, usize, Vec<I>, Vec<I>) {
        (self.nrows, self.ncols, self.col_ptr, self.row_idx)
    }
    /// A borrowed view for kernels.
    pub fn view(&self) -> CscPatternView<'_, I> {
        CscPatternView {
            nrows: self.nrows,
            ncols: self.ncols,
            col_ptr: &self.col_ptr,
            row_idx: &self.row_idx,
        }
    }
    /// Raw bytes of the column pointers (zero-copy, native endianness).
    pub fn col_ptr_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.col_ptr)
    }
    /// Raw bytes of the row indices (zero-copy, native endianness).
    pub fn row_idx_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.row_idx)
    }
}

/// A borrowed CSC structure. Same invariants as [`CscPattern`]; obtained from a validated
/// pattern, or checked by [`CscPatternView::try_new`].
#[derive(Clone, Copy, Debug)]
pub struct CscPatternView<'a, I: SpIndex = u32> {
    nrows: usize,
    ncols: usize,
    col_ptr: &'a [I],
    row_idx: &'a [I],
}

impl<'a, I: SpIndex> CscPatternView<'a, I> {
    /// Validates borrowed arrays (O(ncols + nnz)).
    pub fn try_new(nrows: usize, ncols: usize, col_ptr: &'a [I], row_idx: &'a [I]) -> Result<Self> {
        compressed::check_dims::<I>(nrows, ncols, "CSC shape")?;
        I::try_from_usize(row_idx.len(), "nnz")?;
        compressed::check(CSC, ncols, nrows, col_ptr, row_idx)?;
        Ok(CscPatternView {
            nrows,
            ncols,
            col_ptr,
            row_idx,
        })
    }
    /// # Safety
    /// The arrays satisfy every invariant listed on [`CscPattern`].
    pub unsafe fn new_unchecked(
        nrows: usize,
        ncols: usize,
        col_ptr: &'a [I],
        row_idx: &'a [I],
    ) -> Self {
        CscPatternView {
            nrows,
            ncols,
            col_ptr,
            row_idx,
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
        self.row_idx.len()
    }
    /// Column pointers, length `ncols + 1`: column `j` is `row_idx[col_ptr[j]..col_ptr[j + 1]]`.
    pub fn col_ptr(&self) -> &'a [I] {
        self.col_ptr
    }
    /// Row indices, length nnz; strictly increasing within each column (canonical).
    pub fn row_idx(&self) -> &'a [I] {
        self.row_idx
    }
    /// Owned copy of the borrowed arrays.
    pub fn to_owned(&self) -> CscPattern<I> {
        CscPattern {
            nrows: self.nrows,
            ncols: self.ncols,
            col_ptr: self.col_ptr.to_vec(),
            row_idx: self.row_idx.to_vec(),
        }
    }
}

/// A CSC matrix: a shared [`CscPattern`] plus one value per stored entry.
///
/// Invariants: those of [`CscPattern`] (always checked), and `values.len() == nnz`
/// (always checked). Explicit zeros may be stored; they are part of the pattern.
///
/// ```
/// use sparsekit_formats::{Csc, Csr};
/// // [[1, 0, 2],
/// //  [0, 3, 0]]
/// let a = Csc::<f64>::try_new(2, 3, vec![0, 1, 2, 3], vec![0, 1, 0], vec![1.0, 3.0, 2.0])?;
/// assert_eq!(a.to_dense(), vec![1.0, 0.0, 2.0, 0.0, 3.0, 0.0]);
/// let r: Csr<f64> = a.to_csr();
/// assert_eq!(r.col_idx(), &[0, 2, 1]);
/// assert_eq!(r.to_csc(), a);
/// # Ok::<(), sparsekit_formats::FormatError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    try_from = "RawCsc<T, I>",
    bound(
        deserialize = "T: Scalar + Deserialize<'de>, I: SpIndex + Deserialize<'de>",
        serialize = "T: Scalar + Serialize, I: SpIndex + Serialize"
    )
)]
pub struct Csc<T: Scalar, I: SpIndex = u32> {
    pattern: Arc<CscPattern<I>>,
    values: Vec<T>,
}

#[derive(Deserialize)]
struct RawCsc<T, I: SpIndex> {
    pattern: CscPattern<I>,
    values: Vec<T>,
}

impl<T: Scalar, I: SpIndex> TryFrom<RawCsc<T, I>> for Csc<T, I> {
    type Error = FormatError;
    fn try_from(r: RawCsc<T, I>) -> Result<Self> {
        Csc::from_pattern(Arc::new(r.pattern), r.values)
    }
}

impl<T: Scalar, I: SpIndex> Csc<T, I> {
    /// Validates canonical CSC arrays (sorted, duplicate-free columns) and wraps them.
    pub fn try_new(
        nrows: usize,
        ncols: usize,
        col_ptr: Vec<I>,
        row_idx: Vec<I>,
        values: Vec<T>,
    ) -> Result<Self> {
        if values.len() != row_idx.len() {
            return Err(FormatError::len("values", row_idx.len(), values.len()));
        }
        let pattern = CscPattern::try_new(nrows, ncols, col_ptr, row_idx)?;
        Ok(Csc {
            pattern: Arc::new(pattern),
            values,
        })
    }

    /// Like [`Csc::try_new`] but accepts columns whose row indices are unsorted or repeated:
    /// columns are sorted and duplicates summed (SciPy's rule). Bounds and `col_ptr` are still
    /// checked.
    ///
    /// ```
    /// use sparsekit_formats::Csc;
    /// let a = Csc::<f32>::try_from_unsorted(3, 1, vec![0, 3], vec![2, 0, 2], vec![1.0, 2.0, 4.0])?;
    /// assert_eq!(a.row_idx(), &[0, 2]);
    /// assert_eq!(a.values(), &[2.0, 5.0]);
    /// # Ok::<(), sparsekit_formats::FormatError>(())
    /// ```
    pub fn try_from_unsorted(
        nrows: usize,
        ncols: usize,
        col_ptr: Vec<I>,
        row_idx: Vec<I>,
        values: Vec<T>,
    ) -> Result<Self> {
        if values.len() != row_idx.len() {
            return Err(FormatError::len("values", row_idx.len(), values.len()));
        }
        compressed::check_dims::<I>(nrows, ncols, "CSC shape")?;
        I::try_from_usize(row_idx.len(), "nnz")?;
        match compressed::check(CSC, ncols, nrows, &col_ptr, &row_idx) {
            Ok(()) => Ok(Csc {
                pattern: Arc::new(CscPattern {
                    nrows,
                    ncols,
                    col_ptr,
                    row_idx,
                }),
                values,
            }),
            Err(FormatError::NotCanonical { .. }) => {
                compressed::check_unsorted(CSC, ncols, nrows, &col_ptr, &row_idx)?;
                let (p, r, v) = compressed::canonicalize(ncols, &col_ptr, &row_idx, &values);
                Ok(Csc {
                    pattern: Arc::new(CscPattern {
                        nrows,
                        ncols,
                        col_ptr: p,
                        row_idx: r,
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
    /// The caller guarantees every invariant listed on [`CscPattern`] and `values.len() == nnz`.
    pub unsafe fn new_unchecked(
        nrows: usize,
        ncols: usize,
        col_ptr: Vec<I>,
        row_idx: Vec<I>,
        values: Vec<T>,
    ) -> Self {
        debug_assert_eq!(values.len(), row_idx.len());
        Csc {
            pattern: Arc::new(CscPattern::new_unchecked(nrows, ncols, col_ptr, row_idx)),
            values,
        }
    }

    /// Values over an existing (shared) pattern. Checks only `values.len() == nnz`.
    pub fn from_pattern(pattern: Arc<CscPattern<I>>, values: Vec<T>) -> Result<Self> {
        if values.len() != pattern.nnz() {
            return Err(FormatError::len("values", pattern.nnz(), values.len()));
        }
        Ok(Csc { pattern, values })
    }

    /// An `nrows × ncols` matrix with no stored entries.
    pub fn zeros(nrows: usize, ncols: usize) -> Result<Self> {
        Ok(Csc {
            pattern: Arc::new(CscPattern::empty(nrows, ncols)?),
            values: Vec::new(),
        })
    }

    /// The structure: shape, column pointers and row indices.
    pub fn pattern(&self) -> &CscPattern<I> {
        &self.pattern
    }
    /// The shared pattern handle (cheap clone).
    pub fn pattern_arc(&self) -> &Arc<CscPattern<I>> {
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
    /// Column pointers, length `ncols + 1`: column `j` is `row_idx[col_ptr[j]..col_ptr[j + 1]]`.
    pub fn col_ptr(&self) -> &[I] {
        &self.pattern.col_ptr
    }
    /// Row indices, length nnz; strictly increasing within each column (canonical).
    pub fn row_idx(&self) -> &[I] {
        &self.pattern.row_idx
    }
    /// Stored values, length nnz, aligned with `row_idx`.
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
    pub fn into_parts(self) -> (Arc<CscPattern<I>>, Vec<T>) {
        (self.pattern, self.values)
    }
    /// A borrowed view for kernels.
    pub fn view(&self) -> CscView<'_, T, I> {
        CscView {
            pattern: self.pattern.view(),
            values: &self.values,
        }
    }
    /// Row indices and values of column `j`. Panics if `j >= ncols`.
    pub fn col(&self, j: usize) -> (&[I], &[T]) {
        let (s, e) = (
            self.pattern.col_ptr[j].index(),
            self.pattern.col_ptr[j + 1].index(),
        );
        (&self.pattern.row_idx[s..e], &self.values[s..e])
    }
    /// Dense row-major copy (`nrows * ncols` values).
    pub fn to_dense(&self) -> Vec<T> {
        self.view().to_dense()
    }
    /// Same matrix with values converted to another scalar type.
    pub fn cast<U: Scalar>(&self) -> Csc<U, I> {
        Csc {
            pattern: self.pattern.clone(),
            values: self
                .values
                .iter()
                .map(|v| U::from_f64(v.to_f64()))
                .collect(),
        }
    }
}

/// A borrowed CSC matrix: pattern view plus values.
#[derive(Clone, Copy, Debug)]
pub struct CscView<'a, T: Scalar, I: SpIndex = u32> {
    pattern: CscPatternView<'a, I>,
    values: &'a [T],
}

impl<'a, T: Scalar, I: SpIndex> CscView<'a, T, I> {
    /// Validates borrowed arrays (O(ncols + nnz)).
    pub fn try_new(
        nrows: usize,
        ncols: usize,
        col_ptr: &'a [I],
        row_idx: &'a [I],
        values: &'a [T],
    ) -> Result<Self> {
        if values.len() != row_idx.len() {
            return Err(FormatError::len("values", row_idx.len(), values.len()));
        }
        Ok(CscView {
            pattern: CscPatternView::try_new(nrows, ncols, col_ptr, row_idx)?,
            values,
        })
    }
    /// Values over a validated pattern view; checks the length.
    pub fn from_pattern(pattern: CscPatternView<'a, I>, values: &'a [T]) -> Result<Self> {
        if values.len() != pattern.nnz() {
            return Err(FormatError::len("values", pattern.nnz(), values.len()));
        }
        Ok(CscView { pattern, values })
    }
    /// # Safety
    /// The arrays satisfy every invariant listed on [`CscPattern`] and `values.len() == nnz`.
    pub unsafe fn new_unchecked(
        nrows: usize,
        ncols: usize,
        col_ptr: &'a [I],
        row_idx: &'a [I],
        values: &'a [T],
    ) -> Self {
        CscView {
            pattern: CscPatternView::new_unchecked(nrows, ncols, col_ptr, row_idx),
            values,
        }
    }
    /// The borrowed structure (a cheap copy).
    pub fn pattern(&self) -> CscPatternView<'a, I> {
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
    /// Column pointers, length `ncols + 1`: column `j` is `row_idx[col_ptr[j]..col_ptr[j + 1]]`.
    pub fn col_ptr(&self) -> &'a [I] {
        self.pattern.col_ptr
    }
    /// Row indices, length nnz; strictly increasing within each column (canonical).
    pub fn row_idx(&self) -> &'a [I] {
        self.pattern.row_idx
    }
    /// Stored values, length nnz, aligned with `row_idx`.
    pub fn values(&self) -> &'a [T] {
        self.values
    }
    /// Dense row-major copy.
    pub fn to_dense(&self) -> Vec<T> {
        let (m, n) = self.shape();
        let mut out = vec![T::ZERO; m * n];
        for j in 0..n {
            let (s, e) = (
                self.pattern.col_ptr[j].index(),
                self.pattern.col_ptr[j + 1].index(),
            );
            for p in s..e {
                out[self.pattern.row_idx[p].index() * n + j] = self.values[p];
            }
        }
        out
    }
    /// Owned copy: allocates a new pattern and value array.
    pub fn to_owned(&self) -> Csc<T, I> {
        Csc {
            pattern: Arc::new(self.pattern.to_owned()),
            values: self.values.to_vec(),
        }
    }
}
