//! [`Structure`]: what is known about a CSR pattern beyond CSR — N:M along rows, or aligned
//! `r × c` blocks — so the CPU backends can run the structured kernels
//! (`sparsekit_kernels::{nm_spmm, nm_spmm_t, bsr_spmm, bsr_spmm_t}`) on it.
//!
//! The arrays on the device stay CSR (one column index per stored entry), so every op, every
//! backend and the sparse backward passes work unchanged; the tag only selects a faster forward
//! kernel where one exists. The host-side conversions here are O(nnz) and allocate
//! `nnz` bytes (N:M offsets) or one value permutation (BSR) per call — small next to the product
//! itself, which does `n` multiply-adds per stored entry.

use sparsekit_formats::{BsrView, NMView};

use crate::error::SparseError;

/// The structure of a CSR pattern (see the [module docs](self)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Structure {
    /// Any canonical CSR pattern.
    #[default]
    Unstructured,
    /// N:M along rows: `cols % m == 0` and every aligned group of `m` columns of every row holds
    /// exactly `n` stored entries (stored zeros allowed, as in [`sparsekit_formats::NM`]'s
    /// padding). `1 ≤ n < m ≤ 16`.
    NM {
        /// Stored entries per group.
        n: usize,
        /// Group size.
        m: usize,
    },
    /// Aligned `r × c` blocks: `rows % r == 0`, `cols % c == 0`, and the pattern is a union of
    /// whole blocks `[I·r, I·r + r) × [J·c, J·c + c)` (every entry of a kept block is stored).
    Block {
        /// Block rows.
        r: usize,
        /// Block columns.
        c: usize,
    },
}

fn invalid(why: String) -> SparseError {
    SparseError::Structure(why)
}

impl Structure {
    /// Checks that the CSR pattern (`rows × cols`, `row_ptr`, `col_idx`; canonical) has this
    /// structure. O(rows + nnz).
    pub fn check(
        &self,
        rows: usize,
        cols: usize,
        row_ptr: &[u32],
        col_idx: &[u32],
    ) -> Result<(), SparseError> {
        match *self {
            Structure::Unstructured => Ok(()),
            Structure::NM { n, m } => {
                if n == 0 || n >= m || m > sparsekit_formats::nm::MAX_M {
                    return Err(invalid(format!(
                        "N:M = {n}:{m}: need 1 ≤ N < M ≤ {}",
                        sparsekit_formats::nm::MAX_M
                    )));
                }
                if cols % m != 0 {
                    return Err(invalid(format!("cols {cols} is not a multiple of M = {m}")));
                }
                let groups = cols / m;
                for i in 0..rows {
                    let row = &col_idx[row_ptr[i] as usize..row_ptr[i + 1] as usize];
                    if row.len() != groups * n {
                        return Err(invalid(format!(
                            "row {i} stores {} entries, N:M {n}:{m} over {cols} columns needs {}",
                            row.len(),
                            groups * n
                        )));
                    }
                    // Canonical rows are sorted, so slot s of group g must fall in group g.
                    for (q, &j) in row.iter().enumerate() {
                        if j as usize / m != q / n {
                            return Err(invalid(format!(
                                "row {i}: group {} of columns {}..{} does not hold exactly {n} entries",
                                q / n,
                                (q / n) * m,
                                (q / n + 1) * m
                            )));
                        }
                    }
                }
                Ok(())
            }
            Structure::Block { r, c } => {
                if r == 0 || c == 0 {
                    return Err(invalid(format!("block shape {r}×{c} has a zero side")));
                }
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
                        if j0 % c != 0 || blk.iter().enumerate().any(|(t, &j)| j as usize != j0 + t)
                        {
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
        }
    }

    /// The same structure on the transposed matrix (N:M is not kept by a transpose).
    pub fn transposed(&self) -> Structure {
        match *self {
            Structure::Block { r, c } => Structure::Block { r: c, c: r },
            _ => Structure::Unstructured,
        }
    }
}

/// N:M slot offsets (`col % m`) of a pattern checked by [`Structure::check`].
pub(crate) fn nm_offsets(col_idx: &[u32], m: usize) -> Vec<u8> {
    col_idx.iter().map(|&j| (j as usize % m) as u8).collect()
}

/// An [`NMView`] over CSR values and the offsets from [`nm_offsets`].
pub(crate) fn nm_view<'a>(
    rows: usize,
    cols: usize,
    n: usize,
    m: usize,
    values: &'a [f32],
    offsets: &'a [u8],
) -> NMView<'a, f32> {
    // The N:M slot order is the CSR order (groups in column order, slots sorted), so the CSR
    // values are the packed N:M values as they are. Validated (O(nnz)) rather than trusted.
    NMView::try_new(rows, cols, n, m, values, offsets)
        .unwrap_or_else(|e| panic!("sparsekit-tensor: N:M tag on a non-N:M pattern: {e}"))
}

/// BSR arrays (block row pointers, block columns, block-contiguous values) of a CSR matrix
/// checked by [`Structure::check`] for `Block { r, c }`.
pub(crate) struct BsrParts {
    block_row_ptr: Vec<u32>,
    block_col_idx: Vec<u32>,
    values: Vec<f32>,
}

impl BsrParts {
    pub(crate) fn new(
        rows: usize,
        r: usize,
        c: usize,
        row_ptr: &[u32],
        col_idx: &[u32],
        values: &[f32],
    ) -> BsrParts {
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

    pub(crate) fn view(
        &self,
        rows: usize,
        cols: usize,
        r: usize,
        c: usize,
    ) -> BsrView<'_, f32, u32> {
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
