//! bsr_spmm / bsr_spmm_t / nm_spmm / nm_spmm_t / nm_sddmm against dense f64 references on fresh
//! random inputs, every ISA against `Isa::Scalar`, error cases and thread-count independence.

mod common;
use common::*;

use rand::rngs::StdRng;
use sparsekit_formats::{Bsr, NM};
use sparsekit_kernels::*;

const BLOCKS: &[(usize, usize)] = &[(1, 1), (2, 3), (4, 4), (16, 16), (3, 5)];
const NMS: &[(usize, usize)] = &[(1, 4), (2, 4), (2, 8), (4, 8)];
const NSET: &[usize] = &[0, 1, 7, 8, 9, 16, 17, 63, 64, 65];
/// Block grids (block rows, block columns, block density): m or k of 0 and of one block, empty
/// block rows (block row 0 is always empty when there are 2+), nnz = 0 (density 0).
const GRIDS: &[(usize, usize, f64)] = &[
    (0, 3, 0.5),
    (3, 0, 0.5),
    (0, 0, 0.5),
    (1, 1, 1.0),
    (1, 4, 0.5),
    (4, 1, 0.7),
    (5, 6, 0.4),
    (3, 4, 0.0),
    (7, 9, 0.25),
];

fn dense_of(d: Vec<f32>) -> Vec<f64> {
    to_f64(&d)
}

/// `(X·Wᵀ + b)` reference: X n×k, W m×k → n×m, plus the scale for the tolerance.
fn linear_ref(
    w: &[f64],
    x: &[f32],
    bias: &[f32],
    m: usize,
    k: usize,
    n: usize,
) -> (Vec<f64>, Vec<f64>) {
    let (wx, s) = matmul_f64(w, &to_f64(&transpose(x, n, k)), m, k, n); // m×n
    let mut y = transpose(&wx, m, n);
    let mut sc = transpose(&s, m, n);
    for t in 0..n {
        for i in 0..m {
            y[t * m + i] += bias[i] as f64;
            sc[t * m + i] += (bias[i] as f64).abs();
        }
    }
    (y, sc)
}

/// Runs `run` on `Isa::Scalar` and on every available ISA and checks each result against the f64
/// reference and the scalar one — the loop every structured-kernel test shares. Returns the cases.
#[track_caller]
fn check_every_isa(
    len: usize,
    want: &[f64],
    scale: &[f64],
    what: impl Fn(Isa) -> String,
    mut run: impl FnMut(Isa, &mut [f32]),
) -> usize {
    let mut scalar = vec![f32::NAN; len];
    run(Isa::Scalar, &mut scalar);
    let mut cases = 0;
    for isa in Isa::available() {
        let mut got = vec![f32::NAN; len];
        run(isa, &mut got);
        let what = what(isa);
        assert_close(&got, want, scale, &what);
        assert_close(&got, &to_f64(&scalar), scale, &format!("{what} vs scalar"));
        cases += 1;
    }
    cases
}

/// `Y = A·X` (A m×k given densely as `ad`, fresh random X k×n) through `spmm_isa` on every ISA;
/// shared by the BSR and N:M tests. `op`/`tag` name the kernel and its block / N:M shape.
#[track_caller]
fn check_spmm_every_isa(
    rg: &mut StdRng,
    ad: &[f64],
    (m, k, n): (usize, usize, usize),
    op: &str,
    tag: &str,
    spmm_isa: impl Fn(Isa, MatRef<'_, f32>, MatMut<'_, f32>) -> Result<(), KernelError>,
) -> usize {
    let x = dense_vec(rg, k * n);
    let (want, scale) = matmul_f64(ad, &to_f64(&x), m, k, n);
    check_every_isa(
        m * n,
        &want,
        &scale,
        |isa| format!("{op} {isa:?} {tag} {m}×{k}×{n}"),
        |isa, y| {
            spmm_isa(
                isa,
                MatRef::new(&x, k, n).unwrap(),
                MatMut::new(y, m, n).unwrap(),
            )
            .unwrap()
        },
    )
}

/// `Y = X·Wᵀ (+ bias)` (W m×k given densely as `ad`, fresh random X n×k and bias) through
/// `spmm_t_isa` on every ISA and through the default-ISA `spmm_t`, without and with bias; shared
/// by the BSR and N:M tests. `op`/`tag` name the kernel and its block / N:M shape.
#[track_caller]
fn check_spmm_t_every_isa(
    rg: &mut StdRng,
    ad: &[f64],
    (m, k, n): (usize, usize, usize),
    op: &str,
    tag: &str,
    spmm_t_isa: impl Fn(
        Isa,
        MatRef<'_, f32>,
        Option<&[f32]>,
        MatMut<'_, f32>,
    ) -> Result<(), KernelError>,
    spmm_t: impl Fn(MatRef<'_, f32>, Option<&[f32]>, MatMut<'_, f32>) -> Result<(), KernelError>,
) -> usize {
    let xt = dense_vec(rg, n * k);
    let bias = dense_vec(rg, m);
    let zero = vec![0.0f32; m];
    let mut cases = 0;
    for b in [None, Some(&bias[..])] {
        let (want, scale) = linear_ref(ad, &xt, b.unwrap_or(&zero), m, k, n);
        cases += check_every_isa(
            n * m,
            &want,
            &scale,
            |isa| format!("{op} {isa:?} {tag} {m}×{k}×{n} bias {}", b.is_some()),
            |isa, y| {
                spmm_t_isa(
                    isa,
                    MatRef::new(&xt, n, k).unwrap(),
                    b,
                    MatMut::new(y, n, m).unwrap(),
                )
                .unwrap()
            },
        );
        let y = run_dense(&xt, (n, k), (n, m), f32::NAN, |x, y| spmm_t(x, b, y));
        assert_close(&y, &want, &scale, &format!("{op} default"));
    }
    cases
}

#[test]
fn bsr_spmm_and_spmm_t_match_dense_f64_on_every_isa() {
    let mut rg = rng(101);
    let mut cases = 0;
    for &bs in BLOCKS {
        for &(nbr, nbc, d) in GRIDS {
            for &n in NSET {
                let a = random_bsr(&mut rg, nbr, nbc, bs, d);
                let (m, k) = a.shape();
                let ad = dense_of(a.to_dense());
                let tag = format!("{bs:?}");
                cases +=
                    check_spmm_every_isa(&mut rg, &ad, (m, k, n), "bsr_spmm", &tag, |isa, x, y| {
                        bsr_spmm_isa(isa, a.view(), x, y)
                    });
                cases += check_spmm_t_every_isa(
                    &mut rg,
                    &ad,
                    (m, k, n),
                    "bsr_spmm_t",
                    &tag,
                    |isa, x, b, y| bsr_spmm_t_isa(isa, x, a.view(), b, y),
                    |x, b, y| bsr_spmm_t(x, a.view(), b, y),
                );
            }
        }
    }
    assert!(cases > 1000, "{cases}");
}

#[test]
fn bsr_f64_and_u64_index_views() {
    let mut rg = rng(102);
    let a = random_bsr(&mut rg, 6, 5, (4, 4), 0.5);
    let (m, k) = a.shape();
    let (_, _, bs, brp, bci, vals) = a.clone().into_parts();
    let brp64: Vec<u64> = brp.iter().map(|&v| v as u64).collect();
    let bci64: Vec<u64> = bci.iter().map(|&v| v as u64).collect();
    let v64: Vec<f64> = vals.iter().map(|&v| v as f64).collect();
    let a64 = Bsr::<f64, u64>::try_new(m, k, bs, brp64, bci64, v64).unwrap();
    let n = 33;
    let x = dense_vec(&mut rg, k * n);
    let (want, scale) = matmul_f64(&dense_of(a.to_dense()), &to_f64(&x), m, k, n);
    let y = run_dense(&x, (k, n), (m, n), 0.0, |x, y| bsr_spmm(a64.view(), x, y));
    assert_close(&y, &want, &scale, "bsr f64/u64");
}

#[test]
fn nm_spmm_and_spmm_t_match_dense_f64_on_every_isa() {
    let mut rg = rng(103);
    let mut cases = 0;
    for &nm in NMS {
        for &(m, groups) in &[
            (0usize, 3usize),
            (3, 0),
            (0, 0),
            (1, 1),
            (5, 3),
            (9, 1),
            (33, 7),
        ] {
            for &n in NSET {
                let a = random_nm(&mut rg, m, groups, nm);
                let k = a.ncols();
                let ad = dense_of(a.to_dense());
                let tag = format!("{nm:?}");
                cases +=
                    check_spmm_every_isa(&mut rg, &ad, (m, k, n), "nm_spmm", &tag, |isa, x, y| {
                        nm_spmm_isa(isa, a.view(), x, y)
                    });
                cases += check_spmm_t_every_isa(
                    &mut rg,
                    &ad,
                    (m, k, n),
                    "nm_spmm_t",
                    &tag,
                    |isa, x, b, y| nm_spmm_t_isa(isa, x, a.view(), b, y),
                    |x, b, y| nm_spmm_t(x, a.view(), b, y),
                );
            }
        }
    }
    assert!(cases > 500, "{cases}");
}

#[test]
fn nm_sddmm_matches_dense_f64_on_every_isa() {
    let mut rg = rng(104);
    for &nm in NMS {
        for &(m, groups) in &[(0usize, 3usize), (3, 0), (1, 1), (5, 3), (33, 7)] {
            for &n in NSET {
                let w = random_nm(&mut rg, m, groups, nm);
                let k = w.ncols();
                let dy = dense_vec(&mut rg, n * m);
                let x = dense_vec(&mut rg, n * k);
                // want[p] = Σ_b dY[b,i]·X[b,j] at stored (i, j).
                let per_row = groups * nm.0;
                let mut want = vec![0.0f64; w.values().len()];
                let mut scale = vec![0.0f64; w.values().len()];
                for (p, &o) in w.offsets().iter().enumerate() {
                    let i = p / per_row.max(1);
                    let j = (p % per_row) / nm.0 * nm.1 + o as usize;
                    for b in 0..n {
                        let t = dy[b * m + i] as f64 * x[b * k + j] as f64;
                        want[p] += t;
                        scale[p] += t.abs();
                    }
                }
                check_every_isa(
                    want.len(),
                    &want,
                    &scale,
                    |isa| format!("nm_sddmm {isa:?} {nm:?} {m}×{k} batch {n}"),
                    |isa, got| {
                        nm_sddmm_isa(
                            isa,
                            MatRef::new(&dy, n, m).unwrap(),
                            MatRef::new(&x, n, k).unwrap(),
                            w.view(),
                            got,
                        )
                        .unwrap()
                    },
                );
            }
        }
    }
}

#[test]
fn structured_shape_mismatches_are_errors() {
    let mut rg = rng(105);
    let a = random_bsr(&mut rg, 3, 2, (4, 4), 0.6); // 12×8
    let w = random_nm(&mut rg, 6, 2, (2, 4)); // 6×8
    let x = vec![0.0f32; 1000];
    let mut y = vec![0.0f32; 1000];
    let err = |r: Result<(), KernelError>| {
        assert!(matches!(r, Err(KernelError::ShapeMismatch { .. })), "{r:?}")
    };
    // X rows ≠ k, Y shape wrong.
    err(bsr_spmm(
        a.view(),
        MatRef::new(&x, 7, 2).unwrap(),
        MatMut::new(&mut y, 12, 2).unwrap(),
    ));
    err(bsr_spmm(
        a.view(),
        MatRef::new(&x, 8, 2).unwrap(),
        MatMut::new(&mut y, 12, 3).unwrap(),
    ));
    err(bsr_spmm(
        a.view(),
        MatRef::new(&x, 8, 2).unwrap(),
        MatMut::new(&mut y, 11, 2).unwrap(),
    ));
    err(bsr_spmm_t(
        MatRef::new(&x, 2, 7).unwrap(),
        a.view(),
        None,
        MatMut::new(&mut y, 2, 12).unwrap(),
    ));
    err(bsr_spmm_t(
        MatRef::new(&x, 2, 8).unwrap(),
        a.view(),
        None,
        MatMut::new(&mut y, 2, 11).unwrap(),
    ));
    err(bsr_spmm_t(
        MatRef::new(&x, 2, 8).unwrap(),
        a.view(),
        Some(&[0.0; 11]),
        MatMut::new(&mut y, 2, 12).unwrap(),
    ));
    err(nm_spmm(
        w.view(),
        MatRef::new(&x, 9, 2).unwrap(),
        MatMut::new(&mut y, 6, 2).unwrap(),
    ));
    err(nm_spmm(
        w.view(),
        MatRef::new(&x, 8, 2).unwrap(),
        MatMut::new(&mut y, 6, 1).unwrap(),
    ));
    err(nm_spmm_t(
        MatRef::new(&x, 2, 9).unwrap(),
        w.view(),
        None,
        MatMut::new(&mut y, 2, 6).unwrap(),
    ));
    err(nm_spmm_t(
        MatRef::new(&x, 2, 8).unwrap(),
        w.view(),
        None,
        MatMut::new(&mut y, 3, 6).unwrap(),
    ));
    err(nm_spmm_t(
        MatRef::new(&x, 2, 8).unwrap(),
        w.view(),
        Some(&[0.0; 7]),
        MatMut::new(&mut y, 2, 6).unwrap(),
    ));
    let mut out = vec![0.0f32; w.values().len()];
    err(nm_sddmm(
        MatRef::new(&x, 2, 5).unwrap(),
        MatRef::new(&x, 2, 8).unwrap(),
        w.view(),
        &mut out,
    ));
    err(nm_sddmm(
        MatRef::new(&x, 2, 6).unwrap(),
        MatRef::new(&x, 3, 8).unwrap(),
        w.view(),
        &mut out,
    ));
    err(nm_sddmm(
        MatRef::new(&x, 2, 6).unwrap(),
        MatRef::new(&x, 2, 4).unwrap(),
        w.view(),
        &mut out,
    ));
    let mut short = vec![0.0f32; out.len() - 1];
    err(nm_sddmm(
        MatRef::new(&x, 2, 6).unwrap(),
        MatRef::new(&x, 2, 8).unwrap(),
        w.view(),
        &mut short,
    ));
    // The same calls with matching shapes succeed.
    bsr_spmm(
        a.view(),
        MatRef::new(&x, 8, 2).unwrap(),
        MatMut::new(&mut y, 12, 2).unwrap(),
    )
    .unwrap();
    nm_sddmm(
        MatRef::new(&x, 2, 6).unwrap(),
        MatRef::new(&x, 2, 8).unwrap(),
        w.view(),
        &mut out,
    )
    .unwrap();
}

#[test]
fn structured_results_do_not_depend_on_thread_count() {
    let mut rg = rng(106);
    let n = 72;
    let bsrs: Vec<Bsr<f32>> = [(16, 16), (4, 4), (3, 5)]
        .iter()
        .map(|&bs| random_bsr(&mut rg, 480 / bs.0, 480 / bs.1, bs, 0.3))
        .collect();
    let nms: Vec<NM<f32>> = NMS
        .iter()
        .map(|&nm| random_nm(&mut rg, 400, 480 / nm.1, nm))
        .collect();
    let x = dense_vec(&mut rg, 480 * n);
    let dy = dense_vec(&mut rg, n * 400);
    let bias = dense_vec(&mut rg, 480);
    let run = || {
        let mut outs: Vec<Vec<u32>> = vec![];
        for a in &bsrs {
            let (m, k) = a.shape();
            let y = run_dense(&x[..k * n], (k, n), (m, n), 0.0, |x, y| {
                bsr_spmm(a.view(), x, y)
            });
            outs.push(bits(&y));
            let y = run_dense(&x[..n * k], (n, k), (n, m), 0.0, |x, y| {
                bsr_spmm_t(x, a.view(), Some(&bias[..m]), y)
            });
            outs.push(bits(&y));
        }
        for w in &nms {
            let (m, k) = w.shape();
            let y = run_dense(&x[..k * n], (k, n), (m, n), 0.0, |x, y| {
                nm_spmm(w.view(), x, y)
            });
            outs.push(bits(&y));
            let y = run_dense(&x[..n * k], (n, k), (n, m), 0.0, |x, y| {
                nm_spmm_t(x, w.view(), None, y)
            });
            outs.push(bits(&y));
            let mut g = vec![0.0; w.values().len()];
            nm_sddmm(
                MatRef::new(&dy, n, m).unwrap(),
                MatRef::new(&x[..n * k], n, k).unwrap(),
                w.view(),
                &mut g,
            )
            .unwrap();
            outs.push(bits(&g));
        }
        outs
    };
    let one = in_pool(1, run);
    for threads in [2, 3, 8] {
        let many = in_pool(threads, run);
        for (t, (a, b)) in one.iter().zip(&many).enumerate() {
            assert!(a == b, "output {t} differs with {threads} threads");
        }
    }
}

/// A batch larger than one chunk of the `X·Wᵀ` kernels (k = 2048: 128 rows per chunk; 300 rows
/// = two full chunks and a partial one): CSR, BSR and N:M `X·Wᵀ + b` equal the dense reference,
/// and every batch row equals the same row computed alone (bit for bit: chunking changes no sum).
#[test]
fn x_wt_kernels_over_batches_of_several_chunks() {
    let mut rg = rng(107);
    let (m, k, n) = (24usize, 2048usize, 300usize);
    let x = dense_vec(&mut rg, n * k);
    let bias = dense_vec(&mut rg, m);
    let csr = random_csr(&mut rg, m, k, 0.3);
    let bsr = random_bsr(&mut rg, m / 4, k / 4, (4, 4), 0.4);
    let nm = random_nm(&mut rg, m, k / 4, (2, 4));
    type Run<'a> = Box<dyn Fn(MatRef<'_, f32>, MatMut<'_, f32>) + 'a>;
    let runs: [(&str, Vec<f64>, Run); 3] = [
        (
            "spmm_t",
            to_dense_f64(&csr),
            Box::new(|x, y| spmm_t_bias(x, csr.view(), Some(&bias), y).unwrap()),
        ),
        (
            "bsr_spmm_t",
            dense_of(bsr.to_dense()),
            Box::new(|x, y| bsr_spmm_t(x, bsr.view(), Some(&bias), y).unwrap()),
        ),
        (
            "nm_spmm_t",
            dense_of(nm.to_dense()),
            Box::new(|x, y| nm_spmm_t(x, nm.view(), Some(&bias), y).unwrap()),
        ),
    ];
    for (op, w, run) in runs {
        let mut y = vec![0.0f32; n * m];
        run(
            MatRef::new(&x, n, k).unwrap(),
            MatMut::new(&mut y, n, m).unwrap(),
        );
        let (want, scale) = linear_ref(&w, &x, &bias, m, k, n);
        assert_close(&y, &want, &scale, op);
        for t in [0, 127, 128, 255, 256, 299] {
            let mut row = vec![0.0f32; m];
            run(
                MatRef::new(&x[t * k..(t + 1) * k], 1, k).unwrap(),
                MatMut::new(&mut row, 1, m).unwrap(),
            );
            assert_eq!(bits(&row), bits(&y[t * m..(t + 1) * m]), "{op} row {t}");
        }
    }
}
