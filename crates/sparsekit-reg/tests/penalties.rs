//! Every penalty's value and gradient against a closed form (f64, on the host) and against
//! finite differences of that closed form; selection by path; Sum and schedules; FLOPS; L0
//! gates. Written once, instantiated per device at the bottom.
#![allow(deprecated)]

mod common;

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use common::*;
use sparsekit_reg::*;

#[derive(Module, Debug)]
struct Net {
    l1: Linear,
    l2: Linear,
}

const R: usize = 4;
const C: usize = 6;

fn sqrt_eps(x: f64) -> f64 {
    (x + 1e-12).sqrt() - 1e-6
}

/// (name, penalty, closed form of the 4×6 matrix in row-major order).
type Case = (
    &'static str,
    Box<dyn Fn() -> Box<dyn Regularizer>>,
    fn(&[f64]) -> f64,
);

fn groups_of(w: &[f64], g: &Groups) -> Vec<Vec<f64>> {
    match g {
        Groups::Rows => (0..R).map(|i| w[i * C..(i + 1) * C].to_vec()).collect(),
        Groups::Columns => (0..C)
            .map(|j| (0..R).map(|i| w[i * C + j]).collect())
            .collect(),
        Groups::Blocks { rows, cols } => {
            let mut out = Vec::new();
            for bi in 0..R / rows {
                for bj in 0..C / cols {
                    let mut v = Vec::new();
                    for i in 0..*rows {
                        for j in 0..*cols {
                            v.push(w[(bi * rows + i) * C + bj * cols + j]);
                        }
                    }
                    out.push(v);
                }
            }
            out
        }
        Groups::Custom { groups } => groups
            .iter()
            .map(|g| g.iter().map(|&i| w[i]).collect())
            .collect(),
    }
}

fn gl(w: &[f64], g: &Groups) -> f64 {
    groups_of(w, g)
        .iter()
        .map(|v| (v.len() as f64).sqrt() * sqrt_eps(v.iter().map(|x| x * x).sum()))
        .sum()
}

fn l1(w: &[f64]) -> f64 {
    w.iter().map(|x| x.abs()).sum()
}
fn l2(w: &[f64]) -> f64 {
    w.iter().map(|x| x * x).sum()
}

fn custom() -> Groups {
    Groups::Custom {
        groups: vec![vec![0, 5, 7], vec![3, 4, 5, 23], vec![10]],
    }
}

fn cases() -> Vec<Case> {
    vec![
        ("l1", Box::new(|| Box::new(L1.on("m").unwrap())), l1),
        ("l2", Box::new(|| Box::new(L2.on("m").unwrap())), l2),
        (
            "elastic",
            Box::new(|| Box::new(ElasticNet::new(0.3).unwrap().on("m").unwrap())),
            |w| 0.3 * l1(w) + 0.7 * l2(w),
        ),
        (
            "group rows",
            Box::new(|| {
                Box::new(
                    GroupLasso::new(Groups::Rows, GroupWeights::SqrtSize)
                        .unwrap()
                        .on("m")
                        .unwrap(),
                )
            }),
            |w| gl(w, &Groups::Rows),
        ),
        (
            "group cols",
            Box::new(|| {
                Box::new(
                    GroupLasso::new(Groups::Columns, GroupWeights::SqrtSize)
                        .unwrap()
                        .on("m")
                        .unwrap(),
                )
            }),
            |w| gl(w, &Groups::Columns),
        ),
        (
            "group blocks",
            Box::new(|| {
                Box::new(
                    GroupLasso::new(Groups::Blocks { rows: 2, cols: 3 }, GroupWeights::SqrtSize)
                        .unwrap()
                        .on("m")
                        .unwrap(),
                )
            }),
            |w| gl(w, &Groups::Blocks { rows: 2, cols: 3 }),
        ),
        (
            "group custom (overlapping)",
            Box::new(|| {
                Box::new(
                    GroupLasso::new(custom(), GroupWeights::SqrtSize)
                        .unwrap()
                        .on("m")
                        .unwrap(),
                )
            }),
            |w| gl(w, &custom()),
        ),
        (
            "sparse group",
            Box::new(|| {
                Box::new(
                    SparseGroupLasso::new(Groups::Rows, GroupWeights::SqrtSize, 0.25)
                        .unwrap()
                        .on("m")
                        .unwrap(),
                )
            }),
            |w| 0.75 * gl(w, &Groups::Rows) + 0.25 * l1(w),
        ),
        (
            "hoyer",
            Box::new(|| Box::new(Hoyer.on("m").unwrap())),
            |w| l1(w) / (l2(w) + 1e-12).sqrt(),
        ),
        (
            "hoyer square",
            Box::new(|| Box::new(HoyerSquare.on("m").unwrap())),
            |w| l1(w).powi(2) / (l2(w) + 1e-12),
        ),
        (
            "log-sum",
            Box::new(|| Box::new(LogSum::new(0.1).unwrap().on("m").unwrap())),
            |w| w.iter().map(|x| (1.0 + x.abs() / 0.1).ln()).sum(),
        ),
        (
            "lq",
            Box::new(|| Box::new(Lq::new(0.5, 1e-2).unwrap().on("m").unwrap())),
            |w| {
                w.iter()
                    .map(|x| (x * x + 1e-2f64).powf(0.25) - 1e-2f64.powf(0.25))
                    .sum()
            },
        ),
        (
            "l0",
            Box::new(|| Box::new(L0::default().on("m").unwrap())),
            |w| {
                let shift = 2.0 / 3.0 * (0.1f64 / 1.1).ln();
                w.iter().map(|x| 1.0 / (1.0 + (-(x - shift)).exp())).sum()
            },
        ),
    ]
}

#[derive(Module, Debug)]
struct One {
    m: Param<Tensor<2>>,
}

pub fn value_and_gradient(device: &Device, tol: f64) {
    let ad = device.clone().autodiff();
    let mut r = rng(1);
    for (name, make, closed) in cases() {
        let w = random_vec(R * C, &mut r);
        let module = One {
            m: Param::from_tensor(t2(&w, [R, C], &ad).require_grad()),
        };
        let p = make().penalty_params(&collect_params(&module)).unwrap();
        let w64: Vec<f64> = w.iter().map(|&v| v as f64).collect();
        assert_close(&host(p.clone()), &[closed(&w64)], tol, name);
        let grads = p.backward();
        let g = host(module.m.val().grad(&grads).expect("a gradient"));
        assert_fd(closed, &w, &g, 1e-3_f64.max(tol * 10.0), name);
    }
}

pub fn selection_and_sum(device: &Device, tol: f64) {
    let net = Net {
        l1: LinearConfig::new(5, 4).init(device),
        l2: LinearConfig::new(4, 3).init(device),
    };
    let paths: Vec<String> = collect_params(&net).into_iter().map(|p| p.path).collect();
    assert_eq!(paths, ["l1.weight", "l1.bias", "l2.weight", "l2.bias"]);
    let all = scalar(L1.on("**").unwrap().penalty(&net).unwrap());
    let w = scalar(L1.on("*.weight").unwrap().penalty(&net).unwrap());
    let b = scalar(L1.on("*.bias").unwrap().penalty(&net).unwrap());
    assert!((all - w - b).abs() <= tol * all.max(1.0) * 10.0);
    assert!(matches!(
        L1.on("l3.*").unwrap().penalty(&net),
        Err(RegError::NoMatch(_))
    ));
    assert!(matches!(L1.on("a..b"), Err(RegError::Pattern(_))));
    let s = Sum::new()
        .with(2.0, L1.on("*.weight").unwrap())
        .unwrap()
        .with_scheduled(3.0, Schedule::linear(10, 10), L1.on("*.bias").unwrap())
        .unwrap();
    let full = scalar(s.penalty(&net).unwrap());
    assert!((full - (2.0 * w + 3.0 * b)).abs() <= 1e-4 * full.max(1.0));
    let half = scalar(s.penalty_at(&net, 15).unwrap());
    assert!((half - (2.0 * w + 1.5 * b)).abs() <= 1e-4 * half.max(1.0));
    assert!(Sum::new().with(-1.0, L1.on("**").unwrap()).is_err());
    // group shape errors
    let bad = GroupLasso::new(Groups::Blocks { rows: 3, cols: 3 }, GroupWeights::Uniform)
        .unwrap()
        .on("l1.weight")
        .unwrap();
    assert!(matches!(bad.penalty(&net), Err(RegError::Groups { .. })));
    let bad = GroupLasso::new(
        Groups::Rows,
        GroupWeights::Custom {
            weights: vec![1.0; 2],
        },
    )
    .unwrap()
    .on("l1.weight")
    .unwrap();
    assert!(bad.penalty(&net).is_err());
    // config round trip
    let cfg = SumConfig::new(vec![
        RegularizerConfig::new(PenaltyKind::L1, "*.weight".into(), 2.0),
        RegularizerConfig::new(
            PenaltyKind::GroupLasso {
                groups: Groups::Columns,
                weights: GroupWeights::SqrtSize,
            },
            "l1.weight".into(),
            1.0,
        ),
    ]);
    let s = cfg.init().unwrap();
    assert_eq!(s.len(), 2);
    assert!(scalar(s.penalty(&net).unwrap()) > 2.0 * w);
}

pub fn mask_hypersparse_flops(device: &Device, tol: f64) {
    let mut r = rng(3);
    let w = random_vec(R * C, &mut r);
    let module = One {
        m: Param::from_tensor(t2(&w, [R, C], device)),
    };
    let mask: Vec<bool> = (0..R * C).map(|i| i % 3 == 0).collect();
    let want: f64 = w
        .iter()
        .zip(&mask)
        .filter(|(_, m)| **m)
        .map(|(v, _)| v.abs() as f64)
        .sum();
    let ms = MaskSparsity::new().with_mask("m", &[R, C], mask).unwrap();
    assert_close(
        &host(ms.penalty(&module).unwrap()),
        &[want],
        tol,
        "mask sparsity",
    );
    assert!(MaskSparsity::new()
        .with_mask("m", &[R, C], vec![true; 3])
        .is_err());
    // HyperSparse with keep 0.25 spares the 6 largest
    let mut a: Vec<f64> = w.iter().map(|v| v.abs() as f64).collect();
    a.sort_by(|x, y| y.total_cmp(x));
    let want: f64 = a[6..].iter().sum();
    let hs = HyperSparse::new(0.25).unwrap().on("m").unwrap();
    assert_close(
        &host(hs.penalty(&module).unwrap()),
        &[want],
        tol,
        "hypersparse",
    );
    // FLOPS
    let acts = t2(&w, [R, C], device);
    let want: f64 = (0..C)
        .map(|j| ((0..R).map(|i| w[i * C + j].abs() as f64).sum::<f64>() / R as f64).powi(2))
        .sum();
    assert_close(&host(flops(&acts).unwrap()), &[want], tol, "flops");
    assert!(flops(&Tensor::<2>::zeros([0, 3], device)).is_err());
}

pub fn hard_concrete(device: &Device, _tol: f64) {
    let ad = device.clone().autodiff();
    ad.seed(5);
    let gate = HardConcreteGateConfig::new(1000).init(&ad).unwrap();
    let z = host(gate.gates(true));
    assert!(z.iter().all(|&v| (0.0..=1.0).contains(&v)));
    // droprate 0.5: log_alpha ≈ 0; P(z = 0) = sigmoid(β ln(−γ/ζ) − log_alpha) ≈ 0.17
    let zeros = z.iter().filter(|&&v| v == 0.0).count() as f64 / 1000.0;
    assert!((zeros - 0.168).abs() < 0.05, "zeros {zeros}");
    // test gates deterministic: clamp(sigmoid(0)·1.2 − 0.1) ≈ 0.5
    let zt = host(gate.gates(false));
    assert!(zt.iter().all(|&v| (v - 0.5).abs() < 0.01));
    // expected L0 ≈ 1000 · sigmoid(−β ln(−γ/ζ)) ≈ 831.6; gradient through the sampled gates
    let l0 = scalar(gate.expected_l0());
    assert!((l0 - 831.6).abs() < 5.0, "l0 {l0}");
    let x = Tensor::<2>::ones([2, 1000], &ad);
    let y = gate.forward(x, true).sum() + gate.expected_l0();
    let g = gate.log_alpha.val().grad(&y.backward()).unwrap();
    assert!(host(g).iter().all(|v| v.is_finite()));
    assert!(HardConcreteGateConfig::new(3)
        .with_droprate_init(1.0)
        .init(device)
        .is_err());
}

macro_rules! suite {
    ($($dev:ident => $device:expr, $tol:expr;)*) => {$(
        mod $dev {
            use super::*;
            fn device() -> Device { $device }
            #[test] fn value_and_gradient() { super::value_and_gradient(&device(), $tol) }
            #[test] fn selection_and_sum() { super::selection_and_sum(&device(), $tol) }
            #[test] fn mask_hypersparse_flops() { super::mask_hypersparse_flops(&device(), $tol) }
            #[test] fn hard_concrete() { super::hard_concrete(&device(), $tol) }
        }
    )*};
}

suite! {
    flex => Device::flex(), 1e-5;
    ndarray => Device::ndarray(), 1e-5;
    wgpu => wgpu_device(), 1e-4;
}
