//! The burn-free core: criteria, structures, allocations and schedules on hand-checked cases,
//! random shapes, and bad input.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sparsekit_formats::Mask;
use sparsekit_prune::criterion::{magnitude, random, snip};
use sparsekit_prune::structure::{
    is_block, is_columns, is_nm, is_rows, keep_count, mask, satisfies,
};
use sparsekit_prune::{
    Allocation, Criterion, GradientFlow, Gradual, Iterative, LayerShape, PruneError, Rewind,
    Schedule, ScoreAccumulator, Structure,
};

fn rand_vec(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

#[test]
fn criteria_hand_checked() {
    let w = [1.0, -2.0, 0.0, 3.0];
    let g = [0.5, 0.5, -4.0, -1.0];
    assert_eq!(magnitude(&w), [1.0, 2.0, 0.0, 3.0]);
    assert_eq!(
        Criterion::Gradient.scores(&w, Some(&g)).unwrap(),
        [0.5, 0.5, 4.0, 1.0]
    );
    assert_eq!(snip(&w, &g).unwrap(), [0.5, 1.0, 0.0, 3.0]);
    assert_eq!(
        Criterion::Snip.scores(&w, Some(&g)).unwrap(),
        [0.5, 1.0, 0.0, 3.0]
    );
    assert_eq!(
        Criterion::Movement.scores(&w, Some(&g)).unwrap(),
        [-0.5, 1.0, 0.0, 3.0]
    );
    let r = Criterion::Random { seed: 3 }.scores(&w, None).unwrap();
    assert_eq!(r, random(4, 3));
    assert!(r.iter().all(|&x| (0.0..1.0).contains(&x)));
    assert_ne!(random(64, 3), random(64, 4));
    // Needing a gradient and not getting one, or one of the wrong length, is an error.
    for c in [
        Criterion::Gradient,
        Criterion::Snip,
        Criterion::Taylor,
        Criterion::Movement,
    ] {
        assert!(c.needs_gradient());
        assert!(matches!(
            c.scores(&w, None),
            Err(PruneError::InvalidArgument(_))
        ));
        assert!(matches!(
            c.scores(&w, Some(&g[..3])),
            Err(PruneError::Shape(_))
        ));
    }
}

#[test]
fn accumulators_sum_their_terms() {
    let mut rng = StdRng::seed_from_u64(1);
    let n = 37;
    let steps: Vec<(Vec<f32>, Vec<f32>)> = (0..5)
        .map(|_| (rand_vec(&mut rng, n), rand_vec(&mut rng, n)))
        .collect();
    let mut taylor = ScoreAccumulator::new(Criterion::Taylor, n).unwrap();
    let mut movement = ScoreAccumulator::new(Criterion::Movement, n).unwrap();
    for (w, g) in &steps {
        taylor.accumulate(w, g).unwrap();
        movement.accumulate(w, g).unwrap();
    }
    for i in 0..n {
        let t: f64 = steps
            .iter()
            .map(|(w, g)| (w[i] as f64 * g[i] as f64).abs())
            .sum();
        let m: f64 = steps
            .iter()
            .map(|(w, g)| -(w[i] as f64 * g[i] as f64))
            .sum();
        assert!((taylor.scores()[i] as f64 - t).abs() < 1e-6);
        assert!((movement.scores()[i] as f64 - m).abs() < 1e-6);
    }
    assert_eq!(taylor.steps(), 5);
    taylor.reset();
    assert!(taylor.scores().iter().all(|&s| s == 0.0));
    assert!(ScoreAccumulator::new(Criterion::Magnitude, 3).is_err());
    assert!(matches!(
        movement.accumulate(&[1.0], &[1.0]),
        Err(PruneError::Shape(_))
    ));
}

#[test]
fn unstructured_exact_count_and_ties() {
    // Ties: the lower index wins; NaN ranks first (the sparsity vocabulary's rule).
    let s = [1.0, 1.0, 1.0, 1.0, f32::NAN, 2.0];
    let m = mask(&s, 2, 3, 0.5, Structure::Unstructured).unwrap();
    assert_eq!(m.to_bools(), [true, false, false, false, true, true]);
    let mut rng = StdRng::seed_from_u64(2);
    for _ in 0..50 {
        let rows = rng.random_range(0..20);
        let cols = rng.random_range(0..20);
        let sp: f64 = rng.random_range(0.0..=1.0);
        let s = rand_vec(&mut rng, rows * cols);
        let m = mask(&s, rows, cols, sp, Structure::Unstructured).unwrap();
        let k = keep_count(rows * cols, sp).unwrap();
        assert_eq!(m.count_ones(), k);
        // Every kept score ≥ every pruned score.
        let b = m.to_bools();
        let min_kept = s
            .iter()
            .zip(&b)
            .filter(|(_, &k)| k)
            .map(|(s, _)| *s)
            .fold(f32::INFINITY, f32::min);
        let max_pruned = s
            .iter()
            .zip(&b)
            .filter(|(_, &k)| !k)
            .map(|(s, _)| *s)
            .fold(f32::NEG_INFINITY, f32::max);
        assert!(min_kept >= max_pruned);
        // Deterministic.
        assert_eq!(
            m,
            mask(&s, rows, cols, sp, Structure::Unstructured).unwrap()
        );
    }
}

#[test]
fn nm_hand_checked_and_ragged_tail() {
    // 2:4 on a row of 6: groups [0..4) and the tail [4..6) (keeps min(2, 2) = 2).
    let s = [0.1, 0.9, 0.5, 0.3, 0.2, 0.4];
    let m = mask(&s, 1, 6, 0.0, Structure::NM { n: 2, m: 4 }).unwrap();
    assert_eq!(m.to_bools(), [false, true, true, false, true, true]);
    // 1:4 on a row of 5: tail of 1 keeps it.
    let m = mask(&s[..5], 1, 5, 0.0, Structure::NM { n: 1, m: 4 }).unwrap();
    assert_eq!(m.to_bools(), [false, true, false, false, true]);
    // 2:4 tail of 3 keeps 2.
    let s = [1.0, 2.0, 3.0, 4.0, 0.5, 0.7, 0.6];
    let m = mask(&s, 1, 7, 0.0, Structure::NM { n: 2, m: 4 }).unwrap();
    assert_eq!(m.to_bools(), [false, false, true, true, false, true, true]);
}

#[test]
fn nm_random_shapes_are_structural() {
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..100 {
        let m = rng.random_range(1..9);
        let n = rng.random_range(0..=m);
        let rows = rng.random_range(0..12);
        let cols = rng.random_range(0..30);
        let s = rand_vec(&mut rng, rows * cols);
        let mk = mask(&s, rows, cols, 0.3, Structure::NM { n, m }).unwrap();
        assert!(is_nm(&mk, n, m));
        // Exactly min(n, group length) per group: the count is fixed.
        let per_row: usize = (0..cols).step_by(m).map(|st| n.min(cols - st).min(m)).sum();
        assert_eq!(mk.count_ones(), rows * per_row);
        // Kept entries are the group's best.
        for r in 0..rows {
            for st in (0..cols).step_by(m) {
                let g: Vec<usize> = (st..(st + m).min(cols)).collect();
                let kept_min = g
                    .iter()
                    .filter(|&&j| mk.get(r, j))
                    .map(|&j| s[r * cols + j])
                    .fold(f32::INFINITY, f32::min);
                let pr_max = g
                    .iter()
                    .filter(|&&j| !mk.get(r, j))
                    .map(|&j| s[r * cols + j])
                    .fold(f32::NEG_INFINITY, f32::max);
                assert!(kept_min >= pr_max);
            }
        }
    }
    let dense = Mask::ones(2, 8).unwrap();
    assert!(!is_nm(&dense, 2, 4));
    assert!(is_nm(&dense, 4, 4));
}

#[test]
fn blocks_rows_columns() {
    // 4×4 scores, 2×2 blocks with norms: top-left 4, top-right 2, bottom-left 1, bottom-right 0.
    #[rustfmt::skip]
    let s = [2.0, 2.0, 1.0, 1.0,
             2.0, 2.0, 1.0, 1.0,
             0.5, 0.5, 0.0, 0.0,
             0.5, 0.5, 0.0, 0.0];
    let m = mask(&s, 4, 4, 0.5, Structure::Block { rows: 2, cols: 2 }).unwrap();
    #[rustfmt::skip]
    assert_eq!(m.to_bools(), [true, true, true, true,
                              true, true, true, true,
                              false, false, false, false,
                              false, false, false, false]);
    // Rows: norms 2√2·…; keep 1 of 4 rows → row 0 (ties with row 1 broken by index).
    let m = mask(&s, 4, 4, 0.75, Structure::Rows).unwrap();
    assert_eq!(m.count_ones(), 4);
    assert!((0..4).all(|j| m.get(0, j)));
    // Columns: keep 2 of 4 → columns 0 and 1.
    let m = mask(&s, 4, 4, 0.5, Structure::Columns).unwrap();
    assert!((0..4).all(|i| m.get(i, 0) && m.get(i, 1) && !m.get(i, 2)));
    let mut rng = StdRng::seed_from_u64(4);
    for _ in 0..40 {
        let rows = rng.random_range(0..15);
        let cols = rng.random_range(0..15);
        let (br, bc) = (rng.random_range(1..5), rng.random_range(1..5));
        let sp: f64 = rng.random_range(0.0..=1.0);
        let s = rand_vec(&mut rng, rows * cols);
        let st = Structure::Block { rows: br, cols: bc };
        let m = mask(&s, rows, cols, sp, st).unwrap();
        assert!(is_block(&m, br, bc) && satisfies(&m, st));
        let nblocks = rows.div_ceil(br) * cols.div_ceil(bc);
        let kept_blocks = (0..rows.div_ceil(br))
            .flat_map(|i| (0..cols.div_ceil(bc)).map(move |j| (i, j)))
            .filter(|&(i, j)| m.get(i * br, j * bc))
            .count();
        assert_eq!(kept_blocks, keep_count(nblocks, sp).unwrap());
        let m = mask(&s, rows, cols, sp, Structure::Rows).unwrap();
        assert!(is_rows(&m));
        if cols > 0 {
            let kept_rows = (0..rows).filter(|&r| m.count_ones_row(r) > 0).count();
            assert_eq!(kept_rows, keep_count(rows, sp).unwrap());
        }
        let m = mask(&s, rows, cols, sp, Structure::Columns).unwrap();
        assert!(is_columns(&m));
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    let s = [1.0; 6];
    assert!(matches!(
        mask(&s, 2, 3, 1.5, Structure::Unstructured),
        Err(PruneError::InvalidArgument(_))
    ));
    assert!(matches!(
        mask(&s, 2, 3, -0.1, Structure::Unstructured),
        Err(PruneError::InvalidArgument(_))
    ));
    assert!(matches!(
        mask(&s, 2, 3, f64::NAN, Structure::Unstructured),
        Err(PruneError::InvalidArgument(_))
    ));
    assert!(matches!(
        mask(&s, 2, 3, 0.5, Structure::NM { n: 5, m: 4 }),
        Err(PruneError::InvalidArgument(_))
    ));
    assert!(matches!(
        mask(&s, 2, 3, 0.5, Structure::NM { n: 0, m: 0 }),
        Err(PruneError::InvalidArgument(_))
    ));
    assert!(matches!(
        mask(&s, 2, 3, 0.5, Structure::Block { rows: 0, cols: 2 }),
        Err(PruneError::InvalidArgument(_))
    ));
    assert!(matches!(
        mask(&s, 4, 3, 0.5, Structure::Unstructured),
        Err(PruneError::Shape(_))
    ));
    assert!(matches!(
        mask(&s, usize::MAX, 2, 0.5, Structure::Unstructured),
        Err(PruneError::Shape(_))
    ));
    let layers = [LayerShape::new("a", 2, 2)];
    assert!(Allocation::Uniform
        .sparsities(&layers, 1.5, None, None)
        .is_err());
    assert!(Allocation::Global
        .sparsities(&layers, 0.5, None, None)
        .is_err());
    assert!(Allocation::Global
        .sparsities(&layers, 0.5, None, Some(&[vec![1.0; 3]]))
        .is_err());
    assert!(Allocation::PerLayer(vec![("a".into(), 2.0)])
        .sparsities(&layers, 0.5, None, None)
        .is_err());
    assert!(Allocation::Uniform
        .sparsities(&layers, 0.5, Some("a..b"), None)
        .is_err());
    assert!(Schedule::Gradual(Gradual {
        initial: 0.0,
        final_sparsity: 1.2,
        start: 0,
        frequency: 1,
        n: 1
    })
    .validate()
    .is_err());
    assert!(Schedule::Gradual(Gradual {
        initial: 0.0,
        final_sparsity: 0.5,
        start: 0,
        frequency: 0,
        n: 1
    })
    .validate()
    .is_err());
    assert!(GradientFlow::Decay {
        start: 5,
        end: 5,
        intervals: 2
    }
    .validate()
    .is_err());
    assert!(GradientFlow::Anneal {
        alpha0: 2.0,
        start: 0,
        end: 5
    }
    .validate()
    .is_err());
}

fn kept(layers: &[LayerShape], s: &[f64]) -> f64 {
    layers
        .iter()
        .zip(s)
        .map(|(l, s)| (1.0 - s) * l.len() as f64)
        .sum()
}

#[test]
fn erk_meets_the_target_and_caps() {
    let layers = [
        LayerShape::new("l1.weight", 300, 784),
        LayerShape::new("l2.weight", 100, 300),
        LayerShape::new("l3.weight", 10, 100),
    ];
    let total: f64 = layers.iter().map(|l| l.len() as f64).sum();
    for target in [0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 1.0] {
        let s = Allocation::Erk
            .sparsities(&layers, target, None, None)
            .unwrap();
        assert!(
            (kept(&layers, &s) - (1.0 - target) * total).abs() < 1e-6 * total,
            "{target}"
        );
        assert!(s.iter().all(|s| (0.0..=1.0).contains(s)));
        // Densities follow (n_in + n_out)/(n_in · n_out) among the layers not capped.
        let d: Vec<f64> = s.iter().map(|s| 1.0 - s).collect();
        let ratio =
            |i: usize| d[i] / ((layers[i].rows + layers[i].cols) as f64 / layers[i].len() as f64);
        if d[1] < 1.0 && d[0] < 1.0 {
            assert!((ratio(0) - ratio(1)).abs() < 1e-9);
        }
    }
    // At 50 % the 10×100 layer would need density > 1: it is capped and the rest re-solved.
    let s = Allocation::Erk
        .sparsities(&layers, 0.5, None, None)
        .unwrap();
    assert_eq!(s[2], 0.0);
    // Keep-dense layers are out of the accounting.
    let s = Allocation::Erk
        .sparsities(&layers, 0.9, Some("l1.*"), None)
        .unwrap();
    assert_eq!(s[0], 0.0);
    let sub: f64 = layers[1..].iter().map(|l| l.len() as f64).sum();
    assert!((kept(&layers[1..], &s[1..]) - 0.1 * sub).abs() < 1e-6);
}

#[test]
fn global_uniform_per_layer() {
    let layers = [
        LayerShape::new("a.weight", 2, 2),
        LayerShape::new("b.weight", 1, 4),
    ];
    let scores = vec![vec![9.0, 8.0, 7.0, 6.0], vec![1.0, 2.0, 3.0, 10.0]];
    let s = Allocation::Global
        .sparsities(&layers, 0.5, None, Some(scores.as_slice()))
        .unwrap();
    // Top 4 of all: 10, 9, 8, 7 → a keeps 3, b keeps 1.
    assert_eq!(s, [0.25, 0.75]);
    let u = Allocation::Uniform
        .sparsities(&layers, 0.3, None, None)
        .unwrap();
    assert_eq!(u, [0.3, 0.3]);
    let p = Allocation::PerLayer(vec![("b.*".into(), 0.9)])
        .sparsities(&layers, 0.3, None, None)
        .unwrap();
    assert_eq!(p, [0.3, 0.9]);
    let mut rng = StdRng::seed_from_u64(5);
    let layers: Vec<LayerShape> = (0..4)
        .map(|i| {
            LayerShape::new(
                format!("l{i}"),
                rng.random_range(1..30),
                rng.random_range(1..30),
            )
        })
        .collect();
    let scores: Vec<Vec<f32>> = layers.iter().map(|l| rand_vec(&mut rng, l.len())).collect();
    let total: usize = layers.iter().map(|l| l.len()).sum();
    let s = Allocation::Global
        .sparsities(&layers, 0.7, None, Some(scores.as_slice()))
        .unwrap();
    let k: usize = layers
        .iter()
        .zip(&s)
        .map(|(l, s)| keep_count(l.len(), *s).unwrap())
        .sum();
    assert_eq!(k, keep_count(total, 0.7).unwrap());
}

#[test]
fn gradual_schedule_follows_the_cubic() {
    let g = Gradual {
        initial: 0.1,
        final_sparsity: 0.95,
        start: 50,
        frequency: 7,
        n: 13,
    };
    let s = Schedule::Gradual(g);
    let prune: Vec<u64> = (0..500).filter(|&t| s.is_prune_step(t)).collect();
    assert_eq!(prune, (0..=13).map(|k| 50 + 7 * k).collect::<Vec<_>>());
    for t in 0..500u64 {
        let expected = if t < 50 {
            0.0
        } else {
            let tk = (50 + (t - 50) / 7 * 7).min(50 + 7 * 13);
            0.95 + (0.1 - 0.95) * (1.0 - (tk - 50) as f64 / (13.0 * 7.0)).powi(3)
        };
        assert!((s.target(t) - expected).abs() < 1e-12, "t={t}");
    }
    assert!((s.target(50) - 0.1).abs() < 1e-12);
    assert!((s.target(1000) - 0.95).abs() < 1e-12);
    // Non-decreasing.
    assert!((1..500).all(|t| s.target(t) >= s.target(t - 1)));
}

#[test]
fn iterative_oneshot_periodic_and_flows() {
    let it = Iterative {
        rounds: 3,
        rate: 0.5,
        round_steps: 10,
        rewind: Rewind::Step(2),
    };
    let s = Schedule::Iterative(it);
    let prune: Vec<u64> = (0..100).filter(|&t| s.is_prune_step(t)).collect();
    assert_eq!(prune, [10, 20, 30]);
    assert_eq!(
        [s.target(9), s.target(10), s.target(25), s.target(35)],
        [0.0, 0.5, 0.75, 0.875]
    );
    assert_eq!(s.rewind_at(20), Some(Rewind::Step(2)));
    assert_eq!(s.rewind_at(21), None);
    assert_eq!(it.total_steps(), 40);
    assert!((it.final_sparsity() - 0.875).abs() < 1e-12);
    let o = Schedule::OneShot {
        at: 5,
        sparsity: 0.7,
    };
    assert!(o.is_prune_step(5) && !o.is_prune_step(6));
    assert_eq!([o.target(4), o.target(5), o.target(9)], [0.0, 0.7, 0.7]);
    let p = Schedule::Periodic {
        sparsity: 0.5,
        start: 3,
        end: 12,
        every: 4,
    };
    let steps: Vec<u64> = (0..20).filter(|&t| p.is_prune_step(t)).collect();
    assert_eq!(steps, [3, 7, 11]);
    for t in 0..300u64 {
        let d = GradientFlow::Decay {
            start: 100,
            end: 200,
            intervals: 5,
        }
        .factor(t);
        let e = if t < 100 {
            1.0
        } else if t >= 200 {
            0.0
        } else {
            1.0 - ((t - 100) as f64 / 20.0).floor() / 5.0
        };
        assert!((d - e).abs() < 1e-12);
        let a = GradientFlow::Anneal {
            alpha0: 0.8,
            start: 50,
            end: 250,
        }
        .factor(t);
        let e = if t < 50 {
            0.8
        } else if t >= 250 {
            0.0
        } else {
            0.8 * (1.0 - (t - 50) as f64 / 200.0)
        };
        assert!((a - e).abs() < 1e-12);
    }
    assert_eq!(GradientFlow::Blocked.factor(0), 0.0);
}
