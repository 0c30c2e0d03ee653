//! The kernels re-align a dense operand whose rows start mid cache line (a copy into aligned
//! scratch) when it is large and read often. These tests put `X` at every float offset within a
//! cache line and at padded row strides, on every ISA: results must be bit-identical to the
//! same `X` laid out contiguously (the copy changes no value and no summation order) and match
//! a dense f64 reference.

mod common;
use common::*;

use sparsekit_kernels::spmm::spmm_isa;
use sparsekit_kernels::*;

/// `x` (rows × cols, contiguous) copied into a fresh buffer at float offset `off` with row
/// stride `stride`; returns the buffer and the start of the view.
fn placed(x: &[f32], rows: usize, cols: usize, off: usize, stride: usize) -> Vec<f32> {
    let mut buf = vec![f32::NAN; off + rows * stride + 16];
    for i in 0..rows {
        buf[off + i * stride..off + i * stride + cols]
            .copy_from_slice(&x[i * cols..(i + 1) * cols]);
    }
    buf
}

/// Offsets (floats) within a 64-byte line and extra row padding: 0 / 0 is the contiguous case.
const LAYOUTS: &[(usize, usize)] = &[(0, 0), (1, 0), (4, 0), (15, 0), (3, 3), (0, 16), (8, 5)];

/// Column counts: one cache line, partial lines, several lines, fewer than a line.
const NCOLS: &[usize] = &[64, 20, 5, 17, 128];

/// Runs `kernel(X view)` for `x` in every layout and checks all results are bit-identical.
#[track_caller]
fn same_in_every_layout(
    x: &[f32],
    (k, n): (usize, usize),
    what: &str,
    kernel: impl Fn(MatRef<'_, f32>) -> Vec<f32>,
) -> Vec<f32> {
    let base = kernel(MatRef::new(x, k, n).unwrap());
    for &(off, pad) in LAYOUTS {
        let stride = n + pad;
        let buf = placed(x, k, n, off, stride);
        let view =
            MatRef::with_stride(&buf[off..off + (k - 1) * stride + n], k, n, stride).unwrap();
        let got = kernel(view);
        assert_eq!(
            bits(&got),
            bits(&base),
            "{what}: offset {off}, stride {stride}"
        );
    }
    base
}

#[test]
fn csr_spmm_and_spmm_at_are_layout_independent() {
    let mut r = rng(41);
    // k · n >= 4096 floats (also for n = 5) and nnz >= 2k: the re-aligning copy runs.
    for &n in NCOLS {
        let (m, k) = (150, 900);
        let a = random_csr(&mut r, m, k, 0.1);
        let x = dense_vec(&mut r, k * n);
        let (want, scale) = matmul_f64(&to_dense_f64(&a), &to_f64(&x), m, k, n);
        for isa in Isa::available() {
            let y = same_in_every_layout(&x, (k, n), &format!("spmm {isa:?} n={n}"), |xv| {
                let mut y = vec![0.0f32; m * n];
                spmm_isa(
                    isa,
                    1.0,
                    a.view(),
                    xv,
                    0.0,
                    MatMut::new(&mut y, m, n).unwrap(),
                )
                .unwrap();
                y
            });
            assert_close(&y, &want, &scale, &format!("spmm {isa:?} n={n}"));
        }
        // Aᵀ·X: X is m × n here.
        let xt = dense_vec(&mut r, m * n);
        let at = transpose(&to_dense_f64(&a), m, k);
        let (want, scale) = matmul_f64(&at, &to_f64(&xt), k, m, n);
        let y = same_in_every_layout(&xt, (m, n), &format!("spmm_at n={n}"), |xv| {
            let mut y = vec![0.0f32; k * n];
            spmm_at(a.view(), xv, MatMut::new(&mut y, k, n).unwrap()).unwrap();
            y
        });
        assert_close(&y, &want, &scale, &format!("spmm_at n={n}"));
    }
}

#[test]
fn bsr_and_nm_spmm_are_layout_independent() {
    let mut r = rng(42);
    for &n in NCOLS {
        // BSR 4 × 4 (row-pair driver) and 16 × 16 (buffered driver), 256 × 512.
        for &(br, bc) in &[(4usize, 4usize), (16, 16)] {
            let a = random_bsr(&mut r, 256 / br, 512 / bc, (br, bc), 0.3);
            let x = dense_vec(&mut r, 512 * n);
            let ad: Vec<f64> = a.to_dense().iter().map(|&v| v as f64).collect();
            let (want, scale) = matmul_f64(&ad, &to_f64(&x), 256, 512, n);
            let y = same_in_every_layout(&x, (512, n), &format!("bsr {br}x{bc} n={n}"), |xv| {
                let mut y = vec![0.0f32; 256 * n];
                bsr_spmm(a.view(), xv, MatMut::new(&mut y, 256, n).unwrap()).unwrap();
                y
            });
            assert_close(&y, &want, &scale, &format!("bsr {br}x{bc} n={n}"));
        }
        // 2:4, 128 × 512.
        let nm = random_nm(&mut r, 128, 512 / 4, (2, 4));
        let x = dense_vec(&mut r, 512 * n);
        let ad: Vec<f64> = nm.to_dense().iter().map(|&v| v as f64).collect();
        let (want, scale) = matmul_f64(&ad, &to_f64(&x), 128, 512, n);
        let y = same_in_every_layout(&x, (512, n), &format!("nm 2:4 n={n}"), |xv| {
            let mut y = vec![0.0f32; 128 * n];
            nm_spmm(nm.view(), xv, MatMut::new(&mut y, 128, n).unwrap()).unwrap();
            y
        });
        assert_close(&y, &want, &scale, &format!("nm 2:4 n={n}"));
    }
}

/// The transposed-batch kernels (`X·Wᵀ`) work on an aligned, padded transpose of `X`; batch
/// sizes that need padding (3, 20) and misaligned inputs give the same bits as contiguous ones.
#[test]
fn spmm_t_forms_are_layout_independent() {
    let mut r = rng(43);
    let (m, k) = (96, 640);
    let a = random_csr(&mut r, m, k, 0.1);
    let ad = to_dense_f64(&a);
    for &nb in &[3usize, 20, 64, 70] {
        let x = dense_vec(&mut r, nb * k);
        let (want, scale) = matmul_f64(&to_f64(&x), &transpose(&ad, m, k), nb, k, m);
        let y = same_in_every_layout(&x, (nb, k), &format!("spmm_t batch {nb}"), |xv| {
            let mut y = vec![0.0f32; nb * m];
            spmm_t(xv, a.view(), MatMut::new(&mut y, nb, m).unwrap()).unwrap();
            y
        });
        assert_close(&y, &want, &scale, &format!("spmm_t batch {nb}"));
    }
}

/// `sddmm` re-aligns both dense operands; `sddmm_linear` transposes them into aligned, padded
/// scratch. Every layout of either operand gives the same bits, close to the f64 reference.
#[test]
fn sddmm_forms_are_layout_independent() {
    let mut r = rng(44);
    let (m, k) = (120, 900);
    let pattern = random_csr(&mut r, m, k, 0.1);
    let p = pattern.pattern();
    let (rp, ci) = (p.row_ptr(), p.col_idx());
    for &d in NCOLS {
        let a = dense_vec(&mut r, m * d);
        let b = dense_vec(&mut r, k * d);
        // Dense f64 reference and its scale (Σ |terms|) per stored entry.
        let (want, scale): (Vec<f64>, Vec<f64>) = (0..m)
            .flat_map(|i| (rp[i] as usize..rp[i + 1] as usize).map(move |q| (i, ci[q] as usize)))
            .map(|(i, j)| {
                let terms = (0..d).map(|t| a[i * d + t] as f64 * b[j * d + t] as f64);
                (terms.clone().sum::<f64>(), terms.map(f64::abs).sum::<f64>())
            })
            .unzip();
        let run = |av: MatRef<'_, f32>, bv: MatRef<'_, f32>| {
            let mut out = vec![0.0f32; p.nnz()];
            sddmm(av, bv, p.view(), &mut out).unwrap();
            out
        };
        let a_full = MatRef::new(&a, m, d).unwrap();
        let got = same_in_every_layout(&b, (k, d), &format!("sddmm B d={d}"), |bv| run(a_full, bv));
        let b_full = MatRef::new(&b, k, d).unwrap();
        same_in_every_layout(&a, (m, d), &format!("sddmm A d={d}"), |av| run(av, b_full));
        assert_close(&got, &want, &scale, &format!("sddmm d={d}"));
        // sddmm_linear: dY = Aᵀ (d × m), X = Bᵀ (d × k) give the same sums.
        let (dy, x) = (transpose(&a, m, d), transpose(&b, k, d));
        let x_full = MatRef::new(&x, d, k).unwrap();
        let lin = same_in_every_layout(&dy, (d, m), &format!("sddmm_linear d={d}"), |dyv| {
            let mut out = vec![0.0f32; p.nnz()];
            sddmm_linear(dyv, x_full, p.view(), &mut out).unwrap();
            out
        });
        assert_close(&lin, &want, &scale, &format!("sddmm_linear d={d}"));
    }
}
