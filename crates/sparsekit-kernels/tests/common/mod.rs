//! Shared test helpers: seeded random inputs and dense f64 references.
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sparsekit_formats::{Bsr, Csr, NM};
use sparsekit_kernels::{KernelError, MatMut, MatRef};

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Values of mixed magnitude: normal-ish, scaled by 10^[-3, 3], random sign.
pub fn mixed(r: &mut StdRng) -> f32 {
    let mag = 10f32.powf(r.random_range(-3.0..3.0));
    let v: f32 = r.random_range(0.1..1.0) * mag;
    if r.random_bool(0.5) {
        v
    } else {
        -v
    }
}

pub fn dense_vec(r: &mut StdRng, len: usize) -> Vec<f32> {
    (0..len).map(|_| mixed(r)).collect()
}

/// Random m×k CSR with the given density; row 0 is empty and (when m > 2) row 1 is fully dense.
pub fn random_csr(r: &mut StdRng, m: usize, k: usize, density: f64) -> Csr<f32> {
    let mut row_ptr = vec![0u32];
    let mut col = Vec::new();
    let mut val = Vec::new();
    for i in 0..m {
        for j in 0..k {
            let keep = if i == 0 && m > 1 {
                false
            } else if i == 1 && m > 2 {
                true
            } else {
                r.random_bool(density)
            };
            if keep {
                col.push(j as u32);
                val.push(mixed(r));
            }
        }
        row_ptr.push(col.len() as u32);
    }
    Csr::try_new(m, k, row_ptr, col, val).unwrap()
}

/// Dense f64 copy of a CSR matrix (row-major m×k).
pub fn to_dense_f64(a: &Csr<f32>) -> Vec<f64> {
    a.to_dense().iter().map(|&v| v as f64).collect()
}

/// C = A·B for row-major dense f64 (A m×k, B k×n), plus |A|·|B| for the tolerance.
pub fn matmul_f64(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut c = vec![0.0; m * n];
    let mut s = vec![0.0; m * n];
    for i in 0..m {
        for t in 0..k {
            let av = a[i * k + t];
            if av == 0.0 {
                continue;
            }
            for j in 0..n {
                c[i * n + j] += av * b[t * n + j];
                s[i * n + j] += (av * b[t * n + j]).abs();
            }
        }
    }
    (c, s)
}

pub fn transpose<T: Copy>(a: &[T], m: usize, n: usize) -> Vec<T> {
    let mut t = Vec::with_capacity(m * n);
    for j in 0..n {
        for i in 0..m {
            t.push(a[i * n + j]);
        }
    }
    t
}

pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// |got − want| ≤ 1e-5·scale + tiny, element-wise (scale = Σ|a||x| for that element).
#[track_caller]
pub fn assert_close(got: &[f32], want: &[f64], scale: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (e, ((&g, &w), &s)) in got.iter().zip(want).zip(scale).enumerate() {
        let err = (g as f64 - w).abs();
        assert!(
            err <= 1e-5 * s + 1e-30,
            "{what}: element {e}: got {g}, want {w} (scale {s}, err {err})"
        );
    }
}

/// Runs `f` in a fresh rayon pool of `threads` threads; shared by the thread-count independence
/// tests of every test file.
pub fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

/// Bit patterns of `v`, so that the determinism tests compare results exactly (not by value).
pub fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|f| f.to_bits()).collect()
}

/// Runs `kernel` on `x` (`xr × xc`) into a fresh `yr × yc` Y filled with `fill` and returns Y:
/// the allocate / wrap / run / unwrap steps every dense-output kernel test repeats.
#[track_caller]
pub fn run_dense(
    x: &[f32],
    (xr, xc): (usize, usize),
    (yr, yc): (usize, usize),
    fill: f32,
    kernel: impl FnOnce(MatRef<'_, f32>, MatMut<'_, f32>) -> Result<(), KernelError>,
) -> Vec<f32> {
    let mut y = vec![fill; yr * yc];
    kernel(
        MatRef::new(x, xr, xc).unwrap(),
        MatMut::new(&mut y, yr, yc).unwrap(),
    )
    .unwrap();
    y
}

/// Shapes that exercise every remainder path (n not a multiple of 8/16, panels of 64/128).
pub const NS: &[usize] = &[0, 1, 7, 8, 9, 16, 17, 63, 64, 65, 129, 200];

/// A random BSR with `nbr × nbc` blocks of `r × c`; block row 0 is empty when `nbr > 1`.
pub fn random_bsr(
    rg: &mut StdRng,
    nbr: usize,
    nbc: usize,
    (r, c): (usize, usize),
    d: f64,
) -> Bsr<f32> {
    let mut brp = vec![0u32];
    let mut bci = vec![];
    for bi in 0..nbr {
        for j in 0..nbc {
            if !(bi == 0 && nbr > 1) && rg.random_bool(d) {
                bci.push(j as u32);
            }
        }
        brp.push(bci.len() as u32);
    }
    let vals = dense_vec(rg, bci.len() * r * c);
    Bsr::try_new(nbr * r, nbc * c, (r, c), brp, bci, vals).unwrap()
}

/// A random N:M matrix with `groups` groups per row; one stored value in five is an explicit 0.
pub fn random_nm(rg: &mut StdRng, m: usize, groups: usize, (nn, mm): (usize, usize)) -> NM<f32> {
    let (mut vals, mut offs) = (vec![], vec![]);
    for _ in 0..m * groups {
        let mut pos: Vec<u8> = (0..mm as u8).collect();
        for t in (1..pos.len()).rev() {
            pos.swap(t, rg.random_range(0..=t));
        }
        let mut chosen = pos[..nn].to_vec();
        chosen.sort();
        for o in chosen {
            offs.push(o);
            vals.push(if rg.random_bool(0.2) { 0.0 } else { mixed(rg) });
        }
    }
    NM::try_new(m, groups * mm, nn, mm, vals, offs).unwrap()
}
