//! The CubeCL kernels of the CSR ops (`spmm`, `spmm_t`, the long-row split, `sddmm`, `gather`,
//! `to_dense`'s scatter); `mod.rs` launches them. One thread per output element unless a kernel
//! says otherwise (see `mod.rs` for the design).

use cubecl::prelude::*;

/// `out[r, j] = Σ_{e ∈ row r} v[e] · x[col[e], j]`; `out` contiguous `m × n`.
#[cube(launch)]
pub fn spmm<F: Float, I: Int>(
    row_ptr: &Tensor<I>,
    col_idx: &Tensor<I>,
    values: &Tensor<F>,
    x: &Tensor<F>,
    out: &mut Tensor<F>,
    long_min: usize,
    #[define(F, I)] _dtypes: [ElemType; 2],
) {
    let n = out.shape(1);
    if ABSOLUTE_POS >= out.shape(0) * n {
        terminate!();
    }
    let r = ABSOLUTE_POS / n;
    let j = ABSOLUTE_POS % n;
    let start = usize::cast_from(row_ptr[r]);
    let end = usize::cast_from(row_ptr[r + 1]);
    if end - start >= long_min {
        terminate!(); // a long row: written by `spmm_long`
    }
    let mut acc = F::new(0.0_f32);
    for e in start..end {
        let c = usize::cast_from(col_idx[e]);
        acc += values[e] * x[c * x.stride(0) + j * x.stride(1)];
    }
    out[ABSOLUTE_POS] = acc;
}

/// [`spmm`] with `N`-wide vector loads and stores of the dense operand: one thread per
/// `N` consecutive outputs of a row. `x` (`k × n`) and `out` (`m × n`) contiguous,
/// `n % N == 0`. Each stored entry of `A` is read once per `N` outputs instead of once per
/// output, and `X` is read in 16-byte transactions (for `N = 4`).
#[cube(launch)]
pub fn spmm_vec<F: Float, I: Int, N: Size>(
    row_ptr: &Tensor<I>,
    col_idx: &Tensor<I>,
    values: &Tensor<F>,
    x: &Tensor<Vector<F, N>>,
    out: &mut Tensor<Vector<F, N>>,
    long_min: usize,
    #[define(F, I)] _dtypes: [ElemType; 2],
) {
    let nv = out.shape(1) / out.vector_size();
    if ABSOLUTE_POS >= out.shape(0) * nv {
        terminate!();
    }
    let r = ABSOLUTE_POS / nv;
    let j = ABSOLUTE_POS % nv;
    let start = usize::cast_from(row_ptr[r]);
    let end = usize::cast_from(row_ptr[r + 1]);
    if end - start >= long_min {
        terminate!(); // a long row: written by `spmm_long`
    }
    let mut acc = Vector::<F, N>::new(F::new(0.0_f32));
    for e in start..end {
        let c = usize::cast_from(col_idx[e]);
        acc += Vector::new(values[e]) * x[c * nv + j];
    }
    out[ABSOLUTE_POS] = acc;
}

/// `out[b, r] = Σ_{e ∈ row r} v[e] · x[b, col[e]]`; `out` contiguous `batch × m`.
#[cube(launch)]
pub fn spmm_t<F: Float, I: Int>(
    row_ptr: &Tensor<I>,
    col_idx: &Tensor<I>,
    values: &Tensor<F>,
    x: &Tensor<F>,
    out: &mut Tensor<F>,
    long_min: usize,
    #[define(F, I)] _dtypes: [ElemType; 2],
) {
    let m = out.shape(1);
    if ABSOLUTE_POS >= out.shape(0) * m {
        terminate!();
    }
    let b = ABSOLUTE_POS / m;
    let r = ABSOLUTE_POS % m;
    let start = usize::cast_from(row_ptr[r]);
    let end = usize::cast_from(row_ptr[r + 1]);
    if end - start >= long_min {
        terminate!(); // a long row: written by `spmm_long`
    }
    let mut acc = F::new(0.0_f32);
    for e in start..end {
        let c = usize::cast_from(col_idx[e]);
        acc += values[e] * x[b * x.stride(0) + c * x.stride(1)];
    }
    out[ABSOLUTE_POS] = acc;
}

/// `flags[r] = 1` when row `r` has at least `long_min` entries, else 0; one thread per row.
#[cube(launch)]
pub fn long_flags<I: Int>(
    row_ptr: &Tensor<I>,
    flags: &mut Tensor<I>,
    long_min: usize,
    #[define(I)] _dtype: ElemType,
) {
    if ABSOLUTE_POS >= flags.shape(0) {
        terminate!();
    }
    let len = usize::cast_from(row_ptr[ABSOLUTE_POS + 1]) - usize::cast_from(row_ptr[ABSOLUTE_POS]);
    let mut f = 0u32;
    if len >= long_min {
        f = 1u32;
    }
    flags[ABSOLUTE_POS] = I::cast_from(f);
}

/// `list[pos[r]] = r` for every long row `r` (`pos` the exclusive scan of the flags).
#[cube(launch)]
pub fn long_list<I: Int>(pos: &Tensor<I>, list: &mut Tensor<I>, #[define(I)] _dtype: ElemType) {
    if ABSOLUTE_POS >= pos.shape(0) - 1 {
        terminate!();
    }
    let p = pos[ABSOLUTE_POS];
    if pos[ABSOLUTE_POS + 1] > p {
        list[usize::cast_from(p)] = I::cast_from(ABSOLUTE_POS);
    }
}

/// The long rows of `spmm` / `spmm_t`: cube `(s, o)` computes output `o` (a column `j` of
/// `Y = A·X`, or a batch row `b` of `Y = X·Aᵀ`) of the `s`-th long row; its `threads` units
/// take strided entries of the row, then a shared-memory tree reduction (fixed order, no
/// atomics). Cubes past the number of long rows (`pos[m]`) do nothing.
#[cube(launch)]
pub fn spmm_long<F: Float, I: Int>(
    row_ptr: &Tensor<I>,
    col_idx: &Tensor<I>,
    values: &Tensor<F>,
    x: &Tensor<F>,
    pos: &Tensor<I>,
    list: &Tensor<I>,
    out: &mut Tensor<F>,
    #[comptime] threads: usize,
    #[comptime] transposed: bool,
    #[define(F, I)] _dtypes: [ElemType; 2],
) {
    let mut partial = Shared::new_slice(threads);
    let slot = CUBE_POS_X as usize;
    let o = CUBE_POS_Y as usize;
    let u = UNIT_POS_X as usize;
    let m = row_ptr.shape(0) - 1;
    let count = usize::cast_from(pos[m]);
    let mut acc = F::new(0.0_f32);
    let mut r = 0usize;
    // No early exit: every unit reaches every barrier.
    if slot < count {
        r = usize::cast_from(list[slot]);
        let end = usize::cast_from(row_ptr[r + 1]);
        let mut e = usize::cast_from(row_ptr[r]) + u;
        while e < end {
            let c = usize::cast_from(col_idx[e]);
            if transposed {
                acc += values[e] * x[o * x.stride(0) + c * x.stride(1)];
            } else {
                acc += values[e] * x[c * x.stride(0) + o * x.stride(1)];
            }
            e += threads;
        }
    }
    partial[u] = acc;
    sync_cube();
    let mut active = threads.runtime();
    while active > 1 {
        active /= 2;
        if u < active {
            let other = partial[u + active];
            partial[u] += other;
        }
        sync_cube();
    }
    let width = out.shape(1);
    if u == 0 && slot < count {
        if transposed {
            out[o * width + r] = partial[0];
        } else {
            out[r * width + o] = partial[0];
        }
    }
}

/// `row_of[e] = r` for every stored entry `e` of row `r`; one thread per row.
#[cube(launch)]
pub fn row_of<I: Int>(
    row_ptr: &Tensor<I>,
    row_of: &mut Tensor<I>,
    rows: usize,
    #[define(I)] _dtype: ElemType,
) {
    if ABSOLUTE_POS >= rows {
        terminate!();
    }
    let start = usize::cast_from(row_ptr[ABSOLUTE_POS]);
    let end = usize::cast_from(row_ptr[ABSOLUTE_POS + 1]);
    for e in start..end {
        row_of[e] = I::cast_from(ABSOLUTE_POS);
    }
}

/// `out[e] = Σ_t l[row[e], t] · r[col[e], t]`; one thread per stored entry.
#[cube(launch)]
pub fn sddmm<F: Float, I: Int>(
    row_of: &Tensor<I>,
    col_idx: &Tensor<I>,
    l: &Tensor<F>,
    r: &Tensor<F>,
    out: &mut Tensor<F>,
    #[define(F, I)] _dtypes: [ElemType; 2],
) {
    if ABSOLUTE_POS >= out.shape(0) {
        terminate!();
    }
    let i = usize::cast_from(row_of[ABSOLUTE_POS]);
    let j = usize::cast_from(col_idx[ABSOLUTE_POS]);
    let d = l.shape(1);
    let mut acc = F::new(0.0_f32);
    for t in 0..d {
        acc += l[i * l.stride(0) + t * l.stride(1)] * r[j * r.stride(0) + t * r.stride(1)];
    }
    out[ABSOLUTE_POS] = acc;
}

/// [`sddmm`] for long dot products: one cube of `threads` units per stored entry (cube
/// `(x, y)` is entry `y·count_x + x`); each unit sums a strided slice of `t`, then a tree
/// reduction in shared memory (no atomics, fixed order: deterministic).
#[cube(launch)]
pub fn sddmm_coop<F: Float, I: Int>(
    row_of: &Tensor<I>,
    col_idx: &Tensor<I>,
    l: &Tensor<F>,
    r: &Tensor<F>,
    out: &mut Tensor<F>,
    #[comptime] threads: usize,
    #[define(F, I)] _dtypes: [ElemType; 2],
) {
    let mut partial = Shared::new_slice(threads);
    let e = CUBE_POS_Y as usize * CUBE_COUNT_X as usize + CUBE_POS_X as usize;
    let u = UNIT_POS_X as usize;
    let nnz = out.shape(0);
    let d = l.shape(1);
    let mut acc = F::new(0.0_f32);
    // No early exit: every unit reaches every barrier (cubes past nnz just add zeros).
    if e < nnz {
        let i = usize::cast_from(row_of[e]);
        let j = usize::cast_from(col_idx[e]);
        let mut t = u;
        while t < d {
            acc += l[i * l.stride(0) + t * l.stride(1)] * r[j * r.stride(0) + t * r.stride(1)];
            t += threads;
        }
    }
    partial[u] = acc;
    sync_cube();
    let mut active = threads.runtime();
    while active > 1 {
        active /= 2;
        if u < active {
            let other = partial[u + active];
            partial[u] += other;
        }
        sync_cube();
    }
    if u == 0 && e < nnz {
        out[e] = partial[0];
    }
}

/// `out[e] = d[row[e], col[e]]`; one thread per stored entry.
#[cube(launch)]
pub fn gather<F: Float, I: Int>(
    row_of: &Tensor<I>,
    col_idx: &Tensor<I>,
    d: &Tensor<F>,
    out: &mut Tensor<F>,
    #[define(F, I)] _dtypes: [ElemType; 2],
) {
    if ABSOLUTE_POS >= out.shape(0) {
        terminate!();
    }
    let i = usize::cast_from(row_of[ABSOLUTE_POS]);
    let j = usize::cast_from(col_idx[ABSOLUTE_POS]);
    out[ABSOLUTE_POS] = d[i * d.stride(0) + j * d.stride(1)];
}

/// `out[row[e], col[e]] = v[e]` into a zeroed contiguous `out`; one thread per stored entry.
#[cube(launch)]
pub fn scatter<F: Float, I: Int>(
    row_of: &Tensor<I>,
    col_idx: &Tensor<I>,
    values: &Tensor<F>,
    out: &mut Tensor<F>,
    #[define(F, I)] _dtypes: [ElemType; 2],
) {
    if ABSOLUTE_POS >= values.shape(0) {
        terminate!();
    }
    let i = usize::cast_from(row_of[ABSOLUTE_POS]);
    let j = usize::cast_from(col_idx[ABSOLUTE_POS]);
    let k = out.shape(1);
    out[i * k + j] = values[ABSOLUTE_POS];
}
