//! `Y = Aᵀ·X` (the input gradient): the [`CsrTranspose`] cache of a pattern's transpose and the
//! products through it ([`spmm_at_cached`], [`spmm_at_isa`]) or through a transpose built per
//! call ([`spmm_at`]).

use rayon::prelude::*;
use sparsekit_formats::{CsrPatternView, CsrView, Scalar, SpIndex};

use super::driver::{run_csr_rows, Direct, Out};
use crate::dense::{MatMut, MatRef};
use crate::element::{with_f32_out, Element};
use crate::error::KernelError;
use crate::partition::SyncPtr;
use crate::scratch::with_scratch;
use crate::shape::check_y;
use crate::simd::Isa;

/// Entries per task when scattering transposed values.
const GATHER_CHUNK: usize = 1 << 16;

/// Counting-sort start of a CSR transpose: `Aᵀ`'s row pointers (prefix sums of `A`'s column
/// counts, `k + 1` entries) and a copy as per-column insertion cursors. Shared by
/// [`CsrTranspose::new`] and [`spmm_at`], which both scatter `A`'s entries by column.
fn transposed_row_ptr<I: SpIndex>(col_idx: &[I], k: usize) -> (Vec<I>, Vec<usize>) {
    let mut counts = vec![0usize; k + 1];
    for c in col_idx {
        counts[c.index() + 1] += 1;
    }
    for j in 0..k {
        counts[j + 1] += counts[j];
    }
    let row_ptr = counts.iter().map(|&c| I::from_usize(c)).collect();
    (row_ptr, counts)
}

/// The transposed structure of a CSR pattern, built once and reused while values change:
/// `Aᵀ` in CSR form (= `A` in CSC form) plus, for each transposed entry, its position in `A`'s
/// value array.
///
/// Invariants (by construction): `row_ptr` has `ncols + 1` non-decreasing entries ending at
/// `nnz`; `row_idx[q] < nrows`, strictly increasing within each transposed row; `perm` is a
/// permutation of `0..nnz`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrTranspose<I: SpIndex = u32> {
    nrows: usize,
    ncols: usize,
    row_ptr: Vec<I>,
    row_idx: Vec<I>,
    perm: Vec<I>,
    /// Inverse of `perm`: `dest[p]` = transposed position of `A`'s entry `p`.
    dest: Vec<I>,
}

impl<I: SpIndex> CsrTranspose<I> {
    /// Counting sort by column: O(nnz + ncols), deterministic.
    pub fn new(p: CsrPatternView<'_, I>) -> Self {
        let (m, k) = p.shape();
        let nnz = p.nnz();
        let (row_ptr, mut next) = transposed_row_ptr(p.col_idx(), k);
        let mut row_idx = vec![I::default(); nnz];
        let mut perm = vec![I::default(); nnz];
        let mut dest = vec![I::default(); nnz];
        let rp = p.row_ptr();
        let ci = p.col_idx();
        for i in 0..m {
            for q in rp[i].index()..rp[i + 1].index() {
                let j = ci[q].index();
                let dst = next[j];
                next[j] += 1;
                row_idx[dst] = I::from_usize(i);
                perm[dst] = I::from_usize(q);
                dest[q] = I::from_usize(dst);
            }
        }
        CsrTranspose {
            nrows: m,
            ncols: k,
            row_ptr,
            row_idx,
            perm,
            dest,
        }
    }
    /// Shape of the original matrix `A` (not of `Aᵀ`).
    pub fn shape(&self) -> (usize, usize) {
        (self.nrows, self.ncols)
    }
    /// Stored entries (of `A` and of `Aᵀ`).
    pub fn nnz(&self) -> usize {
        self.row_idx.len()
    }
    /// Row pointers of `Aᵀ` (length `ncols + 1`).
    pub fn row_ptr(&self) -> &[I] {
        &self.row_ptr
    }
    /// Column indices of `Aᵀ` (= row indices of `A`).
    pub fn col_idx(&self) -> &[I] {
        &self.row_idx
    }
    /// `perm[q]` = position in `A`'s value array of the `q`-th stored entry of `Aᵀ`.
    pub fn perm(&self) -> &[I] {
        &self.perm
    }
    /// `Aᵀ`'s values for `A`'s values (length nnz).
    pub fn gather_values<T: Scalar>(&self, values: &[T]) -> Vec<T> {
        self.perm.iter().map(|&p| values[p.index()]).collect()
    }
}

/// `Y = Aᵀ·X` (the input gradient of `Y = A·X`): `A` is m × k, `X` m × n, `Y` k × n.
///
/// Transposes `A` for this call (O(nnz)): one counting-sort pass writes `Aᵀ`'s column indices
/// and values together (no permutation arrays, no separate value scatter), then the CSR kernel
/// runs on `Aᵀ`. Bit-identical to [`spmm_at_cached`]. When the pattern is reused across calls,
/// build a [`CsrTranspose`] once and call [`spmm_at_cached`].
pub fn spmm_at<T: Scalar, I: SpIndex, X: Element, Y: Element>(
    a: CsrView<'_, T, I>,
    x: MatRef<'_, X>,
    y: MatMut<'_, Y>,
) -> Result<(), KernelError> {
    check_at(&a, &x, &y)?;
    let (m, k) = a.shape();
    let nnz = a.nnz();
    let (row_ptr, mut next) = transposed_row_ptr(a.col_idx(), k);
    let mut row_idx = vec![I::default(); nnz];
    let n = x.ncols();
    with_f32_out(y, false, |mut y| {
        let out = Out::rows(&mut y, 1.0, 0.0);
        with_scratch(nnz, |vt| {
            let (rp, ci, av) = (a.row_ptr(), a.col_idx(), a.values());
            for i in 0..m {
                let ii = I::from_usize(i);
                for q in rp[i].index()..rp[i + 1].index() {
                    let j = ci[q].index();
                    let dst = next[j];
                    next[j] += 1;
                    row_idx[dst] = ii;
                    vt[dst] = av[q].to_f32();
                }
            }
            run_csr_rows(
                Isa::detect(),
                &row_ptr,
                &row_idx,
                Direct(vt.as_ptr()),
                x,
                n,
                out,
            );
        });
    });
    Ok(())
}

/// `Y = Aᵀ·X` through a cached transpose of `A`'s pattern. Each row of `Y` is produced by one
/// thread, so the result does not depend on the thread count (no atomics, no reductions).
///
/// The cache must have been built from `A`'s pattern; only shape and nnz are checked (a cache of
/// another pattern of the same shape and nnz gives a wrong result, never undefined behaviour).
pub fn spmm_at_cached<T: Scalar, I: SpIndex, X: Element, Y: Element>(
    t: &CsrTranspose<I>,
    a: CsrView<'_, T, I>,
    x: MatRef<'_, X>,
    y: MatMut<'_, Y>,
) -> Result<(), KernelError> {
    spmm_at_isa(Isa::detect(), t, a, x, y)
}

fn check_at<T: Scalar, I: SpIndex, X, Y>(
    a: &CsrView<'_, T, I>,
    x: &MatRef<'_, X>,
    y: &MatMut<'_, Y>,
) -> Result<(), KernelError> {
    const OP: &str = "spmm_at";
    let (m, k) = a.shape();
    if x.nrows() != m {
        return Err(KernelError::shape(
            OP,
            format!("A is {m}×{k} but X has {} rows", x.nrows()),
        ));
    }
    check_y(OP, y, k, x.ncols(), "Aᵀ·X")
}

/// [`spmm_at_cached`] on an explicit instruction set.
pub fn spmm_at_isa<T: Scalar, I: SpIndex, X: Element, Y: Element>(
    isa: Isa,
    t: &CsrTranspose<I>,
    a: CsrView<'_, T, I>,
    x: MatRef<'_, X>,
    y: MatMut<'_, Y>,
) -> Result<(), KernelError> {
    check_at(&a, &x, &y)?;
    if t.shape() != a.shape() || t.nnz() != a.nnz() {
        return Err(KernelError::PatternMismatch {
            op: "spmm_at",
            detail: format!(
                "transpose cache is for a {}×{} pattern with {} non-zeros but A is {}×{} with {}",
                t.nrows,
                t.ncols,
                t.nnz(),
                a.nrows(),
                a.ncols(),
                a.nnz()
            ),
        });
    }
    let n = x.ncols();
    with_f32_out(y, false, |mut y| {
        let out = Out::rows(&mut y, 1.0, 0.0);
        // Put Aᵀ's values in transposed order once, then run the plain kernel on them. Scattering
        // (sequential reads, random writes through `dest`) measured 1.15–1.3× faster than gathering
        // through `perm`, which in turn is 1.5× faster than reading through `perm` inside the FMA
        // loop (docs/kernels.md).
        with_scratch(t.nnz(), |vt| {
            scatter_flat(&t.dest, a.values(), vt);
            run_csr_rows(isa, &t.row_ptr, &t.row_idx, Direct(vt.as_ptr()), x, n, out);
        });
    });
    Ok(())
}

/// `vt[dest[p]] = values[p]` in storage order (random writes over all of `vt`).
fn scatter_flat<T: Scalar, I: SpIndex>(dest: &[I], av: &[T], vt: &mut [f32]) {
    let par = av.len() >= 4 * GATHER_CHUNK && rayon::current_num_threads() > 1;
    let vp = SyncPtr(vt.as_mut_ptr());
    let scatter = |(c, chunk): (usize, &[T])| {
        let base = c * GATHER_CHUNK;
        for (v, d) in chunk.iter().zip(&dest[base..]) {
            // SAFETY: dest is a permutation of 0..nnz (CsrTranspose invariant) and
            // vt.len() == nnz: every slot is written exactly once, by one task.
            unsafe { *vp.get().add(d.index()) = v.to_f32() };
        }
    };
    if par {
        av.par_chunks(GATHER_CHUNK).enumerate().for_each(scatter);
    } else {
        av.chunks(GATHER_CHUNK).enumerate().for_each(scatter);
    }
}
