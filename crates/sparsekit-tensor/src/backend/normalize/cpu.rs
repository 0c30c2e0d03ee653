//! Flex and NdArray: the `sparsekit-kernels` normalisers on host slices (inputs borrowed when
//! contiguous f32; outputs moved into new tensors).

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, NdArray, TensorMetadata};
use sparsekit_kernels::normalize::{
    entmax_alpha_grad, entmax_rows, entmax_rows_backward, normalize, normalize_backward,
};
use sparsekit_kernels::{MatMut, MatRef};

use super::super::cpu::{kernel, out, CpuHost};
use super::{alpha_of, NormalizeBackend, Normalizer};

fn dims<B: Backend>(t: &FloatTensor<B>, what: &str) -> (usize, usize) {
    let s = t.shape();
    assert_eq!(
        s.num_dims(),
        2,
        "sparsekit-tensor: normalize: {what} must be 2-D, got {s:?}"
    );
    (s[0], s[1])
}

fn mat(d: &[f32], r: usize, c: usize) -> MatRef<'_, f32> {
    MatRef::new(d, r, c).unwrap_or_else(|e| panic!("sparsekit-tensor: {e}"))
}

fn mat_mut(d: &mut [f32], r: usize, c: usize) -> MatMut<'_, f32> {
    MatMut::new(d, r, c).unwrap_or_else(|e| panic!("sparsekit-tensor: {e}"))
}

pub(crate) fn forward<B: CpuHost>(
    z: FloatTensor<B>,
    kind: Normalizer,
    alpha: Option<FloatTensor<B>>,
) -> FloatTensor<B> {
    let (r, n) = dims::<B>(&z, "z");
    let device = z.device();
    let mut p = vec![0.0f32; r * n];
    let zh = B::f32_host(&z);
    match alpha {
        Some(a) => kernel(entmax_rows(
            mat(&zh, r, n),
            &B::f32_host(&a),
            mat_mut(&mut p, r, n),
        )),
        None => kernel(normalize(kind, mat(&zh, r, n), mat_mut(&mut p, r, n))),
    }
    out::<B>(p, &[r, n], &device)
}

pub(crate) fn backward<B: CpuHost>(
    p: FloatTensor<B>,
    dp: FloatTensor<B>,
    kind: Normalizer,
    alpha: Option<FloatTensor<B>>,
) -> FloatTensor<B> {
    let (r, n) = dims::<B>(&p, "p");
    let device = p.device();
    let mut dz = vec![0.0f32; r * n];
    let (ph, dph) = (B::f32_host(&p), B::f32_host(&dp));
    match alpha {
        Some(a) => kernel(entmax_rows_backward(
            mat(&ph, r, n),
            mat(&dph, r, n),
            &B::f32_host(&a),
            mat_mut(&mut dz, r, n),
        )),
        None => kernel(normalize_backward(
            kind,
            mat(&ph, r, n),
            mat(&dph, r, n),
            mat_mut(&mut dz, r, n),
        )),
    }
    out::<B>(dz, &[r, n], &device)
}

pub(crate) fn alpha_grad<B: CpuHost>(
    p: FloatTensor<B>,
    dp: FloatTensor<B>,
    alpha: FloatTensor<B>,
) -> FloatTensor<B> {
    let (r, n) = dims::<B>(&p, "p");
    let device = p.device();
    let mut da = vec![0.0f32; r];
    let (ph, dph) = (B::f32_host(&p), B::f32_host(&dp));
    kernel(entmax_alpha_grad(
        mat(&ph, r, n),
        mat(&dph, r, n),
        &B::f32_host(&alpha),
        &mut da,
    ));
    out::<B>(da, &[r, 1], &device)
}

macro_rules! cpu_normalize_backend {
    ($b:ty) => {
        impl NormalizeBackend for $b {
            fn normalize_fwd(
                z: FloatTensor<Self>,
                kind: Normalizer,
                alpha: FloatTensor<Self>,
            ) -> FloatTensor<Self> {
                forward::<Self>(z, kind, alpha_of::<Self>(alpha))
            }
            fn normalize_bwd(
                p: FloatTensor<Self>,
                dp: FloatTensor<Self>,
                kind: Normalizer,
                alpha: FloatTensor<Self>,
            ) -> FloatTensor<Self> {
                backward::<Self>(p, dp, kind, alpha_of::<Self>(alpha))
            }
            fn normalize_alpha_grad(
                p: FloatTensor<Self>,
                dp: FloatTensor<Self>,
                alpha: FloatTensor<Self>,
            ) -> FloatTensor<Self> {
                alpha_grad::<Self>(p, dp, alpha)
            }
        }
    };
}

cpu_normalize_backend!(Flex);
cpu_normalize_backend!(NdArray);
