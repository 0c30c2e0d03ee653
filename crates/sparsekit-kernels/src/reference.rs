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

/// The sparse normalisers in f64 by a full sort, as the Python `entmax` package 1.3 computes them
/// (the twins of [`crate::normalize`]). `alpha = 2` is sparsemax (the sorted cumulative-sum
/// formula), `alpha = 1.5` 1.5-entmax (the sorted quadratic formula), any other α > 1 bisection
/// (100 halvings of the package's bracket, then `ensure_sum_one`). `−∞` entries get 0; a row
/// without a finite entry gives zeros (the package gives NaN).
pub mod normalize {
    /// `p = α-entmax(z)` of one row.
    pub fn forward(alpha: f64, z: &[f64]) -> Vec<f64> {
        let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if m == f64::NEG_INFINITY {
            return vec![0.0; z.len()];
        }
        let x: Vec<f64> = z.iter().map(|&v| (alpha - 1.0) * (v - m)).collect();
        let mut srt = x.clone();
        srt.sort_by(|a, b| b.total_cmp(a));
        if alpha == 2.0 {
            let (mut cum, mut tau) = (0.0, 0.0);
            for (i, &v) in srt.iter().enumerate() {
                cum += v;
                let k = (i + 1) as f64;
                if k * v > cum - 1.0 {
                    tau = (cum - 1.0) / k;
                }
            }
            x.iter().map(|&v| (v - tau).max(0.0)).collect()
        } else if alpha == 1.5 {
            let (mut s1, mut s2, mut tau) = (0.0, 0.0, 0.0);
            for (i, &v) in srt.iter().enumerate() {
                if v == f64::NEG_INFINITY {
                    break;
                }
                let k = (i + 1) as f64;
                s1 += v;
                s2 += v * v;
                let mean = s1 / k;
                let delta = (1.0 - k * (s2 / k - mean * mean)) / k;
                let t = mean - delta.max(0.0).sqrt();
                if t <= v {
                    tau = t;
                }
            }
            x.iter().map(|&v| (v - tau).max(0.0).powi(2)).collect()
        } else {
            let d = z.len() as f64;
            let r = 1.0 / (alpha - 1.0);
            let mut lo = -1.0f64;
            let mut dm = -(1.0 / d).powf(alpha - 1.0) - lo;
            let p_at =
                |tau: f64| -> Vec<f64> { x.iter().map(|&v| (v - tau).max(0.0).powf(r)).collect() };
            let mut p = p_at(lo);
            for _ in 0..100 {
                dm /= 2.0;
                let tm = lo + dm;
                p = p_at(tm);
                if p.iter().sum::<f64>() - 1.0 >= 0.0 {
                    lo = tm;
                }
            }
            let s: f64 = p.iter().sum();
            p.iter().map(|v| v / s).collect()
        }
    }

    /// `g = p^{2−α}` on the support, 0 off it.
    fn gppr(alpha: f64, p: &[f64]) -> Vec<f64> {
        p.iter()
            .map(|&v| if v > 0.0 { v.powf(2.0 - alpha) } else { 0.0 })
            .collect()
    }

    /// `dz = g⊙dp − (Σg·dp/Σg)·g` (zeros without support).
    pub fn backward(alpha: f64, p: &[f64], dp: &[f64]) -> Vec<f64> {
        let g = gppr(alpha, p);
        let sg: f64 = g.iter().sum();
        if sg == 0.0 {
            return vec![0.0; p.len()];
        }
        let q = g.iter().zip(dp).map(|(a, b)| a * b).sum::<f64>() / sg;
        g.iter().zip(dp).map(|(a, b)| a * (b - q)).collect()
    }

    /// `∂L/∂α` of one row (the package's formula).
    pub fn alpha_grad(alpha: f64, p: &[f64], dp: &[f64]) -> f64 {
        let g = gppr(alpha, p);
        let sg: f64 = g.iter().sum();
        if sg == 0.0 {
            return 0.0;
        }
        let s: Vec<f64> = p
            .iter()
            .map(|&v| if v > 0.0 { v * v.ln() } else { 0.0 })
            .collect();
        let ent: f64 = s.iter().sum();
        let mut acc = 0.0;
        for i in 0..p.len() {
            let ys = g[i] / sg;
            acc += dp[i] * (p[i] - ys) / (alpha - 1.0).powi(2)
                - dp[i] * (s[i] - ys * ent) / (alpha - 1.0);
        }
        acc
    }

    /// The Fenchel–Young loss of one row with target class `t`.
    pub fn loss(alpha: f64, z: &[f64], t: usize) -> f64 {
        let p = forward(alpha, z);
        let mut l = (1.0 - p.iter().map(|v| v.powf(alpha)).sum::<f64>()) / (alpha * (alpha - 1.0));
        for (j, (&pv, &zv)) in p.iter().zip(z).enumerate() {
            if pv > 0.0 {
                l += pv * zv;
            }
            if j == t {
                l -= zv;
            }
        }
        l
    }
}
