//! Dense → sparse: which entries of a dense row-major array to keep ([`Select`]) and the
//! `from_dense` constructors of [`Csr`], [`Csc`], [`Coo`] and [`Bsr`] (N:M has its own rule, see
//! [`crate::NM::from_dense`]). Sparse → dense is `to_dense()` on every type.
//!
//! Dense inputs are read once; apart from `TopK` (one index per entry) no work or memory scales
//! with anything but the input and the output.

use crate::bsr::{check_block_shape, Bsr};
use crate::compressed;
use crate::coo::Coo;
use crate::csc::Csc;
use crate::csr::Csr;
use crate::error::{checked_size, try_with_capacity, FormatError, Result};
use crate::index::SpIndex;
use crate::mask::Mask;
use crate::scalar::Scalar;
use crate::sparsity::select_best;

/// Which entries of a dense matrix become stored entries.
///
/// Magnitudes are `|v|` in f64; `TopK` / `TopKPerRow` rank them by the
/// [vocabulary's rule](crate::sparsity#ranking): NaN counts as the largest magnitude (it is kept,
/// not silently lost) and ties go to the lower flat index (lower column within a row).
#[derive(Clone, Copy, Debug)]
pub enum Select<'a> {
    /// Keep entries with `|v| > t`. `t` must not be NaN; a negative `t` keeps everything.
    Threshold(f64),
    /// Keep entries that are not zero (NaN is kept).
    NonZero,
    /// Keep the entries where the mask is `true` (zeros included). Shape must match.
    Mask(&'a Mask),
    /// Keep exactly the `k` entries of largest magnitude over the whole matrix (zeros may be among
    /// them when fewer than `k` are non-zero). `k ≤ nrows · ncols`.
    TopK(usize),
    /// Keep exactly the `k` entries of largest magnitude of every row. `k ≤ ncols`.
    TopKPerRow(usize),
}

/// Row-major keep flags for `select`; validates its argument. `dense.len() == nrows * ncols`.
fn keep_flags<T: Scalar>(
    dense: &[T],
    nrows: usize,
    ncols: usize,
    select: Select<'_>,
) -> Result<Option<Vec<bool>>> {
    let total = dense.len();
    match select {
        Select::Threshold(t) if t.is_nan() => {
            Err(FormatError::InvalidArgument("threshold is NaN".into()))
        }
        Select::Threshold(_) | Select::NonZero => Ok(None),
        Select::Mask(m) => {
            if m.shape() != (nrows, ncols) {
                return Err(FormatError::ShapeMismatch {
                    left: (nrows, ncols),
                    right: m.shape(),
                });
            }
            Ok(None)
        }
        Select::TopK(k) => {
            if k > total {
                return Err(FormatError::InvalidArgument(format!(
                    "top-k: k = {k} > {total} entries"
                )));
            }
            let mut keep = vec![false; total];
            let mut idx: Vec<usize> = (0..total).collect();
            for &p in select_best(&mut idx, k, |p| dense[p].magnitude()).iter() {
                keep[p] = true;
            }
            Ok(Some(keep))
        }
        Select::TopKPerRow(k) => {
            if k > ncols {
                return Err(FormatError::InvalidArgument(format!(
                    "top-k per row: k = {k} > ncols {ncols}"
                )));
            }
            let mut keep = vec![false; total];
            let mut idx: Vec<usize> = Vec::with_capacity(ncols);
            for i in 0..nrows {
                idx.clear();
                idx.extend(i * ncols..(i + 1) * ncols);
                for &p in select_best(&mut idx, k, |p| dense[p].magnitude()).iter() {
                    keep[p] = true;
                }
            }
            Ok(Some(keep))
        }
    }
}

fn check_dense_len<T>(dense: &[T], nrows: usize, ncols: usize) -> Result<usize> {
    let total = checked_size(nrows, ncols, "dense shape")?;
    if dense.len() != total {
        return Err(FormatError::len("dense", total, dense.len()));
    }
    Ok(total)
}

impl<T: Scalar, I: SpIndex> Csr<T, I> {
    /// CSR of the entries of a dense row-major `nrows × ncols` array chosen by `select`.
    ///
    /// Errors: `dense.len() != nrows · ncols` ([`FormatError::LengthMismatch`]), NaN threshold or
    /// `k` too large ([`FormatError::InvalidArgument`]), mask of another shape
    /// ([`FormatError::ShapeMismatch`]), sizes not fitting `I`.
    ///
    /// ```
    /// use sparsekit_formats::{Csr, dense::Select};
    /// let d = [0.5f32, -3.0, 0.0, 2.0, 0.0, 1.0];
    /// let a = Csr::<f32>::from_dense(&d, 2, 3, Select::Threshold(0.9))?;
    /// assert_eq!(a.col_idx(), &[1, 0, 2]);
    /// let b = Csr::<f32>::from_dense(&d, 2, 3, Select::TopK(2))?;
    /// assert_eq!(b.values(), &[-3.0, 2.0]);
    /// let c = Csr::<f32>::from_dense(&d, 2, 3, Select::TopKPerRow(1))?;
    /// assert_eq!(c.to_dense(), vec![0.0, -3.0, 0.0, 2.0, 0.0, 0.0]);
    /// # Ok::<(), sparsekit_formats::FormatError>(())
    /// ```
    pub fn from_dense(dense: &[T], nrows: usize, ncols: usize, select: Select<'_>) -> Result<Self> {
        check_dense_len(dense, nrows, ncols)?;
        compressed::check_dims::<I>(nrows, ncols, "CSR shape")?;
        let flags = keep_flags(dense, nrows, ncols, select)?;
        let keep = |p: usize, i: usize, j: usize| -> bool {
            match (&flags, select) {
                (Some(f), _) => f[p],
                (None, Select::Threshold(t)) => dense[p].magnitude() > t,
                (None, Select::NonZero) => !dense[p].is_zero(),
                (None, Select::Mask(m)) => m.get(i, j),
                (None, _) => unreachable!("top-k selections have flags"),
            }
        };
        let mut row_ptr: Vec<I> = try_with_capacity(nrows + 1, "row_ptr")?;
        let mut col_idx: Vec<I> = Vec::new();
        let mut values: Vec<T> = Vec::new();
        row_ptr.push(I::default());
        for i in 0..nrows {
            for j in 0..ncols {
                let p = i * ncols + j;
                if keep(p, i, j) {
                    col_idx.push(I::from_usize(j)); // j < ncols fits I (check_dims)
                    values.push(dense[p]);
                }
            }
            row_ptr.push(I::try_from_usize(col_idx.len(), "nnz")?);
        }
        // SAFETY: columns visited in increasing order, < ncols; dims and nnz fit I.
        Ok(unsafe { Csr::new_unchecked(nrows, ncols, row_ptr, col_idx, values) })
    }
}

impl<T: Scalar, I: SpIndex> Csc<T, I> {
    /// CSC of the entries chosen by `select` (same rules and errors as [`Csr::from_dense`];
    /// `TopKPerRow` is per row here too).
    pub fn from_dense(dense: &[T], nrows: usize, ncols: usize, select: Select<'_>) -> Result<Self> {
        Ok(Csr::<T, I>::from_dense(dense, nrows, ncols, select)?.to_csc())
    }
}

impl<T: Scalar, I: SpIndex> Coo<T, I> {
    /// Triplets (row-major order) of the entries chosen by `select` (see [`Csr::from_dense`]).
    pub fn from_dense(dense: &[T], nrows: usize, ncols: usize, select: Select<'_>) -> Result<Self> {
        Ok(Coo::from_csr(&Csr::<T, I>::from_dense(
            dense, nrows, ncols, select,
        )?))
    }
}

impl<T: Scalar, I: SpIndex> Bsr<T, I> {
    /// BSR of a dense row-major array: block `(bi, bj)` is stored iff it holds an entry with
    /// `|v| > threshold`, and a stored block keeps all `r · c` dense values (small ones
    /// included). Errors: length, NaN threshold, block shape not dividing the shape, sizes not
    /// fitting `I`.
    ///
    /// ```
    /// use sparsekit_formats::Bsr;
    /// let d = [1.0f64, 0.0, 0.0, 0.0,
    ///          0.0, 0.1, 0.0, 0.0];
    /// let a = Bsr::<f64>::from_dense(&d, 2, 4, (2, 2), 0.0)?;
    /// assert_eq!((a.nblocks(), a.block_col_idx()), (1, &[0u32][..]));
    /// assert_eq!(a.values(), &[1.0, 0.0, 0.0, 0.1]);
    /// # Ok::<(), sparsekit_formats::FormatError>(())
    /// ```
    pub fn from_dense(
        dense: &[T],
        nrows: usize,
        ncols: usize,
        block_shape: (usize, usize),
        threshold: f64,
    ) -> Result<Self> {
        check_dense_len(dense, nrows, ncols)?;
        compressed::check_dims::<I>(nrows, ncols, "BSR shape")?;
        if threshold.is_nan() {
            return Err(FormatError::InvalidArgument("threshold is NaN".into()));
        }
        let (nbrows, nbcols) = check_block_shape(nrows, ncols, block_shape)?;
        let (r, c) = block_shape;
        let mut bptr: Vec<I> = try_with_capacity(nbrows + 1, "block_row_ptr")?;
        let mut bidx: Vec<I> = Vec::new();
        let mut values: Vec<T> = Vec::new();
        bptr.push(I::default());
        for bi in 0..nbrows {
            for bj in 0..nbcols {
                let row = |ri: usize| &dense[(bi * r + ri) * ncols + bj * c..][..c];
                if (0..r).any(|ri| row(ri).iter().any(|v| v.magnitude() > threshold)) {
                    bidx.push(I::from_usize(bj));
                    for ri in 0..r {
                        values.extend_from_slice(row(ri));
                    }
                }
            }
            I::try_from_usize(values.len(), "nblocks \u{b7} r \u{b7} c")?;
            bptr.push(I::from_usize(bidx.len()));
        }
        // SAFETY: block columns in increasing order, < nbcols; lengths consistent; sizes fit I.
        Ok(unsafe { Bsr::new_unchecked(nrows, ncols, block_shape, bptr, bidx, values) })
    }
}
