//! Dense operand and output element types: `f32`, `half::bf16`, `half::f16` ([`Element`]).
//!
//! Every product kernel gathers rows of a dense operand; for CSR at 90 % sparsity and `n = 64`
//! those gathers are the kernel's cost (the f32 kernel runs at 85–90 % of the measured L2-gather
//! roofline, docs/kernels.md). Half-precision operands halve those bytes. The kernels widen each
//! loaded half vector to f32 in registers (bf16: a zero-extend and a 16-bit shift, exact; f16:
//! F16C `vcvtph2ps`, exact) and accumulate in f32, so a half operand changes only the rounding of
//! the inputs, never the arithmetic.
//!
//! Half outputs are computed in f32 and rounded once (round to nearest even) by `half`'s slice
//! conversion — the same value as rounding the f32 result, element by element.

use std::any::TypeId;

use sparsekit_formats::Scalar;

use rayon::prelude::*;

use crate::dense::{MatMut, MatRef};
use crate::partition::PAR_MIN_WORK;
use crate::scratch::{aligned_stride_of, with_scratch};
use crate::simd::{Isa, Simd};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for half::bf16 {}
    impl Sealed for half::f16 {}
}

/// A dense element type the kernels read and write: `f32`, `half::bf16` or `half::f16`
/// (sealed). Arithmetic is always f32.
pub trait Element: Scalar + sealed::Sealed {}
impl Element for f32 {}
impl Element for half::bf16 {}
impl Element for half::f16 {}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    F32,
    Bf16,
    F16,
}

/// Which of the three element types `X` is (resolved at compile time).
#[inline(always)]
pub(crate) fn kind<X: Element>() -> Kind {
    let t = TypeId::of::<X>();
    if t == TypeId::of::<f32>() {
        Kind::F32
    } else if t == TypeId::of::<half::bf16>() {
        Kind::Bf16
    } else {
        Kind::F16
    }
}

/// `S::LANES` elements from `p` as f32 lanes.
///
/// # Safety
/// `p .. p + LANES` is readable; the ISA of `S` is available.
#[inline(always)]
pub(crate) unsafe fn load<S: Simd, X: Element>(p: *const X) -> S::V {
    // SAFETY: forwarded caller contract; the casts match the element type (`kind`), and bf16 /
    // f16 are transparent u16s.
    unsafe {
        match kind::<X>() {
            Kind::F32 => S::load(p as *const f32),
            Kind::Bf16 => S::load_bf16(p as *const u16),
            Kind::F16 => S::load_f16(p as *const u16),
        }
    }
}

/// The first `n < LANES` elements from `p` as f32 lanes (others zero); reads nothing past `p + n`.
///
/// # Safety
/// `p .. p + n` is readable; the ISA of `S` is available.
#[inline(always)]
pub(crate) unsafe fn load_part<S: Simd, X: Element>(p: *const X, n: usize) -> S::V {
    // SAFETY: forwarded caller contract; half tails go through a zeroed stack copy of n < 16
    // elements so the full-width load reads only the buffer.
    unsafe {
        match kind::<X>() {
            Kind::F32 => S::load_part(p as *const f32, n),
            _ => {
                let mut buf = [X::ZERO; 16];
                std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), n);
                load::<S, X>(buf.as_ptr())
            }
        }
    }
}

/// Bytes per element of `X` (4 or 2).
#[inline(always)]
pub(crate) fn size<X: Element>() -> usize {
    std::mem::size_of::<X>()
}

/// Runs `f` on an f32 view of `y`: `y` itself when `Y` is f32, else a thread-local f32 scratch
/// of the same shape (filled from `y` when `read_old`, for `β ≠ 0`) whose result is rounded into
/// `y` afterwards.
pub(crate) fn with_f32_out<Y: Element, R>(
    mut y: MatMut<'_, Y>,
    read_old: bool,
    f: impl FnOnce(MatMut<'_, f32>) -> R,
) -> R {
    let (m, n, ys) = (y.nrows(), y.ncols(), y.row_stride());
    if kind::<Y>() == Kind::F32 {
        let data: &mut [f32] = bytemuck::cast_slice_mut(y.data_mut());
        return f(MatMut::with_stride(data, m, n, ys).expect("the same view, as f32"));
    }
    if m == 0 || n == 0 {
        let mut empty: [f32; 0] = [];
        return f(MatMut::new(&mut empty, m, n).expect("an empty view"));
    }
    with_scratch(m * n, |buf| {
        // Rows in parallel (the conversion of a 4096 × 64 output took 0.3 ms on one thread,
        // half of a 98 %-sparse product).
        let par = m * n >= PAR_MIN_WORK && rayon::current_num_threads() > 1;
        if read_old {
            let body = |(b, yr): (&mut [f32], &mut [Y])| widen(&yr[..n], b);
            if par {
                buf.par_chunks_mut(n)
                    .zip(y.data_mut().par_chunks_mut(ys))
                    .for_each(body);
            } else {
                buf.chunks_mut(n)
                    .zip(y.data_mut().chunks_mut(ys))
                    .for_each(body);
            }
        }
        let r = f(MatMut::new(buf, m, n).expect("scratch sized m × n"));
        let body = |(b, yr): (&[f32], &mut [Y])| narrow(b, &mut yr[..n]);
        if par {
            buf.par_chunks(n)
                .zip(y.data_mut().par_chunks_mut(ys))
                .for_each(body);
        } else {
            buf.chunks(n)
                .zip(y.data_mut().chunks_mut(ys))
                .for_each(body);
        }
        r
    })
}

/// `dst = src` rounded to nearest even (exact for f32). bf16 by [`f32_to_bf16`], a
/// branch-free loop LLVM vectorizes; f16 by `half`'s slice conversion (F16C where present).
pub(crate) fn narrow<Y: Element>(src: &[f32], dst: &mut [Y]) {
    use half::slice::HalfFloatSliceExt;
    match kind::<Y>() {
        Kind::F32 => bytemuck::cast_slice_mut::<Y, f32>(dst).copy_from_slice(src),
        Kind::Bf16 => {
            for (d, &v) in bytemuck::cast_slice_mut::<Y, u16>(dst).iter_mut().zip(src) {
                *d = f32_to_bf16(v);
            }
        }
        Kind::F16 => bytemuck::cast_slice_mut::<Y, half::f16>(dst).convert_from_f32_slice(src),
    }
}

/// `v` rounded to the nearest bf16 (ties to even), as bits: `half::bf16::from_f32`'s rounding
/// (NaN stays NaN with the quiet bit set; overflow rounds to ±∞), written without branches so
/// that slices of it vectorize.
#[inline(always)]
pub(crate) fn f32_to_bf16(v: f32) -> u16 {
    let b = v.to_bits();
    let rounded = b.wrapping_add(0x7FFF + ((b >> 16) & 1)) >> 16;
    let nan = (b >> 16) | 0x40;
    (if v.is_nan() { nan } else { rounded }) as u16
}

/// `dst = src` widened to f32 (exact).
pub(crate) fn widen<X: Element>(src: &[X], dst: &mut [f32]) {
    use half::slice::HalfFloatSliceExt;
    match kind::<X>() {
        Kind::F32 => dst.copy_from_slice(bytemuck::cast_slice::<X, f32>(src)),
        Kind::Bf16 => bytemuck::cast_slice::<X, half::bf16>(src).convert_to_f32_slice(dst),
        Kind::F16 => bytemuck::cast_slice::<X, half::f16>(src).convert_to_f32_slice(dst),
    }
}

/// Runs `f` on an f32 slice standing for `out` (itself when `Y` is f32, else scratch rounded
/// into `out` afterwards): the pattern-valued outputs of the SDDMM kernels.
pub(crate) fn with_f32_slice<Y: Element, R>(out: &mut [Y], f: impl FnOnce(&mut [f32]) -> R) -> R {
    if kind::<Y>() == Kind::F32 {
        return f(bytemuck::cast_slice_mut(out));
    }
    with_scratch(out.len(), |buf| {
        let r = f(buf);
        const CHUNK: usize = 1 << 14;
        if out.len() >= PAR_MIN_WORK && rayon::current_num_threads() > 1 {
            buf.par_chunks(CHUNK)
                .zip(out.par_chunks_mut(CHUNK))
                .for_each(|(b, o)| narrow(b, o));
        } else {
            narrow(buf, out);
        }
        r
    })
}

/// Whether a gathered operand of type `X` should be widened to f32 once before a kernel on
/// `isa` that reads `reads` of its elements (only when it re-reads them: `reads ≥ 2·size`):
/// - f16 always: an f16 vector costs two `vcvtph2ps` uops per 16 lanes, which made the gather
///   kernels 2–2.5× slower than with an f32 operand;
/// - bf16 except on AVX-512: the split widening (a shift and a mask per 16 lanes, then the FMAs)
///   is cheaper than the gather it saves only with 512-bit vectors; with AVX2 it ran 10 % slower
///   than an f32 `X` (docs/kernels.md).
///
/// One widening pass over `X` costs about as much as reading it twice.
pub(crate) fn widen_first<X: Element>(isa: Isa, x: &MatRef<'_, X>, reads: usize) -> bool {
    let k = kind::<X>();
    (k == Kind::F16 || (k == Kind::Bf16 && isa != Isa::Avx512))
        && reads >= 2 * x.nrows() * x.ncols()
}

/// Runs `f` on an f32 copy of `x` (thread-local scratch, rows cache-line aligned).
pub(crate) fn with_widened<X: Element, R>(
    x: MatRef<'_, X>,
    f: impl FnOnce(MatRef<'_, f32>) -> R,
) -> R {
    let (r, c) = (x.nrows(), x.ncols());
    let s = aligned_stride_of::<f32>(c);
    with_scratch(r * s, |buf| {
        let body = |(i, row): (usize, &mut [f32])| widen(x.row(i), &mut row[..c]);
        if r * c >= PAR_MIN_WORK && rayon::current_num_threads() > 1 && s > 0 {
            buf.par_chunks_mut(s).enumerate().for_each(body);
        } else if s > 0 {
            buf.chunks_mut(s).enumerate().for_each(body);
        }
        f(MatRef::with_stride(&*buf, r, c, s).expect("scratch sized rows × aligned stride"))
    })
}

#[cfg(test)]
mod tests {
    use super::f32_to_bf16;

    /// The branch-free rounding equals `half::bf16::from_f32` on every class of input: ties both
    /// ways, the overflow threshold, subnormals, ±0, ±∞, NaNs, and random bit patterns.
    #[test]
    fn f32_to_bf16_matches_half() {
        let mut st = 0x2545_f491_4f6c_dd1du64;
        let mut cases: Vec<u32> = vec![
            0,
            0x8000_0000,
            0x7f80_0000,
            0xff80_0000,
            0x7fc0_0000,
            0x7f80_0001,
            0xffff_ffff,
            0x3f80_8000,
            0x3f81_8000,
            0x3f80_8001,
            0x3f80_7fff,
            0x7f7f_ffff,
            0x7f7f_8000,
            0x0000_0001,
            0x0080_0000,
            0x007f_ffff,
            0x8000_8000,
        ];
        for _ in 0..1_000_000 {
            st ^= st << 13;
            st ^= st >> 7;
            st ^= st << 17;
            cases.push(st as u32);
        }
        for b in cases {
            let v = f32::from_bits(b);
            let want = half::bf16::from_f32(v).to_bits();
            let got = f32_to_bf16(v);
            if v.is_nan() {
                assert!(half::bf16::from_bits(got).is_nan(), "{b:#x}");
            } else {
                assert_eq!(got, want, "{b:#x}");
            }
        }
    }
}
