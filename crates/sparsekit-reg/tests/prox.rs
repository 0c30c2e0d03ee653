//! Every proximal operator against its closed form (host f64), soft/hard/half thresholds also
//! against brute-force minimization of ½(y − x)² + t·φ(y), non-expansiveness of the convex
//! ones, and ProximalStep on a module. Written once, instantiated per device at the bottom.
#![allow(deprecated)]

mod common;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use common::*;
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
    ];
    for op in ops {
        for _ in 0..10 {
            let a = random_vec(20, &mut r);
            let b = random_vec(20, &mut r);
            let pa = host(op.prox(t2(&a, [4, 5], device), 0.5).unwrap());
            let pb = host(op.prox(t2(&b, [4, 5], device), 0.5).unwrap());
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

pub fn sensitivity(device: &Device, _tol: f64) {
    let ad = device.clone().autodiff();
    let net = Net {
        l1: LinearConfig::new(8, 6).init(&ad),
        l2: LinearConfig::new(6, 3).init(&ad),
    };
    let x = Tensor::<2>::ones([2, 8], &ad);
    let grads = burn_optim::GradientsParams::from_grads(net.forward(x).sum().backward(), &net);
    let before = host(net.l1.weight.val());
    // threshold 1 shrinks everything but the most sensitive entry: w·(1 − lr·λ)
    let s = SensitivityShrink::new("l1.weight", 0.5, 1.0, Level::Weight).unwrap();
    let after = host(s.apply(net, &grads, 1.0).unwrap().l1.weight.val());
    let shrunk = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| ((**a as f64) - 0.5 * (**b as f64)).abs() < 1e-6)
        .count();
    assert!(shrunk >= before.len() - 1, "{shrunk} of {}", before.len());
    assert!(SensitivityShrink::new("**", 0.5, 2.0, Level::Neuron).is_err());
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
        }
    )*};
}

suite! {
    flex => Device::flex(), 1e-5;
    ndarray => Device::ndarray(), 1e-5;
    wgpu => wgpu_device(), 1e-4;
}
