//! The inner pieces of the flash attention kernels, generic over [`Simd`] and inlined into each
//! ISA's `#[target_feature]` body: a register-blocked tile GEMM (`C (+)= A·B`, all row-major,
//! `A` broadcast element by element, `B` and `C` loaded as whole vectors), a polynomial `exp`,
//! and the row operations of the online softmax. The row operations are plain loops over
//! 16-float chunks with 16 independent lane accumulators (a fixed summation order that LLVM
//! vectorizes for the enabled ISA).

// Register-tile loops index several accumulator arrays by the same counters.
#![allow(clippy::needless_range_loop)]

use crate::simd::Simd;

/// Every GEMM `n` (and every padded tile width) is a multiple of this: it is a multiple of every
/// ISA's lane count (4, 8, 16), so the tile GEMM has no partial vectors.
pub(crate) const PAD: usize = 16;

/// `n` rounded up to a multiple of [`PAD`].
#[inline]
pub(crate) fn padded(n: usize) -> usize {
    n.next_multiple_of(PAD)
}

/// `C[m × n] = A[m × k]·B[k × n]` (or `+=` when `acc`), row-major with leading dimensions
/// `lda`, `ldb`, `ldc`; with `AT`, `A` is stored transposed (`A[i][p]` at `p·lda + i`).
///
/// # Safety
/// `n` is a multiple of [`PAD`]; `a` is readable at `i·lda + p` (`AT`: `p·lda + i`) for `i < m`,
/// `p < k`; `b` at
/// `p·ldb + j` (`p < k`, `j < n`), `c` readable and writable at `i·ldc + j` (`i < m`, `j < n`);
/// `c` does not overlap `a` or `b`. Must run on a CPU with `S`'s instruction set.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) unsafe fn gemm<S: Simd, const AT: bool>(
    acc: bool,
    m: usize,
    n: usize,
    k: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
) {
    // 6 rows × 4 vectors (AVX-512: 24 of 32 registers hold C) or 6 × 2 (AVX2: 12 of 16).
    // SAFETY: forwarded contract.
    unsafe {
        if S::LANES >= 16 {
            gemm_cols::<S, AT, 4>(acc, m, n, k, a, lda, b, ldb, c, ldc)
        } else {
            gemm_cols::<S, AT, 2>(acc, m, n, k, a, lda, b, ldb, c, ldc)
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn gemm_cols<S: Simd, const AT: bool, const NV: usize>(
    acc: bool,
    m: usize,
    n: usize,
    k: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
) {
    let w = NV * S::LANES;
    let mut j = 0;
    // SAFETY: every column panel [j, j + width) lies inside n (n is a multiple of LANES).
    unsafe {
        while j + w <= n {
            gemm_rows::<S, AT, NV>(acc, m, k, a, lda, b.add(j), ldb, c.add(j), ldc);
            j += w;
        }
        while j < n {
            gemm_rows::<S, AT, 1>(acc, m, k, a, lda, b.add(j), ldb, c.add(j), ldc);
            j += S::LANES;
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn gemm_rows<S: Simd, const AT: bool, const NV: usize>(
    acc: bool,
    m: usize,
    k: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
) {
    const MR: usize = 6;
    let mut i = 0;
    // SAFETY: every row block [i, i + rows) lies inside m.
    unsafe {
        while i + MR <= m {
            let ai = if AT { a.add(i) } else { a.add(i * lda) };
            micro::<S, AT, MR, NV>(acc, k, ai, lda, b, ldb, c.add(i * ldc), ldc);
            i += MR;
        }
        let a = if AT { a.add(i) } else { a.add(i * lda) };
        let c = c.add(i * ldc);
        match m - i {
            1 => micro::<S, AT, 1, NV>(acc, k, a, lda, b, ldb, c, ldc),
            2 => micro::<S, AT, 2, NV>(acc, k, a, lda, b, ldb, c, ldc),
            3 => micro::<S, AT, 3, NV>(acc, k, a, lda, b, ldb, c, ldc),
            4 => micro::<S, AT, 4, NV>(acc, k, a, lda, b, ldb, c, ldc),
            5 => micro::<S, AT, 5, NV>(acc, k, a, lda, b, ldb, c, ldc),
            _ => {}
        }
    }
}

/// One `R × (NV·LANES)` register tile of `C`, accumulated over `k`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn micro<S: Simd, const AT: bool, const R: usize, const NV: usize>(
    acc: bool,
    k: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
) {
    let l = S::LANES;
    // SAFETY: the caller's bounds cover R rows of a and c and NV vectors of each b / c row.
    unsafe {
        let mut t = [[S::zero(); NV]; R];
        if acc {
            for r in 0..R {
                for v in 0..NV {
                    t[r][v] = S::load(c.add(r * ldc + v * l));
                }
            }
        }
        for p in 0..k {
            let bp = b.add(p * ldb);
            let mut bv = [S::zero(); NV];
            for v in 0..NV {
                bv[v] = S::load(bp.add(v * l));
            }
            for r in 0..R {
                let av = S::splat(if AT {
                    *a.add(p * lda + r)
                } else {
                    *a.add(r * lda + p)
                });
                for v in 0..NV {
                    t[r][v] = S::fma(av, bv[v], t[r][v]);
                }
            }
        }
        for r in 0..R {
            for v in 0..NV {
                S::store(c.add(r * ldc + v * l), t[r][v]);
            }
        }
    }
}

/// `eˣ` in f32 (Cephes `expf`: range reduction by `ln 2` in two parts, degree-6 polynomial):
/// relative error ≤ 2⁻²² on `[-87.3, 88]` (tested); exactly `0` below `-87.3` (including
/// `-∞`); saturates at `e⁸⁸` above 88 (the kernels only take `x ≲ 0`). Branch-free, so loops
/// over it vectorize; the Horner steps are fused multiply-adds where `S` has them
/// ([`Simd::FMA`]).
#[inline(always)]
pub(crate) fn exp<S: Simd>(x: f32) -> f32 {
    #[inline(always)]
    fn madd<S: Simd>(a: f32, b: f32, c: f32) -> f32 {
        if S::FMA {
            a.mul_add(b, c)
        } else {
            a * b + c
        }
    }
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2²³: adding it rounds to an integer held in the low mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    let lo = x < -87.3;
    let xc = x.clamp(-87.3, 88.0);
    let t = madd::<S>(xc, LOG2E, MAGIC);
    let n = t - MAGIC;
    let ni = (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    let r = madd::<S>(-n, LN2_LO, madd::<S>(-n, LN2_HI, xc));
    let mut p = 1.987_569_2e-4f32;
    p = madd::<S>(p, r, 1.398_2e-3);
    p = madd::<S>(p, r, 8.333_452e-3);
    p = madd::<S>(p, r, 4.166_579_6e-2);
    p = madd::<S>(p, r, 1.666_666_5e-1);
    p = madd::<S>(p, r, 0.5);
    let e = madd::<S>(p, r * r, r + 1.0);
    // 2ⁿ for n in [-126, 127]: the clamp keeps the exponent field in range.
    let v = e * f32::from_bits(((ni + 127) as u32) << 23);
    if lo {
        0.0
    } else {
        v
    }
}

/// Sum of 16 lane accumulators in a fixed pairwise order.
#[inline(always)]
fn hsum16(a: [f32; 16]) -> f32 {
    let mut w = a;
    let mut n = 16;
    while n > 1 {
        n /= 2;
        for l in 0..n {
            w[l] += w[l + n];
        }
    }
    w[0]
}

/// `row[j] *= scale`; returns `max_j row[j]` (`-∞` for an all-`-∞` row). `row.len()` is a
/// multiple of [`PAD`].
#[inline(always)]
pub(crate) fn scale_max(row: &mut [f32], scale: f32) -> f32 {
    let mut m = [f32::NEG_INFINITY; PAD];
    for ch in row.chunks_exact_mut(PAD) {
        for l in 0..PAD {
            ch[l] *= scale;
            m[l] = if ch[l] > m[l] { ch[l] } else { m[l] };
        }
    }
    hmax16(m)
}

/// Maximum of 16 lanes in a fixed pairwise order (NaN-free inputs; `-∞` allowed).
#[inline(always)]
fn hmax16(a: [f32; 16]) -> f32 {
    let mut w = a;
    let mut n = 16;
    while n > 1 {
        n /= 2;
        for l in 0..n {
            w[l] = if w[l + n] > w[l] { w[l + n] } else { w[l] };
        }
    }
    w[0]
}

/// `row[j] = exp(row[j] − shift)`; returns `Σ_j row[j]` (fixed order). `row.len()` is a multiple
/// of [`PAD`].
#[inline(always)]
pub(crate) fn exp_sum<S: Simd>(row: &mut [f32], shift: f32) -> f32 {
    let mut s = [0.0f32; PAD];
    for ch in row.chunks_exact_mut(PAD) {
        for l in 0..PAD {
            let e = exp::<S>(ch[l] - shift);
            ch[l] = e;
            s[l] += e;
        }
    }
    hsum16(s)
}

/// `row[j] = exp(scale·row[j] − shift[j])` (the backward's `P` from the forward's `lse`).
#[inline(always)]
pub(crate) fn exp_scaled_minus<S: Simd>(row: &mut [f32], scale: f32, shift: &[f32]) {
    for (ch, sh) in row.chunks_exact_mut(PAD).zip(shift.chunks_exact(PAD)) {
        for l in 0..PAD {
            ch[l] = exp::<S>(scale * ch[l] - sh[l]);
        }
    }
}

/// `row[j] = exp(scale·row[j] − shift)`.
#[inline(always)]
pub(crate) fn exp_scaled_minus_one<S: Simd>(row: &mut [f32], scale: f32, shift: f32) {
    for ch in row.chunks_exact_mut(PAD) {
        for l in 0..PAD {
            ch[l] = exp::<S>(scale * ch[l] - shift);
        }
    }
}

/// `p[j] = p[j]·(dp[j] − sub[j])` (`dS` from `P`, `dP` and `D`).
#[inline(always)]
pub(crate) fn ds_cols(p: &mut [f32], dp: &[f32], sub: &[f32]) {
    for ((ch, d), s) in p
        .chunks_exact_mut(PAD)
        .zip(dp.chunks_exact(PAD))
        .zip(sub.chunks_exact(PAD))
    {
        for l in 0..PAD {
            ch[l] *= d[l] - s[l];
        }
    }
}

/// `p[j] = p[j]·(dp[j] − sub)`.
#[inline(always)]
pub(crate) fn ds_row(p: &mut [f32], dp: &[f32], sub: f32) {
    for (ch, d) in p.chunks_exact_mut(PAD).zip(dp.chunks_exact(PAD)) {
        for l in 0..PAD {
            ch[l] *= d[l] - sub;
        }
    }
}

/// `row[j] *= s`.
#[inline(always)]
pub(crate) fn scale_row(row: &mut [f32], s: f32) {
    for x in row.iter_mut() {
        *x *= s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::{dispatch, Isa, Kernel};

    struct ExpErr;
    impl Kernel for ExpErr {
        type Output = (f64, [f32; 5]);
        #[inline(always)]
        fn run<S: Simd>(self) -> (f64, [f32; 5]) {
            let mut worst = 0.0f64;
            let mut x = -87.3f32;
            while x <= 88.0 {
                let want = (x as f64).exp();
                let got = exp::<S>(x) as f64;
                worst = worst.max(((got - want) / want).abs());
                x += 1.3e-3;
            }
            let edges = [0.0, -87.4, f32::NEG_INFINITY, -1e30, 1e30].map(exp::<S>);
            (worst, edges)
        }
    }

    #[test]
    fn polynomial_exp_error_bound_on_every_isa() {
        for isa in Isa::available() {
            let (worst, e) = dispatch(isa, ExpErr);
            assert!(
                worst <= 2.0f64.powi(-22),
                "{isa:?}: worst relative error {worst:e}"
            );
            assert_eq!(e[..4], [1.0, 0.0, 0.0, 0.0], "{isa:?}");
            assert!(e[4].is_finite(), "{isa:?}");
        }
    }

    struct Gemm {
        at: bool,
        acc: bool,
        m: usize,
        n: usize,
        k: usize,
        a: Vec<f32>,
        b: Vec<f32>,
        c: Vec<f32>,
    }
    impl Kernel for Gemm {
        type Output = Vec<f32>;
        #[inline(always)]
        fn run<S: Simd>(mut self) -> Vec<f32> {
            // SAFETY: the buffers hold m×k, k×n and m×n floats (dense leading dimensions) and
            // n is a multiple of PAD; dispatch runs S only where its ISA exists.
            unsafe {
                if self.at {
                    // A given transposed (k × m).
                    let at: Vec<f32> = (0..self.k * self.m)
                        .map(|t| self.a[(t % self.m) * self.k + t / self.m])
                        .collect();
                    gemm::<S, true>(
                        self.acc,
                        self.m,
                        self.n,
                        self.k,
                        at.as_ptr(),
                        self.m,
                        self.b.as_ptr(),
                        self.n,
                        self.c.as_mut_ptr(),
                        self.n,
                    )
                } else {
                    gemm::<S, false>(
                        self.acc,
                        self.m,
                        self.n,
                        self.k,
                        self.a.as_ptr(),
                        self.k,
                        self.b.as_ptr(),
                        self.n,
                        self.c.as_mut_ptr(),
                        self.n,
                    )
                }
            };
            let mut out = self.c;
            // The exp and row helpers run under the same ISA.
            for x in out.iter_mut() {
                *x += 0.0 * exp::<S>(*x);
            }
            out
        }
    }

    #[test]
    fn tile_gemm_matches_f64_on_every_isa() {
        let mut seed = 1u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        for &(m, n, k) in &[
            (1, 16, 1),
            (5, 16, 3),
            (6, 32, 7),
            (13, 48, 64),
            (64, 64, 64),
            (7, 80, 5),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| next()).collect();
            let c0: Vec<f32> = (0..m * n).map(|_| next()).collect();
            for (acc, at) in [(false, false), (true, false), (false, true), (true, true)] {
                for isa in Isa::available() {
                    let got = dispatch(
                        isa,
                        Gemm {
                            at,
                            acc,
                            m,
                            n,
                            k,
                            a: a.clone(),
                            b: b.clone(),
                            c: c0.clone(),
                        },
                    );
                    for i in 0..m {
                        for j in 0..n {
                            let mut want = if acc { c0[i * n + j] as f64 } else { 0.0 };
                            for p in 0..k {
                                want += a[i * k + p] as f64 * b[p * n + j] as f64;
                            }
                            let g = got[i * n + j] as f64;
                            assert!(
                                (g - want).abs() <= 1e-5 * (1.0 + want.abs()),
                                "{isa:?} {m}×{n}×{k} acc={acc} at={at} ({i},{j}): {g} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod speed {
    use super::*;
    use crate::simd::{dispatch, Isa, Kernel};
    use std::time::Instant;

    struct Reps {
        n: usize,
        reps: usize,
        a: Vec<f32>,
        b: Vec<f32>,
        c: Vec<f32>,
    }
    impl Kernel for Reps {
        type Output = f64;
        #[inline(always)]
        fn run<S: Simd>(mut self) -> f64 {
            let n = self.n;
            let t = Instant::now();
            for _ in 0..self.reps {
                // SAFETY: n × n buffers, n a multiple of PAD; dispatch guarantees the ISA.
                unsafe {
                    gemm::<S, false>(
                        false,
                        n,
                        n,
                        n,
                        self.a.as_ptr(),
                        n,
                        self.b.as_ptr(),
                        n,
                        self.c.as_mut_ptr(),
                        n,
                    )
                };
                std::hint::black_box(&mut self.c);
            }
            t.elapsed().as_secs_f64()
        }
    }

    /// `cargo test --release -p sparsekit-kernels --lib tile_gemm_speed -- --ignored --nocapture`:
    /// the 64 × 64 × 64 tile GEMM (`C = A·B`, L1-resident operands) of this module on every ISA.
    /// (The comparison with the `gemm` crate 0.19, single-threaded with its AVX-512 kernels —
    /// 124 GFLOP/s against this kernel's 183 — was measured once with it as a dev-dependency and
    /// is quoted in `docs/kernels.md`; the dependency was dropped to keep the workspace-hack
    /// unchanged.)
    #[test]
    #[ignore]
    fn tile_gemm_speed() {
        for n in [32usize, 64] {
            let reps = 20_000;
            let flops = 2.0 * (n * n * n) as f64 * reps as f64;
            let a: Vec<f32> = (0..n * n).map(|i| (i % 7) as f32 * 0.1).collect();
            let b = a.clone();
            for isa in Isa::available() {
                let s = dispatch(
                    isa,
                    Reps {
                        n,
                        reps,
                        a: a.clone(),
                        b: b.clone(),
                        c: vec![0.0; n * n],
                    },
                );
                println!(
                    "{n}³ tile gemm {:<6}: {:6.1} GFLOP/s",
                    isa.name(),
                    flops / s / 1e9
                );
            }
        }
    }
}
