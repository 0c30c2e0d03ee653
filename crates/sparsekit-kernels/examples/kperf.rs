//! Quick GFLOP/s probe for the CSR kernels (the criterion benches live in the root `benches/`).
//! `cargo run --release -p sparsekit-kernels --example kperf [-- filter]`
//!
//! - `filter`: run only the ops whose name contains it; `structured` runs the BSR / N:M probes,
//!   `gather` the L2 row-gather roofline probe (AVX-512 machines).
//! - `KM`, `KK`, `KN`, `KSP`: shape and sparsities (default 4096, 4096, 64, `0.7,0.9,0.98`);
//!   `KISA`: ISAs to run (e.g. `avx512`); `KPERF_THREADS`: thread counts (default `1,2`).
//! - `KALIGN=1` places `X` on a 64-byte boundary (else where the allocator put it, usually 16
//!   bytes into a line with glibc), `KOFF=N` at float offset N; `KYALIGN=1` aligns `Y`.
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sparsekit_formats::Csr;
use sparsekit_kernels::sddmm::sddmm_linear_isa;
use sparsekit_kernels::spmm::{spmm_at_isa, spmm_isa, spmm_t_isa};
use sparsekit_kernels::*;
use sparsekit_measure::{measure, Timing};

fn csr(r: &mut StdRng, m: usize, k: usize, sparsity: f64) -> Csr<f32> {
    let mut rp = vec![0u32];
    let (mut c, mut v) = (vec![], vec![]);
    for _ in 0..m {
        for j in 0..k {
            if r.random_bool(1.0 - sparsity) {
                c.push(j as u32);
                v.push(r.random_range(-1.0..1.0));
            }
        }
        rp.push(c.len() as u32);
    }
    Csr::try_new(m, k, rp, c, v).unwrap()
}

/// Median seconds of `f` (the project's timer: one warm-up call, then 11 timed calls).
fn time(f: impl FnMut()) -> f64 {
    let timing = Timing {
        samples: 11,
        warmup_calls: 1,
        warmup_time: Duration::ZERO,
    };
    measure(&timing, f).median_s
}

/// BSR r×c at 90 % block sparsity and 2:4 / 1:4 N:M probes (public `BsrView` / `NMView` API).
fn structured(r: &mut StdRng, m: usize, k: usize, n: usize, threads: &[usize]) {
    use sparsekit_formats::{Bsr, NM};
    for &(br, bc) in &[(16usize, 16usize), (4, 4)] {
        let (nbr, nbc) = (m / br, k / bc);
        let mut brp = vec![0u32];
        let mut bci = vec![];
        for _ in 0..nbr {
            for j in 0..nbc {
                if r.random_bool(0.1) {
                    bci.push(j as u32);
                }
            }
            brp.push(bci.len() as u32);
        }
        let vals: Vec<f32> = (0..bci.len() * br * bc)
            .map(|_| r.random_range(-1.0..1.0))
            .collect();
        let flops = 2.0 * vals.len() as f64 * n as f64;
        let a = Bsr::<f32>::try_new(m, k, (br, bc), brp, bci, vals).unwrap();
        let x: Vec<f32> = (0..k * n).map(|_| r.random_range(-1.0..1.0)).collect();
        let mut y = vec![0.0f32; m * n];
        for &th in threads {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(th)
                .build()
                .unwrap();
            let s = pool.install(|| {
                time(|| {
                    bsr_spmm(
                        a.view(),
                        MatRef::new(&x, k, n).unwrap(),
                        MatMut::new(&mut y, m, n).unwrap(),
                    )
                    .unwrap()
                })
            });
            println!(
                "bsr{br}x{bc}  sp=0.90 n={n} thr={th}: {:8.3} ms {:7.1} GFLOP/s",
                s * 1e3,
                flops / s / 1e9
            );
        }
    }
    for &(nn, mm) in &[(2usize, 4usize), (1, 4)] {
        let groups = k / mm;
        let mut vals = vec![];
        let mut offs = vec![];
        for _ in 0..m * groups {
            let mut pos: Vec<u8> = (0..mm as u8).collect();
            for t in (1..pos.len()).rev() {
                pos.swap(t, r.random_range(0..=t));
            }
            let mut c = pos[..nn].to_vec();
            c.sort();
            for o in c {
                offs.push(o);
                vals.push(r.random_range(-1.0f32..1.0));
            }
        }
        let flops = 2.0 * vals.len() as f64 * n as f64;
        let w = NM::<f32>::try_new(m, k, nn, mm, vals, offs).unwrap();
        let x: Vec<f32> = (0..n * k).map(|_| r.random_range(-1.0..1.0)).collect();
        let mut y = vec![0.0f32; n * m];
        for &th in threads {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(th)
                .build()
                .unwrap();
            let s = pool.install(|| {
                time(|| {
                    nm_spmm_t(
                        MatRef::new(&x, n, k).unwrap(),
                        w.view(),
                        None,
                        MatMut::new(&mut y, n, m).unwrap(),
                    )
                    .unwrap()
                })
            });
            println!(
                "nm{nn}:{mm}_t   n={n} thr={th}: {:8.3} ms {:7.1} GFLOP/s",
                s * 1e3,
                flops / s / 1e9
            );
        }
    }
}

/// Roofline probe: the fastest this machine moves random 256-byte rows of a k × 64 f32 `X`
/// (64-byte aligned, 1 MiB at k = 4096: L2-resident) into registers — the traffic CSR spmm needs
/// per stored entry at n = 64 — with no FMA chain in the way: each row is added into one of 8
/// independent accumulator sets. `kperf gather`; prints GB/s and bytes per ns per thread.
#[cfg(all(target_arch = "x86_64", sparsekit_avx512))]
#[allow(clippy::incompatible_msrv)] // compiled only where build.rs found Rust >= 1.89
fn gather(k: usize, entries: usize, threads: &[usize]) {
    use std::arch::x86_64::*;
    #[target_feature(enable = "avx512f")]
    unsafe fn run(x: *const f32, idx: &[u32], prefetch: bool) -> f32 {
        let (mut a0, mut a1, mut a2, mut a3) = (
            _mm512_setzero_ps(),
            _mm512_setzero_ps(),
            _mm512_setzero_ps(),
            _mm512_setzero_ps(),
        );
        let (mut b0, mut b1, mut b2, mut b3) = (a0, a1, a2, a3);
        let last = idx.len() - 1;
        let ip = idx.as_ptr();
        for p in (0..idx.len() / 2 * 2).step_by(2) {
            if prefetch {
                for q in [p, p + 1] {
                    let jn = *ip.add((q + 12).min(last)) as usize;
                    for l in 0..4 {
                        _mm_prefetch(x.add(jn * 64 + l * 16) as *const i8, _MM_HINT_T0);
                    }
                }
            }
            let r = x.add(*ip.add(p) as usize * 64);
            a0 = _mm512_add_ps(a0, _mm512_load_ps(r));
            a1 = _mm512_add_ps(a1, _mm512_load_ps(r.add(16)));
            a2 = _mm512_add_ps(a2, _mm512_load_ps(r.add(32)));
            a3 = _mm512_add_ps(a3, _mm512_load_ps(r.add(48)));
            let r = x.add(*ip.add(p + 1) as usize * 64);
            b0 = _mm512_add_ps(b0, _mm512_load_ps(r));
            b1 = _mm512_add_ps(b1, _mm512_load_ps(r.add(16)));
            b2 = _mm512_add_ps(b2, _mm512_load_ps(r.add(32)));
            b3 = _mm512_add_ps(b3, _mm512_load_ps(r.add(48)));
        }
        let acc = [a0, a1, a2, a3, b0, b1, b2, b3];
        let mut t = 0.0;
        for a in acc {
            t += _mm512_reduce_add_ps(a);
        }
        t
    }
    if !std::arch::is_x86_feature_detected!("avx512f") {
        return;
    }
    let mut r = StdRng::seed_from_u64(3);
    let xv: Vec<f32> = (0..k * 64 + 16)
        .map(|_| r.random_range(-1.0..1.0))
        .collect();
    let off = xv.as_ptr().align_offset(64);
    let xp = xv[off..].as_ptr() as usize;
    let idx: Vec<u32> = (0..entries).map(|_| r.random_range(0..k as u32)).collect();
    for &th in threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(th)
            .build()
            .unwrap();
        for prefetch in [false, true] {
            let s = pool.install(|| {
                time(|| {
                    use rayon::prelude::*;
                    let sum: f32 = idx
                        .par_chunks(entries.div_ceil(th))
                        // SAFETY: X holds k aligned rows of 64 floats; every index < k.
                        .map(|c| unsafe { run(xp as *const f32, c, prefetch) })
                        .sum();
                    std::hint::black_box(sum);
                })
            });
            let bytes = entries as f64 * 256.0;
            println!(
                "gather k={k} rows of 256 B, prefetch={prefetch:5} thr={th}: {:7.1} GB/s ({:.1} GB/s per thread, = {:.1} GFLOP/s of n=64 spmm)",
                bytes / s / 1e9,
                bytes / s / 1e9 / th as f64,
                entries as f64 * 128.0 / s / 1e9
            );
        }
    }
}

fn main() {
    let filter = std::env::args().nth(1).unwrap_or_default();
    #[cfg(all(target_arch = "x86_64", sparsekit_avx512))]
    if filter == "gather" {
        for k in [512, 4096] {
            gather(k, 1 << 22, &[1, 2]);
        }
        return;
    }
    if filter == "structured" {
        let threads: Vec<usize> = std::env::var("KPERF_THREADS")
            .map(|s| s.split(',').map(|t| t.parse().unwrap()).collect())
            .unwrap_or(vec![1, 2]);
        structured(&mut StdRng::seed_from_u64(1), 4096, 4096, 64, &threads);
        return;
    }
    let threads: Vec<usize> = std::env::var("KPERF_THREADS")
        .map(|s| s.split(',').map(|t| t.parse().unwrap()).collect())
        .unwrap_or(vec![1, 2]);
    let mut r = StdRng::seed_from_u64(0);
    let m: usize = std::env::var("KM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4096);
    let k: usize = std::env::var("KK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4096);
    let n: usize = std::env::var("KN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let sps: Vec<f64> = std::env::var("KSP")
        .map(|s| s.split(',').map(|t| t.parse().unwrap()).collect())
        .unwrap_or(vec![0.7, 0.9, 0.98]);
    {
        let xv: Vec<f32> = (0..m.max(k) * n + 16)
            .map(|_| r.random_range(-1.0..1.0))
            .collect();
        // KALIGN=1: start X on a 64-byte boundary (else wherever the allocator put it).
        let off = if std::env::var("KALIGN").is_ok() {
            xv.as_ptr().align_offset(64)
        } else {
            std::env::var("KOFF").map_or(0, |v| v.parse().unwrap())
        };
        println!(
            "X offset {off}, addr % 64 = {}",
            (xv.as_ptr() as usize + off * 4) % 64
        );
        let x = &xv[off..off + m.max(k) * n];
        // Half-precision copies of X (bf16 / f16 operand rows: half the gathered bytes).
        let xb: Vec<half::bf16> = x.iter().map(|&v| half::bf16::from_f32(v)).collect();
        let xh: Vec<half::f16> = x.iter().map(|&v| half::f16::from_f32(v)).collect();
        // KYALIGN=1: Y on a 64-byte boundary as well.
        let mut yv = vec![0.0f32; m.max(k) * n + 16];
        let yoff = if std::env::var("KYALIGN").is_ok() {
            yv.as_ptr().align_offset(64)
        } else {
            0
        };
        let y = &mut yv[yoff..yoff + m.max(k) * n];
        for &sp in &sps {
            let a = csr(&mut r, m, k, sp);
            let t = CsrTranspose::new(a.pattern().view());
            let flops = 2.0 * a.nnz() as f64 * n as f64;
            for isa in Isa::available()
                .into_iter()
                .rev()
                .filter(|i| std::env::var("KISA").map_or(true, |w| w.contains(i.name())))
            {
                for &th in &threads {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(th)
                        .build()
                        .unwrap();
                    let run = |name: &str, f: &mut (dyn FnMut() + Send)| {
                        if !name.contains(&filter) {
                            return;
                        }
                        let s = pool.install(|| time(&mut *f));
                        println!(
                            "{name:8} sp={sp:.2} n={n} {:7} thr={th}: {:8.3} ms {:7.1} GFLOP/s",
                            isa.name(),
                            s * 1e3,
                            flops / s / 1e9
                        );
                    };
                    run("spmm", &mut || {
                        spmm_isa(
                            isa,
                            1.0,
                            a.view(),
                            MatRef::new(x, k, n).unwrap(),
                            0.0,
                            MatMut::new(y, m, n).unwrap(),
                        )
                        .unwrap()
                    });
                    let ah = a.cast::<half::f16>();
                    run("spmm_f16", &mut || {
                        spmm_isa(
                            isa,
                            1.0,
                            ah.view(),
                            MatRef::new(x, k, n).unwrap(),
                            0.0,
                            MatMut::new(y, m, n).unwrap(),
                        )
                        .unwrap()
                    });
                    let ab = a.cast::<half::bf16>();
                    run("spmm_bf16", &mut || {
                        spmm_isa(
                            isa,
                            1.0,
                            ab.view(),
                            MatRef::new(&xb, k, n).unwrap(),
                            0.0,
                            MatMut::new(y, m, n).unwrap(),
                        )
                        .unwrap()
                    });
                    run("spmm_f16x", &mut || {
                        spmm_isa(
                            isa,
                            1.0,
                            ah.view(),
                            MatRef::new(&xh, k, n).unwrap(),
                            0.0,
                            MatMut::new(y, m, n).unwrap(),
                        )
                        .unwrap()
                    });
                    run("spmm_t", &mut || {
                        spmm_t_isa(
                            isa,
                            MatRef::new(x, n, k).unwrap(),
                            a.view(),
                            None,
                            MatMut::new(y, n, m).unwrap(),
                        )
                        .unwrap()
                    });
                    run("spmm_at", &mut || {
                        spmm_at_isa(
                            isa,
                            &t,
                            a.view(),
                            MatRef::new(x, m, n).unwrap(),
                            MatMut::new(y, k, n).unwrap(),
                        )
                        .unwrap()
                    });
                    run("spmm_atu", &mut || {
                        // Uncached (transpose built per call; always the detected ISA).
                        spmm_at(
                            a.view(),
                            MatRef::new(x, m, n).unwrap(),
                            MatMut::new(y, k, n).unwrap(),
                        )
                        .unwrap()
                    });
                    let mut out = vec![0.0f32; a.nnz()];
                    run("sddmm_l", &mut || {
                        sddmm_linear_isa(
                            isa,
                            MatRef::new(x, n, m).unwrap(),
                            MatRef::new(y, n, k).unwrap(),
                            a.pattern().view(),
                            &mut out,
                        )
                        .unwrap()
                    });
                }
            }
        }
    }
}
