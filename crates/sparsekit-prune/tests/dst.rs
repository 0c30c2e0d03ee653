//! Dynamic sparse training: the drop/grow rules against brute-force references, the schedule,
//! SRigL's structure, the optimizer-state remap (checked against Adam's own arithmetic), typed
//! errors, and short training runs. Device tests are written once and instantiated for Flex and
//! NdArray at the bottom.
#![allow(deprecated)] // burn's NdArray backend is deprecated upstream but still supported here.

use burn::tensor::{Device, Distribution, Tensor, TensorData};
use burn_optim::{AdamConfig, GradientsParams};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sparsekit_formats::CsrPattern;
use sparsekit_prune::dst::{
    constant_fan_in_pattern, dense_gradient, drop_count, fan_in, forward_probed,
    remap_optimizer_state, reset_optimizer_state, rigl_update, set_update, srigl_update,
    DropSchedule, DstConfig, DstMethod, DynamicSparsity, GrowSignal, IndexMap, PatternUpdate,
};
use sparsekit_prune::PruneError;
use sparsekit_tensor::{random_pattern, SparseLinear, SparseLinearConfig, SparseTensor};

// ---------------------------------------------------------------- helpers

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

/// Mixed magnitudes in ±[0.01, 10], no ties in practice.
fn random_values(n: usize, rng: &mut StdRng) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let m = 10f32.powf(rng.random_range(-2.0..1.0));
            if rng.random_bool(0.5) {
                m
            } else {
                -m
            }
        })
        .collect()
}

/// Flat positions `i · cols + j` of a pattern, in CSR order.
fn positions(p: &CsrPattern) -> Vec<usize> {
    (0..p.nrows())
        .flat_map(|i| p.row(i).iter().map(move |&j| i * p.ncols() + j as usize))
        .collect()
}

/// The awkward shapes: 0 rows, 0 columns, nnz = 0, fully dense, odd sizes, empty rows.
const SHAPES: &[(usize, usize, f64)] = &[
    (0, 5, 0.5),
    (4, 0, 0.5),
    (3, 4, 1.0),
    (3, 4, 0.0),
    (1, 1, 0.0),
    (7, 13, 0.7),
    (16, 9, 0.95),
    (31, 17, 0.5),
    (5, 64, 0.9),
];

/// The invariants every update must satisfy, checked against the old layer:
/// nnz preserved; survivors keep their value and position; grown positions were inactive and
/// hold 0; exactly `expected_moved` weights moved (when given); the dropped are the smallest.
fn check_update(
    old: &CsrPattern,
    old_values: &[f32],
    up: &PatternUpdate,
    expected_moved: Option<usize>,
) {
    assert_eq!(up.pattern.shape(), old.shape());
    assert_eq!(up.pattern.nnz(), old.nnz(), "nnz preserved exactly");
    assert_eq!(up.values.len(), old.nnz());
    let old_pos = positions(old);
    let new_pos = positions(&up.pattern);
    let old_set: std::collections::HashSet<usize> = old_pos.iter().copied().collect();
    for (p, src) in up.map.sources().iter().enumerate() {
        match src {
            Some(q) => {
                assert_eq!(
                    new_pos[p], old_pos[*q as usize],
                    "survivor keeps its position"
                );
                assert_eq!(
                    up.values[p], old_values[*q as usize],
                    "survivor keeps its value"
                );
            }
            None => {
                assert!(
                    !old_set.contains(&new_pos[p]),
                    "grown at an inactive position"
                );
                assert_eq!(up.values[p], 0.0, "grown weights start at zero");
            }
        }
    }
    let dropped = up.map.dropped();
    assert_eq!(dropped.len(), up.map.grown());
    if let Some(k) = expected_moved {
        assert_eq!(dropped.len(), k);
    }
    if !dropped.is_empty() {
        let max_dropped = dropped
            .iter()
            .map(|&q| old_values[q].abs())
            .fold(0f32, f32::max);
        let min_kept = up
            .map
            .sources()
            .iter()
            .flatten()
            .map(|&q| old_values[q as usize].abs())
            .fold(f32::INFINITY, f32::min);
        assert!(max_dropped <= min_kept, "dropped are the smallest |w|");
    }
}

// ---------------------------------------------------------------- host rules

#[test]
fn set_and_rigl_preserve_nnz_drop_smallest_and_grow_inactive_at_zero() {
    let mut rng = StdRng::seed_from_u64(11);
    for &(rows, cols, density) in SHAPES {
        for zeta in [0.0, 0.1, 0.3, 0.5, 1.0] {
            let p = random_pattern(rows, cols, 1.0 - density, Some(rng.random())).unwrap();
            let v = random_values(p.nnz(), &mut rng);
            let g = random_values(rows * cols, &mut rng);
            let k = drop_count(&p, zeta).unwrap();
            let inactive = rows * cols - p.nnz();
            let moved = sparsekit_formats::sparsity::prune_count(p.nnz(), zeta).unwrap();
            assert_eq!(k, moved.min(inactive));
            let up = set_update(&p, &v, zeta, &mut rng).unwrap();
            check_update(&p, &v, &up, Some(k));
            let up = rigl_update(&p, &v, zeta, &g).unwrap();
            check_update(&p, &v, &up, Some(k));
            // RigL grows the k largest |g| of the inactive positions (brute force).
            let old: std::collections::HashSet<usize> = positions(&p).into_iter().collect();
            let mut cand: Vec<usize> = (0..rows * cols).filter(|q| !old.contains(q)).collect();
            cand.sort_by(|a, b| g[*b].abs().total_cmp(&g[*a].abs()));
            let mut want: Vec<usize> = cand[..k].to_vec();
            want.sort_unstable();
            let new_pos = positions(&up.pattern);
            let mut grown: Vec<usize> = up
                .map
                .sources()
                .iter()
                .enumerate()
                .filter(|(_, s)| s.is_none())
                .map(|(p, _)| new_pos[p])
                .collect();
            grown.sort_unstable();
            assert_eq!(
                grown, want,
                "RigL grows the largest-gradient inactive positions"
            );
        }
    }
}

#[test]
fn rigl_hand_checked_case() {
    // W (3 × 4), pattern and values:
    //   row 0: (0,0)=0.9  (0,2)=-0.05
    //   row 1: (1,1)=0.4
    //   row 2: (2,0)=-0.02 (2,3)=1.5
    let p = CsrPattern::try_new(3, 4, vec![0, 2, 3, 5], vec![0, 2, 1, 0, 3]).unwrap();
    let v = [0.9, -0.05, 0.4, -0.02, 1.5];
    // Dense gradient; the active positions get huge values that must be ignored.
    #[rustfmt::skip]
    let g = [
        99.0, 0.1, 99.0, -0.8,
        0.3, 99.0, -0.6, 0.05,
        99.0, 0.7, 0.2, 99.0,
    ];
    // ζ = 0.4: ⌊0.4 · 5⌋ = 2 moves. Drop -0.02 (2,0) and -0.05 (0,2);
    // grow the two largest |g| among inactive: (0,3) 0.8 and (2,1) 0.7.
    let up = rigl_update(&p, &v, 0.4, &g).unwrap();
    assert_eq!(up.pattern.row_ptr(), &[0, 2, 3, 5]);
    assert_eq!(up.pattern.col_idx(), &[0, 3, 1, 1, 3]);
    assert_eq!(up.values, vec![0.9, 0.0, 0.4, 0.0, 1.5]);
    assert_eq!(up.map.sources(), &[Some(0), None, Some(2), None, Some(4)]);
    assert_eq!(up.map.dropped(), vec![1, 3]);
    // A just-dropped position is never regrown, even with the largest gradient.
    let mut g2 = g;
    g2[2] = 1000.0; // (0,2), dropped above
    let up2 = rigl_update(&p, &v, 0.4, &g2).unwrap();
    assert_eq!(up2.pattern, up.pattern);
}

#[test]
fn set_grows_uniformly_over_inactive_positions() {
    // 2 × 5 with 3 active: 7 inactive positions, one move per update. Over many seeds every
    // inactive position is chosen, never an active one, and roughly uniformly.
    let p = CsrPattern::try_new(2, 5, vec![0, 2, 3], vec![1, 4, 2]).unwrap();
    let v = [0.5, 0.01, 2.0]; // (0,4) is dropped
    let active: std::collections::HashSet<usize> = positions(&p).into_iter().collect();
    let mut counts = [0usize; 10];
    let mut rng = StdRng::seed_from_u64(3);
    let trials = 7000;
    for _ in 0..trials {
        let up = set_update(&p, &v, 0.34, &mut rng).unwrap();
        check_update(&p, &v, &up, Some(1));
        let new_pos = positions(&up.pattern);
        for (q, s) in up.map.sources().iter().enumerate() {
            if s.is_none() {
                counts[new_pos[q]] += 1;
            }
        }
    }
    for (q, &c) in counts.iter().enumerate() {
        if active.contains(&q) {
            assert_eq!(c, 0);
        } else {
            // Expected 1000 each; 5 sigma ≈ 150.
            assert!((850..=1150).contains(&c), "position {q} grown {c} times");
        }
    }
}

#[test]
fn srigl_keeps_constant_fan_in_and_nnz() {
    let mut rng = StdRng::seed_from_u64(5);
    for (rows, cols, f) in [(6, 8, 4), (10, 33, 3), (1, 7, 7), (12, 12, 1), (4, 9, 0)] {
        let mut p = constant_fan_in_pattern(rows, cols, f, rng.random()).unwrap();
        let mut v = random_values(p.nnz(), &mut rng);
        for round in 0..6 {
            let g = random_values(rows * cols, &mut rng);
            let zeta = [0.3, 0.5, 1.0, 0.1, 0.0, 0.7][round];
            let gamma = [0.0, 0.3, 0.9, 1.0, 0.5, 0.3][round];
            let up = srigl_update(&p, &v, zeta, &g, gamma).unwrap();
            assert_eq!(up.pattern.nnz(), p.nnz());
            let f_new = fan_in(&up.pattern).unwrap();
            assert_eq!(f_new.unwrap_or(0) * active_rows(&up.pattern), p.nnz());
            // Survivors keep values, grown are zero and were inactive.
            check_update_no_order(&p, &v, &up);
            // Ablated neurons stay ablated.
            for i in 0..rows {
                if p.row(i).is_empty() {
                    assert!(up.pattern.row(i).is_empty());
                }
            }
            p = up.pattern;
            v = up
                .values
                .iter()
                .map(|&x| if x == 0.0 { 0.05 } else { x })
                .collect();
        }
    }
}

fn active_rows(p: &CsrPattern) -> usize {
    (0..p.nrows()).filter(|&i| !p.row(i).is_empty()).count()
}

/// As `check_update`, without the global "dropped are the smallest" (SRigL drops per row).
fn check_update_no_order(old: &CsrPattern, old_values: &[f32], up: &PatternUpdate) {
    let old_pos = positions(old);
    let new_pos = positions(&up.pattern);
    let old_set: std::collections::HashSet<usize> = old_pos.iter().copied().collect();
    for (p, src) in up.map.sources().iter().enumerate() {
        match src {
            Some(q) => {
                assert_eq!(new_pos[p], old_pos[*q as usize]);
                assert_eq!(up.values[p], old_values[*q as usize]);
            }
            None => {
                assert!(!old_set.contains(&new_pos[p]));
                assert_eq!(up.values[p], 0.0);
            }
        }
    }
}

#[test]
fn srigl_ablates_a_dead_neuron_and_reallocates_its_weights() {
    // 4 neurons × 6 inputs, fan-in 3 (nnz 12). Neuron 2 has tiny weights and zero gradient:
    // RigL would drop all of them and grow nothing there, so it is ablated; 12 / 3 = 4 is the
    // new fan-in of the three others.
    let p = CsrPattern::try_new(
        4,
        6,
        vec![0, 3, 6, 9, 12],
        vec![0, 1, 2, 1, 3, 5, 0, 2, 4, 3, 4, 5],
    )
    .unwrap();
    let v = [
        1.0, -0.9, 0.8, 0.7, -1.1, 0.95, 1e-4, -2e-4, 3e-4, 0.85, -0.75, 1.2,
    ];
    let mut g = vec![0.0f32; 24];
    for i in [0usize, 1, 3] {
        for j in 0..6 {
            g[i * 6 + j] = 1.0 + (i * 6 + j) as f32 * 0.01;
        }
    }
    let up = srigl_update(&p, &v, 0.25, &g, 0.3).unwrap();
    assert!(up.pattern.row(2).is_empty(), "neuron 2 ablated");
    assert_eq!(fan_in(&up.pattern).unwrap(), Some(4));
    assert_eq!(up.pattern.nnz(), 12);
    check_update_no_order(&p, &v, &up);
    // Each surviving neuron: d = prune_count(3, 0.25) = 3 − round(2.25) = 1 dropped (its
    // smallest |w|), 2 grown at its largest |g| among the columns inactive before the update,
    // which (gradients grow with the column) are the last ones.
    assert_eq!(up.pattern.row(0), &[0, 1, 4, 5]);
    assert_eq!(up.pattern.row(1), &[2, 3, 4, 5]);
    assert_eq!(up.pattern.row(3), &[1, 2, 3, 5]);
    // With γ_sal = 0 nothing is ablated and the fan-in stays 3.
    let up0 = srigl_update(&p, &v, 0.25, &g, 0.0).unwrap();
    assert_eq!(fan_in(&up0.pattern).unwrap(), Some(3));
    assert_eq!(active_rows(&up0.pattern), 4);
}

#[test]
fn cosine_schedule_and_update_steps() {
    let c = DstConfig::new(DstMethod::RigL)
        .with_zeta(0.3)
        .with_delta_t(100)
        .with_t_end(Some(1000));
    for t in [0usize, 1, 100, 250, 500, 999] {
        let want = 0.3 / 2.0 * (1.0 + (std::f64::consts::PI * t as f64 / 1000.0).cos());
        assert!((c.drop_fraction(t) - want).abs() < 1e-12, "t = {t}");
    }
    assert!((c.drop_fraction(0) - 0.3).abs() < 1e-12);
    assert!((c.drop_fraction(500) - 0.15).abs() < 1e-12);
    assert_eq!(c.drop_fraction(1000), 0.0);
    assert_eq!(c.drop_fraction(5000), 0.0);
    let d = c.init().unwrap();
    let steps: Vec<usize> = (0..=1200).filter(|&t| d.is_update_step(t)).collect();
    assert_eq!(steps, (1..10).map(|i| i * 100).collect::<Vec<_>>());
    let constant = DstConfig::new(DstMethod::Set)
        .with_schedule(DropSchedule::Constant)
        .with_zeta(0.2);
    assert_eq!(constant.drop_fraction(123_456), 0.2);
    assert!(constant.init().unwrap().is_update_step(1_000_000));
}

#[test]
fn typed_errors_on_bad_input() {
    let bad = |r: Result<DynamicSparsity, PruneError>| {
        assert!(matches!(r, Err(PruneError::InvalidArgument(_))))
    };
    bad(DstConfig::new(DstMethod::Set).with_zeta(1.5).init());
    bad(DstConfig::new(DstMethod::Set).with_zeta(-0.1).init());
    bad(DstConfig::new(DstMethod::Set).with_zeta(f64::NAN).init());
    bad(DstConfig::new(DstMethod::Set)
        .with_delta_t(0)
        .with_t_end(Some(9))
        .init());
    bad(DstConfig::new(DstMethod::SRigL)
        .with_gamma_sal(2.0)
        .with_t_end(Some(9))
        .init());
    bad(DstConfig::new(DstMethod::RigL).init()); // cosine without T_end
    let p = CsrPattern::try_new(2, 3, vec![0, 2, 3], vec![0, 2, 1]).unwrap();
    let mut rng = StdRng::seed_from_u64(0);
    assert!(matches!(
        set_update(&p, &[1.0, 2.0, 3.0], 1.5, &mut rng),
        Err(PruneError::InvalidArgument(_))
    ));
    assert!(matches!(
        set_update(&p, &[1.0, 2.0], 0.5, &mut rng),
        Err(PruneError::Shape(_))
    ));
    assert!(matches!(
        rigl_update(&p, &[1.0, 2.0, 3.0], 0.5, &[0.0; 5]),
        Err(PruneError::Shape(_))
    ));
    assert!(matches!(
        srigl_update(&p, &[1.0, 2.0, 3.0], 0.5, &[0.0; 6], 0.3),
        Err(PruneError::InvalidArgument(_)) // fan-in 2 vs 1
    ));
    assert!(matches!(
        srigl_update(&p, &[1.0, 2.0, 3.0], 0.5, &[0.0; 6], -1.0),
        Err(PruneError::InvalidArgument(_))
    ));
    assert!(constant_fan_in_pattern(3, 4, 5, 0).is_err());
    assert!(IndexMap::try_new(2, vec![Some(2)]).is_err());
    assert!(IndexMap::try_new(2, vec![Some(1), Some(1)]).is_err());
    assert!(matches!(
        IndexMap::identity(3).apply(&[1.0, 2.0], 0.0),
        Err(PruneError::Shape(_))
    ));
}

// ---------------------------------------------------------------- device tests

fn layer_from(p: &CsrPattern, values: &[f32], bias: bool, device: &Device) -> SparseLinear {
    let t = Tensor::<1>::from_data(TensorData::new(values.to_vec(), [values.len()]), device);
    let w = SparseTensor::from_pattern(p, t).unwrap();
    let b = bias.then(|| Tensor::<1>::zeros([p.nrows()], device));
    SparseLinear::from_sparse(&w, b)
}

fn random_layer(
    rows: usize,
    cols: usize,
    sparsity: f64,
    seed: u64,
    device: &Device,
) -> SparseLinear {
    let mut rng = StdRng::seed_from_u64(seed);
    let p = random_pattern(rows, cols, sparsity, Some(seed)).unwrap();
    let v = random_values(p.nnz(), &mut rng);
    layer_from(&p, &v, true, device)
}

pub fn layer_update_keeps_ids_nnz_and_typed_errors(device: &Device) {
    let device = device.clone().autodiff();
    for method in [DstMethod::Set, DstMethod::RigL] {
        let mut dst = DstConfig::new(method)
            .with_delta_t(2)
            .with_zeta(0.5)
            .with_t_end(Some(10))
            .init()
            .unwrap();
        let layer = random_layer(9, 14, 0.8, 4, &device);
        let (id, nnz) = (layer.values.id, layer.nnz());
        let old_p = layer.pattern();
        let old_v = host(layer.values.val());
        let g = Tensor::<2>::random([9, 14], Distribution::Normal(0.0, 1.0), &device);
        // Not an update step: unchanged, identity map.
        let (same, map) = dst
            .update(layer.clone(), 3, GrowSignal::DenseGradient(g.clone()))
            .unwrap();
        assert!(map.is_identity());
        assert_eq!(same.pattern(), old_p);
        // Update step.
        let (new, map) = dst
            .update(layer.clone(), 4, GrowSignal::DenseGradient(g.clone()))
            .unwrap();
        assert_eq!(new.values.id, id, "the values keep their ParamId");
        assert_eq!(new.nnz(), nnz);
        assert_eq!(
            map.grown(),
            (dst.drop_fraction(4) * nnz as f64).floor() as usize
        );
        let up = PatternUpdate {
            pattern: new.pattern(),
            values: host(new.values.val()),
            map: map.clone(),
        };
        check_update(&old_p, &old_v, &up, None);
        // Still trainable: the new values get a gradient.
        let x = Tensor::<2>::ones([2, 14], &device);
        let grads = new.forward(x).sum().backward();
        assert_eq!(new.values.grad(&grads).unwrap().dims(), [nnz]);
        // Typed errors.
        let wrong = Tensor::<2>::zeros([14, 9], &device);
        if method == DstMethod::RigL {
            assert!(matches!(
                dst.update(layer.clone(), 4, GrowSignal::DenseGradient(wrong)),
                Err(PruneError::Shape(_))
            ));
            assert!(matches!(
                dst.update(layer.clone(), 4, GrowSignal::None),
                Err(PruneError::InvalidArgument(_))
            ));
        }
        assert!(matches!(
            dst.update_layers(vec![layer.clone()], 4, vec![GrowSignal::None; 2], None),
            Err(PruneError::Shape(_))
        ));
    }
}

pub fn probe_gradient_matches_dense_autodiff(device: &Device) {
    let device = device.clone().autodiff();
    let layer = random_layer(7, 11, 0.7, 9, &device);
    let x = Tensor::<2>::random([5, 11], Distribution::Normal(0.0, 1.0), &device);
    let target = Tensor::<2>::random([5, 7], Distribution::Normal(0.0, 1.0), &device);
    // Probed sparse forward.
    let (y, probe) = forward_probed(&layer, x.clone());
    let y_plain = layer.forward(x.clone());
    assert_eq!(
        host(y.clone()),
        host(y_plain),
        "the probe does not change the output"
    );
    let loss = (y.clone() - target.clone()).powi_scalar(2).sum();
    let grads = loss.backward();
    let g = host(probe.gradient(&grads).unwrap());
    // The sparse values' gradient is unchanged by the probe.
    let vg = host(layer.values.grad(&grads).unwrap());
    // Dense reference: the same function with a dense weight.
    let dense = layer.to_linear();
    let loss_d = (dense.forward(x.clone()) - target.clone())
        .powi_scalar(2)
        .sum();
    let gd = dense.weight.val().grad(&loss_d.backward()).unwrap(); // d_in × d_out
    let gd = host(gd.transpose());
    for (a, b) in g.iter().zip(&gd) {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
    }
    let pos = positions(&layer.pattern());
    for (q, &p) in pos.iter().enumerate() {
        assert!((vg[q] - gd[p]).abs() <= 1e-4 * (1.0 + gd[p].abs()));
    }
    // dense_gradient(X, dY) with dY = 2 (Y - T).
    let dy = (y.detach() - target) * 2.0;
    let g2 = host(dense_gradient(x.clone().inner(), dy.inner()).unwrap());
    for (a, b) in g2.iter().zip(&gd) {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()));
    }
    assert!(dense_gradient(
        Tensor::zeros([3, 2], &device),
        Tensor::zeros([4, 2], &device)
    )
    .is_err());
    // Without autodiff the probe has no gradient: an error, not a panic.
    let plain = random_layer(3, 4, 0.5, 1, &device.clone().inner());
    let (y, probe) = forward_probed(&plain, Tensor::<2>::ones([1, 4], &device.clone().inner()));
    let _ = y;
    let ad = Tensor::<1>::ones([1], &device).require_grad();
    assert!(probe.gradient(&ad.sum().backward()).is_err());
}

/// Adam's arithmetic for one step from moments `(m, v)` at time `t - 1` (burn's variant:
/// `ε` added to the bias-corrected `√v`).
fn adam_delta(lr: f32, g: f32, m: f32, v: f32, t: i32) -> f32 {
    let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-5f32);
    let m = b1 * m + (1.0 - b1) * g;
    let v = b2 * v + (1.0 - b2) * g * g;
    let mh = m / (1.0 - b1.powi(t));
    let vh = v / (1.0 - b2.powi(t));
    lr * mh / (vh.sqrt() + eps)
}

pub fn adam_state_follows_the_weights(device: &Device) {
    // Loss = Σ X·Wᵀ: ∂L/∂W_ij = Σ_b X_bj, independent of the pattern. So a DST layer and a
    // reference layer without DST see identical gradients at every shared (i, j), and the
    // DST layer's survivors must move exactly as the reference moves them (moments carried
    // over), while grown weights move as from zero moments at Adam's current time.
    let device = device.clone().autodiff();
    let lr = 0.01;
    let mut rng = StdRng::seed_from_u64(21);
    let p = random_pattern(6, 10, 0.6, Some(8)).unwrap();
    let v0 = random_values(p.nnz(), &mut rng);
    let xs: Vec<Tensor<2>> = (0..4)
        .map(|i| {
            let data: Vec<f32> = (0..30)
                .map(|k| ((k * 7 + i * 3) % 11) as f32 - 4.5)
                .collect();
            Tensor::<2>::from_data(TensorData::new(data, [3, 10]), &device)
        })
        .collect();
    let grad_w = |x: &Tensor<2>| host(x.clone().sum_dim(0)); // ∂L/∂W_ij = Σ_b X_bj
    let step = |layer: SparseLinear, optim: &mut burn_optim::ModuleOptimizer, x: &Tensor<2>| {
        let grads = layer.forward(x.clone()).sum().backward();
        optim.step(
            lr as f64,
            layer.clone(),
            GradientsParams::from_grads(grads, &layer),
        )
    };
    let mut layer = layer_from(&p, &v0, false, &device);
    let mut reference = layer_from(&p, &v0, false, &device);
    let mut optim = AdamConfig::new().init();
    let mut optim_ref = AdamConfig::new().init();
    for x in &xs[..3] {
        layer = step(layer, &mut optim, x);
        reference = step(reference, &mut optim_ref, x);
    }
    // A RigL update with a made-up gradient, then the remap.
    let mut dst = DstConfig::new(DstMethod::RigL)
        .with_delta_t(3)
        .with_zeta(0.5)
        .with_schedule(DropSchedule::Constant)
        .init()
        .unwrap();
    let signal = Tensor::<2>::random([6, 10], Distribution::Normal(0.0, 1.0), &device);
    let before = host(layer.values.val());
    let old_pos = positions(&layer.pattern());
    let layer2 = dst
        .update_with_optimizer(layer, 3, GrowSignal::DenseGradient(signal), &mut optim)
        .unwrap();
    let new_pos = positions(&layer2.pattern());
    let mid = host(layer2.values.val());
    let ref_before = host(reference.values.val());
    assert_eq!(before, ref_before);
    // One more step on both.
    let layer3 = step(layer2, &mut optim, &xs[3]);
    let reference = step(reference, &mut optim_ref, &xs[3]);
    let after = host(layer3.values.val());
    let ref_after = host(reference.values.val());
    let g4 = grad_w(&xs[3]);
    let map = {
        // Recover the map from positions (survivors: same position).
        new_pos
            .iter()
            .map(|p| old_pos.iter().position(|q| q == p))
            .collect::<Vec<_>>()
    };
    let (mut survivors, mut grown) = (0, 0);
    for (q, src) in map.iter().enumerate() {
        match src {
            Some(s) => {
                survivors += 1;
                let want = ref_after[*s] - ref_before[*s];
                let got = after[q] - mid[q];
                assert!(
                    (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "survivor {q}: moved {got}, reference {want}"
                );
            }
            None => {
                grown += 1;
                assert_eq!(mid[q], 0.0);
                let want = -adam_delta(lr, g4[new_pos[q] % 10], 0.0, 0.0, 4);
                let got = after[q];
                assert!(
                    (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "grown {q}: moved {got}, zero-moment Adam at t = 4 gives {want}"
                );
            }
        }
    }
    assert!(survivors > 0 && grown > 0);
    // The fallback resets the state: a fresh id, and the next step is a first Adam step.
    let fresh = SparseLinear {
        values: reset_optimizer_state(layer3.values.clone()),
        ..layer3.clone()
    };
    assert_ne!(fresh.values.id, layer3.values.id);
    // A map of the wrong length is a typed error.
    let bad = IndexMap::try_new(3, vec![Some(0)]).unwrap();
    assert!(remap_optimizer_state(&mut optim, &[(layer3.values.id, &bad)]).is_err());
}

/// A teacher with 5 % of its weights non-zero (values ±[0.5, 1.5]) generates targets; an
/// 50 %-sparse student (random pattern, small Kaiming init) trains with Adam and DST updates
/// every 20 steps. Returns (first loss, last loss, layer updates).
fn train(method: DstMethod, device: &Device) -> (f32, f32, u64) {
    let device = device.clone().autodiff();
    let (d_in, d_out, batch) = (32, 16, 128);
    let mut rng = StdRng::seed_from_u64(100);
    let tp = random_pattern(d_out, d_in, 0.95, Some(100)).unwrap();
    let tv: Vec<f32> = (0..tp.nnz())
        .map(|_| rng.random_range(0.5..1.5) * if rng.random_bool(0.5) { 1.0 } else { -1.0 })
        .collect();
    let teacher = layer_from(&tp, &tv, false, &device).to_linear();
    // Seeded inputs (uniform, variance 1), so the run does not depend on the backend's RNG.
    let xd: Vec<f32> = (0..batch * d_in)
        .map(|_| rng.random_range(-1.732f32..1.732))
        .collect();
    let x = Tensor::<2>::from_data(TensorData::new(xd, [batch, d_in]), &device);
    let y = teacher.forward(x.clone()).detach();
    let mut net = SparseLinearConfig::new(d_in, d_out)
        .with_sparsity(0.5)
        .with_seed(Some(7))
        .init(&device);
    let nnz = net.nnz();
    let mut optim = AdamConfig::new().init();
    let mut dst = DstConfig::new(method)
        .with_delta_t(20)
        .with_zeta(0.3)
        .with_t_end(Some(300))
        .with_seed(5)
        .init()
        .unwrap();
    let mut losses = Vec::new();
    for step in 1..=400 {
        let update = dst.is_update_step(step);
        let (pred, probe) = if update && dst.needs_gradient() {
            let (p, probe) = forward_probed(&net, x.clone());
            (p, Some(probe))
        } else {
            (net.forward(x.clone()), None)
        };
        let loss = (pred - y.clone()).powi_scalar(2).mean();
        losses.push(loss.clone().into_scalar::<f32>());
        let grads = loss.backward();
        let signal = match &probe {
            Some(p) => GrowSignal::DenseGradient(p.gradient(&grads).unwrap()),
            None => GrowSignal::None,
        };
        net = optim.step(1e-2, net.clone(), GradientsParams::from_grads(grads, &net));
        if update {
            net = dst
                .update_with_optimizer(net, step, signal, &mut optim)
                .unwrap();
            assert_eq!(net.nnz(), nnz);
        }
    }
    (losses[0], *losses.last().unwrap(), dst.layer_updates())
}

pub fn set_and_rigl_train_with_adam(device: &Device) {
    // The student's initial pattern holds ~half of the teacher's positions; the rest must be
    // found by growth (at random for SET, by gradient for RigL).
    for (method, factor) in [(DstMethod::Set, 0.3), (DstMethod::RigL, 0.1)] {
        let (first, last, updates) = train(method, device);
        eprintln!("{method:?}: loss {first} -> {last}");
        assert_eq!(updates, 14, "updates at 20, 40, …, 280");
        assert!(
            last < factor * first,
            "{method:?}: loss {first} → {last} did not decrease enough"
        );
    }
}

pub fn state_round_trips_through_serde(device: &Device) {
    let device = device.clone().autodiff();
    let mut a = DstConfig::new(DstMethod::Set)
        .with_delta_t(1)
        .with_zeta(0.4)
        .with_t_end(Some(50))
        .with_seed(9)
        .init()
        .unwrap();
    let layer = random_layer(8, 8, 0.7, 2, &device);
    let (layer, _) = a.update(layer, 1, GrowSignal::None).unwrap();
    let json = serde_json::to_string(&a).unwrap();
    let mut b: DynamicSparsity = serde_json::from_str(&json).unwrap();
    let (la, _) = a.update(layer.clone(), 2, GrowSignal::None).unwrap();
    let (lb, _) = b.update(layer, 2, GrowSignal::None).unwrap();
    assert_eq!(
        la.pattern(),
        lb.pattern(),
        "a restored state continues the same sequence"
    );
    assert_eq!(a.layer_updates(), 2);
}

macro_rules! device_tests {
    ($name:ident, $device:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn layer_update() {
                layer_update_keeps_ids_nnz_and_typed_errors(&$device);
            }
            #[test]
            fn probe_gradient() {
                probe_gradient_matches_dense_autodiff(&$device);
            }
            #[test]
            fn adam_state() {
                adam_state_follows_the_weights(&$device);
            }
            #[test]
            fn training() {
                set_and_rigl_train_with_adam(&$device);
            }
            #[test]
            fn serde_state() {
                state_round_trips_through_serde(&$device);
            }
        }
    };
}

device_tests!(flex, Device::flex());
device_tests!(ndarray, Device::ndarray());
// Mesa lavapipe in CI (the Cube kernels of sparsekit-tensor, tolerances as on the CPU backends).
device_tests!(wgpu, Device::wgpu(burn::tensor::DeviceKind::Cpu));

/// Adam's first moment of a weight whose gradient turns exactly zero decays into the subnormal
/// range and sticks at the smallest subnormal (0.9 × it rounds back to it); the flush zeroes
/// those values, and nothing else.
#[test]
fn flush_subnormal_optimizer_state_zeroes_stuck_moments() {
    let device = Device::flex().autodiff();
    let layer = SparseLinearConfig::new(3, 2)
        .with_sparsity(0.5)
        .with_seed(Some(1))
        .init(&device);
    let nnz = layer.values.val().dims()[0];
    let mut optim = AdamConfig::new().init();
    let x = Tensor::<2>::ones([1, 3], &device);
    let mut layer = {
        let g = layer.forward(x.clone()).sum().backward();
        optim.step(1e-3, layer.clone(), GradientsParams::from_grads(g, &layer))
    };
    assert_eq!(
        sparsekit_prune::flush_subnormal_optimizer_state(&mut optim).unwrap(),
        0
    );
    // 1000 steps with an exactly-zero gradient: 0.9^1000 ≈ 1.7e-46 is below the smallest
    // subnormal, so an exact decay would reach 0; rounding keeps it at 1.4e-45.
    for _ in 0..1000 {
        let g = (layer.forward(x.clone()).sum() * 0.0).backward();
        layer = optim.step(1e-3, layer.clone(), GradientsParams::from_grads(g, &layer));
    }
    let flushed = sparsekit_prune::flush_subnormal_optimizer_state(&mut optim).unwrap();
    assert!(flushed >= nnz, "flushed {flushed} of {nnz} first moments");
    assert_eq!(
        sparsekit_prune::flush_subnormal_optimizer_state(&mut optim).unwrap(),
        0
    );
    // The optimizer still works after the reload.
    let g = layer.forward(x.clone()).sum().backward();
    let _ = optim.step(1e-3, layer.clone(), GradientsParams::from_grads(g, &layer));
}
