//! Flash-style block-sparse attention on CPU: [`block_attention_forward`] and
//! [`block_attention_backward`] compute `O = softmax(scale·Q·Kᵀ restricted to a
//! [`BlockLayout`])·V` and its gradients touching only the kept tiles — the dense `L × L` score
//! matrix is never built.
//!
//! **Forward** (FlashAttention-2). One task per `(batch·head, query block)`. For each kept tile
//! of its block row, in increasing key-block order: `S = Q_tile·K_tileᵀ` (a register-blocked
//! tile GEMM against `Kᵀ` panels transposed once per call), scale, mask (full tiles read no mask;
//! partial tiles apply their bits; padded keys of the key mask and columns past the sequence end
//! become `-∞`), then the online softmax per row — running max `m`, running sum `l`,
//! `O ← O·e^{m_old − m_new} + e^{S − m_new}·V_tile`. At the end `O /= l`, `lse = m + ln l`.
//! A row that never saw an allowed key has `m = -∞`: it gets `O = 0`, `lse = -∞` (no NaN:
//! `-∞` rows are never shifted by `-∞`).
//!
//! **Backward** (FlashAttention-2, `P` recomputed per tile from `lse`; `D = rowsum(dO ∘ O)`).
//! Two passes with no shared writes: `dQ` with one task per `(batch·head, query block)`
//! (`dQ += scale·dS·K` with `dS = P∘(dP − D)`, `P = e^{scale·S − lse}`, `dP = dO·Vᵀ`), and
//! `dK`, `dV` with one task per `(batch·head, key block)` walking the key block's tiles in
//! increasing query-block order ([`BlockLayout::by_key_block`], computed once per layout per
//! call): `Sᵀ = K·Qᵀ`, `Pᵀ`, `dV += Pᵀ·dO`, `dPᵀ = V·dOᵀ`, `dSᵀ`, `dK += scale·dSᵀ·Q`. The
//! dK/dV pass runs first and stores each tile's `dSᵀ`; the dQ pass then needs one GEMM per tile
//! (`dQ += scale·dS·K`, `dS` read transposed). Every GEMM is the same `C (+)= A·B` tile kernel;
//! the operands it reads as `B` are transposed or column-padded once per call (`Kᵀ`, `Vᵀ`,
//! `Qᵀ`, `dOᵀ` panels per block).
//!
//! **Determinism.** Each output row (of `O`, `lse`, `dQ`, `dK`, `dV`) is written by exactly one
//! rayon task, which accumulates its tiles in a fixed order with a fixed-order tile GEMM; no
//! atomics and no cross-task reductions, so results are bit-identical for any thread count.
//!
//! **Why a hand-written tile GEMM** (house rule: measured reason). The tiles are small
//! (`64 × 64 × 64`) and their operands already sit in L1 in the layout the kernel wants, so the
//! tile GEMM (`tile::gemm`: 6 rows × 4 vectors of `C` in registers on AVX-512, 6 × 2 on AVX2,
//! `A` broadcast from memory, no packing) needs no per-call setup; a general GEMM packs and
//! dispatches per call. Measured on the 2-core AVX-512 Xeon, one thread, 20 000 calls on
//! L1-resident operands (`attention::tile`'s ignored `tile_gemm_speed` test; the `gemm` crate figure measured once as a dev-dependency,
//! two other compilations running): 64³ — this kernel 183 GFLOP/s (AVX-512), 73 (AVX2), the
//! `gemm` crate 0.19 (single-threaded, its AVX-512 kernels) 124; 32³ — 98 vs 90. The kernel
//! also reads `A` transposed for free (`AT`), which the backward's stored `dSᵀ` tiles need.
//!
//! **exp.** A branch-free polynomial `exp` (`tile::exp`, relative error ≤ 2⁻²² on every ISA,
//! tested) that the row loops vectorize (fused multiply-adds where the ISA has them); libm's
//! `expf` is a scalar call per score, and the forward alone needs ~15 M of them in the probe's
//! 10 % case.
//!
//! **Memory.** Per call: `Kᵀ` (forward) or `Kᵀ`, `Vᵀ`, `Qᵀ`, `dOᵀ` panels (backward), about one
//! copy of each input; the backward's `dS` store is `kept tiles × block_k × padded(block_q)`
//! floats when that is at most 2²⁵ (128 MiB; reused per calling thread), else `S`, `P`, `dP`
//! are recomputed in the dQ pass (same bits, tested).

use rayon::prelude::*;

use super::layout::BlockLayout;
use super::tile::{self, padded};
use crate::error::KernelError;
use crate::scratch::with_scratch;
use crate::simd::{dispatch, Isa, Kernel, Simd};

/// Shapes of one attention call. Q is `[batch, heads, seq_q, head_dim]`, K
/// `[batch, heads, seq_k, head_dim]`, V `[batch, heads, seq_k, value_dim]`, O
/// `[batch, heads, seq_q, value_dim]`, all row-major contiguous f32; lse (log-sum-exp of the
/// scaled kept scores per query) is `[batch, heads, seq_q]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionShape {
    /// Batch size.
    pub batch: usize,
    /// Attention heads.
    pub heads: usize,
    /// Query positions.
    pub seq_q: usize,
    /// Key (and value) positions.
    pub seq_k: usize,
    /// Query / key feature size (must be positive).
    pub head_dim: usize,
    /// Value / output feature size (must be positive).
    pub value_dim: usize,
}

/// Forward of block-sparse attention: `out = softmax(scale·Q·Kᵀ restricted to the layout)·V`
/// and `lse` (see [`AttentionShape`] for the buffers; both outputs are overwritten).
///
/// `layouts`: one layout shared by all heads, or one per head (`heads` of them); each must have
/// the shape's `seq_q` / `seq_k` (block sizes may differ per head). `key_mask`: optional
/// `[batch, seq_k]`, `true` = the key exists (padding = `false`), combined with the layout.
/// A query with no allowed key gets `O = 0` and `lse = -∞` (never NaN).
///
/// Errors ([`KernelError`], never a panic): a buffer of the wrong length, `head_dim` or
/// `value_dim` 0, a layout count other than 1 or `heads`, a layout of other sequence lengths,
/// a key mask of the wrong length, a non-finite `scale`, sizes overflowing `usize`.
///
/// ```
/// use sparsekit_kernels::attention::Coverage;
/// use sparsekit_kernels::{block_attention_forward, AttentionShape, BlockLayout};
/// // Causal attention over 2 positions with 1 × 1 tiles; all scores 0.
/// let shape = AttentionShape { batch: 1, heads: 1, seq_q: 2, seq_k: 2, head_dim: 1, value_dim: 1 };
/// let causal = BlockLayout::from_fn(
///     2, 2, 1, 1,
///     |r, c| if c <= r { Coverage::Full } else { Coverage::Empty },
///     |_, _| true,
/// )?;
/// let (q, k, v) = ([1.0f32, 1.0], [0.0f32, 0.0], [3.0f32, 5.0]);
/// let (mut o, mut lse) = ([0.0f32; 2], [0.0f32; 2]);
/// block_attention_forward(&q, &k, &v, shape, &[causal], None, 1.0, &mut o, &mut lse)?;
/// assert_eq!(o, [3.0, 4.0]); // query 0 sees key 0; query 1 averages keys 0 and 1
/// assert_eq!(lse, [0.0, 2f32.ln()]);
/// # Ok::<(), sparsekit_kernels::KernelError>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn block_attention_forward(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    shape: AttentionShape,
    layouts: &[BlockLayout],
    key_mask: Option<&[bool]>,
    scale: f32,
    out: &mut [f32],
    lse: &mut [f32],
) -> Result<(), KernelError> {
    block_attention_forward_isa(
        Isa::detect(),
        q,
        k,
        v,
        shape,
        layouts,
        key_mask,
        scale,
        out,
        lse,
    )
}

/// Gradients of `O = softmax(scale·Q·Kᵀ restricted to the layout)·V` given `d_out`, from the
/// forward's `out` and `lse` (FlashAttention-2 backward: `D = rowsum(dO ∘ O)`; `P` recomputed
/// per tile). `dq`, `dk`, `dv` are overwritten. Queries with no allowed key contribute nothing.
/// Same arguments and errors as [`block_attention_forward`].
#[allow(clippy::too_many_arguments)]
pub fn block_attention_backward(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &[f32],
    lse: &[f32],
    d_out: &[f32],
    shape: AttentionShape,
    layouts: &[BlockLayout],
    key_mask: Option<&[bool]>,
    scale: f32,
    dq: &mut [f32],
    dk: &mut [f32],
    dv: &mut [f32],
) -> Result<(), KernelError> {
    block_attention_backward_isa(
        Isa::detect(),
        q,
        k,
        v,
        out,
        lse,
        d_out,
        shape,
        layouts,
        key_mask,
        scale,
        dq,
        dk,
        dv,
    )
}

const FWD: &str = "block_attention_forward";
const BWD: &str = "block_attention_backward";

fn mul(op: &'static str, dims: &[usize]) -> Result<usize, KernelError> {
    dims.iter().try_fold(1usize, |a, &b| {
        a.checked_mul(b)
            .ok_or_else(|| KernelError::shape(op, format!("sizes {dims:?} overflow usize")))
    })
}

fn check_len(op: &'static str, what: &str, got: usize, need: usize) -> Result<(), KernelError> {
    if got != need {
        return Err(KernelError::shape(
            op,
            format!("{what} has {got} elements, the shape needs {need}"),
        ));
    }
    Ok(())
}

/// Checks everything but the buffer lengths; returns the element counts of
/// `(Q, K, V, O, lse)`.
fn check_common(
    op: &'static str,
    s: AttentionShape,
    layouts: &[BlockLayout],
    key_mask: Option<&[bool]>,
    scale: f32,
) -> Result<[usize; 5], KernelError> {
    if s.head_dim == 0 || s.value_dim == 0 {
        return Err(KernelError::shape(
            op,
            format!(
                "head_dim ({}) and value_dim ({}) must be positive",
                s.head_dim, s.value_dim
            ),
        ));
    }
    if !scale.is_finite() {
        return Err(KernelError::shape(
            op,
            format!("scale {scale} is not finite"),
        ));
    }
    if layouts.len() != 1 && layouts.len() != s.heads {
        return Err(KernelError::shape(
            op,
            format!(
                "{} layouts for {} heads (give 1 shared layout or one per head)",
                layouts.len(),
                s.heads
            ),
        ));
    }
    for (i, l) in layouts.iter().enumerate() {
        if l.seq_q() != s.seq_q || l.seq_k() != s.seq_k {
            return Err(KernelError::shape(
                op,
                format!(
                    "layout {i} is {}×{}, the shape is seq_q {} × seq_k {}",
                    l.seq_q(),
                    l.seq_k(),
                    s.seq_q,
                    s.seq_k
                ),
            ));
        }
    }
    if let Some(m) = key_mask {
        check_len(op, "key_mask", m.len(), mul(op, &[s.batch, s.seq_k])?)?;
    }
    let bh = mul(op, &[s.batch, s.heads])?;
    Ok([
        mul(op, &[bh, s.seq_q, s.head_dim])?,
        mul(op, &[bh, s.seq_k, s.head_dim])?,
        mul(op, &[bh, s.seq_k, s.value_dim])?,
        mul(op, &[bh, s.seq_q, s.value_dim])?,
        mul(op, &[bh, s.seq_q])?,
    ])
}

/// [`block_attention_forward`] on an explicit [`Isa`] (falls back to portable code when `isa`
/// is not available; tests compare the ISAs).
#[allow(clippy::too_many_arguments)]
pub fn block_attention_forward_isa(
    isa: Isa,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    shape: AttentionShape,
    layouts: &[BlockLayout],
    key_mask: Option<&[bool]>,
    scale: f32,
    out: &mut [f32],
    lse: &mut [f32],
) -> Result<(), KernelError> {
    let [nq, nk, nv, no, nl] = check_common(FWD, shape, layouts, key_mask, scale)?;
    check_len(FWD, "q", q.len(), nq)?;
    check_len(FWD, "k", k.len(), nk)?;
    check_len(FWD, "v", v.len(), nv)?;
    check_len(FWD, "out", out.len(), no)?;
    check_len(FWD, "lse", lse.len(), nl)?;
    let AttentionShape {
        heads,
        seq_q,
        seq_k,
        head_dim: d,
        value_dim: dv,
        ..
    } = shape;
    if no == 0 {
        return Ok(());
    }
    let bh_count = shape.batch * heads;
    let layout_of = |h: usize| &layouts[if layouts.len() == 1 { 0 } else { h }];
    // Per (batch, head): Kᵀ panels (in a per-thread scratch buffer reused across calls) and V
    // with padded columns.
    let sizes: Vec<usize> = (0..bh_count)
        .map(|bh| panel_len(seq_k, d, eff_bk(layout_of(bh % heads))))
        .collect();
    let vp: Vec<Padded<'_>> = (0..bh_count)
        .into_par_iter()
        .map(|bh| Padded::new(&v[bh * seq_k * dv..][..seq_k * dv], dv))
        .collect();
    with_scratch(sizes.iter().sum(), |buf| {
        let mut kt = split_sizes(buf, &sizes);
        kt.par_iter_mut().enumerate().for_each(|(bh, t)| {
            let bk = eff_bk(layout_of(bh % heads));
            transpose_into(&k[bh * seq_k * d..][..seq_k * d], d, bk, t)
        });
        out.par_chunks_mut(seq_q * dv)
            .zip(lse.par_chunks_mut(seq_q))
            .enumerate()
            .for_each(|(bh, (o, ls))| {
                let (b, h) = (bh / heads, bh % heads);
                let l = layout_of(h);
                let bq = eff_bq(l);
                o.par_chunks_mut(bq * dv)
                    .zip(ls.par_chunks_mut(bq))
                    .enumerate()
                    .for_each(|(r, (o, ls))| {
                        dispatch(
                            isa,
                            FwdTask {
                                layout: l,
                                r,
                                q: &q[(bh * seq_q + r * bq) * d..][..o.len() / dv * d],
                                kt: &kt[bh][..],
                                v: &vp[bh],
                                key_mask: key_mask.map(|m| &m[b * seq_k..][..seq_k]),
                                d,
                                dv,
                                scale,
                                out: o,
                                lse: ls,
                            },
                        )
                    });
            });
    });
    Ok(())
}

/// The query block size the kernels use: `block_q`, or `seq_q` when one block covers the whole
/// sequence (the same tiles; keeps buffers proportional to the sequence for huge blocks).
fn eff_bq(l: &BlockLayout) -> usize {
    l.block_q().min(l.seq_q()).max(1)
}

/// As [`eff_bq`] for keys.
fn eff_bk(l: &BlockLayout) -> usize {
    l.block_k().min(l.seq_k()).max(1)
}

/// Floats of [`transpose_into`]'s panels for `rows × cols` in blocks of `block` rows.
fn panel_len(rows: usize, cols: usize, block: usize) -> usize {
    rows.div_ceil(block) * cols * padded(block)
}

/// `buf` cut into consecutive pieces of the given sizes (`buf.len() ≥ Σ sizes`).
fn split_sizes<'a>(mut buf: &'a mut [f32], sizes: &[usize]) -> Vec<&'a mut [f32]> {
    sizes
        .iter()
        .map(|&n| {
            let (head, tail) = std::mem::take(&mut buf).split_at_mut(n);
            buf = tail;
            head
        })
        .collect()
}

/// `x` (`rows × cols`, row-major) transposed into one `cols × padded(block)` panel per block of
/// `block` rows, written to all of `t` ([`panel_len`] floats; zeros past the end).
fn transpose_into(x: &[f32], cols: usize, block: usize, t: &mut [f32]) {
    let rows = x.len().checked_div(cols).unwrap_or(0);
    let bp = padded(block);
    for (blk, panel) in t.chunks_exact_mut(cols * bp).enumerate() {
        let r0 = blk * block;
        let src = &x[r0 * cols..];
        let n = (rows - r0).min(block);
        // Contiguous writes, strided reads from the (L1-resident) block of rows.
        for (c, dst) in panel.chunks_exact_mut(bp).enumerate() {
            for (i, d) in dst[..n].iter_mut().enumerate() {
                *d = src[i * cols + c];
            }
            dst[n..].fill(0.0);
        }
    }
}

/// A row-major matrix whose row stride is a multiple of [`tile::PAD`] (borrowed when the
/// column count already is one, else a zero-padded copy).
enum Padded<'a> {
    Borrowed(&'a [f32]),
    Owned(Vec<f32>),
}

impl<'a> Padded<'a> {
    fn new(x: &'a [f32], cols: usize) -> Self {
        let cp = padded(cols);
        if cp == cols {
            return Padded::Borrowed(x);
        }
        let mut o = vec![0.0f32; x.len() / cols * cp];
        for (src, dst) in x.chunks_exact(cols).zip(o.chunks_exact_mut(cp)) {
            dst[..cols].copy_from_slice(src);
        }
        Padded::Owned(o)
    }
    fn data(&self) -> &[f32] {
        match self {
            Padded::Borrowed(x) => x,
            Padded::Owned(x) => x,
        }
    }
}

/// Which columns `0..padded(block_k)` of tile `t` (tile column `c`) row `i` may see: `None`
/// when all `cols` real columns are allowed for every row (full tile, no padded key).
struct TileMask<'a> {
    bits: Option<&'a [u64]>,
    words: usize,
    /// `cols_ok[j]`: column `j` is inside the sequence and its key exists.
    cols_ok: Vec<bool>,
}

impl<'a> TileMask<'a> {
    fn new(
        layout: &'a BlockLayout,
        t: usize,
        c: usize,
        width: usize,
        key_mask: Option<&[bool]>,
    ) -> Option<Self> {
        let cols = layout.cols_in(c);
        let km = key_mask.map(|m| &m[c * eff_bk(layout)..][..cols]);
        let bits = layout.tile_bits(t);
        if bits.is_none() && cols == width && km.is_none_or(|m| m.iter().all(|&x| x)) {
            return None;
        }
        let cols_ok = (0..width)
            .map(|j| j < cols && km.is_none_or(|m| m[j]))
            .collect();
        Some(TileMask {
            bits,
            words: layout.words_per_row(),
            cols_ok,
        })
    }
    #[inline]
    fn allows(&self, i: usize, j: usize) -> bool {
        self.cols_ok[j]
            && self
                .bits
                .is_none_or(|b| b[i * self.words + j / 64] >> (j % 64) & 1 == 1)
    }
}

struct FwdTask<'a> {
    layout: &'a BlockLayout,
    r: usize,
    /// This block's query rows (`rows × d`).
    q: &'a [f32],
    kt: &'a [f32],
    v: &'a Padded<'a>,
    key_mask: Option<&'a [bool]>,
    d: usize,
    dv: usize,
    scale: f32,
    out: &'a mut [f32],
    lse: &'a mut [f32],
}

impl Kernel for FwdTask<'_> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self) {
        let FwdTask {
            layout,
            r,
            q,
            kt,
            v,
            key_mask,
            d,
            dv,
            scale,
            out,
            lse,
        } = self;
        let rows = lse.len();
        let (bk, bkp, dvp) = (eff_bk(layout), padded(eff_bk(layout)), padded(dv));
        let v = v.data();
        let mut s = vec![0.0f32; rows * bkp];
        let mut acc = vec![0.0f32; rows * dvp];
        let mut m = vec![f32::NEG_INFINITY; rows];
        let mut l = vec![0.0f32; rows];
        let (lo, hi) = (layout.row_ptr()[r], layout.row_ptr()[r + 1]);
        for t in lo..hi {
            let c = layout.col_idx()[t] as usize;
            let cols = layout.cols_in(c);
            // SAFETY: q holds rows × d floats; the Kᵀ panel of block c holds d × bkp; s holds
            // rows × bkp; bkp is a multiple of PAD; dispatch guarantees the ISA.
            unsafe {
                tile::gemm::<S, false>(
                    false,
                    rows,
                    bkp,
                    d,
                    q.as_ptr(),
                    d,
                    kt[c * d * bkp..].as_ptr(),
                    bkp,
                    s.as_mut_ptr(),
                    bkp,
                )
            };
            let mask = TileMask::new(layout, t, c, bkp, key_mask);
            for i in 0..rows {
                let row = &mut s[i * bkp..][..bkp];
                if let Some(mk) = &mask {
                    for (j, x) in row.iter_mut().enumerate() {
                        if !mk.allows(i, j) {
                            *x = f32::NEG_INFINITY;
                        }
                    }
                }
                let mx = tile::scale_max(row, scale);
                let mnew = m[i].max(mx);
                if mnew == f32::NEG_INFINITY {
                    // Nothing allowed yet: P = 0 for this row.
                    row.fill(0.0);
                    continue;
                }
                let sum = tile::exp_sum::<S>(row, mnew);
                let alpha = tile::exp::<S>(m[i] - mnew);
                l[i] = l[i] * alpha + sum;
                m[i] = mnew;
                if alpha != 1.0 {
                    tile::scale_row(&mut acc[i * dvp..][..dvp], alpha);
                }
            }
            // SAFETY: s holds rows × bkp (P, reading columns < cols ≤ bkp); V (padded) holds
            // the rows c·bk .. c·bk + cols with stride dvp; acc holds rows × dvp.
            unsafe {
                tile::gemm::<S, false>(
                    true,
                    rows,
                    dvp,
                    cols,
                    s.as_ptr(),
                    bkp,
                    v[c * bk * dvp..].as_ptr(),
                    dvp,
                    acc.as_mut_ptr(),
                    dvp,
                )
            };
        }
        for i in 0..rows {
            let o = &mut out[i * dv..][..dv];
            if m[i] == f32::NEG_INFINITY {
                o.fill(0.0);
                lse[i] = f32::NEG_INFINITY;
            } else {
                let inv = 1.0 / l[i];
                for (x, a) in o.iter_mut().zip(&acc[i * dvp..]) {
                    *x = a * inv;
                }
                lse[i] = m[i] + l[i].ln();
            }
        }
    }
}

/// [`block_attention_backward`] on an explicit [`Isa`] (falls back to portable code when `isa`
/// is not available; tests compare the ISAs).
#[allow(clippy::too_many_arguments)]
pub fn block_attention_backward_isa(
    isa: Isa,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &[f32],
    lse: &[f32],
    d_out: &[f32],
    shape: AttentionShape,
    layouts: &[BlockLayout],
    key_mask: Option<&[bool]>,
    scale: f32,
    dq: &mut [f32],
    dk: &mut [f32],
    dv: &mut [f32],
) -> Result<(), KernelError> {
    backward_with_budget(
        isa, q, k, v, out, lse, d_out, shape, layouts, key_mask, scale, dq, dk, dv, DS_BUDGET,
    )
}

/// Floats of `dS` tiles the backward keeps between its passes (128 MiB; above it the dQ pass
/// recomputes `S`, `P`, `dP` per tile). B = 1, H = 8, L = 4096 with 64 × 64 tiles fits up to
/// 25 % kept tiles.
const DS_BUDGET: usize = 1 << 25;

#[allow(clippy::too_many_arguments)]
fn backward_with_budget(
    isa: Isa,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &[f32],
    lse: &[f32],
    d_out: &[f32],
    shape: AttentionShape,
    layouts: &[BlockLayout],
    key_mask: Option<&[bool]>,
    scale: f32,
    dq: &mut [f32],
    dk: &mut [f32],
    dv: &mut [f32],
    ds_budget: usize,
) -> Result<(), KernelError> {
    let [nq, nk, nv, no, nl] = check_common(BWD, shape, layouts, key_mask, scale)?;
    check_len(BWD, "q", q.len(), nq)?;
    check_len(BWD, "k", k.len(), nk)?;
    check_len(BWD, "v", v.len(), nv)?;
    check_len(BWD, "out", out.len(), no)?;
    check_len(BWD, "lse", lse.len(), nl)?;
    check_len(BWD, "d_out", d_out.len(), no)?;
    check_len(BWD, "dq", dq.len(), nq)?;
    check_len(BWD, "dk", dk.len(), nk)?;
    check_len(BWD, "dv", dv.len(), nv)?;
    let AttentionShape {
        heads,
        seq_q,
        seq_k,
        head_dim: d,
        value_dim: dvd,
        ..
    } = shape;
    let bh_count = shape.batch * heads;
    let per_head = layouts.len() != 1;
    let layout_of = |h: usize| &layouts[if per_head { h } else { 0 }];
    // The key-major view of each layout, once per call.
    let by_key: Vec<ByKey> = layouts.par_iter().map(|l| l.by_key_block()).collect();
    // Per (batch, head): Kᵀ, Vᵀ, Qᵀ, dOᵀ panels (in a per-thread scratch buffer reused across
    // calls), padded copies, D = rowsum(dO ∘ O), and the shift of P = exp(scale·S − lse) (+∞
    // for rows with no allowed key, so that P = 0 there).
    let sizes: Vec<usize> = (0..bh_count)
        .flat_map(|bh| {
            let l = layout_of(bh % heads);
            let (bq, bk) = (eff_bq(l), eff_bk(l));
            [
                panel_len(seq_k, d, bk),
                panel_len(seq_k, dvd, bk),
                panel_len(seq_q, d, bq),
                panel_len(seq_q, dvd, bq),
            ]
        })
        .collect();
    let mut passes_with = |panels: &mut [f32]| {
        let mut parts = split_sizes(panels, &sizes);
        parts.par_iter_mut().enumerate().for_each(|(n, t)| {
            let (bh, which) = (n / 4, n % 4);
            let l = layout_of(bh % heads);
            let (x, cols, block) = match which {
                0 => (&k[bh * seq_k * d..][..seq_k * d], d, eff_bk(l)),
                1 => (&v[bh * seq_k * dvd..][..seq_k * dvd], dvd, eff_bk(l)),
                2 => (&q[bh * seq_q * d..][..seq_q * d], d, eff_bq(l)),
                _ => (&d_out[bh * seq_q * dvd..][..seq_q * dvd], dvd, eff_bq(l)),
            };
            transpose_into(x, cols, block, t);
        });
        let parts: Vec<&[f32]> = parts.into_iter().map(|t| &*t).collect();
        let prep: Vec<BwdPrep<'_>> = (0..bh_count)
            .into_par_iter()
            .map(|bh| {
                let l = layout_of(bh % heads);
                let qq = &q[bh * seq_q * d..][..seq_q * d];
                let kk = &k[bh * seq_k * d..][..seq_k * d];
                let oo = &out[bh * seq_q * dvd..][..seq_q * dvd];
                let go = &d_out[bh * seq_q * dvd..][..seq_q * dvd];
                let ll = &lse[bh * seq_q..][..seq_q];
                let (qb, bq, bqp) = (l.q_blocks(), eff_bq(l), padded(eff_bq(l)));
                // Per query block, padded to bqp: D and the lse shift.
                let mut dd = vec![0.0f32; qb * bqp];
                let mut shift = vec![f32::INFINITY; qb * bqp];
                for i in 0..seq_q {
                    let slot = i / bq * bqp + i % bq;
                    dd[slot] = oo[i * dvd..][..dvd]
                        .iter()
                        .zip(&go[i * dvd..][..dvd])
                        .map(|(a, b)| a * b)
                        .sum();
                    if ll[i] != f32::NEG_INFINITY {
                        shift[slot] = ll[i];
                    }
                }
                BwdPrep {
                    kt: parts[4 * bh],
                    vt: parts[4 * bh + 1],
                    qt: parts[4 * bh + 2],
                    got: parts[4 * bh + 3],
                    kp: Padded::new(kk, d),
                    qp: Padded::new(qq, d),
                    gop: Padded::new(go, dvd),
                    dd,
                    shift,
                }
            })
            .collect();
        // dS tiles of the dK/dV pass, kept for the dQ pass when they fit the budget (then the dQ
        // pass is one GEMM per tile instead of three); the slots of (batch·head) `bh` start at
        // `ds_off[bh]`, one `block_k × padded(block_q)` slot per kept tile.
        let mut ds_off = Vec::with_capacity(bh_count + 1);
        ds_off.push(0usize);
        for bh in 0..bh_count {
            let l = layout_of(bh % heads);
            let slot = eff_bk(l).saturating_mul(padded(eff_bq(l)));
            let next = l
                .kept_tiles()
                .checked_mul(slot)
                .and_then(|n| n.checked_add(ds_off[bh]))
                .unwrap_or(usize::MAX);
            ds_off.push(next);
        }
        let ds_total = ds_off[bh_count];
        let mut passes = |ds: Option<SharedPtr>| {
            if seq_k > 0 {
                dk.par_chunks_mut(seq_k * d)
                    .zip(dv.par_chunks_mut(seq_k * dvd))
                    .enumerate()
                    .for_each(|(bh, (dk, dv))| {
                        let (b, h) = (bh / heads, bh % heads);
                        let li = if per_head { h } else { 0 };
                        let l = &layouts[li];
                        let bk = eff_bk(l);
                        dk.par_chunks_mut(bk * d)
                            .zip(dv.par_chunks_mut(bk * dvd))
                            .enumerate()
                            .for_each(|(c, (dk, dv))| {
                                dispatch(
                                    isa,
                                    DkvTask {
                                        layout: l,
                                        by_key: &by_key[li],
                                        c,
                                        k: &k[(bh * seq_k + c * bk) * d..][..dk.len()],
                                        v: &v[(bh * seq_k + c * bk) * dvd..][..dv.len()],
                                        p: &prep[bh],
                                        key_mask: key_mask.map(|m| &m[b * seq_k..][..seq_k]),
                                        d,
                                        dvd,
                                        scale,
                                        ds: ds.map(|p| p.offset(ds_off[bh])),
                                        dk,
                                        dv,
                                    },
                                )
                            });
                    });
            }
            if seq_q > 0 {
                dq.par_chunks_mut(seq_q * d)
                    .enumerate()
                    .for_each(|(bh, dq)| {
                        let (b, h) = (bh / heads, bh % heads);
                        let l = layout_of(h);
                        let bq = eff_bq(l);
                        dq.par_chunks_mut(bq * d).enumerate().for_each(|(r, dq)| {
                            dispatch(
                                isa,
                                DqTask {
                                    layout: l,
                                    r,
                                    q: &q[(bh * seq_q + r * bq) * d..][..dq.len()],
                                    go: &d_out[(bh * seq_q + r * bq) * dvd..][..dq.len() / d * dvd],
                                    p: &prep[bh],
                                    key_mask: key_mask.map(|m| &m[b * seq_k..][..seq_k]),
                                    d,
                                    dv: dvd,
                                    scale,
                                    ds: ds.map(|p| p.offset(ds_off[bh])),
                                    dq,
                                },
                            )
                        });
                    });
            }
        };
        if ds_total <= ds_budget {
            // Reused per calling thread: no page faults after the first call. Every slot is
            // written by the dK/dV pass before the dQ pass reads it.
            with_scratch(ds_total, |buf| passes(Some(SharedPtr(buf.as_mut_ptr()))));
        } else {
            passes(None);
        }
    };
    with_scratch(sizes.iter().sum(), |panels| passes_with(panels));
    Ok(())
}

/// The base of the `dS` tile store, shared by the backward's tasks: each kept tile's slot is
/// written by the one dK/dV task that owns its key block, and read afterwards (after the pass
/// has joined) by the one dQ task that owns its query block.
#[derive(Clone, Copy)]
struct SharedPtr(*mut f32);

// SAFETY: the tasks touch disjoint slots (see above), and the passes are sequenced by rayon's
// joins, so sharing the pointer across threads creates no data race.
unsafe impl Send for SharedPtr {}
// SAFETY: as for `Send`.
unsafe impl Sync for SharedPtr {}

impl SharedPtr {
    fn offset(self, n: usize) -> *mut f32 {
        self.0.wrapping_add(n)
    }
}

/// [`BlockLayout::by_key_block`]'s `(pointers, (query block, tile))` view.
type ByKey = (Vec<usize>, Vec<(u32, u32)>);

/// The per-(batch, head) operands of the backward passes.
struct BwdPrep<'a> {
    /// `Kᵀ` panels per key block (`d × bkp`).
    kt: &'a [f32],
    /// `Vᵀ` panels per key block (`dv × bkp`).
    vt: &'a [f32],
    /// `Qᵀ` panels per query block (`d × bqp`).
    qt: &'a [f32],
    /// `dOᵀ` panels per query block (`dv × bqp`).
    got: &'a [f32],
    /// K, Q, dO with padded rows.
    kp: Padded<'a>,
    qp: Padded<'a>,
    gop: Padded<'a>,
    /// `D` per query, `bqp` slots per query block.
    dd: Vec<f32>,
    /// `lse` per query (`+∞` where `-∞` or past the end), `bqp` slots per query block.
    shift: Vec<f32>,
}

struct DqTask<'a> {
    layout: &'a BlockLayout,
    r: usize,
    q: &'a [f32],
    go: &'a [f32],
    p: &'a BwdPrep<'a>,
    key_mask: Option<&'a [bool]>,
    d: usize,
    dv: usize,
    scale: f32,
    /// The `dS` slots of this (batch·head) when the dK/dV pass stored them.
    ds: Option<*mut f32>,
    dq: &'a mut [f32],
}

impl Kernel for DqTask<'_> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self) {
        let DqTask {
            layout,
            r,
            q,
            go,
            p,
            key_mask,
            d,
            dv,
            scale,
            ds,
            dq,
        } = self;
        let rows = q.len() / d;
        let (bk, bkp, dp) = (eff_bk(layout), padded(eff_bk(layout)), padded(d));
        let bqp = padded(eff_bq(layout));
        let kp = p.kp.data();
        if let Some(ds) = ds {
            let mut acc = vec![0.0f32; rows * dp];
            for t in layout.row_ptr()[r]..layout.row_ptr()[r + 1] {
                let c = layout.col_idx()[t] as usize;
                // SAFETY: slot t holds the tile's dSᵀ (cols × bqp, written by the dK/dV pass,
                // which has finished); read transposed as dS (rows × cols); K (padded) rows
                // c·bk .. c·bk + cols with stride dp; acc is rows × dp.
                unsafe {
                    tile::gemm::<S, true>(
                        true,
                        rows,
                        dp,
                        layout.cols_in(c),
                        ds.add(t * bk * bqp),
                        bqp,
                        kp[c * bk * dp..].as_ptr(),
                        dp,
                        acc.as_mut_ptr(),
                        dp,
                    )
                };
            }
            for (o, a) in dq.chunks_exact_mut(d).zip(acc.chunks_exact(dp)) {
                for (x, y) in o.iter_mut().zip(a) {
                    *x = scale * y;
                }
            }
            return;
        }
        let mut s = vec![0.0f32; rows * bkp];
        let mut dpm = vec![0.0f32; rows * bkp];
        let mut acc = vec![0.0f32; rows * dp];
        let (lo, hi) = (layout.row_ptr()[r], layout.row_ptr()[r + 1]);
        for t in lo..hi {
            let c = layout.col_idx()[t] as usize;
            let cols = layout.cols_in(c);
            // SAFETY: q is rows × d, go rows × dv; the Kᵀ / Vᵀ panels of block c are d × bkp
            // and dv × bkp; s and dpm are rows × bkp; dispatch guarantees the ISA.
            unsafe {
                tile::gemm::<S, false>(
                    false,
                    rows,
                    bkp,
                    d,
                    q.as_ptr(),
                    d,
                    p.kt[c * d * bkp..].as_ptr(),
                    bkp,
                    s.as_mut_ptr(),
                    bkp,
                );
                tile::gemm::<S, false>(
                    false,
                    rows,
                    bkp,
                    dv,
                    go.as_ptr(),
                    dv,
                    p.vt[c * dv * bkp..].as_ptr(),
                    bkp,
                    dpm.as_mut_ptr(),
                    bkp,
                );
            }
            let mask = TileMask::new(layout, t, c, bkp, key_mask);
            for i in 0..rows {
                let slot = r * bqp + i;
                let row = &mut s[i * bkp..][..bkp];
                tile::exp_scaled_minus_one::<S>(row, scale, p.shift[slot]);
                if let Some(mk) = &mask {
                    for (j, x) in row.iter_mut().enumerate() {
                        if !mk.allows(i, j) {
                            *x = 0.0;
                        }
                    }
                }
                tile::ds_row(row, &dpm[i * bkp..][..bkp], p.dd[slot]);
            }
            // SAFETY: s (dS) is rows × bkp, read at columns < cols; K (padded) rows
            // c·bk .. c·bk + cols with stride dp; acc is rows × dp.
            unsafe {
                tile::gemm::<S, false>(
                    true,
                    rows,
                    dp,
                    cols,
                    s.as_ptr(),
                    bkp,
                    kp[c * bk * dp..].as_ptr(),
                    dp,
                    acc.as_mut_ptr(),
                    dp,
                )
            };
        }
        for (o, a) in dq.chunks_exact_mut(d).zip(acc.chunks_exact(dp)) {
            for (x, y) in o.iter_mut().zip(a) {
                *x = scale * y;
            }
        }
    }
}

struct DkvTask<'a> {
    layout: &'a BlockLayout,
    by_key: &'a ByKey,
    c: usize,
    /// This key block's rows of K (`cols × d`) and V (`cols × dv`).
    k: &'a [f32],
    v: &'a [f32],
    p: &'a BwdPrep<'a>,
    key_mask: Option<&'a [bool]>,
    d: usize,
    dvd: usize,
    scale: f32,
    /// Where to store each tile's `dSᵀ` for the dQ pass (slot `t` at `t·block_k·padded(block_q)`).
    ds: Option<*mut f32>,
    dk: &'a mut [f32],
    dv: &'a mut [f32],
}

impl Kernel for DkvTask<'_> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self) {
        let DkvTask {
            layout,
            by_key,
            c,
            k,
            v,
            p,
            key_mask,
            d,
            dvd,
            scale,
            ds,
            dk,
            dv,
        } = self;
        let cols = k.len() / d;
        let (bq, bqp) = (eff_bq(layout), padded(eff_bq(layout)));
        let (dp, dvp) = (padded(d), padded(dvd));
        let (qp, gop) = (p.qp.data(), p.gop.data());
        let mut st_own = vec![0.0f32; if ds.is_some() { 0 } else { cols * bqp }];
        let mut dpt = vec![0.0f32; cols * bqp];
        let mut acc_k = vec![0.0f32; cols * dp];
        let mut acc_v = vec![0.0f32; cols * dvp];
        let km = key_mask.map(|m| &m[c * eff_bk(layout)..][..cols]);
        let (ptr, pairs) = by_key;
        for &(r, t) in &pairs[ptr[c]..ptr[c + 1]] {
            let (r, t) = (r as usize, t as usize);
            let rows = layout.rows_in(r);
            let st: &mut [f32] = match ds {
                // SAFETY: slot t (block_k · bqp ≥ cols · bqp floats) belongs to this task only:
                // tile t lies in this task's key block, and no other task reads the store
                // before this pass ends.
                Some(ds) => unsafe {
                    std::slice::from_raw_parts_mut(ds.add(t * eff_bk(layout) * bqp), cols * bqp)
                },
                None => &mut st_own,
            };
            // SAFETY: k is cols × d, v cols × dv; the Qᵀ / dOᵀ panels of block r are d × bqp
            // and dv × bqp; st and dpt are cols × bqp; dispatch guarantees the ISA.
            unsafe {
                tile::gemm::<S, false>(
                    false,
                    cols,
                    bqp,
                    d,
                    k.as_ptr(),
                    d,
                    p.qt[r * d * bqp..].as_ptr(),
                    bqp,
                    st.as_mut_ptr(),
                    bqp,
                );
                tile::gemm::<S, false>(
                    false,
                    cols,
                    bqp,
                    dvd,
                    v.as_ptr(),
                    dvd,
                    p.got[r * dvd * bqp..].as_ptr(),
                    bqp,
                    dpt.as_mut_ptr(),
                    bqp,
                );
            }
            let shift = &p.shift[r * bqp..][..bqp];
            let dd = &p.dd[r * bqp..][..bqp];
            let bits = layout.tile_bits(t);
            let words = layout.words_per_row();
            for j in 0..cols {
                let row = &mut st[j * bqp..][..bqp];
                if km.is_some_and(|m| !m[j]) {
                    row.fill(0.0);
                    continue;
                }
                // Columns past `rows` have shift +∞: P = 0 there.
                tile::exp_scaled_minus::<S>(row, scale, shift);
                if let Some(b) = bits {
                    for (i, x) in row.iter_mut().enumerate().take(rows) {
                        if b[i * words + j / 64] >> (j % 64) & 1 == 0 {
                            *x = 0.0;
                        }
                    }
                }
            }
            // SAFETY: st (Pᵀ) is cols × bqp, read at columns < rows; dO (padded) rows
            // r·bq .. r·bq + rows with stride dvp; acc_v is cols × dvp.
            unsafe {
                tile::gemm::<S, false>(
                    true,
                    cols,
                    dvp,
                    rows,
                    st.as_ptr(),
                    bqp,
                    gop[r * bq * dvp..].as_ptr(),
                    dvp,
                    acc_v.as_mut_ptr(),
                    dvp,
                )
            };
            for j in 0..cols {
                tile::ds_cols(&mut st[j * bqp..][..bqp], &dpt[j * bqp..][..bqp], dd);
            }
            // SAFETY: st (dSᵀ) is cols × bqp, read at columns < rows; Q (padded) rows
            // r·bq .. r·bq + rows with stride dp; acc_k is cols × dp.
            unsafe {
                tile::gemm::<S, false>(
                    true,
                    cols,
                    dp,
                    rows,
                    st.as_ptr(),
                    bqp,
                    qp[r * bq * dp..].as_ptr(),
                    dp,
                    acc_k.as_mut_ptr(),
                    dp,
                )
            };
        }
        for (o, a) in dk.chunks_exact_mut(d).zip(acc_k.chunks_exact(dp)) {
            for (x, y) in o.iter_mut().zip(a) {
                *x = scale * y;
            }
        }
        for (o, a) in dv.chunks_exact_mut(dvd).zip(acc_v.chunks_exact(dvp)) {
            o.copy_from_slice(&a[..dvd]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::Coverage;

    /// The dQ pass gives the same bits whether it reads the stored `dS` tiles or recomputes
    /// them (both form `S` as the same fused-multiply-add chains over `d`), on every ISA.
    #[test]
    fn stored_and_recomputed_ds_agree_bitwise() {
        let shape = AttentionShape {
            batch: 2,
            heads: 2,
            seq_q: 77,
            seq_k: 90,
            head_dim: 20,
            value_dim: 12,
        };
        let causal =
            BlockLayout::from_fn(77, 90, 16, 32, |_, _| Coverage::Partial, |i, j| j <= i + 5)
                .unwrap();
        let full = BlockLayout::full(77, 90, 32, 16).unwrap();
        let layouts = [causal, full];
        let mut seed = 7u64;
        let mut rnd = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
                })
                .collect()
        };
        let (q, k, v) = (
            rnd(2 * 2 * 77 * 20),
            rnd(2 * 2 * 90 * 20),
            rnd(2 * 2 * 90 * 12),
        );
        let g = rnd(2 * 2 * 77 * 12);
        let key_mask: Vec<bool> = (0..2 * 90).map(|t| t % 90 < 80 || t < 90).collect();
        for isa in Isa::available() {
            let (mut o, mut lse) = (vec![0.0; g.len()], vec![0.0; 2 * 2 * 77]);
            block_attention_forward_isa(
                isa,
                &q,
                &k,
                &v,
                shape,
                &layouts,
                Some(&key_mask),
                0.3,
                &mut o,
                &mut lse,
            )
            .unwrap();
            let grads = |budget: usize| {
                let (mut dq, mut dk, mut dv) =
                    (vec![0.0; q.len()], vec![0.0; k.len()], vec![0.0; v.len()]);
                backward_with_budget(
                    isa,
                    &q,
                    &k,
                    &v,
                    &o,
                    &lse,
                    &g,
                    shape,
                    &layouts,
                    Some(&key_mask),
                    0.3,
                    &mut dq,
                    &mut dk,
                    &mut dv,
                    budget,
                )
                .unwrap();
                [dq, dk, dv].map(|x| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>())
            };
            assert_eq!(grads(usize::MAX), grads(0), "{isa:?}");
        }
    }
}
