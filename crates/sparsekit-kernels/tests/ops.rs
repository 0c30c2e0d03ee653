//! sddmm, sddmm_linear, spmv and top-k against dense f64 references; ISA variants; errors;
//! thread-count independence.

mod common;
use common::*;

use sparsekit_formats::{Csr, CsrPattern};
use sparsekit_kernels::sddmm::{sddmm_isa, sddmm_linear_isa};
use sparsekit_kernels::*;

#[test]
fn sddmm_matches_dense_f64() {
    let mut r = rng(11);
    for &(m, k, dens) in &[
        (0usize, 4usize, 0.5f64),
        (4, 0, 0.5),
        (1, 1, 1.0),
        (9, 13, 0.4),
        (40, 33, 0.2),
        (8, 8, 0.0),
    ] {
        for &d in &[0usize, 1, 7, 8, 9, 17, 33, 64, 65, 129] {
            let pat = random_csr(&mut r, m, k, dens);
            let a = dense_vec(&mut r, m * d);
            let b = dense_vec(&mut r, k * d);
            let (full, scale) = matmul_f64(&to_f64(&a), &transpose(&to_f64(&b), k, d), m, d, k);
            let (mut want, mut sc) = (vec![], vec![]);
            for i in 0..m {
                for p in pat.row_ptr()[i] as usize..pat.row_ptr()[i + 1] as usize {
                    let j = pat.col_idx()[p] as usize;
                    want.push(full[i * k + j]);
                    sc.push(scale[i * k + j]);
                }
            }
            for isa in Isa::available() {
                let mut out = vec![f32::NAN; pat.nnz()];
                sddmm_isa(
                    isa,
                    MatRef::new(&a, m, d).unwrap(),
                    MatRef::new(&b, k, d).unwrap(),
                    pat.pattern().view(),
                    &mut out,
                )
                .unwrap();
                assert_close(&out, &want, &sc, &format!("sddmm {isa:?} {m}×{k} d={d}"));
            }
            let mut out = vec![0.0; pat.nnz()];
            reference::sddmm(
                MatRef::new(&a, m, d).unwrap(),
                MatRef::new(&b, k, d).unwrap(),
                pat.pattern().view(),
                &mut out,
            );
            assert_close(&out, &want, &sc, "reference::sddmm");
        }
    }
}

#[test]
fn sddmm_linear_is_the_weight_gradient() {
    let mut r = rng(12);
    for &(m, k, dens) in &[
        (1usize, 1usize, 1.0f64),
        (13, 29, 0.3),
        (64, 40, 0.1),
        (5, 0, 0.5),
    ] {
        for &nb in &[0usize, 1, 7, 16, 65] {
            let pat = random_csr(&mut r, m, k, dens);
            let dy = dense_vec(&mut r, nb * m);
            let x = dense_vec(&mut r, nb * k);
            // dW = dYᵀ·X (m×k)
            let (full, scale) = matmul_f64(&transpose(&to_f64(&dy), nb, m), &to_f64(&x), m, nb, k);
            let (mut want, mut sc) = (vec![], vec![]);
            for i in 0..m {
                for p in pat.row_ptr()[i] as usize..pat.row_ptr()[i + 1] as usize {
                    let j = pat.col_idx()[p] as usize;
                    want.push(full[i * k + j]);
                    sc.push(scale[i * k + j]);
                }
            }
            for isa in Isa::available() {
                let mut out = vec![f32::NAN; pat.nnz()];
                sddmm_linear_isa(
                    isa,
                    MatRef::new(&dy, nb, m).unwrap(),
                    MatRef::new(&x, nb, k).unwrap(),
                    pat.pattern().view(),
                    &mut out,
                )
                .unwrap();
                assert_close(
                    &out,
                    &want,
                    &sc,
                    &format!("sddmm_linear {isa:?} {m}×{k} batch {nb}"),
                );
            }
            let mut out = vec![0.0; pat.nnz()];
            reference::sddmm_linear(
                MatRef::new(&dy, nb, m).unwrap(),
                MatRef::new(&x, nb, k).unwrap(),
                pat.pattern().view(),
                &mut out,
            );
            assert_close(&out, &want, &sc, "reference::sddmm_linear");
        }
    }
}

#[test]
fn spmv_matches_dense_f64() {
    let mut r = rng(13);
    for &(m, k, dens) in &[
        (0usize, 3usize, 0.5f64),
        (3, 0, 0.5),
        (1, 1, 1.0),
        (17, 23, 0.3),
        (300, 500, 0.05),
        (5, 9, 0.0),
    ] {
        let a = random_csr(&mut r, m, k, dens);
        let x = dense_vec(&mut r, k);
        let (want, scale) = matmul_f64(&to_dense_f64(&a), &to_f64(&x), m, k, 1);
        let mut y = vec![f32::NAN; m];
        spmv(a.view(), &x, &mut y).unwrap();
        assert_close(&y, &want, &scale, "spmv");
        reference::spmv(a.view(), &x, &mut y);
        assert_close(&y, &want, &scale, "reference::spmv");
    }
}

#[test]
fn topk_matches_full_sort() {
    let mut r = rng(14);
    for &(rows, cols) in &[(0usize, 5usize), (1, 1), (3, 10), (17, 300), (64, 2048)] {
        for &k in &[0usize, 1, 2, 5, 32] {
            if k > cols {
                continue;
            }
            // Values with many ties (small integer range) and some mixed magnitudes.
            let x: Vec<f32> = (0..rows * cols)
                .map(|e| {
                    if e % 3 == 0 {
                        mixed(&mut r)
                    } else {
                        ((e * 7919) % 11) as f32 - 5.0
                    }
                })
                .collect();
            let xm = MatRef::new(&x, rows, cols).unwrap();
            let (mut v, mut i) = (vec![0.0; rows * k], vec![0u32; rows * k]);
            let (mut vr, mut ir) = (vec![0.0; rows * k], vec![0u32; rows * k]);
            topk_rows(xm, k, &mut v, &mut i).unwrap();
            reference::topk_rows(xm, k, &mut vr, &mut ir);
            assert_eq!(i, ir, "topk {rows}×{cols} k={k}");
            assert_eq!(v, vr);
            topk_rows_abs(xm, k, &mut v, &mut i).unwrap();
            reference::topk_rows_by(xm, k, f32::abs, &mut vr, &mut ir);
            assert_eq!(i, ir, "topk_abs {rows}×{cols} k={k}");
            assert_eq!(v, vr);
        }
    }
    // NaN of either sign ranks first, -0.0 ties +0.0 (the sparsity vocabulary's rule).
    let x = [
        0.0f32,
        f32::from_bits(0xFFC0_0000),
        -0.0,
        f32::NAN,
        -1.0,
        0.0,
    ];
    let (mut v, mut i) = ([0.0; 4], [0u32; 4]);
    topk_rows(MatRef::new(&x, 1, 6).unwrap(), 4, &mut v, &mut i).unwrap();
    assert_eq!(i, [1, 3, 0, 2]);
    topk_rows_abs(MatRef::new(&x, 1, 6).unwrap(), 4, &mut v, &mut i).unwrap();
    assert_eq!(i, [1, 3, 4, 0]);
    // Ties go to the lower index.
    let x = [1.0f32, 3.0, 3.0, 2.0, 3.0];
    let (mut v, mut i) = ([0.0; 2], [0u32; 2]);
    topk_rows(MatRef::new(&x, 1, 5).unwrap(), 2, &mut v, &mut i).unwrap();
    assert_eq!((v, i), ([3.0, 3.0], [1, 2]));
}

#[test]
fn errors_not_panics() {
    let p = CsrPattern::<u32>::try_new(2, 3, vec![0, 1, 2], vec![0, 2]).unwrap();
    let a = vec![0.0f32; 2 * 4];
    let b = vec![0.0f32; 3 * 5];
    let mut out = vec![0.0; 2];
    let e = sddmm(
        MatRef::new(&a, 2, 4).unwrap(),
        MatRef::new(&b, 3, 5).unwrap(),
        p.view(),
        &mut out,
    )
    .unwrap_err();
    assert!(
        matches!(e, KernelError::ShapeMismatch { op: "sddmm", .. }),
        "{e}"
    );
    let b = vec![0.0f32; 3 * 4];
    let e = sddmm(
        MatRef::new(&a, 2, 4).unwrap(),
        MatRef::new(&b, 3, 4).unwrap(),
        p.view(),
        &mut out[..1],
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "sddmm: out has 1 elements but the pattern has 2 non-zeros"
    );
    let dy = vec![0.0f32; 4 * 2];
    let x = vec![0.0f32; 5 * 3];
    let e = sddmm_linear(
        MatRef::new(&dy, 4, 2).unwrap(),
        MatRef::new(&x, 5, 3).unwrap(),
        p.view(),
        &mut out,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            KernelError::ShapeMismatch {
                op: "sddmm_linear",
                ..
            }
        ),
        "{e}"
    );
    let c = Csr::<f32>::from_pattern(std::sync::Arc::new(p.clone()), vec![1.0, 2.0]).unwrap();
    let e = spmv(c.view(), &[0.0; 2], &mut [0.0; 2]).unwrap_err();
    assert_eq!(e.to_string(), "spmv: A is 2×3 but x has 2 elements");
    assert!(spmv(c.view(), &[0.0; 3], &mut [0.0; 3]).is_err());
    let xs = vec![0.0f32; 6];
    let e = topk_rows(
        MatRef::new(&xs, 2, 3).unwrap(),
        4,
        &mut [0.0; 8],
        &mut [0; 8],
    )
    .unwrap_err();
    assert!(matches!(e, KernelError::InvalidK { k: 4, ncols: 3, .. }));
    assert!(topk_rows(
        MatRef::new(&xs, 2, 3).unwrap(),
        2,
        &mut [0.0; 3],
        &mut [0; 4]
    )
    .is_err());
    assert!(topk_rows(
        MatRef::new(&xs, 2, 3).unwrap(),
        2,
        &mut [0.0; 4],
        &mut [0; 3]
    )
    .is_err());
}

#[test]
fn ops_do_not_depend_on_thread_count() {
    let mut r = rng(15);
    let (m, k, nb) = (500, 400, 64);
    let a = random_csr(&mut r, m, k, 0.1);
    let dy = dense_vec(&mut r, nb * m);
    let x = dense_vec(&mut r, nb * k);
    let xv = dense_vec(&mut r, k);
    let big = dense_vec(&mut r, 64 * 4096);
    let run = || {
        let mut o1 = vec![0.0; a.nnz()];
        sddmm_linear(
            MatRef::new(&dy, nb, m).unwrap(),
            MatRef::new(&x, nb, k).unwrap(),
            a.pattern().view(),
            &mut o1,
        )
        .unwrap();
        let mut o2 = vec![0.0; m];
        spmv(a.view(), &xv, &mut o2).unwrap();
        let (mut v, mut i) = (vec![0.0; 64 * 32], vec![0u32; 64 * 32]);
        topk_rows(MatRef::new(&big, 64, 4096).unwrap(), 32, &mut v, &mut i).unwrap();
        (bits(&o1), bits(&o2), i)
    };
    let one = in_pool(1, run);
    let two = in_pool(2, run);
    assert_eq!(one, two);
}
