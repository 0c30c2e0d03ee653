//! The Cube kernel variants of the CSR products (vectorized `spmm` when `n % 4 == 0`, the scalar
//! kernel otherwise; long rows split across a workgroup) on skewed patterns: empty rows, one
//! huge row, nnz = 0, views as operands.
//! Checked against an f64 reference on every device (the CPU backends run the same checks).
#![allow(deprecated)]

mod common;

use burn::tensor::Device;
use common::*;
use sparsekit_formats::Csr;
use sparsekit_tensor::{sddmm, spmm, spmm_t, SparseTensor};

/// A power-law-like pattern: row `i` has about `max_len / (i + 1)` entries, every fourth row
/// empty, plus the given number of rows.
fn skewed_csr(m: usize, k: usize, max_len: usize, r: &mut rand::rngs::StdRng) -> Csr<f32> {
    use rand::Rng;
    let mut row_ptr = vec![0u32];
    let (mut col_idx, mut values) = (Vec::new(), Vec::new());
    for i in 0..m {
        let len = if i % 4 == 3 {
            0
        } else {
            (max_len / (i + 1)).min(k)
        };
        let mut cols: Vec<u32> = (0..k as u32).collect();
        for t in 0..len {
            let s = r.random_range(t..k);
            cols.swap(t, s);
        }
        let mut row: Vec<u32> = cols[..len].to_vec();
        row.sort_unstable();
        for c in row {
            col_idx.push(c);
            values.push(value(r));
        }
        row_ptr.push(col_idx.len() as u32);
    }
    Csr::try_new(m, k, row_ptr, col_idx, values).unwrap()
}

pub fn skewed_spmm(device: &Device, tol: f64) {
    let mut r = rng(61);
    // (m, k, max row length, n): n % 4 == 0 takes the vectorized kernel on Cube
    for &(m, k, max_len, n) in &[
        (1, 6000, 5000, 4),
        (1, 6000, 5000, 3),
        (37, 900, 700, 8),
        (37, 900, 700, 7),
        (300, 64, 64, 36),
        (2000, 3000, 2500, 12), // a large output: no split
        (2000, 3000, 2500, 9),
        (5, 10, 0, 12), // nnz = 0
        (0, 10, 0, 4),
    ] {
        let a = skewed_csr(m, k, max_len, &mut r);
        let s = SparseTensor::from_csr(&a, device).unwrap();
        let x = random_vec(k * n, &mut r);
        let want = matmul64(&dense64(&a), &to64(&x), m, k, n);
        let y = spmm(&s, t2(&x, [k, n], device));
        assert_close(&host(y), &want, tol, &format!("spmm m={m} k={k} n={n}"));
        // the same product with X given as a transposed view (copied before vector loads)
        let xt: Vec<f32> = (0..n * k).map(|p| x[(p % k) * n + p / k]).collect();
        let y = spmm(&s, t2(&xt, [n, k], device).transpose());
        assert_close(
            &host(y),
            &want,
            tol,
            &format!("spmm (X view) m={m} k={k} n={n}"),
        );
        // spmm_t: X·Aᵀ with X = n × k
        let xb = random_vec(n * k, &mut r);
        let want = matmul64(&to64(&xb), &transpose64(&dense64(&a), m, k), n, k, m);
        let y = spmm_t(t2(&xb, [n, k], device), &s);
        assert_close(&host(y), &want, tol, &format!("spmm_t m={m} k={k} n={n}"));
    }
}

/// `sddmm` with short and long dot products (`d ≥ 256` takes the one-cube-per-entry kernel on
/// Cube) on a skewed pattern, and `R` given as a view.
pub fn sddmm_long_d(device: &Device, tol: f64) {
    let mut r = rng(62);
    for &(m, k, max_len, d) in &[
        (9, 40, 30, 255),
        (9, 40, 30, 256),
        (3, 700, 600, 1000),
        (5, 10, 0, 300), // nnz = 0
    ] {
        let a = skewed_csr(m, k, max_len, &mut r);
        let p = SparseTensor::from_csr(&a, device).unwrap();
        let (l, rr) = (random_vec(m * d, &mut r), random_vec(k * d, &mut r));
        let out = sddmm(t2(&l, [m, d], device), t2(&rr, [k, d], device), &p);
        let mut want = Vec::new();
        for i in 0..m {
            for &j in a.row(i).0 {
                let j = j as usize;
                want.push(
                    (0..d)
                        .map(|t| l[i * d + t] as f64 * rr[j * d + t] as f64)
                        .sum(),
                );
            }
        }
        assert_close(
            &host(out.values().clone()),
            &want,
            tol,
            &format!("sddmm m={m} d={d}"),
        );
        // R given as a transposed view
        let rt: Vec<f32> = (0..d * k).map(|q| rr[(q % k) * d + q / k]).collect();
        let out = sddmm(
            t2(&l, [m, d], device),
            t2(&rt, [d, k], device).transpose(),
            &p,
        );
        assert_close(
            &host(out.values().clone()),
            &want,
            tol,
            &format!("sddmm (R view) m={m} d={d}"),
        );
    }
}

macro_rules! suite {
    ($($dev:ident => $device:expr, $tol:expr;)*) => {$(
        mod $dev {
            use super::*;
            #[test] fn skewed_spmm() { super::skewed_spmm(&$device, $tol) }
            #[test] fn sddmm_long_d() { super::sddmm_long_d(&$device, $tol) }
        }
    )*};
}

suite! {
    flex => Device::flex(), 1e-5;
    ndarray => Device::ndarray(), 1e-5;
    wgpu => wgpu_device(), 1e-4;
}
