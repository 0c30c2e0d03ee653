//! Coordinate (triplet) format: [`Coo`], the exchange format of Matrix Market files and of
//! incremental assembly. Entries may come in any order and may repeat; repeated entries are summed
//! when converting (SciPy's rule).

use serde::{Deserialize, Serialize};

use crate::compressed;
use crate::error::{Axis, FormatError, Result};
use crate::index::SpIndex;
use crate::scalar::Scalar;

/// A matrix as three parallel arrays `(rows[k], cols[k], values[k])`.
///
/// Invariants (always checked on construction from outside data, including deserialization):
/// - `rows.len() == cols.len() == values.len()` (= nnz, counting duplicates);
/// - every `rows[k] < nrows` and `cols[k] < ncols`;
/// - `nrows * ncols` fits in `usize`; `nrows`, `ncols` and `nnz` fit in the index type `I`.
///
/// Not invariants: order is free and duplicates are allowed. The matrix *denoted* by a `Coo` is
/// the sum of its entries: [`Coo::to_csr`], [`Coo::to_csc`] and [`Coo::to_dense`] add duplicates.
///
/// ```
/// use sparsekit_formats::Coo;
/// // unsorted, with a duplicate at (1, 0)
/// let a = Coo::<f32>::try_new(2, 2, vec![1, 0, 1], vec![0, 1, 0], vec![1.0, 2.0, 3.0])?;
/// let csr = a.to_csr();
/// assert_eq!(csr.row_ptr(), &[0, 1, 2]);
/// assert_eq!(csr.values(), &[2.0, 4.0]);
/// assert_eq!(a.to_dense(), vec![0.0, 2.0, 4.0, 0.0]);
/// # Ok::<(), sparsekit_formats::FormatError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    try_from = "RawCoo<T, I>",
    bound(
        deserialize = "T: Scalar + Deserialize<'de>, I: SpIndex + Deserialize<'de>",
        serialize = "T: Scalar + Serialize, I: SpIndex + Serialize"
    )
)]
pub struct Coo<T: Scalar, I: SpIndex = u32> {
    nrows: usize,
    ncols: usize,
    rows: Vec<I>,
    cols: Vec<I>,
    values: Vec<T>,
}

#[derive(Deserialize)]
struct RawCoo<T, I> {
    nrows: usize,
    ncols: usize,
    rows: Vec<I>,
    cols: Vec<I>,
    values: Vec<T>,
}

impl<T: Scalar, I: SpIndex> TryFrom<RawCoo<T, I>> for Coo<T, I> {
    type Error = FormatError;
    fn try_from(r: RawCoo<T, I>) -> Result<Self> {
        Coo::try_new(r.nrows, r.ncols, r.rows, r.cols, r.values)
    }
}

impl<T: Scalar, I: SpIndex> Coo<T, I> {
    /// Validates and wraps the triplets. Every invariant listed on the type is checked; O(nnz).
    ///
    /// ```
    /// use sparsekit_formats::Coo;
    /// let err = Coo::<f32>::try_new(2, 3, vec![0, 1], vec![0, 3], vec![1.0, 2.0]).unwrap_err();
    /// assert_eq!(err.to_string(), "entry 1: column 3 \u{2265} ncols 3");
    /// ```
    pub fn try_new(
        nrows: usize,
        ncols: usize,
        rows: Vec<I>,
        cols: Vec<I>,
        values: Vec<T>,
    ) -> Result<Self> {
        compressed::check_dims::<I>(nrows, ncols, "COO shape")?;
        if cols.len() != rows.len() {
            return Err(FormatError::len("cols", rows.len(), cols.len()));
        }
        if values.len() != rows.len() {
            return Err(FormatError::len("values", rows.len(), values.len()));
        }
        I::try_from_usize(rows.len(), "nnz")?;
        for (k, (&i, &j)) in rows.iter().zip(&cols).enumerate() {
            if i.index() >= nrows {
                return Err(FormatError::IndexOutOfBounds {
                    outer_axis: "entry",
                    outer: k,
                    axis: Axis::Row,
                    index: i.index(),
                    bound_name: "nrows",
                    bound: nrows,
                });
            }
            if j.index() >= ncols {
                return Err(FormatError::IndexOutOfBounds {
                    outer_axis: "entry",
                    outer: k,
                    axis: Axis::Col,
                    index: j.index(),
                    bound_name: "ncols",
                    bound: ncols,
                });
            }
        }
        Ok(Coo {
            nrows,
            ncols,
            rows,
            cols,
            values,
        })
    }

    /// Wraps the triplets without checking.
    ///
    /// # Safety
    /// The caller guarantees every invariant listed on the type.
    pub unsafe fn new_unchecked(
        nrows: usize,
        ncols: usize,
        rows: Vec<I>,
        cols: Vec<I>,
        values: Vec<T>,
    ) -> Self {
        Coo {
            nrows,
            ncols,
            rows,
            cols,
            values,
        }
    }

    /// An `nrows × ncols` matrix with no entries (allocates nothing).
    pub fn zeros(nrows: usize, ncols: usize) -> Result<Self> {
        compressed::check_dims::<I>(nrows, ncols, "COO shape")?;
        Ok(Coo {
            nrows,
            ncols,
            rows: Vec::new(),
            cols: Vec::new(),
            values: Vec::new(),
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
    /// Number of stored triplets, duplicates counted.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }
    /// Row index of each triplet, length nnz, each `< nrows`; any order.
    pub fn rows(&self) -> &[I] {
        &self.rows
    }
    /// Column index of each triplet, length nnz, each `< ncols`; any order.
    pub fn cols(&self) -> &[I] {
        &self.cols
    }
    /// Value of each triplet, length nnz (duplicates are summed when converting).
    pub fn values(&self) -> &[T] {
        &self.values
    }
    /// Values may be changed freely.
    pub fn values_mut(&mut self) -> &mut [T] {
        &mut self.values
    }
    /// Raw bytes of the row indices (zero-copy, native endianness).
    pub fn rows_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.rows)
    }
    /// Raw bytes of the column indices (zero-copy, native endianness).
    pub fn cols_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.cols)
    }
    /// Raw bytes of the values (zero-copy, native endianness).
    pub fn values_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.values)
    }
    /// `(nrows, ncols, rows, cols, values)`.
    pub fn into_parts(self) -> (usize, usize, Vec<I>, Vec<I>, Vec<T>) {
        (self.nrows, self.ncols, self.rows, self.cols, self.values)
    }
    /// Appends one entry (duplicates allowed), checking bounds and the index type.
    pub fn push(&mut self, row: usize, col: usize, value: T) -> Result<()> {
        let k = self.values.len();
        if row >= self.nrows {
            return Err(FormatError::IndexOutOfBounds {
                outer_axis: "entry",
                outer: k,
                axis: Axis::Row,
                index: row,
                bound_name: "nrows",
                bound: self.nrows,
            });
        }
        if col >= self.ncols {
            return Err(FormatError::IndexOutOfBounds {
                outer_axis: "entry",
                outer: k,
                axis: Axis::Col,
                index: col,
                bound_name: "ncols",
                bound: self.ncols,
            });
        }
        I::try_from_usize(k + 1, "nnz")?;
        self.rows.push(I::from_usize(row));
        self.cols.push(I::from_usize(col));
        self.values.push(value);
        Ok(())
    }
    /// A borrowed view.
    pub fn view(&self) -> CooView<'_, T, I> {
        CooView {
            nrows: self.nrows,
            ncols: self.ncols,
            rows: &self.rows,
            cols: &self.cols,
            values: &self.values,
        }
    }
    /// Dense row-major copy (`nrows * ncols` values); duplicates are summed.
    pub fn to_dense(&self) -> Vec<T> {
        self.view().to_dense()
    }
    /// Same matrix with values converted to another scalar type.
    pub fn cast<U: Scalar>(&self) -> Coo<U, I> {
        Coo {
            nrows: self.nrows,
            ncols: self.ncols,
            rows: self.rows.clone(),
            cols: self.cols.clone(),
            values: self
                .values
                .iter()
                .map(|v| U::from_f64(v.to_f64()))
                .collect(),
        }
    }
}

/// A borrowed COO matrix. Same invariants as [`Coo`].
#[derive(Clone, Copy, Debug)]
pub struct CooView<'a, T: Scalar, I: SpIndex = u32> {
    nrows: usize,
    ncols: usize,
    rows: &'a [I],
    cols: &'a [I],
    values: &'a [T],
}

impl<'a, T: Scalar, I: SpIndex> CooView<'a, T, I> {
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
    /// Number of stored triplets, duplicates counted.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }
    /// Row index of each triplet, length nnz, each `< nrows`; any order.
    pub fn rows(&self) -> &'a [I] {
        self.rows
    }
    /// Column index of each triplet, length nnz, each `< ncols`; any order.
    pub fn cols(&self) -> &'a [I] {
        self.cols
    }
    /// Value of each triplet, length nnz (duplicates are summed when converting).
    pub fn values(&self) -> &'a [T] {
        self.values
    }
    /// Dense row-major copy; duplicates are summed.
    pub fn to_dense(&self) -> Vec<T> {
        let n = self.ncols;
        let mut out = vec![T::ZERO; self.nrows * n];
        for k in 0..self.values.len() {
            let at = self.rows[k].index() * n + self.cols[k].index();
            out[at] = T::add(out[at], self.values[k]);
        }
        out
    }
    /// Owned copy of the borrowed arrays (order and duplicates kept).
    pub fn to_owned(&self) -> Coo<T, I> {
        Coo {
            nrows: self.nrows,
            ncols: self.ncols,
            rows: self.rows.to_vec(),
            cols: self.cols.to_vec(),
            values: self.values.to_vec(),
        }
    }
}
