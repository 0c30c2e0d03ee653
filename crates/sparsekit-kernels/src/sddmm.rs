//! Sampled dense-dense products: [`sddmm`] (`out = (A·Bᵀ) ⊙ pattern`) and [`sddmm_linear`]
//! (the weight gradient of a sparse linear layer, `dW = (dYᵀ·X) ⊙ pattern(W)`).

use rayon::prelude::*;
use sparsekit_formats::{CsrPatternView, SpIndex};

use crate::dense::MatRef;
use crate::element::{self, with_f32_slice, Element};
use crate::error::KernelError;
use crate::partition::{num_chunks, row_bounds};
use crate::scratch::{aligned_stride_of, transpose_into_isa, with_aligned, with_scratch_of};
use crate::shape::{check_linear_grad, check_pattern_out};
use crate::simd::{dispatch, Isa, Kernel, Simd};

/// `out[p] = Σ_t A[i,t]·B[j,t]` for each stored `(i, j)` at position `p` of `pattern`
/// (`A·Bᵀ` sampled at the pattern). `A` is m × d, `B` is k × d, the pattern m × k,
/// `out.len() == nnz`.
pub fn sddmm<I: SpIndex, X: Element, Y: Element>(
    a: MatRef<'_, X>,
    b: MatRef<'_, X>,
    pattern: CsrPatternView<'_, I>,
    out: &mut [Y],
) -> Result<(), KernelError> {
    sddmm_isa(Isa::detect(), a, b, pattern, out)
}

/// [`sddmm`] on an explicit instruction set.
pub fn sddmm_isa<I: SpIndex, X: Element, Y: Element>(
    isa: Isa,
    a: MatRef<'_, X>,
    b: MatRef<'_, X>,
    pattern: CsrPatternView<'_, I>,
    out: &mut [Y],
) -> Result<(), KernelError> {
    const OP: &str = "sddmm";
    let (m, k) = pattern.shape();
    if a.nrows() != m || b.nrows() != k || a.ncols() != b.ncols() {
        return Err(KernelError::shape(
            OP,
            format!(
                "pattern is {m}×{k} but A is {}×{} and B is {}×{} (need A m×d, B k×d)",
                a.nrows(),
                a.ncols(),
                b.nrows(),
                b.ncols()
            ),
        ));
    }
    check_pattern_out(OP, out, pattern.nnz())?;
    // Both operands' rows are read with full-width loads, B's in random order: re-align them
    // first (see `with_aligned`).
    let reads = pattern.nnz().saturating_mul(a.ncols());
    with_f32_slice(out, |out| {
        with_aligned(a, reads, |a| {
            with_aligned(b, reads, |b| run(isa, a, b, pattern, out))
        })
    });
    Ok(())
}

fn run<I: SpIndex, X: Element>(
    isa: Isa,
    a: MatRef<'_, X>,
    b: MatRef<'_, X>,
    pattern: CsrPatternView<'_, I>,
    out: &mut [f32],
) {
    let m = pattern.nrows();
    let d = a.ncols();
    if m == 0 || pattern.nnz() == 0 {
        return;
    }
    if d == 0 {
        out.fill(0.0);
        return;
    }
    let rp = pattern.row_ptr();
    let chunks = num_chunks(pattern.nnz().saturating_mul(d.max(1)), m);
    let bounds = row_bounds(rp, 0, chunks);
    let task = |r0: usize, r1: usize, o: &mut [f32]| {
        let (p0, p_end) = (rp[r0].index(), rp[r1].index());
        dispatch(
            isa,
            SddmmRows {
                rp,
                ci: pattern.col_idx(),
                a,
                b,
                r0,
                r1,
                p0,
                p_end,
                out: o,
            },
        );
    };
    if bounds.len() <= 2 {
        task(0, m, out);
    } else {
        let mut parts = Vec::with_capacity(bounds.len() - 1);
        let mut rest = out;
        for w in bounds.windows(2) {
            let len = rp[w[1]].index() - rp[w[0]].index();
            let (head, tail) = rest.split_at_mut(len);
            parts.push((w[0], w[1], head));
            rest = tail;
        }
        parts
            .into_par_iter()
            .for_each(|(r0, r1, o)| task(r0, r1, o));
    }
}

struct SddmmRows<'a, 'o, I, X> {
    rp: &'a [I],
    ci: &'a [I],
    a: MatRef<'a, X>,
    b: MatRef<'a, X>,
    r0: usize,
    r1: usize,
    /// Entry position of `out[0]`.
    p0: usize,
    /// One past the last entry position of this task.
    p_end: usize,
    out: &'o mut [f32],
}

impl<I: SpIndex, X: Element> Kernel for SddmmRows<'_, '_, I, X> {
    type Output = ();
    #[inline(always)]
    #[allow(clippy::needless_range_loop)]
    fn run<S: Simd>(self) {
        let l = S::LANES;
        let d = self.a.ncols();
        let (dv, tail) = (d / l, d % l);
        let (ap, bp) = (self.a.as_ptr(), self.b.as_ptr());
        let (as_, bs) = (self.a.row_stride(), self.b.row_stride());
        let ci = self.ci.as_ptr();
        let o = self.out.as_mut_ptr();
        let per_line = 64 / element::size::<X>();
        let lines = d.div_ceil(per_line).min(8);
        // SAFETY (whole block): rows i < m = A rows, columns j = col_idx[p] < k = B rows
        // (pattern invariant + shape check); vector offsets stay below d (= ncols of A and B,
        // tail handled by partial loads); out positions p - p0 lie in this task's slice
        // (bounds come from row_ptr).
        unsafe {
            for i in self.r0..self.r1 {
                let ar = ap.add(i * as_);
                let (s, e) = (
                    (*self.rp.get_unchecked(i)).index(),
                    (*self.rp.get_unchecked(i + 1)).index(),
                );
                let mut p = s;
                // Four entries at a time, two accumulators each (8 independent FMA chains);
                // the A row is loaded once per group.
                while p + 4 <= e {
                    // Prefetch the B rows of the group after next (entries < nnz_end of this
                    // task's rows; B rows are valid, prefetch never faults).
                    if p + 12 <= self.p_end {
                        for t in 8..12 {
                            let bn = bp.add((*ci.add(p + t)).index() * bs);
                            for ln in 0..lines {
                                S::prefetch(bn.add(ln * per_line) as *const f32);
                            }
                        }
                    }
                    let br = [0, 1, 2, 3].map(|t| bp.add((*ci.add(p + t)).index() * bs));
                    let mut acc = [[S::zero(); 2]; 4];
                    let mut v = 0;
                    while v + 2 <= dv {
                        let a0 = element::load::<S, X>(ar.add(v * l));
                        let a1 = element::load::<S, X>(ar.add((v + 1) * l));
                        for t in 0..4 {
                            acc[t][0] =
                                S::fma(a0, element::load::<S, X>(br[t].add(v * l)), acc[t][0]);
                            acc[t][1] = S::fma(
                                a1,
                                element::load::<S, X>(br[t].add((v + 1) * l)),
                                acc[t][1],
                            );
                        }
                        v += 2;
                    }
                    if v < dv {
                        let a0 = element::load::<S, X>(ar.add(v * l));
                        for t in 0..4 {
                            acc[t][0] =
                                S::fma(a0, element::load::<S, X>(br[t].add(v * l)), acc[t][0]);
                        }
                    }
                    if tail != 0 {
                        let a0 = element::load_part::<S, X>(ar.add(dv * l), tail);
                        for t in 0..4 {
                            acc[t][1] = S::fma(
                                a0,
                                element::load_part::<S, X>(br[t].add(dv * l), tail),
                                acc[t][1],
                            );
                        }
                    }
                    for t in 0..4 {
                        *o.add(p + t - self.p0) = S::hsum(S::add(acc[t][0], acc[t][1]));
                    }
                    p += 4;
                }
                while p < e {
                    let br = bp.add((*ci.add(p)).index() * bs);
                    let mut acc = [S::zero(); 2];
                    let mut v = 0;
                    while v + 2 <= dv {
                        acc[0] = S::fma(
                            element::load::<S, X>(ar.add(v * l)),
                            element::load::<S, X>(br.add(v * l)),
                            acc[0],
                        );
                        acc[1] = S::fma(
                            element::load::<S, X>(ar.add((v + 1) * l)),
                            element::load::<S, X>(br.add((v + 1) * l)),
                            acc[1],
                        );
                        v += 2;
                    }
                    if v < dv {
                        acc[0] = S::fma(
                            element::load::<S, X>(ar.add(v * l)),
                            element::load::<S, X>(br.add(v * l)),
                            acc[0],
                        );
                    }
                    if tail != 0 {
                        acc[1] = S::fma(
                            element::load_part::<S, X>(ar.add(dv * l), tail),
                            element::load_part::<S, X>(br.add(dv * l), tail),
                            acc[1],
                        );
                    }
                    *o.add(p - self.p0) = S::hsum(S::add(acc[0], acc[1]));
                    p += 1;
                }
            }
        }
    }
}

/// The weight gradient of `Y = X·Wᵀ` at `W`'s pattern: `dW[i,j] = Σ_b dY[b,i]·X[b,j]` for each
/// stored `(i, j)` at position `p` (`out[p]`). `dY` is batch × m, `X` batch × k (batch-major, as
/// they come from the forward), the pattern m × k.
///
/// `dY` and `X` are transposed once into reused scratch (m × batch, k × batch), so each stored
/// entry becomes one contiguous length-`batch` dot product ([`sddmm`]).
pub fn sddmm_linear<I: SpIndex, X: Element, Y: Element>(
    dy: MatRef<'_, X>,
    x: MatRef<'_, X>,
    pattern: CsrPatternView<'_, I>,
    out: &mut [Y],
) -> Result<(), KernelError> {
    sddmm_linear_isa(Isa::detect(), dy, x, pattern, out)
}

/// [`sddmm_linear`] on an explicit instruction set.
pub fn sddmm_linear_isa<I: SpIndex, X: Element, Y: Element>(
    isa: Isa,
    dy: MatRef<'_, X>,
    x: MatRef<'_, X>,
    pattern: CsrPatternView<'_, I>,
    out: &mut [Y],
) -> Result<(), KernelError> {
    const OP: &str = "sddmm_linear";
    let (m, k) = pattern.shape();
    check_linear_grad(OP, "pattern", (m, k), &dy, &x)?;
    check_pattern_out(OP, out, pattern.nnz())?;
    with_f32_slice(out, |out| sddmm_linear_unchecked(isa, dy, x, pattern, out));
    Ok(())
}

/// [`sddmm_linear_isa`] after its shape checks (`dY` batch × m, `X` batch × k, pattern m × k,
/// `out.len() == nnz`); shared with `nm_sddmm`.
pub(crate) fn sddmm_linear_unchecked<I: SpIndex, X: Element>(
    isa: Isa,
    dy: MatRef<'_, X>,
    x: MatRef<'_, X>,
    pattern: CsrPatternView<'_, I>,
    out: &mut [f32],
) {
    let (m, k) = pattern.shape();
    let nb = dy.nrows();
    if pattern.nnz() == 0 {
        return;
    }
    // Transposed into aligned scratch with a padded row stride, so rows start on cache lines.
    let s = aligned_stride_of::<X>(nb);
    with_scratch_of::<X, _>(m * s, |dyt| {
        transpose_into_isa(isa, dy, dyt, s);
        with_scratch_of::<X, _>(k * s, |xt| {
            transpose_into_isa(isa, x, xt, s);
            let a = MatRef::with_stride(&*dyt, m, nb, s).expect("scratch sized m × stride");
            let b = MatRef::with_stride(&*xt, k, nb, s).expect("scratch sized k × stride");
            run(isa, a, b, pattern, out);
        })
    });
}
