//! The structure check shared by every compressed format (CSR, CSC, BSR): a pointer array over
//! the outer dimension and strictly increasing inner indices. Returns the first precise problem.

use crate::error::{Axis, FormatError, Result};
use crate::index::SpIndex;

/// Names used in error messages for one compressed layout.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    pub ptr: &'static str,
    #[allow(dead_code)] // name of the index array, kept for messages
    pub idx: &'static str,
    pub outer: &'static str,
    pub inner_axis: Axis,
    pub inner_bound: &'static str,
}

pub(crate) const CSR: Layout = Layout {
    ptr: "row_ptr",
    idx: "col_idx",
    outer: "row",
    inner_axis: Axis::Col,
    inner_bound: "ncols",
};
pub(crate) const CSC: Layout = Layout {
    ptr: "col_ptr",
    idx: "row_idx",
    outer: "column",
    inner_axis: Axis::Row,
    inner_bound: "nrows",
};
pub(crate) const BSR: Layout = Layout {
    ptr: "block_row_ptr",
    idx: "block_col_idx",
    outer: "block row",
    inner_axis: Axis::Col,
    inner_bound: "block columns",
};

/// Checks `ptr` (length `nouter + 1`, starts at 0, monotone, ends at `idx.len()`) and that every
/// outer slice of `idx` is strictly increasing and `< ninner`. O(nouter + nnz), never panics.
pub(crate) fn check<I: SpIndex>(
    l: Layout,
    nouter: usize,
    ninner: usize,
    ptr: &[I],
    idx: &[I],
) -> Result<()> {
    check_impl(l, nouter, ninner, ptr, idx, true)
}

/// Like [`check`] but indices inside an outer slice may be unsorted or repeated (only bounds and
/// the pointer array are checked). What `try_from_unsorted` constructors run before
/// [`canonicalize`].
pub(crate) fn check_unsorted<I: SpIndex>(
    l: Layout,
    nouter: usize,
    ninner: usize,
    ptr: &[I],
    idx: &[I],
) -> Result<()> {
    check_impl(l, nouter, ninner, ptr, idx, false)
}

fn check_impl<I: SpIndex>(
    l: Layout,
    nouter: usize,
    ninner: usize,
    ptr: &[I],
    idx: &[I],
    sorted: bool,
) -> Result<()> {
    let expected_len = nouter
        .checked_add(1)
        .ok_or_else(|| FormatError::ShapeOverflow(format!("{} + 1 overflows usize", l.outer)))?;
    if ptr.len() != expected_len {
        return Err(FormatError::len(l.ptr, expected_len, ptr.len()));
    }
    if ptr[0].index() != 0 {
        return Err(FormatError::PtrStart {
            what: l.ptr,
            got: ptr[0].index(),
        });
    }
    for (i, w) in ptr.windows(2).enumerate() {
        if w[1] < w[0] {
            return Err(FormatError::PtrNotMonotone {
                what: l.ptr,
                at: i + 1,
                prev: w[0].index(),
                next: w[1].index(),
            });
        }
    }
    let last = ptr[nouter].index();
    if last != idx.len() {
        return Err(FormatError::PtrEnd {
            what: l.ptr,
            expected: idx.len(),
            got: last,
        });
    }
    for o in 0..nouter {
        let (s, e) = (ptr[o].index(), ptr[o + 1].index());
        let slice = &idx[s..e];
        for (p, &j) in slice.iter().enumerate() {
            if j.index() >= ninner {
                return Err(FormatError::IndexOutOfBounds {
                    outer_axis: l.outer,
                    outer: o,
                    axis: l.inner_axis,
                    index: j.index(),
                    bound_name: l.inner_bound,
                    bound: ninner,
                });
            }
            if sorted && p > 0 && slice[p - 1] >= j {
                return Err(FormatError::NotCanonical {
                    outer_axis: l.outer,
                    outer: o,
                    position: s + p,
                    prev: slice[p - 1].index(),
                    next: j.index(),
                });
            }
        }
    }
    Ok(())
}

/// Sorts each outer slice of (idx, vals) by index and sums duplicates, producing canonical
/// arrays. `ptr` must already be structurally valid (monotone, in bounds of `idx`).
pub(crate) fn canonicalize<I: SpIndex, T: crate::Scalar>(
    nouter: usize,
    ptr: &[I],
    idx: &[I],
    vals: &[T],
) -> (Vec<I>, Vec<I>, Vec<T>) {
    let mut new_ptr = Vec::with_capacity(nouter + 1);
    let mut new_idx = Vec::with_capacity(idx.len());
    let mut new_vals = Vec::with_capacity(vals.len());
    new_ptr.push(I::default());
    let mut order: Vec<usize> = Vec::new();
    for o in 0..nouter {
        let (s, e) = (ptr[o].index(), ptr[o + 1].index());
        order.clear();
        order.extend(s..e);
        order.sort_by_key(|&p| idx[p]);
        let row_start = new_idx.len();
        for &p in &order {
            if new_idx.len() > row_start && *new_idx.last().unwrap() == idx[p] {
                let last = new_vals.last_mut().unwrap();
                *last = T::add(*last, vals[p]);
            } else {
                new_idx.push(idx[p]);
                new_vals.push(vals[p]);
            }
        }
        new_ptr.push(I::from_usize(new_idx.len()));
    }
    (new_ptr, new_idx, new_vals)
}

/// Checks a declared shape before anything is built on it: `nrows * ncols` fits in `usize`,
/// `nrows + 1` and `ncols + 1` fit in `usize` (pointer arrays), and `nrows`, `ncols` fit in the
/// index type `I` (so every row/column number of the matrix is representable, and conversions
/// that swap the roles of rows and columns cannot overflow). Allocates nothing.
pub(crate) fn check_dims<I: SpIndex>(nrows: usize, ncols: usize, what: &str) -> Result<()> {
    crate::error::checked_size(nrows, ncols, what)?;
    if nrows == usize::MAX || ncols == usize::MAX {
        return Err(FormatError::ShapeOverflow(format!(
            "{what}: {nrows} \u{d7} {ncols}: dimension + 1 overflows usize"
        )));
    }
    I::try_from_usize(nrows, "nrows")?;
    I::try_from_usize(ncols, "ncols")?;
    Ok(())
}

/// Transposes a canonical compressed structure: the entry of outer slice `o` at inner index `j`
/// becomes the entry of outer slice `j` at inner index `o`. The output is canonical (a counting
/// sort visiting the input in order is stable). O(nouter + ninner + nnz), no comparison sort.
///
/// `vals` may be `&[()]`-like for a pattern-only transpose. Inputs must be structurally valid and
/// `nouter` must fit in `I` (guaranteed by [`check_dims`]).
pub(crate) fn transpose<I: SpIndex, T: Copy + Default>(
    nouter: usize,
    ninner: usize,
    ptr: &[I],
    idx: &[I],
    vals: &[T],
) -> (Vec<I>, Vec<I>, Vec<T>) {
    let nnz = idx.len();
    let mut next = vec![0usize; ninner + 1];
    for &j in idx {
        next[j.index() + 1] += 1;
    }
    for k in 0..ninner {
        next[k + 1] += next[k];
    }
    let new_ptr: Vec<I> = next.iter().map(|&c| I::from_usize(c)).collect();
    let mut new_idx = vec![I::default(); nnz];
    let mut new_vals = vec![T::default(); vals.len()];
    let has_vals = !vals.is_empty();
    for o in 0..nouter {
        let oi = I::from_usize(o);
        for p in ptr[o].index()..ptr[o + 1].index() {
            let j = idx[p].index();
            let q = next[j];
            next[j] = q + 1;
            new_idx[q] = oi;
            if has_vals {
                new_vals[q] = vals[p];
            }
        }
    }
    (new_ptr, new_idx, new_vals)
}

/// Stable two-pass counting sort of coordinate entries by `(outer, inner)`: returns the pointer
/// array over `outer` (length `nouter + 1`) and the permutation `order` such that
/// `order[ptr[o]..ptr[o + 1]]` lists the entries of outer slice `o` by increasing inner index
/// (equal indices in input order). O(n + nouter + min(ninner, n log n)). Indices must be in
/// bounds.
///
/// The inner pass is a counting sort when there are at least as many entries as inner indices,
/// else a stable comparison sort: memory never grows with a declared `ninner` that the entries
/// do not fill (a 3-line file may declare 4·10⁸ columns).
pub(crate) fn sort_coo<I: SpIndex>(
    nouter: usize,
    ninner: usize,
    outer: &[I],
    inner: &[I],
) -> (Vec<usize>, Vec<usize>) {
    let n = outer.len();
    let by_inner = if ninner <= n {
        let mut next = vec![0usize; ninner + 1];
        for &j in inner {
            next[j.index() + 1] += 1;
        }
        for k in 0..ninner {
            next[k + 1] += next[k];
        }
        let mut by_inner = vec![0usize; n];
        for (p, &j) in inner.iter().enumerate() {
            let j = j.index();
            by_inner[next[j]] = p;
            next[j] += 1;
        }
        by_inner
    } else {
        let mut by_inner: Vec<usize> = (0..n).collect();
        by_inner.sort_by_key(|&p| inner[p].index()); // stable
        by_inner
    };
    let mut ptr = vec![0usize; nouter + 1];
    for &i in outer {
        ptr[i.index() + 1] += 1;
    }
    for k in 0..nouter {
        ptr[k + 1] += ptr[k];
    }
    let mut next = ptr[..nouter].to_vec();
    let mut order = vec![0usize; n];
    for &p in &by_inner {
        let i = outer[p].index();
        order[next[i]] = p;
        next[i] += 1;
    }
    (ptr, order)
}

/// Compresses coordinate entries into canonical compressed arrays over `outer`, summing
/// duplicates (SciPy's rule). O(n + nouter + ninner). Indices must be in bounds and `n` must fit
/// in `I`.
pub(crate) fn compress_coo<I: SpIndex, T: crate::Scalar>(
    nouter: usize,
    ninner: usize,
    outer: &[I],
    inner: &[I],
    vals: &[T],
) -> (Vec<I>, Vec<I>, Vec<T>) {
    let (ptr, order) = sort_coo(nouter, ninner, outer, inner);
    let mut new_ptr = Vec::with_capacity(nouter + 1);
    let mut new_idx: Vec<I> = Vec::with_capacity(vals.len());
    let mut new_vals: Vec<T> = Vec::with_capacity(vals.len());
    new_ptr.push(I::default());
    for o in 0..nouter {
        let start = new_idx.len();
        for &p in &order[ptr[o]..ptr[o + 1]] {
            if new_idx.len() > start && new_idx[new_idx.len() - 1] == inner[p] {
                let last = new_vals.last_mut().expect("non-empty");
                *last = T::add(*last, vals[p]);
            } else {
                new_idx.push(inner[p]);
                new_vals.push(vals[p]);
            }
        }
        new_ptr.push(I::from_usize(new_idx.len()));
    }
    (new_ptr, new_idx, new_vals)
}
