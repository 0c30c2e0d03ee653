//! Shared helpers: devices, random CSR cases, f64 references, error measures.
#![allow(dead_code)]

use burn::tensor::{Device, DeviceKind, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sparsekit_formats::Csr;

pub fn wgpu_device() -> Device {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // Only quiets Mesa's loader; set before any thread reads the environment.
        std::env::set_var("XDG_RUNTIME_DIR", "/tmp");
    }
    Device::wgpu(DeviceKind::Cpu)
}

/// One shape case: A is m × k with the given density, the dense operand has n columns (or
/// n rows = batch for `spmm_t`).
#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub density: f64,
    pub empty_rows: bool,
}

const fn c(m: usize, k: usize, n: usize, density: f64, empty_rows: bool) -> Case {
    Case {
        m,
        k,
        n,
        density,
        empty_rows,
    }
}

/// The awkward shapes: 0 rows, 0 columns, nnz = 0, batch 1, empty rows, one dense row, sizes off
/// multiples of 8, fully dense.
pub const CASES: &[Case] = &[
    c(0, 4, 3, 0.5, false),
    c(3, 0, 2, 0.5, false),
    c(4, 6, 3, 0.0, false),
    c(5, 7, 1, 0.4, false),
    c(13, 17, 5, 0.3, true),
    c(1, 33, 9, 1.0, false),
    c(31, 65, 7, 0.2, true),
    c(9, 9, 9, 1.0, false),
    c(64, 40, 16, 0.1, false),
];

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Mixed magnitudes in ±[0.01, 10].
pub fn value(rng: &mut StdRng) -> f32 {
    let mag = 10f32.powf(rng.random_range(-2.0..1.0));
    if rng.random_bool(0.5) {
        mag
    } else {
        -mag
    }
}

pub fn random_csr(case: Case, rng: &mut StdRng) -> Csr<f32> {
    let mut row_ptr = vec![0u32];
    let mut col_idx = Vec::new();
    let mut values = Vec::new();
    for i in 0..case.m {
        let empty = case.empty_rows && i % 3 == 1;
        for j in 0..case.k {
            if !empty && case.density > 0.0 && rng.random_bool(case.density) {
                col_idx.push(j as u32);
                values.push(value(rng));
            }
        }
        row_ptr.push(col_idx.len() as u32);
    }
    Csr::try_new(case.m, case.k, row_ptr, col_idx, values).unwrap()
}

pub fn random_vec(len: usize, rng: &mut StdRng) -> Vec<f32> {
    (0..len).map(|_| value(rng)).collect()
}

pub fn t2(v: &[f32], shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), device)
}

pub fn t1(v: &[f32], device: &Device) -> Tensor<1> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), device)
}

pub fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

/// Dense row-major m × k of a CSR, in f64.
pub fn dense64(a: &Csr<f32>) -> Vec<f64> {
    let (m, k) = a.shape();
    let mut d = vec![0.0f64; m * k];
    for i in 0..m {
        let (cols, vals) = a.row(i);
        for (&j, &v) in cols.iter().zip(vals) {
            d[i * k + j as usize] = v as f64;
        }
    }
    d
}

/// `C = A·B` in f64: A is m × k, B is k × n (row-major).
pub fn matmul64(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for t in 0..k {
            let av = a[i * k + t];
            if av != 0.0 {
                for j in 0..n {
                    c[i * n + j] += av * b[t * n + j];
                }
            }
        }
    }
    c
}

pub fn transpose64(a: &[f64], m: usize, n: usize) -> Vec<f64> {
    let mut t = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            t[j * m + i] = a[i * n + j];
        }
    }
    t
}

pub fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Norm-wise relative error `max|got - want| / max(max|want|, 1e-30)`; 0 for empty inputs.
pub fn rel_err(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "length mismatch");
    let scale = want.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
    let err = got
        .iter()
        .zip(want)
        .fold(0.0f64, |a, (&g, &w)| a.max((g as f64 - w).abs()));
    if err == 0.0 {
        0.0
    } else {
        err / scale.max(1e-30)
    }
}

#[track_caller]
pub fn assert_close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    let e = rel_err(got, want);
    assert!(
        e <= tol,
        "{what}: relative error {e:e} > {tol:e}\n got  {:?}\n want {:?}",
        &got[..got.len().min(8)],
        &want[..want.len().min(8)]
    );
}

/// Central differences of `f` at `at` for up to 24 coordinates, compared with `grad`.
#[track_caller]
pub fn assert_fd(
    f: impl Fn(&[f64]) -> f64,
    at: &[f32],
    grad: &[f32],
    tol: f64,
    what: &str,
    rng: &mut StdRng,
) {
    assert_eq!(at.len(), grad.len(), "{what}: gradient length");
    if at.is_empty() {
        return;
    }
    let x0 = to64(at);
    let scale = grad
        .iter()
        .fold(0.0f64, |a, &b| a.max((b as f64).abs()))
        .max(1e-12);
    let h = 1e-3;
    for _ in 0..24.min(at.len()) {
        let i = rng.random_range(0..at.len());
        let mut xp = x0.clone();
        xp[i] += h;
        let mut xm = x0.clone();
        xm[i] -= h;
        let fd = (f(&xp) - f(&xm)) / (2.0 * h);
        let e = (fd - grad[i] as f64).abs() / scale;
        assert!(
            e <= tol,
            "{what}: finite difference at {i}: fd {fd} vs autodiff {} (rel {e:e})",
            grad[i]
        );
    }
}

/// `values → dense m × k` as a product with a one-hot `nnz × (m·k)` matrix: the "same function
/// written with dense burn ops", differentiable under autodiff.
pub fn dense_from_values(values: Tensor<1>, a: &Csr<f32>, device: &Device) -> Tensor<2> {
    let (m, k) = a.shape();
    let nnz = a.nnz();
    if nnz == 0 || m * k == 0 {
        let _ = values;
        return Tensor::zeros([m, k], device);
    }
    let mut s = vec![0.0f32; nnz * m * k];
    let mut e = 0;
    for i in 0..m {
        let (cols, _) = a.row(i);
        for &j in cols {
            s[e * m * k + i * k + j as usize] = 1.0;
            e += 1;
        }
    }
    values
        .reshape([1, nnz])
        .matmul(t2(&s, [nnz, m * k], device))
        .reshape([m, k])
}
