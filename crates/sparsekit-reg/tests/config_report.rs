//! Configs (JSON round trip of every config and variant, `init` checks), schedule formulas, and
//! the sparsity report on a hand-built module (per device).
#![allow(deprecated)]

mod common;

use burn::config::{config_to_json, Config};
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use common::*;
use sparsekit_reg::*;

/// JSON → config → JSON is the identity, and the parsed config equals the original (by its
/// `Debug` form for the configs without `PartialEq`).
fn round_trip<C: Config + std::fmt::Debug>(c: &C) -> C {
    let json = config_to_json(c);
    let back = C::load_binary(json.as_bytes()).unwrap_or_else(|e| panic!("{json}: {e}"));
    assert_eq!(config_to_json(&back), json);
    assert_eq!(format!("{back:?}"), format!("{c:?}"));
    back
}

fn penalty_kinds() -> Vec<PenaltyKind> {
    vec![
        PenaltyKind::L1,
        PenaltyKind::L2,
        PenaltyKind::ElasticNet { l1_ratio: 0.25 },
        PenaltyKind::GroupLasso {
            groups: Groups::Columns,
            weights: GroupWeights::SqrtSize,
        },
        PenaltyKind::GroupLasso {
            groups: Groups::Blocks { rows: 2, cols: 1 },
            weights: GroupWeights::Uniform,
        },
        PenaltyKind::SparseGroupLasso {
            groups: Groups::Custom {
                groups: vec![vec![0, 1], vec![2]],
            },
            weights: GroupWeights::Custom {
                weights: vec![1.5, 0.5],
            },
            alpha: 0.3,
        },
        PenaltyKind::Hoyer,
        PenaltyKind::HoyerSquare,
        PenaltyKind::LogSum { eps: 0.01 },
        PenaltyKind::Lq { q: 0.5, eps: 1e-3 },
        PenaltyKind::L0,
        PenaltyKind::HyperSparse { prune_rate: 0.9 },
    ]
}

fn prox_kinds() -> Vec<ProxKind> {
    vec![
        ProxKind::Soft,
        ProxKind::GroupSoft {
            groups: Groups::Rows,
            weights: GroupWeights::SqrtSize,
        },
        ProxKind::Hard,
        ProxKind::Firm { ratio: 3.0 },
        ProxKind::Mcp { gamma: 2.5 },
        ProxKind::Scad { a: 3.7 },
        ProxKind::Half,
    ]
}

#[derive(Module, Debug)]
struct Hand {
    w: Param<Tensor<2>>,
    b: Param<Tensor<1>>,
    k: Param<Tensor<3>>,
}

#[test]
fn configs_round_trip_and_init() {
    let dev = Device::flex();
    let hand = Hand {
        w: Param::from_tensor(Tensor::ones([2, 2], &dev)),
        b: Param::from_tensor(Tensor::ones([2], &dev)),
        k: Param::from_tensor(Tensor::ones([2, 1, 3], &dev)),
    };
    for kind in penalty_kinds() {
        assert_eq!(round_trip(&kind), kind);
        let cfg = RegularizerConfig::new(kind.clone(), "w".into(), 0.5)
            .with_schedule(Schedule::cosine(3, 10));
        let back = round_trip(&cfg);
        let reg = back.init().unwrap();
        assert_eq!(reg.len(), 1);
        // builds and evaluates on a 2×2 parameter (custom groups fit 4 entries)
        let v = scalar(reg.penalty(&hand).unwrap());
        assert!(v.is_finite(), "{kind:?}: {v}");
    }
    let sum = SumConfig::new(
        penalty_kinds()
            .into_iter()
            .map(|k| RegularizerConfig::new(k, "w|k".into(), 1e-3))
            .collect(),
    );
    assert_eq!(round_trip(&sum).init().unwrap().len(), 12);
    for kind in prox_kinds() {
        assert_eq!(round_trip(&kind), kind);
        let cfg =
            ProxConfig::new(kind.clone(), "w|b".into(), 0.1).with_schedule(Schedule::linear(0, 4));
        let step = round_trip(&cfg).init().unwrap();
        assert_eq!(step.strength, 0.1);
        assert_eq!(step.schedule, Schedule::linear(0, 4));
        step.apply_at(hand.clone(), 1.0, 2).unwrap();
    }
    for s in [
        Schedule::constant(),
        Schedule::linear(5, 7),
        Schedule::cosine(0, 100),
    ] {
        assert_eq!(round_trip(&s), s);
    }
    let gate = HardConcreteGateConfig::new(7)
        .with_beta(0.5)
        .with_droprate_init(0.3);
    let back = round_trip(&gate);
    assert_eq!(back.init(&dev).unwrap().size(), 7);
    // invalid hyper-parameters in configs are typed errors at init
    let bad = [
        PenaltyKind::ElasticNet { l1_ratio: 2.0 },
        PenaltyKind::LogSum { eps: 0.0 },
        PenaltyKind::Lq { q: 1.0, eps: 1.0 },
        PenaltyKind::HyperSparse { prune_rate: 1.0 },
        PenaltyKind::SparseGroupLasso {
            groups: Groups::Rows,
            weights: GroupWeights::Custom {
                weights: vec![-1.0],
            },
            alpha: 0.5,
        },
    ];
    for kind in bad {
        let r = RegularizerConfig::new(kind.clone(), "w".into(), 1.0).init();
        assert!(matches!(r, Err(RegError::Hyper { .. })), "{kind:?}");
    }
    assert!(RegularizerConfig::new(PenaltyKind::L1, "w".into(), -1.0)
        .init()
        .is_err());
    assert!(matches!(
        RegularizerConfig::new(PenaltyKind::L1, "a..b".into(), 1.0).init(),
        Err(RegError::Pattern(_))
    ));
    for kind in [
        ProxKind::Firm { ratio: 1.0 },
        ProxKind::Mcp { gamma: 0.5 },
        ProxKind::Scad { a: 2.0 },
    ] {
        assert!(ProxConfig::new(kind, "w".into(), 1.0).init().is_err());
    }
    assert!(ProxConfig::new(ProxKind::Soft, "w".into(), f64::NAN)
        .init()
        .is_err());
}

#[test]
fn schedule_formulas() {
    let pi = std::f64::consts::PI;
    for step in [0usize, 1, 7, 100, 10_000] {
        assert_eq!(Schedule::constant().factor(step), 1.0);
    }
    let lin = Schedule::linear(10, 40);
    let cos = Schedule::cosine(10, 40);
    for step in 0..=60usize {
        let p = if step < 10 {
            None
        } else {
            Some(((step - 10) as f64 / 40.0).min(1.0))
        };
        let (l, c) = match p {
            None => (0.0, 0.0),
            Some(p) => (p, (1.0 - (pi * p).cos()) / 2.0),
        };
        assert!((lin.factor(step) - l).abs() < 1e-12, "linear at {step}");
        assert!((cos.factor(step) - c).abs() < 1e-12, "cosine at {step}");
        assert!((0.0..=1.0).contains(&cos.factor(step)));
    }
    // len 0: a step from 0 to 1 at `start`
    let jump = Schedule::linear(5, 0);
    assert_eq!(jump.factor(4), 0.0);
    assert_eq!(jump.factor(5), 1.0);
    assert_eq!(Schedule::cosine(0, 0).factor(0), 1.0);
    // cosine: half-way is exactly 1/2, symmetric around it
    assert!((cos.factor(30) - 0.5).abs() < 1e-12);
    assert!((cos.factor(20) + cos.factor(40) - 1.0).abs() < 1e-12);
}

fn report_on(device: &Device) {
    // w: 3×4 with row 1 and column 2 all zero, one tiny entry
    #[rustfmt::skip]
    let w: Vec<f32> = vec![
        1.0, -2.0, 0.0, 1e-7,
        0.0,  0.0, 0.0, 0.0,
        3.0,  0.0, 0.0, -0.5,
    ];
    // k: [2, 2, 2] → matrix view 2×4; second row all zero
    let k: Vec<f32> = vec![0.0, 1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0];
    let hand = Hand {
        w: Param::from_tensor(Tensor::from_data(TensorData::new(w, [3, 4]), device)),
        b: Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![0.0f32, 5.0], [2]),
            device,
        )),
        k: Param::from_tensor(Tensor::from_data(TensorData::new(k, [2, 2, 2]), device)),
    };
    let r = sparsity_report(&hand, "**", 1e-6).unwrap();
    assert_eq!(r.params.len(), 3);
    let pw = r.get("w").unwrap();
    assert_eq!(
        (
            pw.numel,
            pw.zeros,
            pw.small,
            pw.zero_rows,
            pw.rows,
            pw.zero_cols,
            pw.cols
        ),
        (12, 7, 8, 1, 3, 1, 4)
    );
    assert_eq!(pw.dims, vec![3, 4]);
    assert!((pw.zero_fraction() - 7.0 / 12.0).abs() < 1e-12);
    assert!((pw.small_fraction() - 8.0 / 12.0).abs() < 1e-12);
    assert!((pw.zero_row_fraction() - 1.0 / 3.0).abs() < 1e-12);
    assert!((pw.zero_col_fraction() - 0.25).abs() < 1e-12);
    let pb = r.get("b").unwrap();
    assert_eq!(
        (
            pb.numel,
            pb.zeros,
            pb.rows,
            pb.cols,
            pb.zero_rows,
            pb.zero_cols
        ),
        (2, 1, 1, 2, 0, 1)
    );
    let pk = r.get("k").unwrap();
    assert_eq!(pk.dims, vec![2, 2, 2]);
    assert_eq!(
        (pk.rows, pk.cols, pk.zeros, pk.zero_rows, pk.zero_cols),
        (2, 4, 6, 1, 2)
    );
    // totals over the selection: (7 + 1 + 6) / (12 + 2 + 8)
    assert!((r.zero_fraction() - 14.0 / 22.0).abs() < 1e-12);
    assert!((r.small_fraction() - 15.0 / 22.0).abs() < 1e-12);
    // ε = 0 counts nothing as small; a pattern restricts the report
    let r0 = sparsity_report(&hand, "w", 0.0).unwrap();
    assert_eq!(r0.params.len(), 1);
    assert_eq!(r0.get("w").unwrap().small, 0);
    assert!(r0.get("b").is_none());
    let table = r.to_string();
    assert!(table.contains("| w | [3, 4] | 58.33 % |"), "{table}");
    assert_eq!(table.lines().count(), 2 + 3);
    assert!(matches!(
        sparsity_report(&hand, "zz", 0.0),
        Err(RegError::NoMatch(_))
    ));
    assert!(sparsity_report(&hand, "**", -1.0).is_err());
}

#[test]
fn report_flex() {
    report_on(&Device::flex());
}

#[test]
fn report_ndarray() {
    report_on(&Device::ndarray());
}

#[test]
fn report_wgpu() {
    report_on(&wgpu_device());
}
