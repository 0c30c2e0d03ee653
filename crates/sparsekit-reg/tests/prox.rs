//! Every proximal operator against its closed form (host f64), soft/hard/half thresholds also
//! against brute-force minimization of ½(y − x)² + t·φ(y), non-expansiveness of the convex
//! ones, and ProximalStep on a module. Written once, instantiated per device at the bottom.
#![allow(deprecated)]

mod common;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use common::*;
use rand::Rng;
use sparsekit_reg::*;

#[derive(Module, Debug)]
struct Net {
    l1: Linear,
    l2: Linear,
}

impl Net {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.l2.forward(self.l1.forward(x))
    }
}

fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

fn soft(x: f64, t: f64) -> f64 {
    sign(x) * (x.abs() - t).max(0.0)
}

fn firm(x: f64, l: f64, m: f64) -> f64 {
    let a = x.abs();
    if a <= l {
        0.0
    } else if a <= m {
        sign(x) * m * (a - l) / (m - l)
    } else {
        x
    }
}

fn scad(x: f64, t: f64, a: f64) -> f64 {
    let ab = x.abs();
    if ab <= 2.0 * t {
        soft(x, t)
    } else if ab <= a * t {
        ((a - 1.0) * x - sign(x) * a * t) / (a - 2.0)
    } else {
        x
    }
}

/// argmin_y ½(y − x)² + t·φ(y) by grid search then refinement.
fn brute(x: f64, t: f64, phi: impl Fn(f64) -> f64) -> f64 {
    let f = |y: f64| 0.5 * (y - x).powi(2) + t * phi(y);
    let mut best = 0.0;
    let mut fb = f(0.0);
    let n = 40000;
    let lo = -x.abs() - 1.0;
    let hi = x.abs() + 1.0;
    for k in 0..=n {
        let y = lo + (hi - lo) * k as f64 / n as f64;
        if f(y) < fb {
            fb = f(y);
            best = y;
        }
    }
    best
}

/// Values on a grid through all branches: ±[0, 3].
fn xs() -> Vec<f32> {
    (0..60).map(|i| (i as f32 - 30.0) * 0.1 + 0.013).collect()
}

pub fn closed_forms(device: &Device, tol: f64) {
    let x = xs();
    let w = t2(&x, [6, 10], device);
    let t = 0.4;
    type Op = (&'static str, Box<dyn ProxOp>, Box<dyn Fn(f64) -> f64>);
    let ops: Vec<Op> = vec![
        (
            "soft",
            Box::new(SoftThreshold),
            Box::new(move |v| soft(v, t)),
        ),
        (
            "hard",
            Box::new(HardThreshold),
            Box::new(move |v| if v.abs() > (2.0 * t).sqrt() { v } else { 0.0 }),
        ),
        (
            "firm",
            Box::new(Firm::new(3.0).unwrap()),
            Box::new(move |v| firm(v, t, 3.0 * t)),
        ),
        (
            "mcp",
            Box::new(Mcp::new(2.5).unwrap()),
            Box::new(move |v| firm(v, t, 2.5 * t)),
        ),
        (
            "scad",
            Box::new(Scad::new(3.7).unwrap()),
            Box::new(move |v| scad(v, t, 3.7)),
        ),
    ];
    for (name, op, f) in ops {
        let got = host(op.prox(w.clone(), t).unwrap());
        let want: Vec<f64> = x.iter().map(|&v| f(v as f64)).collect();
        assert_close(&got, &want, tol * 10.0, name);
        assert!(op.prox(w.clone(), -1.0).is_err());
    }
    // brute force: soft (|y|), hard (1[y ≠ 0]), half (|y|^½)
    let half = host(HalfThreshold.prox(w.clone(), t).unwrap());
    let soft_d = host(SoftThreshold.prox(w.clone(), t).unwrap());
    let hard_d = host(HardThreshold.prox(w.clone(), t).unwrap());
    for (i, &v) in x.iter().enumerate() {
        let v = v as f64;
        let b = brute(v, t, |y| y.abs());
        assert!((soft_d[i] as f64 - b).abs() < 1e-3, "soft brute at {v}");
        let b = brute(v, t, |y| if y == 0.0 { 0.0 } else { 1.0 });
        // hard: the objective jumps at y = 0, the grid may miss 0 exactly
        if (v.abs() - (2.0 * t).sqrt()).abs() > 1e-2 {
            let want = if v.abs() > (2.0 * t).sqrt() { v } else { 0.0 };
            assert!((hard_d[i] as f64 - want).abs() < 1e-5, "hard at {v}");
            let _ = b;
        }
        let b = brute(v, t, |y| y.abs().sqrt());
        let thr = 54f64.cbrt() / 4.0 * (2.0 * t).powf(2.0 / 3.0);
        if (v.abs() - thr).abs() > 1e-2 {
            assert!(
                (half[i] as f64 - b).abs() < 2e-3,
                "half at {v}: got {} brute {b}",
                half[i]
            );
        }
    }
}

fn group_ref(x: &[f32], rows: usize, cols: usize, by_cols: bool, t: f64) -> Vec<f64> {
    let mut out: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let (ng, sz) = if by_cols { (cols, rows) } else { (rows, cols) };
    for g in 0..ng {
        let idx: Vec<usize> = (0..sz)
            .map(|k| if by_cols { k * cols + g } else { g * cols + k })
            .collect();
        let norm: f64 = idx.iter().map(|&i| out[i] * out[i]).sum::<f64>().sqrt();
        let f = if norm > 0.0 {
            (1.0 - t * (sz as f64).sqrt() / norm).max(0.0)
        } else {
            0.0
        };
        for i in idx {
            out[i] *= f;
        }
    }
    out
}

pub fn group_soft(device: &Device, tol: f64) {
    let mut r = rng(2);
    let x = random_vec(4 * 6, &mut r);
    let w = t2(&x, [4, 6], device);
    for t in [0.05, 0.3, 0.8] {
        for (by_cols, groups) in [(false, Groups::Rows), (true, Groups::Columns)] {
            let op = GroupSoftThreshold::new(groups, GroupWeights::SqrtSize).unwrap();
            let got = host(op.prox(w.clone(), t).unwrap());
            assert_close(
                &got,
                &group_ref(&x, 4, 6, by_cols, t),
                tol * 10.0,
                "group soft",
            );
        }
        // custom disjoint groups = rows given by index
        let rows: Vec<Vec<usize>> = (0..4).map(|i| (i * 6..(i + 1) * 6).collect()).collect();
        let op = GroupSoftThreshold::new(Groups::Custom { groups: rows }, GroupWeights::SqrtSize)
            .unwrap();
        let got = host(op.prox(w.clone(), t).unwrap());
        assert_close(
            &got,
            &group_ref(&x, 4, 6, false, t),
            tol * 10.0,
            "group soft custom",
        );
        // 2×6 blocks = pairs of rows
        let op =
            GroupSoftThreshold::new(Groups::Blocks { rows: 1, cols: 6 }, GroupWeights::SqrtSize)
                .unwrap();
        let got = host(op.prox(w.clone(), t).unwrap());
        assert_close(
            &got,
            &group_ref(&x, 4, 6, false, t),
            tol * 10.0,
            "group soft blocks",
        );
    }
    let overlapping = GroupSoftThreshold::new(
        Groups::Custom {
            groups: vec![vec![0, 1], vec![1, 2]],
        },
        GroupWeights::Uniform,
    )
    .unwrap();
    assert!(overlapping.prox(w, 0.1).is_err());
}

pub fn nonexpansive(device: &Device, _tol: f64) {
    let mut r = rng(4);
    let ops: Vec<Box<dyn ProxOp>> = vec![
        Box::new(SoftThreshold),
        Box::new(GroupSoftThreshold::new(Groups::Rows, GroupWeights::SqrtSize).unwrap()),
        Box::new(GroupSoftThreshold::new(Groups::Columns, GroupWeights::Uniform).unwrap()),
        Box::new(
            GroupSoftThreshold::new(Groups::Blocks { rows: 2, cols: 5 }, GroupWeights::SqrtSize)
                .unwrap(),
        ),
        Box::new(
            GroupSoftThreshold::new(
                Groups::Custom {
                    groups: vec![vec![0, 7, 19], vec![3], vec![4, 5, 6, 12]],
                },
                GroupWeights::Custom {
                    weights: vec![0.5, 2.0, 1.0],
                },
            )
            .unwrap(),
        ),
    ];
    for op in ops {
        for k in 0..20 {
            let t = [0.05, 0.5, 2.0][k % 3];
            let a = random_vec(20, &mut r);
            let b = random_vec(20, &mut r);
            // half of the pairs close to each other, where thresholds bite differently
            let b: Vec<f32> = if k % 2 == 0 {
                b
            } else {
                a.iter().zip(&b).map(|(x, y)| x + 0.05 * y).collect()
            };
            let pa = host(op.prox(t2(&a, [4, 5], device), t).unwrap());
            let pb = host(op.prox(t2(&b, [4, 5], device), t).unwrap());
            let d = |u: &[f32], v: &[f32]| -> f64 {
                u.iter()
                    .zip(v)
                    .map(|(x, y)| ((x - y) as f64).powi(2))
                    .sum::<f64>()
                    .sqrt()
            };
            assert!(d(&pa, &pb) <= d(&a, &b) * (1.0 + 1e-5), "{op:?} expands");
        }
    }
}

#[derive(Module, Debug)]
struct Pair {
    a: burn::module::Param<Tensor<2>>,
    b: burn::module::Param<Tensor<2>>,
}

fn pair(x: &[f32], device: &Device) -> Pair {
    Pair {
        a: burn::module::Param::from_tensor(t2(&x[..20], [5, 4], device)),
        b: burn::module::Param::from_tensor(t2(&x[20..], [4, 3], device)),
    }
}

fn flat(p: &Pair) -> Vec<f32> {
    let mut v = host(p.a.val());
    v.extend(host(p.b.val()));
    v
}

/// Coupled block soft threshold: neuron j = column j of `a` [5, 4] with row j of `b` [4, 3],
/// scaled by max(0, 1 − t·√8/‖x_g‖); non-expansive on random pairs.
pub fn coupled_prox(device: &Device, tol: f64) {
    let mut r = rng(10);
    let lasso = CoupledGroupLasso::neurons("a", "b").unwrap();
    let group = |i: usize| if i < 20 { i % 4 } else { (i - 20) / 3 };
    for t in [0.05, 0.2, 0.5] {
        let x = random_vec(32, &mut r);
        let got = flat(&lasso.prox(pair(&x, device), t).unwrap());
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let mut n2 = [0.0f64; 4];
        for (i, v) in x64.iter().enumerate() {
            n2[group(i)] += v * v;
        }
        let want: Vec<f64> = (0..32)
            .map(|i| x64[i] * (1.0 - t * 8f64.sqrt() / n2[group(i)].sqrt()).max(0.0))
            .collect();
        assert_close(&got, &want, tol * 10.0, "coupled prox");
        // removed neurons: the whole column of a and row of b are 0 together
        for j in 0..4 {
            let zero_col = (0..5).all(|i| got[i * 4 + j] == 0.0);
            let zero_row = (0..3).all(|k| got[20 + j * 3 + k] == 0.0);
            assert_eq!(zero_col, zero_row, "neuron {j}");
        }
        let y: Vec<f32> = x
            .iter()
            .map(|v| v + 0.1 * r.random_range(-1.0f32..1.0))
            .collect();
        let py = flat(&lasso.prox(pair(&y, device), t).unwrap());
        let d = |u: &[f32], v: &[f32]| -> f64 {
            u.iter()
                .zip(v)
                .map(|(a, b)| ((a - b) as f64).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        assert!(
            d(&got, &py) <= d(&x, &y) * (1.0 + 1e-5),
            "coupled prox expands"
        );
    }
    let step = CoupledProximalStep::new(lasso.clone(), 10.0)
        .unwrap()
        .with_schedule(Schedule::linear(0, 10));
    let x = random_vec(32, &mut r);
    assert_eq!(flat(&step.apply_at(pair(&x, device), 1.0, 0).unwrap()), x);
    assert!(flat(&step.apply(pair(&x, device), 1.0).unwrap())
        .iter()
        .all(|&v| v == 0.0));
    assert!(lasso.prox(pair(&x, device), -1.0).is_err());
    assert!(CoupledProximalStep::new(lasso, -1.0).is_err());
}

pub fn proximal_step(device: &Device, _tol: f64) {
    let ad = device.clone().autodiff();
    let net = Net {
        l1: LinearConfig::new(8, 6).init(&ad),
        l2: LinearConfig::new(6, 3).init(&ad),
    };
    let b_before = host(net.l1.bias.as_ref().unwrap().val());
    let step = ProximalStep::new(
        GroupSoftThreshold::new(Groups::Columns, GroupWeights::SqrtSize).unwrap(),
        "l1.weight",
        1e3,
    )
    .unwrap();
    let net = step.apply(net, 1.0).unwrap();
    let rep = sparsity_report(&net, "**", 1e-6).unwrap();
    assert_eq!(rep.get("l1.weight").unwrap().zero_cols, 6);
    assert_eq!(rep.get("l2.weight").unwrap().zeros, 0);
    assert_eq!(host(net.l1.bias.as_ref().unwrap().val()), b_before);
    // still trainable
    let x = Tensor::<2>::ones([2, 8], &ad);
    let g = net.forward(x).sum().backward();
    assert!(net.l2.weight.val().grad(&g).is_some());
    // errors: no match, bad groups
    assert!(matches!(
        ProximalStep::new(SoftThreshold, "l9.*", 1.0)
            .unwrap()
            .apply(net.clone(), 1.0),
        Err(RegError::NoMatch(_))
    ));
    let blocks =
        GroupSoftThreshold::new(Groups::Blocks { rows: 5, cols: 1 }, GroupWeights::Uniform)
            .unwrap();
    assert!(matches!(
        ProximalStep::new(blocks, "l1.weight", 1.0)
            .unwrap()
            .apply(net.clone(), 1.0),
        Err(RegError::Groups { .. })
    ));
    // configs and schedules
    let step = ProxConfig::new(ProxKind::Soft, "**.weight".into(), 1e3)
        .with_schedule(Schedule::linear(5, 5))
        .init()
        .unwrap();
    let same = step.apply_at(net.clone(), 1.0, 0).unwrap();
    assert_eq!(
        sparsity_report(&same, "l2.weight", 0.0)
            .unwrap()
            .zero_fraction(),
        0.0
    );
    let all = step.apply_at(net, 1.0, 10).unwrap();
    assert_eq!(
        sparsity_report(&all, "**.weight", 0.0)
            .unwrap()
            .zero_fraction(),
        1.0
    );
}

fn half_ref(x: f64, t: f64) -> f64 {
    let lambda = 2.0 * t;
    let thr = 54f64.cbrt() / 4.0 * lambda.powf(2.0 / 3.0);
    if x.abs() <= thr {
        return 0.0;
    }
    let phi = ((lambda / 8.0) * (x.abs() / 3.0).powf(-1.5)).acos();
    2.0 / 3.0 * x * (1.0 + (2.0 * std::f64::consts::PI / 3.0 - 2.0 / 3.0 * phi).cos())
}

/// Every prox at and around the points where its formula changes branch (t = 0.5, so the
/// break points are exact in f32), against the closed forms; continuity where the operator is
/// continuous, the jump where it is not.
pub fn boundaries(device: &Device, tol: f64) {
    let t = 0.5f64;
    let d = 1e-3;
    let around = |b: f64| vec![b - d, b, b + d, -(b - d), -b, -(b + d)];
    let half_thr = 54f64.cbrt() / 4.0 * (2.0 * t).powf(2.0 / 3.0);
    type Op = (
        &'static str,
        Box<dyn ProxOp>,
        Box<dyn Fn(f64) -> f64>,
        Vec<f64>,
    );
    let ops: Vec<Op> = vec![
        (
            "soft",
            Box::new(SoftThreshold),
            Box::new(move |v| soft(v, t)),
            [around(t), vec![0.0]].concat(),
        ),
        (
            "hard",
            Box::new(HardThreshold),
            Box::new(move |v| if v.abs() > (2.0 * t).sqrt() { v } else { 0.0 }),
            [around(1.0), vec![0.0]].concat(),
        ),
        (
            "firm",
            Box::new(Firm::new(3.0).unwrap()),
            Box::new(move |v| firm(v, t, 3.0 * t)),
            [around(t), around(3.0 * t)].concat(),
        ),
        (
            "mcp",
            Box::new(Mcp::new(2.5).unwrap()),
            Box::new(move |v| firm(v, t, 2.5 * t)),
            [around(t), around(2.5 * t)].concat(),
        ),
        (
            "scad",
            Box::new(Scad::new(3.7).unwrap()),
            Box::new(move |v| scad(v, t, 3.7)),
            [around(t), around(2.0 * t), around(3.7 * t)].concat(),
        ),
        (
            "half",
            Box::new(HalfThreshold),
            Box::new(move |v| half_ref(v, t)),
            // not at the threshold itself: it is irrational and the operator jumps there
            vec![
                half_thr - d,
                half_thr + d,
                d - half_thr,
                -half_thr - d,
                0.0,
                3.0,
                -7.5,
            ],
        ),
    ];
    for (name, op, f, pts) in ops {
        let x: Vec<f32> = pts.iter().map(|&v| v as f32).collect();
        let n = x.len();
        let got = host(op.prox(t2(&x, [1, n], device), t).unwrap());
        let want: Vec<f64> = x.iter().map(|&v| f(v as f64)).collect();
        assert_close(&got, &want, tol * 10.0, name);
        // t = 0 is the identity for every operator
        let same = host(op.prox(t2(&x, [1, n], device), 0.0).unwrap());
        assert_eq!(same, x, "{name}: prox with t = 0");
    }
    // the half threshold jumps from 0 to (2/3)·threshold
    let got = host(
        HalfThreshold
            .prox(
                t2(
                    &[(half_thr - 1e-4) as f32, (half_thr + 1e-4) as f32],
                    [1, 2],
                    device,
                ),
                t,
            )
            .unwrap(),
    );
    assert_eq!(got[0], 0.0);
    assert!(
        (got[1] as f64 - 2.0 / 3.0 * half_thr).abs() < 1e-2,
        "half jump {}",
        got[1]
    );
    // group soft at ‖w_g‖ = t·c_g exactly: the group vanishes; just above it survives
    let op = GroupSoftThreshold::new(Groups::Rows, GroupWeights::Uniform).unwrap();
    let w = t2(&[0.5, 0.0, 0.5, 0.001], [2, 2], device); // norms 0.5 (exactly) and > 0.5
    let got = host(op.prox(w, 0.5).unwrap());
    assert_eq!(&got[..2], &[0.0, 0.0]);
    assert!(got[2] > 0.0 && got[3] > 0.0);
    // an all-zero group stays 0 (no NaN from 0/0)
    let got = host(
        op.prox(t2(&[0.0, 0.0, 1.0, 1.0], [2, 2], device), 0.1)
            .unwrap(),
    );
    assert_eq!(&got[..2], &[0.0, 0.0]);
}

/// Properties of the non-convex thresholds: odd, non-decreasing, shrinking (|p(x)| ≤ |x|),
/// zero exactly on their thresholding region, identity beyond it where they are unbiased
/// (hard, firm, MCP, SCAD), and Lipschitz with their known constants (1 for soft, μ/(μ − λ)
/// for firm/MCP, (a − 1)/(a − 2) for SCAD's middle piece).
pub fn nonconvex_properties(device: &Device, _tol: f64) {
    let x: Vec<f32> = (0..801).map(|i| (i as f32 - 400.0) * 0.01).collect(); // ±4
    let n = x.len();
    let w = t2(&x, [1, n], device);
    let t = 0.4f64;
    let half_thr = 54f64.cbrt() / 4.0 * (2.0 * t).powf(2.0 / 3.0);
    // (name, op, zero region |x| ≤ z, identity beyond, Lipschitz constant or ∞)
    type P = (&'static str, Box<dyn ProxOp>, f64, Option<f64>, f64);
    let ops: Vec<P> = vec![
        ("soft", Box::new(SoftThreshold), t, None, 1.0),
        (
            "hard",
            Box::new(HardThreshold),
            (2.0 * t).sqrt(),
            Some((2.0 * t).sqrt()),
            f64::INFINITY,
        ),
        (
            "firm",
            Box::new(Firm::new(3.0).unwrap()),
            t,
            Some(3.0 * t),
            1.5,
        ),
        (
            "mcp",
            Box::new(Mcp::new(2.0).unwrap()),
            t,
            Some(2.0 * t),
            2.0,
        ),
        (
            "scad",
            Box::new(Scad::new(3.7).unwrap()),
            t,
            Some(3.7 * t),
            2.7 / 1.7,
        ),
        (
            "half",
            Box::new(HalfThreshold),
            half_thr,
            None,
            f64::INFINITY,
        ),
    ];
    for (name, op, zero, ident, lip) in ops {
        let p = host(op.prox(w.clone(), t).unwrap());
        for i in 0..n {
            let (xi, pi) = (x[i] as f64, p[i] as f64);
            let mirror = p[n - 1 - i] as f64;
            assert!((pi + mirror).abs() < 1e-5, "{name} odd at {xi}");
            assert!(pi.abs() <= xi.abs() + 1e-6, "{name} shrinks at {xi}");
            assert!(pi * xi >= 0.0, "{name} keeps the sign at {xi}");
            if xi.abs() <= zero - 1e-4 {
                assert_eq!(pi, 0.0, "{name} zero region at {xi}");
            }
            if xi.abs() > zero + 1e-4 {
                assert!(pi != 0.0, "{name} nonzero beyond the region at {xi}");
            }
            if let Some(b) = ident {
                if xi.abs() > b + 1e-4 {
                    assert!((pi - xi).abs() < 1e-6, "{name} identity at {xi}");
                }
            }
            if i > 0 {
                let (xp, pp) = (x[i - 1] as f64, p[i - 1] as f64);
                assert!(pi >= pp - 1e-6, "{name} non-decreasing at {xi}");
                if lip.is_finite() {
                    assert!(
                        (pi - pp).abs() <= lip * (xi - xp) * (1.0 + 1e-3) + 1e-6,
                        "{name} Lipschitz {lip} at {xi}"
                    );
                }
            }
        }
    }
}

pub fn sensitivity(device: &Device, tol: f64) {
    let ad = device.clone().autodiff();
    let mut r = rng(6);
    // weight level on a hand-built parameter with a known gradient c: L = Σ m ⊙ c
    #[derive(Module, Debug)]
    struct One {
        m: burn::module::Param<Tensor<2>>,
    }
    let w = random_vec(12, &mut r);
    let c: Vec<f32> = (0..12).map(|i| (i as f32 - 5.5) * 0.2).collect(); // |c| from 0.1 to 1.1
    let module = One {
        m: burn::module::Param::from_tensor(t2(&w, [3, 4], &ad).require_grad()),
    };
    let loss = (module.m.val() * t2(&c, [3, 4], &ad)).sum();
    let grads_m = burn_optim::GradientsParams::from_grads(loss.backward(), &module);
    let lambda = 0.3;
    let clipped = SensitivityShrink::new("m", lambda, Level::Weight).unwrap();
    let got = host(clipped.apply(module.clone(), &grads_m).unwrap().m.val());
    let want: Vec<f64> = w
        .iter()
        .zip(&c)
        .map(|(&w, &c)| {
            let (w, c) = (w as f64, c as f64);
            w - lambda * w * (1.0 - c.abs()).max(0.0)
        })
        .collect();
    assert_close(&got, &want, tol * 10.0, "lobster clipped");
    let cmax = c.iter().fold(0f64, |a, &b| a.max(b.abs() as f64));
    let rescaled = clipped.clone().with_insensitivity(Insensitivity::Rescaled);
    let got = host(rescaled.apply(module.clone(), &grads_m).unwrap().m.val());
    let want: Vec<f64> = w
        .iter()
        .zip(&c)
        .map(|(&w, &c)| {
            let (w, c) = (w as f64, c as f64);
            w - lambda * w * (1.0 - c.abs() / cmax)
        })
        .collect();
    assert_close(&got, &want, tol * 10.0, "lobster rescaled");
    // neuron level: dL/db_j = Σ_batch c_j = 2·c_j for L = Σ (x·W + b) ⊙ c, x = ones [2, 4]
    let net = Net {
        l1: LinearConfig::new(4, 5).init(&ad),
        l2: LinearConfig::new(5, 3).init(&ad),
    };
    let cn: Vec<f32> = vec![0.05, -0.2, 0.45, 0.7, -0.3];
    let x = Tensor::<2>::ones([2, 4], &ad);
    let loss = (net.l1.forward(x) * t2(&[cn.clone(), cn.clone()].concat(), [2, 5], &ad)).sum();
    let grads = burn_optim::GradientsParams::from_grads(loss.backward(), &net);
    let w1 = host(net.l1.weight.val());
    let b1 = host(net.l1.bias.as_ref().unwrap().val());
    let l2_before = host(net.l2.weight.val());
    let s = SensitivityShrink::new("l1.weight", lambda, Level::Neuron).unwrap();
    let out = s.apply(net.clone(), &grads).unwrap();
    let factor: Vec<f64> = cn
        .iter()
        .map(|&c| 1.0 - lambda * (1.0 - 2.0 * (c as f64).abs()).max(0.0))
        .collect();
    let want_w: Vec<f64> = (0..20).map(|k| w1[k] as f64 * factor[k % 5]).collect();
    let want_b: Vec<f64> = (0..5).map(|j| b1[j] as f64 * factor[j]).collect();
    assert_close(&host(out.l1.weight.val()), &want_w, tol * 10.0, "neuron w");
    assert_close(
        &host(out.l1.bias.as_ref().unwrap().val()),
        &want_b,
        tol * 10.0,
        "neuron b",
    );
    assert_eq!(host(out.l2.weight.val()), l2_before, "l2 untouched");
    // errors: no sibling bias, nothing selected, bad λ
    assert!(matches!(
        SensitivityShrink::new("m", 0.1, Level::Neuron)
            .unwrap()
            .apply(module.clone(), &grads_m),
        Err(RegError::NoMatch(_))
    ));
    assert!(matches!(
        SensitivityShrink::new("zz", 0.1, Level::Weight)
            .unwrap()
            .apply(net, &grads),
        Err(RegError::NoMatch(_))
    ));
    assert!(SensitivityShrink::new("**", -0.5, Level::Neuron).is_err());
}

macro_rules! suite {
    ($($dev:ident => $device:expr, $tol:expr;)*) => {$(
        mod $dev {
            use super::*;
            fn device() -> Device { $device }
            #[test] fn closed_forms() { super::closed_forms(&device(), $tol) }
            #[test] fn group_soft() { super::group_soft(&device(), $tol) }
            #[test] fn nonexpansive() { super::nonexpansive(&device(), $tol) }
            #[test] fn proximal_step() { super::proximal_step(&device(), $tol) }
            #[test] fn sensitivity() { super::sensitivity(&device(), $tol) }
            #[test] fn coupled_prox() { super::coupled_prox(&device(), $tol) }
            #[test] fn boundaries() { super::boundaries(&device(), $tol) }
            #[test] fn nonconvex_properties() { super::nonconvex_properties(&device(), $tol) }
        }
    )*};
}

suite! {
    flex => Device::flex(), 1e-5;
    ndarray => Device::ndarray(), 1e-5;
    wgpu => wgpu_device(), 1e-4;
}
