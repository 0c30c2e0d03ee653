//! Cube (wgpu, CUDA, ...): straightforward CubeCL kernels, one thread per output element.
//!
//! Correct first, not fast (the fast shaders are their own issue):
//! - `spmm` / `spmm_t`: one thread per output entry walks one CSR row; `spmm` with `n % 4 == 0`
//!   uses `Vector<F, 4>` loads/stores of `X` and `Y` (one thread per 4 outputs of a row);
//!   long rows (power-law patterns) are skipped by those kernels and computed by `spmm_long`,
//!   one cube of 64 units per (long row, output) with a shared-memory tree reduction, when the
//!   output is small (< 16384 entries: the device is not filled and a long row's serial loop is
//!   the critical path); rows are classified and listed on the device (flags, prefix sum,
//!   compaction), no read-back;
//! - `spmm` / `spmm_t` of a pattern tagged `Structure::Block` (aligned `r × c` blocks): one cube
//!   per (block row, tile of the dense extent), the dense slice each block multiplies staged in
//!   shared memory once per cube (`blocks.rs`); N:M-tagged patterns run the CSR row split, which
//!   is already exactly balanced for them (every row stores `N·k/M` entries);
//! - `sddmm` / `gather`: one thread per stored entry (its row comes from a `row_of` array
//!   expanded from `row_ptr` by a one-thread-per-row kernel); `sddmm` with `d ≥ 256` runs one
//!   cube of 64 units per stored entry (strided partial dot products + a shared-memory tree
//!   reduction);
//! - `to_dense`: zero fill, then one thread per stored entry scatters (the pattern is canonical,
//!   so no two threads write the same place; no atomics, so it runs on lavapipe).
//! - `spmm_at` / `spmm_xa` use the trait defaults: the pattern is transposed on the host (one
//!   read-back of the index arrays per call), values are permuted on the device, then the
//!   `spmm` / `spmm_t` kernels run. Float atomics are avoided on purpose (lavapipe has none).
//!
//! - `topk_rows`, dense → CSR by threshold (`select.rs`) and the sparse gather-decode with its
//!   gradients (`decode.rs`) are described in their modules.
//!
//! Dense operands are read through their strides, so transposed views need no copy.
//!
//! Files: this one is the backend glue (shapes, buffers, launches); the CSR kernels it launches
//! are in `shaders.rs`; `blocks.rs`, `decode.rs` and `select.rs` each hold one feature's kernels
//! with their launchers.

use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Cube, TensorMetadata};
use burn::tensor::DType;
use burn_backend::cubecl::dtype_to_storage_type;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::{empty_device_contiguous_dtype, zeros_client};
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;
use cubecl::{calculate_cube_count_elemwise, CubeDim};

use super::{float_as, CsrPatternPrimitive, CsrPrimitive, SparseBackend};
use crate::structure::Structure;

mod blocks;
mod decode;
mod select;
mod shaders;

fn dims2(t: &CubeTensor, what: &str) -> (usize, usize) {
    let s = t.shape();
    assert_eq!(
        s.num_dims(),
        2,
        "sparsekit-tensor: {what} must be 2-D, got {s:?}"
    );
    (s[0], s[1])
}

fn launch_dims(t: &CubeTensor, n: usize) -> (CubeCount, CubeDim) {
    let dim = CubeDim::new(&t.client, n);
    let count = calculate_cube_count_elemwise(&t.client, n, dim);
    (count, dim)
}

fn empty(like: &CubeTensor, shape: Vec<usize>) -> CubeTensor {
    empty_device_contiguous_dtype(
        like.client.clone(),
        like.device.clone(),
        shape.into(),
        like.dtype,
    )
}

fn zeros(like: &CubeTensor, shape: Vec<usize>) -> CubeTensor {
    zeros_dtype(like, shape, like.dtype)
}

fn empty_dtype(like: &CubeTensor, shape: Vec<usize>, dtype: DType) -> CubeTensor {
    empty_device_contiguous_dtype(
        like.client.clone(),
        like.device.clone(),
        shape.into(),
        dtype,
    )
}

fn zeros_dtype(like: &CubeTensor, shape: Vec<usize>, dtype: DType) -> CubeTensor {
    zeros_client(
        like.client.clone(),
        like.device.clone(),
        shape.into(),
        dtype,
    )
}

/// `row_of` for a pattern (contiguous, dtype of `col_idx`).
fn row_of(row_ptr: &CubeTensor, col_idx: &CubeTensor, rows: usize) -> CubeTensor {
    let out = empty(col_idx, vec![col_idx.shape()[0]]);
    if rows > 0 && col_idx.shape()[0] > 0 {
        let (count, dim) = launch_dims(&out, rows);
        shaders::row_of::launch(
            &out.client,
            count,
            dim,
            row_ptr.clone().into_tensor_arg(),
            out.clone().into_tensor_arg(),
            rows,
            dtype_to_storage_type(out.dtype),
        );
    }
    out
}

/// From this dot-product length on, `sddmm` runs one cube per stored entry.
const SDDMM_COOP_MIN_D: usize = 256;
/// Units per cube of the cooperative `sddmm` (a power of two, for the tree reduction).
const SDDMM_COOP_THREADS: usize = 64;

/// Vector width of the vectorized `spmm` (16-byte loads of f32).
const VECTOR: usize = 4;

fn spmm_like(a: CsrPrimitive<Cube>, x: CubeTensor, transposed: bool) -> CubeTensor {
    let (m, k) = (a.rows(), a.cols);
    let (r0, r1) = dims2(&x, "X");
    let shape = if transposed {
        assert_eq!(
            r1, k,
            "sparsekit-tensor: spmm_t: X is {r0}×{r1}, W is {m}×{k}"
        );
        vec![r0, m]
    } else {
        assert_eq!(
            r0, k,
            "sparsekit-tensor: spmm: A is {m}×{k}, X is {r0}×{r1}"
        );
        vec![m, r1]
    };
    let n_out = shape[0] * shape[1];
    let a_nnz = a.nnz();
    if a_nnz == 0 || n_out == 0 {
        return zeros(&x, shape);
    }
    let out = empty(&x, shape.clone());
    let (rp, ci, v) = (
        into_contiguous(a.row_ptr),
        into_contiguous(a.col_idx),
        into_contiguous(a.values),
    );
    let dtypes = [
        dtype_to_storage_type(out.dtype),
        dtype_to_storage_type(ci.dtype),
    ];
    if let Structure::Block { rows: r, cols: c } = a.structure {
        if blocks::bsr_spmm(&rp, &ci, &v, &x, &out, (r, c), transposed, dtypes) {
            return out;
        }
    }
    // nnz-balanced split for small outputs: the rows are classified on the device (flags + scan
    // + compaction, no read-back), and the long-row kernel is launched over an upper bound of
    // their number (each long row has ≥ LONG_ROW_MIN entries: at most nnz / LONG_ROW_MIN).
    let other = if transposed { shape[0] } else { shape[1] };
    let long_min = LONG_ROW_MIN;
    let slots = a_nnz / long_min;
    let split = n_out < SMALL_OUTPUT && slots > 0 && slots <= 65_535 && other <= 65_535;
    let long_arg = if split { long_min } else { i32::MAX as usize };
    if !transposed && shape[1] % VECTOR == 0 {
        // Vectorized row split: X made contiguous (a no-op when it is; a copy for views).
        let xv = into_contiguous(x.clone());
        let (count, dim) = launch_dims(&out, n_out / VECTOR);
        shaders::spmm_vec::launch(
            &out.client,
            count,
            dim,
            VECTOR,
            rp.clone().into_tensor_arg(),
            ci.clone().into_tensor_arg(),
            v.clone().into_tensor_arg(),
            xv.into_tensor_arg(),
            out.clone().into_tensor_arg(),
            long_arg,
            dtypes,
        );
    } else {
        let (count, dim) = launch_dims(&out, n_out);
        let args = (
            rp.clone().into_tensor_arg(),
            ci.clone().into_tensor_arg(),
            v.clone().into_tensor_arg(),
            x.clone().into_tensor_arg(),
            out.clone().into_tensor_arg(),
        );
        if transposed {
            shaders::spmm_t::launch(
                &out.client,
                count,
                dim,
                args.0,
                args.1,
                args.2,
                args.3,
                args.4,
                long_arg,
                dtypes,
            );
        } else {
            shaders::spmm::launch(
                &out.client,
                count,
                dim,
                args.0,
                args.1,
                args.2,
                args.3,
                args.4,
                long_arg,
                dtypes,
            );
        }
    }
    if split {
        let flags = empty(&ci, vec![m]);
        let (count, dim) = launch_dims(&flags, m);
        shaders::long_flags::launch(
            &flags.client,
            count.clone(),
            dim,
            rp.clone().into_tensor_arg(),
            flags.clone().into_tensor_arg(),
            long_min,
            dtypes[1],
        );
        let pos = select::exclusive_scan(&flags);
        let list = empty(&ci, vec![slots]);
        shaders::long_list::launch(
            &flags.client,
            count,
            dim,
            pos.clone().into_tensor_arg(),
            list.clone().into_tensor_arg(),
            dtypes[1],
        );
        shaders::spmm_long::launch(
            &out.client,
            CubeCount::Static(slots as u32, other as u32, 1),
            CubeDim::new_1d(LONG_ROW_THREADS as u32),
            rp.into_tensor_arg(),
            ci.into_tensor_arg(),
            v.into_tensor_arg(),
            x.into_tensor_arg(),
            pos.into_tensor_arg(),
            list.into_tensor_arg(),
            out.clone().into_tensor_arg(),
            LONG_ROW_THREADS,
            transposed,
            dtypes,
        );
    }
    out
}

/// Units per cube of the long-row kernel (a power of two, for the tree reduction).
const LONG_ROW_THREADS: usize = 64;
/// Rows with at least this many entries are long.
const LONG_ROW_MIN: usize = 256;
/// Below this many outputs one thread per output does not fill a device, so a long row's serial
/// loop is the critical path and the split pays; above it the split is not attempted (its
/// classification costs five small launches per call, and without per-pattern statistics there
/// is no way to know, without a read-back, whether any row is long).
const SMALL_OUTPUT: usize = 16_384;

/// `t` as f32 on the device (half operands are converted at the edge: the CSR kernels are f32).
fn f32_of(t: CubeTensor) -> CubeTensor {
    float_as::<Cube>(t, DType::F32)
}

/// `a` with f32 values (see [`f32_of`]).
fn f32_values(a: CsrPrimitive<Cube>) -> CsrPrimitive<Cube> {
    CsrPrimitive {
        values: f32_of(a.values),
        ..a
    }
}

/// `spmm` / `spmm_t` in f32, the output cast back to `X`'s dtype (the dtype rule of
/// [`super`]).
fn spmm_edge(a: CsrPrimitive<Cube>, x: CubeTensor, transposed: bool) -> CubeTensor {
    let dtype = x.dtype;
    float_as::<Cube>(spmm_like(f32_values(a), f32_of(x), transposed), dtype)
}

impl SparseBackend for Cube {
    fn csr_spmm(a: CsrPrimitive<Self>, x: FloatTensor<Self>) -> FloatTensor<Self> {
        spmm_edge(a, x, false)
    }

    fn csr_spmm_t(x: FloatTensor<Self>, a: CsrPrimitive<Self>) -> FloatTensor<Self> {
        spmm_edge(a, x, true)
    }

    fn csr_sddmm(
        l: FloatTensor<Self>,
        r: FloatTensor<Self>,
        pattern: CsrPatternPrimitive<Self>,
    ) -> FloatTensor<Self> {
        let dtype = l.dtype;
        float_as::<Self>(sddmm_f32(f32_of(l), f32_of(r), pattern), dtype)
    }

    fn csr_to_dense(a: CsrPrimitive<Self>) -> FloatTensor<Self> {
        let dtype = a.values.dtype;
        float_as::<Self>(to_dense_f32(f32_values(a)), dtype)
    }

    fn csr_gather(d: FloatTensor<Self>, pattern: CsrPatternPrimitive<Self>) -> FloatTensor<Self> {
        let dtype = d.dtype;
        float_as::<Self>(gather_f32(f32_of(d), pattern), dtype)
    }

    fn topk_rows(
        x: FloatTensor<Self>,
        k: usize,
        magnitude: bool,
        column_order: bool,
    ) -> IntTensor<Self> {
        select::topk_rows(x, k, magnitude, column_order)
    }

    fn gather_decode(
        v: FloatTensor<Self>,
        idx: IntTensor<Self>,
        dict: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        decode::gather_decode(v, idx, dict)
    }

    fn gather_decode_dv(
        dy: FloatTensor<Self>,
        idx: IntTensor<Self>,
        dict: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        decode::gather_decode_dv(dy, idx, dict)
    }

    fn gather_decode_dd(
        dy: FloatTensor<Self>,
        v: FloatTensor<Self>,
        idx: IntTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self> {
        decode::gather_decode_dd(dy, v, idx, n)
    }

    fn threshold_row_ptr(x: FloatTensor<Self>, threshold: f32) -> IntTensor<Self> {
        select::threshold_row_ptr(x, threshold)
    }

    fn threshold_col_idx(
        x: FloatTensor<Self>,
        threshold: f32,
        row_ptr: IntTensor<Self>,
        nnz: usize,
    ) -> IntTensor<Self> {
        select::threshold_col_idx(x, threshold, row_ptr, nnz)
    }
}
fn sddmm_f32(l: CubeTensor, r: CubeTensor, pattern: CsrPatternPrimitive<Cube>) -> CubeTensor {
    let (m, k, nnz) = (pattern.rows(), pattern.cols, pattern.nnz());
    let (ml, d) = dims2(&l, "L");
    let (kr, dr) = dims2(&r, "R");
    assert!(
        ml == m && kr == k && dr == d,
        "sparsekit-tensor: sddmm: pattern {m}×{k}, L {ml}×{d}, R {kr}×{dr}"
    );
    if nnz == 0 || d == 0 {
        return zeros(&l, vec![nnz]);
    }
    let (rp, ci) = (
        into_contiguous(pattern.row_ptr),
        into_contiguous(pattern.col_idx),
    );
    let rows = row_of(&rp, &ci, m);
    let out = empty(&l, vec![nnz]);
    let dtypes = [
        dtype_to_storage_type(out.dtype),
        dtype_to_storage_type(ci.dtype),
    ];
    if d >= SDDMM_COOP_MIN_D {
        // One cube per entry; a 2-D grid keeps each dimension under the 65535 limit.
        let cx = nnz.min(65_535);
        let cy = nnz.div_ceil(cx);
        shaders::sddmm_coop::launch(
            &out.client,
            CubeCount::Static(cx as u32, cy as u32, 1),
            CubeDim::new_1d(SDDMM_COOP_THREADS as u32),
            rows.into_tensor_arg(),
            ci.into_tensor_arg(),
            l.into_tensor_arg(),
            r.into_tensor_arg(),
            out.clone().into_tensor_arg(),
            SDDMM_COOP_THREADS,
            dtypes,
        );
        return out;
    }
    let (count, dim) = launch_dims(&out, nnz);
    shaders::sddmm::launch(
        &out.client,
        count,
        dim,
        rows.into_tensor_arg(),
        ci.into_tensor_arg(),
        l.into_tensor_arg(),
        r.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        dtypes,
    );
    out
}

fn to_dense_f32(a: CsrPrimitive<Cube>) -> CubeTensor {
    let (m, k, nnz) = (a.rows(), a.cols, a.nnz());
    let out = zeros(&a.values, vec![m, k]);
    if nnz == 0 {
        return out;
    }
    let (rp, ci, v) = (
        into_contiguous(a.row_ptr),
        into_contiguous(a.col_idx),
        into_contiguous(a.values),
    );
    let rows = row_of(&rp, &ci, m);
    let dtypes = [
        dtype_to_storage_type(out.dtype),
        dtype_to_storage_type(ci.dtype),
    ];
    let (count, dim) = launch_dims(&out, nnz);
    shaders::scatter::launch(
        &out.client,
        count,
        dim,
        rows.into_tensor_arg(),
        ci.into_tensor_arg(),
        v.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        dtypes,
    );
    out
}

fn gather_f32(d: CubeTensor, pattern: CsrPatternPrimitive<Cube>) -> CubeTensor {
    let (m, k, nnz) = (pattern.rows(), pattern.cols, pattern.nnz());
    let (md, kd) = dims2(&d, "D");
    assert!(
        md == m && kd == k,
        "sparsekit-tensor: gather: pattern {m}×{k}, D {md}×{kd}"
    );
    if nnz == 0 {
        return zeros(&d, vec![0]);
    }
    let (rp, ci) = (
        into_contiguous(pattern.row_ptr),
        into_contiguous(pattern.col_idx),
    );
    let rows = row_of(&rp, &ci, m);
    let out = empty(&d, vec![nnz]);
    let dtypes = [
        dtype_to_storage_type(out.dtype),
        dtype_to_storage_type(ci.dtype),
    ];
    let (count, dim) = launch_dims(&out, nnz);
    shaders::gather::launch(
        &out.client,
        count,
        dim,
        rows.into_tensor_arg(),
        ci.into_tensor_arg(),
        d.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        dtypes,
    );
    out
}
