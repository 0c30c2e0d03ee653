//! GFLOP/s probe for the SAE encoder (`encode_dense`, `encode_topk`) on every available path.
//! `cargo run --release -p sparsekit-kernels --example sae_encode [-- filter]`
//!
//! - shapes: `n × d_in · (d_sae × d_in)ᵀ` = 4096×768·(24576×768)ᵀ and 4096×384·(12288×384)ᵀ,
//!   `k = 32`; `SAE_N` overrides the rows (default 4096), `SAE_SAMPLES` the timed calls (3).
//! - `filter`: run only the paths whose name contains it (`f32`, `bf16`, `scalar`; the scalar
//!   twins are skipped unless named, they take minutes).
//! - `SAE_ONLY=dense|topk|repack` times only that operation.
//! - Reported: min and median wall time, and GFLOP per CPU-second (all threads, from
//!   `/proc/self/stat`): on a box shared with builds the last is the steadier per-core figure.
//! - `encode_dense` writes `n × d_sae` (the 4096 × 24576 output is 400 MB); `encode_topk` never
//!   allocates it.
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sparsekit_kernels::*;
use sparsekit_measure::{measure, Timing};

/// CPU seconds (user + system, all threads) this process has used, from `/proc/self/stat`
/// (Linux; clock ticks of 10 ms); NaN elsewhere.
fn cpu_s() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            // Fields 14 and 15 of stat(5) are utime / stime; `rest` starts at field 3.
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

/// (min, median) seconds of `f` (the project's timer: one warm-up call, then `samples` timed
/// calls). The min is reported as the kernel's speed: the 2-core box is shared with builds.
fn time(samples: usize, f: impl FnMut()) -> (f64, f64, f64) {
    let timing = Timing {
        samples,
        warmup_calls: 1,
        warmup_time: Duration::ZERO,
    };
    let mut f = f;
    f(); // warm-up outside the CPU-time window
    let c0 = cpu_s();
    let s = measure(
        &Timing {
            warmup_calls: 0,
            ..timing
        },
        &mut f,
    );
    let cpu = (cpu_s() - c0) / samples as f64;
    (s.min_s, s.median_s, cpu)
}

fn main() {
    let filter = std::env::args().nth(1).unwrap_or_default();
    let n: usize = std::env::var("SAE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4096);
    let samples: usize = std::env::var("SAE_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let k = 32;
    let mut r = StdRng::seed_from_u64(7);
    println!(
        "threads {} | n {n} | k {k} | samples {samples}",
        rayon::current_num_threads()
    );
    for &(d_in, d_sae) in &[(768usize, 24576usize), (384, 12288)] {
        let x: Vec<f32> = (0..n * d_in).map(|_| r.random_range(-1.0..1.0)).collect();
        let s = 1.0 / (d_in as f32).sqrt();
        let w: Vec<f32> = (0..d_sae * d_in).map(|_| r.random_range(-s..s)).collect();
        let b: Vec<f32> = (0..d_sae).map(|_| r.random_range(-0.1..0.1)).collect();
        let xm = MatRef::new(&x, n, d_in).unwrap();
        let wm = MatRef::new(&w, d_sae, d_in).unwrap();
        let flops = 2.0 * n as f64 * d_in as f64 * d_sae as f64;
        let mut out = vec![0.0f32; n * d_sae];
        let mut vals = vec![0.0f32; n * k];
        let mut idx = vec![0u32; n * k];
        for prec in [EncoderPrecision::F32, EncoderPrecision::Bf16] {
            for path in EncoderPath::available(prec) {
                let name = path.name();
                let scalar = name.starts_with("scalar");
                if (scalar && !filter.contains("scalar")) || !name.contains(filter.as_str()) {
                    continue;
                }
                let t0 = std::time::Instant::now();
                let mut enc = PackedEncoder::with_path(wm, path).unwrap();
                let t_new = t0.elapsed().as_secs_f64();
                let only = std::env::var("SAE_ONLY").unwrap_or_default();
                let skip = |op: &str| !only.is_empty() && only != op;
                let t_repack = if skip("repack") {
                    (0.0, 0.0, 0.0)
                } else {
                    time(samples, || enc.repack(wm).unwrap())
                };
                let t_dense = if skip("dense") {
                    (f64::NAN, f64::NAN, f64::NAN)
                } else {
                    time(samples, || {
                        encode_dense(xm, &enc, &b, MatMut::new(&mut out, n, d_sae).unwrap())
                            .unwrap()
                    })
                };
                let fb0 = sae::bf16_fallback_rows();
                let t_topk = if skip("topk") {
                    (f64::NAN, f64::NAN, f64::NAN)
                } else {
                    time(samples, || {
                        encode_topk(xm, &enc, &b, k, &mut vals, &mut idx).unwrap()
                    })
                };
                println!(
                    "{n}x{d_in}·({d_sae}x{d_in})ᵀ {name:12} dense {:7.1} ms {:6.1} GFLOP/s (median {:7.1} ms, {:6.1} GFLOP per CPU-s) | topk k={k} {:7.1} ms {:6.1} GFLOP/s (median {:7.1} ms, {:6.1} GFLOP per CPU-s) | new {:6.1} ms repack {:6.1} ms | bf16 fallback rows {}",
                    t_dense.0 * 1e3,
                    flops / t_dense.0 / 1e9,
                    t_dense.1 * 1e3,
                    flops / t_dense.2 / 1e9,
                    t_topk.0 * 1e3,
                    flops / t_topk.0 / 1e9,
                    t_topk.1 * 1e3,
                    flops / t_topk.2 / 1e9,
                    t_new * 1e3,
                    t_repack.0 * 1e3,
                    sae::bf16_fallback_rows() - fb0,
                );
            }
        }
    }
}
