//! Row-wise top-k and dense → CSR by threshold on Cube (wgpu, CUDA, ...).
//!
//! - `topk_rows`, `k ≤ 32`: one thread per row keeps a sorted list (best first) of the `k` best
//!   keys seen so far and inserts each new element that beats the current k-th (one compare for
//!   most elements once the list is full). The list lives in the output row and a `rows × k`
//!   scratch buffer of keys in global memory (no register or shared-memory limit; small, so it
//!   stays in cache). Worst case (increasing rows) O(cols·k) per row.
//! - `topk_rank`, `k > 32` (the fallback for large `k`, where insertion would cost O(cols·k)
//!   serial steps per row): one thread per element counts the elements of its row that beat it
//!   and writes itself at that rank if it is below `k`. O(cols) per thread, O(rows·cols²) work
//!   in all but fully parallel, so a single long row does not serialize on one thread.
//! - Keys are the f32 bits of the vocabulary's `rank_key` (every NaN → +NaN, `-0.0` → `+0.0`)
//!   mapped to an order-preserving u32 (the order of [`f32::total_cmp`]), so values rank as on
//!   the CPU backends (`sparsekit_formats::sparsity`); ties go to the lower column.
//! - `column_order` (for CSR patterns) rewrites each row in increasing column order with one
//!   pass over the row: the kept set is every key above the k-th plus the lowest-column ties.
//! - threshold: per-row counts, an exclusive prefix sum (`scan`), then one thread per row
//!   writes its column indices at `row_ptr[r]`.
//!
//! The prefix sum is a two-level scan: `T = ⌈m / C⌉` chunks of `C ≈ √m` (at least 64) rows;
//! (1) one thread per chunk sums it, (2) one thread scans the `T` chunk sums, (3) one thread per
//! chunk rescans its chunk from its offset. O(m) work, O(√m) depth, no shared memory, no atomics,
//! deterministic.

use burn::backend::tensor::IntTensor;
use burn::backend::{Cube, TensorMetadata};
use burn::tensor::DType;
use burn_backend::cubecl::dtype_to_storage_type;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;
use cubecl::CubeDim;

use super::{dims2, empty_dtype, launch_dims, zeros_dtype};

mod kernels {
    use cubecl::prelude::*;

    /// Order-preserving map of f32 bits to u32 (the order of `f32::total_cmp` on
    /// `sparsekit_formats::sparsity::rank_key`: every NaN is +NaN, `-0.0` is `+0.0`); with
    /// `magnitude`, the sign bit is cleared first.
    #[cube]
    fn order_key(bits: u32, #[comptime] magnitude: bool) -> u32 {
        let mut b = bits;
        if magnitude {
            b = bits & 0x7FFF_FFFFu32;
        }
        let abs = b & 0x7FFF_FFFFu32;
        if abs > 0x7F80_0000u32 {
            b = 0x7FC0_0000u32; // any NaN: the positive quiet NaN
        }
        if abs == 0u32 {
            b = 0u32; // -0.0 ranks as +0.0
        }
        let mut key = b | 0x8000_0000u32;
        if b >= 0x8000_0000u32 {
            key = b ^ 0xFFFF_FFFFu32;
        }
        key
    }

    /// One thread per row: the `k` best (key, column) pairs, best first, into `out` (and
    /// `keys`, scratch), both contiguous `rows × k`. Requires `k ≥ 1`.
    #[cube(launch)]
    pub fn topk_rows<F: Float, I: Int>(
        x: &Tensor<F>,
        keys: &mut Tensor<u32>,
        out: &mut Tensor<I>,
        k: usize,
        #[comptime] magnitude: bool,
        #[define(F, I)] _dtypes: [ElemType; 2],
    ) {
        let rows = x.shape(0);
        if ABSOLUTE_POS >= rows {
            terminate!();
        }
        let r = ABSOLUTE_POS;
        let cols = x.shape(1);
        let base = r * k;
        let mut filled = 0usize;
        for j in 0..cols {
            let v = f32::cast_from(x[r * x.stride(0) + j * x.stride(1)]);
            let key = order_key(u32::reinterpret(v), magnitude);
            // Columns arrive in increasing order, so an equal key never beats a kept one: the
            // tie goes to the lower column without comparing indices.
            let mut insert = false;
            let mut p = 0usize;
            if filled < k {
                insert = true;
                p = filled;
                filled += 1;
            } else if key > keys[base + k - 1] {
                insert = true;
                p = k - 1;
            }
            if insert {
                loop {
                    if p == 0 {
                        break;
                    }
                    if key <= keys[base + p - 1] {
                        break;
                    }
                    keys[base + p] = keys[base + p - 1];
                    out[base + p] = out[base + p - 1];
                    p -= 1;
                }
                keys[base + p] = key;
                out[base + p] = I::cast_from(j);
            }
        }
    }

    /// Large `k`: one thread per element `(r, j)` computes its rank in row `r` (the number of
    /// elements that beat it: a larger key, or an equal key at a lower column) and, if the rank
    /// is below `k`, writes `j` at `out[r, rank]`. Ranks are distinct, so every slot of the
    /// `rows × k` output is written exactly once. O(cols) per thread, fully parallel.
    #[cube(launch)]
    pub fn topk_rank<F: Float, I: Int>(
        x: &Tensor<F>,
        out: &mut Tensor<I>,
        k: usize,
        #[comptime] magnitude: bool,
        #[define(F, I)] _dtypes: [ElemType; 2],
    ) {
        let cols = x.shape(1);
        if ABSOLUTE_POS >= x.shape(0) * cols {
            terminate!();
        }
        let r = ABSOLUTE_POS / cols;
        let j = ABSOLUTE_POS % cols;
        let row = r * x.stride(0);
        let key = order_key(
            u32::reinterpret(f32::cast_from(x[row + j * x.stride(1)])),
            magnitude,
        );
        let mut rank = 0usize;
        for q in 0..cols {
            let kq = order_key(
                u32::reinterpret(f32::cast_from(x[row + q * x.stride(1)])),
                magnitude,
            );
            if kq > key || (kq == key && q < j) {
                rank += 1;
            }
        }
        if rank < k {
            out[r * k + rank] = I::cast_from(j);
        }
    }

    /// Rewrites each row of a best-first top-k `out` in increasing column order; one thread per
    /// row, O(cols + k): the kept set is every key above the k-th key plus the lowest-column
    /// ties equal to it, so one pass over the row lists it in column order.
    #[cube(launch)]
    pub fn column_order<F: Float, I: Int>(
        x: &Tensor<F>,
        out: &mut Tensor<I>,
        k: usize,
        #[comptime] magnitude: bool,
        #[define(F, I)] _dtypes: [ElemType; 2],
    ) {
        if ABSOLUTE_POS >= x.shape(0) {
            terminate!();
        }
        let r = ABSOLUTE_POS;
        let row = r * x.stride(0);
        let base = r * k;
        let last = usize::cast_from(out[base + k - 1]);
        let kth = order_key(
            u32::reinterpret(f32::cast_from(x[row + last * x.stride(1)])),
            magnitude,
        );
        let mut above = 0usize;
        for q in 0..k {
            let c = usize::cast_from(out[base + q]);
            let key = order_key(
                u32::reinterpret(f32::cast_from(x[row + c * x.stride(1)])),
                magnitude,
            );
            if key > kth {
                above += 1;
            }
        }
        let mut ties = k - above;
        let mut p = 0usize;
        for j in 0..x.shape(1) {
            let key = order_key(
                u32::reinterpret(f32::cast_from(x[row + j * x.stride(1)])),
                magnitude,
            );
            let mut keep = key > kth;
            if key == kth && ties > 0 {
                keep = true;
                ties -= 1;
            }
            if keep {
                out[base + p] = I::cast_from(j);
                p += 1;
            }
        }
    }

    /// `counts[r] = #{j : |x[r, j]| > threshold}`; one thread per row.
    #[cube(launch)]
    pub fn threshold_counts<F: Float, I: Int>(
        x: &Tensor<F>,
        counts: &mut Tensor<I>,
        threshold: f32,
        #[define(F, I)] _dtypes: [ElemType; 2],
    ) {
        if ABSOLUTE_POS >= x.shape(0) {
            terminate!();
        }
        let r = ABSOLUTE_POS;
        let t = F::cast_from(threshold);
        let mut count = 0usize;
        for j in 0..x.shape(1) {
            if F::abs(x[r * x.stride(0) + j * x.stride(1)]) > t {
                count += 1;
            }
        }
        counts[r] = I::cast_from(count);
    }

    /// The column indices of row `r` with `|x[r, j]| > threshold`, written from `row_ptr[r]`.
    #[cube(launch)]
    pub fn threshold_fill<F: Float, I: Int>(
        x: &Tensor<F>,
        row_ptr: &Tensor<I>,
        col_idx: &mut Tensor<I>,
        threshold: f32,
        #[define(F, I)] _dtypes: [ElemType; 2],
    ) {
        if ABSOLUTE_POS >= x.shape(0) {
            terminate!();
        }
        let r = ABSOLUTE_POS;
        let t = F::cast_from(threshold);
        let mut p = usize::cast_from(row_ptr[r]);
        for j in 0..x.shape(1) {
            if F::abs(x[r * x.stride(0) + j * x.stride(1)]) > t {
                col_idx[p] = I::cast_from(j);
                p += 1;
            }
        }
    }

    /// Scan level 1: `sums[t] = Σ counts[t·chunk .. min((t+1)·chunk, m)]`.
    #[cube(launch)]
    pub fn chunk_sums<I: Int>(
        counts: &Tensor<I>,
        sums: &mut Tensor<I>,
        chunk: usize,
        #[define(I)] _dtype: ElemType,
    ) {
        if ABSOLUTE_POS >= sums.shape(0) {
            terminate!();
        }
        let m = counts.shape(0);
        let start = ABSOLUTE_POS * chunk;
        let mut end = start + chunk;
        if end > m {
            end = m;
        }
        let mut acc = I::cast_from(0u32);
        for i in start..end {
            acc += counts[i];
        }
        sums[ABSOLUTE_POS] = acc;
    }

    /// Scan level 2: exclusive scan of `sums` in place; a single thread.
    #[cube(launch)]
    pub fn scan_sums<I: Int>(sums: &mut Tensor<I>, #[define(I)] _dtype: ElemType) {
        if ABSOLUTE_POS >= 1 {
            terminate!();
        }
        let mut run = I::cast_from(0u32);
        for t in 0..sums.shape(0) {
            let s = sums[t];
            sums[t] = run;
            run += s;
        }
    }

    /// Scan level 3: `row_ptr[i] = offs[t] + Σ counts[t·chunk .. i]` for the rows of chunk `t`;
    /// the last chunk also writes `row_ptr[m]`.
    #[cube(launch)]
    pub fn chunk_scan<I: Int>(
        counts: &Tensor<I>,
        offs: &Tensor<I>,
        row_ptr: &mut Tensor<I>,
        chunk: usize,
        #[define(I)] _dtype: ElemType,
    ) {
        if ABSOLUTE_POS >= offs.shape(0) {
            terminate!();
        }
        let m = counts.shape(0);
        let start = ABSOLUTE_POS * chunk;
        let mut end = start + chunk;
        if end > m {
            end = m;
        }
        let mut run = offs[ABSOLUTE_POS];
        for i in start..end {
            row_ptr[i] = run;
            run += counts[i];
        }
        if end == m {
            row_ptr[m] = run;
        }
    }
}

fn int_out(like: &CubeTensor, shape: Vec<usize>) -> CubeTensor {
    empty_dtype(like, shape, DType::I32)
}

/// Up to this `k` the per-row insertion kernel runs; above it the per-element rank kernel.
const INSERTION_MAX_K: usize = 32;

pub(super) fn topk_rows(
    x: CubeTensor,
    k: usize,
    magnitude: bool,
    column_order: bool,
) -> IntTensor<Cube> {
    let (m, c) = dims2(&x, "X");
    assert!(k <= c, "sparsekit-tensor: topk: k = {k} > {c} columns");
    let out = int_out(&x, vec![m, k]);
    if m == 0 || k == 0 {
        return out;
    }
    let dtypes = [
        dtype_to_storage_type(x.dtype),
        dtype_to_storage_type(out.dtype),
    ];
    if k <= INSERTION_MAX_K {
        let keys = empty_dtype(&x, vec![m, k], DType::U32);
        let (count, dim) = launch_dims(&out, m);
        kernels::topk_rows::launch(
            &out.client,
            count,
            dim,
            x.clone().into_tensor_arg(),
            keys.into_tensor_arg(),
            out.clone().into_tensor_arg(),
            k,
            magnitude,
            dtypes,
        );
    } else {
        let (count, dim) = launch_dims(&out, m * c);
        kernels::topk_rank::launch(
            &out.client,
            count,
            dim,
            x.clone().into_tensor_arg(),
            out.clone().into_tensor_arg(),
            k,
            magnitude,
            dtypes,
        );
    }
    if column_order {
        let (count, dim) = launch_dims(&out, m);
        kernels::column_order::launch(
            &out.client,
            count,
            dim,
            x.into_tensor_arg(),
            out.clone().into_tensor_arg(),
            k,
            magnitude,
            dtypes,
        );
    }
    out
}

/// Exclusive prefix sum of `counts` (`m`, contiguous Int) into a new `m + 1` tensor.
pub(super) fn exclusive_scan(counts: &CubeTensor) -> CubeTensor {
    let m = counts.shape()[0];
    if m == 0 {
        return zeros_dtype(counts, vec![1], counts.dtype);
    }
    let chunk = ((m as f64).sqrt().ceil() as usize).max(64);
    let chunks = m.div_ceil(chunk);
    let dtype = dtype_to_storage_type(counts.dtype);
    let sums = empty_dtype(counts, vec![chunks], counts.dtype);
    let row_ptr = empty_dtype(counts, vec![m + 1], counts.dtype);
    let (count, dim) = launch_dims(counts, chunks);
    kernels::chunk_sums::launch(
        &counts.client,
        count.clone(),
        dim,
        counts.clone().into_tensor_arg(),
        sums.clone().into_tensor_arg(),
        chunk,
        dtype,
    );
    kernels::scan_sums::launch(
        &counts.client,
        CubeCount::Static(1, 1, 1),
        CubeDim::new_1d(1),
        sums.clone().into_tensor_arg(),
        dtype,
    );
    kernels::chunk_scan::launch(
        &counts.client,
        count,
        dim,
        counts.clone().into_tensor_arg(),
        sums.into_tensor_arg(),
        row_ptr.clone().into_tensor_arg(),
        chunk,
        dtype,
    );
    row_ptr
}

pub(super) fn threshold_row_ptr(x: CubeTensor, threshold: f32) -> IntTensor<Cube> {
    let (m, _) = dims2(&x, "X");
    let counts = int_out(&x, vec![m]);
    if m == 0 {
        return zeros_dtype(&x, vec![1], DType::I32);
    }
    let (count, dim) = launch_dims(&counts, m);
    let dtypes = [
        dtype_to_storage_type(x.dtype),
        dtype_to_storage_type(counts.dtype),
    ];
    kernels::threshold_counts::launch(
        &counts.client,
        count,
        dim,
        x.into_tensor_arg(),
        counts.clone().into_tensor_arg(),
        threshold,
        dtypes,
    );
    exclusive_scan(&counts)
}

pub(super) fn threshold_col_idx(
    x: CubeTensor,
    threshold: f32,
    row_ptr: CubeTensor,
    nnz: usize,
) -> IntTensor<Cube> {
    let (m, _) = dims2(&x, "X");
    assert_eq!(
        row_ptr.shape()[0],
        m + 1,
        "sparsekit-tensor: threshold_col_idx: row_ptr length"
    );
    let col_idx = empty_dtype(&row_ptr, vec![nnz], row_ptr.dtype);
    if m == 0 || nnz == 0 {
        return col_idx;
    }
    let (count, dim) = launch_dims(&col_idx, m);
    let dtypes = [
        dtype_to_storage_type(x.dtype),
        dtype_to_storage_type(row_ptr.dtype),
    ];
    kernels::threshold_fill::launch(
        &col_idx.client,
        count,
        dim,
        x.into_tensor_arg(),
        row_ptr.into_tensor_arg(),
        col_idx.clone().into_tensor_arg(),
        threshold,
        dtypes,
    );
    col_idx
}
