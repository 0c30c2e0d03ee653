//! Timing probe for `bsr_spmm_amx` (bf16 BSR × bf16 X on Intel AMX) against `bsr_spmm` (f32
//! values and X, the same block pattern and values): `M × K` BSR with 16 × 16 blocks at 90 %
//! block sparsity times `K × N`, median of 21 calls in ABBA warm blocks after warm-up
//! (`sparsekit_measure::measure_interleaved`).
//!
//! `cargo run --release -p sparsekit-kernels --example bsr_amx_probe`
//! (`M`, `K`, `N`, `R` (block side), `SPARSITY` (percent) override the shape; `RAYON_NUM_THREADS`
//! the threads).
use std::time::Duration;

use half::bf16;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sparsekit_formats::Bsr;
use sparsekit_kernels::{amx_available, bsr_spmm, bsr_spmm_amx, MatMut, MatRef};
use sparsekit_measure::{measure_interleaved, Timing};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let (m, k, n, b) = (env("M", 4096), env("K", 4096), env("N", 64), env("R", 16));
    let sparsity = env("SPARSITY", 90) as f64 / 100.0;
    assert!(m % b == 0 && k % b == 0, "M and K must be multiples of R");
    let mut rng = StdRng::seed_from_u64(7);
    let mut brp = vec![0u32];
    let mut bci = vec![];
    for _ in 0..m / b {
        for j in 0..k / b {
            if rng.random_bool(1.0 - sparsity) {
                bci.push(j as u32);
            }
        }
        brp.push(bci.len() as u32);
    }
    let nb = bci.len();
    let vals: Vec<bf16> = (0..nb * b * b)
        .map(|_| bf16::from_f32(rng.random_range(-1.0f32..1.0)))
        .collect();
    let x: Vec<bf16> = (0..k * n)
        .map(|_| bf16::from_f32(rng.random_range(-1.0f32..1.0)))
        .collect();
    let a = Bsr::try_new(m, k, (b, b), brp, bci, vals).unwrap();
    let af = a.cast::<f32>();
    let xf: Vec<f32> = x.iter().map(|v| v.to_f32()).collect();
    let (mut y_amx, mut y_f32) = (vec![0.0f32; m * n], vec![0.0f32; m * n]);
    let flop = 2.0 * (nb * b * b * n) as f64;
    println!(
        "BSR {m}×{k} ({b}×{b} blocks, {:.1} % blocks kept, {nb} blocks) · {k}×{n}, {} rayon threads, AMX available: {}",
        100.0 * nb as f64 / ((m / b) * (k / b)).max(1) as f64,
        rayon::current_num_threads(),
        amx_available()
    );
    if !amx_available() {
        println!("no AMX: nothing to compare");
        return;
    }
    let timing = Timing {
        samples: 21,
        warmup_calls: 3,
        warmup_time: Duration::from_millis(200),
    };
    let (s_amx, s_f32) = measure_interleaved(
        &timing,
        || {
            bsr_spmm_amx(
                a.view(),
                MatRef::new(&x, k, n).unwrap(),
                MatMut::new(&mut y_amx, m, n).unwrap(),
            )
            .unwrap()
        },
        || {
            bsr_spmm(
                af.view(),
                MatRef::new(&xf, k, n).unwrap(),
                MatMut::new(&mut y_f32, m, n).unwrap(),
            )
            .unwrap()
        },
    );
    let maxdiff = y_amx
        .iter()
        .zip(&y_f32)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0f32, f32::max);
    for (name, s) in [("bsr_spmm_amx (bf16)", s_amx), ("bsr_spmm (f32)", s_f32)] {
        println!(
            "{name:>20}: median {:.3} ms (min {:.3}, max {:.3}), {:.1} GFLOP/s",
            s.median_s * 1e3,
            s.min_s * 1e3,
            s.max_s * 1e3,
            flop / s.median_s * 1e-9
        );
    }
    println!(
        "speed-up {:.2}×; max |y_amx − y_f32| = {maxdiff:.2e}",
        s_f32.median_s / s_amx.median_s
    );
}
