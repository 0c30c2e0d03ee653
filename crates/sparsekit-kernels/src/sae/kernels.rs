//! Tile computation of the SAE encoder: per task, pack a block of `x` rows, then produce the
//! `rows × NB` product tiles (no bias) with the path's kernel and hand each tile row to a
//! callback. Scalar twins, AVX2+FMA (f32) and AVX-512 (f32 FMA, bf16 `vdpbf16ps`) microkernels.

use super::{bf16_bits, d_in_pairs, panels, EncoderPath, PackedEncoder, MR, NB, NR};
use crate::dense::MatRef;

/// Weight micro-panel depth (elements or bf16 pairs) kept in L1: `KC × 32 × 4` bytes ≤ 32 KiB.
const KC_MAX: usize = 256;

/// Chunk length for a depth `d`: equal chunks of at most `KC_MAX`.
fn kc_for(d: usize) -> usize {
    if d == 0 {
        return 1;
    }
    d.div_ceil(d.div_ceil(KC_MAX))
}

/// Rows per packed `x` panel of the AVX2 kernel (`6 × 16` register tile: 12 ymm accumulators,
/// two `W` vectors, one broadcast). `x` panels are per task, so this does not touch the shared
/// `W` layout.
pub(super) const MR_AVX2: usize = 6;

/// AVX2 and FMA (run-time detection); the AVX2 kernels need no new compiler.
pub(super) fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

pub(super) use crate::amx::{has_avx512bf16, has_avx512f};

/// The SAE's AMX path: the AMX bf16 tiles ([`crate::amx::has_amx_bf16`]: CPU flags and Linux's
/// XTILEDATA permission, asked once per process; a refusal disables the path) plus AVX-512 BF16
/// for the rest of the path (packing, epilogue).
pub(super) fn has_amx_bf16() -> bool {
    cfg!(sparsekit_avx512) && has_avx512bf16() && crate::amx::has_amx_bf16()
}

/// One task's packed rows and tile buffer.
pub(super) struct Task<'a> {
    kind: EncoderPath,
    x: MatRef<'a, f32>,
    r0: usize,
    rows: usize,
    /// `rows` rounded up to `MR`.
    mpad: usize,
    /// f32 rows, `[mpad / MR][d_in][MR]`.
    af: Vec<f32>,
    /// bf16 pairs, `[mpad / MR][dp][MR]`.
    ab: Vec<u32>,
    /// `mpad × NB` product tile.
    tile: Vec<f32>,
}

impl<'a> Task<'a> {
    /// Rows `r0 .. r0 + rows` of `x` on the encoder's own path.
    pub(super) fn new(enc: &PackedEncoder, x: &MatRef<'a, f32>, r0: usize, rows: usize) -> Self {
        Self::with_kind(enc, x, r0, rows, enc.path)
    }

    fn with_kind(
        enc: &PackedEncoder,
        x: &MatRef<'a, f32>,
        r0: usize,
        rows: usize,
        kind: EncoderPath,
    ) -> Self {
        // AMX computes 32-row blocks (two 16-row A tiles); the AVX2 kernel 6-row panels.
        let mr = match kind {
            EncoderPath::AmxBf16 => 32,
            EncoderPath::Avx2F32 => MR_AVX2,
            _ => MR,
        };
        let mpad = rows.div_ceil(mr) * mr;
        let d_in = enc.d_in;
        let mut t = Task {
            kind,
            x: *x,
            r0,
            rows,
            mpad,
            af: Vec::new(),
            ab: Vec::new(),
            tile: vec![0.0; mpad * NB],
        };
        match kind {
            EncoderPath::Avx512F32 => {
                t.af = vec![0.0; mpad * d_in];
                for i in 0..rows {
                    let (ir, r) = (i / MR, i % MR);
                    let dst = &mut t.af[ir * d_in * MR..(ir + 1) * d_in * MR];
                    for (p, &v) in x.row(r0 + i).iter().enumerate() {
                        dst[p * MR + r] = v;
                    }
                }
            }
            EncoderPath::Avx2F32 => {
                t.af = vec![0.0; mpad * d_in];
                for i in 0..rows {
                    let (ir, r) = (i / MR_AVX2, i % MR_AVX2);
                    let dst = &mut t.af[ir * d_in * MR_AVX2..(ir + 1) * d_in * MR_AVX2];
                    for (p, &v) in x.row(r0 + i).iter().enumerate() {
                        dst[p * MR_AVX2 + r] = v;
                    }
                }
            }
            EncoderPath::Avx512Bf16 => {
                let dp = d_in_pairs(d_in);
                t.ab = vec![0; mpad * dp];
                for i in 0..rows {
                    let (ir, r) = (i / MR, i % MR);
                    let dst = &mut t.ab[ir * dp * MR..(ir + 1) * dp * MR];
                    let row = x.row(r0 + i);
                    for pp in 0..dp {
                        let g = |p: usize| row.get(p).map_or(0, |&v| bf16_bits(v));
                        dst[pp * MR + r] = g(2 * pp) as u32 | (g(2 * pp + 1) as u32) << 16;
                    }
                }
            }
            EncoderPath::AmxBf16 => {
                // Row-major bf16 pairs `[mpad][dp]` (the A-tile layout).
                let dp = d_in_pairs(d_in);
                t.ab = vec![0; mpad * dp];
                for i in 0..rows {
                    let dst = &mut t.ab[i * dp..(i + 1) * dp];
                    let row = x.row(r0 + i);
                    for (pp, o) in dst.iter_mut().enumerate() {
                        let g = |p: usize| row.get(p).map_or(0, |&v| bf16_bits(v));
                        *o = g(2 * pp) as u32 | (g(2 * pp + 1) as u32) << 16;
                    }
                }
            }
            EncoderPath::Scalar | EncoderPath::ScalarBf16 => {}
        }
        t
    }

    /// Calls `f(i, j0, acc)` for every row `i < rows` of the task and every latent block, in
    /// increasing `j0`; `acc[c]` is the product (no bias) at latent `j0 + c`.
    pub(super) fn for_each_tile(
        &mut self,
        enc: &PackedEncoder,
        mut f: impl FnMut(usize, usize, &[f32]),
    ) {
        let np = panels(enc.d_sae);
        let step = NB / NR;
        let mut q0 = 0;
        while q0 < np {
            let npb = step.min(np - q0);
            let j0 = q0 * NR;
            let valid = (npb * NR).min(enc.d_sae - j0);
            self.compute(enc, q0, npb, valid);
            for i in 0..self.rows {
                f(i, j0, &self.tile[i * NB..i * NB + valid]);
            }
            q0 += npb;
        }
    }

    /// Tile rows `0..mpad` × panels `q0 .. q0 + npb` into `self.tile` (row stride `NB`).
    fn compute(&mut self, enc: &PackedEncoder, q0: usize, npb: usize, valid: usize) {
        let d_in = enc.d_in;
        match self.kind {
            EncoderPath::Scalar => {
                // Per row and panel, 32 independent chains advanced together over `p` (the
                // panel is k-major), so the inner loop is contiguous and vectorisable with
                // per-lane fused multiply-adds; each element is still one sequential chain.
                for i in 0..self.rows {
                    let xr = self.x.row(self.r0 + i);
                    for qq in 0..npb {
                        let q = q0 + qq;
                        let panel = &enc.wf[q * NR * d_in..(q + 1) * NR * d_in];
                        let mut acc = [0.0f32; NR];
                        for (&xv, wp) in xr.iter().zip(panel.chunks_exact(NR)) {
                            for (a, &w) in acc.iter_mut().zip(wp) {
                                *a = fma_f32(xv, w, *a);
                            }
                        }
                        let c0 = qq * NR;
                        let m = NR.min(valid - c0);
                        self.tile[i * NB + c0..i * NB + c0 + m].copy_from_slice(&acc[..m]);
                    }
                }
            }
            EncoderPath::ScalarBf16 => {
                let dp = d_in_pairs(d_in);
                for i in 0..self.rows {
                    let xr = self.x.row(self.r0 + i);
                    let xb: Vec<(f32, f32)> = (0..dp)
                        .map(|pp| {
                            let g = |p: usize| {
                                f32::from_bits(
                                    (xr.get(p).map_or(0, |&v| bf16_bits(v)) as u32) << 16,
                                )
                            };
                            (g(2 * pp), g(2 * pp + 1))
                        })
                        .collect();
                    for c in 0..valid {
                        let (q, l) = (q0 + c / NR, c % NR);
                        let panel = &enc.wb[q * NR * dp..(q + 1) * NR * dp];
                        let mut acc = 0.0f32;
                        for (pp, &(x0, x1)) in xb.iter().enumerate() {
                            let w = panel[pp * NR + l];
                            let w0 = f32::from_bits(w << 16);
                            let w1 = f32::from_bits(w & 0xffff_0000);
                            // `vdpbf16ps` order: odd element first; bf16 products are exact in f32.
                            acc += x1 * w1;
                            acc += x0 * w0;
                        }
                        self.tile[i * NB + c] = acc;
                    }
                }
            }
            EncoderPath::Avx512F32 => {
                #[cfg(all(target_arch = "x86_64", sparsekit_avx512))]
                // SAFETY: this kind is only chosen when `has_avx512f()` held (the path is checked
                // available at `PackedEncoder::with_path`); `af` is `mpad × d_in`, `wf` holds
                // every panel `q0 .. q0 + npb` (`d_in × NR` each), `tile` is `mpad × NB` and
                // `npb · NR ≤ NB`.
                unsafe {
                    x86::tile_f32(
                        d_in,
                        self.mpad,
                        npb,
                        self.af.as_ptr(),
                        enc.wf.as_ptr().add(q0 * NR * d_in),
                        self.tile.as_mut_ptr(),
                    )
                }
                let _ = (q0, npb);
            }
            EncoderPath::Avx2F32 => {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: this kind is only chosen when `has_avx2_fma()` held (checked at
                // `PackedEncoder::with_path`); `af` is `mpad × d_in` with `mpad % MR_AVX2 == 0`,
                // `wf` holds every panel `q0 .. q0 + npb` (`d_in × NR` each), `tile` is
                // `mpad × NB` and `npb · NR ≤ NB`.
                unsafe {
                    avx2::tile_f32(
                        d_in,
                        self.mpad,
                        npb,
                        self.af.as_ptr(),
                        enc.wf.as_ptr().add(q0 * NR * d_in),
                        self.tile.as_mut_ptr(),
                    )
                }
                let _ = (q0, npb);
            }
            EncoderPath::Avx512Bf16 => {
                let dp = d_in_pairs(d_in);
                #[cfg(all(target_arch = "x86_64", sparsekit_avx512))]
                // SAFETY: as for `tile_f32`, with `has_avx512bf16()` checked at construction;
                // `ab` is `mpad × dp`, `wb` holds panels `q0 .. q0 + npb` (`dp × NR` each).
                unsafe {
                    x86::tile_bf16(
                        dp,
                        self.mpad,
                        npb,
                        self.ab.as_ptr(),
                        enc.wb.as_ptr().add(q0 * NR * dp),
                        self.tile.as_mut_ptr(),
                    )
                }
                let _ = (q0, npb, dp);
            }
            EncoderPath::AmxBf16 => {
                let dp = d_in_pairs(d_in);
                #[cfg(all(target_arch = "x86_64", sparsekit_avx512))]
                // SAFETY: `has_amx_bf16()` held at construction (CPU flags and the kernel's
                // XTILEDATA permission); `ab` is `mpad × dp` with `mpad % 32 == 0` and
                // `dp % 16 == 0`, `wb` holds panels `q0 .. q0 + npb`, `tile` is `mpad × NB`.
                unsafe {
                    amx::tile_amx(
                        dp,
                        self.mpad,
                        npb,
                        self.ab.as_ptr(),
                        enc.wb.as_ptr().add(q0 * NR * dp),
                        self.tile.as_mut_ptr(),
                    )
                }
                let _ = (q0, npb, dp);
            }
        }
    }
}

/// `a·b + c` rounded once to f32, bit-identical to `f32::mul_add`. Where the build target has
/// hardware FMA (or is not x86_64) it is `mul_add`; on the x86_64 baseline (no FMA, where
/// `mul_add` is a `fmaf` library call per element) it is computed in f64: the product is exact
/// (24 + 24 ≤ 53 bits), the sum is rounded to odd (round to nearest, then TwoSum's exact error
/// decides the odd neighbour), and since 53 ≥ 2·24 + 2, rounding that to f32 (nearest even) is
/// the correctly rounded `a·b + c` (Boldo–Melquiond), subnormal and overflowing results
/// included. Inf / NaN operands give `s` non-finite and skip the adjustment.
#[inline(always)]
pub(super) fn fma_f32(a: f32, b: f32, c: f32) -> f32 {
    #[cfg(all(target_arch = "x86_64", not(target_feature = "fma")))]
    {
        let p = a as f64 * b as f64;
        let c = c as f64;
        let s = p + c;
        let bb = s - p;
        let err = (p - (s - bb)) + (c - bb);
        let bits = s.to_bits();
        // Round to odd: truncate toward zero (one step down in magnitude when the exact value
        // is below `|s|`), then set the last bit, when inexact. `s == 0` is always exact.
        let inexact = err != 0.0 && s.is_finite();
        let down = (err.is_sign_negative() != s.is_sign_negative()) as u64;
        let odd = if inexact { (bits - down) | 1 } else { bits };
        f64::from_bits(odd) as f32
    }
    #[cfg(not(all(target_arch = "x86_64", not(target_feature = "fma"))))]
    {
        a.mul_add(b, c)
    }
}

/// Which bias / threshold-scan epilogue an encoder's path may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Epilogue {
    /// Portable loops.
    Scalar,
    /// 8-lane AVX compares ([`avx2::add_bias`], [`avx2::scan_above`]).
    Avx2,
    /// 16-lane AVX-512 compares (`x86::add_bias`, `x86::scan_above`).
    Avx512,
}

/// The epilogue for `enc`: the vector width its path's CPU features guarantee.
pub(super) fn epilogue(enc: &PackedEncoder) -> Epilogue {
    match enc.path {
        EncoderPath::Avx512F32 | EncoderPath::Avx512Bf16 | EncoderPath::AmxBf16 => Epilogue::Avx512,
        EncoderPath::Avx2F32 => Epilogue::Avx2,
        EncoderPath::Scalar | EncoderPath::ScalarBf16 => Epilogue::Scalar,
    }
}

/// `dst[c] = acc[c] + bias[c]` (one f32 add per element on every epilogue).
pub(super) fn add_bias(epi: Epilogue, dst: &mut [f32], acc: &[f32], bias: &[f32]) {
    match epi {
        #[cfg(all(target_arch = "x86_64", sparsekit_avx512))]
        // SAFETY: `Epilogue::Avx512` only for paths that need avx512f (checked available).
        Epilogue::Avx512 => unsafe { x86::add_bias(dst, acc, bias) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Epilogue::Avx2` only for `Avx2F32` (avx2 + fma checked available).
        Epilogue::Avx2 => unsafe { avx2::add_bias(dst, acc, bias) },
        _ => {
            for ((o, &v), &b) in dst.iter_mut().zip(acc).zip(bias) {
                *o = v + b;
            }
        }
    }
}

/// For `c` in increasing order, calls `f(c, v)` with `v = acc[c] + bias[c]` whenever
/// `!(v <= thr)` (greater, or NaN on either side); `f` returns the new `thr`.
pub(super) fn scan_above(
    epi: Epilogue,
    acc: &[f32],
    bias: &[f32],
    thr: f32,
    f: impl FnMut(usize, f32) -> f32,
) {
    match epi {
        #[cfg(all(target_arch = "x86_64", sparsekit_avx512))]
        // SAFETY: as in `add_bias`.
        Epilogue::Avx512 => unsafe { x86::scan_above(acc, bias, thr, f) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `add_bias`.
        Epilogue::Avx2 => unsafe { avx2::scan_above(acc, bias, thr, f) },
        _ => scan_above_scalar(acc, bias, 0, thr, f),
    }
}

/// `!(v <= thr)`: greater, or NaN on either side.
#[inline(always)]
fn above(v: f32, thr: f32) -> bool {
    !matches!(
        v.partial_cmp(&thr),
        Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
    )
}

/// The portable `scan_above` (also the vector versions' tail, from column `c0`).
#[inline(always)]
fn scan_above_scalar(
    acc: &[f32],
    bias: &[f32],
    c0: usize,
    mut thr: f32,
    mut f: impl FnMut(usize, f32) -> f32,
) {
    let n = acc.len().min(bias.len());
    for c in c0..n {
        let v = acc[c] + bias[c];
        if above(v, thr) {
            thr = f(c, v);
        }
    }
}

/// `out[c] = x · w_{idx[c]} + b_{idx[c]}` with the F32 path's fma chain (bit-identical to it).
pub(super) fn exact_values(
    enc: &PackedEncoder,
    xr: &[f32],
    bias: &[f32],
    idx: &[u32],
    out: &mut [f32],
) {
    #[cfg(all(target_arch = "x86_64", sparsekit_avx512))]
    if matches!(enc.path, EncoderPath::Avx512Bf16 | EncoderPath::AmxBf16)
        && enc.wf.len() <= i32::MAX as usize
    {
        // SAFETY: avx512f was detected (the path is available); `wf` is the row-major copy and
        // every gathered offset is `j·d_in + p < wf.len()` for `j < d_sae`, `p < d_in`, and fits
        // i32 (checked above).
        unsafe { x86::gather_exact(enc, xr, idx, out) };
        for (o, &j) in out.iter_mut().zip(idx) {
            *o += bias[j as usize];
        }
        return;
    }
    for (o, &j) in out.iter_mut().zip(idx) {
        *o = super::exact_one(enc, xr, bias, j as usize);
    }
}

/// AVX2 + FMA f32 kernels (stable intrinsics on the MSRV; for CPUs without AVX-512, AMD CPUs
/// where `Isa::detect` prefers 256-bit code, and `SPARSEKIT_ISA=avx2`).
#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use super::super::{NB, NR};
    use super::{kc_for, MR_AVX2};
    use std::arch::x86_64::*;

    /// `C[0..6, 0..16] (+)= A·B` over `kc` steps: `a` is `[kc][6]`, `b` is `[kc][16 of NR]` (row
    /// stride `NR`: one half of a 32-latent panel), `c` has row stride `NB`; `first` starts from
    /// zero instead of loading `c`. 12 accumulators, 2 loads of `W` + 6 broadcasts per step.
    #[inline(always)]
    unsafe fn kern(kc: usize, a: *const f32, b: *const f32, c: *mut f32, first: bool) {
        // SAFETY: the caller guarantees `a` (kc·MR_AVX2), `b` (kc rows of NR, 16 columns) and
        // `c` (MR_AVX2 rows of NB, 16 columns) are in bounds; avx2 + fma are enabled by the
        // enclosing target_feature function.
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); 2]; MR_AVX2];
            if !first {
                for (r, a2) in acc.iter_mut().enumerate() {
                    a2[0] = _mm256_loadu_ps(c.add(r * NB));
                    a2[1] = _mm256_loadu_ps(c.add(r * NB + 8));
                }
            }
            for p in 0..kc {
                let b0 = _mm256_loadu_ps(b.add(p * NR));
                let b1 = _mm256_loadu_ps(b.add(p * NR + 8));
                let ap = a.add(p * MR_AVX2);
                for (r, a2) in acc.iter_mut().enumerate() {
                    let av = _mm256_broadcast_ss(&*ap.add(r));
                    a2[0] = _mm256_fmadd_ps(av, b0, a2[0]);
                    a2[1] = _mm256_fmadd_ps(av, b1, a2[1]);
                }
            }
            for (r, a2) in acc.iter().enumerate() {
                _mm256_storeu_ps(c.add(r * NB), a2[0]);
                _mm256_storeu_ps(c.add(r * NB + 8), a2[1]);
            }
        }
    }

    /// The f32 tile: `mpad` rows (packed `a`, `[mpad/6][d_in][6]`) × `npb` panels (`w`, each
    /// `[d_in][NR]`, the layout shared with AVX-512) into `tile` (`mpad × NB`). Each element is
    /// one fma chain over `p` (depth chunks store and reload the exact f32 partial), the scalar
    /// twin's order.
    #[target_feature(enable = "avx2,fma")]
    pub(in crate::sae) unsafe fn tile_f32(
        d_in: usize,
        mpad: usize,
        npb: usize,
        a: *const f32,
        w: *const f32,
        tile: *mut f32,
    ) {
        // SAFETY: bounds per the caller's contract (see `Task::compute`).
        unsafe {
            if d_in == 0 {
                for i in 0..mpad * NB {
                    *tile.add(i) = 0.0;
                }
                return;
            }
            let kc = kc_for(d_in);
            let mut pc = 0;
            while pc < d_in {
                let kcl = kc.min(d_in - pc);
                for q in 0..npb {
                    let bp = w.add(q * NR * d_in + pc * NR);
                    for ir in 0..mpad / MR_AVX2 {
                        let ap = a.add(ir * d_in * MR_AVX2 + pc * MR_AVX2);
                        let cp = tile.add(ir * MR_AVX2 * NB + q * NR);
                        kern(kcl, ap, bp, cp, pc == 0);
                        kern(kcl, ap, bp.add(16), cp.add(16), pc == 0);
                    }
                }
                pc += kcl;
            }
        }
    }

    /// `dst[c] = acc[c] + bias[c]` (same f32 add as the scalar epilogue).
    #[target_feature(enable = "avx2,fma")]
    pub(in crate::sae) unsafe fn add_bias(dst: &mut [f32], acc: &[f32], bias: &[f32]) {
        let n = dst.len().min(acc.len()).min(bias.len());
        let mut c = 0;
        // SAFETY: every access is below `n`, within all three slices; avx enabled.
        unsafe {
            while c + 8 <= n {
                let v = _mm256_add_ps(
                    _mm256_loadu_ps(acc.as_ptr().add(c)),
                    _mm256_loadu_ps(bias.as_ptr().add(c)),
                );
                _mm256_storeu_ps(dst.as_mut_ptr().add(c), v);
                c += 8;
            }
        }
        for c in c..n {
            dst[c] = acc[c] + bias[c];
        }
    }

    /// `super::scan_above` with 8-lane compares: calls `f(c, v)`, `v = acc[c] + bias[c]`, for
    /// `c` in increasing order whenever `!(v <= thr)`; `f` returns the new `thr`.
    #[target_feature(enable = "avx2,fma")]
    pub(in crate::sae) unsafe fn scan_above(
        acc: &[f32],
        bias: &[f32],
        mut thr: f32,
        mut f: impl FnMut(usize, f32) -> f32,
    ) {
        let n = acc.len().min(bias.len());
        let mut c = 0;
        let mut tmp = [0.0f32; 8];
        while c + 8 <= n {
            // SAFETY: `c + 8 ≤ n`, within both slices; avx enabled.
            let mut m = unsafe {
                let v = _mm256_add_ps(
                    _mm256_loadu_ps(acc.as_ptr().add(c)),
                    _mm256_loadu_ps(bias.as_ptr().add(c)),
                );
                let m = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_NLE_UQ>(v, _mm256_set1_ps(thr)));
                if m != 0 {
                    _mm256_storeu_ps(tmp.as_mut_ptr(), v);
                }
                m as u32
            };
            while m != 0 {
                let l = m.trailing_zeros() as usize;
                let v = tmp[l];
                // `thr` may have risen since the compare: re-test.
                if super::above(v, thr) {
                    thr = f(c + l, v);
                }
                m &= m - 1;
            }
            c += 8;
        }
        super::scan_above_scalar(acc, bias, c, thr, f);
    }
}

// Compiled only with Rust >= 1.89 (build.rs), where these intrinsics are stable.
#[cfg(all(target_arch = "x86_64", sparsekit_avx512))]
#[allow(clippy::incompatible_msrv)]
pub(super) mod x86 {
    use super::super::{PackedEncoder, MR, NB, NR};
    use super::kc_for;
    use std::arch::x86_64::*;

    /// `C[0..8, 0..32] (+)= A·B` over `kc` steps: `a` is `[kc][8]`, `b` is `[kc][32]` (row stride
    /// `NR`), `c` has row stride `NB`; `first` starts from zero instead of loading `c`.
    #[inline(always)]
    unsafe fn kern_f32(kc: usize, a: *const f32, b: *const f32, c: *mut f32, first: bool) {
        // SAFETY: the caller guarantees `a` (kc·MR), `b` (kc·NR) and `c` (MR rows of NB, 32
        // columns) are in bounds; avx512f is enabled by the enclosing target_feature function.
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); 2]; MR];
            if !first {
                for (r, a2) in acc.iter_mut().enumerate() {
                    a2[0] = _mm512_loadu_ps(c.add(r * NB));
                    a2[1] = _mm512_loadu_ps(c.add(r * NB + 16));
                }
            }
            for p in 0..kc {
                let b0 = _mm512_loadu_ps(b.add(p * NR));
                let b1 = _mm512_loadu_ps(b.add(p * NR + 16));
                let ap = a.add(p * MR);
                for (r, a2) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*ap.add(r));
                    a2[0] = _mm512_fmadd_ps(av, b0, a2[0]);
                    a2[1] = _mm512_fmadd_ps(av, b1, a2[1]);
                }
            }
            for (r, a2) in acc.iter().enumerate() {
                _mm512_storeu_ps(c.add(r * NB), a2[0]);
                _mm512_storeu_ps(c.add(r * NB + 16), a2[1]);
            }
        }
    }

    /// The f32 tile: `mpad` rows (packed `a`, `[mpad/MR][d_in][MR]`) × `npb` panels (`w`, each
    /// `[d_in][NR]`) into `tile` (`mpad × NB`).
    #[target_feature(enable = "avx2,fma,avx512f")]
    pub(super) unsafe fn tile_f32(
        d_in: usize,
        mpad: usize,
        npb: usize,
        a: *const f32,
        w: *const f32,
        tile: *mut f32,
    ) {
        // SAFETY: bounds per the caller's contract (see `Task::compute`).
        unsafe {
            if d_in == 0 {
                for i in 0..mpad * NB {
                    *tile.add(i) = 0.0;
                }
                return;
            }
            let kc = kc_for(d_in);
            let mut pc = 0;
            while pc < d_in {
                let kcl = kc.min(d_in - pc);
                for q in 0..npb {
                    let bp = w.add(q * NR * d_in + pc * NR);
                    for ir in 0..mpad / MR {
                        let ap = a.add(ir * d_in * MR + pc * MR);
                        let cp = tile.add(ir * MR * NB + q * NR);
                        kern_f32(kcl, ap, bp, cp, pc == 0);
                    }
                }
                pc += kcl;
            }
        }
    }

    /// As `kern_f32` over bf16 pairs with `vdpbf16ps`: `a` is `[kc][8]` pairs, `b` `[kc][32]`.
    #[inline(always)]
    unsafe fn kern_bf16(kc: usize, a: *const u32, b: *const u32, c: *mut f32, first: bool) {
        // SAFETY: as `kern_f32`; avx512bf16 is enabled by the enclosing function.
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); 2]; MR];
            if !first {
                for (r, a2) in acc.iter_mut().enumerate() {
                    a2[0] = _mm512_loadu_ps(c.add(r * NB));
                    a2[1] = _mm512_loadu_ps(c.add(r * NB + 16));
                }
            }
            for p in 0..kc {
                let b0: __m512bh =
                    std::mem::transmute(_mm512_loadu_si512(b.add(p * NR) as *const __m512i));
                let b1: __m512bh =
                    std::mem::transmute(_mm512_loadu_si512(b.add(p * NR + 16) as *const __m512i));
                let ap = a.add(p * MR);
                for (r, a2) in acc.iter_mut().enumerate() {
                    let av: __m512bh = std::mem::transmute(_mm512_set1_epi32(*ap.add(r) as i32));
                    a2[0] = _mm512_dpbf16_ps(a2[0], av, b0);
                    a2[1] = _mm512_dpbf16_ps(a2[1], av, b1);
                }
            }
            for (r, a2) in acc.iter().enumerate() {
                _mm512_storeu_ps(c.add(r * NB), a2[0]);
                _mm512_storeu_ps(c.add(r * NB + 16), a2[1]);
            }
        }
    }

    /// The bf16 tile: as `tile_f32` over `dp` pairs.
    #[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512bf16")]
    pub(super) unsafe fn tile_bf16(
        dp: usize,
        mpad: usize,
        npb: usize,
        a: *const u32,
        w: *const u32,
        tile: *mut f32,
    ) {
        // SAFETY: bounds per the caller's contract (see `Task::compute`).
        unsafe {
            if dp == 0 {
                for i in 0..mpad * NB {
                    *tile.add(i) = 0.0;
                }
                return;
            }
            let kc = kc_for(dp);
            let mut pc = 0;
            while pc < dp {
                let kcl = kc.min(dp - pc);
                for q in 0..npb {
                    let bp = w.add(q * NR * dp + pc * NR);
                    for ir in 0..mpad / MR {
                        let ap = a.add(ir * dp * MR + pc * MR);
                        let cp = tile.add(ir * MR * NB + q * NR);
                        kern_bf16(kcl, ap, bp, cp, pc == 0);
                    }
                }
                pc += kcl;
            }
        }
    }

    /// `dst[c] = acc[c] + bias[c]` (same f32 add as the scalar epilogue).
    #[target_feature(enable = "avx2,fma,avx512f")]
    pub(in crate::sae) unsafe fn add_bias(dst: &mut [f32], acc: &[f32], bias: &[f32]) {
        let n = dst.len().min(acc.len()).min(bias.len());
        let mut c = 0;
        // SAFETY: every access is below `n`, within all three slices; avx512f enabled.
        unsafe {
            while c + 16 <= n {
                let v = _mm512_add_ps(
                    _mm512_loadu_ps(acc.as_ptr().add(c)),
                    _mm512_loadu_ps(bias.as_ptr().add(c)),
                );
                _mm512_storeu_ps(dst.as_mut_ptr().add(c), v);
                c += 16;
            }
        }
        for c in c..n {
            dst[c] = acc[c] + bias[c];
        }
    }

    /// For `c` in increasing order, calls `f(c, v)` with `v = acc[c] + bias[c]` whenever
    /// `!(v <= thr)` (greater, or NaN on either side); `f` returns the new `thr`. Skips 16 lanes
    /// per compare.
    #[target_feature(enable = "avx2,fma,avx512f")]
    pub(in crate::sae) unsafe fn scan_above(
        acc: &[f32],
        bias: &[f32],
        mut thr: f32,
        mut f: impl FnMut(usize, f32) -> f32,
    ) {
        let n = acc.len().min(bias.len());
        let mut c = 0;
        let mut tmp = [0.0f32; 16];
        while c + 16 <= n {
            // SAFETY: `c + 16 ≤ n`, within both slices; avx512f enabled.
            let m = unsafe {
                let v = _mm512_add_ps(
                    _mm512_loadu_ps(acc.as_ptr().add(c)),
                    _mm512_loadu_ps(bias.as_ptr().add(c)),
                );
                let m = _mm512_cmp_ps_mask::<_CMP_NLE_UQ>(v, _mm512_set1_ps(thr));
                if m != 0 {
                    _mm512_storeu_ps(tmp.as_mut_ptr(), v);
                }
                m
            };
            let mut m = m as u32;
            while m != 0 {
                let l = m.trailing_zeros() as usize;
                let v = tmp[l];
                // `thr` may have risen since the compare: re-test.
                if v.partial_cmp(&thr) != Some(std::cmp::Ordering::Less)
                    && v.partial_cmp(&thr) != Some(std::cmp::Ordering::Equal)
                {
                    thr = f(c + l, v);
                }
                m &= m - 1;
            }
            c += 16;
        }
        for c in c..n {
            let v = acc[c] + bias[c];
            if v.partial_cmp(&thr) != Some(std::cmp::Ordering::Less)
                && v.partial_cmp(&thr) != Some(std::cmp::Ordering::Equal)
            {
                thr = f(c, v);
            }
        }
    }

    /// `out[c] = x · w_{idx[c]}` by 16-lane gathers from the row-major f32 copy, one sequential
    /// fma chain per lane (bit-identical to the f32 kernels).
    #[target_feature(enable = "avx2,fma,avx512f")]
    pub(super) unsafe fn gather_exact(
        enc: &PackedEncoder,
        xr: &[f32],
        idx: &[u32],
        out: &mut [f32],
    ) {
        let d_in = enc.d_in;
        let base = |j: u32| (j as usize * d_in) as i32;
        let wf = enc.wf.as_ptr();
        let mut c0 = 0;
        while c0 < idx.len() {
            let m = 16.min(idx.len() - c0);
            let mut offs = [0i32; 16];
            for (l, o) in offs.iter_mut().enumerate() {
                *o = base(idx[c0 + l.min(m - 1)]);
            }
            // SAFETY: offsets are in bounds of `wf` (caller), avx512f enabled.
            unsafe {
                let mut vo = _mm512_loadu_si512(offs.as_ptr() as *const __m512i);
                let step = _mm512_set1_epi32(1);
                let mut acc = _mm512_setzero_ps();
                for &xv in xr {
                    let g = _mm512_i32gather_ps::<4>(vo, wf);
                    acc = _mm512_fmadd_ps(_mm512_set1_ps(xv), g, acc);
                    vo = _mm512_add_epi32(vo, step);
                }
                let mut res = [0.0f32; 16];
                _mm512_storeu_ps(res.as_mut_ptr(), acc);
                out[c0..c0 + m].copy_from_slice(&res[..m]);
            }
            c0 += m;
        }
    }
}

#[cfg(all(target_arch = "x86_64", sparsekit_avx512))]
mod amx {
    use super::super::{NB, NR};
    use crate::amx::{tile_release, TileCfg};
    use std::arch::asm;

    /// The AMX tile: `mpad` rows (`a`, row-major bf16 pairs `[mpad][dp]`) × `npb` panels (`w`, each
    /// `[dp][NR]` pairs) into `tile` (`mpad × NB`). Per 32 × 32 block: C in tmm0..3 (2 × 2 tiles of
    /// 16 × 16 f32), A rows in tmm4/5 (16 rows × 16 pairs), W in tmm6/7 (16 pairs × 16 latents,
    /// VNNI layout = the panel's first / second 64 bytes per pair row).
    ///
    /// Safety: AMX permission granted, `mpad % 32 == 0`, `dp % 16 == 0`, pointers as described.
    #[target_feature(enable = "avx2,fma,avx512f")]
    pub(super) unsafe fn tile_amx(
        dp: usize,
        mpad: usize,
        npb: usize,
        a: *const u32,
        w: *const u32,
        tile: *mut f32,
    ) {
        // SAFETY: bounds per the contract above; every tileloadd reads 16 rows of 64 bytes at
        // the given stride inside `a` / `w`, every tilestored writes 16 rows of 64 bytes inside
        // `tile` (row stride NB floats, columns q·NR .. q·NR + 32 ≤ NB).
        unsafe {
            if dp == 0 {
                for i in 0..mpad * NB {
                    *tile.add(i) = 0.0;
                }
                return;
            }
            TileCfg::full().load();
            let sa = dp * 4;
            let sb = NR * 4;
            let sc = NB * 4;
            for q in 0..npb {
                let bp = w.add(q * NR * dp);
                let mut ir = 0;
                while ir < mpad {
                    asm!(
                        "tilezero tmm0",
                        "tilezero tmm1",
                        "tilezero tmm2",
                        "tilezero tmm3",
                        options(nostack, nomem)
                    );
                    let a0 = a.add(ir * dp);
                    let a1 = a.add((ir + 16) * dp);
                    let mut kk = 0;
                    while kk < dp {
                        asm!(
                            "tileloadd tmm4, [{a0} + {sa}*1]",
                            "tileloadd tmm5, [{a1} + {sa}*1]",
                            "tileloadd tmm6, [{b0} + {sb}*1]",
                            "tileloadd tmm7, [{b1} + {sb}*1]",
                            "tdpbf16ps tmm0, tmm4, tmm6",
                            "tdpbf16ps tmm1, tmm4, tmm7",
                            "tdpbf16ps tmm2, tmm5, tmm6",
                            "tdpbf16ps tmm3, tmm5, tmm7",
                            a0 = in(reg) a0.add(kk),
                            a1 = in(reg) a1.add(kk),
                            sa = in(reg) sa,
                            b0 = in(reg) bp.add(kk * NR),
                            b1 = in(reg) bp.add(kk * NR + 16),
                            sb = in(reg) sb,
                            options(nostack, readonly),
                        );
                        kk += 16;
                    }
                    let c = tile.add(ir * NB + q * NR);
                    asm!(
                        "tilestored [{c0} + {sc}*1], tmm0",
                        "tilestored [{c1} + {sc}*1], tmm1",
                        "tilestored [{c2} + {sc}*1], tmm2",
                        "tilestored [{c3} + {sc}*1], tmm3",
                        c0 = in(reg) c,
                        c1 = in(reg) c.add(16),
                        c2 = in(reg) c.add(16 * NB),
                        c3 = in(reg) c.add(16 * NB + 16),
                        sc = in(reg) sc,
                        options(nostack),
                    );
                    ir += 32;
                }
            }
            tile_release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fma_f32;

    /// `fma_f32` against `f32::mul_add` (correctly rounded: libm `fmaf` or the instruction):
    /// random operands over the whole exponent range, cancellation, subnormals, overflow,
    /// signed zeros, Inf and NaN.
    #[test]
    fn fma_f32_matches_mul_add() {
        let mut st = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            st ^= st << 13;
            st ^= st >> 7;
            st ^= st << 17;
            st
        };
        let same = |a: f32, b: f32, c: f32| {
            let (g, w) = (fma_f32(a, b, c), a.mul_add(b, c));
            assert!(
                g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                "fma({a:e}, {b:e}, {c:e}) = {g:e}, want {w:e}"
            );
        };
        let specials = [
            0.0f32,
            -0.0,
            1.0,
            -1.0,
            f32::MIN_POSITIVE,
            1e-45,
            -1e-45,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1.0 + f32::EPSILON,
            1.0 - f32::EPSILON / 2.0,
        ];
        for &a in &specials {
            for &b in &specials {
                for &c in &specials {
                    same(a, b, c);
                }
            }
        }
        // Double-rounding traps: a·b = 2⁻²⁴(1 − k²2⁻⁴⁶) (a = 1 + k2⁻²³, b = 2⁻²⁴(1 − k2⁻²³)), so
        // c + a·b (c ∈ [1, 2), ulp 2⁻²³) lies a hair below the midpoint above c: correct is c,
        // while rounding to f64 first lands on the midpoint (ties to even: c + ulp for odd c).
        // Scaled by powers of two and signs.
        same(
            1.0 + 2f32.powi(-23),
            2f32.powi(-24) * (1.0 - 2f32.powi(-23)),
            1.0 + 2f32.powi(-23),
        );
        for _ in 0..200_000 {
            let r = next();
            let k = (r % 2048 + 1) as f32;
            let m = ((r >> 11) % (1 << 23)) as f32;
            let (e1, e2) = (((r >> 40) % 60) as i32 - 30, ((r >> 50) % 60) as i32 - 30);
            let sg = if (r >> 63) == 1 { -1.0 } else { 1.0 };
            let a = (1.0 + k * 2f32.powi(-23)) * 2f32.powi(e1);
            let b = 2f32.powi(-24) * (1.0 - k * 2f32.powi(-23)) * 2f32.powi(e2) * sg;
            let c = (1.0 + m * 2f32.powi(-23)) * 2f32.powi(e1 + e2) * sg;
            same(a, b, c);
            same(-a, b, -c);
        }
        for i in 0..4_000_000u32 {
            let r = next();
            let (a, b) = (f32::from_bits(r as u32), f32::from_bits((r >> 32) as u32));
            let c = match i % 4 {
                // Raw bits: every exponent, subnormals, Inf / NaN.
                0 => f32::from_bits(next() as u32),
                // Near cancellation: c ≈ −a·b, off by a few ulps / a random low part.
                1 => -((a as f64 * b as f64) as f32) * (1.0 + (next() % 7) as f32 * f32::EPSILON),
                2 => {
                    let p = a as f64 * b as f64;
                    -(p as f32) + ((p - (p as f32) as f64) as f32) * (next() % 3) as f32
                }
                // Moderate magnitudes, as in the encoder.
                _ => {
                    let f = |u: u64| (u % 2_000_001) as f32 / 1e6 - 1.0;
                    let (a, b, c) = (f(r), f(r >> 21) * 0.04, f(r >> 42) * 3.0);
                    same(a, b, c);
                    c
                }
            };
            same(a, b, c);
        }
    }
}
