//! Criterion benches for `sparsekit-kernels` (CPU) at the BENCH.md shapes.
//!
//! `cargo bench --bench kernels` (all), `cargo bench --bench kernels -- spmm/csr` (a subset).
//! Throughput is reported as "elements" = useful FLOPs (2·nnz·n for spmm-type ops), so
//! criterion's `Gelem/s` column is GFLOP/s effective. Sample counts are kept small so the whole
//! suite finishes in a few minutes; `cargo xtask bench` is the reference report.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sparsekit_formats::Csr;
use sparsekit_kernels::*;
use std::time::Duration;

/// Uniform random m×k CSR at the given sparsity, values uniform in [-1, 1) (never zero in practice).
fn random_csr(r: &mut StdRng, m: usize, k: usize, sparsity: f64) -> Csr<f32> {
    let mut rp = vec![0u32];
    let (mut c, mut v) = (vec![], vec![]);
    for _ in 0..m {
        for j in 0..k {
            if r.random_bool(1.0 - sparsity) {
                c.push(j as u32);
                v.push(r.random_range(-1.0f32..1.0));
            }
        }
        rp.push(c.len() as u32);
    }
    Csr::try_new(m, k, rp, c, v).unwrap()
}

fn dense(r: &mut StdRng, len: usize) -> Vec<f32> {
    (0..len).map(|_| r.random_range(-1.0f32..1.0)).collect()
}

const SHAPES: &[(usize, usize, usize, &[f64])] = &[
    (4096, 4096, 64, &[0.7, 0.9, 0.98]),
    (3072, 768, 128, &[0.9]),
    (1024, 1024, 256, &[0.9]),
];

fn config(c: &mut Criterion) -> &mut Criterion {
    c
}

fn csr_benches(c: &mut Criterion) {
    let c = config(c);
    let mut r = StdRng::seed_from_u64(42);
    for &(m, k, n, sps) in SHAPES {
        let x = dense(&mut r, k * n); // k×n for spmm, n×k for spmm_t
        let xa = dense(&mut r, m * n);
        let mut y = vec![0.0f32; m.max(k) * n];
        for &sp in sps {
            let a = random_csr(&mut r, m, k, sp);
            let flops = 2 * a.nnz() as u64 * n as u64;
            let id = format!("{m}x{k}x{n}/sp{sp}");
            let t = CsrTranspose::new(a.pattern().view());

            let mut g = c.benchmark_group("spmm/csr");
            g.sample_size(10)
                .warm_up_time(Duration::from_millis(300))
                .measurement_time(Duration::from_secs(1));
            g.throughput(Throughput::Elements(flops));
            g.bench_function(BenchmarkId::from_parameter(&id), |b| {
                b.iter(|| {
                    spmm(
                        a.view(),
                        MatRef::new(&x, k, n).unwrap(),
                        MatMut::new(&mut y[..m * n], m, n).unwrap(),
                    )
                    .unwrap()
                })
            });
            g.finish();

            let mut g = c.benchmark_group("spmm_t/csr");
            g.sample_size(10)
                .warm_up_time(Duration::from_millis(300))
                .measurement_time(Duration::from_secs(1));
            g.throughput(Throughput::Elements(flops));
            g.bench_function(BenchmarkId::from_parameter(&id), |b| {
                b.iter(|| {
                    spmm_t(
                        MatRef::new(&x, n, k).unwrap(),
                        a.view(),
                        MatMut::new(&mut y[..n * m], n, m).unwrap(),
                    )
                    .unwrap()
                })
            });
            g.finish();

            let mut g = c.benchmark_group("spmm_at/csr");
            g.sample_size(10)
                .warm_up_time(Duration::from_millis(300))
                .measurement_time(Duration::from_secs(1));
            g.throughput(Throughput::Elements(flops));
            g.bench_function(BenchmarkId::from_parameter(&id), |b| {
                b.iter(|| {
                    spmm_at_cached(
                        &t,
                        a.view(),
                        MatRef::new(&xa, m, n).unwrap(),
                        MatMut::new(&mut y[..k * n], k, n).unwrap(),
                    )
                    .unwrap()
                })
            });
            g.finish();

            // dW = dYᵀ·X at W's pattern: dY batch×m, X batch×k (batch = n).
            let mut out = vec![0.0f32; a.nnz()];
            let mut g = c.benchmark_group("sddmm/csr");
            g.sample_size(10)
                .warm_up_time(Duration::from_millis(300))
                .measurement_time(Duration::from_secs(1));
            g.throughput(Throughput::Elements(flops));
            g.bench_function(BenchmarkId::from_parameter(&id), |b| {
                b.iter(|| {
                    sddmm_linear(
                        MatRef::new(&xa, n, m).unwrap(),
                        MatRef::new(&x, n, k).unwrap(),
                        a.pattern().view(),
                        &mut out,
                    )
                    .unwrap()
                })
            });
            g.finish();

            if n == 64 {
                let mut yv = vec![0.0f32; m];
                let mut g = c.benchmark_group("spmv/csr");
                g.sample_size(10)
                    .warm_up_time(Duration::from_millis(300))
                    .measurement_time(Duration::from_secs(1));
                g.throughput(Throughput::Elements(2 * a.nnz() as u64));
                g.bench_function(
                    BenchmarkId::from_parameter(format!("{m}x{k}/sp{sp}")),
                    |b| b.iter(|| spmv(a.view(), &x[..k], &mut yv).unwrap()),
                );
                g.finish();
            }
        }
    }
}

fn topk_benches(c: &mut Criterion) {
    // SAE shape: batch 512, d_sae 24576, k 32.
    let mut r = StdRng::seed_from_u64(7);
    let (rows, cols, k) = (512, 24576, 32);
    let x = dense(&mut r, rows * cols);
    let (mut v, mut i) = (vec![0.0f32; rows * k], vec![0u32; rows * k]);
    let mut g = c.benchmark_group("topk");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements((rows * cols) as u64));
    g.bench_function(
        BenchmarkId::from_parameter(format!("{rows}x{cols}/k{k}")),
        |b| b.iter(|| topk_rows(MatRef::new(&x, rows, cols).unwrap(), k, &mut v, &mut i).unwrap()),
    );
    g.finish();
}

/// BSR 16×16 / 4×4 @ 90 % (`Y = A·X` and `Y = X·Wᵀ`) and 2:4 / 1:4 (`Y = X·Wᵀ`, `Y = A·X` and
/// the weight gradient `nm_sddmm`), 4096² × 64, through the public `BsrView` / `NMView` API.
fn structured_benches(c: &mut Criterion) {
    use sparsekit_formats::{Bsr, NM};
    let mut r = StdRng::seed_from_u64(9);
    let (m, k, n) = (4096usize, 4096usize, 64usize);
    let x = dense(&mut r, k * n);
    let dy = dense(&mut r, n * m);
    let mut y = vec![0.0f32; m * n];
    let cfg = |g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>| {
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
    };
    for &(br, bc) in &[(16usize, 16usize), (4, 4)] {
        let mut brp = vec![0u32];
        let mut bci = vec![];
        for _ in 0..m / br {
            for j in 0..k / bc {
                if r.random_bool(0.1) {
                    bci.push(j as u32);
                }
            }
            brp.push(bci.len() as u32);
        }
        let vals = dense(&mut r, bci.len() * br * bc);
        let a = Bsr::<f32>::try_new(m, k, (br, bc), brp, bci, vals).unwrap();
        let flops = 2 * a.values().len() as u64 * n as u64;
        let id = format!("{m}x{k}x{n}/b{br}x{bc}/sp0.9");
        let mut g = c.benchmark_group("spmm/bsr");
        cfg(&mut g);
        g.throughput(Throughput::Elements(flops));
        g.bench_function(BenchmarkId::from_parameter(&id), |b| {
            b.iter(|| {
                bsr_spmm(
                    a.view(),
                    MatRef::new(&x, k, n).unwrap(),
                    MatMut::new(&mut y, m, n).unwrap(),
                )
                .unwrap()
            })
        });
        g.finish();
        let mut g = c.benchmark_group("spmm_t/bsr");
        cfg(&mut g);
        g.throughput(Throughput::Elements(flops));
        g.bench_function(BenchmarkId::from_parameter(&id), |b| {
            b.iter(|| {
                bsr_spmm_t(
                    MatRef::new(&x, n, k).unwrap(),
                    a.view(),
                    None,
                    MatMut::new(&mut y, n, m).unwrap(),
                )
                .unwrap()
            })
        });
        g.finish();
    }
    for &(nn, mm) in &[(2usize, 4usize), (1, 4)] {
        let groups = k / mm;
        let mut offs = Vec::with_capacity(m * groups * nn);
        for _ in 0..m * groups {
            let mut pos: Vec<u8> = (0..mm as u8).collect();
            for t in (1..pos.len()).rev() {
                pos.swap(t, r.random_range(0..=t));
            }
            let mut chosen = pos[..nn].to_vec();
            chosen.sort();
            offs.extend(chosen);
        }
        let vals = dense(&mut r, offs.len());
        let w = NM::<f32>::try_new(m, k, nn, mm, vals, offs).unwrap();
        let flops = 2 * w.values().len() as u64 * n as u64;
        let id = format!("{m}x{k}x{n}/{nn}:{mm}");
        let mut g = c.benchmark_group("spmm_t/nm");
        cfg(&mut g);
        g.throughput(Throughput::Elements(flops));
        g.bench_function(BenchmarkId::from_parameter(&id), |b| {
            b.iter(|| {
                nm_spmm_t(
                    MatRef::new(&x, n, k).unwrap(),
                    w.view(),
                    None,
                    MatMut::new(&mut y, n, m).unwrap(),
                )
                .unwrap()
            })
        });
        g.finish();
        let mut g = c.benchmark_group("spmm/nm");
        cfg(&mut g);
        g.throughput(Throughput::Elements(flops));
        g.bench_function(BenchmarkId::from_parameter(&id), |b| {
            b.iter(|| {
                nm_spmm(
                    w.view(),
                    MatRef::new(&x, k, n).unwrap(),
                    MatMut::new(&mut y, m, n).unwrap(),
                )
                .unwrap()
            })
        });
        g.finish();
        let mut gw = vec![0.0f32; w.values().len()];
        let mut g = c.benchmark_group("sddmm/nm");
        cfg(&mut g);
        g.throughput(Throughput::Elements(flops));
        g.bench_function(BenchmarkId::from_parameter(&id), |b| {
            b.iter(|| {
                nm_sddmm(
                    MatRef::new(&dy, n, m).unwrap(),
                    MatRef::new(&x, n, k).unwrap(),
                    w.view(),
                    &mut gw,
                )
                .unwrap()
            })
        });
        g.finish();
    }
}

criterion_group!(benches, csr_benches, structured_benches, topk_benches);
criterion_main!(benches);
