//! Sparse gather-decode `Y[b] = Σ_j V[b,j]·D[idx[b,j]]` and its gradients on Cube.
//!
//! - forward: one thread per output `(b, c)`; consecutive threads read consecutive columns of
//!   the same dictionary rows (coalesced), `k` rows per output;
//! - `dV[b,j] = ⟨dY[b], D[idx[b,j]]⟩`: one thread per `(b, j)`, a dot product over `d`;
//! - `dD[r] = Σ_{idx[b,j] = r} V[b,j]·dY[b]`: float atomics are not portable (lavapipe has
//!   none), so the indices are transposed first: a stable counting sort by latent (on the host,
//!   one read-back of the `B·k` indices, O(B·k + n)) gives, per latent, the list of entries
//!   `b·k + j` in increasing order; then one thread per `(r, c)` sums its list. Deterministic.
//!
//! Indices outside `0..n` (including negative ones) contribute nothing.

use burn::backend::ops::IntTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{try_read_sync, Cube};
use burn::tensor::{DType, TensorData};
use burn_backend::cubecl::dtype_to_storage_type;
use burn_cubecl::tensor::CubeTensor;

use super::{dims2, empty, launch_dims, zeros};

mod kernels {
    use cubecl::prelude::*;

    /// `out[b, c] = Σ_j v[b, j] · dict[idx[b, j], c]`; `out` contiguous `B × d`.
    #[cube(launch)]
    pub fn decode<F: Float, I: Int>(
        v: &Tensor<F>,
        idx: &Tensor<I>,
        dict: &Tensor<F>,
        out: &mut Tensor<F>,
        #[define(F, I)] _dtypes: [ElemType; 2],
    ) {
        let d = out.shape(1);
        if ABSOLUTE_POS >= out.shape(0) * d {
            terminate!();
        }
        let b = ABSOLUTE_POS / d;
        let c = ABSOLUTE_POS % d;
        let n = dict.shape(0);
        let mut acc = F::new(0.0_f32);
        for j in 0..v.shape(1) {
            let r = usize::cast_from(idx[b * idx.stride(0) + j * idx.stride(1)]);
            if r < n {
                acc += v[b * v.stride(0) + j * v.stride(1)]
                    * dict[r * dict.stride(0) + c * dict.stride(1)];
            }
        }
        out[ABSOLUTE_POS] = acc;
    }

    /// `out[b, j] = ⟨dy[b], dict[idx[b, j]]⟩`; `out` contiguous `B × k`.
    #[cube(launch)]
    pub fn decode_dv<F: Float, I: Int>(
        dy: &Tensor<F>,
        idx: &Tensor<I>,
        dict: &Tensor<F>,
        out: &mut Tensor<F>,
        #[define(F, I)] _dtypes: [ElemType; 2],
    ) {
        let k = out.shape(1);
        if ABSOLUTE_POS >= out.shape(0) * k {
            terminate!();
        }
        let b = ABSOLUTE_POS / k;
        let j = ABSOLUTE_POS % k;
        let n = dict.shape(0);
        let r = usize::cast_from(idx[b * idx.stride(0) + j * idx.stride(1)]);
        let mut acc = F::new(0.0_f32);
        if r < n {
            for c in 0..dy.shape(1) {
                acc += dy[b * dy.stride(0) + c * dy.stride(1)]
                    * dict[r * dict.stride(0) + c * dict.stride(1)];
            }
        }
        out[ABSOLUTE_POS] = acc;
    }

    /// `out[r, c] = Σ_{q ∈ t_ptr[r]..t_ptr[r+1]} v[e] · dy[e / k, c]` with `e = t_src[q]` (a
    /// flat index into the `B × k` operands); `out` contiguous `n × d`.
    #[cube(launch)]
    pub fn decode_dd<F: Float, I: Int>(
        t_ptr: &Tensor<I>,
        t_src: &Tensor<I>,
        v: &Tensor<F>,
        dy: &Tensor<F>,
        out: &mut Tensor<F>,
        #[define(F, I)] _dtypes: [ElemType; 2],
    ) {
        let d = out.shape(1);
        if ABSOLUTE_POS >= out.shape(0) * d {
            terminate!();
        }
        let r = ABSOLUTE_POS / d;
        let c = ABSOLUTE_POS % d;
        let k = v.shape(1);
        let start = usize::cast_from(t_ptr[r]);
        let end = usize::cast_from(t_ptr[r + 1]);
        let mut acc = F::new(0.0_f32);
        for q in start..end {
            let e = usize::cast_from(t_src[q]);
            let b = e / k;
            let j = e % k;
            acc += v[b * v.stride(0) + j * v.stride(1)] * dy[b * dy.stride(0) + c * dy.stride(1)];
        }
        out[ABSOLUTE_POS] = acc;
    }
}

pub(super) fn gather_decode(v: CubeTensor, idx: CubeTensor, dict: CubeTensor) -> FloatTensor<Cube> {
    let (b, k) = dims2(&v, "V");
    assert_eq!(
        dims2(&idx, "idx"),
        (b, k),
        "sparsekit-tensor: gather_decode: V and idx shapes differ"
    );
    let (_, d) = dims2(&dict, "D");
    if b * d == 0 || k == 0 {
        return zeros(&dict, vec![b, d]);
    }
    let out = empty(&dict, vec![b, d]);
    let dtypes = [
        dtype_to_storage_type(out.dtype),
        dtype_to_storage_type(idx.dtype),
    ];
    let (count, dim) = launch_dims(&out, b * d);
    kernels::decode::launch(
        &out.client,
        count,
        dim,
        v.into_tensor_arg(),
        idx.into_tensor_arg(),
        dict.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        dtypes,
    );
    out
}

pub(super) fn gather_decode_dv(
    dy: CubeTensor,
    idx: CubeTensor,
    dict: CubeTensor,
) -> FloatTensor<Cube> {
    let (b, k) = dims2(&idx, "idx");
    let (_, d) = dims2(&dict, "D");
    assert_eq!(
        dims2(&dy, "dY"),
        (b, d),
        "sparsekit-tensor: gather_decode_dv: dY shape"
    );
    if b * k == 0 || d == 0 {
        return zeros(&dict, vec![b, k]);
    }
    let out = empty(&dict, vec![b, k]);
    let dtypes = [
        dtype_to_storage_type(out.dtype),
        dtype_to_storage_type(idx.dtype),
    ];
    let (count, dim) = launch_dims(&out, b * k);
    kernels::decode_dv::launch(
        &out.client,
        count,
        dim,
        dy.into_tensor_arg(),
        idx.into_tensor_arg(),
        dict.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        dtypes,
    );
    out
}

/// The stable counting sort of the flat entries `e` by latent `idx[e]` (entries outside
/// `0..n` dropped): `(t_ptr, t_src)` with `t_ptr` of length `n + 1`.
fn transpose_indices(idx: &[i64], n: usize) -> (Vec<i32>, Vec<i32>) {
    let mut t_ptr = vec![0i32; n + 1];
    for &r in idx {
        if (0..n as i64).contains(&r) {
            t_ptr[r as usize + 1] += 1;
        }
    }
    for r in 0..n {
        t_ptr[r + 1] += t_ptr[r];
    }
    let mut next: Vec<i32> = t_ptr[..n].to_vec();
    let mut t_src = vec![0i32; t_ptr[n] as usize];
    for (e, &r) in idx.iter().enumerate() {
        if (0..n as i64).contains(&r) {
            let slot = &mut next[r as usize];
            t_src[*slot as usize] = e as i32;
            *slot += 1;
        }
    }
    (t_ptr, t_src)
}

pub(super) fn gather_decode_dd(
    dy: CubeTensor,
    v: CubeTensor,
    idx: CubeTensor,
    n: usize,
) -> FloatTensor<Cube> {
    let (b, k) = dims2(&v, "V");
    assert_eq!(
        dims2(&idx, "idx"),
        (b, k),
        "sparsekit-tensor: gather_decode_dd: V and idx shapes differ"
    );
    let (by, d) = dims2(&dy, "dY");
    assert_eq!(by, b, "sparsekit-tensor: gather_decode_dd: dY shape");
    if n * d == 0 || b * k == 0 {
        return zeros(&dy, vec![n, d]);
    }
    assert!(
        b * k <= i32::MAX as usize,
        "sparsekit-tensor: gather_decode_dd: more than i32::MAX entries"
    );
    let device = dy.device.clone();
    let host = try_read_sync(Cube::int_into_data(idx))
        .expect("sparsekit-tensor: cannot block on a tensor read on this platform")
        .expect("sparsekit-tensor: reading an index tensor failed")
        .try_into_vec_as::<i64>()
        .expect("sparsekit-tensor: index tensor is not convertible to i64");
    let (t_ptr, t_src) = transpose_indices(&host, n);
    let upload = |v: Vec<i32>| {
        let len = v.len();
        Cube::int_from_data(TensorData::new(v, [len]).convert_dtype(DType::I32), &device)
    };
    let (t_ptr, t_src) = (upload(t_ptr), upload(t_src));
    let out = empty(&dy, vec![n, d]);
    let dtypes = [
        dtype_to_storage_type(out.dtype),
        dtype_to_storage_type(t_ptr.dtype),
    ];
    let (count, dim) = launch_dims(&out, n * d);
    kernels::decode_dd::launch(
        &out.client,
        count,
        dim,
        t_ptr.into_tensor_arg(),
        t_src.into_tensor_arg(),
        v.into_tensor_arg(),
        dy.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        dtypes,
    );
    out
}
