//! A planted dictionary: synthetic activations with known features, to measure whether an SAE
//! finds them ([`PlantedDictionary`]).
//!
//! `features` unit vectors in `d` dimensions (Gaussian directions, normalised); each token is a
//! sum of `active` distinct features, drawn with power-law frequencies `p_j ∝ (j + 1)^−exponent`,
//! with magnitudes uniform in `[0.5, 1.5]`, plus isotropic Gaussian noise of standard deviation
//! `noise`. Recovery ([`PlantedDictionary::recovery`]) counts the planted features whose best
//! match among the decoder rows has cosine ≥ a bound.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use crate::code::dot;

/// A planted dictionary and its sampler.
#[derive(Clone, Debug)]
pub struct PlantedDictionary {
    /// Width.
    pub d: usize,
    /// Features, `[features, d]`, unit rows.
    pub features: Vec<f32>,
    /// Features per token.
    pub active: usize,
    /// Noise standard deviation.
    pub noise: f32,
    cumulative: Vec<f64>,
}

impl PlantedDictionary {
    /// `n_features` random unit features in `d` dimensions (seeded). Errors: `d` or
    /// `n_features` 0, `active > n_features`, a non-finite exponent or a negative noise.
    pub fn new(
        d: usize,
        n_features: usize,
        active: usize,
        exponent: f64,
        noise: f32,
        seed: u64,
    ) -> crate::Result<Self> {
        if d == 0
            || n_features == 0
            || active > n_features
            || !exponent.is_finite()
            || noise.is_nan()
            || noise < 0.0
        {
            return Err(crate::SaeError::Config(format!(
                "planted dictionary: d {d}, features {n_features}, active {active}, exponent {exponent}, noise {noise}"
            )));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let mut features: Vec<f32> = (0..d * n_features)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        for r in features.chunks_mut(d) {
            let n = dot(r, r).sqrt();
            r.iter_mut().for_each(|v| *v /= n);
        }
        let mut acc = 0.0;
        let cumulative = (0..n_features)
            .map(|j| {
                acc += ((j + 1) as f64).powf(-exponent);
                acc
            })
            .collect();
        Ok(PlantedDictionary {
            d,
            features,
            active,
            noise,
            cumulative,
        })
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.cumulative.len()
    }

    /// `n` tokens (`n × d`), deterministic for `seed`.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<f32> {
        let d = self.d;
        let total = *self.cumulative.last().unwrap_or(&1.0);
        let mut out = vec![0.0f32; n * d];
        out.par_chunks_mut(d).enumerate().for_each(|(i, row)| {
            let mut rng =
                StdRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut chosen: Vec<usize> = Vec::with_capacity(self.active);
            while chosen.len() < self.active {
                let u = rng.random::<f64>() * total;
                let j = self
                    .cumulative
                    .partition_point(|&c| c < u)
                    .min(self.cumulative.len() - 1);
                if !chosen.contains(&j) {
                    chosen.push(j);
                }
            }
            for j in chosen {
                let c: f32 = rng.random_range(0.5..1.5);
                let f = &self.features[j * d..(j + 1) * d];
                row.iter_mut().zip(f).for_each(|(r, v)| *r += c * v);
            }
            for r in row.iter_mut() {
                let z: f32 = StandardNormal.sample(&mut rng);
                *r += self.noise * z;
            }
        });
        out
    }

    /// Per planted feature, the largest cosine with any row of `rows` (`[m, d]`).
    pub fn best_cosines(&self, rows: &[f32]) -> Vec<f32> {
        let d = self.d;
        let norms: Vec<f32> = rows
            .chunks(d)
            .map(|r| dot(r, r).sqrt().max(1e-12))
            .collect();
        self.features
            .par_chunks(d)
            .map(|f| {
                rows.chunks(d)
                    .zip(&norms)
                    .map(|(r, n)| dot(f, r) / n)
                    .fold(f32::NEG_INFINITY, f32::max)
            })
            .collect()
    }

    /// The fraction of planted features matched by some row of `rows` at cosine ≥ `bound`.
    pub fn recovery(&self, rows: &[f32], bound: f32) -> f64 {
        let c = self.best_cosines(rows);
        c.iter().filter(|&&v| v >= bound).count() as f64 / c.len().max(1) as f64
    }
}
