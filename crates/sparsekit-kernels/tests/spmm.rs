//! spmm / spmm_with / spmm_t / spmm_t_bias / spmm_at against dense f64 references, every ISA
//! against the scalar reference, error cases and thread-count independence.

mod common;
use common::*;

use sparsekit_formats::Csr;
use sparsekit_kernels::spmm::{spmm_at_isa, spmm_isa, spmm_t_isa};
use sparsekit_kernels::*;

fn shapes() -> Vec<(usize, usize, f64)> {
    vec![
        (0, 5, 0.5),
        (5, 0, 0.5),
        (1, 1, 1.0),
        (1, 9, 0.5),
        (3, 1, 0.7),
        (17, 23, 0.3),
        (33, 70, 0.1),
        (8, 8, 0.0),
        (40, 300, 0.05),
    ]
}

#[test]
fn spmm_matches_dense_f64_on_every_isa() {
    let mut r = rng(1);
    let mut cases = 0;
    for (m, k, d) in shapes() {
        for &n in NS {
            let a = random_csr(&mut r, m, k, d);
            let x = dense_vec(&mut r, k * n);
            let (want, scale) = matmul_f64(&to_dense_f64(&a), &to_f64(&x), m, k, n);
            for isa in Isa::available() {
                let y = run_dense(&x, (k, n), (m, n), f32::NAN, |x, y| {
                    spmm_isa(isa, 1.0, a.view(), x, 0.0, y)
                });
                assert_close(&y, &want, &scale, &format!("spmm {isa:?} {m}×{k}×{n}"));
                cases += 1;
            }
            let y = run_dense(&x, (k, n), (m, n), 0.0, |x, y| spmm(a.view(), x, y));
            assert_close(&y, &want, &scale, "spmm default");
        }
    }
    assert!(cases > 100);
}

#[test]
fn spmm_with_alpha_beta_and_strides() {
    let mut r = rng(2);
    for &n in &[1usize, 9, 64, 65] {
        let (m, k) = (13, 29);
        let a = random_csr(&mut r, m, k, 0.3);
        let (xs, ys) = (n + 3, n + 5);
        let x = dense_vec(&mut r, k * xs);
        let y0 = dense_vec(&mut r, m * ys);
        let xd: Vec<f64> = (0..k)
            .flat_map(|t| x[t * xs..t * xs + n].iter().map(|&v| v as f64))
            .collect();
        let (ax, scale) = matmul_f64(&to_dense_f64(&a), &xd, m, k, n);
        let (alpha, beta) = (0.5f32, -2.0f32);
        for isa in Isa::available() {
            let mut y = y0.clone();
            spmm_isa(
                isa,
                alpha,
                a.view(),
                MatRef::with_stride(&x, k, n, xs).unwrap(),
                beta,
                MatMut::with_stride(&mut y, m, n, ys).unwrap(),
            )
            .unwrap();
            for i in 0..m {
                for c in 0..n {
                    let want = alpha as f64 * ax[i * n + c] + beta as f64 * y0[i * ys + c] as f64;
                    let tol = 1e-5 * (0.5 * scale[i * n + c] + 2.0 * (y0[i * ys + c] as f64).abs())
                        + 1e-30;
                    assert!(
                        (y[i * ys + c] as f64 - want).abs() <= tol,
                        "{isa:?} n={n} ({i},{c})"
                    );
                }
                // Padding between rows untouched.
                for c in n..ys.min(y.len() - i * ys) {
                    assert_eq!(y[i * ys + c].to_bits(), y0[i * ys + c].to_bits());
                }
            }
        }
    }
}

#[test]
fn spmm_half_precision_values() {
    let mut r = rng(3);
    let (m, k, n) = (20, 50, 33);
    let a = random_csr(&mut r, m, k, 0.3);
    let x = dense_vec(&mut r, k * n);
    for isa in Isa::available() {
        let h = a.cast::<half::f16>();
        let hb = a.cast::<half::bf16>();
        let (want, scale) = matmul_f64(
            &h.to_dense().iter().map(|v| v.to_f64()).collect::<Vec<_>>(),
            &to_f64(&x),
            m,
            k,
            n,
        );
        let mut y = vec![0.0; m * n];
        spmm_isa(
            isa,
            1.0,
            h.view(),
            MatRef::new(&x, k, n).unwrap(),
            0.0,
            MatMut::new(&mut y, m, n).unwrap(),
        )
        .unwrap();
        assert_close(&y, &want, &scale, "f16");
        let (want, scale) = matmul_f64(
            &hb.to_dense().iter().map(|v| v.to_f64()).collect::<Vec<_>>(),
            &to_f64(&x),
            m,
            k,
            n,
        );
        spmm_isa(
            isa,
            1.0,
            hb.view(),
            MatRef::new(&x, k, n).unwrap(),
            0.0,
            MatMut::new(&mut y, m, n).unwrap(),
        )
        .unwrap();
        assert_close(&y, &want, &scale, "bf16");
    }
}

#[test]
fn simd_paths_match_scalar_reference() {
    let mut r = rng(4);
    for &(m, k, n) in &[(64, 64, 64), (31, 100, 65), (7, 7, 129), (50, 40, 200)] {
        let a = random_csr(&mut r, m, k, 0.2);
        let x = dense_vec(&mut r, k * n);
        let mut yref = vec![0.0; m * n];
        reference::spmm(
            1.0,
            a.view(),
            MatRef::new(&x, k, n).unwrap(),
            0.0,
            MatMut::new(&mut yref, m, n).unwrap(),
        );
        let (_, scale) = matmul_f64(&to_dense_f64(&a), &to_f64(&x), m, k, n);
        for isa in Isa::available() {
            let y = run_dense(&x, (k, n), (m, n), 0.0, |x, y| {
                spmm_isa(isa, 1.0, a.view(), x, 0.0, y)
            });
            for e in 0..m * n {
                assert!(
                    ((y[e] - yref[e]) as f64).abs() <= 2e-6 * scale[e] + 1e-30,
                    "{isa:?} elem {e}"
                );
            }
        }
    }
}

#[test]
fn spmm_t_matches_dense_f64() {
    let mut r = rng(5);
    for (m, k, d) in shapes() {
        for &nb in NS {
            let w = random_csr(&mut r, m, k, d);
            let x = dense_vec(&mut r, nb * k);
            let bias = dense_vec(&mut r, m);
            // Y = X·Wᵀ: (nb×k)·(k×m)
            let wt = transpose(&to_dense_f64(&w), m, k);
            let (mut want, mut scale) = matmul_f64(&to_f64(&x), &wt, nb, k, m);
            for isa in Isa::available() {
                let y = run_dense(&x, (nb, k), (nb, m), f32::NAN, |x, y| {
                    spmm_t_isa(isa, x, w.view(), None, y)
                });
                assert_close(
                    &y,
                    &want,
                    &scale,
                    &format!("spmm_t {isa:?} W {m}×{k} batch {nb}"),
                );
            }
            for b in 0..nb {
                for i in 0..m {
                    want[b * m + i] += bias[i] as f64;
                    scale[b * m + i] += (bias[i] as f64).abs();
                }
            }
            let y = run_dense(&x, (nb, k), (nb, m), f32::NAN, |x, y| {
                spmm_t_bias(x, w.view(), Some(&bias), y)
            });
            assert_close(&y, &want, &scale, "spmm_t_bias");
            let mut yr = vec![0.0; nb * m];
            reference::spmm_t(
                MatRef::new(&x, nb, k).unwrap(),
                w.view(),
                Some(&bias),
                MatMut::new(&mut yr, nb, m).unwrap(),
            );
            assert_close(&yr, &want, &scale, "reference::spmm_t");
        }
    }
}

#[test]
fn spmm_at_matches_dense_f64_and_cache_survives_value_changes() {
    let mut r = rng(6);
    for (m, k, d) in shapes() {
        for &n in NS {
            let mut a = random_csr(&mut r, m, k, d);
            let t = CsrTranspose::new(a.pattern().view());
            for round in 0..2 {
                if round == 1 {
                    for v in a.values_mut() {
                        *v = mixed(&mut r);
                    }
                }
                let x = dense_vec(&mut r, m * n);
                let at = transpose(&to_dense_f64(&a), m, k);
                let (want, scale) = matmul_f64(&at, &to_f64(&x), k, m, n);
                for isa in Isa::available() {
                    let y = run_dense(&x, (m, n), (k, n), f32::NAN, |x, y| {
                        spmm_at_isa(isa, &t, a.view(), x, y)
                    });
                    assert_close(&y, &want, &scale, &format!("spmm_at {isa:?} {m}×{k}×{n}"));
                }
                let mut y = run_dense(&x, (m, n), (k, n), f32::NAN, |x, y| spmm_at(a.view(), x, y));
                assert_close(&y, &want, &scale, "spmm_at");
                reference::spmm_at(
                    a.view(),
                    MatRef::new(&x, m, n).unwrap(),
                    MatMut::new(&mut y, k, n).unwrap(),
                );
                assert_close(&y, &want, &scale, "reference::spmm_at");
            }
        }
    }
}

#[test]
fn transpose_cache_structure() {
    let a = Csr::<f32>::try_new(2, 3, vec![0, 2, 3], vec![0, 2, 1], vec![1.0, 2.0, 3.0]).unwrap();
    let t = CsrTranspose::new(a.pattern().view());
    assert_eq!(t.row_ptr(), &[0, 1, 2, 3]);
    assert_eq!(t.col_idx(), &[0, 1, 0]);
    assert_eq!(t.perm(), &[0, 2, 1]);
    assert_eq!(t.gather_values(a.values()), vec![1.0, 3.0, 2.0]);
}

#[test]
fn dimension_mismatches_are_errors() {
    let a = Csr::<f32>::try_new(4, 5, vec![0, 1, 2, 3, 4], vec![0, 1, 2, 3], vec![1.0; 4]).unwrap();
    let x = vec![0.0f32; 6 * 3];
    let mut y = vec![0.0f32; 4 * 3];
    let e = spmm(
        a.view(),
        MatRef::new(&x, 6, 3).unwrap(),
        MatMut::new(&mut y, 4, 3).unwrap(),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "spmm: A is 4×5 but X has 6 rows");
    let x = vec![0.0f32; 5 * 3];
    let e = spmm(
        a.view(),
        MatRef::new(&x, 5, 3).unwrap(),
        MatMut::new(&mut y, 3, 4).unwrap(),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "spmm: Y is 3×4 but A·X is 4×3");
    // spmm_t: X batch×k must match W m×k.
    let xb = vec![0.0f32; 2 * 4];
    let mut yb = vec![0.0f32; 2 * 4];
    let e = spmm_t(
        MatRef::new(&xb, 2, 4).unwrap(),
        a.view(),
        MatMut::new(&mut yb, 2, 4).unwrap(),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "spmm_t: X is 2×4 but W is 4×5");
    let xb = vec![0.0f32; 2 * 5];
    let e = spmm_t_bias(
        MatRef::new(&xb, 2, 5).unwrap(),
        a.view(),
        Some(&[0.0; 3]),
        MatMut::new(&mut yb, 2, 4).unwrap(),
    )
    .unwrap_err();
    assert!(
        matches!(e, KernelError::ShapeMismatch { op: "spmm_t", .. }),
        "{e}"
    );
    // spmm_at: X must have m rows; Y k×n.
    let x = vec![0.0f32; 5 * 2];
    let mut y = vec![0.0f32; 5 * 2];
    let e = spmm_at(
        a.view(),
        MatRef::new(&x, 5, 2).unwrap(),
        MatMut::new(&mut y, 5, 2).unwrap(),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "spmm_at: A is 4×5 but X has 5 rows");
    let other = Csr::<f32>::try_new(4, 5, vec![0, 0, 0, 0, 1], vec![0], vec![1.0]).unwrap();
    let t = CsrTranspose::new(other.pattern().view());
    let x = vec![0.0f32; 4 * 2];
    let e = spmm_at_cached(
        &t,
        a.view(),
        MatRef::new(&x, 4, 2).unwrap(),
        MatMut::new(&mut y, 5, 2).unwrap(),
    )
    .unwrap_err();
    assert!(matches!(e, KernelError::PatternMismatch { .. }), "{e}");
    // Dense views.
    assert!(matches!(
        MatRef::new(&x, 3, 3),
        Err(KernelError::BufferTooShort {
            needed: 9,
            got: 8,
            ..
        })
    ));
    assert!(matches!(
        MatRef::with_stride(&x, 2, 3, 2),
        Err(KernelError::InvalidStride { .. })
    ));
    assert!(MatRef::with_stride(&x, 2, 3, 5).is_ok()); // 5 + 3 = 8 elements suffice
    assert!(MatRef::<f32>::new(&[], 0, 7).is_ok());
    assert!(matches!(
        MatRef::with_stride(&x, usize::MAX, 2, usize::MAX),
        Err(KernelError::SizeOverflow { .. })
    ));
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let mut r = rng(7);
    let (m, k, n) = (700, 600, 72);
    let a = random_csr(&mut r, m, k, 0.1);
    let x = dense_vec(&mut r, k * n);
    let xt = dense_vec(&mut r, n * k);
    let xa = dense_vec(&mut r, m * n);
    let t = CsrTranspose::new(a.pattern().view());
    let run = || {
        let mut y1 = vec![0.0; m * n];
        spmm(
            a.view(),
            MatRef::new(&x, k, n).unwrap(),
            MatMut::new(&mut y1, m, n).unwrap(),
        )
        .unwrap();
        let mut y2 = vec![0.0; n * m];
        spmm_t_bias(
            MatRef::new(&xt, n, k).unwrap(),
            a.view(),
            None,
            MatMut::new(&mut y2, n, m).unwrap(),
        )
        .unwrap();
        let mut y3 = vec![0.0; k * n];
        spmm_at_cached(
            &t,
            a.view(),
            MatRef::new(&xa, m, n).unwrap(),
            MatMut::new(&mut y3, k, n).unwrap(),
        )
        .unwrap();
        (y1, y2, y3)
    };
    let one = in_pool(1, run);
    for threads in [2, 3, 8] {
        let many = in_pool(threads, run);
        assert_eq!(bits(&one.0), bits(&many.0), "spmm, {threads} threads");
        assert_eq!(bits(&one.1), bits(&many.1), "spmm_t, {threads} threads");
        assert_eq!(bits(&one.2), bits(&many.2), "spmm_at, {threads} threads");
    }
}
