//! BSR × dense on Intel AMX: `Y = A·X` with `A` in BSR form (`r × c` blocks, `r` and `c`
//! multiples of 16) holding bf16 values, `X` a dense bf16 matrix and `Y` f32, by `tdpbf16ps`
//! (16 × 16 f32 accumulator tiles, bf16 pairs, products exact in f32, f32 accumulation).
//!
//! Hand-written because no crate provides AMX sparse kernels (nor stable AMX intrinsics: the
//! mnemonics are `asm!`, as in the SAE encoder; the shared plumbing — detection, permission,
//! tile configuration — is `crate::amx`).
//!
//! Layout:
//! - `X` (k × n bf16) is packed once per call into the VNNI pair layout AMX `B` tiles read:
//!   `[k/2][npad]` pairs (`u32`: row `2p` in the low half, row `2p + 1` in the high half),
//!   `npad = n` rounded up to 16, zero padding, in cache-line-aligned per-thread scratch. `k` is
//!   a multiple of `c`, itself even, so a pair never straddles two block columns.
//! - A stored block is row-major `r × c` bf16, so its rows `16s .. 16s + 16`, columns
//!   `kk .. kk + KC` are directly an `A` tile (16 rows × `2·KC` bytes, stride `2c` bytes);
//!   `KC` = 32 when `c % 32 == 0`, else 16.
//! - `B` tile = `KC / 2` pair rows × 64 bytes (16 columns) of the packed `X` at pair row
//!   `(bc·c + kk) / 2`, column `j0`, stride `4·npad` bytes.
//!
//! Loop, per task (a range of block rows): `ldtilecfg`; for each 16-row slab of a block row and
//! each group of up to 4 column tiles (64 columns, accumulators tmm0..3): zero the
//! accumulators, for each block of the block row (storage order) and each `KC` chunk: load the
//! `A` tile (tmm4), then per column tile load its `B` tile (tmm5..7, rotating) and
//! `tdpbf16ps`; store the accumulators side by side into a 16 × 64 stack buffer (L1) and copy
//! its rows into `Y` (`tilestored` straight into a `Y` that is not in cache was 2× slower on a
//! 32 MiB `Y`; the buffer also serves a partial last tile). `tilerelease` at the end. An empty block row writes
//! zeros (its accumulators are zeroed and stored).
//!
//! Determinism: block rows are split over rayon by stored blocks (`partition::row_bounds`), but
//! each output element is computed by one task in a fixed order, so the result is bit-identical
//! for any thread count.
//!
//! Numerics: products of two bf16 are exact in f32 and accumulate in f32, so
//! `|y − y_exact| ≤ K·2⁻²⁴·Σ_j |a_ij·x_jc|` (first order) with `K` the number of stored terms of
//! the row (≤ k); the order of the additions inside one `tdpbf16ps` is the hardware's.
//! `tdpbf16ps` treats denormal bf16 inputs as zero and flushes denormal results to zero
//! (regardless of MXCSR), so inputs or partial sums below `f32::MIN_POSITIVE` are lost.

use half::bf16;
use sparsekit_formats::SpIndex;

use crate::dense::{MatMut, MatRef};

/// Whether the AMX kernel handles `r × c` blocks: both multiples of 16 (at least 16 × 16).
pub(crate) fn amx_bsr_fits(r: usize, c: usize) -> bool {
    r >= 16 && c >= 16 && r % 16 == 0 && c % 16 == 0
}

/// `Y = A·X` (`Y` overwritten) on AMX for a BSR `A` given by its arrays. Returns false — and
/// touches nothing — when AMX bf16 is not usable in this process (no CPU flag, permission
/// refused, not x86_64 Linux) or the block shape does not fit ([`amx_bsr_fits`]); the caller
/// then falls back.
///
/// Contract (validated by the caller, not re-checked): the arrays form a valid BSR matrix of
/// shape `m × k` with `r × c` blocks (`block_row_ptr` of length `m / r + 1`, non-decreasing,
/// ending at the number of blocks; every block column `< k / c`; `vals` holds
/// `nblocks · r · c` values, each block row-major), `x` is `k × n` and `y` is `m × n`.
pub(crate) fn bsr_spmm_bf16_amx<I: SpIndex>(
    block_row_ptr: &[I],
    block_col_idx: &[I],
    vals: &[bf16],
    (r, c): (usize, usize),
    x: MatRef<'_, bf16>,
    y: MatMut<'_, f32>,
) -> bool {
    if !amx_bsr_fits(r, c) || !crate::amx::has_amx_bf16() {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        imp::run(block_row_ptr, block_col_idx, vals, (r, c), x, y);
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (block_row_ptr, block_col_idx, vals, x, y);
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod imp {
    use std::arch::asm;

    use half::bf16;
    use rayon::prelude::*;
    use sparsekit_formats::SpIndex;

    use crate::amx::{tile_release, TileCfg};
    use crate::dense::{MatMut, MatRef};
    use crate::partition::{for_each_block, num_chunks, row_bounds, SyncPtr, PAR_MIN_WORK};
    use crate::scratch::with_scratch;

    /// Columns per accumulator tile.
    const TN: usize = 16;
    /// Accumulator tiles per pass (tmm0..3).
    const MAX_TILES: usize = 4;

    /// Body of [`super::bsr_spmm_bf16_amx`] once AMX is known usable and the shape fits.
    pub(super) fn run<I: SpIndex>(
        block_row_ptr: &[I],
        block_col_idx: &[I],
        vals: &[bf16],
        (r, c): (usize, usize),
        x: MatRef<'_, bf16>,
        mut y: MatMut<'_, f32>,
    ) {
        let (m, n, k) = (y.nrows(), x.ncols(), x.nrows());
        if m == 0 || n == 0 {
            return;
        }
        let npad = n.next_multiple_of(TN);
        let kp = k / 2;
        let nbr = block_row_ptr.len() - 1;
        let nblocks = block_row_ptr[nbr].index();
        let ys = y.row_stride();
        let yp = SyncPtr(y.as_mut_ptr());
        // Packed pairs, stored as f32 bit patterns in the aligned f32 scratch.
        with_scratch(kp * npad, |packed| {
            pack_pairs(x, packed, npad);
            let packed: &[f32] = packed;
            let work = nblocks.saturating_mul(r * c).saturating_mul(n);
            // Per block row, storing `r × n` outputs costs about one block's worth of loads.
            let bounds = row_bounds(block_row_ptr, 1, num_chunks(work, nbr));
            for_each_block(&bounds, |b| {
                // SAFETY: AMX is usable (checked by the caller); the arrays form a valid BSR
                // matrix m × k with r × c blocks, r and c multiples of 16, `packed` holds
                // k/2 × npad pairs, Y is m × n with row stride ys (the contract of
                // `bsr_spmm_bf16_amx`); tasks own disjoint block-row ranges `b[0]..b[1]`, so
                // they write disjoint rows of Y.
                unsafe {
                    block_rows(
                        b[0]..b[1],
                        block_row_ptr,
                        block_col_idx,
                        vals,
                        (r, c),
                        packed.as_ptr(),
                        npad,
                        yp.get(),
                        ys,
                        n,
                    )
                }
            });
        });
    }

    /// Packs `x` (k × n bf16) into `[k/2][npad]` VNNI pairs (row `2p` low, `2p + 1` high),
    /// columns `n..npad` zero. Parallel over pair rows when large (a copy: no effect on results).
    fn pack_pairs(x: MatRef<'_, bf16>, packed: &mut [f32], npad: usize) {
        let n = x.ncols();
        let pack_row = |p: usize, out: &mut [f32]| {
            let (r0, r1) = (x.row(2 * p), x.row(2 * p + 1));
            for ((o, a), b) in out[..n].iter_mut().zip(r0).zip(r1) {
                *o = f32::from_bits(a.to_bits() as u32 | (b.to_bits() as u32) << 16);
            }
            out[n..].fill(0.0);
        };
        if packed.len() >= PAR_MIN_WORK / 2 && rayon::current_num_threads() > 1 {
            let rows_per_task = (PAR_MIN_WORK / 8).div_ceil(npad).max(1);
            packed
                .par_chunks_mut(rows_per_task * npad)
                .enumerate()
                .for_each(|(t, chunk)| {
                    for (i, out) in chunk.chunks_exact_mut(npad).enumerate() {
                        pack_row(t * rows_per_task + i, out);
                    }
                });
        } else {
            for (p, out) in packed.chunks_exact_mut(npad).enumerate() {
                pack_row(p, out);
            }
        }
    }

    /// Up to `MAX_TILES` accumulator tiles side by side: 16 rows × 64 f32, cache-line aligned.
    #[repr(C, align(64))]
    struct StageBuf([f32; TN * TN * MAX_TILES]);

    /// Block rows `brs` of `Y = A·X` (see the module docs).
    ///
    /// # Safety
    /// AMX bf16 is usable in this process; the BSR arrays are valid for an `m × k` matrix with
    /// `r × c` blocks, `r % 16 == 0`, `c % 16 == 0`, `brs` within its block rows; `packed`
    /// points to `k/2 × npad` pairs (`npad % 16 == 0`, `npad ≥ n`); `y` to an `m × n` matrix
    /// with row stride `ys ≥ n` whose rows `brs.start·r .. brs.end·r` no one else accesses
    /// during the call.
    #[allow(clippy::too_many_arguments)]
    unsafe fn block_rows<I: SpIndex>(
        brs: std::ops::Range<usize>,
        block_row_ptr: &[I],
        block_col_idx: &[I],
        vals: &[bf16],
        (r, c): (usize, usize),
        packed: *const f32,
        npad: usize,
        y: *mut f32,
        ys: usize,
        n: usize,
    ) {
        // bf16 columns of A per tile (K of one tdpbf16ps = KC / 2 pairs).
        let kc = if c % 32 == 0 { 32 } else { 16 };
        let cfg = (0..MAX_TILES)
            .fold(TileCfg::new(), |cfg, t| cfg.tile(t, 16, 64))
            .tile(4, 16, 2 * kc)
            .tile(5, kc / 2, 64)
            .tile(6, kc / 2, 64)
            .tile(7, kc / 2, 64);
        let sa = 2 * c; // A row stride, bytes
        let sb = 4 * npad; // packed pair-row stride, bytes
        let mut stage = StageBuf([0.0; TN * TN * MAX_TILES]);
        let vp = vals.as_ptr();
        // SAFETY: AMX usable (contract). Every tileloadd reads inside the operands: an A tile
        // reads rows 16s..16s+16, columns kk..kk+kc of stored block p (p < nblocks, so inside
        // `vals`); a B tile reads pair rows (bc·c + kk)/2 .. + kc/2 ≤ k/2 (bc < k/c) and
        // columns j0 + 16t .. + 16 ≤ npad (j0 + 16t < n) of `packed`. Every tilestored writes
        // 16 rows × 16 columns inside `stage` (columns 16t .. 16t + 16 ≤ 64); each copy writes
        // row row0 + i < m (row0 + 16 ≤ m), columns j0 .. j0 + w ≤ n ≤ ys of Y. The tile configuration is loaded first and released last on this thread.
        unsafe {
            cfg.load();
            for br in brs {
                let (p0, p1) = (block_row_ptr[br].index(), block_row_ptr[br + 1].index());
                for s in 0..r / 16 {
                    let row0 = br * r + 16 * s;
                    let mut j0 = 0;
                    while j0 < n {
                        let nt = (n - j0).div_ceil(TN).min(MAX_TILES);
                        asm!(
                            "tilezero tmm0",
                            "tilezero tmm1",
                            "tilezero tmm2",
                            "tilezero tmm3",
                            options(nostack, nomem)
                        );
                        for (p, bc) in (p0..p1).zip(&block_col_idx[p0..p1]) {
                            let bc = bc.index();
                            let ablk = vp.add(p * r * c + 16 * s * c);
                            let mut kk = 0;
                            while kk < c {
                                let a = ablk.add(kk);
                                let b = packed.add((bc * c + kk) / 2 * npad + j0);
                                dot(nt, a, sa, b, sb);
                                kk += kc;
                            }
                        }
                        // Stage the nt tiles side by side in L1, then copy whole row segments
                        // into Y: faster than `tilestored` straight into a Y that is not in
                        // cache (2× on a 32 MiB Y), and handles a partial last tile.
                        const SW: usize = TN * MAX_TILES;
                        let st = stage.0.as_mut_ptr();
                        for t in 0..nt {
                            store(t, st.add(TN * t), 4 * SW);
                        }
                        let w = (n - j0).min(TN * nt);
                        for i in 0..TN {
                            let (src, dst) = (st.add(i * SW), y.add((row0 + i) * ys + j0));
                            if w == SW {
                                std::ptr::copy_nonoverlapping(src, dst, SW);
                            } else {
                                std::ptr::copy_nonoverlapping(src, dst, w);
                            }
                        }
                        j0 += TN * MAX_TILES;
                    }
                }
            }
            tile_release();
        }
    }

    /// `tmm<t> += A·B` for `t < nt`: `A` tile from `a` (stride `sa` bytes) into tmm4, `B` tile
    /// `t` from `b + 64t` bytes (stride `sb`) into tmm5..7 (rotating).
    ///
    /// # Safety
    /// Tiles configured as in `block_rows`; the tiles' memory readable.
    #[inline(always)]
    unsafe fn dot(nt: usize, a: *const bf16, sa: usize, b: *const f32, sb: usize) {
        // SAFETY: per the contract; the asm reads only the A tile and nt B tiles.
        unsafe {
            match nt {
                4 => asm!(
                    "tileloadd tmm4, [{a} + {sa}*1]",
                    "tileloadd tmm5, [{b} + {sb}*1]",
                    "tileloadd tmm6, [{b} + {sb}*1 + 64]",
                    "tdpbf16ps tmm0, tmm4, tmm5",
                    "tileloadd tmm7, [{b} + {sb}*1 + 128]",
                    "tdpbf16ps tmm1, tmm4, tmm6",
                    "tileloadd tmm5, [{b} + {sb}*1 + 192]",
                    "tdpbf16ps tmm2, tmm4, tmm7",
                    "tdpbf16ps tmm3, tmm4, tmm5",
                    a = in(reg) a,
                    sa = in(reg) sa,
                    b = in(reg) b,
                    sb = in(reg) sb,
                    options(nostack, readonly),
                ),
                3 => asm!(
                    "tileloadd tmm4, [{a} + {sa}*1]",
                    "tileloadd tmm5, [{b} + {sb}*1]",
                    "tileloadd tmm6, [{b} + {sb}*1 + 64]",
                    "tdpbf16ps tmm0, tmm4, tmm5",
                    "tileloadd tmm7, [{b} + {sb}*1 + 128]",
                    "tdpbf16ps tmm1, tmm4, tmm6",
                    "tdpbf16ps tmm2, tmm4, tmm7",
                    a = in(reg) a,
                    sa = in(reg) sa,
                    b = in(reg) b,
                    sb = in(reg) sb,
                    options(nostack, readonly),
                ),
                2 => asm!(
                    "tileloadd tmm4, [{a} + {sa}*1]",
                    "tileloadd tmm5, [{b} + {sb}*1]",
                    "tileloadd tmm6, [{b} + {sb}*1 + 64]",
                    "tdpbf16ps tmm0, tmm4, tmm5",
                    "tdpbf16ps tmm1, tmm4, tmm6",
                    a = in(reg) a,
                    sa = in(reg) sa,
                    b = in(reg) b,
                    sb = in(reg) sb,
                    options(nostack, readonly),
                ),
                _ => asm!(
                    "tileloadd tmm4, [{a} + {sa}*1]",
                    "tileloadd tmm5, [{b} + {sb}*1]",
                    "tdpbf16ps tmm0, tmm4, tmm5",
                    a = in(reg) a,
                    sa = in(reg) sa,
                    b = in(reg) b,
                    sb = in(reg) sb,
                    options(nostack, readonly),
                ),
            }
        }
    }

    /// `tilestored [p + stride·i], tmm<t>` (16 rows of 64 bytes).
    ///
    /// # Safety
    /// Tiles configured as in `block_rows`; 16 rows of 64 bytes at `p`, stride `stride` bytes,
    /// writable.
    #[inline(always)]
    unsafe fn store(t: usize, p: *mut f32, stride: usize) {
        // SAFETY: per the contract.
        unsafe {
            match t {
                0 => {
                    asm!("tilestored [{p} + {s}*1], tmm0", p = in(reg) p, s = in(reg) stride, options(nostack))
                }
                1 => {
                    asm!("tilestored [{p} + {s}*1], tmm1", p = in(reg) p, s = in(reg) stride, options(nostack))
                }
                2 => {
                    asm!("tilestored [{p} + {s}*1], tmm2", p = in(reg) p, s = in(reg) stride, options(nostack))
                }
                _ => {
                    asm!("tilestored [{p} + {s}*1], tmm3", p = in(reg) p, s = in(reg) stride, options(nostack))
                }
            }
        }
    }
}
