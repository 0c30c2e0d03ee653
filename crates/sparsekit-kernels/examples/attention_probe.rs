//! Quick probe for block-sparse flash attention (issue 17's speed goal):
//! `cargo run --release -p sparsekit-kernels --example attention_probe`
//!
//! B = 1, H = 8, L = 4096, d = 64, f32, 64 × 64 tiles: a random block mask keeping ~10 % of the
//! tiles plus the diagonal, and the full layout (every tile: the kernel as dense attention).
//! Prints the median forward and forward + backward times and the GFLOP/s of the tile GEMMs
//! done (forward: 2 per kept tile; backward: 5 when the `dS` tiles fit the kernel's 2²⁵-float
//! store, else 7, as the dQ pass then recomputes `S` and `dP`).
//!
//! - `AL`, `AH`, `AD`, `AB`: sequence length, heads, head dim, block size;
//! - `AKEEP`: kept fractions (default `0.1,1`); `AISA`: ISAs to run (e.g. `avx2`, default the
//!   detected one); `ATHREADS`: thread counts (default: rayon's default pool).
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sparsekit_kernels::*;
use sparsekit_measure::{measure, Timing};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Median seconds of `f` (the project's timer: one warm-up call, then `samples` timed calls).
fn time(samples: usize, f: impl FnMut()) -> f64 {
    let timing = Timing {
        samples,
        warmup_calls: 1,
        warmup_time: Duration::ZERO,
    };
    measure(&timing, f).median_s
}

fn main() {
    let (l, h, d, b) = (env("AL", 4096), env("AH", 8), env("AD", 64), env("AB", 64));
    let keeps: Vec<f64> = std::env::var("AKEEP")
        .unwrap_or_else(|_| "0.1,1".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let isas: Vec<Isa> = match std::env::var("AISA") {
        Ok(w) => Isa::available()
            .into_iter()
            .filter(|i| w.contains(i.name()))
            .collect(),
        Err(_) => vec![Isa::detect()],
    };
    let threads: Vec<usize> = std::env::var("ATHREADS")
        .ok()
        .map(|s| s.split(',').filter_map(|t| t.parse().ok()).collect())
        .unwrap_or_else(|| vec![rayon::current_num_threads()]);
    let mut r = StdRng::seed_from_u64(17);
    let shape = AttentionShape {
        batch: 1,
        heads: h,
        seq_q: l,
        seq_k: l,
        head_dim: d,
        value_dim: d,
    };
    let mut rand = |n: usize| -> Vec<f32> { (0..n).map(|_| r.random_range(-1.0..1.0)).collect() };
    let (q, k, v, g) = (
        rand(h * l * d),
        rand(h * l * d),
        rand(h * l * d),
        rand(h * l * d),
    );
    let scale = 1.0 / (d as f32).sqrt();
    let nb = l.div_ceil(b);
    let mut rk = StdRng::seed_from_u64(5);
    for &keep in &keeps {
        let mask: Vec<bool> = (0..nb * nb)
            .map(|t| keep >= 1.0 || t / nb == t % nb || rk.random_bool(keep))
            .collect();
        let layout = BlockLayout::from_block_mask(l, l, b, b, &mask).unwrap();
        let layouts = [layout];
        let tiles = layouts[0].kept_tiles();
        let tile_flops = 2.0 * (b * b * d) as f64 * tiles as f64 * h as f64;
        let (mut o, mut lse) = (vec![0.0f32; h * l * d], vec![0.0f32; h * l]);
        let (mut dq, mut dk, mut dv) = (
            vec![0.0f32; h * l * d],
            vec![0.0; h * l * d],
            vec![0.0; h * l * d],
        );
        let bwd_gemms = if h * tiles * b * b <= 1 << 25 {
            7.0
        } else {
            9.0
        };
        let samples = if keep >= 0.5 { 3 } else { 9 };
        for &isa in &isas {
            for &th in &threads {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(th)
                    .build()
                    .unwrap();
                let (fwd, both) = pool.install(|| {
                    let fwd_call = |o: &mut [f32], lse: &mut [f32]| {
                        block_attention_forward_isa(
                            isa, &q, &k, &v, shape, &layouts, None, scale, o, lse,
                        )
                        .unwrap()
                    };
                    let fwd = time(samples, || fwd_call(&mut o, &mut lse));
                    let both = time(samples, || {
                        fwd_call(&mut o, &mut lse);
                        block_attention_backward_isa(
                            isa, &q, &k, &v, &o, &lse, &g, shape, &layouts, None, scale, &mut dq,
                            &mut dk, &mut dv,
                        )
                        .unwrap()
                    });
                    (fwd, both)
                });
                println!(
                    "L={l} H={h} d={d} block={b} tiles={:.1}% {:<6} threads={th}: forward {:8.2} ms ({:6.1} GFLOP/s)  fwd+bwd {:8.2} ms ({:6.1} GFLOP/s)",
                    100.0 * layouts[0].tile_density(),
                    isa.name(),
                    fwd * 1e3,
                    2.0 * tile_flops / fwd / 1e9,
                    both * 1e3,
                    bwd_gemms * tile_flops / both / 1e9,
                );
            }
        }
    }
}
