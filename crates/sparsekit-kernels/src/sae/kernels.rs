//! Tile computation of the SAE encoder: per task, pack a block of `x` rows, then produce the
//! `rows × NB` product tiles (no bias) with the path's kernel and hand each tile row to a
//! callback. Scalar twins and AVX-512 (f32 FMA, bf16 `vdpbf16ps`) microkernels.

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

pub(super) fn has_avx512f() -> bool {
    #[cfg(all(target_arch = "x86_64", sparsekit_avx512))]
    {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
    }
    #[cfg(not(all(target_arch = "x86_64", sparsekit_avx512)))]
    {
        false
    }
}

/// AMX-TILE and AMX-BF16 (CPUID leaf 7: EDX bits 24 and 22), AVX-512 BF16 for the rest of the
/// path, and Linux's permission to use the XTILEDATA state (`arch_prctl(ARCH_REQ_XCOMP_PERM,
/// XFEATURE_XTILEDATA)`, asked once per process; a refusal disables the path).
pub(super) fn has_amx_bf16() -> bool {
    #[cfg(all(target_arch = "x86_64", target_os = "linux", sparsekit_avx512))]
    {
        static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *OK.get_or_init(|| {
            if !has_avx512bf16() {
                return false;
            }
            // SAFETY: CPUID leaves 0 and 7 exist on every x86_64 CPU and have no side effects.
            #[allow(unused_unsafe)]
            let (max, l7) = unsafe {
                (
                    std::arch::x86_64::__cpuid(0).eax,
                    std::arch::x86_64::__cpuid_count(7, 0),
                )
            };
            if max < 7 || (l7.edx >> 24) & 1 == 0 || (l7.edx >> 22) & 1 == 0 {
                return false;
            }
            amx::request_permission()
        })
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux", sparsekit_avx512)))]
    {
        false
    }
}

pub(super) fn has_avx512bf16() -> bool {
    #[cfg(all(target_arch = "x86_64", sparsekit_avx512))]
    {
        has_avx512f() && is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(all(target_arch = "x86_64", sparsekit_avx512)))]
    {
        false
    }
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
        // AMX computes 32-row blocks (two 16-row A tiles).
        let mr = if kind == EncoderPath::AmxBf16 { 32 } else { MR };
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
                for i in 0..self.rows {
                    let xr = self.x.row(self.r0 + i);
                    for c in 0..valid {
                        let j = q0 * NR + c;
                        let mut acc = 0.0f32;
                        for (p, &xv) in xr.iter().enumerate() {
                            acc = xv.mul_add(enc.wf_at(j, p), acc);
                        }
                        self.tile[i * NB + c] = acc;
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

/// `out[c] = x · w_{idx[c]} + b_{idx[c]}` with the F32 path's fma chain (bit-identical to it).
/// Whether the AVX-512 epilogues ([`x86::add_bias`], [`x86::scan_above`]) may run for `enc`.
pub(super) fn simd_epilogue(enc: &PackedEncoder) -> bool {
    matches!(
        enc.path,
        EncoderPath::Avx512F32 | EncoderPath::Avx512Bf16 | EncoderPath::AmxBf16
    )
}

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
    use std::arch::asm;

    /// `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`: true when Linux grants this process
    /// the AMX tile data state (returns 0).
    #[cfg(target_os = "linux")]
    pub(super) fn request_permission() -> bool {
        const SYS_ARCH_PRCTL: i64 = 158;
        const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
        const XFEATURE_XTILEDATA: i64 = 18;
        let ret: i64;
        // SAFETY: a plain Linux syscall with integer arguments; it touches no memory of ours.
        // `syscall` clobbers rcx and r11, declared below.
        unsafe {
            asm!(
                "syscall",
                inlateout("rax") SYS_ARCH_PRCTL => ret,
                in("rdi") ARCH_REQ_XCOMP_PERM,
                in("rsi") XFEATURE_XTILEDATA,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret == 0
    }

    /// Palette 1 tile configuration: 64 bytes, `colsb` per tile at 16, `rows` at 48.
    #[repr(C, align(64))]
    struct TileCfg([u8; 64]);

    impl TileCfg {
        /// tmm0..7 all 16 rows × 64 bytes.
        fn full() -> Self {
            let mut c = [0u8; 64];
            c[0] = 1;
            for t in 0..8 {
                c[16 + 2 * t] = 64;
                c[48 + t] = 16;
            }
            TileCfg(c)
        }
    }

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
            let cfg = TileCfg::full();
            asm!("ldtilecfg [{}]", in(reg) cfg.0.as_ptr(), options(nostack, readonly));
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
            asm!("tilerelease", options(nostack, nomem));
        }
    }
}
