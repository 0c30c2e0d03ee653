//! Half precision (F16 / BF16) values and dense operands on every device: `spmm`, `spmm_t`,
//! `sddmm` against an f64 reference built from the exact half values, the output dtype rule
//! (the dense operand's dtype; on a device without the half dtype — NdArray — everything stays
//! F32 holding the rounded values), gradients under `Autodiff<Flex>` against the same computation
//! in f32, `SparseLinear` in bf16, and cast round trips. Written once, instantiated per device.
#![allow(deprecated)]

mod common;

use burn::tensor::{bf16, f16, DType, Device, Tensor};
use common::*;
use sparsekit_formats::{Csr, Scalar};
use sparsekit_tensor::params::cast_params;
use sparsekit_tensor::{
    cast_float, sddmm, spmm, spmm_t, storage_dtype, SparseLinearConfig, SparseTensor,
};

const DTYPES: [DType; 3] = [DType::F32, DType::BF16, DType::F16];

/// `v` rounded to `dtype` (the exact values a tensor of that dtype holds), as f32.
fn rounded(v: &[f32], dtype: DType) -> Vec<f32> {
    v.iter()
        .map(|&x| match dtype {
            DType::BF16 => bf16::from_f32(x).to_f32(),
            DType::F16 => f16::from_f32(x).to_f32(),
            _ => x,
        })
        .collect()
}

fn rounded_csr(a: &Csr<f32>, dtype: DType) -> Csr<f32> {
    Csr::from_pattern(
        std::sync::Arc::new(a.pattern().clone()),
        rounded(a.values(), dtype),
    )
    .unwrap()
}

/// A dense operand of `dtype` (F32 holding the rounded values where the device lacks `dtype`).
fn dense(v: &[f32], shape: [usize; 2], dtype: DType, device: &Device) -> Tensor<2> {
    cast_float(t2(v, shape, device), dtype).unwrap()
}

/// The bound on `|got − want|` for one output entry: `1e-5·Σ|a·x|` for f32 outputs; for half
/// outputs one rounding of the f32 result on top (relative 2⁻⁸ for bf16, 2⁻¹¹ for f16, and f16's
/// subnormal half-ulp 2⁻²⁵).
fn bound(want: f64, abs_sum: f64, out: DType) -> f64 {
    let f32_part = 1e-5 * abs_sum;
    match out {
        DType::BF16 => f32_part + want.abs() * 2f64.powi(-8),
        DType::F16 => f32_part + want.abs() * 2f64.powi(-11) + 2f64.powi(-25),
        _ => f32_part,
    }
}

#[track_caller]
fn check(got: Tensor<2>, want: &[f64], abs_sum: &[f64], out: DType, what: &str) {
    assert_eq!(got.dtype(), out, "{what}: output dtype");
    let got = host(got);
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, ((&g, &w), &s)) in got.iter().zip(want).zip(abs_sum).enumerate() {
        let b = bound(w, s, out);
        assert!(
            (g as f64 - w).abs() <= b,
            "{what}: entry {i}: got {g}, want {w} (bound {b:e})"
        );
    }
}

fn abs64(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| x.abs()).collect()
}

pub fn spmm_half(device: &Device) {
    let mut r = rng(31);
    for &case in CASES {
        let a = random_csr(case, &mut r);
        let x = random_vec(case.k * case.n, &mut r);
        for vt in DTYPES {
            for xt in DTYPES {
                let (ar, xr) = (rounded_csr(&a, vt), rounded(&x, xt));
                let at = SparseTensor::from_csr_dtype(&a, vt, device).unwrap();
                assert_eq!(at.dtype(), storage_dtype(device, vt));
                let y = spmm(&at, dense(&x, [case.k, case.n], xt, device));
                let (m, k, n) = (case.m, case.k, case.n);
                let want = matmul64(&dense64(&ar), &to64(&xr), m, k, n);
                let sum = matmul64(&abs64(&dense64(&ar)), &abs64(&to64(&xr)), m, k, n);
                let out = storage_dtype(device, xt);
                check(y, &want, &sum, out, &format!("spmm {vt:?}×{xt:?} {case:?}"));
            }
        }
    }
}

pub fn spmm_t_half(device: &Device) {
    let mut r = rng(32);
    for &case in CASES {
        let w = random_csr(case, &mut r);
        let x = random_vec(case.n * case.k, &mut r);
        for vt in DTYPES {
            for xt in DTYPES {
                let (wr, xr) = (rounded_csr(&w, vt), rounded(&x, xt));
                let wt = SparseTensor::from_csr_dtype(&w, vt, device).unwrap();
                let y = spmm_t(dense(&x, [case.n, case.k], xt, device), &wt);
                let (m, k, n) = (case.m, case.k, case.n);
                let wtr = transpose64(&dense64(&wr), m, k);
                let want = matmul64(&to64(&xr), &wtr, n, k, m);
                let sum = matmul64(&abs64(&to64(&xr)), &abs64(&wtr), n, k, m);
                let out = storage_dtype(device, xt);
                check(
                    y,
                    &want,
                    &sum,
                    out,
                    &format!("spmm_t {vt:?}×{xt:?} {case:?}"),
                );
            }
        }
    }
}

pub fn sddmm_half(device: &Device) {
    let mut r = rng(33);
    let d = 11;
    for &case in CASES {
        let p = random_csr(case, &mut r);
        let l = random_vec(case.m * d, &mut r);
        let rr = random_vec(case.k * d, &mut r);
        // (L dtype, R dtype): equal, and mixed (R is cast to L's dtype).
        for (lt, rt) in [
            (DType::F32, DType::F32),
            (DType::BF16, DType::BF16),
            (DType::F16, DType::F16),
            (DType::BF16, DType::F32),
            (DType::F32, DType::F16),
        ] {
            let pt = SparseTensor::from_csr(&p, device).unwrap();
            let s = sddmm(
                dense(&l, [case.m, d], lt, device),
                dense(&rr, [case.k, d], rt, device),
                &pt,
            );
            let out = storage_dtype(device, lt);
            assert_eq!(s.dtype(), out, "sddmm {lt:?}×{rt:?}: values dtype");
            // R cast to L's dtype as stored on this device (NdArray and a wgpu adapter without
            // half types keep F32: no second rounding there): round R to both, in order.
            let (lr, rr2) = (
                rounded(&l, lt),
                rounded(&rounded(&rr, rt), storage_dtype(device, lt)),
            );
            let (mut want, mut sum) = (Vec::new(), Vec::new());
            for i in 0..case.m {
                let (cols, _) = p.row(i);
                for &j in cols {
                    let j = j as usize;
                    let (mut w, mut s) = (0.0f64, 0.0f64);
                    for t in 0..d {
                        let v = lr[i * d + t] as f64 * rr2[j * d + t] as f64;
                        w += v;
                        s += v.abs();
                    }
                    want.push(w);
                    sum.push(s);
                }
            }
            let nnz = want.len();
            let got = if nnz == 0 {
                Tensor::<2>::zeros([1, 0], device).cast(out)
            } else {
                s.values().clone().reshape([1, nnz])
            };
            check(
                got,
                &want,
                &sum,
                out,
                &format!("sddmm {lt:?}×{rt:?} {case:?}"),
            );
        }
    }
}

/// from_csr_dtype → to_csr / to_csr_as, cast F32 ↔ half: values are the rounded ones, exactly.
pub fn cast_round_trips(device: &Device) {
    let mut r = rng(34);
    for &case in CASES {
        let a = random_csr(case, &mut r);
        for dt in [DType::BF16, DType::F16] {
            let want = rounded(a.values(), dt);
            let t = SparseTensor::from_csr_dtype(&a, dt, device).unwrap();
            assert_eq!(t.dtype(), storage_dtype(device, dt));
            assert_eq!(t.to_csr().values(), &want[..], "from_csr_dtype {dt:?}");
            let c = SparseTensor::from_csr(&a, device)
                .unwrap()
                .cast(dt)
                .unwrap();
            assert_eq!(c.dtype(), storage_dtype(device, dt));
            assert_eq!(c.to_csr().values(), &want[..], "cast {dt:?}");
            // Not a float dtype: a typed error, not a panic.
            let bad = SparseTensor::from_csr(&a, device).unwrap().cast(DType::I32);
            assert!(matches!(bad, Err(sparsekit_tensor::SparseError::Dtype(_))));
            assert!(cast_float(t2(&[1.0], [1, 1], device), DType::I64).is_err());
            let back = c.cast(DType::F32).unwrap();
            assert_eq!(back.dtype(), DType::F32);
            assert_eq!(back.to_csr().values(), &want[..], "cast back {dt:?}");
            assert_eq!(back.to_csr().pattern(), a.pattern());
        }
        // A Csr<bf16> goes up and comes back bit for bit.
        let hb: Csr<bf16> = rounded_csr(&a, DType::BF16).cast();
        let t = SparseTensor::from_csr_dtype(&hb, DType::BF16, device).unwrap();
        assert_eq!(t.to_csr_as::<bf16>(), hb);
        // f64 values round once, correctly.
        let h64: Csr<f64> = a.cast();
        let h64 = Csr::from_pattern(
            std::sync::Arc::new(h64.pattern().clone()),
            h64.values().iter().map(|&v| v * (1.0 + 1e-12)).collect(),
        )
        .unwrap();
        let t = SparseTensor::from_csr_dtype(&h64, DType::F16, device).unwrap();
        let want: Vec<f32> = h64
            .values()
            .iter()
            .map(|&v| <f16 as Scalar>::from_f64(v).to_f32())
            .collect();
        assert_eq!(t.to_csr().values(), &want[..]);
    }
    assert!(
        SparseTensor::from_csr_dtype(&random_csr(CASES[4], &mut r), DType::I32, device).is_err()
    );
}

/// The dense result is the same whatever the values' dtype when they hold the same numbers.
pub fn to_dense_keeps_values_dtype(device: &Device) {
    let mut r = rng(35);
    let a = random_csr(CASES[6], &mut r);
    for dt in DTYPES {
        let t = SparseTensor::from_csr_dtype(&a, dt, device).unwrap();
        let d = t.to_dense();
        assert_eq!(d.dtype(), storage_dtype(device, dt));
        let want: Vec<f64> = dense64(&rounded_csr(&a, dt));
        assert_eq!(host(d), want.iter().map(|&v| v as f32).collect::<Vec<_>>());
    }
}

// ---------------------------------------------------------------- gradients (Autodiff<Flex>)

fn grads_spmm_t(
    device: &Device,
    w: &Csr<f32>,
    x: &[f32],
    g: &[f32],
    (vt, xt): (DType, DType),
    b: usize,
) -> (Vec<f32>, Vec<f32>, DType, DType) {
    let k = w.shape().1;
    let m = w.shape().0;
    let ws = SparseTensor::from_csr_dtype(w, vt, device).unwrap();
    let values = ws.values().clone().require_grad();
    let ws = ws.with_values(values.clone());
    let xt_ = dense(x, [b, k], xt, device).require_grad();
    let y = spmm_t(xt_.clone(), &ws);
    let gt = dense(g, [b, m], xt, device);
    let loss = (y * gt).sum();
    let grads = loss.backward();
    let dv = values.grad(&grads).unwrap();
    let dx = xt_.grad(&grads).unwrap();
    let (dvt, dxt) = (dv.dtype(), dx.dtype());
    (host(dv), host(dx), dvt, dxt)
}

#[track_caller]
/// `|got − want| ≤ rel · (|want| + max |want|)`: a half-precision computation rounds its
/// intermediate results (products, bias sums, upstream gradients) to the half type, so an entry
/// that cancels to a small value keeps an error relative to the tensor's magnitude, not its own.
fn assert_near(got: &[f32], want: &[f32], rel: f64, what: &str) {
    let scale = want.iter().fold(0.0f64, |a, &b| a.max((b as f64).abs()));
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w as f64).abs() <= rel * ((w as f64).abs() + scale),
            "{what}: entry {i}: {g} vs {w}"
        );
    }
}

pub fn gradients_half_flex() {
    let device = Device::flex().autodiff();
    let mut r = rng(36);
    for &case in &CASES[3..] {
        let w = random_csr(case, &mut r);
        let b = case.n;
        let x = random_vec(b * case.k, &mut r);
        let g = random_vec(b * case.m, &mut r);
        for (vt, xt) in [
            (DType::BF16, DType::BF16),
            (DType::F16, DType::F16),
            (DType::BF16, DType::F32),
            (DType::F32, DType::BF16),
        ] {
            let (dv, dx, dvt, dxt) = grads_spmm_t(&device, &w, &x, &g, (vt, xt), b);
            assert_eq!((dvt, dxt), (vt, xt), "gradient dtypes follow their inputs");
            // The same computation in f32 on the same (rounded) numbers.
            let wr = rounded_csr(&w, vt);
            let (xr, gr) = (rounded(&x, xt), rounded(&g, xt));
            let (dv32, dx32, _, _) =
                grads_spmm_t(&device, &wr, &xr, &gr, (DType::F32, DType::F32), b);
            let rel = 2f64.powi(-7);
            assert_near(&dv, &dv32, rel, &format!("dW {vt:?}/{xt:?} {case:?}"));
            assert_near(&dx, &dx32, rel, &format!("dX {vt:?}/{xt:?} {case:?}"));
        }
        // spmm (A·X) and sddmm gradients in bf16 vs f32 (the same bf16 numbers).
        let wr = rounded_csr(&w, DType::BF16);
        let x2 = rounded(&random_vec(case.k * 5, &mut r), DType::BF16);
        let l2 = rounded(&random_vec(case.m * 5, &mut r), DType::BF16);
        let run = |dt: DType| {
            let a = SparseTensor::from_csr_dtype(&wr, dt, &device).unwrap();
            let v = a.values().clone().require_grad();
            let a = a.with_values(v.clone());
            let xx = dense(&x2, [case.k, 5], dt, &device).require_grad();
            let l = dense(&l2, [case.m, 5], dt, &device).require_grad();
            let y = spmm(&a, xx.clone());
            let s = sddmm(l.clone(), xx.clone(), &a);
            let loss = y.cast(DType::F32).sum() + s.values().clone().cast(DType::F32).sum();
            let gr = loss.backward();
            let dv = v.grad(&gr).unwrap();
            let dxx = xx.grad(&gr).unwrap();
            let dl = l.grad(&gr).unwrap();
            (
                [dv.dtype(), dxx.dtype(), dl.dtype()],
                [host(dv), host(dxx), host(dl)],
            )
        };
        let (dts, half) = run(DType::BF16);
        assert_eq!(dts, [DType::BF16; 3], "spmm / sddmm gradient dtypes");
        let (_, full) = run(DType::F32);
        for (what, (h, f)) in ["dA", "dX", "dL"].iter().zip(half.iter().zip(&full)) {
            assert_near(h, f, 2f64.powi(-6), &format!("spmm+sddmm {what} {case:?}"));
        }
    }
}

// ---------------------------------------------------------------- SparseLinear in bf16

pub fn sparse_linear_bf16_flex() {
    let device = Device::flex();
    let (d_in, d_out, batch) = (37, 21, 9);
    let layer = SparseLinearConfig::new(d_in, d_out)
        .with_sparsity(0.7)
        .with_seed(Some(3))
        .init(&device);
    let half = cast_params(layer.clone(), DType::BF16).unwrap();
    assert_eq!(half.values.val().dtype(), DType::BF16);
    assert_eq!(half.bias.as_ref().unwrap().val().dtype(), DType::BF16);
    // The f32 layer with the same (rounded) weights.
    let same = cast_params(half.clone(), DType::F32).unwrap();
    let mut r = rng(37);
    let x = rounded(&random_vec(batch * d_in, &mut r), DType::BF16);
    let y = half.forward(t2(&x, [batch, d_in], &device).cast(DType::BF16));
    assert_eq!(y.dtype(), DType::BF16);
    let y32 = same.forward(t2(&x, [batch, d_in], &device));
    assert_eq!(y32.dtype(), DType::F32);
    // Two roundings (product, bias add) in bf16.
    assert_near(
        &host(y),
        &host(y32),
        2f64.powi(-7),
        "SparseLinear bf16 forward",
    );

    // One training step on Autodiff<Flex>: gradients in bf16, close to the f32 ones.
    // The layer is built on the autodiff device (its parameters tracked there); the casts keep
    // the tracking.
    let ad = device.autodiff();
    let layer_ad = SparseLinearConfig::new(d_in, d_out)
        .with_sparsity(0.7)
        .with_seed(Some(3))
        .init(&ad);
    let half = cast_params(layer_ad, DType::BF16).unwrap();
    let same = cast_params(half.clone(), DType::F32).unwrap();
    let step = |l: sparsekit_tensor::SparseLinear, dt: DType| {
        let xi = t2(&x, [batch, d_in], &ad).cast(dt);
        let loss = l.forward(xi).powf_scalar(2.0).sum();
        let g = loss.backward();
        let dv = l.values.val().grad(&g).unwrap();
        let db = l.bias.as_ref().unwrap().val().grad(&g).unwrap();
        (dv.dtype(), host(dv), db.dtype(), host(db))
    };
    let (vt, dv, bt, db) = step(half, DType::BF16);
    assert_eq!((vt, bt), (DType::BF16, DType::BF16));
    let (_, dv32, _, db32) = step(same, DType::F32);
    assert_near(&dv, &dv32, 2f64.powi(-5), "SparseLinear bf16 dW");
    assert_near(&db, &db32, 2f64.powi(-5), "SparseLinear bf16 db");
}

macro_rules! suite {
    ($($dev:ident => $device:expr;)*) => {$(
        mod $dev {
            use super::*;
            fn device() -> Device { $device }
            #[test] fn spmm_half() { super::spmm_half(&device()) }
            #[test] fn spmm_t_half() { super::spmm_t_half(&device()) }
            #[test] fn sddmm_half() { super::sddmm_half(&device()) }
            #[test] fn cast_round_trips() { super::cast_round_trips(&device()) }
            #[test] fn to_dense_keeps_values_dtype() { super::to_dense_keeps_values_dtype(&device()) }
        }
    )*};
}

suite! {
    flex => Device::flex();
    ndarray => Device::ndarray();
    wgpu => wgpu_device();
}

#[test]
fn flex_has_half_dtypes_ndarray_does_not() {
    assert_eq!(storage_dtype(&Device::flex(), DType::BF16), DType::BF16);
    assert_eq!(storage_dtype(&Device::flex(), DType::F16), DType::F16);
    assert_eq!(storage_dtype(&Device::ndarray(), DType::BF16), DType::F32);
    assert_eq!(storage_dtype(&Device::ndarray(), DType::F16), DType::F32);
}

#[test]
fn gradients_half() {
    gradients_half_flex()
}

#[test]
fn sparse_linear_bf16() {
    sparse_linear_bf16_flex()
}
