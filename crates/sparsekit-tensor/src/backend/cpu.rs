//! Flex and NdArray: the `sparsekit-kernels` CPU functions on the tensors' host data.
//!
//! Flex and NdArray: f32 and i32/u32 index data are borrowed from the tensor's buffer when it is
//! contiguous (no copy); i64 indices (NdArray's default int type) take one narrowing pass, and
//! anything else goes through `into_data`. Outputs are built from a `Vec` moved into the tensor.
//!
//! Half precision (the dtype rule is in [`super`]'s docs): the products (`spmm`, `spmm_t`,
//! `spmm_at`, `spmm_xa`, `sddmm`, `sddmm_linear`) and `to_dense` / `gather` read f32, bf16 and
//! f16 tensors as they are ([`HostFloat`]: Flex's bf16 / f16 buffers are borrowed like its f32
//! ones) and call the kernels generic over the value type `T` and the dense type `X`, which
//! widen halves in registers and accumulate in f32; the output is written in the dense
//! operand's type, rounded once. No f32 copy of a half operand is made. NdArray has no half
//! dtypes (see `SparseTensor::cast`), so it only ever sees f32 here. The remaining ops
//! (top-k, threshold, gather-decode) read f32 (`f32_host`; a half tensor is converted).

use std::borrow::Cow;

use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{try_read_sync, Backend, Flex, NdArray, TensorMetadata};
use burn::tensor::{bf16, f16, DType, TensorData};
use sparsekit_formats::{CsrPatternView, CsrView, Scalar};
use sparsekit_kernels::{CsrTranspose, Element, MatMut, MatRef};

use super::{float_as, CsrPatternPrimitive, CsrPrimitive, SparseBackend};
use crate::structure::{nm_offsets, nm_view, BsrParts, Structure};

/// A float tensor's elements on the host in a type the kernels take (row-major).
pub(crate) enum HostFloat<'a> {
    F32(Cow<'a, [f32]>),
    Bf16(Cow<'a, [bf16]>),
    F16(Cow<'a, [f16]>),
}

/// Runs `$body` with `$s: &[E]` bound to the elements of a [`HostFloat`], for each of its
/// three element types (the body is instantiated three times).
macro_rules! with_float {
    ($h:expr, |$s:ident| $body:expr) => {
        match $h {
            HostFloat::F32(c) => {
                let $s: &[f32] = &c;
                $body
            }
            HostFloat::Bf16(c) => {
                let $s: &[bf16] = &c;
                $body
            }
            HostFloat::F16(c) => {
                let $s: &[f16] = &c;
                $body
            }
        }
    };
}

/// [`with_float!`] for two operands of one dtype (the caller casts the second to the first's).
macro_rules! with_float_pair {
    ($a:expr, $b:expr, |$sa:ident, $sb:ident| $body:expr) => {
        match ($a, $b) {
            (HostFloat::F32(a), HostFloat::F32(b)) => {
                let ($sa, $sb): (&[f32], &[f32]) = (&a, &b);
                $body
            }
            (HostFloat::Bf16(a), HostFloat::Bf16(b)) => {
                let ($sa, $sb): (&[bf16], &[bf16]) = (&a, &b);
                $body
            }
            (HostFloat::F16(a), HostFloat::F16(b)) => {
                let ($sa, $sb): (&[f16], &[f16]) = (&a, &b);
                $body
            }
            _ => unreachable!("sparsekit-tensor: SDDMM operands are cast to one dtype first"),
        }
    };
}

/// Host access to a CPU backend's primitives.
pub(crate) trait CpuHost: Backend {
    /// The f32 elements in row-major order (borrowed when possible).
    fn f32_host(t: &FloatTensor<Self>) -> Cow<'_, [f32]>;
    /// The elements as f32, bf16 or f16, in the tensor's own dtype when it is one of these
    /// (borrowed when possible), else converted to f32.
    fn float_host(t: &FloatTensor<Self>) -> HostFloat<'_> {
        HostFloat::F32(Self::f32_host(t))
    }
    /// The indices as u32 (borrowed when possible).
    fn idx_host(t: &IntTensor<Self>) -> Cow<'_, [u32]>;
}

fn data_f32(data: TensorData) -> Vec<f32> {
    data.try_into_vec_as::<f32>()
        .expect("sparsekit-tensor: float tensor is not convertible to f32")
}

fn data_u32(data: TensorData) -> Vec<u32> {
    data.try_into_vec_as::<u32>()
        .expect("sparsekit-tensor: index tensor is not convertible to u32")
}

impl CpuHost for Flex {
    fn float_host(t: &FloatTensor<Self>) -> HostFloat<'_> {
        fn half<E: burn::tensor::Element + bytemuck::Pod>(t: &FloatTensor<Flex>) -> Cow<'_, [E]> {
            match t.as_slice::<E>() {
                Some(s) => Cow::Borrowed(s),
                None => Cow::Owned(
                    t.clone()
                        .into_data()
                        .try_into_vec_as::<E>()
                        .expect("sparsekit-tensor: half tensor data"),
                ),
            }
        }
        match t.dtype() {
            DType::BF16 => HostFloat::Bf16(half::<bf16>(t)),
            DType::F16 => HostFloat::F16(half::<f16>(t)),
            _ => HostFloat::F32(Self::f32_host(t)),
        }
    }
    fn f32_host(t: &FloatTensor<Self>) -> Cow<'_, [f32]> {
        if t.dtype() == DType::F32 {
            if let Some(s) = t.as_slice::<f32>() {
                return Cow::Borrowed(s);
            }
        }
        Cow::Owned(data_f32(t.clone().into_data()))
    }
    fn idx_host(t: &IntTensor<Self>) -> Cow<'_, [u32]> {
        match t.dtype() {
            DType::I32 => {
                if let Some(s) = t.as_slice::<i32>() {
                    // Indices are non-negative (checked by the pattern validation that follows).
                    return Cow::Borrowed(bytemuck::cast_slice::<i32, u32>(s));
                }
            }
            DType::U32 => {
                if let Some(s) = t.as_slice::<u32>() {
                    return Cow::Borrowed(s);
                }
            }
            _ => {}
        }
        Cow::Owned(data_u32(t.clone().into_data()))
    }
}

pub(super) fn read<B: Backend>(
    f: impl std::future::Future<Output = Result<TensorData, burn::backend::ExecutionError>>,
) -> TensorData {
    let _ = std::marker::PhantomData::<B>;
    try_read_sync(f)
        .expect("sparsekit-tensor: cannot block on a tensor read")
        .expect("sparsekit-tensor: tensor read failed")
}

impl CpuHost for NdArray {
    fn f32_host(t: &FloatTensor<Self>) -> Cow<'_, [f32]> {
        use burn::backend::ndarray::NdArrayTensor;
        if let NdArrayTensor::F32(storage) = t {
            // Borrowed when the array is in standard (row-major, contiguous) layout.
            if let Some(s) = storage.view().to_slice() {
                return Cow::Borrowed(s);
            }
        }
        Cow::Owned(data_f32(read::<Self>(NdArray::float_into_data(t.clone()))))
    }
    fn idx_host(t: &IntTensor<Self>) -> Cow<'_, [u32]> {
        use burn::backend::ndarray::NdArrayTensor;
        use burn::backend::ops::IntTensorOps;
        match t {
            NdArrayTensor::U32(storage) => {
                if let Some(s) = storage.view().to_slice() {
                    return Cow::Borrowed(s);
                }
            }
            NdArrayTensor::I32(storage) => {
                if let Some(s) = storage.view().to_slice() {
                    // Indices are non-negative (checked by the pattern validation that follows).
                    return Cow::Borrowed(bytemuck::cast_slice::<i32, u32>(s));
                }
            }
            NdArrayTensor::I64(storage) => {
                if let Some(s) = storage.view().to_slice() {
                    // NdArray's default int type: one narrowing pass. A negative or too-large
                    // index becomes u32::MAX, which the pattern validation rejects.
                    return Cow::Owned(
                        s.iter()
                            .map(|&v| u32::try_from(v).unwrap_or(u32::MAX))
                            .collect(),
                    );
                }
            }
            _ => {}
        }
        Cow::Owned(data_u32(read::<Self>(NdArray::int_into_data(t.clone()))))
    }
}

pub(super) fn out<B: CpuHost>(v: Vec<f32>, shape: &[usize], device: &B::Device) -> FloatTensor<B> {
    out_as::<B, f32>(v, shape, device)
}

/// A float tensor of `v`'s element type (f32, bf16 or f16).
fn out_as<B: Backend, Y: burn::tensor::Element>(
    v: Vec<Y>,
    shape: &[usize],
    device: &B::Device,
) -> FloatTensor<B> {
    B::float_from_data(TensorData::new(v, shape.to_vec()), device)
}

fn dims2<B: Backend>(t: &FloatTensor<B>, what: &str) -> (usize, usize) {
    let s = t.shape();
    assert_eq!(
        s.num_dims(),
        2,
        "sparsekit-tensor: {what} must be 2-D, got {s:?}"
    );
    (s[0], s[1])
}

fn pattern_view<'a>(
    rows: usize,
    cols: usize,
    rp: &'a [u32],
    ci: &'a [u32],
) -> CsrPatternView<'a, u32> {
    CsrPatternView::try_new(rows, cols, rp, ci)
        .unwrap_or_else(|e| panic!("sparsekit-tensor: invalid CSR pattern: {e}"))
}

fn csr_view<'a, T: Scalar>(
    rows: usize,
    cols: usize,
    rp: &'a [u32],
    ci: &'a [u32],
    v: &'a [T],
) -> CsrView<'a, T, u32> {
    CsrView::from_pattern(pattern_view(rows, cols, rp, ci), v)
        .unwrap_or_else(|e| panic!("sparsekit-tensor: invalid CSR values: {e}"))
}

pub(super) fn kernel<E: std::fmt::Display>(r: Result<(), E>) {
    if let Err(e) = r {
        panic!("sparsekit-tensor: kernel error: {e}");
    }
}

fn mat<T>(d: &[T], r: usize, c: usize) -> MatRef<'_, T> {
    MatRef::new(d, r, c).unwrap_or_else(|e| panic!("sparsekit-tensor: {e}"))
}

fn mat_mut<T>(d: &mut [T], r: usize, c: usize) -> MatMut<'_, T> {
    MatMut::new(d, r, c).unwrap_or_else(|e| panic!("sparsekit-tensor: {e}"))
}

/// `len` zeros of the element type of `_like` (the output type of a product: its dense operand's).
fn zeros_like<X: Scalar>(_like: &[X], len: usize) -> Vec<X> {
    vec![X::ZERO; len]
}

/// The CSR index arrays on the host (borrowed where the backend allows).
fn host_pattern<'a, B: CpuHost>(
    row_ptr: &'a IntTensor<B>,
    col_idx: &'a IntTensor<B>,
) -> (Cow<'a, [u32]>, Cow<'a, [u32]>) {
    (B::idx_host(row_ptr), B::idx_host(col_idx))
}

pub(crate) fn spmm<B: CpuHost>(a: CsrPrimitive<B>, x: FloatTensor<B>) -> FloatTensor<B> {
    let (m, k) = (a.rows(), a.cols);
    let (kx, n) = dims2::<B>(&x, "X");
    assert_eq!(kx, k, "sparsekit-tensor: spmm: A is {m}×{k}, X is {kx}×{n}");
    let device = x.device();
    let (rp, ci) = host_pattern::<B>(&a.row_ptr, &a.col_idx);
    let (v, xs) = (B::float_host(&a.values), B::float_host(&x));
    with_float!(v, |v| with_float!(xs, |xs| {
        let mut y = zeros_like(xs, m * n);
        spmm_typed(a.structure, (m, k, n), (&rp, &ci, v), xs, &mut y);
        out_as::<B, _>(y, &[m, n], &device)
    }))
}

fn spmm_typed<T: Scalar, X: Element>(
    structure: Structure,
    (m, k, n): (usize, usize, usize),
    (rp, ci, v): (&[u32], &[u32], &[T]),
    xs: &[X],
    y: &mut [X],
) {
    let (xm, ym) = (mat(xs, k, n), mat_mut(y, m, n));
    match structure {
        Structure::NM { n: nn, m: mm } => {
            let off = nm_offsets(ci, mm);
            kernel(sparsekit_kernels::nm_spmm(
                nm_view(m, k, nn, mm, v, &off),
                xm,
                ym,
            ));
        }
        Structure::Block { rows: r, cols: c } => {
            let bsr = BsrParts::new(m, r, c, rp, ci, v);
            kernel(sparsekit_kernels::bsr_spmm(bsr.view(m, k, r, c), xm, ym));
        }
        // Whole rows / columns (and no structure) have no kernel of their own.
        Structure::Unstructured | Structure::Rows | Structure::Columns => {
            kernel(sparsekit_kernels::spmm(csr_view(m, k, rp, ci, v), xm, ym));
        }
    }
}

pub(crate) fn spmm_t<B: CpuHost>(x: FloatTensor<B>, a: CsrPrimitive<B>) -> FloatTensor<B> {
    let (m, k) = (a.rows(), a.cols);
    let (b, kx) = dims2::<B>(&x, "X");
    assert_eq!(
        kx, k,
        "sparsekit-tensor: spmm_t: X is {b}×{kx}, W is {m}×{k}"
    );
    let device = x.device();
    let (rp, ci) = host_pattern::<B>(&a.row_ptr, &a.col_idx);
    let (v, xs) = (B::float_host(&a.values), B::float_host(&x));
    with_float!(v, |v| with_float!(xs, |xs| {
        let mut y = zeros_like(xs, b * m);
        spmm_t_typed(a.structure, (m, k, b), (&rp, &ci, v), xs, &mut y);
        out_as::<B, _>(y, &[b, m], &device)
    }))
}

fn spmm_t_typed<T: Scalar, X: Element>(
    structure: Structure,
    (m, k, b): (usize, usize, usize),
    (rp, ci, v): (&[u32], &[u32], &[T]),
    xs: &[X],
    y: &mut [X],
) {
    let (xm, ym) = (mat(xs, b, k), mat_mut(y, b, m));
    match structure {
        Structure::NM { n, m: mm } => {
            let off = nm_offsets(ci, mm);
            kernel(sparsekit_kernels::nm_spmm_t(
                xm,
                nm_view(m, k, n, mm, v, &off),
                None,
                ym,
            ));
        }
        Structure::Block { rows: r, cols: c } => {
            let bsr = BsrParts::new(m, r, c, rp, ci, v);
            kernel(sparsekit_kernels::bsr_spmm_t(
                xm,
                bsr.view(m, k, r, c),
                None,
                ym,
            ));
        }
        Structure::Unstructured | Structure::Rows | Structure::Columns => {
            kernel(sparsekit_kernels::spmm_t(xm, csr_view(m, k, rp, ci, v), ym));
        }
    }
}

pub(crate) fn spmm_at<B: CpuHost>(a: CsrPrimitive<B>, x: FloatTensor<B>) -> FloatTensor<B> {
    let (m, k) = (a.rows(), a.cols);
    let (mx, n) = dims2::<B>(&x, "X");
    assert_eq!(
        mx, m,
        "sparsekit-tensor: spmm_at: A is {m}×{k}, X is {mx}×{n}"
    );
    let device = x.device();
    let (rp, ci) = host_pattern::<B>(&a.row_ptr, &a.col_idx);
    let (v, xs) = (B::float_host(&a.values), B::float_host(&x));
    with_float!(v, |v| with_float!(xs, |xs| {
        let mut y = zeros_like(xs, k * n);
        kernel(sparsekit_kernels::spmm_at(
            csr_view(m, k, &rp, &ci, v),
            mat(xs, m, n),
            mat_mut(&mut y, k, n),
        ));
        out_as::<B, _>(y, &[k, n], &device)
    }))
}

pub(crate) fn spmm_xa<B: CpuHost>(x: FloatTensor<B>, a: CsrPrimitive<B>) -> FloatTensor<B> {
    let (m, k) = (a.rows(), a.cols);
    let (b, mx) = dims2::<B>(&x, "X");
    assert_eq!(
        mx, m,
        "sparsekit-tensor: spmm_xa: X is {b}×{mx}, A is {m}×{k}"
    );
    let device = x.device();
    let (rp, ci) = host_pattern::<B>(&a.row_ptr, &a.col_idx);
    let (v, xs) = (B::float_host(&a.values), B::float_host(&x));
    // X·A = X·(Aᵀ)ᵀ: transpose the pattern on the host, then the spmm_t kernel.
    let t = CsrTranspose::new(pattern_view(m, k, &rp, &ci));
    with_float!(v, |v| with_float!(xs, |xs| {
        let vt = t.gather_values(v);
        let at = csr_view(k, m, t.row_ptr(), t.col_idx(), &vt);
        let mut y = zeros_like(xs, b * k);
        kernel(sparsekit_kernels::spmm_t(
            mat(xs, b, m),
            at,
            mat_mut(&mut y, b, k),
        ));
        out_as::<B, _>(y, &[b, k], &device)
    }))
}

pub(crate) fn sddmm<B: CpuHost>(
    l: FloatTensor<B>,
    r: FloatTensor<B>,
    p: CsrPatternPrimitive<B>,
) -> FloatTensor<B> {
    let (m, k) = (p.rows(), p.cols);
    let (ml, d) = dims2::<B>(&l, "L");
    let (kr, dr) = dims2::<B>(&r, "R");
    assert!(
        ml == m && kr == k && dr == d,
        "sparsekit-tensor: sddmm: pattern {m}×{k}, L {ml}×{d}, R {kr}×{dr}"
    );
    let device = l.device();
    let r = float_as::<B>(r, l.dtype());
    let (rp, ci) = host_pattern::<B>(&p.row_ptr, &p.col_idx);
    let (ls, rs) = (B::float_host(&l), B::float_host(&r));
    with_float_pair!(ls, rs, |ls, rs| {
        let mut o = zeros_like(ls, ci.len());
        kernel(sparsekit_kernels::sddmm(
            mat(ls, m, d),
            mat(rs, k, d),
            pattern_view(m, k, &rp, &ci),
            &mut o,
        ));
        let nnz = o.len();
        out_as::<B, _>(o, &[nnz], &device)
    })
}

pub(crate) fn sddmm_linear<B: CpuHost>(
    dy: FloatTensor<B>,
    x: FloatTensor<B>,
    p: CsrPatternPrimitive<B>,
) -> FloatTensor<B> {
    let (m, k) = (p.rows(), p.cols);
    let (b, my) = dims2::<B>(&dy, "dY");
    let (bx, kx) = dims2::<B>(&x, "X");
    assert!(
        my == m && kx == k && bx == b,
        "sparsekit-tensor: sddmm_linear: pattern {m}×{k}, dY {b}×{my}, X {bx}×{kx}"
    );
    let device = x.device();
    let dy = float_as::<B>(dy, x.dtype());
    let (rp, ci) = host_pattern::<B>(&p.row_ptr, &p.col_idx);
    let (dys, xs) = (B::float_host(&dy), B::float_host(&x));
    with_float_pair!(dys, xs, |dys, xs| {
        let mut o = zeros_like(xs, ci.len());
        kernel(sparsekit_kernels::sddmm_linear(
            mat(dys, b, m),
            mat(xs, b, k),
            pattern_view(m, k, &rp, &ci),
            &mut o,
        ));
        let nnz = o.len();
        out_as::<B, _>(o, &[nnz], &device)
    })
}

pub(crate) fn to_dense<B: CpuHost>(a: CsrPrimitive<B>) -> FloatTensor<B> {
    let (m, k) = (a.rows(), a.cols);
    let device = a.values.device();
    let (rp, ci) = host_pattern::<B>(&a.row_ptr, &a.col_idx);
    let v = B::float_host(&a.values);
    with_float!(v, |v| {
        let d = csr_view(m, k, &rp, &ci, v).to_dense();
        out_as::<B, _>(d, &[m, k], &device)
    })
}

pub(crate) fn gather<B: CpuHost>(d: FloatTensor<B>, p: CsrPatternPrimitive<B>) -> FloatTensor<B> {
    let (m, k) = (p.rows(), p.cols);
    let (md, kd) = dims2::<B>(&d, "D");
    assert!(
        md == m && kd == k,
        "sparsekit-tensor: gather: pattern {m}×{k}, D {md}×{kd}"
    );
    let device = d.device();
    let (rp, ci) = host_pattern::<B>(&p.row_ptr, &p.col_idx);
    let ds = B::float_host(&d);
    let pv = pattern_view(m, k, &rp, &ci);
    with_float!(ds, |ds| {
        let mut o = Vec::with_capacity(pv.nnz());
        for i in 0..m {
            for q in rp[i] as usize..rp[i + 1] as usize {
                o.push(ds[i * k + ci[q] as usize]);
            }
        }
        let nnz = o.len();
        out_as::<B, _>(o, &[nnz], &device)
    })
}

fn int_out<B: CpuHost>(v: Vec<i32>, shape: &[usize], device: &B::Device) -> IntTensor<B> {
    B::int_from_data(TensorData::new(v, shape.to_vec()), device)
}

fn int_dims2<B: Backend>(t: &IntTensor<B>, what: &str) -> (usize, usize) {
    let s = t.shape();
    assert_eq!(
        s.num_dims(),
        2,
        "sparsekit-tensor: {what} must be 2-D, got {s:?}"
    );
    (s[0], s[1])
}

pub(crate) fn topk_rows<B: CpuHost>(
    x: FloatTensor<B>,
    k: usize,
    magnitude: bool,
    column_order: bool,
) -> IntTensor<B> {
    let (m, c) = dims2::<B>(&x, "X");
    let device = x.device();
    let xs = B::f32_host(&x);
    let mut vals = vec![0.0f32; m * k];
    let mut idx = vec![0u32; m * k];
    let select = if magnitude {
        sparsekit_kernels::topk_rows_abs
    } else {
        sparsekit_kernels::topk_rows
    };
    kernel(select(mat(&xs, m, c), k, &mut vals, &mut idx));
    if column_order && k > 0 {
        for row in idx.chunks_mut(k) {
            row.sort_unstable();
        }
    }
    // Columns are < cols ≤ i32::MAX (checked by the caller).
    int_out::<B>(
        idx.into_iter().map(|i| i as i32).collect(),
        &[m, k],
        &device,
    )
}

/// Checks `idx` (and `V`) of the gather-decode ops; returns `(B, k, d)` with `d` the columns of
/// `dict_or_dy`.
fn decode_dims<B: CpuHost>(
    idx: &IntTensor<B>,
    v: Option<&FloatTensor<B>>,
    dict_or_dy: &FloatTensor<B>,
) -> (usize, usize, usize) {
    let (b, k) = int_dims2::<B>(idx, "idx");
    if let Some(v) = v {
        let (bv, kv) = dims2::<B>(v, "V");
        assert!(
            bv == b && kv == k,
            "sparsekit-tensor: gather_decode: V is {bv}×{kv}, idx is {b}×{k}"
        );
    }
    let (_, d) = dims2::<B>(dict_or_dy, "D");
    (b, k, d)
}

pub(crate) fn gather_decode<B: CpuHost>(
    v: FloatTensor<B>,
    idx: IntTensor<B>,
    dict: FloatTensor<B>,
) -> FloatTensor<B> {
    let (b, k, d) = decode_dims::<B>(&idx, Some(&v), &dict);
    let n = dims2::<B>(&dict, "D").0;
    let device = dict.device();
    let (vs, is, ds) = (B::f32_host(&v), B::idx_host(&idx), B::f32_host(&dict));
    let mut y = vec![0.0f32; b * d];
    for (bb, yrow) in y.chunks_mut(d.max(1)).enumerate().take(b) {
        for j in 0..k {
            // A negative index reads as a huge u32 and is skipped like any out-of-range one.
            let r = is[bb * k + j] as usize;
            if r < n {
                let w = vs[bb * k + j];
                for (yc, &dc) in yrow.iter_mut().zip(&ds[r * d..(r + 1) * d]) {
                    *yc += w * dc;
                }
            }
        }
    }
    out::<B>(y, &[b, d], &device)
}

pub(crate) fn gather_decode_dv<B: CpuHost>(
    dy: FloatTensor<B>,
    idx: IntTensor<B>,
    dict: FloatTensor<B>,
) -> FloatTensor<B> {
    let (b, k, d) = decode_dims::<B>(&idx, None, &dict);
    let n = dims2::<B>(&dict, "D").0;
    assert_eq!(
        dims2::<B>(&dy, "dY"),
        (b, d),
        "sparsekit-tensor: gather_decode_dv: dY shape"
    );
    let device = dict.device();
    let (dys, is, ds) = (B::f32_host(&dy), B::idx_host(&idx), B::f32_host(&dict));
    let dv: Vec<f32> = (0..b * k)
        .map(|e| {
            let r = is[e] as usize;
            if r < n {
                let (yrow, drow) = (&dys[(e / k) * d..][..d], &ds[r * d..][..d]);
                yrow.iter().zip(drow).map(|(a, b)| a * b).sum()
            } else {
                0.0
            }
        })
        .collect();
    out::<B>(dv, &[b, k], &device)
}

pub(crate) fn gather_decode_dd<B: CpuHost>(
    dy: FloatTensor<B>,
    v: FloatTensor<B>,
    idx: IntTensor<B>,
    n: usize,
) -> FloatTensor<B> {
    let (b, k, d) = decode_dims::<B>(&idx, Some(&v), &dy);
    assert_eq!(
        dims2::<B>(&dy, "dY").0,
        b,
        "sparsekit-tensor: gather_decode_dd: dY shape"
    );
    let device = dy.device();
    let (dys, vs, is) = (B::f32_host(&dy), B::f32_host(&v), B::idx_host(&idx));
    let mut dd = vec![0.0f32; n * d];
    // Entries in order: the sum for each latent is accumulated in a fixed order.
    for e in 0..b * k {
        let r = is[e] as usize;
        if r < n {
            let w = vs[e];
            let yrow = &dys[(e / k) * d..][..d];
            for (o, &y) in dd[r * d..(r + 1) * d].iter_mut().zip(yrow) {
                *o += w * y;
            }
        }
    }
    out::<B>(dd, &[n, d], &device)
}

pub(crate) fn threshold_row_ptr<B: CpuHost>(x: FloatTensor<B>, threshold: f32) -> IntTensor<B> {
    let (m, c) = dims2::<B>(&x, "X");
    let device = x.device();
    let xs = B::f32_host(&x);
    let mut rp = Vec::with_capacity(m + 1);
    let mut run = 0i32;
    rp.push(0);
    for i in 0..m {
        run += xs[i * c..(i + 1) * c]
            .iter()
            .filter(|v| v.abs() > threshold)
            .count() as i32;
        rp.push(run);
    }
    int_out::<B>(rp, &[m + 1], &device)
}

pub(crate) fn threshold_col_idx<B: CpuHost>(
    x: FloatTensor<B>,
    threshold: f32,
    row_ptr: IntTensor<B>,
    nnz: usize,
) -> IntTensor<B> {
    let (m, c) = dims2::<B>(&x, "X");
    assert_eq!(
        row_ptr.shape()[0],
        m + 1,
        "sparsekit-tensor: threshold_col_idx: row_ptr length"
    );
    let device = x.device();
    let xs = B::f32_host(&x);
    let mut ci = Vec::with_capacity(nnz);
    for i in 0..m {
        let row = &xs[i * c..(i + 1) * c];
        ci.extend(
            row.iter()
                .enumerate()
                .filter(|(_, v)| v.abs() > threshold)
                .map(|(j, _)| j as i32),
        );
    }
    assert_eq!(
        ci.len(),
        nnz,
        "sparsekit-tensor: threshold_col_idx: nnz does not match row_ptr"
    );
    int_out::<B>(ci, &[nnz], &device)
}

macro_rules! cpu_sparse_backend {
    ($b:ty) => {
        impl SparseBackend for $b {
            fn csr_spmm(a: CsrPrimitive<Self>, x: FloatTensor<Self>) -> FloatTensor<Self> {
                spmm::<Self>(a, x)
            }
            fn csr_spmm_t(x: FloatTensor<Self>, a: CsrPrimitive<Self>) -> FloatTensor<Self> {
                spmm_t::<Self>(x, a)
            }
            fn csr_sddmm(
                l: FloatTensor<Self>,
                r: FloatTensor<Self>,
                pattern: CsrPatternPrimitive<Self>,
            ) -> FloatTensor<Self> {
                sddmm::<Self>(l, r, pattern)
            }
            fn csr_to_dense(a: CsrPrimitive<Self>) -> FloatTensor<Self> {
                to_dense::<Self>(a)
            }
            fn csr_gather(
                d: FloatTensor<Self>,
                pattern: CsrPatternPrimitive<Self>,
            ) -> FloatTensor<Self> {
                gather::<Self>(d, pattern)
            }
            fn csr_spmm_at(a: CsrPrimitive<Self>, x: FloatTensor<Self>) -> FloatTensor<Self> {
                spmm_at::<Self>(a, x)
            }
            fn csr_spmm_xa(x: FloatTensor<Self>, a: CsrPrimitive<Self>) -> FloatTensor<Self> {
                spmm_xa::<Self>(x, a)
            }
            fn csr_sddmm_linear(
                dy: FloatTensor<Self>,
                x: FloatTensor<Self>,
                pattern: CsrPatternPrimitive<Self>,
            ) -> FloatTensor<Self> {
                sddmm_linear::<Self>(dy, x, pattern)
            }
            fn topk_rows(
                x: FloatTensor<Self>,
                k: usize,
                magnitude: bool,
                column_order: bool,
            ) -> IntTensor<Self> {
                topk_rows::<Self>(x, k, magnitude, column_order)
            }
            fn gather_decode(
                v: FloatTensor<Self>,
                idx: IntTensor<Self>,
                dict: FloatTensor<Self>,
            ) -> FloatTensor<Self> {
                gather_decode::<Self>(v, idx, dict)
            }
            fn gather_decode_dv(
                dy: FloatTensor<Self>,
                idx: IntTensor<Self>,
                dict: FloatTensor<Self>,
            ) -> FloatTensor<Self> {
                gather_decode_dv::<Self>(dy, idx, dict)
            }
            fn gather_decode_dd(
                dy: FloatTensor<Self>,
                v: FloatTensor<Self>,
                idx: IntTensor<Self>,
                n: usize,
            ) -> FloatTensor<Self> {
                gather_decode_dd::<Self>(dy, v, idx, n)
            }
            fn threshold_row_ptr(x: FloatTensor<Self>, threshold: f32) -> IntTensor<Self> {
                threshold_row_ptr::<Self>(x, threshold)
            }
            fn threshold_col_idx(
                x: FloatTensor<Self>,
                threshold: f32,
                row_ptr: IntTensor<Self>,
                nnz: usize,
            ) -> IntTensor<Self> {
                threshold_col_idx::<Self>(x, threshold, row_ptr, nnz)
            }
        }
    };
}

cpu_sparse_backend!(Flex);
cpu_sparse_backend!(NdArray);
