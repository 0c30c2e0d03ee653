//! Helpers shared by the format tests.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use sparsekit_sae::{Architecture, GatedParams, SaeConfig, SaeParams};

/// `n` normal values times `scale`.
pub fn normal(rng: &mut impl Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let v: f32 = StandardNormal.sample(rng);
            v * scale
        })
        .collect()
}

/// Random parameters of `arch` (no zero biases, encoder ≠ decoder, thresholds spread so that
/// some latents fire and some do not).
pub fn random_params(arch: Architecture, d_in: usize, d_sae: usize, seed: u64) -> SaeParams {
    let k = arch.uses_k().then_some(5.min(d_sae));
    let mut p = SaeParams::init(SaeConfig::new(arch, d_in, d_sae, k), seed, 0.1).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed);
    let scale = 3.0 / (d_in as f32).sqrt();
    p.w_enc = normal(&mut rng, d_sae * d_in, scale);
    p.b_enc = normal(&mut rng, d_sae, 0.3);
    p.b_dec = normal(&mut rng, d_in, 0.3);
    match arch {
        Architecture::JumpRelu => {
            p.threshold = Some((0..d_sae).map(|_| rng.random::<f32>() * 0.8).collect())
        }
        Architecture::BatchTopK => p.threshold = Some(vec![0.4; d_sae]),
        Architecture::Gated => {
            p.gated = Some(GatedParams {
                r_mag: normal(&mut rng, d_sae, 0.3),
                b_mag: normal(&mut rng, d_sae, 0.3),
            })
        }
        _ => {}
    }
    p.validate().unwrap();
    p
}

/// `n × d_in` normal inputs with a common offset (so that normalisations have work to do).
pub fn inputs(n: usize, d_in: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    normal(&mut rng, n * d_in, 1.0)
        .into_iter()
        .map(|v| v + 0.2)
        .collect()
}

/// Largest `|a − b| / (1 + |b|)`, with its index; panics on a length mismatch.
pub fn max_rel(a: &[f64], b: &[f64]) -> (f64, usize) {
    assert_eq!(a.len(), b.len(), "lengths differ");
    let mut worst = (0.0f64, 0usize);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let e = (x - y).abs() / (1.0 + y.abs());
        if e.is_nan() || e > worst.0 {
            worst = (if e.is_nan() { f64::INFINITY } else { e }, i);
        }
    }
    worst
}

/// Asserts `a ≈ b` within `tol` (relative to `1 + |b|`), naming `what`.
#[track_caller]
pub fn assert_close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    let (e, i) = max_rel(a, b);
    assert!(
        e <= tol,
        "{what}: worst relative error {e:e} > {tol:e} at {i}: {} vs {}",
        a[i],
        b[i]
    );
}

/// f32 slice as f64.
pub fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}
