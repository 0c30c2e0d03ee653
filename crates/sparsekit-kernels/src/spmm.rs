//! CSR sparse × dense products: [`spmm`] / [`spmm_with`] (`Y = αA·X + βY`), [`spmm_t`] /
//! [`spmm_t_bias`] (`Y = X·Wᵀ + b`, the linear-layer forward) and [`spmm_at`] /
//! [`spmm_at_cached`] (`Y = Aᵀ·X`, the input gradient, through a [`CsrTranspose`] cache).
//!
//! One register-blocked kernel serves all of them: for each sparse row and each panel of up to
//! `8 · LANES` output columns (64 with AVX2, 128 with AVX-512) the panel lives in 8 vector
//! registers across the row's non-zeros — `acc += a_ij · X[j, panel]` — and is written once.
//! Rows are split over rayon by non-zero count; each output element is computed by one thread in
//! the order of the stored entries, so results do not depend on the thread count.

use rayon::prelude::*;
use sparsekit_formats::{CsrPatternView, CsrView, Scalar, SpIndex};

use crate::dense::{MatMut, MatRef};
use crate::error::KernelError;
use crate::partition::{for_each_block, num_chunks, row_bounds, SyncPtr};
use crate::scratch::{with_aligned, with_scratch, with_transposed};
use crate::shape::{check_spmm, check_spmm_t, check_y};
use crate::simd::{dispatch, value_to_f32, Isa, Kernel, Simd};

/// Where the value of stored entry `p` comes from.
pub(crate) trait ValSrc: Copy {
    /// # Safety
    /// `p < nnz` of the matrix the source was built for.
    unsafe fn get<S: Simd>(self, p: usize) -> f32;
}

/// Values in storage order.
#[derive(Clone, Copy)]
pub(crate) struct Direct<T>(pub *const T);
impl<T: Scalar> ValSrc for Direct<T> {
    #[inline(always)]
    unsafe fn get<S: Simd>(self, p: usize) -> f32 {
        // SAFETY: p < nnz = values.len() (caller contract).
        unsafe { value_to_f32::<S, T>(*self.0.add(p)) }
    }
}

/// Where a finished output panel goes.
#[derive(Clone, Copy)]
pub(crate) enum Out {
    /// `Y[i, c0..c0+w] = α·acc + β·Y[i, ..]` (β = 0: Y is not read).
    Rows {
        y: *mut f32,
        ys: usize,
        alpha: f32,
        beta: f32,
    },
    /// Transposed: `Y[c0 + t, i] = acc[t] + bias[i]` (bias may be null).
    Cols {
        y: *mut f32,
        ys: usize,
        bias: *const f32,
    },
}

impl Out {
    /// [`Out::Rows`] into `y`: one constructor for every wrapper that writes `α·A·X + β·Y`.
    pub(crate) fn rows(y: &mut MatMut<'_, f32>, alpha: f32, beta: f32) -> Self {
        Out::Rows {
            y: y.as_mut_ptr(),
            ys: y.row_stride(),
            alpha,
            beta,
        }
    }

    /// [`Out::Cols`] into `y` (+ `bias`): one constructor for every `X·Wᵀ + bias` wrapper.
    pub(crate) fn cols(y: &mut MatMut<'_, f32>, bias: Option<&[f32]>) -> Self {
        Out::Cols {
            y: y.as_mut_ptr(),
            ys: y.row_stride(),
            bias: bias.map_or(std::ptr::null(), |b| b.as_ptr()),
        }
    }
}

/// A sparse operand seen row by row: adds row `i`'s contribution to one output panel.
pub(crate) trait RowSource: Copy {
    /// `acc[v] += Σ_entries a · X[col, c0 + v·L ..]` (and the partial vector of `tail` lanes
    /// when `PART`), in the operand's storage order.
    ///
    /// # Safety
    /// `i` is a valid row; `x` (row stride `xs`) has every row the source can name and columns
    /// `c0 .. c0 + NV·L + tail`; the ISA of `S` is available.
    #[allow(clippy::too_many_arguments)]
    unsafe fn accumulate<S: Simd, const NV: usize, const PART: bool>(
        self,
        i: usize,
        x: *const f32,
        xs: usize,
        c0: usize,
        tail: usize,
        acc: &mut [S::V; NV],
        accp: &mut S::V,
    );

    /// Whether rows come in aligned pairs `(2t, 2t + 1)` that [`RowSource::accumulate2`] should
    /// process together. The driver then requires even row-block bounds.
    #[inline(always)]
    fn pair(self) -> bool {
        false
    }

    /// Rows `i` and `i + 1` at once (default: one after the other).
    ///
    /// # Safety
    /// As [`RowSource::accumulate`], for both rows.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn accumulate2<S: Simd, const NV: usize, const PART: bool>(
        self,
        i: usize,
        x: *const f32,
        xs: usize,
        c0: usize,
        tail: usize,
        acc: &mut [[S::V; NV]; 2],
        accp: &mut [S::V; 2],
    ) {
        let [a0, a1] = acc;
        let [p0, p1] = accp;
        // SAFETY: forwarded caller contract.
        unsafe {
            self.accumulate::<S, NV, PART>(i, x, xs, c0, tail, a0, p0);
            self.accumulate::<S, NV, PART>(i + 1, x, xs, c0, tail, a1, p1);
        }
    }
}

/// A CSR matrix (or the transposed structure of one) as a [`RowSource`].
#[derive(Clone, Copy)]
pub(crate) struct CsrSrc<I, V> {
    pub row_ptr: *const I,
    pub col_idx: *const I,
    pub vals: V,
    /// Total stored entries (bound for prefetch look-ahead).
    pub nnz: usize,
}

/// Software prefetch distance in stored entries: the `X` rows of entry `p + PREFETCH_DIST` are
/// requested while entry `p` is processed. Random `X` rows come from L2, and the hardware
/// prefetcher cannot predict them; 8–16 measured +20 % single-threaded at n = 64 (docs/kernels.md).
const PREFETCH_DIST: usize = 12;

/// Entries per task when scattering transposed values.
const GATHER_CHUNK: usize = 1 << 16;

/// Maximum vector registers per output panel.
pub(crate) const PANEL_VECS: usize = 8;

impl<I: SpIndex, V: ValSrc> RowSource for CsrSrc<I, V> {
    #[inline(always)]
    unsafe fn accumulate<S: Simd, const NV: usize, const PART: bool>(
        self,
        i: usize,
        x: *const f32,
        xs: usize,
        c0: usize,
        tail: usize,
        acc: &mut [S::V; NV],
        accp: &mut S::V,
    ) {
        let l = S::LANES;
        // SAFETY: i < nrows so row_ptr[i + 1] exists; entries s..e < nnz; every column index
        // < k = rows of X (pattern invariants); panel columns exist (caller contract).
        unsafe {
            let (s, e) = (
                (*self.row_ptr.add(i)).index(),
                (*self.row_ptr.add(i + 1)).index(),
            );
            let x = x.add(c0);
            let lines = (NV * l + if PART { tail } else { 0 }).div_ceil(16);
            for p in s..e {
                // Prefetch: entry p + D exists (< nnz), its column is a valid row of X and the
                // `lines` cache lines stay inside that row's panel; prefetching never faults.
                if p + PREFETCH_DIST < self.nnz {
                    let jn = (*self.col_idx.add(p + PREFETCH_DIST)).index();
                    let xn = x.add(jn * xs);
                    for ln in 0..lines {
                        S::prefetch(xn.add(ln * 16));
                    }
                }
                let j = (*self.col_idx.add(p)).index();
                let a = S::splat(self.vals.get::<S>(p));
                let xr = x.add(j * xs);
                for (v, accv) in acc.iter_mut().enumerate() {
                    *accv = S::fma(a, S::load(xr.add(v * l)), *accv);
                }
                if PART {
                    *accp = S::fma(a, S::load_part(xr.add(NV * l), tail), *accp);
                }
            }
        }
    }
}

/// Rows `r0..r1` of a sparse operand times a dense `X` (row stride `xs`, `n` columns).
pub(crate) struct Rows<R> {
    pub src: R,
    pub r0: usize,
    pub r1: usize,
    pub x: *const f32,
    pub xs: usize,
    pub n: usize,
    pub out: Out,
}

impl<R: RowSource> Kernel for Rows<R> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self) {
        let l = S::LANES;
        // Paired sources (BSR with even r) update two rows per pass over their entries, so each
        // loaded X vector feeds two FMAs; their panels are half as wide to keep 8 accumulators.
        let pair = self.src.pair();
        let pw = if pair {
            PANEL_VECS / 2 * l
        } else {
            PANEL_VECS * l
        };
        // Transposed output (`Out::Cols`): panels of COL_GROUP consecutive rows are staged and
        // written as contiguous runs of Y rows. Scattering one float per Y row instead costs
        // 2× at 98 % sparsity (stride m·4 bytes = 16 KiB aliases in L1; docs/kernels.md).
        let mut stage = [0.0f32; COL_GROUP * PANEL_VECS * 16];
        let sp = stage.as_mut_ptr();
        let mut g0 = self.r0;
        while g0 < self.r1 {
            let g1 = (g0 + COL_GROUP).min(self.r1);
            let mut c0 = 0;
            while c0 < self.n {
                let w = (self.n - c0).min(pw);
                let tail = w % l;
                // Emits the finished panel of row `i`.
                macro_rules! emit {
                    ($nv:literal, $part:literal, $i:expr, $acc:expr, $accp:expr) => {
                        match self.out {
                            Out::Rows { .. } => {
                                write_out::<S, $nv, $part>(self.out, $i, c0, tail, $acc, $accp)
                            }
                            Out::Cols { bias, .. } => {
                                let bv = S::splat(if bias.is_null() { 0.0 } else { *bias.add($i) });
                                let row = sp.add(($i - g0) * pw);
                                for (v, accv) in $acc.iter().enumerate() {
                                    S::store(row.add(v * l), S::add(*accv, bv));
                                }
                                if $part {
                                    S::store(row.add($nv * l), S::add($accp, bv));
                                }
                            }
                        }
                    };
                }
                if pair {
                    // `pair()` guarantees rows come in aligned pairs: g0 and g1 are even.
                    for i in (g0..g1).step_by(2) {
                        macro_rules! go {
                            ($nv:literal, $part:literal) => {
                                // SAFETY: rows i, i + 1 are valid (pair contract); c0 + w <= n
                                // = columns of X and Y; output rows i, i + 1 (or columns) are
                                // owned by this task; stage rows have pw >= w floats.
                                unsafe {
                                    let mut acc = [[S::zero(); $nv]; 2];
                                    let mut accp = [S::zero(); 2];
                                    self.src.accumulate2::<S, $nv, $part>(
                                        i, self.x, self.xs, c0, tail, &mut acc, &mut accp,
                                    );
                                    emit!($nv, $part, i, &acc[0], accp[0]);
                                    emit!($nv, $part, i + 1, &acc[1], accp[1]);
                                }
                            };
                        }
                        panel_match!(go, w / l, tail);
                    }
                } else {
                    for i in g0..g1 {
                        macro_rules! go {
                            ($nv:literal, $part:literal) => {
                                // SAFETY: i is a valid row; c0 + w <= n = columns of X and Y;
                                // output row i (or column i) is owned by this task; the stage
                                // row (i - g0) has pw >= w floats.
                                unsafe {
                                    let mut acc = [S::zero(); $nv];
                                    let mut accp = S::zero();
                                    self.src.accumulate::<S, $nv, $part>(
                                        i, self.x, self.xs, c0, tail, &mut acc, &mut accp,
                                    );
                                    emit!($nv, $part, i, &acc, accp);
                                }
                            };
                        }
                        panel_match!(go, w / l, tail);
                    }
                }
                if let Out::Cols { y, ys, .. } = self.out {
                    // SAFETY: Y is n × m with row stride ys; rows c0 + t < c0 + w <= n, columns
                    // g0..g1 ⊂ this task's rows of W; stage rows hold w floats each; 8 × 8 tiles
                    // stay inside both.
                    unsafe {
                        let (gw, w8) = (g1 - g0, if g1 - g0 == COL_GROUP { w / 8 * 8 } else { 0 });
                        for ii0 in (0..COL_GROUP).step_by(8) {
                            for t0 in (0..w8).step_by(8) {
                                S::transpose8x8(
                                    sp.add(ii0 * pw + t0),
                                    pw,
                                    y.add((c0 + t0) * ys + g0 + ii0),
                                    ys,
                                );
                            }
                        }
                        for t in w8..w {
                            let yr = y.add((c0 + t) * ys + g0);
                            for ii in 0..gw {
                                *yr.add(ii) = *sp.add(ii * pw + t);
                            }
                        }
                    }
                }
                c0 += w;
            }
            g0 = g1;
        }
    }
}

/// Rows of `W` staged together for the transposed output of `spmm_t` (16 floats = 1 cache line).
const COL_GROUP: usize = 16;

/// Expands `$go!(NV, PART)` for the panel shape (`nv` full vectors, partial if `tail != 0`).
macro_rules! panel_match {
    ($go:ident, $nv:expr, $tail:expr) => {
        match ($nv, $tail != 0) {
            (0, true) => $go!(0, true),
            (1, false) => $go!(1, false),
            (1, true) => $go!(1, true),
            (2, false) => $go!(2, false),
            (2, true) => $go!(2, true),
            (3, false) => $go!(3, false),
            (3, true) => $go!(3, true),
            (4, false) => $go!(4, false),
            (4, true) => $go!(4, true),
            (5, false) => $go!(5, false),
            (5, true) => $go!(5, true),
            (6, false) => $go!(6, false),
            (6, true) => $go!(6, true),
            (7, false) => $go!(7, false),
            (7, true) => $go!(7, true),
            _ => $go!(8, false),
        }
    };
}
pub(crate) use panel_match;

/// Writes a finished panel of row `i` (columns `c0 ..`) to a row-major output.
///
/// # Safety
/// The output has row `i` and columns `c0 .. c0 + NV·L + tail`; no other thread writes them.
#[inline(always)]
pub(crate) unsafe fn write_out<S: Simd, const NV: usize, const PART: bool>(
    out: Out,
    i: usize,
    c0: usize,
    tail: usize,
    acc: &[S::V; NV],
    accp: S::V,
) {
    let l = S::LANES;
    let Out::Rows { y, ys, alpha, beta } = out else {
        unreachable!("transposed output is staged by the caller")
    };
    // SAFETY: row i and columns c0 .. c0 + NV·L + tail exist in Y (caller contract).
    unsafe {
        let yr = y.add(i * ys + c0);
        let al = S::splat(alpha);
        if beta == 0.0 {
            for (v, accv) in acc.iter().enumerate() {
                S::store(yr.add(v * l), S::mul(al, *accv));
            }
            if PART {
                S::store_part(yr.add(NV * l), tail, S::mul(al, accp));
            }
        } else {
            let be = S::splat(beta);
            for (v, accv) in acc.iter().enumerate() {
                let old = S::load(yr.add(v * l));
                S::store(yr.add(v * l), S::fma(be, old, S::mul(al, *accv)));
            }
            if PART {
                let old = S::load_part(yr.add(NV * l), tail);
                S::store_part(yr.add(NV * l), tail, S::fma(be, old, S::mul(al, accp)));
            }
        }
    }
}

/// Runs a CSR kernel over all rows of a pattern, in parallel blocks balanced by nnz.
pub(crate) fn run_csr_rows<I: SpIndex, V: ValSrc>(
    isa: Isa,
    row_ptr: &[I],
    col_idx: &[I],
    vals: V,
    x: MatRef<'_, f32>,
    n: usize,
    out: Out,
) {
    let nrows = row_ptr.len() - 1;
    let nnz = col_idx.len();
    if nrows == 0 || n == 0 {
        return;
    }
    let chunks = num_chunks(nnz.saturating_mul(n).saturating_add(nrows * n), nrows);
    let bounds = row_bounds(row_ptr, 1, chunks);
    let src = CsrSrc {
        row_ptr: row_ptr.as_ptr(),
        col_idx: col_idx.as_ptr(),
        vals,
        nnz,
    };
    // Gathers read whole rows of X: re-align them first (see `with_aligned`).
    with_aligned(x, nnz.saturating_mul(n), |x| {
        run_rows(isa, src, &bounds, x, n, out)
    });
}

/// Runs `src` over the row blocks `bounds` (one task per block; sequential for one block).
pub(crate) fn run_rows<R: RowSource>(
    isa: Isa,
    src: R,
    bounds: &[usize],
    x: MatRef<'_, f32>,
    n: usize,
    out: Out,
) {
    let job = Job::new(src, x, n, out);
    let job = &job;
    let task = |w: &[usize]| job.run(isa, w[0], w[1]);
    for_each_block(bounds, task);
}

/// Everything a row-block task needs (the sparse source, `X`, the output); shared by reference
/// across rayon tasks. The CSR row driver and the buffered BSR / N:M schedules all use it.
pub(crate) struct Job<R> {
    pub src: R,
    pub x: *const f32,
    pub xs: usize,
    pub n: usize,
    pub out: Out,
}

// SAFETY: the raw pointers inside are only used to read shared inputs (which outlive the
// parallel region: the drivers borrow them) and to write output rows (or output columns, for
// `Out::Cols`) owned by exactly one task: tasks get disjoint row ranges.
unsafe impl<R> Sync for Job<R> {}

impl<R> Job<R> {
    /// `src` times the first `n` columns of `x`, into `out`.
    pub(crate) fn new(src: R, x: MatRef<'_, f32>, n: usize, out: Out) -> Self {
        Job {
            src,
            x: x.as_ptr(),
            xs: x.row_stride(),
            n,
            out,
        }
    }
}

impl<R: RowSource> Job<R> {
    fn run(&self, isa: Isa, r0: usize, r1: usize) {
        dispatch(
            isa,
            Rows {
                src: self.src,
                r0,
                r1,
                x: self.x,
                xs: self.xs,
                n: self.n,
                out: self.out,
            },
        );
    }
}

/// `Y = A·X` for sparse `A` (m × k), dense `X` (k × n) and `Y` (m × n, overwritten).
///
/// Values may be `f32`, `f16`, `bf16` or `f64` (converted to f32 per non-zero; arithmetic is f32).
///
/// ```
/// use sparsekit_formats::Csr;
/// use sparsekit_kernels::{spmm, MatMut, MatRef};
/// let a = Csr::<f32>::try_new(2, 3, vec![0, 2, 3], vec![0, 2, 1], vec![1.0, 2.0, 3.0])?;
/// let x = [1.0f32, 10.0, 2.0, 20.0, 3.0, 30.0]; // 3×2
/// let mut y = [0.0f32; 4];
/// spmm(a.view(), MatRef::new(&x, 3, 2)?, MatMut::new(&mut y, 2, 2)?)?;
/// assert_eq!(y, [7.0, 70.0, 6.0, 60.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn spmm<T: Scalar, I: SpIndex>(
    a: CsrView<'_, T, I>,
    x: MatRef<'_, f32>,
    y: MatMut<'_, f32>,
) -> Result<(), KernelError> {
    spmm_isa(Isa::detect(), 1.0, a, x, 0.0, y)
}

/// `Y = α·A·X + β·Y`. With `β = 0` the old `Y` is not read (NaNs in it do not propagate).
pub fn spmm_with<T: Scalar, I: SpIndex>(
    alpha: f32,
    a: CsrView<'_, T, I>,
    x: MatRef<'_, f32>,
    beta: f32,
    y: MatMut<'_, f32>,
) -> Result<(), KernelError> {
    spmm_isa(Isa::detect(), alpha, a, x, beta, y)
}

/// [`spmm_with`] on an explicit instruction set (tests and benches compare ISAs with this).
pub fn spmm_isa<T: Scalar, I: SpIndex>(
    isa: Isa,
    alpha: f32,
    a: CsrView<'_, T, I>,
    x: MatRef<'_, f32>,
    beta: f32,
    mut y: MatMut<'_, f32>,
) -> Result<(), KernelError> {
    let (m, k) = a.shape();
    let n = check_spmm("spmm", (m, k), &x, &y)?;
    let out = Out::rows(&mut y, alpha, beta);
    run_csr_rows(
        isa,
        a.row_ptr(),
        a.col_idx(),
        Direct(a.values().as_ptr()),
        x,
        n,
        out,
    );
    Ok(())
}

/// `Y = X·Wᵀ` — the linear-layer forward: `X` is batch × k, `W` is m × k (sparse, one row per
/// output feature), `Y` is batch × m (overwritten).
///
/// Computed as `(W·Xᵀ)ᵀ`: `X` is transposed once into a reused per-thread scratch buffer
/// (k × batch), then the CSR kernel runs over the rows of `W` with the batch as the register-blocked
/// dimension and scatters each finished panel down a column of `Y`.
pub fn spmm_t<T: Scalar, I: SpIndex>(
    x: MatRef<'_, f32>,
    w: CsrView<'_, T, I>,
    y: MatMut<'_, f32>,
) -> Result<(), KernelError> {
    spmm_t_isa(Isa::detect(), x, w, None, y)
}

/// `Y = X·Wᵀ + bias` (bias of length m broadcast over the batch; `None` = no bias).
pub fn spmm_t_bias<T: Scalar, I: SpIndex>(
    x: MatRef<'_, f32>,
    w: CsrView<'_, T, I>,
    bias: Option<&[f32]>,
    y: MatMut<'_, f32>,
) -> Result<(), KernelError> {
    spmm_t_isa(Isa::detect(), x, w, bias, y)
}

/// [`spmm_t_bias`] on an explicit instruction set.
pub fn spmm_t_isa<T: Scalar, I: SpIndex>(
    isa: Isa,
    x: MatRef<'_, f32>,
    w: CsrView<'_, T, I>,
    bias: Option<&[f32]>,
    mut y: MatMut<'_, f32>,
) -> Result<(), KernelError> {
    let (m, k) = w.shape();
    check_spmm_t("spmm_t", &x, (m, k), bias, &y)?;
    let nb = x.nrows();
    if nb == 0 || m == 0 {
        return Ok(());
    }
    let out = Out::cols(&mut y, bias);
    with_transposed(isa, x, |xt| {
        run_csr_rows(
            isa,
            w.row_ptr(),
            w.col_idx(),
            Direct(w.values().as_ptr()),
            xt,
            nb,
            out,
        );
    });
    Ok(())
}

/// Counting-sort start of a CSR transpose: `Aᵀ`'s row pointers (prefix sums of `A`'s column
/// counts, `k + 1` entries) and a copy as per-column insertion cursors. Shared by
/// [`CsrTranspose::new`] and [`spmm_at`], which both scatter `A`'s entries by column.
fn transposed_row_ptr<I: SpIndex>(col_idx: &[I], k: usize) -> (Vec<I>, Vec<usize>) {
    let mut counts = vec![0usize; k + 1];
    for c in col_idx {
        counts[c.index() + 1] += 1;
    }
    for j in 0..k {
        counts[j + 1] += counts[j];
    }
    let row_ptr = counts.iter().map(|&c| I::from_usize(c)).collect();
    (row_ptr, counts)
}

/// The transposed structure of a CSR pattern, built once and reused while values change:
/// `Aᵀ` in CSR form (= `A` in CSC form) plus, for each transposed entry, its position in `A`'s
/// value array.
///
/// Invariants (by construction): `row_ptr` has `ncols + 1` non-decreasing entries ending at
/// `nnz`; `row_idx[q] < nrows`, strictly increasing within each transposed row; `perm` is a
/// permutation of `0..nnz`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrTranspose<I: SpIndex = u32> {
    nrows: usize,
    ncols: usize,
    row_ptr: Vec<I>,
    row_idx: Vec<I>,
    perm: Vec<I>,
    /// Inverse of `perm`: `dest[p]` = transposed position of `A`'s entry `p`.
    dest: Vec<I>,
}

impl<I: SpIndex> CsrTranspose<I> {
    /// Counting sort by column: O(nnz + ncols), deterministic.
    pub fn new(p: CsrPatternView<'_, I>) -> Self {
        let (m, k) = p.shape();
        let nnz = p.nnz();
        let (row_ptr, mut next) = transposed_row_ptr(p.col_idx(), k);
        let mut row_idx = vec![I::default(); nnz];
        let mut perm = vec![I::default(); nnz];
        let mut dest = vec![I::default(); nnz];
        let rp = p.row_ptr();
        let ci = p.col_idx();
        for i in 0..m {
            for q in rp[i].index()..rp[i + 1].index() {
                let j = ci[q].index();
                let dst = next[j];
                next[j] += 1;
                row_idx[dst] = I::from_usize(i);
                perm[dst] = I::from_usize(q);
                dest[q] = I::from_usize(dst);
            }
        }
        CsrTranspose {
            nrows: m,
            ncols: k,
            row_ptr,
            row_idx,
            perm,
            dest,
        }
    }
    /// Shape of the original matrix `A` (not of `Aᵀ`).
    pub fn shape(&self) -> (usize, usize) {
        (self.nrows, self.ncols)
    }
    pub fn nnz(&self) -> usize {
        self.row_idx.len()
    }
    /// Row pointers of `Aᵀ` (length `ncols + 1`).
    pub fn row_ptr(&self) -> &[I] {
        &self.row_ptr
    }
    /// Column indices of `Aᵀ` (= row indices of `A`).
    pub fn col_idx(&self) -> &[I] {
        &self.row_idx
    }
    /// `perm[q]` = position in `A`'s value array of the `q`-th stored entry of `Aᵀ`.
    pub fn perm(&self) -> &[I] {
        &self.perm
    }
    /// `Aᵀ`'s values for `A`'s values (length nnz).
    pub fn gather_values<T: Scalar>(&self, values: &[T]) -> Vec<T> {
        self.perm.iter().map(|&p| values[p.index()]).collect()
    }
}

/// `Y = Aᵀ·X` (the input gradient of `Y = A·X`): `A` is m × k, `X` m × n, `Y` k × n.
///
/// Transposes `A` for this call (O(nnz)): one counting-sort pass writes `Aᵀ`'s column indices
/// and values together (no permutation arrays, no separate value scatter), then the CSR kernel
/// runs on `Aᵀ`. Bit-identical to [`spmm_at_cached`]. When the pattern is reused across calls,
/// build a [`CsrTranspose`] once and call [`spmm_at_cached`].
pub fn spmm_at<T: Scalar, I: SpIndex>(
    a: CsrView<'_, T, I>,
    x: MatRef<'_, f32>,
    mut y: MatMut<'_, f32>,
) -> Result<(), KernelError> {
    check_at(&a, &x, &y)?;
    let (m, k) = a.shape();
    let nnz = a.nnz();
    let (row_ptr, mut next) = transposed_row_ptr(a.col_idx(), k);
    let mut row_idx = vec![I::default(); nnz];
    let n = x.ncols();
    let out = Out::rows(&mut y, 1.0, 0.0);
    with_scratch(nnz, |vt| {
        let (rp, ci, av) = (a.row_ptr(), a.col_idx(), a.values());
        for i in 0..m {
            let ii = I::from_usize(i);
            for q in rp[i].index()..rp[i + 1].index() {
                let j = ci[q].index();
                let dst = next[j];
                next[j] += 1;
                row_idx[dst] = ii;
                vt[dst] = av[q].to_f32();
            }
        }
        run_csr_rows(
            Isa::detect(),
            &row_ptr,
            &row_idx,
            Direct(vt.as_ptr()),
            x,
            n,
            out,
        );
    });
    Ok(())
}

/// `Y = Aᵀ·X` through a cached transpose of `A`'s pattern. Each row of `Y` is produced by one
/// thread, so the result does not depend on the thread count (no atomics, no reductions).
///
/// The cache must have been built from `A`'s pattern; only shape and nnz are checked (a cache of
/// another pattern of the same shape and nnz gives a wrong result, never undefined behaviour).
pub fn spmm_at_cached<T: Scalar, I: SpIndex>(
    t: &CsrTranspose<I>,
    a: CsrView<'_, T, I>,
    x: MatRef<'_, f32>,
    y: MatMut<'_, f32>,
) -> Result<(), KernelError> {
    spmm_at_isa(Isa::detect(), t, a, x, y)
}

fn check_at<T: Scalar, I: SpIndex>(
    a: &CsrView<'_, T, I>,
    x: &MatRef<'_, f32>,
    y: &MatMut<'_, f32>,
) -> Result<(), KernelError> {
    const OP: &str = "spmm_at";
    let (m, k) = a.shape();
    if x.nrows() != m {
        return Err(KernelError::shape(
            OP,
            format!("A is {m}×{k} but X has {} rows", x.nrows()),
        ));
    }
    check_y(OP, y, k, x.ncols(), "Aᵀ·X")
}

/// [`spmm_at_cached`] on an explicit instruction set.
pub fn spmm_at_isa<T: Scalar, I: SpIndex>(
    isa: Isa,
    t: &CsrTranspose<I>,
    a: CsrView<'_, T, I>,
    x: MatRef<'_, f32>,
    mut y: MatMut<'_, f32>,
) -> Result<(), KernelError> {
    check_at(&a, &x, &y)?;
    if t.shape() != a.shape() || t.nnz() != a.nnz() {
        return Err(KernelError::PatternMismatch {
            op: "spmm_at",
            detail: format!(
                "transpose cache is for a {}×{} pattern with {} non-zeros but A is {}×{} with {}",
                t.nrows,
                t.ncols,
                t.nnz(),
                a.nrows(),
                a.ncols(),
                a.nnz()
            ),
        });
    }
    let n = x.ncols();
    let out = Out::rows(&mut y, 1.0, 0.0);
    // Put Aᵀ's values in transposed order once, then run the plain kernel on them. Scattering
    // (sequential reads, random writes through `dest`) measured 1.15–1.3× faster than gathering
    // through `perm`, which in turn is 1.5× faster than reading through `perm` inside the FMA
    // loop (docs/kernels.md).
    with_scratch(t.nnz(), |vt| {
        scatter_flat(&t.dest, a.values(), vt);
        run_csr_rows(isa, &t.row_ptr, &t.row_idx, Direct(vt.as_ptr()), x, n, out);
    });
    Ok(())
}

/// `vt[dest[p]] = values[p]` in storage order (random writes over all of `vt`).
fn scatter_flat<T: Scalar, I: SpIndex>(dest: &[I], av: &[T], vt: &mut [f32]) {
    let par = av.len() >= 4 * GATHER_CHUNK && rayon::current_num_threads() > 1;
    let vp = SyncPtr(vt.as_mut_ptr());
    let scatter = |(c, chunk): (usize, &[T])| {
        let base = c * GATHER_CHUNK;
        for (v, d) in chunk.iter().zip(&dest[base..]) {
            // SAFETY: dest is a permutation of 0..nnz (CsrTranspose invariant) and
            // vt.len() == nnz: every slot is written exactly once, by one task.
            unsafe { *vp.get().add(d.index()) = v.to_f32() };
        }
    };
    if par {
        av.par_chunks(GATHER_CHUNK).enumerate().for_each(scatter);
    } else {
        av.chunks(GATHER_CHUNK).enumerate().for_each(scatter);
    }
}

/// `Y = Aᵀ·X` without any transpose: rows of `A` are streamed in order and each entry `(i, j)`
/// does `Y[j, :] += a_ij · X[i, :]` with `X[i, panel]` held in registers. Threads own disjoint
/// ranges of `Y` rows (= columns of `A`; each row of `A` is cut by binary search), so every
/// `Y[j, c]` is summed by one thread in increasing `i` — the same order, and bit-identical
/// result, as the [`CsrTranspose`] kernel, for any thread count.
pub fn spmm_at_scatter_isa<T: Scalar, I: SpIndex>(
    isa: Isa,
    a: CsrView<'_, T, I>,
    x: MatRef<'_, f32>,
    mut y: MatMut<'_, f32>,
) -> Result<(), KernelError> {
    check_at(&a, &x, &y)?;
    let (m, k) = a.shape();
    let n = x.ncols();
    if k == 0 || n == 0 {
        return Ok(());
    }
    let work = a.nnz().saturating_mul(n).saturating_add(k * n);
    let chunks = if num_chunks(work, k) > 1 {
        rayon::current_num_threads().min(k)
    } else {
        1
    };
    let bounds: Vec<usize> = (0..=chunks).map(|c| c * k / chunks).collect();
    let job = AtJob {
        row_ptr: a.row_ptr().as_ptr(),
        col_idx: a.col_idx().as_ptr(),
        vals: Direct(a.values().as_ptr()),
        m,
        x: x.as_ptr(),
        xs: x.row_stride(),
        n,
        y: y.as_mut_ptr(),
        ys: y.row_stride(),
        whole: chunks == 1,
    };
    let task = |w: &[usize]| {
        dispatch(
            isa,
            AtScatter {
                job: &job,
                j0: w[0],
                j1: w[1],
            },
        )
    };
    if chunks == 1 {
        task(&bounds);
    } else {
        bounds.par_windows(2).for_each(task);
    }
    Ok(())
}

struct AtJob<I, V> {
    row_ptr: *const I,
    col_idx: *const I,
    vals: V,
    m: usize,
    x: *const f32,
    xs: usize,
    n: usize,
    y: *mut f32,
    ys: usize,
    /// One task owns all of Y (no per-row binary search).
    whole: bool,
}
// SAFETY: shared inputs are only read; each task writes only the Y rows j0..j1 it owns
// (disjoint ranges).
unsafe impl<I, V> Sync for AtJob<I, V> {}

struct AtScatter<'a, I, V> {
    job: &'a AtJob<I, V>,
    j0: usize,
    j1: usize,
}

impl<I: SpIndex, V: ValSrc> Kernel for AtScatter<'_, I, V> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self) {
        let jb = self.job;
        let l = S::LANES;
        let pw = PANEL_VECS * l;
        // SAFETY (whole block): rows j0..j1 < k of Y (k × n, stride ys) belong to this task;
        // row_ptr/col_idx/values satisfy the CSR invariants (entries of row i are < nnz, columns
        // < k, sorted); rows i < m of X (m × n, stride xs) exist; panel columns c0 + w <= n.
        unsafe {
            for j in self.j0..self.j1 {
                let yr = jb.y.add(j * jb.ys);
                for c in 0..jb.n {
                    *yr.add(c) = 0.0;
                }
            }
            let mut c0 = 0;
            while c0 < jb.n {
                let w = (jb.n - c0).min(pw);
                let tail = w % l;
                for i in 0..jb.m {
                    let (mut s, mut e) = (
                        (*jb.row_ptr.add(i)).index(),
                        (*jb.row_ptr.add(i + 1)).index(),
                    );
                    if s == e {
                        continue;
                    }
                    if !jb.whole {
                        let cols = std::slice::from_raw_parts(jb.col_idx.add(s), e - s);
                        let lo = cols.partition_point(|c| c.index() < self.j0);
                        let hi = lo + cols[lo..].partition_point(|c| c.index() < self.j1);
                        (s, e) = (s + lo, s + hi);
                        if s == e {
                            continue;
                        }
                    }
                    macro_rules! go {
                        ($nv:literal, $part:literal) => {{
                            let xr = jb.x.add(i * jb.xs + c0);
                            let mut xv = [S::zero(); $nv];
                            for (v, xvv) in xv.iter_mut().enumerate() {
                                *xvv = S::load(xr.add(v * l));
                            }
                            let xp = if $part {
                                S::load_part(xr.add($nv * l), tail)
                            } else {
                                S::zero()
                            };
                            for p in s..e {
                                let j = (*jb.col_idx.add(p)).index();
                                let a = S::splat(jb.vals.get::<S>(p));
                                let yr = jb.y.add(j * jb.ys + c0);
                                for (v, xvv) in xv.iter().enumerate() {
                                    S::store(
                                        yr.add(v * l),
                                        S::fma(a, *xvv, S::load(yr.add(v * l))),
                                    );
                                }
                                if $part {
                                    S::store_part(
                                        yr.add($nv * l),
                                        tail,
                                        S::fma(a, xp, S::load_part(yr.add($nv * l), tail)),
                                    );
                                }
                            }
                        }};
                    }
                    panel_match!(go, w / l, tail);
                }
                c0 += w;
            }
        }
    }
}
