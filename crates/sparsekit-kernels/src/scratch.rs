//! Reusable per-thread scratch buffers and the dense transpose used by `spmm_t` and
//! `sddmm_linear`.

use std::cell::RefCell;

use rayon::prelude::*;

use crate::dense::MatRef;
use crate::partition::PAR_MIN_WORK;
use crate::simd::{dispatch, Isa, Kernel, Simd};

thread_local! {
    static SCRATCH: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a zero-initialised-on-growth scratch buffer of `len` floats, reused across calls
/// on the same thread (no allocation in steady state). Contents on entry are unspecified.
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let mut buf = SCRATCH.with(|s| s.borrow_mut().pop()).unwrap_or_default();
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    let r = f(&mut buf[..len]);
    SCRATCH.with(|s| s.borrow_mut().push(buf));
    r
}

/// Runs `f` on `srcᵀ` (ncols × nrows) held in thread-local scratch: the `X·Wᵀ` kernels (CSR,
/// BSR, N:M) all run their row drivers over the transposed batch.
pub(crate) fn with_transposed<R>(src: MatRef<'_, f32>, f: impl FnOnce(MatRef<'_, f32>) -> R) -> R {
    let (r, c) = (src.nrows(), src.ncols());
    with_scratch(r * c, |t| {
        transpose_into(src, t);
        f(MatRef::new(&*t, c, r).expect("scratch sized ncols × nrows"))
    })
}

/// Writes `srcᵀ` (ncols × nrows, contiguous, row stride `nrows`) into `dst`.
/// `dst.len() >= src.nrows() * src.ncols()` (checked by assertion).
pub(crate) fn transpose_into(src: MatRef<'_, f32>, dst: &mut [f32]) {
    transpose_into_isa(Isa::detect(), src, dst)
}

pub(crate) fn transpose_into_isa(isa: Isa, src: MatRef<'_, f32>, dst: &mut [f32]) {
    let (r, c) = (src.nrows(), src.ncols());
    assert!(dst.len() >= r * c);
    if r == 0 || c == 0 {
        return;
    }
    // One task per block of B destination rows (= B source columns): disjoint outputs.
    const B: usize = 64;
    let dst = &mut dst[..r * c];
    let body = |(bi, dchunk): (usize, &mut [f32])| {
        let c0 = bi * B;
        let cw = (c - c0).min(B);
        dispatch(
            isa,
            Transpose {
                src,
                c0,
                cw,
                dst: dchunk,
            },
        );
    };
    if r * c >= PAR_MIN_WORK && rayon::current_num_threads() > 1 {
        dst.par_chunks_mut(B * r).enumerate().for_each(body);
    } else {
        dst.chunks_mut(B * r).enumerate().for_each(body);
    }
}

/// Source columns `c0 .. c0 + cw` of `src` into `dst` (cw × nrows).
struct Transpose<'a, 'b> {
    src: MatRef<'a, f32>,
    c0: usize,
    cw: usize,
    dst: &'b mut [f32],
}

impl Kernel for Transpose<'_, '_> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self) {
        let r = self.src.nrows();
        let rs = self.src.row_stride();
        let sp = self.src.data().as_ptr();
        let dp = self.dst.as_mut_ptr();
        let (c0, cw) = (self.c0, self.cw);
        // SAFETY: source rows < r with columns c0 + jj < c0 + cw <= ncols; dst holds cw × r
        // floats (the chunk for these columns); 8 × 8 tiles stay inside both.
        unsafe {
            let (r8, c8) = (r / 8 * 8, cw / 8 * 8);
            for i0 in (0..r8).step_by(8) {
                for j0 in (0..c8).step_by(8) {
                    S::transpose8x8(sp.add(i0 * rs + c0 + j0), rs, dp.add(j0 * r + i0), r);
                }
            }
            for i in 0..r {
                let (jstart, srow) = (if i < r8 { c8 } else { 0 }, sp.add(i * rs + c0));
                for jj in jstart..cw {
                    *dp.add(jj * r + i) = *srow.add(jj);
                }
            }
        }
    }
}
