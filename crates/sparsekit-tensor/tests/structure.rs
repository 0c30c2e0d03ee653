//! Structured patterns (N:M, blocks) on every device: the structured CPU kernels selected by the
//! tag must give the f64 reference, the same result as the untagged CSR path, and the same
//! gradients; wrong tags are typed errors.
#![allow(deprecated)]

mod common;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use common::*;
use sparsekit_formats::{Bsr, Csr, NM};
use sparsekit_tensor::{
    random_structured_pattern, spmm, spmm_t, SparseError, SparseLinearConfig, SparseTensor,
    Structure,
};

/// (rows, cols, structure): zero rows, one group, sizes off the SIMD width, big blocks.
const CASES: &[(usize, usize, Structure)] = &[
    (0, 8, Structure::NM { n: 2, m: 4 }),
    (3, 4, Structure::NM { n: 2, m: 4 }),
    (7, 12, Structure::NM { n: 1, m: 4 }),
    (13, 24, Structure::NM { n: 2, m: 8 }),
    (9, 48, Structure::NM { n: 3, m: 16 }),
    (0, 0, Structure::Block { rows: 2, cols: 2 }),
    (4, 6, Structure::Block { rows: 1, cols: 1 }),
    (6, 9, Structure::Block { rows: 2, cols: 3 }),
    (16, 20, Structure::Block { rows: 4, cols: 4 }),
    (32, 48, Structure::Block { rows: 16, cols: 16 }),
    (64, 40, Structure::Block { rows: 8, cols: 4 }),
    (12, 128, Structure::Block { rows: 1, cols: 64 }),
];

fn tagged(rows: usize, cols: usize, s: Structure, seed: u64, device: &Device) -> SparseTensor {
    let pattern = random_structured_pattern(rows, cols, s, 0.5, Some(seed)).unwrap();
    let mut r = rng(seed);
    let values = random_vec(pattern.nnz(), &mut r);
    SparseTensor::from_pattern(&pattern, t1(&values, device))
        .unwrap()
        .with_structure(s)
        .unwrap()
}

fn untagged(a: &SparseTensor) -> SparseTensor {
    SparseTensor::from_csr(&a.to_csr(), &a.device()).unwrap()
}

fn forward(device: &Device, tol: f64) {
    for (ci, &(m, k, s)) in CASES.iter().enumerate() {
        let a = tagged(m, k, s, ci as u64 + 1, device);
        assert_eq!(a.structure(), s);
        let dense = dense64(&a.to_csr());
        let mut r = rng(100 + ci as u64);
        // n = 70 spans several tiles of the Cube block kernel, the last one partial.
        for n in [1usize, 5, 16, 70] {
            // Y = A·X
            let x = random_vec(k * n, &mut r);
            let y = host(spmm(&a, t2(&x, [k, n], device)));
            let want = matmul64(&dense, &to64(&x), m, k, n);
            assert_close(&y, &want, tol, &format!("spmm {s:?} {m}×{k} n={n}"));
            let plain = host(spmm(&untagged(&a), t2(&x, [k, n], device)));
            assert_close(&y, &to64(&plain), tol, &format!("spmm vs CSR {s:?}"));
            // Y = X·Aᵀ
            let xb = random_vec(n * k, &mut r);
            let y = host(spmm_t(t2(&xb, [n, k], device), &a));
            let want = matmul64(&to64(&xb), &transpose64(&dense, m, k), n, k, m);
            assert_close(&y, &want, tol, &format!("spmm_t {s:?} {m}×{k} n={n}"));
        }
    }
}

/// Gradients through a tagged weight equal those through the same untagged CSR weight.
fn grads(device: &Device, tol: f64) {
    let ad = device.clone().autodiff();
    for (ci, &(m, k, s)) in CASES.iter().enumerate() {
        let a = tagged(m, k, s, 7 + ci as u64, &ad);
        let vals = host(a.values().clone());
        let mut r = rng(200 + ci as u64);
        let (n, b) = (3, 5);
        let x = random_vec(k * n, &mut r);
        let xb = random_vec(b * k, &mut r);
        let run = |structure: Structure| {
            let v = t1(&vals, &ad).require_grad();
            let w = SparseTensor::from_pattern(&a.pattern(), v.clone())
                .unwrap()
                .with_structure(structure)
                .unwrap();
            let xt = t2(&x, [k, n], &ad).require_grad();
            let xbt = t2(&xb, [b, k], &ad).require_grad();
            let loss = (spmm(&w, xt.clone()).powi_scalar(2).sum()
                + spmm_t(xbt.clone(), &w).sin().sum())
            .sum();
            let g = loss.backward();
            let gv = v
                .grad(&g)
                .map(host)
                .unwrap_or_else(|| vec![0.0; vals.len()]);
            let gx = xt.grad(&g).map(host).unwrap_or_else(|| vec![0.0; x.len()]);
            let gxb = xbt
                .grad(&g)
                .map(host)
                .unwrap_or_else(|| vec![0.0; xb.len()]);
            (gv, gx, gxb)
        };
        let (gv, gx, gxb) = run(s);
        let (pv, px, pxb) = run(Structure::Unstructured);
        assert_close(&gv, &to64(&pv), tol, &format!("dvalues {s:?}"));
        assert_close(&gx, &to64(&px), tol, &format!("dX {s:?}"));
        assert_close(&gxb, &to64(&pxb), tol, &format!("dX (spmm_t) {s:?}"));
    }
}

fn constructors(device: &Device, tol: f64) {
    // from_nm keeps padding slots, so the pattern is N:M even where a group has fewer non-zeros.
    let dense = [
        1.0, 0.0, 0.0, 0.0, 5.0, -6.0, 7.0, 0.0, //
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 2.0,
    ];
    let nm = NM::<f32>::from_dense(&dense, 2, 8, 2, 4).unwrap();
    let a = SparseTensor::from_nm(&nm, device).unwrap();
    assert_eq!(a.structure(), Structure::NM { n: 2, m: 4 });
    assert_eq!(a.nnz(), 8);
    assert_close(
        &host(a.to_dense()),
        &to64(&nm.to_dense()),
        tol,
        "from_nm dense",
    );
    // from_bsr keeps whole blocks.
    let csr = Csr::<f32>::from_dense(&dense, 2, 8, sparsekit_formats::Select::NonZero).unwrap();
    let bsr = Bsr::from_csr(&csr, (2, 2)).unwrap();
    let b = SparseTensor::from_bsr(&bsr, device).unwrap();
    assert_eq!(b.structure(), Structure::Block { rows: 2, cols: 2 });
    assert_eq!(b.nnz(), bsr.nnz_stored());
    assert_close(&host(b.to_dense()), &to64(&dense), tol, "from_bsr dense");
    // Transposes: blocks flip, N:M is dropped.
    assert_eq!(
        b.transpose().structure(),
        Structure::Block { rows: 2, cols: 2 }
    );
    assert_eq!(a.transpose().structure(), Structure::Unstructured);
    // Wrong tags are typed errors.
    let plain = SparseTensor::from_csr(&csr, device).unwrap();
    for s in [
        Structure::NM { n: 2, m: 4 },
        Structure::NM { n: 4, m: 4 },
        Structure::NM { n: 1, m: 3 },
        Structure::Block { rows: 2, cols: 2 },
        Structure::Block { rows: 0, cols: 2 },
        Structure::Block { rows: 3, cols: 1 },
    ] {
        assert!(
            matches!(
                plain.clone().with_structure(s),
                Err(SparseError::Structure(_))
            ),
            "{s:?} accepted on an unstructured pattern"
        );
    }
    // A 2:4 pattern whose row has the right count but a 3/1 split across groups.
    let bad = Csr::<f32>::try_new(1, 8, vec![0, 4], vec![0, 1, 2, 5], vec![1.0; 4]).unwrap();
    let bad = SparseTensor::from_csr(&bad, device).unwrap();
    assert!(bad.with_structure(Structure::NM { n: 2, m: 4 }).is_err());
    // Rows of one block row that differ.
    let bad = Csr::<f32>::try_new(2, 2, vec![0, 2, 3], vec![0, 1, 0], vec![1.0; 3]).unwrap();
    let bad = SparseTensor::from_csr(&bad, device).unwrap();
    assert!(bad
        .with_structure(Structure::Block { rows: 2, cols: 2 })
        .is_err());
}

/// A structured `SparseLinear` trains like the untagged one (same pattern, same values).
fn linear(device: &Device, tol: f64) {
    let ad = device.clone().autodiff();
    for s in [
        Structure::NM { n: 2, m: 4 },
        Structure::Block { rows: 4, cols: 4 },
    ] {
        let cfg = SparseLinearConfig::new(24, 8)
            .with_sparsity(0.5)
            .with_seed(Some(3));
        let layer = cfg.init_with_structure(s, &ad).unwrap();
        assert_eq!(layer.structure, s);
        if let Structure::NM { n, m } = s {
            assert_eq!(layer.nnz(), 8 * 24 / m * n);
        }
        let plain = {
            let mut l = layer.clone();
            l.structure = Structure::Unstructured;
            l
        };
        let mut r = rng(9);
        let x = random_vec(6 * 24, &mut r);
        let y1 = layer.forward(t2(&x, [6, 24], &ad));
        let y2 = plain.forward(t2(&x, [6, 24], &ad));
        let g1 = y1.clone().tanh().sum().backward();
        let g2 = y2.clone().tanh().sum().backward();
        assert_close(&host(y1), &to64(&host(y2)), tol, "forward");
        let d1 = host(layer.values.val().grad(&g1).unwrap());
        let d2 = host(plain.values.val().grad(&g2).unwrap());
        assert_close(&d1, &to64(&d2), tol, "values grad");
        // The tag survives a record round trip into a layer built the same way.
        let record = layer.clone().into_record();
        let loaded = cfg.init_with_structure(s, &ad).unwrap().load_record(record);
        assert_eq!(loaded.structure, s);
    }
    // Invalid structure for the shape: typed errors.
    let cfg = SparseLinearConfig::new(10, 8);
    assert!(cfg
        .init_with_structure(Structure::NM { n: 2, m: 4 }, device)
        .is_err());
    assert!(cfg
        .init_with_structure(Structure::Block { rows: 3, cols: 3 }, device)
        .is_err());
    let _ = Tensor::<1>::zeros([1], device);
}

/// Block patterns at the edges of the Cube block kernel: an empty block row, nnz = 0, and blocks
/// too tall for one cube (r = 300 > 256 units: the CSR kernels run instead). Each against f64.
fn block_edges(device: &Device, tol: f64) {
    let mut r = rng(77);
    let check = |a: &SparseTensor, m: usize, k: usize, what: &str, r: &mut _| {
        let dense = dense64(&a.to_csr());
        for n in [1usize, 70] {
            let x = random_vec(k * n, r);
            let y = host(spmm(a, t2(&x, [k, n], device)));
            let want = matmul64(&dense, &to64(&x), m, k, n);
            assert_close(&y, &want, tol, &format!("spmm {what} n={n}"));
            let xb = random_vec(n * k, r);
            let y = host(spmm_t(t2(&xb, [n, k], device), a));
            let want = matmul64(&to64(&xb), &transpose64(&dense, m, k), n, k, m);
            assert_close(&y, &want, tol, &format!("spmm_t {what} n={n}"));
        }
    };
    // 8×6 in 2×3 blocks; block row 1 (rows 2..4) holds nothing.
    let (m, k) = (8, 6);
    let mut dense = random_vec(m * k, &mut r);
    dense[2 * k..4 * k].iter_mut().for_each(|v| *v = 0.0);
    let csr = Csr::<f32>::from_dense(&dense, m, k, sparsekit_formats::Select::NonZero).unwrap();
    let a = SparseTensor::from_bsr(&Bsr::from_csr(&csr, (2, 3)).unwrap(), device).unwrap();
    assert_eq!(a.structure(), Structure::Block { rows: 2, cols: 3 });
    check(&a, m, k, "empty block row", &mut r);
    // nnz = 0.
    let zero = Csr::<f32>::from_dense(&vec![0.0; m * k], m, k, sparsekit_formats::Select::NonZero)
        .unwrap();
    let a = SparseTensor::from_bsr(&Bsr::from_csr(&zero, (2, 3)).unwrap(), device).unwrap();
    assert_eq!(
        (a.nnz(), a.structure()),
        (0, Structure::Block { rows: 2, cols: 3 })
    );
    check(&a, m, k, "nnz = 0", &mut r);
    // 300-row blocks.
    let s = Structure::Block { rows: 300, cols: 2 };
    let a = tagged(600, 4, s, 5, device);
    assert_eq!(a.structure(), s);
    check(&a, 600, 4, "300×2 blocks", &mut r);
}

macro_rules! suite {
    ($($dev:ident => $device:expr, $tol:expr;)*) => {$(
        mod $dev {
            use super::*;
            fn device() -> Device { $device }
            #[test] fn forward() { super::forward(&device(), $tol) }
            #[test] fn grads() { super::grads(&device(), $tol) }
            #[test] fn constructors() { super::constructors(&device(), $tol) }
            #[test] fn linear() { super::linear(&device(), $tol) }
            #[test] fn block_edges() { super::block_edges(&device(), $tol) }
        }
    )*};
}

suite! {
    flex => Device::flex(), 1e-5;
    ndarray => Device::ndarray(), 1e-5;
    wgpu => wgpu_device(), 1e-4;
}
