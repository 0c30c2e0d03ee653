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
    let (m, n) = (y.nrows(), y.ncols());
    if kind::<Y>() == Kind::F32 {
        let ys = y.row_stride();
        let data: &mut [f32] = bytemuck::cast_slice_mut(y.data_mut());
        return f(MatMut::with_stride(data, m, n, ys).expect("the same view, as f32"));
    }
    with_scratch(m * n, |buf| {
        if read_old {
            for (i, row) in buf.chunks_exact_mut(n.max(1)).enumerate().take(m) {
                widen(y.row(i), row);
            }
        }
        let r = f(MatMut::new(buf, m, n).expect("scratch sized m × n"));
        for (i, row) in buf.chunks_exact(n.max(1)).enumerate().take(m) {
            narrow(row, y.row_mut(i));
        }
        r
    })
}

/// `dst = src` rounded to nearest even (`half`'s slice conversion; exact for f32).
pub(crate) fn narrow<Y: Element>(src: &[f32], dst: &mut [Y]) {
    use half::slice::HalfFloatSliceExt;
    match kind::<Y>() {
        Kind::F32 => bytemuck::cast_slice_mut::<Y, f32>(dst).copy_from_slice(src),
        Kind::Bf16 => bytemuck::cast_slice_mut::<Y, half::bf16>(dst).convert_from_f32_slice(src),
        Kind::F16 => bytemuck::cast_slice_mut::<Y, half::f16>(dst).convert_from_f32_slice(src),
    }
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
        narrow(buf, out);
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
