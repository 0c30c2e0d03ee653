//! Randomized sweep: many small random problems (shapes, densities, strides, ISAs drawn fresh
//! per case from a seeded generator) against dense f64 references.

mod common;
use common::*;

use rand::Rng;
use sparsekit_kernels::sddmm::sddmm_isa;
use sparsekit_kernels::spmm::{spmm_at_isa, spmm_isa, spmm_t_isa};
use sparsekit_kernels::*;

#[test]
fn random_problems_match_dense_f64() {
    let mut r = rng(2024);
    let isas = Isa::available();
    for case in 0..300 {
        let m = r.random_range(0..40);
        let k = r.random_range(0..40);
        let n = r.random_range(0..140);
        let density = [0.0, 0.02, 0.1, 0.5, 1.0][r.random_range(0..5)];
        let isa = isas[r.random_range(0..isas.len())];
        let a = random_csr(&mut r, m, k, density);
        let ad = to_dense_f64(&a);
        let pad = r.random_range(0..3);
        let what = format!("case {case}: {m}×{k}×{n} density {density} {isa:?} pad {pad}");

        // spmm, strided X (k × n) and Y (m × n)
        let xs = n + pad;
        let x = dense_vec(&mut r, k * xs + 1);
        let xd: Vec<f64> = (0..k)
            .flat_map(|t| x[t * xs..t * xs + n].iter().map(|&v| v as f64))
            .collect();
        let (want, scale) = matmul_f64(&ad, &xd, m, k, n);
        let ys = n + pad;
        let mut y = vec![f32::NAN; m * ys + 1];
        spmm_isa(
            isa,
            1.0,
            a.view(),
            MatRef::with_stride(&x, k, n, xs).unwrap(),
            0.0,
            MatMut::with_stride(&mut y, m, n, ys).unwrap(),
        )
        .unwrap();
        let yc: Vec<f32> = (0..m)
            .flat_map(|i| y[i * ys..i * ys + n].to_vec())
            .collect();
        assert_close(&yc, &want, &scale, &format!("spmm {what}"));

        // spmm_t: X batch × k (batch = n), Y batch × m
        let xt = dense_vec(&mut r, n * k);
        let (want, scale) = matmul_f64(&to_f64(&xt), &transpose(&ad, m, k), n, k, m);
        let mut yt = vec![f32::NAN; n * m];
        spmm_t_isa(
            isa,
            MatRef::new(&xt, n, k).unwrap(),
            a.view(),
            None,
            MatMut::new(&mut yt, n, m).unwrap(),
        )
        .unwrap();
        assert_close(&yt, &want, &scale, &format!("spmm_t {what}"));

        // spmm_at: X m × n, Y k × n
        let xa = dense_vec(&mut r, m * n);
        let (want, scale) = matmul_f64(&transpose(&ad, m, k), &to_f64(&xa), k, m, n);
        let mut ya = vec![f32::NAN; k * n];
        let t = CsrTranspose::new(a.pattern().view());
        spmm_at_isa(
            isa,
            &t,
            a.view(),
            MatRef::new(&xa, m, n).unwrap(),
            MatMut::new(&mut ya, k, n).unwrap(),
        )
        .unwrap();
        assert_close(&ya, &want, &scale, &format!("spmm_at {what}"));

        // sddmm: A m × d, B k × d with d = n
        let aa = dense_vec(&mut r, m * n);
        let bb = dense_vec(&mut r, k * n);
        let (full, fscale) = matmul_f64(&to_f64(&aa), &transpose(&to_f64(&bb), k, n), m, n, k);
        let mut out = vec![f32::NAN; a.nnz()];
        sddmm_isa(
            isa,
            MatRef::new(&aa, m, n).unwrap(),
            MatRef::new(&bb, k, n).unwrap(),
            a.pattern().view(),
            &mut out,
        )
        .unwrap();
        let (mut w, mut sc) = (vec![], vec![]);
        for i in 0..m {
            for p in a.row_ptr()[i] as usize..a.row_ptr()[i + 1] as usize {
                let j = a.col_idx()[p] as usize;
                w.push(full[i * k + j]);
                sc.push(fscale[i * k + j]);
            }
        }
        assert_close(&out, &w, &sc, &format!("sddmm {what}"));
    }
}
