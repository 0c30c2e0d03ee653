//! The row driver shared by every CSR-shaped kernel: a [`RowSource`] adds one sparse row into a
//! register-blocked output panel, [`Rows`] runs a block of rows on one ISA, [`Out`] says where a
//! finished panel goes, and [`run_rows`] / [`run_csr_rows`] split the rows over rayon by
//! non-zeros ([`Job`] is what each task shares). BSR and N:M kernels (`blocked.rs`) plug their
//! own [`RowSource`]s into the same driver.

use sparsekit_formats::{Scalar, SpIndex};

use crate::dense::{MatMut, MatRef};
use crate::element::{self, Element};
use crate::partition::{for_each_block, num_chunks, row_bounds};
use crate::scratch::with_aligned;
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

    /// The same destination, `t0` batch rows further down ([`Out::Cols`]: output row `t0` of
    /// `Y` becomes batch row 0): how the `X·Wᵀ` kernels run one batch chunk at a time.
    ///
    /// # Safety
    /// For `Out::Cols`, `Y` must have more than `t0` rows (row stride `ys`).
    pub(crate) unsafe fn batch_offset(self, t0: usize) -> Self {
        match self {
            Out::Cols { y, ys, bias } => Out::Cols {
                // SAFETY: row t0 exists (caller contract).
                y: unsafe { y.add(t0 * ys) },
                ys,
                bias,
            },
            rows => rows,
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
    unsafe fn accumulate<S: Simd, X: Element, const NV: usize, const PART: bool>(
        self,
        i: usize,
        x: *const X,
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
    unsafe fn accumulate2<S: Simd, X: Element, const NV: usize, const PART: bool>(
        self,
        i: usize,
        x: *const X,
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
            self.accumulate::<S, X, NV, PART>(i, x, xs, c0, tail, a0, p0);
            self.accumulate::<S, X, NV, PART>(i + 1, x, xs, c0, tail, a1, p1);
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

/// Maximum vector registers per output panel.
pub(crate) const PANEL_VECS: usize = 8;

impl<I: SpIndex, V: ValSrc> RowSource for CsrSrc<I, V> {
    #[inline(always)]
    unsafe fn accumulate<S: Simd, X: Element, const NV: usize, const PART: bool>(
        self,
        i: usize,
        x: *const X,
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
            if !PART && NV % 2 == 0 && element::kind::<X>() == element::Kind::Bf16 {
                // SAFETY: as below; X is bf16 (raw u16 rows).
                self.accumulate_split::<S, NV>(s, e, x as *const u16, xs, acc);
                return;
            }
            let per_line = 64 / element::size::<X>();
            let lines = (NV * l + if PART { tail } else { 0 }).div_ceil(per_line);
            for p in s..e {
                // Prefetch: entry p + D exists (< nnz), its column is a valid row of X and the
                // `lines` cache lines stay inside that row's panel; prefetching never faults.
                if p + PREFETCH_DIST < self.nnz {
                    let jn = (*self.col_idx.add(p + PREFETCH_DIST)).index();
                    let xn = x.add(jn * xs);
                    for ln in 0..lines {
                        S::prefetch(xn.add(ln * per_line) as *const f32);
                    }
                }
                let j = (*self.col_idx.add(p)).index();
                let a = S::splat(self.vals.get::<S>(p));
                let xr = x.add(j * xs);
                for (v, accv) in acc.iter_mut().enumerate() {
                    *accv = S::fma(a, element::load::<S, X>(xr.add(v * l)), *accv);
                }
                if PART {
                    *accp = S::fma(a, element::load_part::<S, X>(xr.add(NV * l), tail), *accp);
                }
            }
        }
    }
}

impl<I: SpIndex, V: ValSrc> CsrSrc<I, V> {
    /// A row against a bf16 `X`, `2·LANES` columns per load: each load is split into its even
    /// and odd columns as f32 (a shift and a mask, [`Simd::load_bf16_split`]) feeding two FMAs,
    /// and the panel is put back in column order once per row ([`Simd::merge_split`]). Widening
    /// lane by lane costs twice the ALU work, which made a bf16 `X` no faster than f32 even
    /// though it halves the gathered bytes (docs/kernels.md). Every column still sums its
    /// products by FMA in entry order, so the result is the widening path's, bit for bit.
    ///
    /// # Safety
    /// Entries `s..e` of the row; `x` bf16 rows of stride `xs` with `NV·LANES` readable columns
    /// from the panel start (`NV` even).
    #[inline(always)]
    unsafe fn accumulate_split<S: Simd, const NV: usize>(
        self,
        s: usize,
        e: usize,
        x: *const u16,
        xs: usize,
        acc: &mut [S::V; NV],
    ) {
        let l = S::LANES;
        // SAFETY: entries p < e <= nnz; columns < k = rows of X; NV·LANES panel columns
        // readable (caller contract); prefetch never faults.
        unsafe {
            let mut eo = [[S::zero(); 2]; PANEL_VECS / 2];
            let lines = (NV * l).div_ceil(32);
            for p in s..e {
                if p + PREFETCH_DIST < self.nnz {
                    let xn = x.add((*self.col_idx.add(p + PREFETCH_DIST)).index() * xs);
                    for ln in 0..lines {
                        S::prefetch(xn.add(ln * 32) as *const f32);
                    }
                }
                let a = S::splat(self.vals.get::<S>(p));
                let xr = x.add((*self.col_idx.add(p)).index() * xs);
                for (u, d) in eo.iter_mut().enumerate().take(NV / 2) {
                    let (ev, od) = S::load_bf16_split(xr.add(2 * u * l));
                    d[0] = S::fma(a, ev, d[0]);
                    d[1] = S::fma(a, od, d[1]);
                }
            }
            for (u, d) in eo.iter().enumerate().take(NV / 2) {
                let (c0, c1) = S::merge_split(d[0], d[1]);
                acc[2 * u] = S::add(acc[2 * u], c0);
                acc[2 * u + 1] = S::add(acc[2 * u + 1], c1);
            }
        }
    }
}

/// Rows `r0..r1` of a sparse operand times a dense `X` (row stride `xs`, `n` columns).
pub(crate) struct Rows<R, X> {
    pub src: R,
    pub r0: usize,
    pub r1: usize,
    pub x: *const X,
    pub xs: usize,
    pub n: usize,
    pub out: Out,
}

impl<R: RowSource, X: Element> Kernel for Rows<R, X> {
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
                                    self.src.accumulate2::<S, X, $nv, $part>(
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
                                    self.src.accumulate::<S, X, $nv, $part>(
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
pub(crate) fn run_csr_rows<I: SpIndex, V: ValSrc, X: Element>(
    isa: Isa,
    row_ptr: &[I],
    col_idx: &[I],
    vals: V,
    x: MatRef<'_, X>,
    n: usize,
    out: Out,
) {
    let nrows = row_ptr.len() - 1;
    let nnz = col_idx.len();
    if nrows == 0 || n == 0 {
        return;
    }
    if element::widen_first(isa, &x, nnz.saturating_mul(n)) {
        return element::with_widened(x, |x| run_csr_rows(isa, row_ptr, col_idx, vals, x, n, out));
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
pub(crate) fn run_rows<R: RowSource, X: Element>(
    isa: Isa,
    src: R,
    bounds: &[usize],
    x: MatRef<'_, X>,
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
pub(crate) struct Job<R, X> {
    pub src: R,
    pub x: *const X,
    pub xs: usize,
    pub n: usize,
    pub out: Out,
}

// SAFETY: the raw pointers inside are only used to read shared inputs (which outlive the
// parallel region: the drivers borrow them) and to write output rows (or output columns, for
// `Out::Cols`) owned by exactly one task: tasks get disjoint row ranges.
unsafe impl<R, X> Sync for Job<R, X> {}

impl<R, X> Job<R, X> {
    /// `src` times the first `n` columns of `x`, into `out`.
    pub(crate) fn new(src: R, x: MatRef<'_, X>, n: usize, out: Out) -> Self {
        Job {
            src,
            x: x.as_ptr(),
            xs: x.row_stride(),
            n,
            out,
        }
    }
}

impl<R: RowSource, X: Element> Job<R, X> {
    fn run(&self, isa: Isa, r0: usize, r1: usize) {
        let rows = Rows {
            src: self.src,
            r0,
            r1,
            x: self.x,
            xs: self.xs,
            n: self.n,
            out: self.out,
        };
        dispatch(isa, rows);
    }
}
