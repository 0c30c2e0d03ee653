//! The sparse normalisers against the f64 sort-based reference (`reference::normalize`), finite
//! differences, and their edge cases (masks, ties, NaN, thread counts, typed errors).
#![allow(clippy::needless_range_loop)]

mod common;

use common::rng;
use rand::Rng;
use sparsekit_kernels::normalize::{
    entmax_alpha_grad, entmax_rows, entmax_rows_backward, normalize, normalize_backward,
    normalize_loss, normalize_loss_backward, Normalizer,
};
use sparsekit_kernels::reference::normalize as refn;
use sparsekit_kernels::{KernelError, MatMut, MatRef};

const SIZES: [usize; 8] = [0, 1, 2, 7, 16, 17, 1000, 1024];
const SCALES: [f32; 5] = [0.1, 1.0, 3.0, 100.0, 1e4];

fn maps() -> Vec<Normalizer> {
    vec![
        Normalizer::Sparsemax,
        Normalizer::Entmax15,
        Normalizer::Entmax { alpha: 1.5 },
        Normalizer::Entmax { alpha: 1.25 },
        Normalizer::Entmax { alpha: 2.0 },
        Normalizer::Entmax { alpha: 3.0 },
    ]
}

fn randn(r: &mut impl Rng) -> f32 {
    // Box–Muller.
    let (u, v): (f64, f64) = (r.random_range(1e-12..1.0), r.random_range(0.0..1.0));
    ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
}

fn fwd(f: Normalizer, z: &[f32], rows: usize, n: usize) -> Vec<f32> {
    let mut p = vec![7.0f32; rows * n];
    normalize(
        f,
        MatRef::new(z, rows, n).unwrap(),
        MatMut::new(&mut p, rows, n).unwrap(),
    )
    .unwrap();
    p
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Forward against the reference on every size and scale, with and without `−∞` masks: error
/// ≤ 1e-6 absolute, sums to 1, non-negative, the same exact zeros.
#[test]
fn normalize_forward_matches_reference() {
    let mut r = rng(11);
    for f in maps() {
        for &n in &SIZES {
            for &scale in &SCALES {
                for masked in [false, true] {
                    let rows = 3;
                    let z: Vec<f32> = (0..rows * n)
                        .map(|_| {
                            if masked && r.random_bool(0.3) {
                                f32::NEG_INFINITY
                            } else {
                                randn(&mut r) * scale
                            }
                        })
                        .collect();
                    let p = fwd(f, &z, rows, n);
                    for i in 0..rows {
                        let (zr, pr) = (&z[i * n..(i + 1) * n], &p[i * n..(i + 1) * n]);
                        let want = refn::forward(f.alpha() as f64, &f64s(zr));
                        let finite = zr.iter().any(|v| v.is_finite());
                        let sum: f64 = pr.iter().map(|&v| v as f64).sum();
                        if finite {
                            assert!((sum - 1.0).abs() < 1e-5, "{f:?} n={n} s={scale}: sum {sum}");
                        } else {
                            assert_eq!(sum, 0.0);
                        }
                        for j in 0..n {
                            let (got, w) = (pr[j] as f64, want[j]);
                            assert!(got >= 0.0);
                            assert!(
                                (got - w).abs() <= 1e-6,
                                "{f:?} n={n} s={scale} row {i} col {j}: {got} vs {w}"
                            );
                            if w == 0.0 {
                                assert_eq!(got, 0.0, "{f:?} n={n} s={scale}: not an exact zero");
                            }
                            if w > 1e-6 {
                                assert!(got > 0.0);
                            }
                            if zr[j] == f32::NEG_INFINITY {
                                assert_eq!(pr[j], 0.0);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Known values, ties, all-equal rows, single unmasked entries, fully masked rows, NaN rows.
#[test]
fn normalize_special_rows() {
    let ni = f32::NEG_INFINITY;
    for f in maps() {
        // Ties: equal logits, bit-equal probabilities.
        let z = [2.0f32, 0.5, 2.0, 1.9, 2.0, -3.0, 1.9];
        let p = fwd(f, &z, 1, 7);
        assert_eq!(p[0], p[2]);
        assert_eq!(p[0], p[4]);
        assert_eq!(p[3], p[6]);
        // All equal: uniform.
        for n in [1usize, 5, 1024] {
            let z = vec![3.25f32; n];
            for v in fwd(f, &z, 1, n) {
                assert!((v - 1.0 / n as f32).abs() < 1e-7, "{f:?} n={n}");
            }
        }
        // Single unmasked entry: one-hot, exactly.
        let p = fwd(f, &[ni, ni, -5.0, ni], 1, 4);
        assert_eq!(p, [0.0, 0.0, 1.0, 0.0]);
        // Fully masked row: zeros (never NaN), and a zero gradient.
        let z = [ni; 6];
        let p = fwd(f, &z, 2, 3);
        assert_eq!(p, [0.0; 6]);
        let mut dz = [9.0f32; 6];
        normalize_backward(
            f,
            MatRef::new(&p, 2, 3).unwrap(),
            MatRef::new(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3).unwrap(),
            MatMut::new(&mut dz, 2, 3).unwrap(),
        )
        .unwrap();
        assert_eq!(dz, [0.0; 6]);
        // NaN or +∞ anywhere: that row is NaN, the others are untouched.
        for bad in [f32::NAN, f32::INFINITY] {
            let z = [0.0f32, bad, 1.0, 0.0, 0.5, 1.0];
            let p = fwd(f, &z, 2, 3);
            assert!(p[..3].iter().all(|v| v.is_nan()));
            assert!(p[3..].iter().all(|v| v.is_finite()));
        }
        // Large logits, relative to the row maximum.
        let p = fwd(f, &[1e4, 1e4 - 0.5, -1e4], 1, 3);
        let want = refn::forward(f.alpha() as f64, &[1e4, 1e4 - 0.5, -1e4]);
        for j in 0..3 {
            assert!((p[j] as f64 - want[j]).abs() < 1e-6);
        }
    }
    // Sparsemax of [1, 0.2, −1]: τ = 0.1.
    let p = fwd(Normalizer::Sparsemax, &[1.0, 0.2, -1.0], 1, 3);
    assert!((p[0] - 0.9).abs() < 1e-7 && (p[1] - 0.1).abs() < 1e-7 && p[2] == 0.0);
}

/// Backward against the f64 closed form, and the closed form against finite differences of the
/// reference forward (f64, central, h = 1e-6).
#[test]
fn normalize_backward_matches_closed_form_and_fd() {
    let mut r = rng(12);
    for f in maps() {
        let alpha = f.alpha() as f64;
        for &n in &[1usize, 2, 7, 16, 17, 1000] {
            let rows = 2;
            let z: Vec<f32> = (0..rows * n)
                .map(|_| {
                    if r.random_bool(0.1) {
                        f32::NEG_INFINITY
                    } else {
                        randn(&mut r) * 1.5
                    }
                })
                .collect();
            let dp: Vec<f32> = (0..rows * n).map(|_| randn(&mut r)).collect();
            let p = fwd(f, &z, rows, n);
            let mut dz = vec![0.0f32; rows * n];
            normalize_backward(
                f,
                MatRef::new(&p, rows, n).unwrap(),
                MatRef::new(&dp, rows, n).unwrap(),
                MatMut::new(&mut dz, rows, n).unwrap(),
            )
            .unwrap();
            for i in 0..rows {
                let s = i * n..(i + 1) * n;
                let want = refn::backward(alpha, &f64s(&p[s.clone()]), &f64s(&dp[s.clone()]));
                for j in 0..n {
                    let tol = 1e-5 * (1.0 + want[j].abs());
                    assert!((dz[i * n + j] as f64 - want[j]).abs() <= tol, "{f:?} n={n}");
                }
                if n > 20 {
                    continue;
                }
                // Finite differences of L = Σ dp·p(z) in f64 on the reference.
                let z64 = f64s(&z[s.clone()]);
                let dp64 = f64s(&dp[s.clone()]);
                let p64 = refn::forward(alpha, &z64);
                let an = refn::backward(alpha, &p64, &dp64);
                let l = |zz: &[f64]| -> f64 {
                    refn::forward(alpha, zz)
                        .iter()
                        .zip(&dp64)
                        .map(|(a, b)| a * b)
                        .sum()
                };
                for j in 0..n {
                    if !z64[j].is_finite() {
                        assert_eq!(an[j], 0.0);
                        continue;
                    }
                    let h = 1e-6;
                    let (mut zp, mut zm) = (z64.clone(), z64.clone());
                    zp[j] += h;
                    zm[j] -= h;
                    let fd = (l(&zp) - l(&zm)) / (2.0 * h);
                    assert!(
                        (fd - an[j]).abs() < 1e-4,
                        "{f:?} n={n} j={j}: fd {fd} vs {}",
                        an[j]
                    );
                }
            }
        }
    }
}

/// ∂/∂α against the reference formula and against finite differences in α (f64 reference).
#[test]
fn normalize_alpha_grad_matches_fd() {
    let mut r = rng(13);
    for &alpha in &[1.3f32, 1.5, 1.7, 2.0, 2.5] {
        for &n in &[2usize, 7, 17] {
            let rows = 3;
            let mut z: Vec<f32> = (0..rows * n).map(|_| randn(&mut r) * 2.0).collect();
            z[n] = f32::NEG_INFINITY;
            z[2 * n..].fill(f32::NEG_INFINITY); // fully masked row: dα = 0
            let dp: Vec<f32> = (0..rows * n).map(|_| randn(&mut r)).collect();
            let al = vec![alpha; rows];
            let mut p = vec![0.0f32; rows * n];
            entmax_rows(
                MatRef::new(&z, rows, n).unwrap(),
                &al,
                MatMut::new(&mut p, rows, n).unwrap(),
            )
            .unwrap();
            let mut da = vec![0.0f32; rows];
            entmax_alpha_grad(
                MatRef::new(&p, rows, n).unwrap(),
                MatRef::new(&dp, rows, n).unwrap(),
                &al,
                &mut da,
            )
            .unwrap();
            assert_eq!(da[2], 0.0);
            for i in 0..2 {
                let s = i * n..(i + 1) * n;
                let (z64, dp64) = (f64s(&z[s.clone()]), f64s(&dp[s.clone()]));
                let a = alpha as f64;
                let p64 = refn::forward(a, &z64);
                let want = refn::alpha_grad(a, &p64, &dp64);
                assert!(
                    (da[i] as f64 - want).abs() < 1e-4 * (1.0 + want.abs()),
                    "{da:?} {want}"
                );
                // Finite differences through the bisection reference (never the exact paths).
                let l = |aa: f64| -> f64 {
                    let aa = if aa == 2.0 || aa == 1.5 {
                        aa + 1e-12
                    } else {
                        aa
                    };
                    refn::forward(aa, &z64)
                        .iter()
                        .zip(&dp64)
                        .map(|(x, y)| x * y)
                        .sum()
                };
                let h = 1e-5;
                let fd = (l(a + h) - l(a - h)) / (2.0 * h);
                assert!(
                    (fd - want).abs() < 1e-4 * (1.0 + want.abs()),
                    "α={a} n={n}: fd {fd} vs {want}"
                );
            }
        }
    }
}

/// Per-row α: each row equals the uniform-α map of that row; the backward matches too.
#[test]
fn normalize_per_row_alpha() {
    let mut r = rng(14);
    let (rows, n) = (4, 33);
    let z: Vec<f32> = (0..rows * n).map(|_| randn(&mut r) * 3.0).collect();
    let dp: Vec<f32> = (0..rows * n).map(|_| randn(&mut r)).collect();
    let al = [1.2f32, 1.5, 2.0, 4.0];
    let mut p = vec![0.0f32; rows * n];
    entmax_rows(
        MatRef::new(&z, rows, n).unwrap(),
        &al,
        MatMut::new(&mut p, rows, n).unwrap(),
    )
    .unwrap();
    let mut dz = vec![0.0f32; rows * n];
    entmax_rows_backward(
        MatRef::new(&p, rows, n).unwrap(),
        MatRef::new(&dp, rows, n).unwrap(),
        &al,
        MatMut::new(&mut dz, rows, n).unwrap(),
    )
    .unwrap();
    for i in 0..rows {
        let s = i * n..(i + 1) * n;
        let f = Normalizer::entmax(al[i]).unwrap();
        assert_eq!(fwd(f, &z[s.clone()], 1, n), &p[s.clone()]);
        let mut d1 = vec![0.0f32; n];
        normalize_backward(
            f,
            MatRef::new(&p[s.clone()], 1, n).unwrap(),
            MatRef::new(&dp[s.clone()], 1, n).unwrap(),
            MatMut::new(&mut d1, 1, n).unwrap(),
        )
        .unwrap();
        assert_eq!(d1, &dz[s]);
    }
}

/// Results are bit-identical for 1 and 3 threads (forward and backward, above the parallel cut).
#[test]
fn normalize_thread_count_invariant() {
    let mut r = rng(15);
    let (rows, n) = (300, 1024);
    let z: Vec<f32> = (0..rows * n).map(|_| randn(&mut r) * 3.0).collect();
    let dp: Vec<f32> = (0..rows * n).map(|_| randn(&mut r)).collect();
    let run = |threads: usize, f: Normalizer| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let p = fwd(f, &z, rows, n);
            let mut dz = vec![0.0f32; rows * n];
            normalize_backward(
                f,
                MatRef::new(&p, rows, n).unwrap(),
                MatRef::new(&dp, rows, n).unwrap(),
                MatMut::new(&mut dz, rows, n).unwrap(),
            )
            .unwrap();
            (p, dz)
        })
    };
    for f in maps() {
        assert_eq!(run(1, f), run(3, f), "{f:?}");
    }
}

/// Strided views give the same rows as contiguous ones.
#[test]
fn normalize_strided_views() {
    let mut r = rng(16);
    let (rows, n, stride) = (5, 9, 13);
    let zs: Vec<f32> = (0..rows * stride).map(|_| randn(&mut r)).collect();
    let zc: Vec<f32> = (0..rows)
        .flat_map(|i| zs[i * stride..i * stride + n].to_vec())
        .collect();
    for f in maps() {
        let mut ps = vec![-1.0f32; rows * stride];
        normalize(
            f,
            MatRef::with_stride(&zs, rows, n, stride).unwrap(),
            MatMut::with_stride(&mut ps, rows, n, stride).unwrap(),
        )
        .unwrap();
        let pc = fwd(f, &zc, rows, n);
        for i in 0..rows {
            assert_eq!(&ps[i * stride..i * stride + n], &pc[i * n..(i + 1) * n]);
            assert!(ps[i * stride + n..(i * stride + stride).min(rows * stride)]
                .iter()
                .all(|&v| v == -1.0));
        }
    }
}

/// Losses against the reference, `ignore_index`, and the gradient `dloss·(p − onehot)` against
/// finite differences of the reference loss.
#[test]
fn normalize_loss_matches_reference_and_fd() {
    let mut r = rng(17);
    let (rows, n) = (5, 11);
    for f in maps() {
        let alpha = f.alpha() as f64;
        let mut z: Vec<f32> = (0..rows * n).map(|_| randn(&mut r) * 2.0).collect();
        z[3] = f32::NEG_INFINITY;
        let targets = [2i64, 0, -100, 10, 4];
        let mut loss = vec![0.0f32; rows];
        let mut p = vec![0.0f32; rows * n];
        normalize_loss(
            f,
            MatRef::new(&z, rows, n).unwrap(),
            &targets,
            Some(-100),
            &mut loss,
            MatMut::new(&mut p, rows, n).unwrap(),
        )
        .unwrap();
        assert_eq!(loss[2], 0.0);
        let dloss = [1.0f32, -2.0, 3.0, 0.5, 1.0];
        let mut dz = vec![0.0f32; rows * n];
        normalize_loss_backward(
            MatRef::new(&p, rows, n).unwrap(),
            &targets,
            Some(-100),
            &dloss,
            MatMut::new(&mut dz, rows, n).unwrap(),
        )
        .unwrap();
        assert!(dz[2 * n..3 * n].iter().all(|&v| v == 0.0));
        for i in [0usize, 1, 3, 4] {
            let z64 = f64s(&z[i * n..(i + 1) * n]);
            let t = targets[i] as usize;
            let want = refn::loss(alpha, &z64, t);
            assert!(want >= -1e-9, "a Fenchel–Young loss is ≥ 0");
            assert!(
                (loss[i] as f64 - want).abs() < 1e-5 * (1.0 + want.abs()),
                "{f:?} {} {want}",
                loss[i]
            );
            for j in 0..n {
                if !z64[j].is_finite() {
                    assert_eq!(dz[i * n + j], 0.0);
                    continue;
                }
                let h = 1e-6;
                let (mut zp, mut zm) = (z64.clone(), z64.clone());
                zp[j] += h;
                zm[j] -= h;
                let fd = dloss[i] as f64 * (refn::loss(alpha, &zp, t) - refn::loss(alpha, &zm, t))
                    / (2.0 * h);
                assert!(
                    (dz[i * n + j] as f64 - fd).abs() < 1e-4,
                    "{f:?} row {i} col {j}"
                );
            }
        }
    }
}

/// Typed errors, never panics: shapes, α, per-row lengths, targets.
#[test]
fn normalize_typed_errors() {
    let z = [0.0f32; 6];
    let mut p = [0.0f32; 6];
    let zr = MatRef::new(&z, 2, 3).unwrap();
    let is_shape = |e: KernelError| matches!(e, KernelError::ShapeMismatch { .. });
    let is_arg = |e: KernelError| matches!(e, KernelError::InvalidArgument { .. });
    assert!(is_shape(
        normalize(
            Normalizer::Sparsemax,
            zr,
            MatMut::new(&mut p, 3, 2).unwrap()
        )
        .unwrap_err()
    ));
    for a in [1.0f32, 0.5, -2.0, f32::NAN, f32::INFINITY] {
        assert!(is_arg(Normalizer::entmax(a).unwrap_err()));
        assert!(is_arg(
            normalize(
                Normalizer::Entmax { alpha: a },
                zr,
                MatMut::new(&mut p, 2, 3).unwrap()
            )
            .unwrap_err()
        ));
        assert!(is_arg(
            entmax_rows(zr, &[1.5, a], MatMut::new(&mut p, 2, 3).unwrap()).unwrap_err()
        ));
    }
    assert!(is_shape(
        entmax_rows(zr, &[1.5], MatMut::new(&mut p, 2, 3).unwrap()).unwrap_err()
    ));
    assert!(is_shape(
        normalize_backward(
            Normalizer::Entmax15,
            zr,
            MatRef::new(&z, 3, 2).unwrap(),
            MatMut::new(&mut p, 2, 3).unwrap()
        )
        .unwrap_err()
    ));
    let mut da = [0.0f32; 1];
    assert!(is_shape(
        entmax_alpha_grad(zr, zr, &[1.5, 1.5], &mut da).unwrap_err()
    ));
    let mut loss = [0.0f32; 2];
    for t in [[0i64, 3], [-1, 0]] {
        assert!(is_arg(
            normalize_loss(
                Normalizer::Sparsemax,
                zr,
                &t,
                None,
                &mut loss,
                MatMut::new(&mut p, 2, 3).unwrap()
            )
            .unwrap_err()
        ));
    }
    assert!(is_shape(
        normalize_loss(
            Normalizer::Sparsemax,
            zr,
            &[0],
            None,
            &mut loss,
            MatMut::new(&mut p, 2, 3).unwrap()
        )
        .unwrap_err()
    ));
    // Zero-sized shapes are fine.
    let mut e: [f32; 0] = [];
    normalize(
        Normalizer::Sparsemax,
        MatRef::new(&[], 0, 5).unwrap(),
        MatMut::new(&mut e, 0, 5).unwrap(),
    )
    .unwrap();
    normalize(
        Normalizer::Entmax15,
        MatRef::new(&[], 4, 0).unwrap(),
        MatMut::new(&mut e, 4, 0).unwrap(),
    )
    .unwrap();
}
