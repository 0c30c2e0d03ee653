//! The structure check shared by every compressed format (CSR, CSC, BSR): a pointer array over
//! the outer dimension and strictly increasing inner indices. Returns the first precise problem.

use crate::error::{Axis, FormatError, Result};
use crate::index::SpIndex;

/// Names used in error messages for one compressed layout.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    pub ptr: &'static str,
    pub idx: &'static str,
    pub outer: &'static str,
    pub inner_axis: Axis,
    pub inner_bound: &'static str,
}

pub(crate) const CSR: Layout =
    Layout { ptr: "row_ptr", idx: "col_idx", outer: "row", inner_axis: Axis::Col, inner_bound: "ncols" };
pub(crate) const CSC: Layout =
    Layout { ptr: "col_ptr", idx: "row_idx", outer: "column", inner_axis: Axis::Row, inner_bound: "nrows" };
pub(crate) const BSR: Layout = Layout {
    ptr: "block_row_ptr",
    idx: "block_col_idx",
    outer: "block row",
    inner_axis: Axis::Col,
    inner_bound: "block columns",
};

/// Checks `ptr` (length `nouter + 1`, starts at 0, monotone, ends at `idx.len()`) and that every
/// outer slice of `idx` is strictly increasing and `< ninner`. O(nouter + nnz), never panics.
pub(crate) fn check<I: SpIndex>(l: Layout, nouter: usize, ninner: usize, ptr: &[I], idx: &[I]) -> Result<()> {
    let expected_len = nouter
        .checked_add(1)
        .ok_or_else(|| FormatError::ShapeOverflow(format!("{} + 1 overflows usize", l.outer)))?;
    if ptr.len() != expected_len {
        return Err(FormatError::len(l.ptr, expected_len, ptr.len()));
    }
    if ptr[0].index() != 0 {
        return Err(FormatError::PtrStart { what: l.ptr, got: ptr[0].index() });
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
        return Err(FormatError::PtrEnd { what: l.ptr, expected: idx.len(), got: last });
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
            if p > 0 && slice[p - 1] >= j {
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
