//! SAE encoder (`sae`): every path against an f64 reference, fast paths against their scalar
//! twins, Bf16 within its documented bound, exact top-k on every path, thread-count
//! independence, error cases.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sparsekit_kernels::sae::bf16_fallback_rows;
use sparsekit_kernels::*;

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn randv(r: &mut StdRng, len: usize, s: f32) -> Vec<f32> {
    (0..len).map(|_| r.random_range(-s..s)).collect()
}

struct Case {
    n: usize,
    d_in: usize,
    d_sae: usize,
    x: Vec<f32>,
    w: Vec<f32>,
    b: Vec<f32>,
}

impl Case {
    fn random(seed: u64, n: usize, d_in: usize, d_sae: usize) -> Case {
        let mut r = rng(seed);
        let x = randv(&mut r, n * d_in, 1.0);
        let w = randv(&mut r, d_sae * d_in, 1.0 / (d_in as f32).sqrt());
        let b = randv(&mut r, d_sae, 0.2);
        Case {
            n,
            d_in,
            d_sae,
            x,
            w,
            b,
        }
    }
    fn xm(&self) -> MatRef<'_, f32> {
        MatRef::new(&self.x, self.n, self.d_in).unwrap()
    }
    fn wm(&self) -> MatRef<'_, f32> {
        MatRef::new(&self.w, self.d_sae, self.d_in).unwrap()
    }
    /// f64 pre-activations and `Σ|x||w| + |b|` per element.
    fn reference(&self) -> (Vec<f64>, Vec<f64>) {
        let mut pre = vec![0.0; self.n * self.d_sae];
        let mut mag = vec![0.0; self.n * self.d_sae];
        for i in 0..self.n {
            for j in 0..self.d_sae {
                let (mut s, mut m) = (self.b[j] as f64, (self.b[j] as f64).abs());
                for p in 0..self.d_in {
                    let t = self.x[i * self.d_in + p] as f64 * self.w[j * self.d_in + p] as f64;
                    s += t;
                    m += t.abs();
                }
                pre[i * self.d_sae + j] = s;
                mag[i * self.d_sae + j] = m;
            }
        }
        (pre, mag)
    }
    fn dense(&self, path: EncoderPath) -> Vec<f32> {
        let enc = PackedEncoder::with_path(self.wm(), path).unwrap();
        assert_eq!(enc.path_name(), path.name());
        assert_eq!((enc.d_in(), enc.d_sae()), (self.d_in, self.d_sae));
        let mut out = vec![f32::NAN; self.n * self.d_sae];
        encode_dense(
            self.xm(),
            &enc,
            &self.b,
            MatMut::new(&mut out, self.n, self.d_sae).unwrap(),
        )
        .unwrap();
        out
    }
    fn topk(&self, path: EncoderPath, k: usize) -> (Vec<f32>, Vec<u32>) {
        let enc = PackedEncoder::with_path(self.wm(), path).unwrap();
        let mut v = vec![f32::NAN; self.n * k];
        let mut ix = vec![u32::MAX; self.n * k];
        encode_topk(self.xm(), &enc, &self.b, k, &mut v, &mut ix).unwrap();
        (v, ix)
    }
}

fn all_paths() -> Vec<EncoderPath> {
    let mut v = EncoderPath::available(EncoderPrecision::F32);
    v.extend(EncoderPath::available(EncoderPrecision::Bf16));
    v
}

/// (n, d_in, d_sae): off the SIMD widths, across the row block (256), tile (512) and AMX (32)
/// boundaries, d_in = 1, zero rows.
const SHAPES: &[(usize, usize, usize)] = &[
    (0, 5, 7),
    (1, 1, 1),
    (3, 1, 40),
    (9, 17, 33),
    (33, 40, 100),
    (70, 33, 64),
    (260, 48, 530),
    (5, 70, 1030),
];

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn f32_paths_match_f64_and_scalar_twin_bitwise() {
    for (s, &(n, d_in, d_sae)) in SHAPES.iter().enumerate() {
        let c = Case::random(s as u64, n, d_in, d_sae);
        let (pre, mag) = c.reference();
        let twin = c.dense(EncoderPath::Scalar);
        // f32 fma chain of d_in terms + one bias add: |Δ| ≤ (d_in + 1)·2⁻²⁴·(Σ|x||w| + |b|)·1.01.
        for e in 0..n * d_sae {
            let bound = (d_in as f64 + 1.0) * 2f64.powi(-24) * mag[e] * 1.01 + 1e-30;
            assert!(
                (twin[e] as f64 - pre[e]).abs() <= bound,
                "{n}×{d_in}×{d_sae} elem {e}: {} vs {}",
                twin[e],
                pre[e]
            );
        }
        for path in EncoderPath::available(EncoderPrecision::F32) {
            assert_eq!(
                bits(&c.dense(path)),
                bits(&twin),
                "{} {n}×{d_in}×{d_sae}",
                path.name()
            );
        }
    }
}

/// Depths past the 256-element weight micro-panel (`KC`), so every F32 kernel stores and
/// reloads its partial chains between depth chunks; row counts off both the AVX-512 (8) and the
/// AVX2 (6) row panels; values of mixed magnitude so any change in summation order shows.
#[test]
fn f32_paths_bitwise_across_depth_chunks() {
    for (s, &(n, d_in, d_sae)) in [(13usize, 600usize, 70usize), (7, 513, 33), (20, 257, 96)]
        .iter()
        .enumerate()
    {
        let mut c = Case::random(900 + s as u64, n, d_in, d_sae);
        for (e, v) in c.x.iter_mut().enumerate() {
            *v *= [1.0, 1e3, 1e-3, 37.0][e % 4];
        }
        let (pre, mag) = c.reference();
        let twin = c.dense(EncoderPath::Scalar);
        for e in 0..n * d_sae {
            let bound = (d_in as f64 + 1.0) * 2f64.powi(-24) * mag[e] * 1.01 + 1e-30;
            assert!(
                (twin[e] as f64 - pre[e]).abs() <= bound,
                "{n}×{d_in}×{d_sae} elem {e}"
            );
        }
        let (ev, ei) = expected_topk(&c, 9);
        for path in EncoderPath::available(EncoderPrecision::F32) {
            assert_eq!(
                bits(&c.dense(path)),
                bits(&twin),
                "{} {n}×{d_in}×{d_sae}",
                path.name()
            );
            let (v, ix) = c.topk(path, 9);
            assert_eq!(ix, ei, "{} {n}×{d_in}×{d_sae}", path.name());
            assert_eq!(bits(&v), bits(&ev), "{} {n}×{d_in}×{d_sae}", path.name());
        }
    }
}

/// `EncoderPath::best` follows `Isa::detect` (so `SPARSEKIT_ISA=avx2` selects `avx2-f32`).
#[test]
fn best_f32_path_follows_isa() {
    let best = EncoderPath::best(EncoderPrecision::F32);
    eprintln!(
        "Isa::detect() = {}, best F32 path = {}",
        Isa::detect().name(),
        best.name()
    );
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        assert!(EncoderPath::Avx2F32.is_available());
        assert!(EncoderPath::available(EncoderPrecision::F32).contains(&EncoderPath::Avx2F32));
    }
    let want = match Isa::detect() {
        Isa::Avx512 if EncoderPath::Avx512F32.is_available() => EncoderPath::Avx512F32,
        Isa::Avx2 | Isa::Avx512 if EncoderPath::Avx2F32.is_available() => EncoderPath::Avx2F32,
        _ => EncoderPath::Scalar,
    };
    assert_eq!(best, want);
    if Isa::detect() == Isa::Scalar {
        assert_eq!(best, EncoderPath::Scalar);
    }
    if let Ok(v) = std::env::var("SPARSEKIT_ISA") {
        if v.trim().eq_ignore_ascii_case("avx2") && Isa::Avx2.is_available() {
            assert_eq!(best, EncoderPath::Avx2F32);
            let c = Case::random(901, 3, 5, 7);
            assert_eq!(
                PackedEncoder::new(c.wm(), EncoderPrecision::F32)
                    .unwrap()
                    .path_name(),
                "avx2-f32"
            );
        }
    }
}

#[test]
fn bf16_paths_within_bound_of_f64_and_twin() {
    for (s, &(n, d_in, d_sae)) in SHAPES.iter().enumerate() {
        let c = Case::random(100 + s as u64, n, d_in, d_sae);
        let (pre, mag) = c.reference();
        let twin = c.dense(EncoderPath::ScalarBf16);
        for path in EncoderPath::available(EncoderPrecision::Bf16) {
            let got = c.dense(path);
            for e in 0..n * d_sae {
                // Documented bound: (2⁻⁷ + 2⁻¹⁶ + d_in·2⁻²⁴)·Σ|x||w| + 2⁻²⁴|pre| (+ bias add).
                let bound = (2f64.powi(-7) + 2f64.powi(-16) + d_in as f64 * 2f64.powi(-24))
                    * mag[e]
                    + 2f64.powi(-23) * pre[e].abs()
                    + 1e-30;
                let d = (got[e] as f64 - pre[e]).abs();
                assert!(
                    d <= bound,
                    "{} {n}×{d_in}×{d_sae} elem {e}: {} vs {}",
                    path.name(),
                    got[e],
                    pre[e]
                );
                // Against the twin: only the f32 summation order differs (AMX).
                let dt = (got[e] as f64 - twin[e] as f64).abs();
                let bt = 2.0 * (d_in as f64 + 2.0) * 2f64.powi(-24) * mag[e] * 1.02 + 1e-30;
                assert!(
                    dt <= bt,
                    "{} vs twin {n}×{d_in}×{d_sae} elem {e}: {} vs {}",
                    path.name(),
                    got[e],
                    twin[e]
                );
            }
            if path == EncoderPath::Avx512Bf16 {
                // Same pair order as `vdpbf16ps`; no denormals in these inputs.
                assert_eq!(
                    bits(&got),
                    bits(&twin),
                    "avx512-bf16 vs twin {n}×{d_in}×{d_sae}"
                );
            }
        }
    }
}

/// `topk_rows` of the scalar F32 dense result.
fn expected_topk(c: &Case, k: usize) -> (Vec<f32>, Vec<u32>) {
    let dense = c.dense(EncoderPath::Scalar);
    let mut v = vec![0.0; c.n * k];
    let mut ix = vec![0; c.n * k];
    topk_rows(
        MatRef::new(&dense, c.n, c.d_sae).unwrap(),
        k,
        &mut v,
        &mut ix,
    )
    .unwrap();
    (v, ix)
}

fn check_topk_all_paths(c: &Case, ks: &[usize], what: &str) {
    for &k in ks {
        let (ev, ei) = expected_topk(c, k);
        for path in all_paths() {
            let (v, ix) = c.topk(path, k);
            assert_eq!(
                ix,
                ei,
                "{what} {} k={k} {}×{}×{}",
                path.name(),
                c.n,
                c.d_in,
                c.d_sae
            );
            assert_eq!(bits(&v), bits(&ev), "{what} {} k={k}", path.name());
        }
    }
}

#[test]
fn topk_is_exact_on_every_path() {
    for (s, &(n, d_in, d_sae)) in SHAPES.iter().enumerate() {
        let c = Case::random(200 + s as u64, n, d_in, d_sae);
        let mut ks = vec![0, 1, d_sae.min(5), d_sae];
        if d_sae > 40 {
            ks.push(32);
        }
        check_topk_all_paths(&c, &ks, "random");
    }
}

#[test]
fn topk_ties_nan_and_certificate_fallback() {
    // Duplicate latents (exact ties → lower index) and a NaN row.
    let mut c = Case::random(300, 40, 24, 96);
    for j in (1..96).step_by(3) {
        let (a, b) = c.w.split_at_mut(j * 24);
        b[..24].copy_from_slice(&a[(j - 1) * 24..j * 24]);
        c.b[j] = c.b[j - 1];
    }
    c.x[5 * 24 + 3] = f32::NAN;
    check_topk_all_paths(&c, &[0, 1, 7, 32, 96], "ties/nan");

    // Near-ties that bf16 cannot resolve: latents differ by ~1e-5 relative, so the certificate
    // fails and rows are recomputed in f32; the result must still be exact.
    let mut r = rng(301);
    let (n, d_in, d_sae) = (20, 64, 200);
    let base = randv(&mut r, d_in, 0.125);
    let mut w = Vec::with_capacity(d_sae * d_in);
    for _ in 0..d_sae {
        w.extend(
            base.iter()
                .map(|&v| v * (1.0 + r.random_range(-1e-5..1e-5f32))),
        );
    }
    let c = Case {
        n,
        d_in,
        d_sae,
        x: randv(&mut r, n * d_in, 1.0),
        w,
        b: vec![0.0; d_sae],
    };
    let before = bf16_fallback_rows();
    check_topk_all_paths(&c, &[1, 8, 32], "near-ties");
    assert!(
        bf16_fallback_rows() > before,
        "the near-tie case must exercise the fallback"
    );
}

#[test]
fn repack_matches_fresh_pack() {
    let c = Case::random(400, 37, 50, 90);
    let c2 = Case::random(401, 37, 50, 90);
    for path in all_paths() {
        let mut enc = PackedEncoder::with_path(c.wm(), path).unwrap();
        enc.repack(c2.wm()).unwrap();
        let mut out = vec![0.0; 37 * 90];
        encode_dense(c2.xm(), &enc, &c2.b, MatMut::new(&mut out, 37, 90).unwrap()).unwrap();
        assert_eq!(bits(&out), bits(&c2.dense(path)), "{}", path.name());
    }
}

#[test]
fn thread_count_does_not_change_bits() {
    // > MB rows, so the 2-thread pool splits row blocks.
    let c = Case::random(500, 600, 40, 300);
    for path in all_paths()
        .into_iter()
        .filter(|p| !p.name().starts_with("scalar"))
    {
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| (c.dense(path), c.topk(path, 16)))
        };
        let (d1, (v1, i1)) = run(1);
        let (d2, (v2, i2)) = run(2);
        assert_eq!(bits(&d1), bits(&d2), "{}", path.name());
        assert_eq!(bits(&v1), bits(&v2), "{}", path.name());
        assert_eq!(i1, i2, "{}", path.name());
    }
}

#[test]
fn strided_views() {
    let c = Case::random(600, 12, 20, 40);
    let mut xs = vec![0.0f32; 12 * 25];
    for i in 0..12 {
        xs[i * 25..i * 25 + 20].copy_from_slice(&c.x[i * 20..(i + 1) * 20]);
    }
    let mut ws = vec![0.0f32; 40 * 23];
    for j in 0..40 {
        ws[j * 23..j * 23 + 20].copy_from_slice(&c.w[j * 20..(j + 1) * 20]);
    }
    for path in all_paths() {
        let enc =
            PackedEncoder::with_path(MatRef::with_stride(&ws, 40, 20, 23).unwrap(), path).unwrap();
        let mut out = vec![7.0f32; 11 * 45 + 40];
        encode_dense(
            MatRef::with_stride(&xs, 12, 20, 25).unwrap(),
            &enc,
            &c.b,
            MatMut::with_stride(&mut out, 12, 40, 45).unwrap(),
        )
        .unwrap();
        let want = c.dense(path);
        for i in 0..12 {
            assert_eq!(
                bits(&out[i * 45..i * 45 + 40]),
                bits(&want[i * 40..(i + 1) * 40])
            );
            if i < 11 {
                assert!(
                    out[i * 45 + 40..i * 45 + 45].iter().all(|&v| v == 7.0),
                    "gap untouched"
                );
            }
        }
    }
}

#[test]
fn errors_not_panics() {
    let c = Case::random(700, 4, 6, 10);
    for path in all_paths() {
        let mut enc = PackedEncoder::with_path(c.wm(), path).unwrap();
        let mut out = vec![0.0; 40];
        // x width.
        let x5 = MatRef::new(&c.x[..20], 4, 5).unwrap();
        assert!(matches!(
            encode_dense(x5, &enc, &c.b, MatMut::new(&mut out, 4, 10).unwrap()),
            Err(KernelError::ShapeMismatch { .. })
        ));
        // bias length.
        assert!(encode_dense(
            c.xm(),
            &enc,
            &c.b[..9],
            MatMut::new(&mut out, 4, 10).unwrap()
        )
        .is_err());
        // out shape.
        assert!(encode_dense(c.xm(), &enc, &c.b, MatMut::new(&mut out, 4, 9).unwrap()).is_err());
        assert!(encode_dense(c.xm(), &enc, &c.b, MatMut::new(&mut out, 3, 10).unwrap()).is_err());
        // k > d_sae.
        let (mut v, mut ix) = (vec![0.0; 44], vec![0; 44]);
        assert!(matches!(
            encode_topk(c.xm(), &enc, &c.b, 11, &mut v, &mut ix),
            Err(KernelError::InvalidK {
                k: 11,
                ncols: 10,
                ..
            })
        ));
        // values / indices lengths.
        let (mut v, mut ix) = (vec![0.0; 12], vec![0; 11]);
        assert!(encode_topk(c.xm(), &enc, &c.b, 3, &mut v, &mut ix).is_err());
        assert!(encode_topk(c.xm(), &enc, &c.b, 3, &mut v[..11], &mut ix).is_err());
        assert!(encode_topk(c.xm(), &enc, &c.b[..3], 3, &mut v, &mut [0; 12]).is_err());
        // repack shape.
        assert!(enc.repack(MatRef::new(&c.w[..54], 9, 6).unwrap()).is_err());
        assert!(enc.repack(MatRef::new(&c.w[..50], 10, 5).unwrap()).is_err());
    }
}

#[test]
fn degenerate_shapes() {
    // d_in = 0: pre = bias; d_sae = 0 with k = 0.
    let b = [0.5f32, -1.0, 2.0];
    for path in all_paths() {
        let enc = PackedEncoder::with_path(MatRef::new(&[], 3, 0).unwrap(), path).unwrap();
        let mut out = vec![9.0; 6];
        encode_dense(
            MatRef::new(&[], 2, 0).unwrap(),
            &enc,
            &b,
            MatMut::new(&mut out, 2, 3).unwrap(),
        )
        .unwrap();
        assert_eq!(out, vec![0.5, -1.0, 2.0, 0.5, -1.0, 2.0], "{}", path.name());
        let (mut v, mut ix) = (vec![0.0; 4], vec![0; 4]);
        encode_topk(
            MatRef::new(&[], 2, 0).unwrap(),
            &enc,
            &b,
            2,
            &mut v,
            &mut ix,
        )
        .unwrap();
        assert_eq!(
            (v, ix),
            (vec![2.0, 0.5, 2.0, 0.5], vec![2, 0, 2, 0]),
            "{}",
            path.name()
        );

        let enc = PackedEncoder::with_path(MatRef::new(&[], 0, 4).unwrap(), path).unwrap();
        let x = [1.0f32; 8];
        encode_dense(
            MatRef::new(&x, 2, 4).unwrap(),
            &enc,
            &[],
            MatMut::new(&mut [], 2, 0).unwrap(),
        )
        .unwrap();
        encode_topk(
            MatRef::new(&x, 2, 4).unwrap(),
            &enc,
            &[],
            0,
            &mut [],
            &mut [],
        )
        .unwrap();
    }
}

#[test]
fn best_path_reports_a_name() {
    let c = Case::random(800, 2, 3, 4);
    for prec in [EncoderPrecision::F32, EncoderPrecision::Bf16] {
        let enc = PackedEncoder::new(c.wm(), prec).unwrap();
        assert_eq!(enc.precision(), prec);
        assert!([
            "scalar",
            "scalar-bf16",
            "avx2-f32",
            "avx512-f32",
            "avx512-bf16",
            "amx-bf16"
        ]
        .contains(&enc.path_name()));
        assert!(EncoderPath::available(prec).contains(&enc.path()));
    }
}

#[test]
fn lists_paths() {
    let names: Vec<&str> = all_paths().iter().map(|p| p.name()).collect();
    eprintln!("sae paths on this CPU: {names:?}");
    if std::env::var("SAE_EXPECT_AMX").is_ok() {
        assert!(names.contains(&"amx-bf16"));
    }
}
