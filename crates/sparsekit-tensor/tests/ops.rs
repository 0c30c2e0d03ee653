//! Every op and gradient, on every device: forward vs an f64 reference; gradients vs the same
//! function written with dense burn ops under autodiff, vs the exact f64 gradient, and vs
//! finite differences. Written once, instantiated per device at the bottom.
#![allow(deprecated)]

mod common;

use burn::tensor::{Device, Tensor};
use common::*;
use sparsekit_formats::Csr;
use sparsekit_tensor::{sddmm, spmm, spmm_t, SparseTensor};

fn sparse(a: &Csr<f32>, values: Tensor<1>) -> SparseTensor {
    SparseTensor::from_pattern(a.pattern(), values).unwrap()
}

fn grad1(t: &Tensor<1>, g: &burn::tensor::Gradients, len: usize, device: &Device) -> Vec<f32> {
    t.grad(g).map(host).unwrap_or_else(|| {
        let _ = device;
        vec![0.0; len]
    })
}

fn grad2(t: &Tensor<2>, g: &burn::tensor::Gradients, len: usize) -> Vec<f32> {
    t.grad(g).map(host).unwrap_or_else(|| vec![0.0; len])
}

// ---------------------------------------------------------------- forward

pub fn spmm_forward(device: &Device, tol: f64) {
    let mut r = rng(1);
    for &case in CASES {
        let a = random_csr(case, &mut r);
        let x = random_vec(case.k * case.n, &mut r);
        let y = spmm(
            &SparseTensor::from_csr(&a, device).unwrap(),
            t2(&x, [case.k, case.n], device),
        );
        assert_eq!(y.dims(), [case.m, case.n]);
        let want = matmul64(&dense64(&a), &to64(&x), case.m, case.k, case.n);
        assert_close(&host(y), &want, tol, &format!("spmm {case:?}"));
    }
}

pub fn spmm_t_forward(device: &Device, tol: f64) {
    let mut r = rng(2);
    for &case in CASES {
        let w = random_csr(case, &mut r);
        let x = random_vec(case.n * case.k, &mut r);
        let y = spmm_t(
            t2(&x, [case.n, case.k], device),
            &SparseTensor::from_csr(&w, device).unwrap(),
        );
        assert_eq!(y.dims(), [case.n, case.m]);
        let wt = transpose64(&dense64(&w), case.m, case.k);
        let want = matmul64(&to64(&x), &wt, case.n, case.k, case.m);
        assert_close(&host(y), &want, tol, &format!("spmm_t {case:?}"));
    }
}

/// Dense operands that are views (a transpose, a column slice) rather than contiguous buffers:
/// the CPU backends borrow contiguous data and must fall back to a copy for these.
pub fn non_contiguous_operands(device: &Device, tol: f64) {
    let mut r = rng(21);
    let case = Case {
        m: 9,
        k: 13,
        n: 6,
        density: 0.4,
        empty_rows: true,
    };
    let w = random_csr(case, &mut r);
    let ws = SparseTensor::from_csr(&w, device).unwrap();
    let wt = transpose64(&dense64(&w), case.m, case.k);
    // X (n × k) given as the transpose of a k × n tensor.
    let xt = random_vec(case.k * case.n, &mut r);
    let x = t2(&xt, [case.k, case.n], device).transpose();
    let x64 = transpose64(&to64(&xt), case.k, case.n);
    let want = matmul64(&x64, &wt, case.n, case.k, case.m);
    assert_close(&host(spmm_t(x, &ws)), &want, tol, "spmm_t, transposed X");
    // X (k × n) as a column slice of a wider k × (n + 3) tensor.
    let wide = random_vec(case.k * (case.n + 3), &mut r);
    let x = t2(&wide, [case.k, case.n + 3], device).slice([0..case.k, 1..case.n + 1]);
    let x64: Vec<f64> = (0..case.k)
        .flat_map(|i| (1..case.n + 1).map(move |j| (i, j)))
        .map(|(i, j)| wide[i * (case.n + 3) + j] as f64)
        .collect();
    let want = matmul64(&dense64(&w), &x64, case.m, case.k, case.n);
    assert_close(&host(spmm(&ws, x)), &want, tol, "spmm, sliced X");
}

fn sddmm64(a: &Csr<f32>, l: &[f64], rr: &[f64], d: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for i in 0..a.nrows() {
        for &j in a.row(i).0 {
            out.push((0..d).map(|t| l[i * d + t] * rr[j as usize * d + t]).sum());
        }
    }
    out
}

pub fn sddmm_forward(device: &Device, tol: f64) {
    let mut r = rng(3);
    for &case in CASES {
        let a = random_csr(case, &mut r);
        let d = case.n;
        let l = random_vec(case.m * d, &mut r);
        let rr = random_vec(case.k * d, &mut r);
        let p = SparseTensor::from_csr(&a, device).unwrap();
        let out = sddmm(
            t2(&l, [case.m, d], device),
            t2(&rr, [case.k, d], device),
            &p,
        );
        assert_eq!(out.shape(), [case.m, case.k]);
        let want = sddmm64(&a, &to64(&l), &to64(&rr), d);
        assert_close(
            &host(out.values().clone()),
            &want,
            tol,
            &format!("sddmm {case:?}"),
        );
    }
}

pub fn to_dense_and_transpose(device: &Device, tol: f64) {
    let mut r = rng(4);
    for &case in CASES {
        let a = random_csr(case, &mut r);
        let s = SparseTensor::from_csr(&a, device).unwrap();
        assert_close(
            &host(s.to_dense()),
            &dense64(&a),
            0.0,
            &format!("to_dense {case:?}"),
        );
        let t = s.transpose();
        assert_eq!(t.shape(), [case.k, case.m]);
        let want = transpose64(&dense64(&a), case.m, case.k);
        assert_close(
            &host(t.to_dense()),
            &want,
            0.0,
            &format!("transpose {case:?}"),
        );
        // The transpose is a valid CSR (sorted columns) and round-trips.
        let back = t.transpose().to_csr();
        assert_eq!(back.row_ptr(), a.row_ptr());
        assert_eq!(back.col_idx(), a.col_idx());
        assert_eq!(back.values(), a.values());
        let _ = tol;
    }
}

pub fn constructors(device: &Device, _tol: f64) {
    let mut r = rng(5);
    let (m, k) = (7, 11);
    let d = random_vec(m * k, &mut r);
    let dense = t2(&d, [m, k], device);
    // threshold
    let s = SparseTensor::from_dense_threshold(dense.clone(), 1.0).unwrap();
    let want: Vec<f64> = d
        .iter()
        .map(|&x| if x.abs() > 1.0 { x as f64 } else { 0.0 })
        .collect();
    assert_close(&host(s.to_dense()), &want, 0.0, "threshold");
    // top-k
    let s = SparseTensor::from_dense_topk(dense.clone(), 10).unwrap();
    assert_eq!(s.nnz(), 10);
    let mut mags: Vec<f32> = d.iter().map(|x| x.abs()).collect();
    mags.sort_by(|a, b| b.partial_cmp(a).unwrap());
    let kept: Vec<f32> = host(s.values().clone()).iter().map(|x| x.abs()).collect();
    assert!(
        kept.iter().all(|&v| v >= mags[9]),
        "top-k keeps the largest magnitudes"
    );
    // round trip through the host format
    let csr = s.to_csr();
    let s2 = SparseTensor::from_csr(&csr, device).unwrap();
    assert_eq!(host(s2.to_dense()), host(s.to_dense()));
    // from_parts validates
    let bad = SparseTensor::from_parts(
        s.row_ptr().clone(),
        s.col_idx().clone(),
        s.values().clone(),
        [m, 3], // columns out of range for this pattern
    );
    assert!(bad.is_err());
    let ok = SparseTensor::from_parts(
        s.row_ptr().clone(),
        s.col_idx().clone(),
        s.values().clone(),
        [m, k],
    );
    assert!(ok.is_ok());
    // wrong values length
    assert!(SparseTensor::from_pattern(csr.pattern(), t1(&[1.0], device)).is_err());
    // malformed parts: typed errors, no panic
    use burn::tensor::{Int, TensorData};
    let ints = |v: Vec<i32>| {
        let n = v.len();
        Tensor::<1, Int>::from_data(TensorData::new(v, [n]), device)
    };
    let vals = |n: usize| t1(&vec![1.0; n], device);
    for (rp, ci, nv, shape) in [
        (vec![0, 1], vec![0], 1, [2, 2]),        // row_ptr too short
        (vec![0, 2, 1], vec![0, 1], 2, [2, 2]),  // row_ptr decreasing
        (vec![0, 2, 2], vec![1, 0], 2, [2, 2]),  // unsorted columns
        (vec![0, 2, 2], vec![1, 1], 2, [2, 2]),  // duplicate column
        (vec![0, 1, 2], vec![0, -1], 2, [2, 2]), // negative index
        (vec![1, 1, 2], vec![0], 1, [2, 2]),     // row_ptr not starting at 0
        (vec![0, 1, 2], vec![0, 1], 3, [2, 2]),  // values too long
    ] {
        let r = SparseTensor::from_parts(ints(rp.clone()), ints(ci.clone()), vals(nv), shape);
        assert!(
            r.is_err(),
            "accepted row_ptr {rp:?} col_idx {ci:?} values {nv}"
        );
    }
    assert!(
        SparseTensor::from_dense_pattern(t2(&[0.0; 6], [2, 3], device), csr.pattern()).is_err()
    );
    // to_device
    let moved = s.clone().to_device(&Device::flex());
    assert_eq!(host(moved.to_dense()), host(s.to_dense()));
}

// ---------------------------------------------------------------- gradients

pub fn spmm_grad(device: &Device, tol: f64) {
    let ad = device.clone().autodiff();
    let mut r = rng(11);
    for &case in CASES {
        let (m, k, n) = (case.m, case.k, case.n);
        let a = random_csr(case, &mut r);
        let x = random_vec(k * n, &mut r);
        let g = random_vec(m * n, &mut r);
        let nnz = a.nnz();

        // sparse
        let v = t1(a.values(), &ad).require_grad();
        let xt = t2(&x, [k, n], &ad).require_grad();
        let loss = (spmm(&sparse(&a, v.clone()), xt.clone()) * t2(&g, [m, n], &ad)).sum();
        let grads = loss.backward();
        let (gv, gx) = (grad1(&v, &grads, nnz, &ad), grad2(&xt, &grads, k * n));

        // dense burn ops under autodiff (burn-ndarray's matmul divides by zero on empty
        // operands, so the dense reference is skipped for zero-size shapes)
        let what = format!("spmm grad {case:?}");
        if m * k * n > 0 {
            let vd = t1(a.values(), &ad).require_grad();
            let xd = t2(&x, [k, n], &ad).require_grad();
            let loss = (dense_from_values(vd.clone(), &a, &ad).matmul(xd.clone())
                * t2(&g, [m, n], &ad))
            .sum();
            let grads = loss.backward();
            if nnz > 0 {
                assert_close(
                    &gv,
                    &to64(&grad1(&vd, &grads, nnz, &ad)),
                    tol,
                    &format!("{what} dA vs dense"),
                );
            }
            assert_close(
                &gx,
                &to64(&grad2(&xd, &grads, k * n)),
                tol,
                &format!("{what} dX vs dense"),
            );
        }

        // finite differences of the f64 function
        let (g64, x64) = (to64(&g), to64(&x));
        let f_v = |vals: &[f64]| {
            let aa = Csr::try_new(
                m,
                k,
                a.row_ptr().to_vec(),
                a.col_idx().to_vec(),
                vals.iter().map(|&v| v as f32).collect(),
            )
            .unwrap();
            let _ = aa;
            // exact f64 evaluation with f64 values
            let mut y = vec![0.0; m * n];
            let mut e = 0;
            for i in 0..m {
                for &j in a.row(i).0 {
                    for c in 0..n {
                        y[i * n + c] += vals[e] * x64[j as usize * n + c];
                    }
                    e += 1;
                }
            }
            y.iter().zip(&g64).map(|(a, b)| a * b).sum::<f64>()
        };
        assert_fd(f_v, a.values(), &gv, tol, &format!("{what} dA fd"), &mut r);
        let a64 = dense64(&a);
        let f_x = |xs: &[f64]| {
            matmul64(&a64, xs, m, k, n)
                .iter()
                .zip(&g64)
                .map(|(a, b)| a * b)
                .sum::<f64>()
        };
        assert_fd(f_x, &x, &gx, tol, &format!("{what} dX fd"), &mut r);
    }
}

pub fn spmm_t_grad(device: &Device, tol: f64) {
    let ad = device.clone().autodiff();
    let mut r = rng(12);
    for &case in CASES {
        let (m, k, b) = (case.m, case.k, case.n);
        let w = random_csr(case, &mut r);
        let x = random_vec(b * k, &mut r);
        let g = random_vec(b * m, &mut r);
        let nnz = w.nnz();

        let v = t1(w.values(), &ad).require_grad();
        let xt = t2(&x, [b, k], &ad).require_grad();
        let loss = (spmm_t(xt.clone(), &sparse(&w, v.clone())) * t2(&g, [b, m], &ad)).sum();
        let grads = loss.backward();
        let (gv, gx) = (grad1(&v, &grads, nnz, &ad), grad2(&xt, &grads, b * k));

        let what = format!("spmm_t grad {case:?}");
        if m * k * b > 0 {
            let vd = t1(w.values(), &ad).require_grad();
            let xd = t2(&x, [b, k], &ad).require_grad();
            let wd = dense_from_values(vd.clone(), &w, &ad);
            let loss = (xd.clone().matmul(wd.transpose()) * t2(&g, [b, m], &ad)).sum();
            let grads = loss.backward();
            if nnz > 0 {
                assert_close(
                    &gv,
                    &to64(&grad1(&vd, &grads, nnz, &ad)),
                    tol,
                    &format!("{what} dW vs dense"),
                );
            }
            assert_close(
                &gx,
                &to64(&grad2(&xd, &grads, b * k)),
                tol,
                &format!("{what} dX vs dense"),
            );
        }

        let (g64, x64) = (to64(&g), to64(&x));
        let f_v = |vals: &[f64]| {
            let mut y = vec![0.0; b * m];
            let mut e = 0;
            for i in 0..m {
                for &j in w.row(i).0 {
                    for bb in 0..b {
                        y[bb * m + i] += vals[e] * x64[bb * k + j as usize];
                    }
                    e += 1;
                }
            }
            y.iter().zip(&g64).map(|(a, b)| a * b).sum::<f64>()
        };
        assert_fd(f_v, w.values(), &gv, tol, &format!("{what} dW fd"), &mut r);
        let wt = transpose64(&dense64(&w), m, k);
        let f_x = |xs: &[f64]| {
            matmul64(xs, &wt, b, k, m)
                .iter()
                .zip(&g64)
                .map(|(a, b)| a * b)
                .sum::<f64>()
        };
        assert_fd(f_x, &x, &gx, tol, &format!("{what} dX fd"), &mut r);
    }
}

pub fn sddmm_grad(device: &Device, tol: f64) {
    let ad = device.clone().autodiff();
    let mut r = rng(13);
    for &case in CASES {
        let (m, k, d) = (case.m, case.k, case.n);
        let a = random_csr(case, &mut r);
        let l = random_vec(m * d, &mut r);
        let rr = random_vec(k * d, &mut r);
        let g = random_vec(a.nnz(), &mut r);

        let p = SparseTensor::from_csr(&a, &ad).unwrap();
        let lt = t2(&l, [m, d], &ad).require_grad();
        let rt = t2(&rr, [k, d], &ad).require_grad();
        let out = sddmm(lt.clone(), rt.clone(), &p);
        let loss = (out.values().clone() * t1(&g, &ad)).sum();
        let grads = loss.backward();
        let (gl, gr) = (grad2(&lt, &grads, m * d), grad2(&rt, &grads, k * d));

        // dense: (L·Rᵀ) ∘ G_dense summed, with G_dense = G scattered on the pattern
        let gd = Csr::try_new(m, k, a.row_ptr().to_vec(), a.col_idx().to_vec(), g.clone()).unwrap();
        let gdense: Vec<f32> = dense64(&gd).iter().map(|&x| x as f32).collect();
        let what = format!("sddmm grad {case:?}");
        if m * k * d > 0 {
            let ld = t2(&l, [m, d], &ad).require_grad();
            let rd = t2(&rr, [k, d], &ad).require_grad();
            let loss = (ld.clone().matmul(rd.clone().transpose()) * t2(&gdense, [m, k], &ad)).sum();
            let grads = loss.backward();
            assert_close(
                &gl,
                &to64(&grad2(&ld, &grads, m * d)),
                tol,
                &format!("{what} dL vs dense"),
            );
            assert_close(
                &gr,
                &to64(&grad2(&rd, &grads, k * d)),
                tol,
                &format!("{what} dR vs dense"),
            );
        }

        let (g64, l64, r64) = (to64(&g), to64(&l), to64(&rr));
        let f_l = |ls: &[f64]| {
            sddmm64(&a, ls, &r64, d)
                .iter()
                .zip(&g64)
                .map(|(a, b)| a * b)
                .sum::<f64>()
        };
        assert_fd(f_l, &l, &gl, tol, &format!("{what} dL fd"), &mut r);
        let f_r = |rs: &[f64]| {
            sddmm64(&a, &l64, rs, d)
                .iter()
                .zip(&g64)
                .map(|(a, b)| a * b)
                .sum::<f64>()
        };
        assert_fd(f_r, &rr, &gr, tol, &format!("{what} dR fd"), &mut r);
    }
}

pub fn to_dense_transpose_gather_grad(device: &Device, tol: f64) {
    let ad = device.clone().autodiff();
    let mut r = rng(14);
    for &case in CASES {
        let (m, k) = (case.m, case.k);
        let a = random_csr(case, &mut r);
        let nnz = a.nnz();
        let g = random_vec(m * k, &mut r);
        let g64 = to64(&g);

        // to_dense: d loss / d v_e = G[i, j]
        let v = t1(a.values(), &ad).require_grad();
        let loss = (sparse(&a, v.clone()).to_dense() * t2(&g, [m, k], &ad)).sum();
        let gv = grad1(&v, &loss.backward(), nnz, &ad);
        let mut want = Vec::new();
        for i in 0..m {
            for &j in a.row(i).0 {
                want.push(g64[i * k + j as usize]);
            }
        }
        assert_close(&gv, &want, tol, &format!("to_dense grad {case:?}"));

        // transpose then to_dense: d loss / d v_e = Gt[j, i] with Gt k × m
        let v = t1(a.values(), &ad).require_grad();
        let loss = (sparse(&a, v.clone()).transpose().to_dense() * t2(&g, [k, m], &ad)).sum();
        let gv = grad1(&v, &loss.backward(), nnz, &ad);
        let mut want = Vec::new();
        for i in 0..m {
            for &j in a.row(i).0 {
                want.push(g64[j as usize * m + i]);
            }
        }
        assert_close(&gv, &want, tol, &format!("transpose grad {case:?}"));

        // gather (from_dense_pattern): d loss / d D = G_e scattered on the pattern
        let gv_e = random_vec(nnz, &mut r);
        let dense = t2(&random_vec(m * k, &mut r), [m, k], &ad).require_grad();
        let s = SparseTensor::from_dense_pattern(dense.clone(), a.pattern()).unwrap();
        let loss = (s.values().clone() * t1(&gv_e, &ad)).sum();
        let gd = grad2(&dense, &loss.backward(), m * k);
        let want =
            dense64(&Csr::try_new(m, k, a.row_ptr().to_vec(), a.col_idx().to_vec(), gv_e).unwrap());
        assert_close(&gd, &want, tol, &format!("gather grad {case:?}"));
    }
}

/// A chain: `loss = Σ G ∘ (Aᵀ·(X·Wᵀ))`, gradients of W, A and X all through sparse ops,
/// compared with the dense version.
pub fn chained_grad(device: &Device, tol: f64) {
    let ad = device.clone().autodiff();
    let mut r = rng(15);
    let (b, k, m) = (6, 10, 9);
    let w = random_csr(
        Case {
            m,
            k,
            n: 0,
            density: 0.4,
            empty_rows: true,
        },
        &mut r,
    );
    let a = random_csr(
        Case {
            m: b,
            k: 5,
            n: 0,
            density: 0.5,
            empty_rows: false,
        },
        &mut r,
    );
    let x = random_vec(b * k, &mut r);
    let g = random_vec(5 * m, &mut r);
    let run = |dense: bool| {
        let vw = t1(w.values(), &ad).require_grad();
        let va = t1(a.values(), &ad).require_grad();
        let xt = t2(&x, [b, k], &ad).require_grad();
        let y = if dense {
            let wd = dense_from_values(vw.clone(), &w, &ad);
            let h = xt.clone().matmul(wd.transpose());
            dense_from_values(va.clone(), &a, &ad).transpose().matmul(h)
        } else {
            let h = spmm_t(xt.clone(), &sparse(&w, vw.clone()));
            spmm(&sparse(&a, va.clone()).transpose(), h)
        };
        let grads = (y * t2(&g, [5, m], &ad)).sum().backward();
        (
            grad1(&vw, &grads, w.nnz(), &ad),
            grad1(&va, &grads, a.nnz(), &ad),
            grad2(&xt, &grads, b * k),
        )
    };
    let (s, d) = (run(false), run(true));
    assert_close(&s.0, &to64(&d.0), tol, "chain dW");
    assert_close(&s.1, &to64(&d.1), tol, "chain dA");
    assert_close(&s.2, &to64(&d.2), tol, "chain dX");
}

/// Ops on an autodiff device with nothing requiring grad (untracked path).
pub fn untracked(device: &Device, tol: f64) {
    let ad = device.clone().autodiff();
    let mut r = rng(16);
    let case = Case {
        m: 8,
        k: 12,
        n: 3,
        density: 0.3,
        empty_rows: false,
    };
    let w = random_csr(case, &mut r);
    let x = random_vec(3 * 12, &mut r);
    let y = spmm_t(
        t2(&x, [3, 12], &ad),
        &SparseTensor::from_csr(&w, &ad).unwrap(),
    );
    let wt = transpose64(&dense64(&w), 8, 12);
    assert_close(
        &host(y),
        &matmul64(&to64(&x), &wt, 3, 12, 8),
        tol,
        "untracked spmm_t",
    );
}

macro_rules! suite {
    ($($dev:ident => $device:expr, $tol:expr;)*) => {$(
        mod $dev {
            use super::*;
            fn device() -> Device { $device }
            #[test] fn spmm_forward() { super::spmm_forward(&device(), $tol) }
            #[test] fn spmm_t_forward() { super::spmm_t_forward(&device(), $tol) }
            #[test] fn sddmm_forward() { super::sddmm_forward(&device(), $tol) }
            #[test] fn to_dense_and_transpose() { super::to_dense_and_transpose(&device(), $tol) }
            #[test] fn constructors() { super::constructors(&device(), $tol) }
            #[test] fn spmm_grad() { super::spmm_grad(&device(), $tol) }
            #[test] fn spmm_t_grad() { super::spmm_t_grad(&device(), $tol) }
            #[test] fn sddmm_grad() { super::sddmm_grad(&device(), $tol) }
            #[test] fn to_dense_transpose_gather_grad() { super::to_dense_transpose_gather_grad(&device(), $tol) }
            #[test] fn chained_grad() { super::chained_grad(&device(), $tol) }
            #[test] fn untracked() { super::untracked(&device(), $tol) }
            #[test] fn non_contiguous_operands() { super::non_contiguous_operands(&device(), $tol) }
        }
    )*};
}

suite! {
    flex => Device::flex(), 1e-5;
    ndarray => Device::ndarray(), 1e-5;
    wgpu => wgpu_device(), 1e-4;
}
