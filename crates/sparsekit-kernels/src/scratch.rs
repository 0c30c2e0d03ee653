//! Reusable per-thread scratch buffers (cache-line aligned), the aligned copy of a gathered dense
//! operand (`with_aligned`), and the dense transpose used by the `X·Wᵀ` kernels and
//! `sddmm_linear`.

use std::cell::RefCell;

use rayon::prelude::*;

use crate::dense::MatRef;
use crate::element::{self, Element};
use crate::partition::PAR_MIN_WORK;
use crate::simd::{dispatch, Isa, Kernel, Simd};

thread_local! {
    static SCRATCH: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a zero-initialised-on-growth scratch buffer of `len` floats, reused across calls
/// on the same thread (no allocation in steady state). Contents on entry are unspecified. The
/// slice starts on a 64-byte (cache-line) boundary.
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let mut buf = SCRATCH.with(|s| s.borrow_mut().pop()).unwrap_or_default();
    if buf.len() < len + LINE - 1 {
        buf.resize(len + LINE - 1, 0.0);
    }
    // `align_offset` may decline (usize::MAX); the buffer is then used unaligned.
    let off = match buf.as_ptr().align_offset(LINE * 4) {
        o if o < LINE => o,
        _ => 0,
    };
    let r = f(&mut buf[off..off + len]);
    SCRATCH.with(|s| s.borrow_mut().push(buf));
    r
}

/// Floats per 64-byte cache line.
const LINE: usize = 16;

/// Whether every row of `x` starts where an aligned copy's rows would (see [`aligned_stride_of`]).
fn rows_aligned<X: Element>(x: &MatRef<'_, X>) -> bool {
    let (s, line) = (x.row_stride(), line::<X>());
    let stride_ok = x.nrows() <= 1 || s % line == 0 || (s < line && s.is_power_of_two());
    (x.as_ptr() as usize) % 64 == 0 && stride_ok
}

/// Elements of `X` per 64-byte cache line.
fn line<X: Element>() -> usize {
    64 / element::size::<X>()
}

/// The row stride (in elements of `X`) of an aligned copy of an `n`-column matrix: a multiple
/// of a cache line for rows of at least one line, else the next power of two, so that no row
/// straddles a line it does not need.
pub(crate) fn aligned_stride_of<X: Element>(n: usize) -> usize {
    let line = line::<X>();
    if n >= line {
        n.next_multiple_of(line)
    } else {
        n.next_power_of_two()
    }
}

/// Runs `f` with a thread-local scratch of `len` elements of `X` ([`with_scratch`]'s buffers,
/// reinterpreted; starts on a cache line).
pub(crate) fn with_scratch_of<X: Element, R>(len: usize, f: impl FnOnce(&mut [X]) -> R) -> R {
    let floats = (len * element::size::<X>()).div_ceil(4);
    with_scratch(floats, |buf| {
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(buf);
        let elems: &mut [X] = bytemuck::cast_slice_mut(&mut bytes[..len * element::size::<X>()]);
        f(elems)
    })
}

/// Below this many floats (16 KiB) a dense operand is not worth re-aligning.
const ALIGN_MIN: usize = 4096;

/// Runs `f` on `x`, or on a copy of `x` whose rows start on cache-line boundaries when `x`'s do
/// not and the kernel reads its rows at least twice over (`reads` = floats the kernel will read
/// from `x`).
///
/// Why: the sparse kernels gather whole rows of `x` with full-width vector loads. A row that
/// starts mid-line touches one extra cache line and splits every load across two lines; for
/// `n = 64` and `x` in L2 that made CSR `spmm` 1.5× slower (glibc's large allocations start
/// 16 bytes past a page boundary, so a plain `Vec<f32>` is misaligned; docs/kernels.md). The
/// copy costs one pass over `x`.
pub(crate) fn with_aligned<X: Element, R>(
    x: MatRef<'_, X>,
    reads: usize,
    f: impl FnOnce(MatRef<'_, X>) -> R,
) -> R {
    let (r, c) = (x.nrows(), x.ncols());
    let size = r * c;
    if size < ALIGN_MIN || reads < 2 * size || rows_aligned(&x) {
        return f(x);
    }
    let s = aligned_stride_of::<X>(c);
    with_scratch_of::<X, _>(r * s, |buf| {
        // Tasks of ≥ 16K floats: one row per task would cost more in rayon than in copying.
        let rows_per_task = (PAR_MIN_WORK / 8).div_ceil(s).max(1);
        let copy = |(t, dst): (usize, &mut [X])| {
            for (ii, row) in dst.chunks_mut(s).enumerate() {
                row[..c].copy_from_slice(x.row(t * rows_per_task + ii));
            }
        };
        if size >= PAR_MIN_WORK && rayon::current_num_threads() > 1 {
            buf.par_chunks_mut(s * rows_per_task)
                .enumerate()
                .for_each(copy);
        } else {
            buf.chunks_mut(s * rows_per_task).enumerate().for_each(copy);
        }
        f(MatRef::with_stride(&*buf, r, c, s).expect("scratch sized rows × aligned stride"))
    })
}

/// Runs `f` on `srcᵀ` (ncols × nrows) held in thread-local scratch: the `X·Wᵀ` kernels (CSR,
/// BSR, N:M) all run their row drivers over the transposed batch. Its rows are cache-line
/// aligned (row stride [`aligned_stride_of`]`(nrows)`), like [`with_aligned`]'s copies.
pub(crate) fn with_transposed<X: Element, R>(
    isa: Isa,
    src: MatRef<'_, X>,
    f: impl FnOnce(MatRef<'_, X>) -> R,
) -> R {
    let (r, c) = (src.nrows(), src.ncols());
    let ds = aligned_stride_of::<X>(r);
    with_scratch_of::<X, _>(c * ds, |t| {
        transpose_into_isa(isa, src, t, ds);
        f(MatRef::with_stride(&*t, c, r, ds).expect("scratch sized ncols × aligned stride"))
    })
}

/// Bytes of the transposed batch chunk that the `X·Wᵀ` kernels gather from: well inside a
/// core's L2 (1–2 MiB on the machines measured), so that every gathered `Xᵀ` row is an L2 hit.
const CHUNK_BYTES: usize = 512 * 1024;

/// Batch rows per chunk of the `X·Wᵀ` kernels for `k` input features of `bytes` bytes each: the largest multiple of
/// 128 (one AVX-512 register panel) whose `k × chunk` transpose fits [`CHUNK_BYTES`], at
/// least 128.
fn batch_chunk(k: usize, bytes: usize) -> usize {
    ((CHUNK_BYTES / bytes / k.max(1)) / 128 * 128).max(128)
}

/// Runs `f(Xᵀ chunk, chunk rows, first batch row)` over the batch of `x` in chunks of
/// [`batch_chunk`] rows, each transposed by [`with_transposed`].
///
/// Why: the `X·Wᵀ` kernels gather rows of `Xᵀ` (k × batch) at random. For a whole batch of
/// transformer tokens (batch 2048, k = 1536: 12 MiB) those rows come from L3 or memory and the
/// kernels ran 5–10× slower per token than at batch 128 (docs/models.md, "Sparse inference").
/// Chunking changes no value and no summation order: every output element is still one row of
/// `W` times one column of `Xᵀ`, summed in storage order.
pub(crate) fn for_transposed_chunks<X: Element>(
    isa: Isa,
    x: MatRef<'_, X>,
    mut f: impl FnMut(MatRef<'_, X>, usize, usize),
) {
    let (nb, k, xs) = (x.nrows(), x.ncols(), x.row_stride());
    let chunk = batch_chunk(k, element::size::<X>());
    let mut t0 = 0;
    while t0 < nb {
        let rows = chunk.min(nb - t0);
        let sub = if rows == nb {
            x
        } else {
            let data = &x.data()[t0 * xs..];
            MatRef::with_stride(data, rows, k, xs).expect("a batch chunk of a valid matrix")
        };
        with_transposed(isa, sub, |xt| f(xt, rows, t0));
        t0 += rows;
    }
}

/// `srcᵀ` into `dst` with row stride `ds >= src.nrows()`; `dst.len() >= ncols · ds` (asserted).
pub(crate) fn transpose_into_isa<X: Element>(
    isa: Isa,
    src: MatRef<'_, X>,
    dst: &mut [X],
    ds: usize,
) {
    let (r, c) = (src.nrows(), src.ncols());
    assert!(ds >= r && dst.len() >= c * ds);
    if r == 0 || c == 0 {
        return;
    }
    // One task per block of B destination rows (= B source columns): disjoint outputs.
    const B: usize = 64;
    let dst = &mut dst[..c * ds];
    let body = |(bi, dchunk): (usize, &mut [X])| {
        let c0 = bi * B;
        let cw = (c - c0).min(B);
        dispatch(
            isa,
            Transpose {
                src,
                c0,
                cw,
                dst: dchunk,
                ds,
            },
        );
    };
    if r * c >= PAR_MIN_WORK && rayon::current_num_threads() > 1 {
        dst.par_chunks_mut(B * ds).enumerate().for_each(body);
    } else {
        dst.chunks_mut(B * ds).enumerate().for_each(body);
    }
}

/// Source columns `c0 .. c0 + cw` of `src` into `dst` (cw × nrows, row stride `ds`).
struct Transpose<'a, 'b, X> {
    src: MatRef<'a, X>,
    c0: usize,
    cw: usize,
    dst: &'b mut [X],
    ds: usize,
}

impl<X: Element> Kernel for Transpose<'_, '_, X> {
    type Output = ();
    #[inline(always)]
    fn run<S: Simd>(self) {
        let r = self.src.nrows();
        let rs = self.src.row_stride();
        let sp = self.src.data().as_ptr();
        let dp = self.dst.as_mut_ptr();
        let (c0, cw, ds) = (self.c0, self.cw, self.ds);
        // SAFETY: source rows < r with columns c0 + jj < c0 + cw <= ncols; dst holds cw rows
        // of stride ds >= r (the chunk for these columns; the last may be shorter but still
        // holds (cw - 1) · ds + r floats); 8 × 8 tiles stay inside both.
        unsafe {
            // 8 × 8 register tiles for f32; 2-byte elements go element by element (the
            // transpose is O(batch · k) against the kernels' O(nnz · batch)).
            let (r8, c8) = if element::kind::<X>() == element::Kind::F32 {
                (r / 8 * 8, cw / 8 * 8)
            } else {
                (0, 0)
            };
            for i0 in (0..r8).step_by(8) {
                for j0 in (0..c8).step_by(8) {
                    S::transpose8x8(
                        sp.add(i0 * rs + c0 + j0) as *const f32,
                        rs,
                        dp.add(j0 * ds + i0) as *mut f32,
                        ds,
                    );
                }
            }
            for i in 0..r {
                let (jstart, srow) = (if i < r8 { c8 } else { 0 }, sp.add(i * rs + c0));
                for jj in jstart..cw {
                    *dp.add(jj * ds + i) = *srow.add(jj);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_aligned(p: *const f32) -> bool {
        (p as usize) % (LINE * 4) == 0
    }

    #[test]
    fn scratch_slices_start_on_a_cache_line() {
        for len in [0, 1, 15, 16, 17, 1000, 4097] {
            with_scratch(len, |b| {
                assert_eq!(b.len(), len);
                assert!(line_aligned(b.as_ptr()), "len {len}");
                // Nested buffers are distinct and aligned too.
                with_scratch(len + 3, |c| {
                    assert!(line_aligned(c.as_ptr()));
                    assert!(len == 0 || b.as_ptr() != c.as_ptr());
                });
            });
        }
    }

    #[test]
    fn aligned_strides() {
        let got: Vec<usize> = [0, 1, 3, 5, 8, 15, 16, 17, 64, 65]
            .iter()
            .map(|&n| aligned_stride_of::<f32>(n))
            .collect();
        assert_eq!(got, [1, 1, 4, 8, 8, 16, 16, 32, 64, 80]);
    }

    /// A backing buffer holding `rows × cols` at float offset `off` (from a line boundary) with
    /// row stride `stride`; element (i, j) = i·1000 + j.
    fn placed(rows: usize, cols: usize, off: usize, stride: usize) -> (Vec<f32>, usize) {
        let mut buf = vec![f32::NAN; rows * stride + 2 * LINE];
        let start = buf.as_ptr().align_offset(LINE * 4) + off;
        for i in 0..rows {
            for j in 0..cols {
                buf[start + i * stride + j] = (i * 1000 + j) as f32;
            }
        }
        (buf, start)
    }

    #[test]
    fn with_aligned_copies_misaligned_operands_that_are_read_often() {
        for &(rows, cols, off, stride) in &[
            (300, 64, 4, 64),
            (300, 64, 0, 67),
            (1000, 5, 1, 5),
            (500, 17, 3, 20),
            (130, 128, 15, 128),
        ] {
            let (buf, start) = placed(rows, cols, off, stride);
            let x = MatRef::with_stride(&buf[start..], rows, cols, stride).unwrap();
            let size = rows * cols;
            let copied = with_aligned(x, 2 * size, |a| {
                assert_eq!((a.nrows(), a.ncols()), (rows, cols));
                assert!(line_aligned(a.as_ptr()));
                assert_eq!(a.row_stride(), aligned_stride_of::<f32>(cols));
                for i in 0..rows {
                    assert_eq!(a.row(i), x.row(i), "row {i}");
                }
                a.as_ptr() != x.as_ptr()
            });
            assert!(copied, "{rows}×{cols} at +{off}, stride {stride}");
        }
    }

    #[test]
    fn with_aligned_passes_through_when_a_copy_does_not_pay() {
        // Too small, read less than twice over, or already aligned: the view itself.
        let cases = [
            (60, 64, 4, 64, 10 * 60 * 64), // 3840 floats < 16 KiB
            (300, 64, 4, 64, 300 * 64),    // read once over
            (300, 64, 0, 64, 10 * 300 * 64),
            (300, 64, 0, 80, 10 * 300 * 64),
            (1000, 8, 0, 8, 10 * 8000),
        ];
        for &(rows, cols, off, stride, reads) in &cases {
            let (buf, start) = placed(rows, cols, off, stride);
            let x = MatRef::with_stride(&buf[start..], rows, cols, stride).unwrap();
            let same = with_aligned(x, reads, |a| a.as_ptr() == x.as_ptr());
            assert!(
                same,
                "{rows}×{cols} at +{off}, stride {stride}, reads {reads}"
            );
        }
    }

    /// The strided transpose (an `unsafe` SIMD kernel) on every ISA against a scalar transpose,
    /// for sizes on and off the 8 × 8 tile and padded destination strides.
    #[test]
    fn padded_transpose_matches_scalar_on_every_isa() {
        for &(r, c) in &[
            (0, 5),
            (5, 0),
            (1, 1),
            (3, 20),
            (8, 8),
            (20, 70),
            (64, 130),
            (70, 9),
        ] {
            let src: Vec<f32> = (0..r * c).map(|v| v as f32).collect();
            let x = MatRef::new(&src, r, c).unwrap();
            for ds in [r, aligned_stride_of::<f32>(r), r + 5] {
                let want: Vec<f32> = (0..c * ds)
                    .map(|p| {
                        let (j, i) = (p / ds, p % ds);
                        if i < r {
                            src[i * c + j]
                        } else {
                            -1.0
                        }
                    })
                    .collect();
                for isa in Isa::available() {
                    let mut dst = vec![-1.0f32; c * ds];
                    transpose_into_isa(isa, x, &mut dst, ds);
                    assert_eq!(dst, want, "{isa:?} {r}×{c} stride {ds}");
                }
            }
        }
    }
}
