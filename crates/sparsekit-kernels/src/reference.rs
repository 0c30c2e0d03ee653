//! Plain scalar twins of every kernel: straightforward loops, no SIMD, no threads, no `unsafe`.
//! Tests and benches compare the fast paths against these (as burn-flex keeps `simd/scalar.rs`
//! next to its SIMD kernels). They accumulate in f32 in the natural order unless noted.
//!
//! They take the same views as the fast kernels but assume valid shapes (they panic on
//! mismatches instead of returning errors).

#![allow(clippy::needless_range_loop)]

use sparsekit_formats::{CsrPatternView, CsrView, Scalar, SpIndex};

use crate::dense::{MatMut, MatRef};

/// `Y = α·A·X + β·Y` (β = 0: Y not read).
pub fn spmm<T: Scalar, I: SpIndex>(
    alpha: f32,
    a: CsrView<'_, T, I>,
    x: MatRef<'_, f32>,
    beta: f32,
    mut y: MatMut<'_, f32>,
) {
    let n = x.ncols();
    let mut acc = vec![0.0f32; n];
    for i in 0..a.nrows() {
        acc.iter_mut().for_each(|v| *v = 0.0);
        for p in a.row_ptr()[i].index()..a.row_ptr()[i + 1].index() {
            let v = a.values()[p].to_f32();
            let xr = x.row(a.col_idx()[p].index());
            for c in 0..n {
                acc[c] += v * xr[c];
            }
        }
        let yr = y.row_mut(i);
        for c in 0..n {
            yr[c] = if beta == 0.0 {
                alpha * acc[c]
            } else {
                alpha * acc[c] + beta * yr[c]
            };
        }
    }
}

/// `Y = X·Wᵀ + bias`.
pub fn spmm_t<T: Scalar, I: SpIndex>(
    x: MatRef<'_, f32>,
    w: CsrView<'_, T, I>,
    bias: Option<&[f32]>,
    mut y: MatMut<'_, f32>,
) {
    for b in 0..x.nrows() {
        let xr = x.row(b);
        for i in 0..w.nrows() {
            let mut s = 0.0f32;
            for p in w.row_ptr()[i].index()..w.row_ptr()[i + 1].index() {
                s += w.values()[p].to_f32() * xr[w.col_idx()[p].index()];
            }
            y.row_mut(b)[i] = s + bias.map_or(0.0, |bb| bb[i]);
        }
    }
}

/// `Y = Aᵀ·X` by scattering each row of `A` (no transpose built).
pub fn spmm_at<T: Scalar, I: SpIndex>(
    a: CsrView<'_, T, I>,
    x: MatRef<'_, f32>,
    mut y: MatMut<'_, f32>,
) {
    let n = x.ncols();
    for j in 0..a.ncols() {
        y.row_mut(j).iter_mut().for_each(|v| *v = 0.0);
    }
    for i in 0..a.nrows() {
        for p in a.row_ptr()[i].index()..a.row_ptr()[i + 1].index() {
            let v = a.values()[p].to_f32();
            let j = a.col_idx()[p].index();
            let xr = x.row(i);
            let yr = y.row_mut(j);
            for c in 0..n {
                yr[c] += v * xr[c];
            }
        }
    }
}

/// `out[p] = Σ_t A[i,t]·B[j,t]` for each stored `(i, j)` at position `p`.
pub fn sddmm<I: SpIndex>(
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    pattern: CsrPatternView<'_, I>,
    out: &mut [f32],
) {
    for i in 0..pattern.nrows() {
        for p in pattern.row_ptr()[i].index()..pattern.row_ptr()[i + 1].index() {
            let j = pattern.col_idx()[p].index();
            out[p] = a.row(i).iter().zip(b.row(j)).map(|(u, v)| u * v).sum();
        }
    }
}

/// `dW[i,j] = Σ_b dY[b,i]·X[b,j]` at the stored `(i, j)`.
pub fn sddmm_linear<I: SpIndex>(
    dy: MatRef<'_, f32>,
    x: MatRef<'_, f32>,
    pattern: CsrPatternView<'_, I>,
    out: &mut [f32],
) {
    for i in 0..pattern.nrows() {
        for p in pattern.row_ptr()[i].index()..pattern.row_ptr()[i + 1].index() {
            let j = pattern.col_idx()[p].index();
            out[p] = (0..dy.nrows()).map(|b| dy.row(b)[i] * x.row(b)[j]).sum();
        }
    }
}

/// `y = A·x`.
pub fn spmv<T: Scalar, I: SpIndex>(a: CsrView<'_, T, I>, x: &[f32], y: &mut [f32]) {
    for i in 0..a.nrows() {
        y[i] = (a.row_ptr()[i].index()..a.row_ptr()[i + 1].index())
            .map(|p| a.values()[p].to_f32() * x[a.col_idx()[p].index()])
            .sum();
    }
}

/// Per row, the `k` largest entries by `key` (descending; ties → lower index), by full sort.
pub fn topk_rows_by(
    x: MatRef<'_, f32>,
    k: usize,
    key: impl Fn(f32) -> f32,
    values: &mut [f32],
    indices: &mut [u32],
) {
    for r in 0..x.nrows() {
        let row = x.row(r);
        let mut idx: Vec<u32> = (0..row.len() as u32).collect();
        idx.sort_by(|&p, &q| {
            let (p, q) = (p as usize, q as usize);
            sparsekit_formats::sparsity::better((key(row[p]), p), (key(row[q]), q))
        });
        for t in 0..k {
            indices[r * k + t] = idx[t];
            values[r * k + t] = row[idx[t] as usize];
        }
    }
}

/// Per row, the `k` largest values (descending; the vocabulary's ranking: NaN of either sign
/// largest, ties → lower index).
pub fn topk_rows(x: MatRef<'_, f32>, k: usize, values: &mut [f32], indices: &mut [u32]) {
    topk_rows_by(x, k, |v| v, values, indices)
}
