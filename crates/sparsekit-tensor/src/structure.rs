//! The [`Structure`] tag of a `SparseTensor`: what is known about its CSR pattern beyond CSR —
//! N:M along rows, aligned blocks, whole rows or columns — so the CPU backends can run the
//! structured kernels (`sparsekit_kernels::{nm_spmm, nm_spmm_t, bsr_spmm, bsr_spmm_t}`) on it.
//!
//! [`Structure`] and its rules are the sparsity vocabulary of `sparsekit-formats`
//! ([`sparsekit_formats::sparsity`]): the same enum the pruner produces masks for. On a device,
//! a tag additionally promises what the structured kernels need (see [`check_stored`]):
//!
//! - `NM { n, m }`: N:M storage (`1 ≤ n < m ≤ 16`, `cols % m == 0`) with **exactly** `n` stored
//!   entries per group. A pattern with fewer in some groups (a pruned layer whose kept weights
//!   were already zero, read back by non-zeros) is padded with explicit zeros at the lowest free
//!   offsets by [`SparseTensor::with_structure`](crate::SparseTensor::with_structure) — the
//!   padding rule of `sparsekit_formats::NM`.
//! - `Block { rows: r, cols: c }`: `rows % r == 0`, `cols % c == 0`, and the pattern is a union of
//!   whole blocks (every entry of a kept block stored; `SparseTensor::from_bsr` stores them).
//! - `Rows` / `Columns`: every row (column) stored entirely or not at all; no special kernel.
//!
//! The arrays on the device stay CSR (one column index per stored entry), so every op, every
//! backend and the sparse backward passes work unchanged; the tag only selects a faster forward
//! kernel where one exists. The host-side conversions here are O(nnz) and allocate
//! `nnz` bytes (N:M offsets) or one value permutation (BSR) per call — small next to the product
//! itself, which does `n` multiply-adds per stored entry.

pub use sparsekit_formats::sparsity::Structure;
use sparsekit_formats::sparsity::{check_nm_storage, nm_violation};
use sparsekit_formats::{BsrView, NMView, Scalar};

use crate::error::SparseError;

fn invalid(why: String) -> SparseError {
    SparseError::Structure(why)
}

/// Whether a canonical CSR pattern (`rows × cols`, `row_ptr`, `col_idx`) is N:M with **at
/// most** `n` per group and can be stored as N:M (the vocabulary's rule plus
/// `check_nm_storage`); `Ok(true)` when some group holds fewer than `n` (padding needed).
pub(crate) fn check_nm_at_most(
    cols: usize,
    n: usize,
    m: usize,
    row_ptr: &[u32],
    col_idx: &[u32],
) -> Result<bool, SparseError> {
    check_nm_storage(cols, n, m).map_err(|e| invalid(e.to_string()))?;
    let full = (cols / m) * n;
    let mut short = false;
    for (i, w) in row_ptr.windows(2).enumerate() {
        let row = &col_idx[w[0] as usize..w[1] as usize];
        if let Some((g, count)) = nm_violation(row.iter().map(|&j| j as usize), n, m) {
            return Err(invalid(format!(
                "row {i}: group {g} of columns {}..{} holds {count} entries > N = {n} ({n}:{m})",
                g * m,
                (g + 1) * m
            )));
        }
        short |= row.len() != full;
    }
    Ok(short)
}

/// Checks that the CSR pattern (`rows × cols`, `row_ptr`, `col_idx`; canonical) has the
/// structure **as stored on a device** (see the [module docs](self)). O(rows + nnz).
pub fn check_stored(
    structure: Structure,
    rows: usize,
    cols: usize,
    row_ptr: &[u32],
    col_idx: &[u32],
) -> Result<(), SparseError> {
    structure.validate().map_err(|e| invalid(e.to_string()))?;
    match structure {
        Structure::Unstructured => Ok(()),
        Structure::NM { n, m } => {
            if check_nm_at_most(cols, n, m, row_ptr, col_idx)? {
                let i = row_ptr
                    .windows(2)
                    .position(|w| (w[1] - w[0]) as usize != (cols / m) * n)
                    .unwrap_or(0);
                return Err(invalid(format!(
                    "row {i} stores {} entries, N:M {n}:{m} storage over {cols} columns needs {} \
                     (SparseTensor::with_structure pads it)",
                    row_ptr[i + 1] - row_ptr[i],
                    (cols / m) * n
                )));
            }
            Ok(())
        }
        Structure::Block { rows: r, cols: c } => {
            if rows % r != 0 || cols % c != 0 {
                return Err(invalid(format!(
                    "shape {rows}×{cols} is not a multiple of the block shape {r}×{c}"
                )));
            }
            for bi in 0..rows / r {
                let first = bi * r;
                let lead = &col_idx[row_ptr[first] as usize..row_ptr[first + 1] as usize];
                if lead.len() % c != 0 {
                    return Err(invalid(format!(
                        "row {first} is not a union of {c}-wide blocks"
                    )));
                }
                for blk in lead.chunks_exact(c) {
                    let j0 = blk[0] as usize;
                    if j0 % c != 0 || blk.iter().enumerate().any(|(t, &j)| j as usize != j0 + t) {
                        return Err(invalid(format!(
                            "row {first} is not a union of aligned {c}-wide blocks"
                        )));
                    }
                }
                for i in first + 1..first + r {
                    let row = &col_idx[row_ptr[i] as usize..row_ptr[i + 1] as usize];
                    if row != lead {
                        return Err(invalid(format!(
                            "rows {first} and {i} of block row {bi} differ: not {r}×{c} blocks"
                        )));
                    }
                }
            }
            Ok(())
        }
        Structure::Rows => match row_ptr
            .windows(2)
            .position(|w| w[0] != w[1] && (w[1] - w[0]) as usize != cols)
        {
            Some(i) => Err(invalid(format!("row {i} is neither empty nor full"))),
            None => Ok(()),
        },
        Structure::Columns => {
            // Every row stores the same columns (an empty matrix, or rows all alike).
            let first = &col_idx[row_ptr[0] as usize..row_ptr[1.min(rows)] as usize];
            match row_ptr
                .windows(2)
                .position(|w| &col_idx[w[0] as usize..w[1] as usize] != first)
            {
                Some(i) => Err(invalid(format!(
                    "rows 0 and {i} store different columns: not whole columns"
                ))),
                None => Ok(()),
            }
        }
    }
}

/// N:M slot offsets (`col % m`) of a pattern checked by [`check_stored`].
pub(crate) fn nm_offsets(col_idx: &[u32], m: usize) -> Vec<u8> {
    col_idx.iter().map(|&j| (j as usize % m) as u8).collect()
}

/// An [`NMView`] over CSR values and the offsets from [`nm_offsets`].
pub(crate) fn nm_view<'a, T: Scalar>(
    rows: usize,
    cols: usize,
    n: usize,
    m: usize,
    values: &'a [T],
    offsets: &'a [u8],
) -> NMView<'a, T> {
    // The N:M slot order is the CSR order (groups in column order, slots sorted), so the CSR
    // values are the packed N:M values as they are. Validated (O(nnz)) rather than trusted.
    NMView::try_new(rows, cols, n, m, values, offsets)
        .unwrap_or_else(|e| panic!("sparsekit-tensor: N:M tag on a non-N:M pattern: {e}"))
}

/// BSR arrays (block row pointers, block columns, block-contiguous values) of a CSR matrix
/// checked by [`check_stored`] for `Block { rows: r, cols: c }`.
pub(crate) struct BsrParts<T> {
    block_row_ptr: Vec<u32>,
    block_col_idx: Vec<u32>,
    values: Vec<T>,
}

impl<T: Scalar> BsrParts<T> {
    pub(crate) fn new(
        rows: usize,
        r: usize,
        c: usize,
        row_ptr: &[u32],
        col_idx: &[u32],
        values: &[T],
    ) -> BsrParts<T> {
        let nbr = rows / r;
        let mut block_row_ptr = Vec::with_capacity(nbr + 1);
        let mut block_col_idx = Vec::new();
        let mut out = Vec::with_capacity(values.len());
        block_row_ptr.push(0u32);
        for bi in 0..nbr {
            let first = bi * r;
            let (s, e) = (row_ptr[first] as usize, row_ptr[first + 1] as usize);
            let nb = (e - s) / c;
            for b in 0..nb {
                block_col_idx.push(col_idx[s + b * c] / c as u32);
                for ii in 0..r {
                    let start = row_ptr[first + ii] as usize + b * c;
                    out.extend_from_slice(&values[start..start + c]);
                }
            }
            block_row_ptr.push(block_col_idx.len() as u32);
        }
        BsrParts {
            block_row_ptr,
            block_col_idx,
            values: out,
        }
    }

    pub(crate) fn view(&self, rows: usize, cols: usize, r: usize, c: usize) -> BsrView<'_, T, u32> {
        BsrView::try_new(
            rows,
            cols,
            (r, c),
            &self.block_row_ptr,
            &self.block_col_idx,
            &self.values,
        )
        .unwrap_or_else(|e| panic!("sparsekit-tensor: block tag on a non-block pattern: {e}"))
    }
}
