//! Shared helpers: devices, host references, finite differences.
#![allow(dead_code)]

use burn::tensor::{Device, DeviceKind, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub fn wgpu_device() -> Device {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        std::env::set_var("XDG_RUNTIME_DIR", "/tmp");
    }
    Device::wgpu(DeviceKind::Cpu)
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Values in ±[0.05, 2], away from 0 so that |·| is differentiable at finite-difference scale.
pub fn random_vec(len: usize, rng: &mut StdRng) -> Vec<f32> {
    (0..len)
        .map(|_| {
            let m: f32 = rng.random_range(0.05..2.0);
            if rng.random_bool(0.5) {
                m
            } else {
                -m
            }
        })
        .collect()
}

pub fn t2(v: &[f32], shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), device)
}

pub fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

pub fn scalar(t: Tensor<1>) -> f64 {
    host(t)[0] as f64
}

#[track_caller]
pub fn assert_close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(1e-6f64, |a, &b| a.max(b.abs()));
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let e = (g as f64 - w).abs() / scale;
        assert!(e <= tol, "{what}[{i}]: got {g} want {w} (rel {e:e})");
    }
}

/// Central differences of `f` at `at` (every coordinate), compared with `grad`.
#[track_caller]
pub fn assert_fd(f: impl Fn(&[f64]) -> f64, at: &[f32], grad: &[f32], tol: f64, what: &str) {
    let x0: Vec<f64> = at.iter().map(|&v| v as f64).collect();
    let scale = grad.iter().fold(1e-3f64, |a, &b| a.max((b as f64).abs()));
    let h = 1e-4;
    for i in 0..at.len() {
        let mut xp = x0.clone();
        xp[i] += h;
        let mut xm = x0.clone();
        xm[i] -= h;
        let fd = (f(&xp) - f(&xm)) / (2.0 * h);
        let e = (fd - grad[i] as f64).abs() / scale;
        assert!(
            e <= tol,
            "{what}: fd at {i}: {fd} vs autodiff {} (rel {e:e})",
            grad[i]
        );
    }
}
