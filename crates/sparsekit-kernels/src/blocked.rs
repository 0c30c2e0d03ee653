//! Structured-sparsity cores: BSR (dense r×c blocks) and N:M (N stored per group of M along
//! rows). Both are `RowSource`s of the same register-blocked driver as CSR (`spmm/driver.rs`), so
//! they share its panels, output paths (`Y = A·X` and the transposed `Y = X·Wᵀ + b`), rayon split
//! and thread-count independence. What changes is the inner loop:
//! - BSR: for each block of the row's block row, `c` consecutive `X` rows — no index load per
//!   value and a sequential `X` stream the hardware prefetcher follows;
//! - N:M: a fixed `N` entries per `M` columns with u8 offsets — no row pointers, perfectly
//!   balanced rows, `X` rows read group by group in increasing order.
//!
//! The entry points here take raw validated arrays; the public wrappers over
//! `sparsekit_formats::{BsrView, NMView}` (`structured.rs`) check shapes and call them.

// Register-tile loops index several accumulator arrays by the same vector number.
#![allow(clippy::needless_range_loop)]

use sparsekit_formats::{Scalar, SpIndex};

use crate::dense::MatRef;
use crate::element::{self, Element};
use crate::partition::{for_each_block, num_chunks, row_bounds};
use crate::scratch::with_aligned;
use crate::simd::{dispatch, value_to_f32, Isa, Kernel, Simd};
use crate::spmm::{panel_match, run_rows, write_out, Job, Out, RowSource};

/// A BSR matrix as a [`RowSource`]: output row `i` is row `i % r` of block row `i / r`.
#[derive(Clone, Copy)]
pub(crate) struct BsrSrc<I, T> {
    pub block_row_ptr: *const I,
    pub block_col_idx: *const I,
    /// `nblocks · r · c` values, each block row-major.
    pub vals: *const T,
    pub r: usize,
    pub c: usize,
}

impl<I: SpIndex, T: Scalar> RowSource for BsrSrc<I, T> {
    #[inline(always)]
    fn pair(self) -> bool {
        self.r % 2 == 0
    }

    #[inline(always)]
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
        let l = S::LANES;
        let (r, c) = (self.r, self.c);
        let (bi, ii) = (i / r, i % r);
        // SAFETY: as in `accumulate`; ii + 1 < r because r is even and i is even (pair
        // contract), so both block rows' values exist.
        unsafe {
            let (s, e) = (
                (*self.block_row_ptr.add(bi)).index(),
                (*self.block_row_ptr.add(bi + 1)).index(),
            );
            let x = x.add(c0);
            for b in s..e {
                let jb = (*self.block_col_idx.add(b)).index();
                let blk0 = self.vals.add((b * r + ii) * c);
                let blk1 = blk0.add(c);
                let xb = x.add(jb * c * xs);
                for jj in 0..c {
                    let a0 = S::splat(value_to_f32::<S, T>(*blk0.add(jj)));
                    let a1 = S::splat(value_to_f32::<S, T>(*blk1.add(jj)));
                    let xr = xb.add(jj * xs);
                    for v in 0..NV {
                        let xv = element::load::<S, X>(xr.add(v * l));
                        acc[0][v] = S::fma(a0, xv, acc[0][v]);
                        acc[1][v] = S::fma(a1, xv, acc[1][v]);
                    }
                    if PART {
                        let xv = element::load_part::<S, X>(xr.add(NV * l), tail);
                        accp[0] = S::fma(a0, xv, accp[0]);
                        accp[1] = S::fma(a1, xv, accp[1]);
                    }
                }
            }
        }
    }

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
        let (r, c) = (self.r, self.c);
        let (bi, ii) = (i / r, i % r);
        // SAFETY: bi < number of block rows, so block_row_ptr[bi + 1] exists; blocks b < nblocks
        // have r·c values; block columns J satisfy (J + 1)·c <= k = rows of X (BSR invariants);
        // panel columns exist (caller contract).
        unsafe {
            let (s, e) = (
                (*self.block_row_ptr.add(bi)).index(),
                (*self.block_row_ptr.add(bi + 1)).index(),
            );
            let x = x.add(c0);
            for b in s..e {
                let jb = (*self.block_col_idx.add(b)).index();
                let blk = self.vals.add((b * r + ii) * c);
                let xb = x.add(jb * c * xs);
                for jj in 0..c {
                    let a = S::splat(value_to_f32::<S, T>(*blk.add(jj)));
                    let xr = xb.add(jj * xs);
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
}

/// Runs a BSR matrix over all `nrows = nbrows · r` rows: tasks own ranges of block rows
/// balanced by stored blocks.
///
/// Schedule (per block row and 4-vector panel): the block row's `r × panel` accumulators live in
/// an L1-resident buffer while its blocks are visited in storage order; within a block, rows go
/// in pairs so each `X` vector (from the block's `c` consecutive rows, loaded from L2 once per
/// block and reused by all `r` rows) feeds two FMAs. Every output element still sums its
/// entries in storage order from 0, so results do not depend on the thread count.
///
/// # Safety
/// The arrays satisfy the BSR invariants for an `(nbrows·r) × k` matrix with `r × c` blocks,
/// `x` has `k` rows, and `out` is valid for `nbrows·r` output rows (columns, for `Out::Cols`)
/// and `n` columns.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn run_bsr<I: SpIndex, T: Scalar, X: Element>(
    isa: Isa,
    block_row_ptr: &[I],
    block_col_idx: &[I],
    vals: &[T],
    (r, c): (usize, usize),
    x: MatRef<'_, X>,
    n: usize,
    out: Out,
) {
    let nbrows = block_row_ptr.len() - 1;
    let nrows = nbrows * r;
    if nrows == 0 || n == 0 {
        return;
    }
    if element::widen_first(isa, &x, vals.len().saturating_mul(n)) {
        return element::with_widened(x, |x| {
            // SAFETY: the same arrays and shapes (caller contract), X widened.
            unsafe { run_bsr(isa, block_row_ptr, block_col_idx, vals, (r, c), x, n, out) }
        });
    }
    // Gathers read rows of X: re-align them first (see `with_aligned`).
    with_aligned(x, vals.len().saturating_mul(n), |x| {
        let work = vals.len().saturating_mul(n).saturating_add(nrows * n);
        let chunks = num_chunks(work, nbrows);
        let bounds = row_bounds(block_row_ptr, 1, chunks);
        let src = BsrSrc {
            block_row_ptr: block_row_ptr.as_ptr(),
            block_col_idx: block_col_idx.as_ptr(),
            vals: vals.as_ptr(),
            r,
            c,
        };
        if r < BSR_BUFFERED_MIN_ROWS {
            // Small blocks: the row-wise driver with row pairs (accumulators stay in registers
            // across the whole block row; a buffer round trip per small block costs more than it
            // saves: 4×4 @ 90 %: 46 GFLOP/s this way vs 34 buffered).
            let rows: Vec<usize> = bounds.iter().map(|b| b * r).collect();
            run_rows(isa, src, &rows, x, n, out);
            return;
        }
        let job = Job::new(src, x, n, out);
        let job = &job;
        let task = |w: &[usize]| {
            dispatch(
                isa,
                BsrBlocks {
                    job,
                    b0: w[0],
                    b1: w[1],
                },
            )
        };
        for_each_block(&bounds, task);
    })
}

struct BsrBlocks<'a, I, T, X> {
    job: &'a Job<BsrSrc<I, T>, X>,
    b0: usize,
    b1: usize,
}

/// Block height from which the buffered block-row schedule is used (16×16 @ 90 %: 63–68
/// GFLOP/s single-threaded vs 33–37 with the row-wise driver).
const BSR_BUFFERED_MIN_ROWS: usize = 8;

/// Vectors per BSR panel (× 2 rows = 8 accumulators).
const BSR_PANEL_VECS: usize = 4;

impl<I: SpIndex, T: Scalar, X: Element> Kernel for BsrBlocks<'_, I, T, X> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self) {
        let l = S::LANES;
        let pw = BSR_PANEL_VECS * l;
        let jb = self.job;
        let mut buf = vec![0.0f32; jb.src.r * pw];
        for bi in self.b0..self.b1 {
            let mut c0 = 0;
            while c0 < jb.n {
                let w = (jb.n - c0).min(pw);
                let tail = w % l;
                macro_rules! go {
                    ($nv:literal, $part:literal) => {
                        // SAFETY: bi is a block row of this task; c0 + w <= n; buf has r × pw
                        // floats; see `bsr_panel`.
                        unsafe {
                            bsr_panel::<S, I, T, X, $nv, $part>(jb, bi, c0, w, tail, &mut buf)
                        }
                    };
                }
                panel_match!(go, w / l, tail);
                c0 += w;
            }
        }
    }
}

/// One block row × one panel: accumulate every block into `buf` (r rows × pw), then emit.
///
/// # Safety
/// `bi` is a valid block row owned by the calling task; `c0 + w <= n`; `buf.len() >= r · pw`
/// with `pw >= w`; the BSR / `X` / output contracts of [`run_bsr`] hold.
#[inline(always)]
unsafe fn bsr_panel<
    S: Simd,
    I: SpIndex,
    T: Scalar,
    X: Element,
    const NV: usize,
    const PART: bool,
>(
    jb: &Job<BsrSrc<I, T>, X>,
    bi: usize,
    c0: usize,
    w: usize,
    tail: usize,
    buf: &mut [f32],
) {
    let l = S::LANES;
    let pw = BSR_PANEL_VECS * l;
    let src = jb.src;
    let (r, c) = (src.r, src.c);
    let bp = buf.as_mut_ptr();
    // SAFETY: block row bi < nbrows (its pointer pair exists); blocks b in its range have r·c
    // values; block columns satisfy (J + 1)·c <= k rows of X; panel columns c0 + w <= n; buf
    // rows ii < r hold pw >= w floats; output rows/columns of this block row belong to the task.
    unsafe {
        for v in buf[..r * pw].iter_mut() {
            *v = 0.0;
        }
        let (s, e) = (
            (*src.block_row_ptr.add(bi)).index(),
            (*src.block_row_ptr.add(bi + 1)).index(),
        );
        for b in s..e {
            let xb =
                jb.x.add((*src.block_col_idx.add(b)).index() * c * jb.xs + c0);
            let blk = src.vals.add(b * r * c);
            let mut ii = 0;
            while ii + 2 <= r {
                let (row0, row1) = (bp.add(ii * pw), bp.add((ii + 1) * pw));
                let mut acc0 = [S::zero(); NV];
                let mut acc1 = [S::zero(); NV];
                for v in 0..NV {
                    acc0[v] = S::load(row0.add(v * l));
                    acc1[v] = S::load(row1.add(v * l));
                }
                let (mut p0, mut p1) = if PART {
                    (S::load(row0.add(NV * l)), S::load(row1.add(NV * l)))
                } else {
                    (S::zero(), S::zero())
                };
                let (v0, v1) = (blk.add(ii * c), blk.add((ii + 1) * c));
                for jj in 0..c {
                    let a0 = S::splat(value_to_f32::<S, T>(*v0.add(jj)));
                    let a1 = S::splat(value_to_f32::<S, T>(*v1.add(jj)));
                    let xr = xb.add(jj * jb.xs);
                    for v in 0..NV {
                        let xv = element::load::<S, X>(xr.add(v * l));
                        acc0[v] = S::fma(a0, xv, acc0[v]);
                        acc1[v] = S::fma(a1, xv, acc1[v]);
                    }
                    if PART {
                        let xv = element::load_part::<S, X>(xr.add(NV * l), tail);
                        p0 = S::fma(a0, xv, p0);
                        p1 = S::fma(a1, xv, p1);
                    }
                }
                for v in 0..NV {
                    S::store(row0.add(v * l), acc0[v]);
                    S::store(row1.add(v * l), acc1[v]);
                }
                if PART {
                    S::store(row0.add(NV * l), p0);
                    S::store(row1.add(NV * l), p1);
                }
                ii += 2;
            }
            if ii < r {
                let row0 = bp.add(ii * pw);
                let mut acc0 = [S::zero(); NV];
                for v in 0..NV {
                    acc0[v] = S::load(row0.add(v * l));
                }
                let mut p0 = if PART {
                    S::load(row0.add(NV * l))
                } else {
                    S::zero()
                };
                let v0 = blk.add(ii * c);
                for jj in 0..c {
                    let a0 = S::splat(value_to_f32::<S, T>(*v0.add(jj)));
                    let xr = xb.add(jj * jb.xs);
                    for v in 0..NV {
                        acc0[v] = S::fma(a0, element::load::<S, X>(xr.add(v * l)), acc0[v]);
                    }
                    if PART {
                        p0 = S::fma(a0, element::load_part::<S, X>(xr.add(NV * l), tail), p0);
                    }
                }
                for v in 0..NV {
                    S::store(row0.add(v * l), acc0[v]);
                }
                if PART {
                    S::store(row0.add(NV * l), p0);
                }
            }
        }
        emit_block::<S, NV, PART>(jb.out, bp, pw, bi * r, r, c0, w, tail);
    }
}

/// An N:M matrix as a [`RowSource`]: row `i` has `groups = ncols / M` groups of `N` stored
/// values; entry `t` of group `g` sits in column `g·M + offset`.
#[derive(Clone, Copy)]
pub(crate) struct NmSrc<T> {
    /// `nrows · groups · N` values.
    pub vals: *const T,
    /// In-group offsets (`< M`), same layout as `vals`.
    pub offs: *const u8,
    pub groups: usize,
    pub n: usize,
    pub m: usize,
}

impl<T: Scalar> RowSource for NmSrc<T> {
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
        let per_row = self.groups * self.n;
        // SAFETY: i < nrows so entries i·per_row .. (i + 1)·per_row exist; offsets < M so
        // columns g·M + off < groups·M = k = rows of X (N:M invariants); panel columns exist.
        unsafe {
            let x = x.add(c0);
            let base = i * per_row;
            for g in 0..self.groups {
                let xg = x.add(g * self.m * xs);
                for t in 0..self.n {
                    let p = base + g * self.n + t;
                    let a = S::splat(value_to_f32::<S, T>(*self.vals.add(p)));
                    let xr = xg.add(*self.offs.add(p) as usize * xs);
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
}

/// Runs an N:M source over `nrows` rows (equal work per row: even split).
///
/// # Safety
/// `vals`/`offs` hold `nrows · groups · N` entries with offsets `< M`, `x` has `groups · M`
/// rows, and `out` is valid for `nrows` output rows (columns, for `Out::Cols`) and `n` columns.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn run_nm<T: Scalar, X: Element>(
    isa: Isa,
    vals: &[T],
    offs: &[u8],
    nrows: usize,
    (nn, mm): (usize, usize),
    x: MatRef<'_, X>,
    n: usize,
    out: Out,
) {
    if nrows == 0 || n == 0 {
        return;
    }
    if element::widen_first(isa, &x, vals.len().saturating_mul(n)) {
        return element::with_widened(x, |x| {
            // SAFETY: the same arrays and shapes (caller contract), X widened.
            unsafe { run_nm(isa, vals, offs, nrows, (nn, mm), x, n, out) }
        });
    }
    // Gathers read rows of X: re-align them first (see `with_aligned`).
    with_aligned(x, vals.len().saturating_mul(n), |x| {
        let groups = if nrows == 0 || nn == 0 {
            0
        } else {
            vals.len() / (nrows * nn)
        };
        let work = vals.len().saturating_mul(n).saturating_add(nrows * n);
        let chunks = num_chunks(work, nrows);
        let bounds: Vec<usize> = {
            let mut b: Vec<usize> = (0..=chunks).map(|c| c * nrows / chunks).collect();
            b.dedup();
            b
        };
        let src = NmSrc {
            vals: vals.as_ptr(),
            offs: offs.as_ptr(),
            groups,
            n: nn,
            m: mm,
        };
        // The buffered schedule measured 1.3× the row-wise driver for 2:4 (39.5 vs 30 GFLOP/s,
        // 1 thread, interleaved runs) and equal for 1:4; `NmSrc` as a `RowSource` stays the
        // reference for it in the unit tests.
        let job = Job::new(src, x, n, out);
        let job = &job;
        let task = |w: &[usize]| {
            dispatch(
                isa,
                NmBlocks {
                    job,
                    r0: w[0],
                    r1: w[1],
                },
            )
        };
        for_each_block(&bounds, task);
    })
}

/// Writes `rows` finished rows `i0 ..` of a panel staged in `bp` (row stride `pw`) to the
/// output (row-major, or transposed with 8×8 tiles for `Out::Cols`, bias added).
///
/// # Safety
/// `bp` holds `rows × pw` floats with `pw >= w`; output rows (columns) `i0 .. i0 + rows` and
/// columns `c0 .. c0 + w` exist and belong to the calling task.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn emit_block<S: Simd, const NV: usize, const PART: bool>(
    out: Out,
    bp: *mut f32,
    pw: usize,
    i0: usize,
    rows: usize,
    c0: usize,
    w: usize,
    tail: usize,
) {
    let l = S::LANES;
    // SAFETY: caller contract (see above).
    unsafe {
        match out {
            Out::Rows { .. } => {
                for ii in 0..rows {
                    let row = bp.add(ii * pw);
                    let mut acc = [S::zero(); NV];
                    for (v, a) in acc.iter_mut().enumerate() {
                        *a = S::load(row.add(v * l));
                    }
                    let accp = if PART {
                        S::load(row.add(NV * l))
                    } else {
                        S::zero()
                    };
                    write_out::<S, NV, PART>(out, i0 + ii, c0, tail, &acc, accp);
                }
            }
            Out::Cols { y, ys, bias } => {
                if !bias.is_null() {
                    for ii in 0..rows {
                        let bv = *bias.add(i0 + ii);
                        for t in 0..w {
                            *bp.add(ii * pw + t) += bv;
                        }
                    }
                }
                let (r8, w8) = (rows / 8 * 8, w / 8 * 8);
                for ii0 in (0..r8).step_by(8) {
                    for t0 in (0..w8).step_by(8) {
                        S::transpose8x8(
                            bp.add(ii0 * pw + t0),
                            pw,
                            y.add((c0 + t0) * ys + i0 + ii0),
                            ys,
                        );
                    }
                }
                for t in 0..w {
                    let yr = y.add((c0 + t) * ys + i0);
                    let start = if t < w8 { r8 } else { 0 };
                    for ii in start..rows {
                        *yr.add(ii) = *bp.add(ii * pw + t);
                    }
                }
            }
        }
    }
}

/// Rows per block and groups per column block of the buffered N:M schedule.
const NM_ROW_BLOCK: usize = 8;
const NM_GROUP_BLOCK_ROWS: usize = 64;
/// How many group blocks ahead `nm_panel` prefetches each row's values and offsets.
const NM_PREFETCH_BLOCKS: usize = 2;

/// Buffered N:M schedule: blocks of `NM_ROW_BLOCK` rows × one panel accumulate in an L1 buffer
/// while the columns are walked in blocks of `NM_GROUP_BLOCK_ROWS` `X` rows, so each `X` block is
/// read from L2 once per row block instead of once per row. Storage order per element is
/// unchanged (bit-identical to the row-wise schedule).
struct NmBlocks<'a, T, X> {
    job: &'a Job<NmSrc<T>, X>,
    r0: usize,
    r1: usize,
}

impl<T: Scalar, X: Element> Kernel for NmBlocks<'_, T, X> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self) {
        let l = S::LANES;
        let pw = crate::spmm::PANEL_VECS * l;
        let mut buf = vec![0.0f32; NM_ROW_BLOCK * pw];
        let mut i0 = self.r0;
        while i0 < self.r1 {
            let rows = (self.r1 - i0).min(NM_ROW_BLOCK);
            let mut c0 = 0;
            while c0 < self.job.n {
                let w = (self.job.n - c0).min(pw);
                let tail = w % l;
                macro_rules! go {
                    ($nv:literal, $part:literal) => {
                        // SAFETY: rows i0 .. i0 + rows belong to this task; c0 + w <= n; buf
                        // holds NM_ROW_BLOCK × pw floats.
                        unsafe {
                            nm_panel::<S, T, X, $nv, $part>(
                                self.job, i0, rows, c0, w, tail, &mut buf,
                            )
                        }
                    };
                }
                panel_match!(go, w / l, tail);
                c0 += w;
            }
            i0 += rows;
        }
    }
}

/// # Safety
/// See [`NmBlocks`]: valid N:M arrays, `X` with `groups · M` rows and `n` columns, output rows
/// `i0 .. i0 + rows` owned by the caller, `buf.len() >= rows · pw`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn nm_panel<S: Simd, T: Scalar, X: Element, const NV: usize, const PART: bool>(
    jb: &Job<NmSrc<T>, X>,
    i0: usize,
    rows: usize,
    c0: usize,
    w: usize,
    tail: usize,
    buf: &mut [f32],
) {
    let l = S::LANES;
    let pw = crate::spmm::PANEL_VECS * l;
    let src = jb.src;
    let per_row = src.groups * src.n;
    let gblock = (NM_GROUP_BLOCK_ROWS / src.m.max(1)).max(1);
    let bp = buf.as_mut_ptr();
    // SAFETY: rows i < nrows have per_row entries; offsets < M so X rows g·M + off < k; panel
    // columns c0 + w <= n; buf rows ii < rows hold pw >= w floats.
    unsafe {
        for v in buf[..rows * pw].iter_mut() {
            *v = 0.0;
        }
        let x = jb.x.add(c0);
        let mut g0 = 0;
        while g0 < src.groups {
            let g1 = (g0 + gblock).min(src.groups);
            for ii in 0..rows {
                let row = bp.add(ii * pw);
                let mut acc = [S::zero(); NV];
                for (v, a) in acc.iter_mut().enumerate() {
                    *a = S::load(row.add(v * l));
                }
                let mut accp = if PART {
                    S::load(row.add(NV * l))
                } else {
                    S::zero()
                };
                let base = (i0 + ii) * per_row;
                // Software prefetch of this row's values and offsets NM_PREFETCH_BLOCKS group
                // blocks ahead: with 8 rows interleaved by group block, W is 16 short strided
                // streams the hardware prefetcher does not follow (2:4 `nm_spmm_t`, 1 thread:
                // 40 → 44–55 GFLOP/s; docs/kernels.md). Prefetch never faults; addresses past
                // the end are only formed with wrapping arithmetic and never dereferenced.
                let ahead = g0 + NM_PREFETCH_BLOCKS * gblock;
                if ahead < src.groups {
                    let pv = src.vals.wrapping_add(base + ahead * src.n) as *const u8;
                    let po = src.offs.wrapping_add(base + ahead * src.n);
                    let vbytes = (g1 - g0) * src.n * std::mem::size_of::<T>();
                    let mut b = 0;
                    while b < vbytes {
                        S::prefetch(pv.wrapping_add(b) as *const f32);
                        b += 64;
                    }
                    let mut b = 0;
                    while b < (g1 - g0) * src.n {
                        S::prefetch(po.wrapping_add(b) as *const f32);
                        b += 64;
                    }
                }
                for g in g0..g1 {
                    let xg = x.add(g * src.m * jb.xs);
                    for t in 0..src.n {
                        let p = base + g * src.n + t;
                        let a = S::splat(value_to_f32::<S, T>(*src.vals.add(p)));
                        let xr = xg.add(*src.offs.add(p) as usize * jb.xs);
                        for (v, accv) in acc.iter_mut().enumerate() {
                            *accv = S::fma(a, element::load::<S, X>(xr.add(v * l)), *accv);
                        }
                        if PART {
                            accp =
                                S::fma(a, element::load_part::<S, X>(xr.add(NV * l), tail), accp);
                        }
                    }
                }
                for (v, a) in acc.iter().enumerate() {
                    S::store(row.add(v * l), *a);
                }
                if PART {
                    S::store(row.add(NV * l), accp);
                }
            }
            g0 = g1;
        }
        emit_block::<S, NV, PART>(jb.out, bp, pw, i0, rows, c0, w, tail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dense::{MatMut, MatRef};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn dense_ref(a: &[f64], x: &[f32], m: usize, k: usize, n: usize) -> (Vec<f64>, Vec<f64>) {
        let mut y = vec![0.0; m * n];
        let mut s = vec![0.0; m * n];
        for i in 0..m {
            for t in 0..k {
                for j in 0..n {
                    y[i * n + j] += a[i * k + t] * x[t * n + j] as f64;
                    s[i * n + j] += (a[i * k + t] * x[t * n + j] as f64).abs();
                }
            }
        }
        (y, s)
    }

    fn check(y: &[f32], want: &[f64], scale: &[f64], what: &str) {
        for e in 0..y.len() {
            assert!(
                (y[e] as f64 - want[e]).abs() <= 1e-5 * scale[e] + 1e-30,
                "{what}: element {e}: {} vs {}",
                y[e],
                want[e]
            );
        }
    }

    #[test]
    fn bsr_core_matches_dense() {
        let mut r = StdRng::seed_from_u64(1);
        for &(br, bc) in &[
            (1usize, 1usize),
            (2, 3),
            (3, 3),
            (4, 4),
            (8, 2),
            (9, 5),
            (16, 16),
        ] {
            for &(nbr, nbc) in &[(0usize, 3usize), (1, 1), (3, 5), (9, 4), (40, 6)] {
                for &n in &[1usize, 7, 64, 65] {
                    let (m, k) = (nbr * br, nbc * bc);
                    let mut brp = vec![0u32];
                    let mut bci = vec![];
                    for _ in 0..nbr {
                        for j in 0..nbc {
                            if r.random_bool(0.4) {
                                bci.push(j as u32);
                            }
                        }
                        brp.push(bci.len() as u32);
                    }
                    let vals: Vec<f32> = (0..bci.len() * br * bc)
                        .map(|_| r.random_range(-1.0..1.0))
                        .collect();
                    let mut a = vec![0.0f64; m * k];
                    for bi in 0..nbr {
                        for b in brp[bi] as usize..brp[bi + 1] as usize {
                            for ii in 0..br {
                                for jj in 0..bc {
                                    a[(bi * br + ii) * k + bci[b] as usize * bc + jj] =
                                        vals[(b * br + ii) * bc + jj] as f64;
                                }
                            }
                        }
                    }
                    let x: Vec<f32> = (0..k * n).map(|_| r.random_range(-1.0..1.0)).collect();
                    let (want, scale) = dense_ref(&a, &x, m, k, n);
                    for isa in Isa::available() {
                        let mut y = vec![f32::NAN; m * n];
                        let mut ym = MatMut::new(&mut y, m, n).unwrap();
                        let out = Out::Rows {
                            y: ym.as_mut_ptr(),
                            ys: n,
                            alpha: 1.0,
                            beta: 0.0,
                        };
                        // SAFETY: arrays built above satisfy the BSR invariants; shapes match.
                        unsafe {
                            run_bsr(
                                isa,
                                &brp,
                                &bci,
                                &vals,
                                (br, bc),
                                MatRef::new(&x, k, n).unwrap(),
                                n,
                                out,
                            )
                        };
                        check(
                            &y,
                            &want,
                            &scale,
                            &format!("bsr {isa:?} {br}×{bc} {m}×{k}×{n}"),
                        );
                        // Transposed output (the spmm_t path): Y2 = (A·X)ᵀ + bias.
                        let bias: Vec<f32> = (0..m).map(|i| i as f32 * 0.25 - 1.0).collect();
                        let mut y2 = vec![f32::NAN; n * m];
                        let out = Out::Cols {
                            y: y2.as_mut_ptr(),
                            ys: m,
                            bias: bias.as_ptr(),
                        };
                        // SAFETY: as above; Y2 is n × m.
                        unsafe {
                            run_bsr(
                                isa,
                                &brp,
                                &bci,
                                &vals,
                                (br, bc),
                                MatRef::new(&x, k, n).unwrap(),
                                n,
                                out,
                            )
                        };
                        for i in 0..m {
                            for t in 0..n {
                                let (g, w) =
                                    (y2[t * m + i] as f64, want[i * n + t] + bias[i] as f64);
                                assert!(
                                    (g - w).abs() <= 1e-5 * (scale[i * n + t] + 1.0),
                                    "bsr cols {isa:?} {br}×{bc} ({i},{t}): {g} vs {w}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn nm_core_matches_dense() {
        let mut r = StdRng::seed_from_u64(2);
        for &(nn, mm) in &[(2usize, 4usize), (1, 4), (4, 8), (1, 1)] {
            for &(m, groups) in &[(0usize, 2usize), (1, 1), (5, 3), (33, 16)] {
                for &n in &[1usize, 9, 64, 130] {
                    let k = groups * mm;
                    let mut vals = vec![];
                    let mut offs = vec![];
                    let mut a = vec![0.0f64; m * k];
                    for i in 0..m {
                        for g in 0..groups {
                            let mut pos: Vec<u8> = (0..mm as u8).collect();
                            for t in (1..pos.len()).rev() {
                                pos.swap(t, r.random_range(0..=t));
                            }
                            let mut chosen = pos[..nn].to_vec();
                            chosen.sort();
                            for o in chosen {
                                let v: f32 = r.random_range(-1.0..1.0);
                                vals.push(v);
                                offs.push(o);
                                a[i * k + g * mm + o as usize] = v as f64;
                            }
                        }
                    }
                    let x: Vec<f32> = (0..k * n).map(|_| r.random_range(-1.0..1.0)).collect();
                    let (want, scale) = dense_ref(&a, &x, m, k, n);
                    for isa in Isa::available() {
                        let mut y = vec![f32::NAN; m * n];
                        let mut ym = MatMut::new(&mut y, m, n).unwrap();
                        let out = Out::Rows {
                            y: ym.as_mut_ptr(),
                            ys: n,
                            alpha: 1.0,
                            beta: 0.0,
                        };
                        // SAFETY: arrays built above satisfy the N:M invariants; shapes match.
                        unsafe {
                            run_nm(
                                isa,
                                &vals,
                                &offs,
                                m,
                                (nn, mm),
                                MatRef::new(&x, k, n).unwrap(),
                                n,
                                out,
                            )
                        };
                        check(
                            &y,
                            &want,
                            &scale,
                            &format!("nm {isa:?} {nn}:{mm} {m}×{k}×{n}"),
                        );
                        // The row-wise driver over the same source sums in the same order.
                        if m > 0 {
                            let mut y3 = vec![f32::NAN; m * n];
                            let out3 = Out::Rows {
                                y: y3.as_mut_ptr(),
                                ys: n,
                                alpha: 1.0,
                                beta: 0.0,
                            };
                            let src = NmSrc {
                                vals: vals.as_ptr(),
                                offs: offs.as_ptr(),
                                groups,
                                n: nn,
                                m: mm,
                            };
                            run_rows(isa, src, &[0, m], MatRef::new(&x, k, n).unwrap(), n, out3);
                            assert_eq!(
                                y.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                                y3.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                            );
                        }
                        let mut y2 = vec![f32::NAN; n * m];
                        let out = Out::Cols {
                            y: y2.as_mut_ptr(),
                            ys: m,
                            bias: std::ptr::null(),
                        };
                        // SAFETY: as above; Y2 is n × m.
                        unsafe {
                            run_nm(
                                isa,
                                &vals,
                                &offs,
                                m,
                                (nn, mm),
                                MatRef::new(&x, k, n).unwrap(),
                                n,
                                out,
                            )
                        };
                        for i in 0..m {
                            for t in 0..n {
                                let (g, w) = (y2[t * m + i] as f64, want[i * n + t]);
                                assert!(
                                    (g - w).abs() <= 1e-5 * scale[i * n + t] + 1e-30,
                                    "nm cols {isa:?} ({i},{t}): {g} vs {w}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod thread_tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn bsr_and_nm_do_not_depend_on_thread_count() {
        let mut r = StdRng::seed_from_u64(3);
        let (nbr, nbc, n) = (64usize, 64usize, 64usize);
        let x: Vec<f32> = (0..1024 * n).map(|_| r.random_range(-1.0..1.0)).collect();
        let run_all = |brp: &[u32],
                       bci: &[u32],
                       vals: &[f32],
                       rc: (usize, usize),
                       nmv: &[f32],
                       offs: &[u8]| {
            let m = nbr * rc.0;
            let k = nbc * rc.1;
            let mut y = vec![0.0f32; m * n];
            let out = Out::Rows {
                y: y.as_mut_ptr(),
                ys: n,
                alpha: 1.0,
                beta: 0.0,
            };
            // SAFETY: valid BSR arrays built below; X has k <= 1024 rows.
            unsafe {
                run_bsr(
                    Isa::detect(),
                    brp,
                    bci,
                    vals,
                    rc,
                    MatRef::new(&x[..k * n], k, n).unwrap(),
                    n,
                    out,
                )
            };
            let mut y2 = vec![0.0f32; 512 * n];
            let out = Out::Rows {
                y: y2.as_mut_ptr(),
                ys: n,
                alpha: 1.0,
                beta: 0.0,
            };
            // SAFETY: valid 2:4 arrays for 512 rows × 1024 columns.
            unsafe {
                run_nm(
                    Isa::detect(),
                    nmv,
                    offs,
                    512,
                    (2, 4),
                    MatRef::new(&x, 1024, n).unwrap(),
                    n,
                    out,
                )
            };
            (
                y.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                y2.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            )
        };
        let nmv: Vec<f32> = (0..512 * 256 * 2)
            .map(|_| r.random_range(-1.0..1.0))
            .collect();
        let offs: Vec<u8> = (0..512 * 256)
            .flat_map(|g| if g % 2 == 0 { [0u8, 3] } else { [1, 2] })
            .collect();
        for rc in [(16usize, 16usize), (4, 4), (3, 2)] {
            let mut brp = vec![0u32];
            let mut bci = vec![];
            for _ in 0..nbr {
                for j in 0..nbc {
                    if r.random_bool(0.3) {
                        bci.push(j as u32);
                    }
                }
                brp.push(bci.len() as u32);
            }
            let vals: Vec<f32> = (0..bci.len() * rc.0 * rc.1)
                .map(|_| r.random_range(-1.0..1.0))
                .collect();
            let pool = |t| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build()
                    .unwrap()
            };
            let one = pool(1).install(|| run_all(&brp, &bci, &vals, rc, &nmv, &offs));
            let two = pool(2).install(|| run_all(&brp, &bci, &vals, rc, &nmv, &offs));
            assert_eq!(one, two, "{rc:?}");
        }
    }
}
