//! Runtime SIMD dispatch.
//!
//! Kernels are written once, generic over a tiny `Simd` trait (`#[inline(always)]` methods over
//! one vector register type), and instantiated inside one `#[target_feature]` function per
//! instruction set (`dispatch`). This is the `pulp::WithSimd` pattern written with `std::arch`
//! directly so the register-blocked inner loops stay under precise control (see
//! `docs/kernels.md`).

use std::sync::OnceLock;

use sparsekit_formats::Scalar;

/// An instruction set a kernel can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Portable code (8-wide arrays that LLVM vectorizes for the baseline target). Always available.
    Scalar,
    /// x86_64 AVX2 + FMA (256-bit).
    Avx2,
    /// x86_64 AVX-512F (512-bit, masked tails). Built with Rust ≥ 1.89 (stable intrinsics).
    Avx512,
    /// aarch64 NEON (128-bit).
    Neon,
}

/// Whether the CPU's vendor string is "GenuineIntel" (CPUID leaf 0).
#[cfg(target_arch = "x86_64")]
fn cpu_vendor_is_intel() -> bool {
    // SAFETY: CPUID leaf 0 exists on every x86_64 CPU and has no side effects (the intrinsic is
    // `unsafe` only on older compilers, hence the allow).
    #[allow(unused_unsafe)]
    let r = unsafe { std::arch::x86_64::__cpuid(0) };
    let mut vendor = [0u8; 12];
    vendor[..4].copy_from_slice(&r.ebx.to_le_bytes());
    vendor[4..8].copy_from_slice(&r.edx.to_le_bytes());
    vendor[8..].copy_from_slice(&r.ecx.to_le_bytes());
    &vendor == b"GenuineIntel"
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_vendor_is_intel() -> bool {
    false
}

impl Isa {
    /// The instruction set the kernels use on this CPU (detected once): AVX-512 on Intel CPUs
    /// that have it, else AVX2+FMA when present, else the best available.
    /// `SPARSEKIT_ISA=scalar|avx2|avx512|neon` overrides it when that set is available.
    pub fn detect() -> Isa {
        static BEST: OnceLock<Isa> = OnceLock::new();
        *BEST.get_or_init(|| {
            let avail = Isa::available();
            if let Ok(want) = std::env::var("SPARSEKIT_ISA") {
                if let Some(isa) = avail
                    .iter()
                    .copied()
                    .find(|i| i.name().eq_ignore_ascii_case(want.trim()))
                {
                    return isa;
                }
            }
            // Where both exist, AVX-512 on Intel cores (two full-width FMA ports: spmm +7 %,
            // BSR 16×16 +15 % on a Xeon with AMX) and AVX2 elsewhere (on Zen 4 the 512-bit FMAs
            // are double-pumped and the 256-bit kernels are 5–15 % faster); docs/kernels.md.
            if avail.contains(&Isa::Avx512) && cpu_vendor_is_intel() {
                return Isa::Avx512;
            }
            if avail.contains(&Isa::Avx2) {
                return Isa::Avx2;
            }
            *avail.last().unwrap_or(&Isa::Scalar)
        })
    }

    /// Every instruction set this CPU supports, worst first (always starts with `Scalar`).
    pub fn available() -> Vec<Isa> {
        #[allow(unused_mut)]
        let mut v = vec![Isa::Scalar];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c")
            {
                v.push(Isa::Avx2);
                #[cfg(sparsekit_avx512)]
                if is_x86_feature_detected!("avx512f") {
                    v.push(Isa::Avx512);
                }
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            if std::arch::is_aarch64_feature_detected!("neon") {
                v.push(Isa::Neon);
            }
        }
        v
    }

    /// `"scalar"`, `"avx2"`, `"avx512"` or `"neon"`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }

    /// Whether this CPU supports `self`.
    pub fn is_available(self) -> bool {
        Isa::available().contains(&self)
    }
}

/// One vector register of f32 lanes. Every method is `unsafe` because it may only run on a CPU
/// with the instruction set (guaranteed by [`dispatch`]) and pointer arguments must be valid for
/// the lanes they touch.
pub(crate) trait Simd: Copy {
    const LANES: usize;
    /// Whether the ISA has fused multiply-add, i.e. `f32::mul_add` compiles to one instruction
    /// inside its `#[target_feature]` body (without it, `mul_add` is a slow libm call).
    const FMA: bool = false;
    type V: Copy;
    unsafe fn zero() -> Self::V;
    unsafe fn splat(v: f32) -> Self::V;
    /// `LANES` floats from `p` (unaligned).
    unsafe fn load(p: *const f32) -> Self::V;
    unsafe fn store(p: *mut f32, v: Self::V);
    /// The first `n < LANES` floats from `p`; other lanes zero; reads nothing past `p + n`.
    unsafe fn load_part(p: *const f32, n: usize) -> Self::V;
    /// Writes the first `n < LANES` lanes to `p`; writes nothing past `p + n`.
    unsafe fn store_part(p: *mut f32, n: usize, v: Self::V);
    /// `a * b + c` (fused where the ISA has FMA).
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    /// Sum of all lanes (fixed order).
    unsafe fn hsum(v: Self::V) -> f32;
    /// Prefetch the cache line at `p` into L1 (hint only; may be a no-op).
    #[inline(always)]
    unsafe fn prefetch(_p: *const f32) {}
    /// IEEE binary16 bits to f32 (software by default; F16C on x86).
    #[inline(always)]
    unsafe fn f16_to_f32(bits: u16) -> f32 {
        f16_to_f32_soft(bits)
    }
    /// `2·LANES` bf16 values (raw bits) from `p`, widened to f32 and split into the even and the
    /// odd elements: `(x[0], x[2], …)`, `(x[1], x[3], …)`. On x86 one shift and one mask per
    /// `2·LANES` values, where [`Simd::load_bf16`] costs a zero-extend and a shift per `LANES`.
    #[inline(always)]
    unsafe fn load_bf16_split(p: *const u16) -> (Self::V, Self::V) {
        let (mut e, mut o) = ([0.0f32; 16], [0.0f32; 16]);
        for i in 0..Self::LANES {
            // SAFETY: p .. p + 2·LANES is readable (caller contract).
            let (a, b) = unsafe { (*p.add(2 * i), *p.add(2 * i + 1)) };
            e[i] = f32::from_bits((a as u32) << 16);
            o[i] = f32::from_bits((b as u32) << 16);
        }
        // SAFETY: e, o hold 16 >= LANES floats.
        unsafe { (Self::load(e.as_ptr()), Self::load(o.as_ptr())) }
    }
    /// Undoes [`Simd::load_bf16_split`]'s order: `(even, odd)` lanes back to elements
    /// `0..LANES` and `LANES..2·LANES`.
    #[inline(always)]
    unsafe fn merge_split(even: Self::V, odd: Self::V) -> (Self::V, Self::V) {
        let (mut e, mut o, mut out) = ([0.0f32; 16], [0.0f32; 16], [0.0f32; 32]);
        // SAFETY: the arrays hold 16 >= LANES (32 >= 2·LANES) floats.
        unsafe {
            Self::store(e.as_mut_ptr(), even);
            Self::store(o.as_mut_ptr(), odd);
            for i in 0..Self::LANES {
                out[2 * i] = e[i];
                out[2 * i + 1] = o[i];
            }
            (
                Self::load(out.as_ptr()),
                Self::load(out.as_ptr().add(Self::LANES)),
            )
        }
    }
    /// `LANES` bf16 values (raw bits) from `p` widened to f32 (exact: the top half of an f32).
    #[inline(always)]
    unsafe fn load_bf16(p: *const u16) -> Self::V {
        let mut t = [0.0f32; 16];
        for (i, v) in t.iter_mut().enumerate().take(Self::LANES) {
            // SAFETY: p .. p + LANES is readable (caller contract).
            *v = f32::from_bits((unsafe { *p.add(i) } as u32) << 16);
        }
        // SAFETY: t holds 16 >= LANES floats.
        unsafe { Self::load(t.as_ptr()) }
    }
    /// `LANES` IEEE binary16 values (raw bits) from `p` widened to f32 (exact).
    #[inline(always)]
    unsafe fn load_f16(p: *const u16) -> Self::V {
        let mut t = [0.0f32; 16];
        for (i, v) in t.iter_mut().enumerate().take(Self::LANES) {
            // SAFETY: p .. p + LANES is readable (caller contract).
            *v = unsafe { Self::f16_to_f32(*p.add(i)) };
        }
        // SAFETY: t holds 16 >= LANES floats.
        unsafe { Self::load(t.as_ptr()) }
    }
    /// `dst[c·ds + r] = src[r·ss + c]` for an 8 × 8 tile (`r, c < 8`).
    #[inline(always)]
    unsafe fn transpose8x8(src: *const f32, ss: usize, dst: *mut f32, ds: usize) {
        for r in 0..8 {
            for c in 0..8 {
                // SAFETY: caller guarantees the 8 × 8 tiles are in bounds.
                unsafe { *dst.add(c * ds + r) = *src.add(r * ss + c) };
            }
        }
    }
}

/// Branch-light binary16 → binary32 (exact for every input, NaN payloads kept).
#[inline(always)]
pub(crate) fn f16_to_f32_soft(h: u16) -> f32 {
    let sign = ((h & 0x8000) as u32) << 16;
    let mut o = ((h & 0x7fff) as u32) << 13;
    let exp = o & 0x0f80_0000;
    o = o.wrapping_add((127 - 15) << 23);
    if exp == 0x0f80_0000 {
        o = o.wrapping_add((128 - 16) << 23); // Inf / NaN
    } else if exp == 0 {
        // Subnormal: renormalise through an f32 subtraction (exact).
        o = o.wrapping_add(1 << 23);
        o = (f32::from_bits(o) - f32::from_bits(113 << 23)).to_bits();
    }
    f32::from_bits(o | sign)
}

/// A stored value as f32 inside a kernel. `f32` is a plain load; `f16` goes through
/// [`Simd::f16_to_f32`] (F16C on x86) and `bf16` through a shift — the `half` crate's own
/// conversion re-checks CPU features per call, which made f16 spmm 5× slower (docs/kernels.md).
/// The `TypeId` tests are resolved at compile time.
#[inline(always)]
pub(crate) fn value_to_f32<S: Simd, T: Scalar>(v: T) -> f32 {
    use std::any::TypeId;
    let t = TypeId::of::<T>();
    if t == TypeId::of::<f32>() {
        // SAFETY: T is f32.
        unsafe { std::mem::transmute_copy::<T, f32>(&v) }
    } else if t == TypeId::of::<half::f16>() {
        // SAFETY: T is half::f16, a transparent u16.
        unsafe { S::f16_to_f32(std::mem::transmute_copy::<T, u16>(&v)) }
    } else if t == TypeId::of::<half::bf16>() {
        // SAFETY: T is half::bf16, a transparent u16 holding the top half of an f32.
        f32::from_bits((unsafe { std::mem::transmute_copy::<T, u16>(&v) } as u32) << 16)
    } else {
        v.to_f32()
    }
}

/// A computation that can run on any [`Simd`] (the kernel body). `run` must be
/// `#[inline(always)]` so that it is compiled inside the `#[target_feature]` wrapper.
pub(crate) trait Kernel {
    type Output;
    fn run<S: Simd>(self) -> Self::Output;
}

/// Runs `k` with the vector type of `isa`. Falls back to `Scalar` when `isa` is not available on
/// this CPU (so a stale or foreign `Isa` value can never execute an illegal instruction).
#[inline]
pub(crate) fn dispatch<K: Kernel>(isa: Isa, k: K) -> K::Output {
    match isa {
        #[cfg(all(target_arch = "x86_64", sparsekit_avx512))]
        Isa::Avx512 if avx2_ok() && is_x86_feature_detected!("avx512f") => {
            // SAFETY: avx2, fma, f16c and avx512f were detected at runtime just above.
            unsafe { x86::run_avx512(k) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Avx512 if avx2_ok() => {
            // SAFETY: avx2, fma and f16c were detected at runtime just above.
            unsafe { x86::run_avx2(k) }
        }
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => {
            // SAFETY: NEON is mandatory on aarch64 targets Rust supports (part of the baseline).
            unsafe { arm::run_neon(k) }
        }
        _ => k.run::<Portable>(),
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn avx2_ok() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

/// Portable fallback: 8 lanes in a plain array; LLVM vectorizes it for the baseline target.
#[derive(Clone, Copy)]
pub(crate) struct Portable;

impl Simd for Portable {
    const LANES: usize = 8;
    type V = [f32; 8];
    #[inline(always)]
    unsafe fn zero() -> [f32; 8] {
        [0.0; 8]
    }
    #[inline(always)]
    unsafe fn splat(v: f32) -> [f32; 8] {
        [v; 8]
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> [f32; 8] {
        // SAFETY: caller guarantees 8 readable floats at p.
        unsafe { std::ptr::read_unaligned(p as *const [f32; 8]) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: [f32; 8]) {
        // SAFETY: caller guarantees 8 writable floats at p.
        unsafe { std::ptr::write_unaligned(p as *mut [f32; 8], v) }
    }
    #[inline(always)]
    unsafe fn load_part(p: *const f32, n: usize) -> [f32; 8] {
        let mut v = [0.0; 8];
        for (l, slot) in v.iter_mut().enumerate().take(n) {
            // SAFETY: caller guarantees n readable floats at p.
            *slot = unsafe { *p.add(l) };
        }
        v
    }
    #[inline(always)]
    unsafe fn store_part(p: *mut f32, n: usize, v: [f32; 8]) {
        for (l, val) in v.iter().enumerate().take(n) {
            // SAFETY: caller guarantees n writable floats at p.
            unsafe { *p.add(l) = *val };
        }
    }
    #[inline(always)]
    unsafe fn fma(a: [f32; 8], b: [f32; 8], c: [f32; 8]) -> [f32; 8] {
        let mut r = c;
        for l in 0..8 {
            r[l] = a[l] * b[l] + c[l];
        }
        r
    }
    #[inline(always)]
    unsafe fn mul(a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        let mut r = a;
        for l in 0..8 {
            r[l] = a[l] * b[l];
        }
        r
    }
    #[inline(always)]
    unsafe fn add(a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        let mut r = a;
        for l in 0..8 {
            r[l] = a[l] + b[l];
        }
        r
    }
    #[inline(always)]
    unsafe fn hsum(v: [f32; 8]) -> f32 {
        ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]))
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::{Kernel, Simd};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn run_avx2<K: Kernel>(k: K) -> K::Output {
        k.run::<Avx2>()
    }

    #[cfg(sparsekit_avx512)]
    #[target_feature(enable = "avx2,fma,f16c,avx512f")]
    pub(super) unsafe fn run_avx512<K: Kernel>(k: K) -> K::Output {
        k.run::<Avx512>()
    }

    #[derive(Clone, Copy)]
    pub(crate) struct Avx2;

    /// Lane mask with the first `n` (0..=8) lanes set.
    #[inline(always)]
    unsafe fn mask8(n: usize) -> __m256i {
        static M: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];
        // SAFETY: n <= 8 so the 8 ints at 8 - n are inside M.
        unsafe { _mm256_loadu_si256(M.as_ptr().add(8 - n) as *const __m256i) }
    }

    // SAFETY (whole impl): only reachable through `run_avx2`/`run_avx512`, i.e. with avx2+fma
    // enabled; pointer validity is the caller's contract documented on `Simd`.
    impl Simd for Avx2 {
        const LANES: usize = 8;
        const FMA: bool = true;
        type V = __m256;
        #[inline(always)]
        unsafe fn zero() -> __m256 {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm256_setzero_ps() }
        }
        #[inline(always)]
        unsafe fn splat(v: f32) -> __m256 {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm256_set1_ps(v) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m256 {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm256_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m256) {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm256_storeu_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn load_part(p: *const f32, n: usize) -> __m256 {
            // Masked-off lanes are not read (no fault past p + n).
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm256_maskload_ps(p, mask8(n)) }
        }
        #[inline(always)]
        unsafe fn store_part(p: *mut f32, n: usize, v: __m256) {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm256_maskstore_ps(p, mask8(n), v) }
        }
        #[inline(always)]
        unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        unsafe fn mul(a: __m256, b: __m256) -> __m256 {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm256_mul_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn add(a: __m256, b: __m256) -> __m256 {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm256_add_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn hsum(v: __m256) -> f32 {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe {
                let lo = _mm256_castps256_ps128(v);
                let hi = _mm256_extractf128_ps(v, 1);
                let s = _mm_add_ps(lo, hi);
                let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
                let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
                _mm_cvtss_f32(s)
            }
        }
        #[inline(always)]
        unsafe fn prefetch(p: *const f32) {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm_prefetch(p as *const i8, _MM_HINT_T0) }
        }
        #[inline(always)]
        unsafe fn transpose8x8(src: *const f32, ss: usize, dst: *mut f32, ds: usize) {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { transpose8x8_avx(src, ss, dst, ds) }
        }
        #[inline(always)]
        unsafe fn f16_to_f32(bits: u16) -> f32 {
            // f16c is enabled with avx2 (see `run_avx2`).
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32))) }
        }
        #[inline(always)]
        unsafe fn load_bf16(p: *const u16) -> __m256 {
            // 8 × u16 zero-extended to u32 and shifted into the top half: exact.
            // SAFETY: the ISA is enabled by the dispatch wrapper; p .. p + 8 is readable.
            unsafe {
                let h = _mm_loadu_si128(p as *const __m128i);
                _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)))
            }
        }
        #[inline(always)]
        unsafe fn load_f16(p: *const u16) -> __m256 {
            // F16C (enabled with avx2, see `run_avx2`).
            // SAFETY: the ISA is enabled by the dispatch wrapper; p .. p + 8 is readable.
            unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)) }
        }
        #[inline(always)]
        unsafe fn load_bf16_split(p: *const u16) -> (__m256, __m256) {
            // As the AVX-512 version, over 16 values.
            // SAFETY: the ISA is enabled by the dispatch wrapper; p .. p + 16 is readable.
            unsafe {
                let x = _mm256_loadu_si256(p as *const __m256i);
                (
                    _mm256_castsi256_ps(_mm256_slli_epi32::<16>(x)),
                    _mm256_castsi256_ps(_mm256_and_si256(x, _mm256_set1_epi32(-65536))),
                )
            }
        }
        #[inline(always)]
        unsafe fn merge_split(even: __m256, odd: __m256) -> (__m256, __m256) {
            // unpacklo / unpackhi: elements 8L..8L+4 / 8L+4..8L+8 of 128-bit lane L.
            // SAFETY: the ISA is enabled by the dispatch wrapper.
            unsafe {
                let lo = _mm256_unpacklo_ps(even, odd);
                let hi = _mm256_unpackhi_ps(even, odd);
                (
                    _mm256_permute2f128_ps::<0x20>(lo, hi),
                    _mm256_permute2f128_ps::<0x31>(lo, hi),
                )
            }
        }
    }

    /// 8 × 8 in-register transpose (unpack / shuffle / permute2f128).
    #[inline(always)]
    unsafe fn transpose8x8_avx(src: *const f32, ss: usize, dst: *mut f32, ds: usize) {
        // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
        unsafe {
            let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src.add(i * ss)));
            let t0 = _mm256_unpacklo_ps(r[0], r[1]);
            let t1 = _mm256_unpackhi_ps(r[0], r[1]);
            let t2 = _mm256_unpacklo_ps(r[2], r[3]);
            let t3 = _mm256_unpackhi_ps(r[2], r[3]);
            let t4 = _mm256_unpacklo_ps(r[4], r[5]);
            let t5 = _mm256_unpackhi_ps(r[4], r[5]);
            let t6 = _mm256_unpacklo_ps(r[6], r[7]);
            let t7 = _mm256_unpackhi_ps(r[6], r[7]);
            let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
            let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
            let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
            let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
            let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
            let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
            let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
            let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
            let o = [
                _mm256_permute2f128_ps::<0x20>(u0, u4),
                _mm256_permute2f128_ps::<0x20>(u1, u5),
                _mm256_permute2f128_ps::<0x20>(u2, u6),
                _mm256_permute2f128_ps::<0x20>(u3, u7),
                _mm256_permute2f128_ps::<0x31>(u0, u4),
                _mm256_permute2f128_ps::<0x31>(u1, u5),
                _mm256_permute2f128_ps::<0x31>(u2, u6),
                _mm256_permute2f128_ps::<0x31>(u3, u7),
            ];
            for (i, v) in o.iter().enumerate() {
                _mm256_storeu_ps(dst.add(i * ds), *v);
            }
        }
    }

    #[cfg(sparsekit_avx512)]
    #[derive(Clone, Copy)]
    pub(crate) struct Avx512;

    // SAFETY (whole impl): only reachable through `run_avx512`, i.e. with avx512f enabled.
    // Compiled only with Rust >= 1.89 (build.rs), where these intrinsics are stable.
    #[cfg(sparsekit_avx512)]
    #[allow(clippy::incompatible_msrv)]
    impl Simd for Avx512 {
        const LANES: usize = 16;
        const FMA: bool = true;
        type V = __m512;
        #[inline(always)]
        unsafe fn load_bf16_split(p: *const u16) -> (__m512, __m512) {
            // Element 2i is the low half of 32-bit lane i: shifted up it is the f32; element
            // 2i + 1 is the high half: masked it is the f32. Both exact.
            // SAFETY: the ISA is enabled by the dispatch wrapper; p .. p + 32 is readable.
            unsafe {
                let x = _mm512_loadu_si512(p as *const __m512i);
                (
                    _mm512_castsi512_ps(_mm512_slli_epi32::<16>(x)),
                    _mm512_castsi512_ps(_mm512_and_si512(x, _mm512_set1_epi32(-65536))),
                )
            }
        }
        #[inline(always)]
        unsafe fn merge_split(even: __m512, odd: __m512) -> (__m512, __m512) {
            // unpacklo / unpackhi give elements 8L..8L+4 / 8L+4..8L+8 in 128-bit lane L;
            // the lane shuffles put them in order (lo.L0 hi.L0 lo.L1 hi.L1 | lo.L2 hi.L2 …).
            // SAFETY: the ISA is enabled by the dispatch wrapper.
            unsafe {
                let lo = _mm512_unpacklo_ps(even, odd);
                let hi = _mm512_unpackhi_ps(even, odd);
                let t0 = _mm512_shuffle_f32x4::<0x44>(lo, hi);
                let t1 = _mm512_shuffle_f32x4::<0xEE>(lo, hi);
                (
                    _mm512_shuffle_f32x4::<0xD8>(t0, t0),
                    _mm512_shuffle_f32x4::<0xD8>(t1, t1),
                )
            }
        }
        #[inline(always)]
        unsafe fn zero() -> __m512 {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm512_setzero_ps() }
        }
        #[inline(always)]
        unsafe fn splat(v: f32) -> __m512 {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm512_set1_ps(v) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m512 {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm512_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m512) {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm512_storeu_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn load_part(p: *const f32, n: usize) -> __m512 {
            // Masked-off lanes are suppressed (no fault past p + n).
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm512_maskz_loadu_ps(((1u32 << n) - 1) as __mmask16, p) }
        }
        #[inline(always)]
        unsafe fn store_part(p: *mut f32, n: usize, v: __m512) {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm512_mask_storeu_ps(p, ((1u32 << n) - 1) as __mmask16, v) }
        }
        #[inline(always)]
        unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm512_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        unsafe fn mul(a: __m512, b: __m512) -> __m512 {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm512_mul_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn add(a: __m512, b: __m512) -> __m512 {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm512_add_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn hsum(v: __m512) -> f32 {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe {
                let lo = _mm512_castps512_ps256(v);
                let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
                Avx2::hsum(_mm256_add_ps(lo, hi))
            }
        }
        #[inline(always)]
        unsafe fn prefetch(p: *const f32) {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm_prefetch(p as *const i8, _MM_HINT_T0) }
        }
        #[inline(always)]
        unsafe fn transpose8x8(src: *const f32, ss: usize, dst: *mut f32, ds: usize) {
            // avx512f implies avx2 (run_avx512 enables both).
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { transpose8x8_avx(src, ss, dst, ds) }
        }
        #[inline(always)]
        unsafe fn f16_to_f32(bits: u16) -> f32 {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32))) }
        }
        #[inline(always)]
        unsafe fn load_bf16(p: *const u16) -> __m512 {
            // 16 × u16 zero-extended to u32 and shifted into the top half: exact.
            // SAFETY: the ISA is enabled by the dispatch wrapper; p .. p + 16 is readable.
            unsafe {
                let h = _mm256_loadu_si256(p as *const __m256i);
                _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
            }
        }
        #[inline(always)]
        unsafe fn load_f16(p: *const u16) -> __m512 {
            // SAFETY: the ISA is enabled by the dispatch wrapper; p .. p + 16 is readable.
            unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i)) }
        }
    }
}

#[cfg(target_arch = "aarch64")]
pub(crate) mod arm {
    use super::{Kernel, Simd};
    use std::arch::aarch64::*;

    #[target_feature(enable = "neon")]
    pub(super) unsafe fn run_neon<K: Kernel>(k: K) -> K::Output {
        k.run::<Neon>()
    }

    #[derive(Clone, Copy)]
    pub(crate) struct Neon;

    // SAFETY (whole impl): only reachable through `run_neon`; pointer validity is the caller's
    // contract documented on `Simd`.
    impl Simd for Neon {
        const LANES: usize = 4;
        const FMA: bool = true;
        type V = float32x4_t;
        #[inline(always)]
        unsafe fn zero() -> float32x4_t {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { vdupq_n_f32(0.0) }
        }
        #[inline(always)]
        unsafe fn splat(v: f32) -> float32x4_t {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { vdupq_n_f32(v) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> float32x4_t {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { vld1q_f32(p) }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: float32x4_t) {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { vst1q_f32(p, v) }
        }
        #[inline(always)]
        unsafe fn load_part(p: *const f32, n: usize) -> float32x4_t {
            let mut buf = [0.0f32; 4];
            for (l, slot) in buf.iter_mut().enumerate().take(n) {
                // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
                *slot = unsafe { *p.add(l) };
            }
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { vld1q_f32(buf.as_ptr()) }
        }
        #[inline(always)]
        unsafe fn store_part(p: *mut f32, n: usize, v: float32x4_t) {
            let mut buf = [0.0f32; 4];
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { vst1q_f32(buf.as_mut_ptr(), v) };
            for (l, val) in buf.iter().enumerate().take(n) {
                // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
                unsafe { *p.add(l) = *val };
            }
        }
        #[inline(always)]
        unsafe fn fma(a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { vfmaq_f32(c, a, b) }
        }
        #[inline(always)]
        unsafe fn mul(a: float32x4_t, b: float32x4_t) -> float32x4_t {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { vmulq_f32(a, b) }
        }
        #[inline(always)]
        unsafe fn add(a: float32x4_t, b: float32x4_t) -> float32x4_t {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { vaddq_f32(a, b) }
        }
        #[inline(always)]
        unsafe fn hsum(v: float32x4_t) -> f32 {
            // SAFETY: the ISA is enabled by the dispatch wrapper; pointers per the `Simd` contract.
            unsafe { vaddvq_f32(v) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_f16_conversion_is_exact_for_all_inputs() {
        for bits in 0..=u16::MAX {
            let want = half::f16::from_bits(bits).to_f32();
            let got = f16_to_f32_soft(bits);
            if want.is_nan() {
                assert!(got.is_nan(), "{bits:#06x}");
            } else {
                assert_eq!(got.to_bits(), want.to_bits(), "{bits:#06x}");
            }
        }
    }

    struct Conv(Vec<u16>);
    impl Kernel for Conv {
        type Output = Vec<u32>;
        #[inline(always)]
        fn run<S: Simd>(self) -> Vec<u32> {
            self.0
                .iter()
                .map(|&b| value_to_f32::<S, half::f16>(half::f16::from_bits(b)).to_bits())
                .collect()
        }
    }

    #[test]
    fn every_isa_converts_f16_and_bf16_like_half() {
        let all: Vec<u16> = (0..=u16::MAX)
            .filter(|&b| !half::f16::from_bits(b).is_nan())
            .collect();
        for isa in Isa::available() {
            let got = dispatch(isa, Conv(all.clone()));
            for (b, g) in all.iter().zip(got) {
                assert_eq!(
                    g,
                    half::f16::from_bits(*b).to_f32().to_bits(),
                    "{isa:?} {b:#06x}"
                );
            }
        }
        for b in (0..=u16::MAX).step_by(7) {
            let v = half::bf16::from_bits(b);
            if !v.is_nan() {
                assert_eq!(
                    value_to_f32::<Portable, half::bf16>(v).to_bits(),
                    v.to_f32().to_bits()
                );
            }
        }
    }
}
