//! The weights of one SAE ([`SaeParams`]) in the layout the kernels use.
//!
//! Both matrices are stored **latent-major** (`[d_sae, d_in]`, row `j` belongs to latent `j`), as
//! EleutherAI sparsify stores `encoder.weight` and `W_dec`: the encoder forward is then a product
//! with rows of dot products, and every gradient of a step touches whole rows of only the latents
//! that fired. SAELens' `W_enc` is `[d_in, d_sae]`; [`crate::format`] transposes at the edge.

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use crate::config::{Architecture, SaeConfig};
use crate::error::{Result, SaeError};

/// Extra parameters of a Gated SAE (SAELens names): the magnitude path is
/// `ReLU((x·W_encᵀ) ⊙ exp(r_mag) + b_mag)` while `b_enc` is the gate bias (`b_gate`).
#[derive(Clone, Debug, PartialEq)]
pub struct GatedParams {
    /// Per-latent log scale of the magnitude path (`d_sae`).
    pub r_mag: Vec<f32>,
    /// Magnitude-path bias (`d_sae`).
    pub b_mag: Vec<f32>,
}

/// The weights of one SAE.
#[derive(Clone, Debug, PartialEq)]
pub struct SaeParams {
    /// Shape and conventions.
    pub config: SaeConfig,
    /// Encoder directions, `[d_sae, d_in]` row-major (latent-major).
    pub w_enc: Vec<f32>,
    /// Encoder bias (`d_sae`); the gate bias of a Gated SAE.
    pub b_enc: Vec<f32>,
    /// Decoder directions, `[d_sae, d_in]` row-major.
    pub w_dec: Vec<f32>,
    /// Decoder bias (`d_in`).
    pub b_dec: Vec<f32>,
    /// Per-latent threshold (`d_sae`): JumpReLU's θ, BatchTopK's inference threshold (one value
    /// repeated, as SAELens stores it). `None` for the others.
    pub threshold: Option<Vec<f32>>,
    /// Gated SAE's magnitude path; `None` for the others.
    pub gated: Option<GatedParams>,
}

impl SaeParams {
    /// The initialisation of Gao et al. (2024) §2.2 / Conerly et al. (2024): decoder rows drawn
    /// uniformly on the unit sphere, the encoder the decoder's transpose (here: the same rows),
    /// biases zero; JumpReLU thresholds at `threshold_init`, Gated `r_mag = 0`.
    pub fn init(config: SaeConfig, seed: u64, threshold_init: f32) -> Result<Self> {
        config.validate()?;
        let (d_in, d_sae) = (config.d_in, config.d_sae);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut w_dec: Vec<f32> = (0..d_in * d_sae)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        for row in w_dec.chunks_mut(d_in) {
            let n = row
                .iter()
                .map(|v| v * v)
                .sum::<f32>()
                .sqrt()
                .max(f32::MIN_POSITIVE);
            row.iter_mut().for_each(|v| *v /= n);
        }
        // Keep the RNG stream stable if more draws are added later.
        let _: u64 = rng.random();
        let threshold = match config.architecture {
            Architecture::JumpRelu => Some(vec![threshold_init; d_sae]),
            Architecture::BatchTopK => Some(vec![0.0; d_sae]),
            _ => None,
        };
        let gated = (config.architecture == Architecture::Gated).then(|| GatedParams {
            r_mag: vec![0.0; d_sae],
            b_mag: vec![0.0; d_sae],
        });
        Ok(SaeParams {
            w_enc: w_dec.clone(),
            b_enc: vec![0.0; d_sae],
            w_dec,
            b_dec: vec![0.0; d_in],
            threshold,
            gated,
            config,
        })
    }

    /// Checks every array against the configuration (lengths, presence of the threshold and
    /// gated parameters) and that every value is finite.
    pub fn validate(&self) -> Result<()> {
        self.config.validate()?;
        let (d_in, d_sae) = (self.config.d_in, self.config.d_sae);
        let check = |name: &str, v: &[f32], n: usize| -> Result<()> {
            if v.len() != n {
                return Err(SaeError::Shape(format!(
                    "{name} has {} values, expected {n} (d_in {d_in}, d_sae {d_sae})",
                    v.len()
                )));
            }
            if let Some(p) = v.iter().position(|x| !x.is_finite()) {
                return Err(SaeError::Config(format!(
                    "{name}[{p}] = {} is not finite",
                    v[p]
                )));
            }
            Ok(())
        };
        check("w_enc", &self.w_enc, d_sae * d_in)?;
        check("b_enc", &self.b_enc, d_sae)?;
        check("w_dec", &self.w_dec, d_sae * d_in)?;
        check("b_dec", &self.b_dec, d_in)?;
        let arch = self.config.architecture;
        let wants_threshold = matches!(arch, Architecture::JumpRelu | Architecture::BatchTopK);
        match (&self.threshold, wants_threshold) {
            (Some(t), true) => check("threshold", t, d_sae)?,
            (None, false) => {}
            (Some(_), false) => {
                return Err(SaeError::Config(format!(
                    "architecture {arch} has no threshold"
                )))
            }
            (None, true) => {
                return Err(SaeError::Config(format!(
                    "architecture {arch} needs a threshold"
                )))
            }
        }
        match (&self.gated, arch == Architecture::Gated) {
            (Some(g), true) => {
                check("r_mag", &g.r_mag, d_sae)?;
                check("b_mag", &g.b_mag, d_sae)?;
            }
            (None, false) => {}
            (Some(_), false) => {
                return Err(SaeError::Config(format!(
                    "architecture {arch} has no gated parameters"
                )))
            }
            (None, true) => {
                return Err(SaeError::Config("a gated SAE needs r_mag and b_mag".into()))
            }
        }
        Ok(())
    }

    /// Row `j` of the decoder.
    pub fn dec_row(&self, j: usize) -> &[f32] {
        let d = self.config.d_in;
        &self.w_dec[j * d..(j + 1) * d]
    }

    /// Row `j` of the encoder.
    pub fn enc_row(&self, j: usize) -> &[f32] {
        let d = self.config.d_in;
        &self.w_enc[j * d..(j + 1) * d]
    }
}
