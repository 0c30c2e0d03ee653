//! Plain scalar twins of every kernel: straightforward loops, no SIMD, no threads, no `unsafe`.
//! Tests and benches compare the fast paths against these (as burn-flex keeps `simd/scalar.rs`
//! next to its SIMD kernels). They accumulate in f32 in the natural order unless noted.
//!
//! They take the same views as the fast kernels but assume valid shapes (they panic on
//! mismatches instead of returning errors).

#![allow(clippy::needless_range_loop)]

use sparsekit_formats::{CsrPatternView, CsrView, Scalar, SpIndex};

use crate::attention::{AttentionShape, BlockLayout};
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

/// Forward of block-sparse attention in f64, dense: `O = softmax(scale·Q·Kᵀ + mask)·V` with the
/// dense `seq_q × seq_k` mask of each head's layout ([`BlockLayout::to_dense_mask`]) and the key
/// mask combined. Returns `(O, lse)` (shapes of [`crate::attention::block_attention_forward`]); a
/// query with no allowed key gets `O = 0`, `lse = -inf`.
pub fn block_attention_forward(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    shape: AttentionShape,
    layouts: &[BlockLayout],
    key_mask: Option<&[bool]>,
    scale: f32,
) -> (Vec<f64>, Vec<f64>) {
    let AttentionShape {
        batch,
        heads,
        seq_q,
        seq_k,
        head_dim: _,
        value_dim: dv,
    } = shape;
    let mut out = vec![0.0f64; batch * heads * seq_q * dv];
    let mut lse = vec![f64::NEG_INFINITY; batch * heads * seq_q];
    for b in 0..batch {
        for h in 0..heads {
            let bh = b * heads + h;
            let p = probabilities(q, k, shape, layouts, key_mask, scale, b, h);
            for i in 0..seq_q {
                let Some((row, l)) = &p[i] else { continue };
                lse[bh * seq_q + i] = *l;
                for j in 0..seq_k {
                    for c in 0..dv {
                        out[(bh * seq_q + i) * dv + c] +=
                            row[j] * v[(bh * seq_k + j) * dv + c] as f64;
                    }
                }
            }
        }
    }
    (out, lse)
}

/// Per query of head `(b, h)`: `None` when no key is allowed, else the softmax row (zeros where
/// masked) and its log-sum-exp.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn probabilities(
    q: &[f32],
    k: &[f32],
    shape: AttentionShape,
    layouts: &[BlockLayout],
    key_mask: Option<&[bool]>,
    scale: f32,
    b: usize,
    h: usize,
) -> Vec<Option<(Vec<f64>, f64)>> {
    let (seq_q, seq_k, d) = (shape.seq_q, shape.seq_k, shape.head_dim);
    let bh = b * shape.heads + h;
    let layout = &layouts[if layouts.len() == 1 { 0 } else { h }];
    let mask = layout.to_dense_mask();
    (0..seq_q)
        .map(|i| {
            let mut s = vec![f64::NEG_INFINITY; seq_k];
            for j in 0..seq_k {
                if mask[i * seq_k + j] && key_mask.is_none_or(|m| m[b * seq_k + j]) {
                    let mut dot = 0.0f64;
                    for t in 0..d {
                        dot +=
                            q[(bh * seq_q + i) * d + t] as f64 * k[(bh * seq_k + j) * d + t] as f64;
                    }
                    s[j] = scale as f64 * dot;
                }
            }
            let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if m == f64::NEG_INFINITY {
                return None;
            }
            let e: Vec<f64> = s.iter().map(|&x| (x - m).exp()).collect();
            let l: f64 = e.iter().sum();
            Some((e.iter().map(|x| x / l).collect(), m + l.ln()))
        })
        .collect()
}

/// Backward of [`block_attention_forward`] in f64 from the dense softmax: returns `(dQ, dK, dV)`
/// for the upstream gradient `d_out` (rows with no allowed key contribute nothing).
#[allow(clippy::too_many_arguments)]
pub fn block_attention_backward(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    d_out: &[f32],
    shape: AttentionShape,
    layouts: &[BlockLayout],
    key_mask: Option<&[bool]>,
    scale: f32,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let AttentionShape {
        batch,
        heads,
        seq_q,
        seq_k,
        head_dim: d,
        value_dim: dv,
    } = shape;
    let mut dq = vec![0.0f64; batch * heads * seq_q * d];
    let mut dk = vec![0.0f64; batch * heads * seq_k * d];
    let mut dvv = vec![0.0f64; batch * heads * seq_k * dv];
    for b in 0..batch {
        for h in 0..heads {
            let bh = b * heads + h;
            let p = probabilities(q, k, shape, layouts, key_mask, scale, b, h);
            for i in 0..seq_q {
                let Some((row, _)) = &p[i] else { continue };
                let go = &d_out[(bh * seq_q + i) * dv..][..dv];
                // dP_ij = dO_i · V_j; D_i = Σ_j P_ij dP_ij.
                let dp: Vec<f64> = (0..seq_k)
                    .map(|j| {
                        (0..dv)
                            .map(|c| go[c] as f64 * v[(bh * seq_k + j) * dv + c] as f64)
                            .sum()
                    })
                    .collect();
                let dd: f64 = (0..seq_k).map(|j| row[j] * dp[j]).sum();
                for j in 0..seq_k {
                    if row[j] == 0.0 {
                        continue;
                    }
                    for c in 0..dv {
                        dvv[(bh * seq_k + j) * dv + c] += row[j] * go[c] as f64;
                    }
                    let ds = scale as f64 * row[j] * (dp[j] - dd);
                    for t in 0..d {
                        dq[(bh * seq_q + i) * d + t] += ds * k[(bh * seq_k + j) * d + t] as f64;
                        dk[(bh * seq_k + j) * d + t] += ds * q[(bh * seq_q + i) * d + t] as f64;
                    }
                }
            }
        }
    }
    (dq, dk, dvv)
}
