//! `bsr_spmm_amx` (bf16 BSR × bf16 X on Intel AMX) against an f64 reference computed from the
//! exact bf16 values, against `bsr_spmm` on f32 copies, thread-count independence and errors.
//!
//! Error bound: products of two bf16 are exact in f32 and AMX accumulates in f32, so
//! `|y − y64| ≤ K·2⁻²⁴·Σ_j |a_ij·x_jc|` to first order (`K` = stored terms of row `i`). The
//! tests assert `|y − y64| ≤ tol·Σ_j |a_ij·x_jc| + 1e-30` with `tol = 1e-5`, which covers the
//! bound for `K ≤ 160` (the cases with `k ≤ 160`); the larger cases use `tol = 1.01·K·2⁻²⁴` per
//! row when that is larger. The random values (`common::mixed`: |v| in 10^[-4, 3]) keep every
//! product and partial sum far from the f32 denormal range, which `tdpbf16ps` flushes to zero.
//!
//! The tests fail (do not skip) when `amx_available()` is false on a CPU whose /proc/cpuinfo
//! lists `amx_bf16` and `amx_tile`; only a CPU without those flags may skip the numeric checks.

mod common;
use common::*;

use half::bf16;
use rand::rngs::StdRng;
use rand::Rng;
use sparsekit_formats::Bsr;
use sparsekit_kernels::*;

/// Whether to run the AMX checks: true when AMX is usable; false (skip) only when the CPU lacks
/// the AMX flags; panics when the CPU lists them but the path is unavailable.
fn amx_expected() -> bool {
    if amx_available() {
        return true;
    }
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = info
        .lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>();
    assert!(
        !(flags.contains(&"amx_bf16") && flags.contains(&"amx_tile")),
        "/proc/cpuinfo lists amx_bf16 and amx_tile but amx_available() is false"
    );
    eprintln!("no AMX-BF16 on this CPU: numeric AMX checks skipped");
    false
}

/// A random bf16 BSR of `nbr × nbc` blocks of `r × c` at block density `d`; block row 0 is
/// empty when `empty0` and `nbr > 1`.
fn random_bsr_bf16(
    rg: &mut StdRng,
    (nbr, nbc): (usize, usize),
    (r, c): (usize, usize),
    d: f64,
    empty0: bool,
) -> Bsr<bf16> {
    let mut brp = vec![0u32];
    let mut bci = vec![];
    for bi in 0..nbr {
        for j in 0..nbc {
            if !(empty0 && bi == 0 && nbr > 1) && rg.random_bool(d) {
                bci.push(j as u32);
            }
        }
        brp.push(bci.len() as u32);
    }
    let vals = bf16_vec(rg, bci.len() * r * c);
    Bsr::try_new(nbr * r, nbc * c, (r, c), brp, bci, vals).unwrap()
}

fn bf16_vec(rg: &mut StdRng, len: usize) -> Vec<bf16> {
    dense_vec(rg, len).into_iter().map(bf16::from_f32).collect()
}

/// `(y64, Σ|a·x|, terms per row)` for `A·X` from the exact bf16 values, in f64.
fn reference(a: &Bsr<bf16>, x: &[bf16], n: usize) -> (Vec<f64>, Vec<f64>, Vec<usize>) {
    let (m, _) = a.shape();
    let (r, c) = a.block_shape();
    let (mut y, mut s, mut terms) = (vec![0.0; m * n], vec![0.0; m * n], vec![0; m]);
    let brp = a.block_row_ptr();
    for br in 0..a.nblock_rows() {
        for p in brp[br] as usize..brp[br + 1] as usize {
            let bc = a.block_col_idx()[p] as usize;
            let blk = a.block(p);
            for ii in 0..r {
                let i = br * r + ii;
                terms[i] += c;
                for jj in 0..c {
                    let av = blk[ii * c + jj].to_f64();
                    let xr = &x[(bc * c + jj) * n..][..n];
                    for (col, xv) in xr.iter().enumerate() {
                        let t = av * xv.to_f64();
                        y[i * n + col] += t;
                        s[i * n + col] += t.abs();
                    }
                }
            }
        }
    }
    (y, s, terms)
}

/// Asserts `|got − want| ≤ tol_i·scale + 1e-30` (tol_i = max(1e-5, 1.01·K_i·2⁻²⁴) times
/// `factor`), returns the worst `|got − want| / (tol_i·scale)`.
#[track_caller]
fn check(
    got: &[f32],
    want: &[f64],
    scale: &[f64],
    terms: &[usize],
    n: usize,
    factor: f64,
    what: &str,
) -> f64 {
    let mut worst = 0.0f64;
    for (e, ((&g, &w), &s)) in got.iter().zip(want).zip(scale).enumerate() {
        let tol = factor * 1e-5f64.max(1.01 * terms[e / n] as f64 * 2f64.powi(-24));
        let err = (g as f64 - w).abs();
        assert!(
            err <= tol * s + 1e-30,
            "{what}: element {e} (row {}, col {}) = {g:e}, want {w:e} (|err| {err:e} > {tol:e}·{s:e})",
            e / n,
            e % n
        );
        if s > 0.0 {
            worst = worst.max(err / (tol * s));
        }
    }
    worst
}

fn to_f32(v: &[bf16]) -> Vec<f32> {
    v.iter().map(|b| b.to_f32()).collect()
}

/// Runs `bsr_spmm_amx` into a NaN-filled `m × n` Y.
fn run_amx(a: &Bsr<bf16>, x: &[bf16], n: usize) -> Vec<f32> {
    let (m, k) = a.shape();
    let mut y = vec![f32::NAN; m * n];
    bsr_spmm_amx(
        a.view(),
        MatRef::new(x, k, n).unwrap(),
        MatMut::new(&mut y, m, n).unwrap(),
    )
    .unwrap();
    y
}

/// One case: AMX vs the f64 reference, `bsr_spmm` on f32 copies vs the reference, and AMX vs
/// `bsr_spmm` (within twice the bound). Returns the worst ratio of the AMX result.
fn case(
    rg: &mut StdRng,
    grid: (usize, usize),
    rc: (usize, usize),
    d: f64,
    n: usize,
    empty0: bool,
) -> f64 {
    let a = random_bsr_bf16(rg, grid, rc, d, empty0);
    let (m, k) = a.shape();
    let x = bf16_vec(rg, k * n);
    let (want, scale, terms) = reference(&a, &x, n);
    let what = format!(
        "{}×{} blocks, {m}×{k}·{k}×{n}, density {d}, {} blocks",
        rc.0,
        rc.1,
        a.nblocks()
    );
    let got = run_amx(&a, &x, n);
    let worst = check(&got, &want, &scale, &terms, n, 1.0, &what);
    // bsr_spmm on f32 copies of the same values.
    let af = a.cast::<f32>();
    let xf = to_f32(&x);
    let mut yf = vec![f32::NAN; m * n];
    bsr_spmm(
        af.view(),
        MatRef::new(&xf, k, n).unwrap(),
        MatMut::new(&mut yf, m, n).unwrap(),
    )
    .unwrap();
    check(
        &yf,
        &want,
        &scale,
        &terms,
        n,
        1.0,
        &format!("{what} (bsr_spmm f32)"),
    );
    let yf64: Vec<f64> = yf.iter().map(|&v| v as f64).collect();
    check(
        &got,
        &yf64,
        &scale,
        &terms,
        n,
        2.0,
        &format!("{what} (vs bsr_spmm)"),
    );
    worst
}

/// A pair of sizes: a block shape `(r, c)` or a block grid `(block rows, block columns)`.
type Dims = (usize, usize);

const NS: &[usize] = &[1, 15, 16, 17, 64, 100];
const SPARSITIES: &[f64] = &[0.0, 0.9, 0.98];

#[test]
fn matches_f64_reference_and_bsr_spmm() {
    if !amx_expected() {
        return;
    }
    let mut rg = rng(0xA3B1);
    let mut worst = 0.0f64;
    let mut cases = 0;
    // (r, c), block-grid (k = nbc·c ≤ 160, so tol = 1e-5 covers the bound).
    let shapes: &[(Dims, Dims)] = &[
        ((16, 16), (24, 8)),
        ((32, 32), (12, 4)),
        ((16, 32), (20, 5)),
        ((32, 16), (10, 10)),
        ((48, 48), (6, 3)),
    ];
    for &(rc, grid) in shapes {
        for &sp in SPARSITIES {
            for &n in NS {
                for empty0 in [true, false] {
                    worst = worst.max(case(&mut rg, grid, rc, 1.0 - sp, n, empty0));
                    cases += 1;
                }
            }
        }
    }
    eprintln!("bsr_spmm_amx: {cases} cases, worst |err| / bound = {worst:.3e}");
}

#[test]
fn large_cases_parallel_pack_and_tasks() {
    if !amx_expected() {
        return;
    }
    let mut rg = rng(0xA3B2);
    let mut worst = 0.0f64;
    // k = 1024 (packing runs in parallel), many block rows (several rayon tasks).
    for &(rc, grid, d, n) in &[
        ((16, 16), (64, 64), 0.1, 64),
        ((16, 16), (64, 64), 0.02, 100),
        ((32, 32), (32, 32), 0.1, 130),
        ((16, 32), (48, 32), 0.3, 17),
    ] {
        worst = worst.max(case(&mut rg, grid, rc, d, n, true));
    }
    eprintln!("bsr_spmm_amx large: worst |err| / bound = {worst:.3e}");
}

#[test]
fn degenerate_shapes() {
    if !amx_expected() {
        return;
    }
    let mut rg = rng(0xA3B3);
    // nnz = 0 (every block row empty: Y all zeros), m = 0, k = 0, n = 0.
    for &(grid, n) in &[
        ((4, 3), 17),
        ((4, 3), 0),
        ((0, 3), 5),
        ((0, 0), 5),
        ((3, 0), 20),
        ((1, 1), 1),
    ] {
        for rc in [(16, 16), (32, 32), (16, 32)] {
            let a = random_bsr_bf16(&mut rg, grid, rc, 0.0, false);
            assert_eq!(a.nblocks(), 0);
            let (m, k) = a.shape();
            let x = bf16_vec(&mut rg, k * n);
            let y = run_amx(&a, &x, n);
            assert_eq!(y.len(), m * n);
            assert!(
                y.iter().all(|&v| v.to_bits() == 0),
                "{rc:?} {grid:?} n={n}: not all +0"
            );
        }
    }
    // A single block.
    worst_ok(case(&mut rg, (1, 1), (16, 16), 1.0, 1, false));
}

fn worst_ok(w: f64) {
    assert!(w <= 1.0);
}

#[test]
fn strided_views() {
    if !amx_expected() {
        return;
    }
    let mut rg = rng(0xA3B4);
    for &(n, xs, ys) in &[(17, 20, 33), (64, 64, 70), (5, 9, 16)] {
        let a = random_bsr_bf16(&mut rg, (6, 5), (16, 16), 0.5, true);
        let (m, k) = a.shape();
        let xd = bf16_vec(&mut rg, k * xs);
        let x: Vec<bf16> = (0..k)
            .flat_map(|i| xd[i * xs..i * xs + n].to_vec())
            .collect();
        let (want, scale, terms) = reference(&a, &x, n);
        let mut yb = vec![-7.0f32; m * ys];
        bsr_spmm_amx(
            a.view(),
            MatRef::with_stride(&xd, k, n, xs).unwrap(),
            MatMut::with_stride(&mut yb, m, n, ys).unwrap(),
        )
        .unwrap();
        let got: Vec<f32> = (0..m)
            .flat_map(|i| yb[i * ys..i * ys + n].to_vec())
            .collect();
        check(
            &got,
            &want,
            &scale,
            &terms,
            n,
            1.0,
            &format!("strided n={n}"),
        );
        // The padding between rows is untouched.
        for i in 0..m {
            assert!(yb[i * ys + n..(i + 1) * ys].iter().all(|&v| v == -7.0));
        }
    }
}

#[test]
fn bit_identical_for_any_thread_count() {
    if !amx_expected() {
        return;
    }
    let mut rg = rng(0xA3B5);
    for &(rc, grid, d, n) in &[
        ((16, 16), (64, 64), 0.1, 100),
        ((32, 32), (32, 32), 0.1, 64),
        ((16, 32), (64, 32), 0.3, 17),
    ] {
        let a = random_bsr_bf16(&mut rg, grid, rc, d, true);
        let x = bf16_vec(&mut rg, a.ncols() * n);
        let ys: Vec<Vec<u32>> = [1, 2, 3]
            .iter()
            .map(|&t| in_pool(t, || bits(&run_amx(&a, &x, n))))
            .collect();
        assert_eq!(ys[0], ys[1], "{rc:?}: 1 vs 2 threads");
        assert_eq!(ys[0], ys[2], "{rc:?}: 1 vs 3 threads");
    }
}

#[test]
fn errors_not_panics() {
    let amx = amx_expected();
    let mut rg = rng(0xA3B6);
    // r = 4 blocks: Unsupported (whether or not AMX is present).
    let a4 = random_bsr_bf16(&mut rg, (4, 4), (4, 4), 0.5, false);
    let x = bf16_vec(&mut rg, 16 * 3);
    let mut y = vec![0.0f32; 16 * 3];
    let e = bsr_spmm_amx(
        a4.view(),
        MatRef::new(&x, 16, 3).unwrap(),
        MatMut::new(&mut y, 16, 3).unwrap(),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            KernelError::Unsupported {
                op: "bsr_spmm_amx",
                ..
            }
        ),
        "{e}"
    );
    // 16 × 8 blocks: Unsupported.
    let a168 = random_bsr_bf16(&mut rg, (1, 2), (16, 8), 1.0, false);
    let e = bsr_spmm_amx(
        a168.view(),
        MatRef::new(&x, 16, 3).unwrap(),
        MatMut::new(&mut y, 16, 3).unwrap(),
    )
    .unwrap_err();
    assert!(matches!(e, KernelError::Unsupported { .. }), "{e}");
    // Wrong X rows: ShapeMismatch.
    let a = random_bsr_bf16(&mut rg, (2, 2), (16, 16), 1.0, false); // 32 × 32
    let xb = bf16_vec(&mut rg, 31 * 3);
    let mut yb = vec![0.0f32; 32 * 3];
    let e = bsr_spmm_amx(
        a.view(),
        MatRef::new(&xb, 31, 3).unwrap(),
        MatMut::new(&mut yb, 32, 3).unwrap(),
    )
    .unwrap_err();
    assert!(matches!(e, KernelError::ShapeMismatch { .. }), "{e}");
    assert_eq!(e.to_string(), "bsr_spmm_amx: A is 32×32 but X has 31 rows");
    // Wrong Y shape: ShapeMismatch.
    let xg = bf16_vec(&mut rg, 32 * 3);
    let e = bsr_spmm_amx(
        a.view(),
        MatRef::new(&xg, 32, 3).unwrap(),
        MatMut::new(&mut yb[..31 * 3], 31, 3).unwrap(),
    )
    .unwrap_err();
    assert!(matches!(e, KernelError::ShapeMismatch { .. }), "{e}");
    // A fitting shape: Ok with AMX, Unsupported without.
    let r = bsr_spmm_amx(
        a.view(),
        MatRef::new(&xg, 32, 3).unwrap(),
        MatMut::new(&mut yb, 32, 3).unwrap(),
    );
    if amx {
        r.unwrap();
    } else {
        assert!(matches!(r, Err(KernelError::Unsupported { .. })));
    }
}
