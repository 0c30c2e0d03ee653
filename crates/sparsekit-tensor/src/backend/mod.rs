//! The backend extension: sparse CSR ops on burn primitives.
//!
//! [`SparseBackend`] is a burn 0.22 `#[backend_extension]` implemented for
//! - [`Flex`] and [`NdArray`] (`cpu.rs`): the `sparsekit-kernels` CPU functions on host slices;
//! - [`Cube`] (`cube/`, wgpu/CUDA): hand-written CubeCL kernels (`cube/shaders.rs` CSR products,
//!   `cube/select.rs` top-k and dense → CSR, `cube/decode.rs` the sparse gather-decode);
//! - [`Autodiff<B, C>`] (`autodiff.rs`): hand-written backward passes that stay sparse.
//!
//! Required per backend: the CSR ops (`csr_spmm`, `csr_spmm_t`, `csr_sddmm`, `csr_to_dense`,
//! `csr_gather`), the row-wise top-k (`topk_rows`), the sparse gather-decode and its two
//! gradients (`gather_decode`, `gather_decode_dv`, `gather_decode_dd`), and dense → CSR by
//! threshold (`threshold_row_ptr`, `threshold_col_idx`). Three have default bodies written with
//! the others plus a pattern transpose (`csr_spmm_at`, `csr_spmm_xa`, `csr_sddmm_linear`), and
//! backends override them where a direct kernel exists.
//!
//! # Dtypes (the one rule)
//!
//! CSR values and dense operands may each be F32, F16 or BF16, mixed freely. **The output has the
//! dense operand's dtype** (like burn's matmul): `csr_spmm`, `csr_spmm_t`, `csr_spmm_at`,
//! `csr_spmm_xa` take `X`'s dtype; `csr_sddmm` takes `L`'s (`R` is cast to it first) and
//! `csr_sddmm_linear` takes `X`'s (`dY` is cast to it first); `csr_to_dense` keeps the values'
//! dtype and `csr_gather` the dense matrix's. Arithmetic is f32 everywhere; a half output is the
//! f32 result rounded once. Under `Autodiff`, every gradient comes back in its input's dtype (the
//! values' gradient in the values' dtype, cast with [`float_as`] where the rule gives another).
//! Per backend: Flex runs the half kernels on its bf16 / f16 buffers directly (`cpu.rs`); NdArray
//! has no half dtypes, so half values live there as f32 holding the rounded values (converted
//! at the edge, by `SparseTensor::cast`); Cube casts half operands to f32 on the device, runs
//! the f32 CubeCL kernels and casts the output back (converted at the edge, `cube/`).

use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{backend_extension, try_read_sync, Backend, ExtensionType, TensorMetadata};
#[allow(unused_imports)]
use burn::backend::{Autodiff, Cube, Dispatch, Flex, NdArray};
use burn::tensor::TensorData;
use sparsekit_formats::CsrPatternView;
use sparsekit_kernels::CsrTranspose;

use crate::structure::Structure;

mod attention;
mod autodiff;
mod cpu;
mod cube;
mod normalize;

pub use attention::{key_mask_of, BlockAttentionBackend, BlockLayoutPrimitive, LayoutSet};
pub use normalize::{alpha_of, NormalizeBackend, Normalizer};

/// A CSR matrix as backend primitives: `rows × cols`, `row_ptr` (Int, `rows + 1`), `col_idx`
/// (Int, nnz), `values` (Float, nnz). The pattern is canonical (checked when the user-facing
/// [`SparseTensor`](crate::SparseTensor) is built, and again by the CPU kernels).
#[derive(ExtensionType, Debug, Clone)]
pub struct CsrPrimitive<B: Backend> {
    /// Row pointers, `rows + 1` entries.
    pub row_ptr: IntTensor<B>,
    /// Column indices, nnz entries.
    pub col_idx: IntTensor<B>,
    /// Stored values, nnz entries.
    pub values: FloatTensor<B>,
    /// Number of columns.
    pub cols: usize,
    /// Known structure of the pattern (selects structured CPU kernels; see [`Structure`]).
    pub structure: Structure,
}

/// A CSR pattern (no values) as backend primitives.
#[derive(ExtensionType, Debug, Clone)]
pub struct CsrPatternPrimitive<B: Backend> {
    /// Row pointers, `rows + 1` entries.
    pub row_ptr: IntTensor<B>,
    /// Column indices, nnz entries.
    pub col_idx: IntTensor<B>,
    /// Number of columns.
    pub cols: usize,
    /// Known structure of the pattern.
    pub structure: Structure,
}

impl<B: Backend> CsrPrimitive<B> {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.row_ptr.shape()[0] - 1
    }
    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.col_idx.shape()[0]
    }
    /// The pattern part.
    pub fn pattern(&self) -> CsrPatternPrimitive<B> {
        CsrPatternPrimitive {
            row_ptr: self.row_ptr.clone(),
            col_idx: self.col_idx.clone(),
            cols: self.cols,
            structure: self.structure,
        }
    }
}

impl<B: Backend> CsrPatternPrimitive<B> {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.row_ptr.shape()[0] - 1
    }
    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.col_idx.shape()[0]
    }
    /// This pattern with `values`.
    pub fn with_values(self, values: FloatTensor<B>) -> CsrPrimitive<B> {
        CsrPrimitive {
            row_ptr: self.row_ptr,
            col_idx: self.col_idx,
            values,
            cols: self.cols,
            structure: self.structure,
        }
    }
}

/// Sparse CSR operations on backend primitives (see the module docs for who implements what).
///
/// Shapes: `A` is the CSR matrix (`m × k`).
#[backend_extension(NdArray, Flex, Cube, Autodiff)]
pub trait SparseBackend: Backend {
    /// `Y = A·X`: `X` is `k × n`, `Y` is `m × n`.
    fn csr_spmm(#[extension_type] a: CsrPrimitive<Self>, x: FloatTensor<Self>)
        -> FloatTensor<Self>;

    /// `Y = X·Aᵀ` (the linear-layer forward): `X` is `b × k`, `Y` is `b × m`.
    fn csr_spmm_t(
        x: FloatTensor<Self>,
        #[extension_type] a: CsrPrimitive<Self>,
    ) -> FloatTensor<Self>;

    /// `out[p] = Σ_t L[i,t]·R[j,t]` for the `p`-th stored `(i, j)` of `pattern` (`L·Rᵀ`
    /// sampled at the pattern): `L` is `m × d`, `R` is `k × d`, `out` has nnz entries.
    fn csr_sddmm(
        l: FloatTensor<Self>,
        r: FloatTensor<Self>,
        #[extension_type] pattern: CsrPatternPrimitive<Self>,
    ) -> FloatTensor<Self>;

    /// The dense `m × k` matrix.
    fn csr_to_dense(#[extension_type] a: CsrPrimitive<Self>) -> FloatTensor<Self>;

    /// `out[p] = D[i, j]` for the `p`-th stored `(i, j)` of `pattern`: `D` is `m × k`.
    fn csr_gather(
        d: FloatTensor<Self>,
        #[extension_type] pattern: CsrPatternPrimitive<Self>,
    ) -> FloatTensor<Self>;

    /// `Y = Aᵀ·X`: `X` is `m × n`, `Y` is `k × n`. Default: `csr_spmm` on the transpose.
    fn csr_spmm_at(
        #[extension_type] a: CsrPrimitive<Self>,
        x: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::csr_spmm(csr_transpose::<Self>(a), x)
    }

    /// `Y = X·A`: `X` is `b × m`, `Y` is `b × k`. Default: `csr_spmm_t` on the transpose.
    fn csr_spmm_xa(
        x: FloatTensor<Self>,
        #[extension_type] a: CsrPrimitive<Self>,
    ) -> FloatTensor<Self> {
        Self::csr_spmm_t(x, csr_transpose::<Self>(a))
    }

    /// `out[p] = Σ_b DY[b,i]·X[b,j]` (`DYᵀ·X` at the pattern; the weight gradient of
    /// `Y = X·Wᵀ`): `DY` is `b × m`, `X` is `b × k`. Default: `csr_sddmm` on transposed views.
    fn csr_sddmm_linear(
        dy: FloatTensor<Self>,
        x: FloatTensor<Self>,
        #[extension_type] pattern: CsrPatternPrimitive<Self>,
    ) -> FloatTensor<Self> {
        Self::csr_sddmm(Self::float_transpose(dy), Self::float_transpose(x), pattern)
    }

    /// Row-wise top-k of `X` (`rows × cols`, `k ≤ cols`): the column indices (`rows × k`, i32)
    /// of the `k` largest entries of each row. Ranked by value, or by `|x|` when `magnitude`;
    /// order as [`f32::total_cmp`] (a positive NaN counts as largest), ties towards the lower
    /// column. Listed best first, or in increasing column order when `column_order` (a CSR
    /// pattern). Not differentiable (an index result); values are gathered with burn's `gather`.
    fn topk_rows(
        x: FloatTensor<Self>,
        k: usize,
        magnitude: bool,
        column_order: bool,
    ) -> IntTensor<Self>;

    /// Sparse gather-decode `Y[b] = Σ_j V[b,j]·D[idx[b,j]]`: `V` is `B × k`, `idx` (Int) `B × k`,
    /// `D` is `n × d`, `Y` is `B × d`. Entries whose index is outside `0..n` contribute nothing.
    fn gather_decode(
        v: FloatTensor<Self>,
        idx: IntTensor<Self>,
        dict: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// The gradient of [`gather_decode`](Self::gather_decode) with respect to `V`:
    /// `dV[b,j] = ⟨dY[b], D[idx[b,j]]⟩` (`B × k`).
    fn gather_decode_dv(
        dy: FloatTensor<Self>,
        idx: IntTensor<Self>,
        dict: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// The gradient of [`gather_decode`](Self::gather_decode) with respect to `D`:
    /// `dD[r] = Σ_{(b,j): idx[b,j] = r} V[b,j]·dY[b]` (`n × d`, deterministic: no atomics).
    fn gather_decode_dd(
        dy: FloatTensor<Self>,
        v: FloatTensor<Self>,
        idx: IntTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self>;

    /// Row pointers (`rows + 1`, i32) of the pattern `|X| > threshold` of a dense `X`
    /// (per-row counts, then an exclusive prefix sum).
    fn threshold_row_ptr(x: FloatTensor<Self>, threshold: f32) -> IntTensor<Self>;

    /// Column indices (nnz, i32) of the pattern `|X| > threshold`, given its `row_ptr` (from
    /// [`threshold_row_ptr`](Self::threshold_row_ptr)) and `nnz = row_ptr[rows]`.
    fn threshold_col_idx(
        x: FloatTensor<Self>,
        threshold: f32,
        row_ptr: IntTensor<Self>,
        nnz: usize,
    ) -> IntTensor<Self>;
}

/// `t` in `dtype` (a no-op when it already is): the casts the dtype rule of the module docs asks
/// for.
pub(crate) fn float_as<B: Backend>(
    t: FloatTensor<B>,
    dtype: burn::tensor::DType,
) -> FloatTensor<B> {
    if t.dtype() == dtype {
        t
    } else {
        B::float_cast(t, dtype.into())
    }
}

/// [`float_as`] for user-facing tensors.
pub(crate) fn float_as_tensor<const D: usize>(
    t: burn::tensor::Tensor<D>,
    dtype: burn::tensor::DType,
) -> burn::tensor::Tensor<D> {
    if t.dtype() == dtype {
        t
    } else {
        t.cast(dtype)
    }
}

/// Reads an Int primitive back to the host as `u32` (a copy; for the pattern only).
pub(crate) fn int_to_host<B: Backend>(t: IntTensor<B>) -> Vec<u32> {
    let data = try_read_sync(B::int_into_data(t))
        .expect("sparsekit-tensor: cannot block on a tensor read on this platform")
        .expect("sparsekit-tensor: reading an index tensor failed");
    data.try_into_vec_as::<u32>()
        .expect("sparsekit-tensor: index tensor is not convertible to u32")
}

/// Uploads host indices as an Int primitive of dtype `like`'s dtype.
pub(crate) fn int_from_host<B: Backend>(
    v: Vec<u32>,
    like: &IntTensor<B>,
    device: &B::Device,
) -> IntTensor<B> {
    let n = v.len();
    let data = TensorData::new(v, [n]).convert_dtype(like.dtype());
    B::int_from_data(data, device)
}

/// The transpose `Aᵀ` (`k × m`): the pattern is transposed on the host (one read of the index
/// arrays; O(nnz + k)), the values are gathered on the device with `float_select` (so under
/// autodiff the gradient flows back through the permutation).
pub fn csr_transpose<B: Backend>(a: CsrPrimitive<B>) -> CsrPrimitive<B> {
    let rows = a.rows();
    let device = a.values.device();
    let rp = int_to_host::<B>(a.row_ptr.clone());
    let ci = int_to_host::<B>(a.col_idx.clone());
    let pattern = CsrPatternView::try_new(rows, a.cols, &rp, &ci)
        .unwrap_or_else(|e| panic!("sparsekit-tensor: invalid CSR pattern: {e}"));
    let t = CsrTranspose::new(pattern);
    let row_ptr = int_from_host::<B>(t.row_ptr().to_vec(), &a.row_ptr, &device);
    let col_idx = int_from_host::<B>(t.col_idx().to_vec(), &a.col_idx, &device);
    let perm = int_from_host::<B>(t.perm().to_vec(), &a.col_idx, &device);
    let values = if t.nnz() == 0 {
        a.values
    } else {
        B::float_select(a.values, 0, perm)
    };
    CsrPrimitive {
        row_ptr,
        col_idx,
        values,
        cols: rows,
        structure: a.structure.transposed(),
    }
}
