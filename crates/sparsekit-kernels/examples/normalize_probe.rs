//! Quick timing probe for the sparse normalisers on `[4096, 1024]` f32 (`z = randn·3`), next to a
//! rayon softmax over the same array (the dense baseline the normalisers should stay close to).
//! `cargo run --release -p sparsekit-kernels --example normalize_probe`
//! (`NROWS`, `NCOLS` override the shape; `RAYON_NUM_THREADS` the threads).
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use sparsekit_kernels::normalize::{normalize, normalize_backward, Normalizer};
use sparsekit_kernels::{MatMut, MatRef};
use sparsekit_measure::{measure, Timing};

/// Median milliseconds of `f` (the project's timer: one warm-up call, then 11 timed calls).
fn time_ms(f: impl FnMut()) -> f64 {
    let timing = Timing {
        samples: 11,
        warmup_calls: 1,
        warmup_time: Duration::ZERO,
    };
    measure(&timing, f).median_s * 1e3
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let (r, c) = (env("NROWS", 4096), env("NCOLS", 1024));
    let mut rng = StdRng::seed_from_u64(1);
    let z: Vec<f32> = (0..r * c)
        .map(|_| {
            let (u, v): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random_range(0.0..1.0));
            (3.0 * (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
        })
        .collect();
    let dp: Vec<f32> = z.iter().map(|v| (v * 7.0).sin()).collect();
    let mut p = vec![0.0f32; r * c];
    let mut dz = vec![0.0f32; r * c];
    println!(
        "[{r}, {c}] f32, z = randn·3, {} threads",
        rayon::current_num_threads()
    );
    let softmax = time_ms(|| {
        p.par_chunks_mut(c).zip(z.par_chunks(c)).for_each(|(o, x)| {
            let m = x.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let mut s = 0.0f32;
            for (o, &v) in o.iter_mut().zip(x) {
                *o = (v - m).exp();
                s += *o;
            }
            let inv = 1.0 / s;
            o.iter_mut().for_each(|v| *v *= inv);
        })
    });
    println!("softmax (rayon, f32)    forward {softmax:8.2} ms");
    for f in [
        Normalizer::Sparsemax,
        Normalizer::Entmax15,
        Normalizer::Entmax { alpha: 1.5 },
        Normalizer::Entmax { alpha: 1.25 },
    ] {
        let fwd = time_ms(|| {
            normalize(
                f,
                MatRef::new(&z, r, c).unwrap(),
                MatMut::new(&mut p, r, c).unwrap(),
            )
            .unwrap()
        });
        let nnz = p.iter().filter(|&&v| v > 0.0).count() as f64 / r as f64;
        let bwd = time_ms(|| {
            normalize_backward(
                f,
                MatRef::new(&p, r, c).unwrap(),
                MatRef::new(&dp, r, c).unwrap(),
                MatMut::new(&mut dz, r, c).unwrap(),
            )
            .unwrap()
        });
        println!(
            "{:<23} forward {fwd:8.2} ms ({:.2}× softmax)  backward {bwd:8.2} ms  support {nnz:.1}/row",
            format!("{f:?}"),
            fwd / softmax
        );
    }
}
