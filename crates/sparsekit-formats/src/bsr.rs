//! Block sparse row: [`Bsr`] stores dense `r × c` blocks in a CSR structure over block rows and
//! block columns (SciPy's `bsr_matrix` layout), and [`BsrView`] borrows one for kernels.

use serde::{Deserialize, Serialize};

use crate::compressed::{self, BSR};
use crate::csr::Csr;
use crate::error::{checked_size, FormatError, Result};
use crate::index::SpIndex;
use crate::scalar::Scalar;

/// Checks a block shape against a matrix shape; returns `(nbrows, nbcols)`.
pub(crate) fn check_block_shape(
    nrows: usize,
    ncols: usize,
    (r, c): (usize, usize),
) -> Result<(usize, usize)> {
    if r == 0 || c == 0 {
        return Err(FormatError::Structure(format!(
            "block shape {r}\u{d7}{c}: both sides must be \u{2265} 1"
        )));
    }
    if nrows % r != 0 || ncols % c != 0 {
        return Err(FormatError::Structure(format!(
            "block shape {r}\u{d7}{c} does not divide the matrix shape {nrows}\u{d7}{ncols}"
        )));
    }
    Ok((nrows / r, ncols / c))
}

/// A block sparse row matrix: `nrows × ncols` cut into `r × c` blocks; the stored blocks form a
/// CSR structure over `nrows / r` block rows and `ncols / c` block columns.
///
/// `values` holds `nblocks · r · c` entries, block after block in storage order, each block
/// row-major: exactly SciPy's `bsr_matrix.data` of shape `(nblocks, r, c)` flattened. Entry
/// `(ri, ci)` of stored block `p` (block row `bi`, block column `bj = block_col_idx[p]`) is matrix
/// entry `(bi·r + ri, bj·c + ci)` and lives at `values[(p·r + ri)·c + ci]`.
///
/// Invariants (always checked on construction from outside data, including deserialization):
/// - `r ≥ 1`, `c ≥ 1`, `nrows % r == 0`, `ncols % c == 0`;
/// - `block_row_ptr.len() == nrows / r + 1`, starts at 0, non-decreasing, ends at `nblocks`;
/// - block column indices strictly increasing within each block row and `< ncols / c`;
/// - `values.len() == nblocks · r · c`;
/// - `nrows * ncols` fits in `usize`; `nrows`, `ncols` and `values.len()` fit in the index type `I`
///   (so [`Bsr::to_csr`] cannot overflow it).
///
/// Zeros inside a stored block are stored values. [`Bsr::to_csr`] drops them (it keeps only
/// non-zero values); [`Bsr::to_csr_keep_zeros`] keeps every entry of every stored block.
///
/// ```
/// use sparsekit_formats::{Bsr, Csr};
/// // 2×4 matrix, 2×2 blocks: [[1, 2, 0, 0],
/// //                           [3, 0, 0, 0]]
/// let a = Bsr::<f32>::try_new(2, 4, (2, 2), vec![0, 1], vec![0], vec![1.0, 2.0, 3.0, 0.0])?;
/// assert_eq!(a.nblocks(), 1);
/// assert_eq!(a.to_dense(), vec![1.0, 2.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0]);
/// let csr: Csr<f32> = a.to_csr(); // the stored zero at (1, 1) is dropped
/// assert_eq!(csr.nnz(), 3);
/// assert_eq!(Bsr::from_csr(&csr, (2, 2))?, a);
/// # Ok::<(), sparsekit_formats::FormatError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    try_from = "RawBsr<T, I>",
    bound(
        deserialize = "T: Scalar + Deserialize<'de>, I: SpIndex + Deserialize<'de>",
        serialize = "T: Scalar + Serialize, I: SpIndex + Serialize"
    )
)]
pub struct Bsr<T: Scalar, I: SpIndex = u32> {
    nrows: usize,
    ncols: usize,
    block_shape: (usize, usize),
    block_row_ptr: Vec<I>,
    block_col_idx: Vec<I>,
    values: Vec<T>,
}

#[derive(Deserialize)]
struct RawBsr<T, I> {
    nrows: usize,
    ncols: usize,
    block_shape: (usize, usize),
    block_row_ptr: Vec<I>,
    block_col_idx: Vec<I>,
    values: Vec<T>,
}

impl<T: Scalar, I: SpIndex> TryFrom<RawBsr<T, I>> for Bsr<T, I> {
    type Error = FormatError;
    fn try_from(r: RawBsr<T, I>) -> Result<Self> {
        Bsr::try_new(
            r.nrows,
            r.ncols,
            r.block_shape,
            r.block_row_ptr,
            r.block_col_idx,
            r.values,
        )
    }
}

/// Checks everything but allocates nothing; shared by [`Bsr::try_new`] and [`BsrView::try_new`].
fn check_bsr<T, I: SpIndex>(
    nrows: usize,
    ncols: usize,
    block_shape: (usize, usize),
    block_row_ptr: &[I],
    block_col_idx: &[I],
    values: &[T],
) -> Result<()> {
    compressed::check_dims::<I>(nrows, ncols, "BSR shape")?;
    let (nbrows, nbcols) = check_block_shape(nrows, ncols, block_shape)?;
    compressed::check(BSR, nbrows, nbcols, block_row_ptr, block_col_idx)?;
    let block_len = checked_size(block_shape.0, block_shape.1, "BSR block")?;
    let expected = checked_size(
        block_col_idx.len(),
        block_len,
        "BSR values (nblocks \u{d7} r\u{b7}c)",
    )?;
    if values.len() != expected {
        return Err(FormatError::len("values", expected, values.len()));
    }
    I::try_from_usize(values.len(), "nblocks \u{b7} r \u{b7} c")?;
    Ok(())
}

impl<T: Scalar, I: SpIndex> Bsr<T, I> {
    /// Validates and wraps the arrays. Every invariant listed on the type is checked.
    ///
    /// ```
    /// use sparsekit_formats::Bsr;
    /// let err = Bsr::<f32>::try_new(3, 4, (2, 2), vec![0, 0], vec![], vec![]).unwrap_err();
    /// assert_eq!(err.to_string(), "structure: block shape 2\u{d7}2 does not divide the matrix shape 3\u{d7}4");
    /// ```
    pub fn try_new(
        nrows: usize,
        ncols: usize,
        block_shape: (usize, usize),
        block_row_ptr: Vec<I>,
        block_col_idx: Vec<I>,
        values: Vec<T>,
    ) -> Result<Self> {
        check_bsr(
            nrows,
            ncols,
            block_shape,
            &block_row_ptr,
            &block_col_idx,
            &values,
        )?;
        Ok(Bsr {
            nrows,
            ncols,
            block_shape,
            block_row_ptr,
            block_col_idx,
            values,
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
        block_shape: (usize, usize),
        block_row_ptr: Vec<I>,
        block_col_idx: Vec<I>,
        values: Vec<T>,
    ) -> Self {
        debug_assert!(check_bsr(
            nrows,
            ncols,
            block_shape,
            &block_row_ptr,
            &block_col_idx,
            &values
        )
        .is_ok());
        Bsr {
            nrows,
            ncols,
            block_shape,
            block_row_ptr,
            block_col_idx,
            values,
        }
    }

    /// An `nrows × ncols` matrix with no stored blocks.
    pub fn zeros(nrows: usize, ncols: usize, block_shape: (usize, usize)) -> Result<Self> {
        compressed::check_dims::<I>(nrows, ncols, "BSR shape")?;
        let (nbrows, _) = check_block_shape(nrows, ncols, block_shape)?;
        Ok(Bsr {
            nrows,
            ncols,
            block_shape,
            block_row_ptr: crate::error::try_vec(nbrows + 1, I::default(), "block_row_ptr")?,
            block_col_idx: Vec::new(),
            values: Vec::new(),
        })
    }

    /// Number of rows (of scalar entries, not blocks).
    pub fn nrows(&self) -> usize {
        self.nrows
    }
    /// Number of columns (of scalar entries, not blocks).
    pub fn ncols(&self) -> usize {
        self.ncols
    }
    /// `(nrows, ncols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.nrows, self.ncols)
    }
    /// `(r, c)`.
    pub fn block_shape(&self) -> (usize, usize) {
        self.block_shape
    }
    /// Number of block rows, `nrows / r`.
    pub fn nblock_rows(&self) -> usize {
        self.nrows / self.block_shape.0
    }
    /// Number of block columns, `ncols / c`.
    pub fn nblock_cols(&self) -> usize {
        self.ncols / self.block_shape.1
    }
    /// Number of stored blocks.
    pub fn nblocks(&self) -> usize {
        self.block_col_idx.len()
    }
    /// Number of stored values, `nblocks · r · c` (zeros inside blocks included).
    pub fn nnz_stored(&self) -> usize {
        self.values.len()
    }
    /// Block row pointers, length `nrows / r + 1`: block row `bi` is `block_col_idx[block_row_ptr[bi]..block_row_ptr[bi + 1]]`.
    pub fn block_row_ptr(&self) -> &[I] {
        &self.block_row_ptr
    }
    /// Block column index of each stored block, length nblocks; strictly increasing within each block row.
    pub fn block_col_idx(&self) -> &[I] {
        &self.block_col_idx
    }
    /// Stored values, length `nblocks · r · c`: block after block, each block row-major.
    pub fn values(&self) -> &[T] {
        &self.values
    }
    /// Values may be changed freely: the block structure stays valid.
    pub fn values_mut(&mut self) -> &mut [T] {
        &mut self.values
    }
    /// The `r · c` values of stored block `p`, row-major. Panics if `p >= nblocks`.
    pub fn block(&self, p: usize) -> &[T] {
        let len = self.block_shape.0 * self.block_shape.1;
        &self.values[p * len..(p + 1) * len]
    }
    /// Raw bytes of the block row pointers (zero-copy, native endianness).
    pub fn block_row_ptr_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.block_row_ptr)
    }
    /// Raw bytes of the block column indices (zero-copy, native endianness).
    pub fn block_col_idx_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.block_col_idx)
    }
    /// Raw bytes of the values (zero-copy, native endianness).
    pub fn values_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.values)
    }
    /// `(nrows, ncols, block_shape, block_row_ptr, block_col_idx, values)`.
    #[allow(clippy::type_complexity)]
    pub fn into_parts(self) -> (usize, usize, (usize, usize), Vec<I>, Vec<I>, Vec<T>) {
        (
            self.nrows,
            self.ncols,
            self.block_shape,
            self.block_row_ptr,
            self.block_col_idx,
            self.values,
        )
    }
    /// A borrowed view for kernels.
    pub fn view(&self) -> BsrView<'_, T, I> {
        BsrView {
            nrows: self.nrows,
            ncols: self.ncols,
            block_shape: self.block_shape,
            block_row_ptr: &self.block_row_ptr,
            block_col_idx: &self.block_col_idx,
            values: &self.values,
        }
    }
    /// Same matrix with values converted to another scalar type.
    pub fn cast<U: Scalar>(&self) -> Bsr<U, I> {
        Bsr {
            nrows: self.nrows,
            ncols: self.ncols,
            block_shape: self.block_shape,
            block_row_ptr: self.block_row_ptr.clone(),
            block_col_idx: self.block_col_idx.clone(),
            values: self
                .values
                .iter()
                .map(|v| U::from_f64(v.to_f64()))
                .collect(),
        }
    }
    /// Dense row-major copy (`nrows * ncols` values).
    pub fn to_dense(&self) -> Vec<T> {
        self.view().to_dense()
    }
    /// CSR of the same matrix, keeping only the **non-zero** values of the stored blocks (zeros
    /// inside blocks are padding, not structure). O(nblocks · r · c + nrows).
    pub fn to_csr(&self) -> Csr<T, I> {
        self.view().to_csr_impl(false)
    }
    /// CSR with every entry of every stored block, zeros included (the block structure expanded).
    pub fn to_csr_keep_zeros(&self) -> Csr<T, I> {
        self.view().to_csr_impl(true)
    }
    /// CSC of the same matrix (through CSR), non-zero values only.
    pub fn to_csc(&self) -> crate::Csc<T, I> {
        self.to_csr().to_csc()
    }
    /// Triplets of the same matrix (through CSR), non-zero values only.
    pub fn to_coo(&self) -> crate::Coo<T, I> {
        crate::Coo::from_csr(&self.to_csr())
    }

    /// Blocks a CSR matrix: a block is stored iff it holds at least one stored entry of `a`
    /// (explicit zeros count); the rest of a stored block is filled with zeros.
    /// O(nnz + nblocks · r · c + nrows + ncols / c).
    ///
    /// Errors: block shape not dividing the shape ([`FormatError::Structure`]), and
    /// `nblocks · r · c` not fitting in `I` ([`FormatError::IndexTypeOverflow`]).
    pub fn from_csr(a: &Csr<T, I>, block_shape: (usize, usize)) -> Result<Self> {
        let (nrows, ncols) = a.shape();
        let (nbrows, nbcols) = check_block_shape(nrows, ncols, block_shape)?;
        let (r, c) = block_shape;
        let (row_ptr, col_idx, vals) = (a.row_ptr(), a.col_idx(), a.values());
        // 1. Distinct block columns per block row (unsorted), marked with a per-block-row stamp.
        let mut stamp = vec![usize::MAX; nbcols];
        let mut bptr: Vec<I> = Vec::with_capacity(nbrows + 1);
        let mut bidx: Vec<I> = Vec::new();
        bptr.push(I::default());
        for bi in 0..nbrows {
            for i in bi * r..(bi + 1) * r {
                for &j in &col_idx[row_ptr[i].index()..row_ptr[i + 1].index()] {
                    let bj = j.index() / c;
                    if stamp[bj] != bi {
                        stamp[bj] = bi;
                        bidx.push(I::from_usize(bj));
                    }
                }
            }
            bptr.push(I::from_usize(bidx.len()));
        }
        // 2. Sort block columns inside each block row: two counting-sort transposes, O(nblocks + n).
        let (tp, ti, _) = compressed::transpose::<I, ()>(nbrows, nbcols, &bptr, &bidx, &[]);
        let (bptr, bidx, _) = compressed::transpose::<I, ()>(nbcols, nbrows, &tp, &ti, &[]);
        // 3. Scatter the entries into their blocks.
        let block_len = r * c; // ≤ nrows·ncols, fits
        let nvals = checked_size(
            bidx.len(),
            block_len,
            "BSR values (nblocks \u{d7} r\u{b7}c)",
        )?;
        I::try_from_usize(nvals, "nblocks \u{b7} r \u{b7} c")?;
        let mut values = vec![T::ZERO; nvals];
        let mut pos = stamp; // reuse: pos[bj] = storage index of block (bi, bj) for the current bi
        for bi in 0..nbrows {
            for p in bptr[bi].index()..bptr[bi + 1].index() {
                pos[bidx[p].index()] = p;
            }
            for i in bi * r..(bi + 1) * r {
                let ri = i - bi * r;
                for q in row_ptr[i].index()..row_ptr[i + 1].index() {
                    let j = col_idx[q].index();
                    let p = pos[j / c];
                    values[(p * r + ri) * c + j % c] = vals[q];
                }
            }
        }
        Ok(Bsr {
            nrows,
            ncols,
            block_shape,
            block_row_ptr: bptr,
            block_col_idx: bidx,
            values,
        })
    }
}

/// A borrowed BSR matrix. Same invariants as [`Bsr`]; obtained from a validated [`Bsr`], or
/// checked by [`BsrView::try_new`].
#[derive(Clone, Copy, Debug)]
pub struct BsrView<'a, T: Scalar, I: SpIndex = u32> {
    nrows: usize,
    ncols: usize,
    block_shape: (usize, usize),
    block_row_ptr: &'a [I],
    block_col_idx: &'a [I],
    values: &'a [T],
}

impl<'a, T: Scalar, I: SpIndex> BsrView<'a, T, I> {
    /// Validates borrowed arrays (O(nrows / r + nblocks)).
    pub fn try_new(
        nrows: usize,
        ncols: usize,
        block_shape: (usize, usize),
        block_row_ptr: &'a [I],
        block_col_idx: &'a [I],
        values: &'a [T],
    ) -> Result<Self> {
        check_bsr(
            nrows,
            ncols,
            block_shape,
            block_row_ptr,
            block_col_idx,
            values,
        )?;
        Ok(BsrView {
            nrows,
            ncols,
            block_shape,
            block_row_ptr,
            block_col_idx,
            values,
        })
    }
    /// # Safety
    /// The arrays satisfy every invariant listed on [`Bsr`].
    pub unsafe fn new_unchecked(
        nrows: usize,
        ncols: usize,
        block_shape: (usize, usize),
        block_row_ptr: &'a [I],
        block_col_idx: &'a [I],
        values: &'a [T],
    ) -> Self {
        BsrView {
            nrows,
            ncols,
            block_shape,
            block_row_ptr,
            block_col_idx,
            values,
        }
    }
    /// Number of rows (of scalar entries, not blocks).
    pub fn nrows(&self) -> usize {
        self.nrows
    }
    /// Number of columns (of scalar entries, not blocks).
    pub fn ncols(&self) -> usize {
        self.ncols
    }
    /// `(nrows, ncols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.nrows, self.ncols)
    }
    /// `(r, c)`.
    pub fn block_shape(&self) -> (usize, usize) {
        self.block_shape
    }
    /// Number of block rows, `nrows / r`.
    pub fn nblock_rows(&self) -> usize {
        self.nrows / self.block_shape.0
    }
    /// Number of block columns, `ncols / c`.
    pub fn nblock_cols(&self) -> usize {
        self.ncols / self.block_shape.1
    }
    /// Number of stored blocks.
    pub fn nblocks(&self) -> usize {
        self.block_col_idx.len()
    }
    /// Block row pointers, length `nrows / r + 1`: block row `bi` is `block_col_idx[block_row_ptr[bi]..block_row_ptr[bi + 1]]`.
    pub fn block_row_ptr(&self) -> &'a [I] {
        self.block_row_ptr
    }
    /// Block column index of each stored block, length nblocks; strictly increasing within each block row.
    pub fn block_col_idx(&self) -> &'a [I] {
        self.block_col_idx
    }
    /// Stored values, length `nblocks · r · c`: block after block, each block row-major.
    pub fn values(&self) -> &'a [T] {
        self.values
    }
    /// Dense row-major copy.
    pub fn to_dense(&self) -> Vec<T> {
        let (r, c) = self.block_shape;
        let n = self.ncols;
        let mut out = vec![T::ZERO; self.nrows * n];
        for bi in 0..self.nblock_rows() {
            for p in self.block_row_ptr[bi].index()..self.block_row_ptr[bi + 1].index() {
                let bj = self.block_col_idx[p].index();
                for ri in 0..r {
                    let src = &self.values[(p * r + ri) * c..(p * r + ri + 1) * c];
                    let at = (bi * r + ri) * n + bj * c;
                    out[at..at + c].copy_from_slice(src);
                }
            }
        }
        out
    }
    fn to_csr_impl(self, keep_zeros: bool) -> Csr<T, I> {
        let (r, c) = self.block_shape;
        let cap = if keep_zeros { self.values.len() } else { 0 };
        let mut row_ptr: Vec<I> = Vec::with_capacity(self.nrows + 1);
        let mut col_idx: Vec<I> = Vec::with_capacity(cap);
        let mut vals: Vec<T> = Vec::with_capacity(cap);
        row_ptr.push(I::default());
        for bi in 0..self.nblock_rows() {
            let (s, e) = (
                self.block_row_ptr[bi].index(),
                self.block_row_ptr[bi + 1].index(),
            );
            for ri in 0..r {
                for p in s..e {
                    let j0 = self.block_col_idx[p].index() * c;
                    let src = &self.values[(p * r + ri) * c..(p * r + ri + 1) * c];
                    for (ci, &v) in src.iter().enumerate() {
                        if keep_zeros || !v.is_zero() {
                            col_idx.push(I::from_usize(j0 + ci));
                            vals.push(v);
                        }
                    }
                }
                row_ptr.push(I::from_usize(col_idx.len()));
            }
        }
        // SAFETY: blocks are sorted by block column and entries within a block row by column, so
        // every row is strictly increasing; nnz ≤ values.len() fits I (invariant).
        unsafe { Csr::new_unchecked(self.nrows, self.ncols, row_ptr, col_idx, vals) }
    }
    /// Owned copy of the borrowed arrays.
    pub fn to_owned(&self) -> Bsr<T, I> {
        Bsr {
            nrows: self.nrows,
            ncols: self.ncols,
            block_shape: self.block_shape,
            block_row_ptr: self.block_row_ptr.to_vec(),
            block_col_idx: self.block_col_idx.to_vec(),
            values: self.values.to_vec(),
        }
    }
}
