//! Half-precision operands and outputs (bf16, f16) for every product kernel: CSR `spmm`,
//! `spmm_with`, `spmm_t`, `spmm_at`, `sddmm`, `sddmm_linear`; BSR `bsr_spmm`, `bsr_spmm_t`;
//! N:M `nm_spmm`, `nm_spmm_t`, `nm_sddmm` — on every ISA this CPU has.
//!
//! The error bound tested: the half inputs are exact in f64 and the product of two of them is
//! exact in f32 (8 + 8 or 11 + 11 significant bits ≤ 24), so the only error is the f32
//! accumulation: `|y − y₆₄| ≤ 1e-5 · Σ|a·x|` per element (the f32 kernels' bound; the worst
//! row here has 300 terms). With bf16 values and a bf16 `X` the AVX512-BF16 path (`vdpbf16ps`)
//! sums two products per instruction — the same bound holds. A half output must be exactly the
//! f32 result rounded to nearest even (bitwise).

mod common;
use common::*;

use half::{bf16, f16};
use sparsekit_formats::{Csr, Scalar};
use sparsekit_kernels::sddmm::{sddmm_isa, sddmm_linear_isa};
use sparsekit_kernels::spmm::{spmm_at_isa, spmm_isa, spmm_t_isa};
use sparsekit_kernels::*;

fn shapes() -> Vec<(usize, usize, f64)> {
    vec![
        (0, 5, 0.5),
        (5, 0, 0.5),
        (1, 1, 1.0),
        (3, 1, 0.7),
        (17, 23, 0.3),
        (33, 70, 0.1),
        (8, 8, 0.0),
        (40, 300, 0.05),
    ]
}

/// Column counts: every remainder path, and the even panels (32, 64, 96) the bf16 pair path takes.
const HALF_NS: &[usize] = &[0, 1, 7, 16, 17, 32, 63, 64, 65, 96, 200];

fn round<X: Scalar>(v: &[f32]) -> Vec<X> {
    v.iter().map(|&f| X::from_f32(f)).collect()
}

fn exact<X: Scalar>(v: &[X]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

/// `a` with its values rounded to `T`, and the rounded values as an exact f64 dense matrix.
fn rounded_csr<T: Scalar>(a: &Csr<f32>) -> (Csr<T>, Vec<f64>) {
    let at = a.cast::<T>();
    let back = at.cast::<f64>();
    let (m, k) = a.shape();
    let mut d = vec![0.0; m * k];
    for i in 0..m {
        for p in back.row_ptr()[i] as usize..back.row_ptr()[i + 1] as usize {
            d[i * k + back.col_idx()[p] as usize] = back.values()[p];
        }
    }
    (at, d)
}

#[track_caller]
fn assert_rounded<Y: Scalar>(half: &[Y], full: &[f32], what: &str) {
    for (e, (h, &f)) in half.iter().zip(full).enumerate() {
        let want = Y::from_f32(f);
        assert!(
            h.to_f64().to_bits() == want.to_f64().to_bits() || (f.is_nan() && h.to_f64().is_nan()),
            "{what}: element {e}: half output {h:?} is not the rounded f32 {f} ({want:?})"
        );
    }
}

/// CSR `spmm` with values `T` and operand `X`: f32 output vs the f64 reference on every ISA;
/// bf16 and f16 outputs equal the rounded f32 output.
fn spmm_case<T: Scalar, X: Element>(seed: u64) -> usize {
    let mut r = rng(seed);
    let mut cases = 0;
    for (m, k, d) in shapes() {
        for &n in HALF_NS {
            let (a, ad) = rounded_csr::<T>(&random_csr(&mut r, m, k, d));
            let x: Vec<X> = round(&dense_vec(&mut r, k * n));
            let (want, scale) = matmul_f64(&ad, &exact(&x), m, k, n);
            for isa in Isa::available() {
                let what = format!("spmm {}×{} {isa:?} {m}×{k}×{n}", T::NAME, X::NAME);
                let xr = MatRef::new(&x, k, n).unwrap();
                let mut y = vec![f32::NAN; m * n];
                spmm_isa(
                    isa,
                    1.0,
                    a.view(),
                    xr,
                    0.0,
                    MatMut::new(&mut y, m, n).unwrap(),
                )
                .unwrap();
                assert_close(&y, &want, &scale, &what);
                let mut yb = vec![bf16::NAN; m * n];
                spmm_isa(
                    isa,
                    1.0,
                    a.view(),
                    xr,
                    0.0,
                    MatMut::new(&mut yb, m, n).unwrap(),
                )
                .unwrap();
                assert_rounded(&yb, &y, &what);
                let mut yh = vec![f16::NAN; m * n];
                spmm_isa(
                    isa,
                    1.0,
                    a.view(),
                    xr,
                    0.0,
                    MatMut::new(&mut yh, m, n).unwrap(),
                )
                .unwrap();
                assert_rounded(&yh, &y, &what);
                cases += 1;
            }
        }
    }
    cases
}

#[test]
fn csr_spmm_half_operands_match_f64_on_every_isa() {
    let mut cases = 0;
    cases += spmm_case::<bf16, bf16>(1);
    cases += spmm_case::<f16, f16>(2);
    cases += spmm_case::<f32, bf16>(3);
    cases += spmm_case::<bf16, f16>(4);
    cases += spmm_case::<f16, bf16>(5);
    assert!(cases > 300, "{cases}");
}

#[test]
fn spmm_with_half_output_reads_the_old_half_y() {
    let mut r = rng(10);
    let (m, k, n) = (19, 40, 33);
    let (a, ad) = rounded_csr::<bf16>(&random_csr(&mut r, m, k, 0.3));
    let x: Vec<bf16> = round(&dense_vec(&mut r, k * n));
    let y0: Vec<bf16> = round(&dense_vec(&mut r, m * n));
    let (ax, scale) = matmul_f64(&ad, &exact(&x), m, k, n);
    for isa in Isa::available() {
        let mut y = y0.clone();
        let xr = MatRef::new(&x, k, n).unwrap();
        spmm_isa(
            isa,
            0.5,
            a.view(),
            xr,
            -2.0,
            MatMut::new(&mut y, m, n).unwrap(),
        )
        .unwrap();
        // The f32 twin: the same old Y widened, then rounded once at the end.
        let mut yf: Vec<f32> = y0.iter().map(|v| v.to_f32()).collect();
        spmm_isa(
            isa,
            0.5,
            a.view(),
            xr,
            -2.0,
            MatMut::new(&mut yf, m, n).unwrap(),
        )
        .unwrap();
        assert_rounded(&y, &yf, &format!("spmm_with bf16 out {isa:?}"));
        let want: Vec<f64> = ax
            .iter()
            .zip(&y0)
            .map(|(v, o)| 0.5 * v - 2.0 * o.to_f64())
            .collect();
        let sc: Vec<f64> = scale
            .iter()
            .zip(&y0)
            .map(|(s, o)| 0.5 * s + 2.0 * o.to_f64().abs())
            .collect();
        assert_close(&yf, &want, &sc, &format!("spmm_with {isa:?}"));
    }
}

/// `spmm_t` (`Y = X·Wᵀ + b`) and `spmm_at` (`Aᵀ·X`) with half operands.
fn linear_case<T: Scalar, X: Element>(seed: u64) {
    let mut r = rng(seed);
    for (m, k, d) in shapes() {
        for &nb in &[0usize, 1, 9, 64, 130] {
            let (w, wd) = rounded_csr::<T>(&random_csr(&mut r, m, k, d));
            let x: Vec<X> = round(&dense_vec(&mut r, nb * k));
            let bias = dense_vec(&mut r, m);
            // X·Wᵀ = (W·Xᵀ)ᵀ.
            let (wxt, scale) = matmul_f64(&wd, &transpose(&exact(&x), nb, k), m, k, nb);
            let want: Vec<f64> = transpose(&wxt, m, nb)
                .iter()
                .enumerate()
                .map(|(e, v)| v + bias[e % m.max(1)] as f64)
                .collect();
            let sc: Vec<f64> = transpose(&scale, m, nb)
                .iter()
                .enumerate()
                .map(|(e, s)| s + (bias[e % m.max(1)] as f64).abs())
                .collect();
            for isa in Isa::available() {
                let what = format!("spmm_t {}×{} {isa:?} {nb}×{k}·({m}×{k})ᵀ", T::NAME, X::NAME);
                let mut y = vec![f32::NAN; nb * m];
                let xr = MatRef::new(&x, nb, k).unwrap();
                spmm_t_isa(
                    isa,
                    xr,
                    w.view(),
                    Some(&bias),
                    MatMut::new(&mut y, nb, m).unwrap(),
                )
                .unwrap();
                assert_close(&y, &want, &sc, &what);
                let mut yb = vec![bf16::NAN; nb * m];
                spmm_t_isa(
                    isa,
                    xr,
                    w.view(),
                    Some(&bias),
                    MatMut::new(&mut yb, nb, m).unwrap(),
                )
                .unwrap();
                assert_rounded(&yb, &y, &what);
            }
            // Aᵀ·X: X is m × nb here.
            let xa: Vec<X> = round(&dense_vec(&mut r, m * nb));
            let (want, scale) = matmul_f64(&transpose(&wd, m, k), &exact(&xa), k, m, nb);
            let t = CsrTranspose::new(w.pattern().view());
            for isa in Isa::available() {
                let mut y = vec![f32::NAN; k * nb];
                spmm_at_isa(
                    isa,
                    &t,
                    w.view(),
                    MatRef::new(&xa, m, nb).unwrap(),
                    MatMut::new(&mut y, k, nb).unwrap(),
                )
                .unwrap();
                assert_close(&y, &want, &scale, &format!("spmm_at {} {isa:?}", X::NAME));
            }
        }
    }
}

#[test]
fn csr_spmm_t_and_spmm_at_half_operands() {
    linear_case::<bf16, bf16>(20);
    linear_case::<f16, f16>(21);
    linear_case::<f32, bf16>(22);
}

/// `sddmm` (`A·Bᵀ` at a pattern) and `sddmm_linear` (`dYᵀ·X` at a pattern) with half inputs.
fn sddmm_case<X: Element>(seed: u64) {
    let mut r = rng(seed);
    for (m, k, dens) in shapes() {
        for &d in &[0usize, 1, 7, 16, 33, 64, 100] {
            let p = random_csr(&mut r, m, k, dens);
            let pat = p.pattern();
            let a: Vec<X> = round(&dense_vec(&mut r, m * d));
            let b: Vec<X> = round(&dense_vec(&mut r, k * d));
            let (ad, bd) = (exact(&a), exact(&b));
            let (mut want, mut scale) = (vec![], vec![]);
            for i in 0..m {
                for q in p.row_ptr()[i] as usize..p.row_ptr()[i + 1] as usize {
                    let j = p.col_idx()[q] as usize;
                    let terms = (0..d).map(|t| ad[i * d + t] * bd[j * d + t]);
                    want.push(terms.clone().sum::<f64>());
                    scale.push(terms.map(f64::abs).sum::<f64>());
                }
            }
            for isa in Isa::available() {
                let what = format!("sddmm {} {isa:?} {m}×{k} d={d}", X::NAME);
                let mut out = vec![f32::NAN; p.nnz()];
                let (ar, br) = (
                    MatRef::new(&a, m, d).unwrap(),
                    MatRef::new(&b, k, d).unwrap(),
                );
                sddmm_isa(isa, ar, br, pat.view(), &mut out).unwrap();
                assert_close(&out, &want, &scale, &what);
                let mut outb = vec![bf16::NAN; p.nnz()];
                sddmm_isa(isa, ar, br, pat.view(), &mut outb).unwrap();
                assert_rounded(&outb, &out, &what);
                // sddmm_linear(dY, X) with dY = Aᵀ (d × m) and X = Bᵀ (d × k): the same values.
                let (at, bt) = (transpose(&a, m, d), transpose(&b, k, d));
                let mut lin = vec![f32::NAN; p.nnz()];
                sddmm_linear_isa(
                    isa,
                    MatRef::new(&at, d, m).unwrap(),
                    MatRef::new(&bt, d, k).unwrap(),
                    pat.view(),
                    &mut lin,
                )
                .unwrap();
                assert_close(&lin, &want, &scale, &format!("sddmm_linear {what}"));
            }
        }
    }
}

#[test]
fn sddmm_and_sddmm_linear_half_inputs() {
    sddmm_case::<bf16>(30);
    sddmm_case::<f16>(31);
}

/// BSR and N:M products with half values and operands.
fn structured_case<T: Scalar, X: Element>(seed: u64) {
    let mut r = rng(seed);
    for &(r_, c_) in &[(1usize, 1usize), (2, 2), (4, 4), (16, 16), (8, 16)] {
        for &(nbr, nbc, dens) in &[(0usize, 3usize, 0.5), (3, 4, 0.5), (5, 7, 0.3), (1, 1, 1.0)] {
            let b = random_bsr(&mut r, nbr, nbc, (r_, c_), dens);
            let (m, k) = b.shape();
            let bt = b.cast::<T>();
            let bd: Vec<f64> = bt.to_dense().iter().map(|v| v.to_f64()).collect();
            for &n in &[0usize, 1, 17, 32, 64, 65] {
                let x: Vec<X> = round(&dense_vec(&mut r, k * n));
                let (want, scale) = matmul_f64(&bd, &exact(&x), m, k, n);
                for isa in Isa::available() {
                    let what = format!("bsr {r_}×{c_} {}×{} {isa:?} n={n}", T::NAME, X::NAME);
                    let mut y = vec![f32::NAN; m * n];
                    bsr_spmm_isa(
                        isa,
                        bt.view(),
                        MatRef::new(&x, k, n).unwrap(),
                        MatMut::new(&mut y, m, n).unwrap(),
                    )
                    .unwrap();
                    assert_close(&y, &want, &scale, &what);
                    // Y = X·Wᵀ with X = n × k.
                    let xt: Vec<X> = transpose(&x, k, n);
                    let mut yt = vec![f32::NAN; n * m];
                    bsr_spmm_t_isa(
                        isa,
                        MatRef::new(&xt, n, k).unwrap(),
                        bt.view(),
                        None,
                        MatMut::new(&mut yt, n, m).unwrap(),
                    )
                    .unwrap();
                    let y_t = transpose(&y, m, n);
                    assert_close(
                        &yt,
                        &transpose(&want, m, n),
                        &transpose(&scale, m, n),
                        &what,
                    );
                    let _ = y_t;
                }
            }
        }
    }
    for &(nn, mm) in &[(2usize, 4usize), (1, 4), (4, 8)] {
        for &(m, groups) in &[(0usize, 2usize), (9, 5), (16, 8)] {
            let a32 = random_nm(&mut r, m, groups, (nn, mm));
            let a = sparsekit_formats::NM::<T>::try_new(
                m,
                groups * mm,
                nn,
                mm,
                round(a32.values()),
                a32.offsets().to_vec(),
            )
            .unwrap();
            let k = groups * mm;
            let ad: Vec<f64> = a.to_dense().iter().map(|v| v.to_f64()).collect();
            for &n in &[1usize, 17, 64] {
                let x: Vec<X> = round(&dense_vec(&mut r, k * n));
                let (want, scale) = matmul_f64(&ad, &exact(&x), m, k, n);
                for isa in Isa::available() {
                    let what = format!("nm {nn}:{mm} {}×{} {isa:?} n={n}", T::NAME, X::NAME);
                    let mut y = vec![f32::NAN; m * n];
                    nm_spmm_isa(
                        isa,
                        a.view(),
                        MatRef::new(&x, k, n).unwrap(),
                        MatMut::new(&mut y, m, n).unwrap(),
                    )
                    .unwrap();
                    assert_close(&y, &want, &scale, &what);
                    let xt: Vec<X> = transpose(&x, k, n);
                    let mut yt = vec![f32::NAN; n * m];
                    nm_spmm_t_isa(
                        isa,
                        MatRef::new(&xt, n, k).unwrap(),
                        a.view(),
                        None,
                        MatMut::new(&mut yt, n, m).unwrap(),
                    )
                    .unwrap();
                    assert_close(
                        &yt,
                        &transpose(&want, m, n),
                        &transpose(&scale, m, n),
                        &what,
                    );
                    // nm_sddmm: dW = dYᵀ·X at the pattern, dY = n × m, X = n × k.
                    let dy: Vec<X> = round(&dense_vec(&mut r, n * m));
                    let (dyd, xd) = (exact(&dy), exact(&xt));
                    let mut dw = vec![f32::NAN; a.values().len()];
                    nm_sddmm_isa(
                        isa,
                        MatRef::new(&dy, n, m).unwrap(),
                        MatRef::new(&xt, n, k).unwrap(),
                        a.view(),
                        &mut dw,
                    )
                    .unwrap();
                    let per_row = groups * nn;
                    for (p, &g) in dw.iter().enumerate() {
                        let (i, j) = (
                            p / per_row,
                            (p % per_row) / nn * mm + a.offsets()[p] as usize,
                        );
                        let terms = (0..n).map(|b| dyd[b * m + i] * xd[b * k + j]);
                        let w: f64 = terms.clone().sum();
                        let s: f64 = terms.map(f64::abs).sum();
                        assert!(
                            (g as f64 - w).abs() <= 1e-5 * s + 1e-30,
                            "nm_sddmm {what} {p}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn bsr_and_nm_half_operands() {
    structured_case::<bf16, bf16>(40);
    structured_case::<f16, f16>(41);
    structured_case::<f32, f16>(42);
}

/// The bf16 × bf16 products are bit-identical for 1, 2 and 3 threads (each output element is
/// summed by one thread in storage order, pairs included).
#[test]
fn half_products_do_not_depend_on_thread_count() {
    let mut r = rng(50);
    let (m, k, n) = (700, 900, 64);
    let (a, _) = rounded_csr::<bf16>(&random_csr(&mut r, m, k, 0.1));
    let x: Vec<bf16> = round(&dense_vec(&mut r, k * n));
    let xt: Vec<bf16> = round(&dense_vec(&mut r, n * k));
    let run = |threads| {
        in_pool(threads, || {
            let mut y = vec![0.0f32; m * n];
            spmm(
                a.view(),
                MatRef::new(&x, k, n).unwrap(),
                MatMut::new(&mut y, m, n).unwrap(),
            )
            .unwrap();
            let mut yt = vec![bf16::ZERO; n * m];
            spmm_t(
                MatRef::new(&xt, n, k).unwrap(),
                a.view(),
                MatMut::new(&mut yt, n, m).unwrap(),
            )
            .unwrap();
            (bits(&y), yt.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
        })
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(3));
}

/// Inf and NaN in a bf16 `X` reach the output as in the f64 reference, also through the pair
/// path (an entry's partner never multiplies a non-finite value of another row).
#[test]
fn non_finite_operands_propagate_like_the_reference() {
    let (m, k, n) = (3, 4, 32);
    // Row 0: entries at columns 0, 1 (a pair); row 1: columns 1, 2, 3 (a pair and a single);
    // row 2: column 3 only.
    let a = Csr::<f32>::try_new(
        m,
        k,
        vec![0, 2, 5, 6],
        vec![0, 1, 1, 2, 3, 3],
        vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    )
    .unwrap();
    let (ab, ad) = rounded_csr::<bf16>(&a);
    let mut xf = vec![1.0f32; k * n];
    xf[n] = f32::INFINITY; // X[1, 0]
    xf[3 * n + 5] = f32::NAN; // X[3, 5]
    let x: Vec<bf16> = round(&xf);
    let (want, _) = matmul_f64(&ad, &exact(&x), m, k, n);
    for isa in Isa::available() {
        let mut y = vec![0.0f32; m * n];
        spmm_isa(
            isa,
            1.0,
            ab.view(),
            MatRef::new(&x, k, n).unwrap(),
            0.0,
            MatMut::new(&mut y, m, n).unwrap(),
        )
        .unwrap();
        for (e, (&g, &w)) in y.iter().zip(&want).enumerate() {
            let same = (g.is_nan() && w.is_nan()) || g as f64 == w;
            assert!(same, "{isa:?} element {e}: got {g}, want {w}");
        }
    }
}

#[test]
fn half_shape_errors_are_typed() {
    let a =
        Csr::<bf16>::try_new(2, 3, vec![0, 1, 2], vec![0, 2], vec![bf16::ONE, bf16::ONE]).unwrap();
    let x = vec![bf16::ONE; 4 * 2];
    let mut y = vec![f16::ZERO; 2 * 2];
    let err = spmm(
        a.view(),
        MatRef::new(&x, 4, 2).unwrap(),
        MatMut::new(&mut y, 2, 2).unwrap(),
    );
    assert!(
        matches!(err, Err(KernelError::ShapeMismatch { .. })),
        "{err:?}"
    );
    let mut out = vec![bf16::ZERO; 1];
    let err = sddmm(
        MatRef::new(&x[..6], 2, 3).unwrap(),
        MatRef::new(&x[..6], 3, 2).unwrap(),
        a.pattern().view(),
        &mut out,
    );
    assert!(err.is_err(), "{err:?}");
}
