//! Row-wise top-k, the sparse gather-decode and dense → CSR on the device, on every device:
//! forward vs host references (f64 where there is arithmetic), gradients vs dense autodiff of the
//! same function, vs the exact f64 gradient and vs finite differences. Written once,
//! instantiated per device at the bottom.
#![allow(deprecated)]

mod common;

use burn::tensor::{Device, Int, Tensor, TensorData};
use common::*;
use rand::rngs::StdRng;
use rand::Rng;
use sparsekit_tensor::{gather_decode, topk, topk_abs, SparseError, SparseTensor};

fn ints2(v: &[i32], shape: [usize; 2], device: &Device) -> Tensor<2, Int> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), device)
}

fn host_int<const D: usize>(t: Tensor<D, Int>) -> Vec<i64> {
    t.into_data().try_into_vec_as::<i64>().unwrap()
}

fn grad2(t: &Tensor<2>, g: &burn::tensor::Gradients, len: usize) -> Vec<f32> {
    t.grad(g).map(host).unwrap_or_else(|| vec![0.0; len])
}

/// Host reference of a row-wise top-k: indices best first by the sparsity vocabulary's ranking
/// (NaN of either sign first, ties to the lower column), written as a full sort.
fn topk_ref(x: &[f32], m: usize, c: usize, k: usize, magnitude: bool) -> Vec<i64> {
    let key = |v: f32| if magnitude { v.abs() } else { v };
    let mut out = Vec::with_capacity(m * k);
    for i in 0..m {
        let row = &x[i * c..(i + 1) * c];
        let mut idx: Vec<usize> = (0..c).collect();
        idx.sort_by(|&a, &b| {
            sparsekit_formats::sparsity::better((key(row[a]), a), (key(row[b]), b))
        });
        out.extend(idx[..k].iter().map(|&j| j as i64));
    }
    out
}

/// (rows, cols, k, small-integer values so that ties are frequent)
const TOPK_CASES: &[(usize, usize, usize, bool)] = &[
    (0, 5, 2, false),
    (3, 0, 0, false),
    (4, 7, 0, false),
    (4, 7, 7, false),
    (5, 13, 3, false),
    (6, 9, 4, true),
    (257, 17, 5, false),  // rows not a multiple of the workgroup size
    (1, 5000, 40, false), // one huge row
    (3, 300, 300, true),
    (7, 50, 32, true), // the largest k of the insertion kernel
    (7, 50, 33, true), // the smallest k of the rank kernel
];

fn topk_input(m: usize, c: usize, ties: bool, r: &mut StdRng) -> Vec<f32> {
    (0..m * c)
        .map(|_| {
            if ties {
                r.random_range(-3i32..4) as f32
            } else {
                value(r)
            }
        })
        .collect()
}

pub fn topk_forward(device: &Device, _tol: f64) {
    let mut r = rng(31);
    for &(m, c, k, ties) in TOPK_CASES {
        let x = topk_input(m, c, ties, &mut r);
        for magnitude in [false, true] {
            let xt = t2(&x, [m, c], device);
            let (v, i) = if magnitude {
                topk_abs(xt, k).unwrap()
            } else {
                topk(xt, k).unwrap()
            };
            assert_eq!(v.dims(), [m, k]);
            assert_eq!(i.dims(), [m, k]);
            let want = topk_ref(&x, m, c, k, magnitude);
            let what = format!("topk m={m} c={c} k={k} ties={ties} magnitude={magnitude}");
            assert_eq!(host_int(i), want, "{what}: indices");
            let want_v: Vec<f32> = want
                .iter()
                .enumerate()
                .map(|(p, &j)| x[(p / k.max(1)) * c + j as usize])
                .collect();
            assert_eq!(host(v), want_v, "{what}: values");
        }
    }
    // NaN of either sign ranks first, -0.0 ties +0.0 (lower column first), then ±inf order.
    let neg_nan = f32::from_bits(0xFFC0_0000);
    let x = [
        1.0,
        f32::NAN,
        -0.0,
        0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        neg_nan,
        -2.0,
    ];
    for magnitude in [false, true] {
        let t = t2(&x, [1, 8], device);
        let (_, i) = if magnitude {
            topk_abs(t, 8)
        } else {
            topk(t, 8)
        }
        .unwrap();
        let got = host_int(i);
        assert_eq!(got, topk_ref(&x, 1, 8, 8, magnitude), "special values");
        assert_eq!(&got[..2], &[1, 6], "both NaNs first");
    }
    // k > cols is a typed error.
    let e = topk(t2(&[1.0; 6], [2, 3], device), 4);
    assert!(matches!(e, Err(SparseError::InvalidK { k: 4, cols: 3 })));
}

pub fn topk_grad(device: &Device, tol: f64) {
    let ad = device.clone().autodiff();
    let mut r = rng(32);
    for &(m, c, k) in &[(5usize, 13usize, 3usize), (4, 6, 6), (3, 5, 0), (2, 700, 9)] {
        // Distinct magnitudes spaced by 0.1 with random signs, so that a finite-difference step
        // keeps the selection and its order.
        let mut x: Vec<f32> = (0..m * c)
            .map(|p| {
                let s = if r.random_bool(0.5) { 1.0 } else { -1.0 };
                s * (p + 1) as f32 * 0.1
            })
            .collect();
        for i in (1..x.len()).rev() {
            let j = r.random_range(0..=i);
            x.swap(i, j);
        }
        let g = random_vec(m * k, &mut r);
        let xt = t2(&x, [m, c], &ad).require_grad();
        let (v, idx) = topk_abs(xt.clone(), k).unwrap();
        if k == 0 {
            // an empty result: nothing to differentiate
            assert_eq!(v.dims(), [m, 0]);
            continue;
        }
        let loss = (v * t2(&g, [m, k], &ad)).sum();
        let gx = grad2(&xt, &loss.backward(), m * c);
        // exact: G scattered to the indices
        let idx = host_int(idx);
        let mut want = vec![0.0f64; m * c];
        for (p, &j) in idx.iter().enumerate() {
            want[(p / k) * c + j as usize] += g[p] as f64;
        }
        let what = format!("topk grad m={m} c={c} k={k}");
        assert_close(&gx, &want, tol, &what);
        // dense autodiff of the same function: x ∘ one-hot mask, summed against G per slot
        if m * k > 0 {
            let mut sel = vec![0.0f32; m * k * c];
            for (p, &j) in idx.iter().enumerate() {
                sel[p * c + j as usize] = 1.0;
            }
            let xd = t2(&x, [m, c], &ad).require_grad();
            let sel = Tensor::<3>::from_data(TensorData::new(sel, [m, k, c]), &ad);
            let vd = (xd.clone().reshape([m, 1, c]) * sel)
                .sum_dim(2)
                .reshape([m, k]);
            let gd = grad2(&xd, &(vd * t2(&g, [m, k], &ad)).sum().backward(), m * c);
            assert_close(&gx, &to64(&gd), tol, &format!("{what} vs dense"));
        }
        // finite differences of the f64 function (selection by magnitude, then Σ G·value)
        let g64 = to64(&g);
        let f = |xs: &[f64]| {
            let xf: Vec<f32> = xs.iter().map(|&v| v as f32).collect();
            let sel = topk_ref(&xf, m, c, k, true);
            sel.iter()
                .enumerate()
                .map(|(p, &j)| g64[p] * xs[(p / k) * c + j as usize])
                .sum::<f64>()
        };
        assert_fd(f, &x, &gx, tol, &format!("{what} fd"), &mut r);
    }
}

// ---------------------------------------------------------------- gather-decode

/// (B, k, n latents, d)
const DECODE_CASES: &[(usize, usize, usize, usize)] = &[
    (0, 3, 5, 4),
    (4, 0, 5, 4),
    (3, 2, 5, 0),
    (3, 2, 0, 4),
    (5, 3, 7, 9),
    (37, 8, 100, 33),
    (300, 4, 50, 3),
    (2, 64, 4096, 129),
];

fn random_indices(b: usize, k: usize, n: usize, r: &mut StdRng) -> Vec<i32> {
    (0..b * k)
        .map(|_| {
            if n == 0 {
                0
            } else {
                r.random_range(0..n as i32)
            }
        })
        .collect()
}

fn decode64(
    v: &[f64],
    idx: &[i32],
    dict: &[f64],
    b: usize,
    k: usize,
    n: usize,
    d: usize,
) -> Vec<f64> {
    let mut y = vec![0.0; b * d];
    for bb in 0..b {
        for j in 0..k {
            let r = idx[bb * k + j];
            if r >= 0 && (r as usize) < n {
                for c in 0..d {
                    y[bb * d + c] += v[bb * k + j] * dict[r as usize * d + c];
                }
            }
        }
    }
    y
}

pub fn decode_forward(device: &Device, tol: f64) {
    let mut r = rng(41);
    for &(b, k, n, d) in DECODE_CASES {
        let v = random_vec(b * k, &mut r);
        let mut idx = random_indices(b, k, n, &mut r);
        // out-of-range entries contribute nothing
        if idx.len() > 2 {
            idx[0] = -1;
            idx[1] = n as i32;
        }
        let dict = random_vec(n * d, &mut r);
        let y = gather_decode(
            t2(&v, [b, k], device),
            ints2(&idx, [b, k], device),
            t2(&dict, [n, d], device),
        )
        .unwrap();
        assert_eq!(y.dims(), [b, d]);
        let want = decode64(&to64(&v), &idx, &to64(&dict), b, k, n, d);
        assert_close(
            &host(y),
            &want,
            tol,
            &format!("decode B={b} k={k} n={n} d={d}"),
        );
    }
    // shape mismatch is a typed error
    let e = gather_decode(
        t2(&[1.0; 6], [2, 3], device),
        ints2(&[0; 4], [2, 2], device),
        t2(&[1.0; 4], [2, 2], device),
    );
    assert!(matches!(e, Err(SparseError::Shape { .. })));
}

pub fn decode_grad(device: &Device, tol: f64) {
    let ad = device.clone().autodiff();
    let mut r = rng(42);
    let mut cases = DECODE_CASES.to_vec();
    cases.push((500, 3, 40, 5)); // below: every entry of row 0 hits latent 0 (a hot latent)
    for (case_no, &(b, k, n, d)) in cases.iter().enumerate() {
        let v = random_vec(b * k, &mut r);
        let mut idx = random_indices(b, k, n, &mut r);
        if case_no == cases.len() - 1 {
            for bb in 0..b {
                idx[bb * k] = 0;
            }
        }
        let dict = random_vec(n * d, &mut r);
        let g = random_vec(b * d, &mut r);

        let vt = t2(&v, [b, k], &ad).require_grad();
        let dt = t2(&dict, [n, d], &ad).require_grad();
        let y = gather_decode(vt.clone(), ints2(&idx, [b, k], &ad), dt.clone()).unwrap();
        let grads = (y * t2(&g, [b, d], &ad)).sum().backward();
        let (gv, gd) = (grad2(&vt, &grads, b * k), grad2(&dt, &grads, n * d));
        let what = format!("decode grad B={b} k={k} n={n} d={d}");

        // dense: Y = (Σ_j V[b,j]·onehot(idx[b,j])) · D
        if b * k * n * d > 0 {
            let mut oh = vec![0.0f32; b * k * n];
            for (p, &i) in idx.iter().enumerate() {
                oh[p * n + i as usize] = 1.0;
            }
            let vd = t2(&v, [b, k], &ad).require_grad();
            let dd = t2(&dict, [n, d], &ad).require_grad();
            let oh = Tensor::<3>::from_data(TensorData::new(oh, [b, k, n]), &ad);
            let s = (vd.clone().reshape([b, k, 1]) * oh)
                .sum_dim(1)
                .reshape([b, n]);
            let grads = (s.matmul(dd.clone()) * t2(&g, [b, d], &ad))
                .sum()
                .backward();
            assert_close(
                &gv,
                &to64(&grad2(&vd, &grads, b * k)),
                tol,
                &format!("{what} dV vs dense"),
            );
            assert_close(
                &gd,
                &to64(&grad2(&dd, &grads, n * d)),
                tol,
                &format!("{what} dD vs dense"),
            );
        }

        // exact f64 gradients and finite differences
        let (v64, d64, g64) = (to64(&v), to64(&dict), to64(&g));
        let mut want_v = vec![0.0; b * k];
        let mut want_d = vec![0.0; n * d];
        for (p, &i) in idx.iter().enumerate().filter(|&(_, &i)| (i as usize) < n) {
            let bb = p / k;
            for c in 0..d {
                want_v[p] += g64[bb * d + c] * d64[i as usize * d + c];
                want_d[i as usize * d + c] += v64[p] * g64[bb * d + c];
            }
        }
        assert_close(&gv, &want_v, tol, &format!("{what} dV exact"));
        assert_close(&gd, &want_d, tol, &format!("{what} dD exact"));
        let loss = |vs: &[f64], ds: &[f64]| {
            decode64(vs, &idx, ds, b, k, n, d)
                .iter()
                .zip(&g64)
                .map(|(a, b)| a * b)
                .sum::<f64>()
        };
        assert_fd(
            |vs| loss(vs, &d64),
            &v,
            &gv,
            tol,
            &format!("{what} dV fd"),
            &mut r,
        );
        assert_fd(
            |ds| loss(&v64, ds),
            &dict,
            &gd,
            tol,
            &format!("{what} dD fd"),
            &mut r,
        );
    }
}

/// The dictionary gradient sums each latent's entries in a fixed order: two backward passes
/// give bit-identical results (a hot latent hit by every row included).
pub fn decode_grad_deterministic(device: &Device, _tol: f64) {
    let ad = device.clone().autodiff();
    let mut r = rng(43);
    let (b, k, n, d) = (300, 8, 20, 17);
    let v = random_vec(b * k, &mut r);
    let mut idx = random_indices(b, k, n, &mut r);
    for bb in 0..b {
        idx[bb * k] = 3;
    }
    let dict = random_vec(n * d, &mut r);
    let g = random_vec(b * d, &mut r);
    let run = || {
        let dt = t2(&dict, [n, d], &ad).require_grad();
        let y = gather_decode(t2(&v, [b, k], &ad), ints2(&idx, [b, k], &ad), dt.clone()).unwrap();
        grad2(&dt, &(y * t2(&g, [b, d], &ad)).sum().backward(), n * d)
    };
    let (first, second) = (run(), run());
    assert!(
        first
            .iter()
            .zip(&second)
            .all(|(a, b)| a.to_bits() == b.to_bits()),
        "dD differs between two runs"
    );
}

// ---------------------------------------------------------------- dense → CSR on the device

/// (rows, cols, fraction of exact zeros)
const DENSE_CASES: &[(usize, usize, f64)] = &[
    (0, 4, 0.5),
    (3, 0, 0.5),
    (4, 6, 1.0), // nnz = 0
    (13, 17, 0.6),
    (1000, 7, 0.8), // several scan chunks
    (1, 5000, 0.1), // one huge row
    (4100, 3, 0.3),
];

fn dense_input(m: usize, c: usize, zeros: f64, r: &mut StdRng) -> Vec<f32> {
    (0..m * c)
        .map(|p| {
            // every third row empty when there are several rows
            if (m > 2 && (p / c.max(1)) % 3 == 1) || r.random_bool(zeros) {
                0.0
            } else {
                value(r)
            }
        })
        .collect()
}

fn assert_csr(
    s: &SparseTensor,
    m: usize,
    c: usize,
    keep: impl Fn(usize, usize) -> bool,
    x: &[f32],
    what: &str,
) {
    let csr = s.to_csr();
    assert_eq!(csr.shape(), (m, c), "{what}: shape");
    let mut rp = vec![0u32];
    let (mut ci, mut vals) = (Vec::new(), Vec::new());
    for i in 0..m {
        for j in 0..c {
            if keep(i, j) {
                ci.push(j as u32);
                vals.push(x[i * c + j]);
            }
        }
        rp.push(ci.len() as u32);
    }
    assert_eq!(csr.row_ptr(), &rp[..], "{what}: row_ptr");
    assert_eq!(csr.col_idx(), &ci[..], "{what}: col_idx");
    assert_eq!(csr.values(), &vals[..], "{what}: values");
}

pub fn dense_to_csr(device: &Device, _tol: f64) {
    let mut r = rng(51);
    for &(m, c, zeros) in DENSE_CASES {
        let x = dense_input(m, c, zeros, &mut r);
        for thr in [0.0f32, 0.5] {
            let s = SparseTensor::from_dense_threshold(t2(&x, [m, c], device), thr).unwrap();
            assert_csr(
                &s,
                m,
                c,
                |i, j| x[i * c + j].abs() > thr,
                &x,
                &format!("threshold {thr} m={m} c={c}"),
            );
        }
        for k in [0, c.min(3), c] {
            let s = SparseTensor::from_dense_topk_rows(t2(&x, [m, c], device), k).unwrap();
            let sel = topk_ref(&x, m, c, k, true);
            let mut keep = vec![false; m * c];
            for (p, &j) in sel.iter().enumerate() {
                keep[(p / k) * c + j as usize] = true;
            }
            assert_csr(
                &s,
                m,
                c,
                |i, j| keep[i * c + j],
                &x,
                &format!("topk rows k={k} m={m} c={c}"),
            );
        }
    }
    let e = SparseTensor::from_dense_topk_rows(t2(&[1.0; 6], [2, 3], device), 4);
    assert!(matches!(e, Err(SparseError::InvalidK { .. })));
}

/// Gradients flow from the values of a device-built pattern back to the dense input.
pub fn dense_to_csr_grad(device: &Device, tol: f64) {
    let ad = device.clone().autodiff();
    let mut r = rng(52);
    let (m, c) = (9, 11);
    let x = dense_input(m, c, 0.3, &mut r);
    for by_threshold in [true, false] {
        let xt = t2(&x, [m, c], &ad).require_grad();
        let s = if by_threshold {
            SparseTensor::from_dense_threshold(xt.clone(), 0.5).unwrap()
        } else {
            SparseTensor::from_dense_topk_rows(xt.clone(), 4).unwrap()
        };
        let g = random_vec(s.nnz(), &mut r);
        let gx = grad2(
            &xt,
            &(s.values().clone() * t1(&g, &ad)).sum().backward(),
            m * c,
        );
        let csr = s.to_csr();
        let mut want = vec![0.0f64; m * c];
        let mut e = 0;
        for i in 0..m {
            for &j in csr.row(i).0 {
                want[i * c + j as usize] = g[e] as f64;
                e += 1;
            }
        }
        assert_close(
            &gx,
            &want,
            tol,
            &format!("dense → csr grad (threshold: {by_threshold})"),
        );
    }
}

macro_rules! suite {
    ($($dev:ident => $device:expr, $tol:expr;)*) => {$(
        mod $dev {
            use super::*;
            fn device() -> Device { $device }
            #[test] fn topk_forward() { super::topk_forward(&device(), $tol) }
            #[test] fn topk_grad() { super::topk_grad(&device(), $tol) }
            #[test] fn decode_forward() { super::decode_forward(&device(), $tol) }
            #[test] fn decode_grad() { super::decode_grad(&device(), $tol) }
            #[test] fn decode_grad_deterministic() { super::decode_grad_deterministic(&device(), $tol) }
            #[test] fn dense_to_csr() { super::dense_to_csr(&device(), $tol) }
            #[test] fn dense_to_csr_grad() { super::dense_to_csr_grad(&device(), $tol) }
        }
    )*};
}

suite! {
    flex => Device::flex(), 1e-5;
    ndarray => Device::ndarray(), 1e-5;
    wgpu => wgpu_device(), 1e-4;
}
