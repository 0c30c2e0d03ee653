//! Sparse normalisers on every device: forward against the f64 sort-based reference of
//! `sparsekit_kernels::reference::normalize` along every dimension of 1-, 2- and 3-D tensors,
//! with `−∞` masks, a fully masked slice (zeros, zero gradients, no NaN), ties and mixed
//! magnitudes; gradients under autodiff against the reference closed form and against finite
//! differences of the f64 reference; `∂/∂α` of a learned per-head α against the closed form and
//! finite differences; f16 input on Flex; the panics. Written once, instantiated per device at the
//! bottom.
#![allow(deprecated)]

mod common;

use burn::tensor::Int;
use burn::tensor::{DType, Device, FloatDType, Tensor, TensorData};
use common::*;
use rand::rngs::StdRng;
use rand::Rng;
use sparsekit_kernels::reference::normalize as reference;
use sparsekit_tensor::normalize::{
    entmax15, entmax15_loss, entmax_bisect, entmax_bisect_learned, entmax_bisect_loss, sparsemax,
    sparsemax_loss,
};

#[derive(Clone, Copy, Debug)]
enum Map {
    Sparsemax,
    Entmax15,
    Bisect(f32),
}

const MAPS: &[Map] = &[
    Map::Sparsemax,
    Map::Entmax15,
    Map::Bisect(1.25),
    Map::Bisect(1.7),
    Map::Bisect(2.0),
    Map::Bisect(3.0),
];

impl Map {
    fn alpha(self) -> f64 {
        match self {
            Map::Sparsemax => 2.0,
            Map::Entmax15 => 1.5,
            Map::Bisect(a) => a as f64,
        }
    }
    fn apply<const D: usize>(self, x: Tensor<D>, dim: usize) -> Tensor<D> {
        match self {
            Map::Sparsemax => sparsemax(x, dim),
            Map::Entmax15 => entmax15(x, dim),
            Map::Bisect(a) => entmax_bisect(x, a, dim),
        }
    }
}

/// The flat indices of each slice of a row-major `shape` along `dim`.
fn slices(shape: &[usize], dim: usize) -> Vec<Vec<usize>> {
    let n = shape[dim];
    let inner: usize = shape[dim + 1..].iter().product();
    let outer: usize = shape[..dim].iter().product();
    let mut out = Vec::new();
    for o in 0..outer {
        for i in 0..inner {
            out.push((0..n).map(|j| (o * n + j) * inner + i).collect());
        }
    }
    out
}

/// Applies a per-slice f64 function (with the slice number) to `x`.
fn per_slice(
    x: &[f64],
    shape: &[usize],
    dim: usize,
    mut f: impl FnMut(usize, &[f64]) -> Vec<f64>,
) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    for (s, idx) in slices(shape, dim).iter().enumerate() {
        let v: Vec<f64> = idx.iter().map(|&i| x[i]).collect();
        for (&i, y) in idx.iter().zip(f(s, &v)) {
            out[i] = y;
        }
    }
    out
}

fn ref_forward(alpha: f64, x: &[f64], shape: &[usize], dim: usize) -> Vec<f64> {
    per_slice(x, shape, dim, |_, v| reference::forward(alpha, v))
}

/// Random logits: mixed magnitudes, ties, ~15% `−∞`, the first slice along `dim` fully masked.
fn logits(shape: &[usize], dim: usize, r: &mut StdRng) -> Vec<f32> {
    let len: usize = shape.iter().product();
    let mut x: Vec<f32> = (0..len)
        .map(|_| {
            if r.random_bool(0.15) {
                f32::NEG_INFINITY
            } else {
                value(r) * 0.5
            }
        })
        .collect();
    // Ties.
    for _ in 0..len / 5 {
        let (a, b) = (r.random_range(0..len), r.random_range(0..len));
        x[a] = x[b];
    }
    if shape[dim] > 0 {
        if let Some(first) = slices(shape, dim).first() {
            for &i in first {
                x[i] = f32::NEG_INFINITY;
            }
        }
    }
    x
}

fn tensor<const D: usize>(v: &[f32], shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), device)
}

fn assert_finite(v: &[f32], what: &str) {
    assert!(v.iter().all(|x| x.is_finite()), "{what}: non-finite value");
}

fn check_forward<const D: usize>(device: &Device, tol: f64, shape: [usize; D], r: &mut StdRng) {
    for dim in 0..D {
        let x = logits(&shape, dim, r);
        for &m in MAPS {
            let got = host(m.apply(tensor(&x, shape, device), dim));
            let want = ref_forward(m.alpha(), &to64(&x), &shape, dim);
            let what = format!("{m:?} {shape:?} dim {dim}");
            assert_finite(&got, &what);
            assert_close(&got, &want, tol, &what);
            // Exact zeros off the support (masked entries and the fully masked slice included).
            for (g, w) in got.iter().zip(&want) {
                if *w == 0.0 && matches!(m, Map::Sparsemax | Map::Entmax15) {
                    assert_eq!(*g, 0.0, "{what}: not an exact zero");
                }
            }
            if !matches!(m, Map::Sparsemax | Map::Entmax15) {
                continue;
            }
            // Each slice sums to 1 (0 for the fully masked one).
            for (s, idx) in slices(&shape, dim).iter().enumerate() {
                let sum: f64 = idx.iter().map(|&i| got[i] as f64).sum();
                let finite = idx.iter().any(|&i| x[i].is_finite());
                let want = if finite { 1.0 } else { 0.0 };
                assert!((sum - want).abs() < 1e-4, "{what}: slice {s} sums to {sum}");
            }
        }
    }
}

pub fn forward(device: &Device, tol: f64) {
    let mut r = rng(81);
    check_forward(device, tol, [7], &mut r);
    check_forward(device, tol, [1, 1], &mut r);
    check_forward(device, tol, [5, 13], &mut r);
    check_forward(device, tol, [3, 4, 9], &mut r);
    check_forward(device, tol, [2, 33, 6], &mut r);
    // Empty tensors.
    let e = sparsemax(Tensor::<2>::zeros([0, 4], device), 1);
    assert_eq!(e.dims(), [0, 4]);
    let e = entmax_bisect(Tensor::<2>::zeros([3, 0], device), 1.3, 1);
    assert_eq!(e.dims(), [3, 0]);
    // Equal logits get equal probability; large logits are safe.
    let x = tensor(&[1e4, 1e4, 1e4, -1e4], [1, 4], device);
    for &m in MAPS {
        let p = host(m.apply(x.clone(), 1));
        for v in &p[..3] {
            assert!((v - 1.0 / 3.0).abs() < 1e-5, "{m:?}: ties {p:?}");
        }
        assert_eq!(p[3], 0.0);
    }
}

/// `z.grad` of `Σ w ⊙ f(z)` under autodiff, and the forward output.
fn grad_of<const D: usize>(
    device: &Device,
    x: &[f32],
    w: &[f32],
    shape: [usize; D],
    f: impl Fn(Tensor<D>) -> Tensor<D>,
) -> Vec<f32> {
    let ad = device.clone().autodiff();
    let z = tensor(x, shape, &ad).require_grad();
    let g = (f(z.clone()) * tensor(w, shape, &ad)).sum().backward();
    z.grad(&g).map(host).unwrap_or_else(|| vec![0.0; x.len()])
}

pub fn gradients(device: &Device, tol: f64) {
    let mut r = rng(82);
    for (shape, dim) in [([4usize, 11usize], 1usize), ([9, 3], 0), ([1, 6], 1)] {
        let x = logits(&shape, dim, &mut r);
        let w = random_vec(x.len(), &mut r);
        for &m in MAPS {
            let what = format!("{m:?} {shape:?} dim {dim}");
            let got = grad_of(device, &x, &w, shape, |z| m.apply(z, dim));
            assert_finite(&got, &what);
            let a = m.alpha();
            let p = ref_forward(a, &to64(&x), &shape, dim);
            let w64 = to64(&w);
            let mut s = 0;
            let want = per_slice(&p, &shape, dim, |_, pv| {
                let idx = &slices(&shape, dim)[s];
                s += 1;
                let dp: Vec<f64> = idx.iter().map(|&i| w64[i]).collect();
                reference::backward(a, pv, &dp)
            });
            assert_close(&got, &want, tol * 10.0, &format!("{what}: closed form"));
            // The fully masked slice has a zero gradient.
            for &i in &slices(&shape, dim)[0] {
                assert_eq!(got[i], 0.0, "{what}: masked slice gradient");
            }
            let loss = |z: &[f64]| -> f64 {
                ref_forward(a, z, &shape, dim)
                    .iter()
                    .zip(&w64)
                    .map(|(p, w)| p * w)
                    .sum()
            };
            assert_fd(loss, &x, &got, 2e-3, &format!("{what}: fd"), &mut r);
        }
    }
}

/// A learned α per head: `x` is `[batch, heads, n]` along dim 2 with `α` `[1, heads, 1]`, and `x`
/// `[n, heads]` along dim 0 with `α` `[1, heads]`.
pub fn alpha_gradients(device: &Device, tol: f64) {
    let mut r = rng(83);
    let alphas = [1.3f32, 1.8, 2.6];
    let ad = device.clone().autodiff();
    // [batch, heads, n] along 2.
    let shape = [2usize, 3, 8];
    let x = logits(&shape, 2, &mut r);
    let w = random_vec(x.len(), &mut r);
    let (x64, w64) = (to64(&x), to64(&w));
    let z = tensor(&x, shape, &ad).require_grad();
    let al = tensor(&alphas, [1, 3, 1], &ad).require_grad();
    let p = entmax_bisect_learned(z.clone(), al.clone(), 2);
    let g = (p.clone() * tensor(&w, shape, &ad)).sum().backward();
    let (dz, da) = (host(z.grad(&g).unwrap()), host(al.grad(&g).unwrap()));
    assert_finite(&dz, "dz");
    assert_finite(&da, "dalpha");
    let alpha_of = |s: usize| alphas[s % 3] as f64;
    let fwd =
        |x: &[f64], al: &[f64]| per_slice(x, &shape, 2, |s, v| reference::forward(al[s % 3], v));
    let al64 = to64(&alphas);
    let pref = fwd(&x64, &al64);
    assert_close(&host(p), &pref, tol * 10.0, "learned forward");
    let sl = slices(&shape, 2);
    let dz_want = per_slice(&pref, &shape, 2, |s, pv| {
        let dp: Vec<f64> = sl[s].iter().map(|&i| w64[i]).collect();
        reference::backward(alpha_of(s), pv, &dp)
    });
    assert_close(&dz, &dz_want, tol * 10.0, "learned dz closed form");
    let mut da_want = vec![0.0f64; 3];
    for (s, idx) in sl.iter().enumerate() {
        let pv: Vec<f64> = idx.iter().map(|&i| pref[i]).collect();
        let dp: Vec<f64> = idx.iter().map(|&i| w64[i]).collect();
        da_want[s % 3] += reference::alpha_grad(alpha_of(s), &pv, &dp);
    }
    assert_close(&da, &da_want, tol * 100.0, "dalpha closed form");
    let loss = |al: &[f64]| -> f64 { fwd(&x64, al).iter().zip(&w64).map(|(p, w)| p * w).sum() };
    for h in 0..3 {
        let e = 1e-4;
        let (mut ap, mut am) = (al64.clone(), al64.clone());
        ap[h] += e;
        am[h] -= e;
        let fd = (loss(&ap) - loss(&am)) / (2.0 * e);
        let scale = da_want.iter().fold(1e-6f64, |a, b| a.max(b.abs()));
        assert!(
            (fd - da[h] as f64).abs() / scale < 2e-3,
            "dalpha[{h}]: fd {fd} vs {}",
            da[h]
        );
    }
    let loss_z = |z: &[f64]| -> f64 { fwd(z, &al64).iter().zip(&w64).map(|(p, w)| p * w).sum() };
    assert_fd(loss_z, &x, &dz, 2e-3, "learned dz fd", &mut r);

    // Attention-shaped: scores [batch, heads, q, k] along 3, α [1, heads, 1, 1].
    let shape = [2usize, 2, 3, 5];
    let ah = [1.4f32, 2.2];
    let x = logits(&shape, 3, &mut r);
    let w = random_vec(x.len(), &mut r);
    let z = tensor(&x, shape, &ad).require_grad();
    let al = tensor(&ah, [1, 2, 1, 1], &ad).require_grad();
    let g = (entmax_bisect_learned(z, al.clone(), 3) * tensor(&w, shape, &ad))
        .sum()
        .backward();
    let da = host(al.grad(&g).unwrap());
    let head = |s: usize| (s / 3) % 2; // slices are (b, h, q) in row-major order
    let mut want = vec![0.0f64; 2];
    for (s, idx) in slices(&shape, 3).iter().enumerate() {
        let v: Vec<f64> = idx.iter().map(|&i| x[i] as f64).collect();
        let p = reference::forward(ah[head(s)] as f64, &v);
        let dp: Vec<f64> = idx.iter().map(|&i| w[i] as f64).collect();
        want[head(s)] += reference::alpha_grad(ah[head(s)] as f64, &p, &dp);
    }
    assert_close(&da, &want, tol * 100.0, "per-head dalpha (4-D)");

    // [n, heads] along 0, α [1, heads]; α not tracked (z only).
    let shape = [6usize, 3];
    let x = logits(&shape, 0, &mut r);
    let got = host(entmax_bisect_learned(
        tensor(&x, shape, device),
        tensor(&alphas, [1, 3], device),
        0,
    ));
    let want = per_slice(&to64(&x), &shape, 0, |s, v| {
        reference::forward(alphas[s] as f64, v)
    });
    assert_close(&got, &want, tol * 10.0, "learned along dim 0");
    // A scalar-like α [1, 1] broadcasts to every slice.
    let got = host(entmax_bisect_learned(
        tensor(&x, shape, device),
        tensor(&[1.5f32], [1, 1], device),
        0,
    ));
    let want = ref_forward(1.5, &to64(&x), &shape, 0);
    assert_close(&got, &want, tol * 10.0, "learned broadcast α");
}

impl Map {
    fn loss(self, z: Tensor<2>, t: Tensor<1, Int>) -> Tensor<1> {
        match self {
            Map::Sparsemax => sparsemax_loss(z, t),
            Map::Entmax15 => entmax15_loss(z, t),
            Map::Bisect(a) => entmax_bisect_loss(z, t, a),
        }
    }
}

/// The Fenchel–Young losses: values against the reference, gradient `p − onehot(t)` (scaled by
/// the upstream gradient) and finite differences.
pub fn losses(device: &Device, tol: f64) {
    let mut r = rng(85);
    let (b, c) = (6usize, 9usize);
    let mut x = logits(&[b, c], 1, &mut r);
    // No fully masked row here (its target would be masked): unmask row 0, keep some −∞.
    for v in &mut x[..c] {
        *v = value(&mut r);
    }
    let targets: Vec<usize> = (0..b)
        .map(|i| {
            let ok: Vec<usize> = (0..c).filter(|&j| x[i * c + j].is_finite()).collect();
            ok[r.random_range(0..ok.len())]
        })
        .collect();
    let t = |d: &Device| {
        Tensor::<1, Int>::from_data(
            TensorData::new(targets.iter().map(|&v| v as i64).collect::<Vec<_>>(), [b]),
            d,
        )
    };
    let w = random_vec(b, &mut r);
    let ad = device.clone().autodiff();
    for &m in MAPS {
        let what = format!("{m:?} loss");
        let a = m.alpha();
        let rows: Vec<Vec<f64>> = (0..b).map(|i| to64(&x[i * c..(i + 1) * c])).collect();
        let want: Vec<f64> = (0..b)
            .map(|i| reference::loss(a, &rows[i], targets[i]))
            .collect();
        let got = host(m.loss(tensor(&x, [b, c], device), t(device)));
        assert_finite(&got, &what);
        assert_close(&got, &want, tol * 10.0, &what);
        assert!(
            got.iter().all(|&l| l >= -1e-5),
            "{what}: negative loss {got:?}"
        );
        let z = tensor(&x, [b, c], &ad).require_grad();
        let g = (m.loss(z.clone(), t(&ad)) * t1(&w, &ad)).sum().backward();
        let dz = host(z.grad(&g).unwrap());
        let mut dz_want = Vec::new();
        for i in 0..b {
            let p = reference::forward(a, &rows[i]);
            for (j, pv) in p.iter().enumerate() {
                let onehot = if j == targets[i] { 1.0 } else { 0.0 };
                dz_want.push(w[i] as f64 * (pv - onehot));
            }
        }
        assert_close(&dz, &dz_want, tol * 10.0, &format!("{what}: p - onehot"));
        let loss = |z: &[f64]| -> f64 {
            (0..b)
                .map(|i| w[i] as f64 * reference::loss(a, &z[i * c..(i + 1) * c], targets[i]))
                .sum()
        };
        assert_fd(loss, &x, &dz, 2e-3, &format!("{what}: fd"), &mut r);
    }
    // An empty batch.
    let e = sparsemax_loss(
        Tensor::<2>::zeros([0, 3], device),
        Tensor::<1, Int>::from_data(TensorData::new(Vec::<i64>::new(), [0]), device),
    );
    assert_eq!(e.dims(), [0]);
}

#[test]
fn f16_on_flex() {
    let device = Device::flex();
    let mut r = rng(84);
    let shape = [4usize, 10];
    let x = logits(&shape, 1, &mut r);
    let xh = tensor(&x, shape, &device).cast(FloatDType::F16);
    let x16 = host(xh.clone()); // the f16-rounded logits
    for &m in MAPS {
        let p = m.apply(xh.clone(), 1);
        assert_eq!(p.dtype(), DType::F16, "{m:?}: dtype");
        let want = ref_forward(m.alpha(), &to64(&x16), &shape, 1);
        assert_close(&host(p), &want, 2e-3, &format!("{m:?} f16"));
    }
    // Gradients flow through the casts.
    let ad = device.autodiff();
    let z = tensor(&x, shape, &ad).cast(FloatDType::F16).require_grad();
    let g = sparsemax(z.clone(), 1).sum().backward();
    assert!(z.grad(&g).is_some());
}

#[test]
#[should_panic(expected = "out of range")]
fn dim_out_of_range() {
    let _ = sparsemax(Tensor::<2>::zeros([2, 3], &Device::flex()), 2);
}

#[test]
#[should_panic(expected = "alpha")]
fn alpha_not_above_one() {
    let _ = entmax_bisect(Tensor::<2>::zeros([2, 3], &Device::flex()), 1.0, 1);
}

macro_rules! suite {
    ($($dev:ident => $device:expr, $tol:expr;)*) => {$(
        mod $dev {
            use super::*;
            fn device() -> Device { $device }
            #[test] fn forward() { super::forward(&device(), $tol) }
            #[test] fn gradients() { super::gradients(&device(), $tol) }
            #[test] fn alpha_gradients() { super::alpha_gradients(&device(), $tol) }
            #[test] fn losses() { super::losses(&device(), $tol) }
        }
    )*};
}

suite! {
    flex => Device::flex(), 1e-5;
    ndarray => Device::ndarray(), 1e-5;
    wgpu => wgpu_device(), 1e-4;
}
