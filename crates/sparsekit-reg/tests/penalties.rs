//! Every penalty's value and gradient against a closed form (f64, on the host) and against
//! finite differences of that closed form; selection by path; Sum and schedules; FLOPS; L0
//! gates. Written once, instantiated per device at the bottom.
#![allow(deprecated)]

mod common;

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};
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

/// (name, penalty, closed form of the 4×6 matrix in row-major order, closed-form gradient).
type Case = (
    &'static str,
    Box<dyn Fn() -> Box<dyn Regularizer>>,
    fn(&[f64]) -> f64,
    fn(&[f64]) -> Vec<f64>,
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

/// Flat indices of each group (same order as `groups_of`).
fn group_idx(g: &Groups) -> Vec<Vec<usize>> {
    let idx: Vec<f64> = (0..R * C).map(|i| i as f64).collect();
    groups_of(&idx, g)
        .into_iter()
        .map(|v| v.into_iter().map(|x| x as usize).collect())
        .collect()
}

/// ∂/∂w_i Σ_g √|g|·(√(‖w_g‖² + ε) − √ε) = Σ_{g ∋ i} √|g|·w_i / √(‖w_g‖² + ε).
fn gl_grad(w: &[f64], g: &Groups) -> Vec<f64> {
    let mut out = vec![0.0; w.len()];
    for grp in group_idx(g) {
        let n2: f64 = grp.iter().map(|&i| w[i] * w[i]).sum();
        let c = (grp.len() as f64).sqrt() / (n2 + 1e-12).sqrt();
        for &i in &grp {
            out[i] += c * w[i];
        }
    }
    out
}

fn sgn(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

fn l1_grad(w: &[f64]) -> Vec<f64> {
    w.iter().map(|&x| sgn(x)).collect()
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

/// β·ln(−γ/ζ) of the default hard-concrete parameters.
fn l0_shift() -> f64 {
    2.0 / 3.0 * (0.1f64 / 1.1).ln()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn cases() -> Vec<Case> {
    vec![
        (
            "l1",
            Box::new(|| Box::new(L1.on("m").unwrap())),
            l1,
            l1_grad,
        ),
        ("l2", Box::new(|| Box::new(L2.on("m").unwrap())), l2, |w| {
            w.iter().map(|x| 2.0 * x).collect()
        }),
        (
            "elastic",
            Box::new(|| Box::new(ElasticNet::new(0.3).unwrap().on("m").unwrap())),
            |w| 0.3 * l1(w) + 0.7 * l2(w),
            |w| w.iter().map(|&x| 0.3 * sgn(x) + 1.4 * x).collect(),
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
            |w| gl_grad(w, &Groups::Rows),
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
            |w| gl_grad(w, &Groups::Columns),
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
            |w| gl_grad(w, &Groups::Blocks { rows: 2, cols: 3 }),
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
            |w| gl_grad(w, &custom()),
        ),
        (
            "sparse group rows",
            Box::new(|| {
                Box::new(
                    SparseGroupLasso::new(Groups::Rows, GroupWeights::SqrtSize, 0.25)
                        .unwrap()
                        .on("m")
                        .unwrap(),
                )
            }),
            |w| 0.75 * gl(w, &Groups::Rows) + 0.25 * l1(w),
            |w| {
                let g = gl_grad(w, &Groups::Rows);
                w.iter()
                    .zip(g)
                    .map(|(&x, g)| 0.75 * g + 0.25 * sgn(x))
                    .collect()
            },
        ),
        (
            "sparse group custom",
            Box::new(|| {
                Box::new(
                    SparseGroupLasso::new(custom(), GroupWeights::SqrtSize, 0.6)
                        .unwrap()
                        .on("m")
                        .unwrap(),
                )
            }),
            |w| 0.4 * gl(w, &custom()) + 0.6 * l1(w),
            |w| {
                let g = gl_grad(w, &custom());
                w.iter()
                    .zip(g)
                    .map(|(&x, g)| 0.4 * g + 0.6 * sgn(x))
                    .collect()
            },
        ),
        (
            "hoyer",
            Box::new(|| Box::new(Hoyer.on("m").unwrap())),
            |w| l1(w) / (l2(w) + 1e-12).sqrt(),
            |w| {
                let (a, q) = (l1(w), l2(w) + 1e-12);
                w.iter()
                    .map(|&x| sgn(x) / q.sqrt() - a * x / q.powf(1.5))
                    .collect()
            },
        ),
        (
            "hoyer square",
            Box::new(|| Box::new(HoyerSquare.on("m").unwrap())),
            |w| l1(w).powi(2) / (l2(w) + 1e-12),
            |w| {
                let (a, q) = (l1(w), l2(w) + 1e-12);
                w.iter()
                    .map(|&x| 2.0 * a * sgn(x) / q - 2.0 * a * a * x / (q * q))
                    .collect()
            },
        ),
        (
            "log-sum",
            Box::new(|| Box::new(LogSum::new(0.1).unwrap().on("m").unwrap())),
            |w| w.iter().map(|x| (1.0 + x.abs() / 0.1).ln()).sum(),
            |w| w.iter().map(|&x| sgn(x) / (0.1 + x.abs())).collect(),
        ),
        (
            "lq",
            Box::new(|| Box::new(Lq::new(0.5, 1e-2).unwrap().on("m").unwrap())),
            |w| {
                w.iter()
                    .map(|x| (x * x + 1e-2f64).powf(0.25) - 1e-2f64.powf(0.25))
                    .sum()
            },
            |w| {
                w.iter()
                    .map(|&x| 0.5 * x * (x * x + 1e-2f64).powf(-0.75))
                    .collect()
            },
        ),
        (
            "lq 0.3",
            Box::new(|| Box::new(Lq::new(0.3, 0.5).unwrap().on("m").unwrap())),
            |w| {
                w.iter()
                    .map(|x| (x * x + 0.5f64).powf(0.15) - 0.5f64.powf(0.15))
                    .sum()
            },
            |w| {
                w.iter()
                    .map(|&x| 0.3 * x * (x * x + 0.5f64).powf(-0.85))
                    .collect()
            },
        ),
        (
            "l0",
            Box::new(|| Box::new(L0::default().on("m").unwrap())),
            |w| w.iter().map(|x| sigmoid(x - l0_shift())).sum(),
            |w| {
                w.iter()
                    .map(|x| {
                        let s = sigmoid(x - l0_shift());
                        s * (1.0 - s)
                    })
                    .collect()
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
    for (name, make, closed, grad) in cases() {
        for _ in 0..3 {
            let w = random_vec(R * C, &mut r);
            let module = One {
                m: Param::from_tensor(t2(&w, [R, C], &ad).require_grad()),
            };
            let p = make().penalty_params(&collect_params(&module)).unwrap();
            let w64: Vec<f64> = w.iter().map(|&v| v as f64).collect();
            assert_close(&host(p.clone()), &[closed(&w64)], tol, name);
            let grads = p.backward();
            let g = host(module.m.val().grad(&grads).expect("a gradient"));
            assert_close(&g, &grad(&w64), tol * 10.0, &format!("{name} gradient"));
            assert_fd(closed, &w, &g, 1e-3_f64.max(tol * 10.0), name);
        }
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

#[derive(Module, Debug)]
struct Two {
    m: Param<Tensor<2>>,
    n: Param<Tensor<1>>,
}

pub fn mask_hypersparse_flops(device: &Device, tol: f64) {
    let ad = device.clone().autodiff();
    let mut r = rng(3);
    for _ in 0..3 {
        // MaskSparsity: Σ|w ⊙ m|, gradient m·sign(w)
        let w = random_vec(R * C, &mut r);
        let module = One {
            m: Param::from_tensor(t2(&w, [R, C], &ad).require_grad()),
        };
        let mask: Vec<bool> = (0..R * C).map(|i| (i * 7 + 3) % 5 < 2).collect();
        let mf: Vec<f64> = mask.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
        let closed = |x: &[f64]| -> f64 { x.iter().zip(&mf).map(|(v, m)| m * v.abs()).sum() };
        let ms = MaskSparsity::new()
            .with_mask("m", &[R, C], mask.clone())
            .unwrap();
        let p = ms.penalty(&module).unwrap();
        let w64: Vec<f64> = w.iter().map(|&v| v as f64).collect();
        assert_close(&host(p.clone()), &[closed(&w64)], tol, "mask sparsity");
        let g = host(module.m.val().grad(&p.backward()).unwrap());
        let want: Vec<f64> = w64.iter().zip(&mf).map(|(&x, m)| m * sgn(x)).collect();
        assert_close(&g, &want, tol, "mask sparsity gradient");
        assert_fd(closed, &w, &g, 1e-3, "mask sparsity");

        // FLOPS on activations [R, C]: Σ_j (mean_i |a_ij|)², ∂/∂a_ij = 2·mean_j·sign(a_ij)/R
        let a = random_vec(R * C, &mut r);
        let acts = t2(&a, [R, C], &ad).require_grad();
        let f = flops(&acts).unwrap();
        let closed = |x: &[f64]| -> f64 {
            (0..C)
                .map(|j| ((0..R).map(|i| x[i * C + j].abs()).sum::<f64>() / R as f64).powi(2))
                .sum()
        };
        let a64: Vec<f64> = a.iter().map(|&v| v as f64).collect();
        assert_close(&host(f.clone()), &[closed(&a64)], tol, "flops");
        let g = host(acts.grad(&f.backward()).unwrap());
        let want: Vec<f64> = (0..R * C)
            .map(|k| {
                let j = k % C;
                let mean = (0..R).map(|i| a64[i * C + j].abs()).sum::<f64>() / R as f64;
                2.0 * mean * sgn(a64[k]) / R as f64
            })
            .collect();
        assert_close(&g, &want, tol * 10.0, "flops gradient");
        assert_fd(closed, &a, &g, 1e-3, "flops");

        // HyperSparse, one loss over m (4×6) and n (5): value 0, gradient
        // sign(w)·‖w‖₁·s·sech²(s|w|)/T with s = 0.6585 / a_⌊κn⌋.
        let wn = random_vec(5, &mut r);
        let two = Two {
            m: Param::from_tensor(t2(&w, [R, C], &ad).require_grad()),
            n: Param::from_tensor(
                Tensor::<1>::from_data(TensorData::new(wn.clone(), [5]), &ad).require_grad(),
            ),
        };
        let all: Vec<f64> = w.iter().chain(&wn).map(|&v| v as f64).collect();
        let kappa = 0.6;
        let mut sorted: Vec<f64> = all.iter().map(|v| v.abs()).collect();
        sorted.sort_by(f64::total_cmp);
        let sc = 0.6585 / sorted[(kappa * all.len() as f64).floor() as usize];
        let t0: f64 = all.iter().map(|v| (sc * v.abs()).tanh()).sum();
        // The surrogate with s and the detached T frozen at the current point.
        let surrogate = |x: &[f64]| -> f64 {
            let l1: f64 = x.iter().map(|v| v.abs()).sum();
            let t: f64 = x.iter().map(|v| (sc * v.abs()).tanh()).sum();
            l1 * t / t0 - l1
        };
        let hs = HyperSparse::new("m|n", kappa).unwrap();
        let p = hs.penalty(&two).unwrap();
        assert!(
            scalar(p.clone()).abs() <= 1e-4 * l1(&all),
            "hypersparse value"
        );
        let grads = p.backward();
        let mut g = host(two.m.val().grad(&grads).unwrap());
        g.extend(host(two.n.val().grad(&grads).unwrap()));
        let norm1 = l1(&all);
        let want: Vec<f64> = all
            .iter()
            .map(|&x| sgn(x) * norm1 * sc * (1.0 - (sc * x.abs()).tanh().powi(2)) / t0)
            .collect();
        assert_close(&g, &want, tol * 10.0, "hypersparse gradient");
        let w32: Vec<f32> = all.iter().map(|&v| v as f32).collect();
        assert_fd(surrogate, &w32, &g, 1e-3, "hypersparse");
        // the pull fades with |w|: the smallest weight is pulled harder than the largest
        let (imin, imax) = (0..all.len()).fold((0, 0), |(lo, hi), i| {
            (
                if all[i].abs() < all[lo].abs() { i } else { lo },
                if all[i].abs() > all[hi].abs() { i } else { hi },
            )
        });
        assert!(g[imin].abs() > g[imax].abs());
    }
    // κ-quantile already 0: target reached, zero penalty and zero gradient
    let mut z = vec![0.0f32; R * C];
    z[0] = 1.0;
    z[5] = -2.0;
    let module = One {
        m: Param::from_tensor(t2(&z, [R, C], &ad).require_grad()),
    };
    let p = HyperSparse::new("m", 0.5)
        .unwrap()
        .penalty(&module)
        .unwrap();
    assert_eq!(scalar(p.clone()), 0.0);
    let g = host(module.m.val().grad(&p.backward()).unwrap());
    assert!(g.iter().all(|&v| v == 0.0));
    assert!(HyperSparse::new("m", 1.0).is_err());
    assert!(HyperSparse::new("m", -0.1).is_err());
    assert!(matches!(
        HyperSparse::new("x", 0.5).unwrap().penalty(&module),
        Err(RegError::NoMatch(_))
    ));
    assert!(MaskSparsity::new()
        .with_mask("m", &[R, C], vec![true; 3])
        .is_err());
    assert!(flops(&Tensor::<2>::zeros([0, 3], device)).is_err());
}

#[derive(Module, Debug)]
struct Pair {
    a: Param<Tensor<2>>,
    b: Param<Tensor<2>>,
}

/// Coupled groups: neuron j = column j of `a` [5, 4] with row j of `b` [4, 3], c = √8.
fn coupled_closed(x: &[f64]) -> f64 {
    (0..4)
        .map(|j| {
            let n2: f64 = (0..5).map(|i| x[i * 4 + j].powi(2)).sum::<f64>()
                + (0..3).map(|k| x[20 + j * 3 + k].powi(2)).sum::<f64>();
            8f64.sqrt() * sqrt_eps(n2)
        })
        .sum()
}

pub fn coupled(device: &Device, tol: f64) {
    let ad = device.clone().autodiff();
    let mut r = rng(9);
    let lasso = CoupledGroupLasso::neurons("a", "b").unwrap();
    for _ in 0..3 {
        let x = random_vec(32, &mut r);
        let pair = Pair {
            a: Param::from_tensor(t2(&x[..20], [5, 4], &ad).require_grad()),
            b: Param::from_tensor(t2(&x[20..], [4, 3], &ad).require_grad()),
        };
        let p = lasso.penalty(&pair).unwrap();
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        assert_close(&host(p.clone()), &[coupled_closed(&x64)], tol, "coupled");
        let grads = p.backward();
        let mut g = host(pair.a.val().grad(&grads).unwrap());
        g.extend(host(pair.b.val().grad(&grads).unwrap()));
        // ∂/∂x_i = √8·x_i/√(‖x_g‖² + ε) for the group g of x_i
        let norm = |j: usize| -> f64 {
            ((0..5).map(|i| x64[i * 4 + j].powi(2)).sum::<f64>()
                + (0..3).map(|k| x64[20 + j * 3 + k].powi(2)).sum::<f64>()
                + 1e-12)
                .sqrt()
        };
        let want: Vec<f64> = (0..32)
            .map(|i| {
                let j = if i < 20 { i % 4 } else { (i - 20) / 3 };
                8f64.sqrt() * x64[i] / norm(j)
            })
            .collect();
        assert_close(&g, &want, tol * 10.0, "coupled gradient");
        assert_fd(coupled_closed, &x, &g, 1e-3, "coupled");
    }
    // errors: missing member, group counts that differ, duplicate member
    let pair = Pair {
        a: Param::from_tensor(Tensor::ones([5, 4], device)),
        b: Param::from_tensor(Tensor::ones([3, 3], device)),
    };
    assert!(matches!(
        CoupledGroupLasso::neurons("a", "zz")
            .unwrap()
            .penalty(&pair),
        Err(RegError::NoMatch(_))
    ));
    assert!(matches!(lasso.penalty(&pair), Err(RegError::Groups { .. })));
    assert!(CoupledGroupLasso::neurons("a", "a").is_err());
    assert!(CoupledGroupLasso::new(vec![], GroupWeights::Uniform).is_err());
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
            #[test] fn coupled() { super::coupled(&device(), $tol) }
            #[test] fn hard_concrete() { super::hard_concrete(&device(), $tol) }
        }
    )*};
}

suite! {
    flex => Device::flex(), 1e-5;
    ndarray => Device::ndarray(), 1e-5;
    wgpu => wgpu_device(), 1e-4;
}
