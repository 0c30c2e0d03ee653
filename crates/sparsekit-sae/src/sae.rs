//! Inference with a trained SAE on the CPU ([`Sae`]): encode to a [`SparseCode`], decode by
//! gather-sum, reconstruct.

use sparsekit_kernels::sae::PackedEncoder;

use crate::code::{gather_sum, SparseCode};
use crate::config::Precision;
use crate::encoder::{pack, resolve};
use crate::error::{Result, SaeError};
use crate::forward::{forward, Mode};
use crate::normalize::{denormalize, encoder_input, normalize, Undo};
use crate::params::SaeParams;

/// A validated SAE ready for inference.
#[derive(Clone, Debug)]
pub struct Sae {
    params: SaeParams,
    packed: PackedEncoder,
}

impl Sae {
    /// Validates `params` (shapes, finiteness, architecture-specific parameters) and packs the
    /// encoder with [`Precision::Auto`].
    pub fn new(params: SaeParams) -> Result<Self> {
        Self::with_precision(params, Precision::Auto)
    }

    /// As [`Sae::new`] with an explicit encoder precision.
    pub fn with_precision(params: SaeParams, precision: Precision) -> Result<Self> {
        params.validate()?;
        let c = &params.config;
        let packed = pack(
            &params.w_enc,
            c.d_in,
            c.d_sae,
            resolve(precision, c.architecture),
        )?;
        Ok(Sae { params, packed })
    }

    /// The kernel path the encoder runs on (`"amx-bf16"`, `"avx512-f32"`, …).
    pub fn encoder_path(&self) -> &'static str {
        self.packed.path_name()
    }

    /// The weights.
    pub fn params(&self) -> &SaeParams {
        &self.params
    }

    /// Takes the weights back.
    pub fn into_params(self) -> SaeParams {
        self.params
    }

    fn check(&self, x: &[f32]) -> Result<usize> {
        let d = self.params.config.d_in;
        if x.len() % d != 0 {
            return Err(SaeError::Shape(format!(
                "input has {} values, not a multiple of d_in = {d}",
                x.len()
            )));
        }
        Ok(x.len() / d)
    }

    /// The encoder's input for `x` (`n × d_in`): normalised, minus `b_dec` where configured.
    fn prepare(&self, x: &[f32]) -> (Vec<f32>, Undo) {
        let cfg = &self.params.config;
        let mut xn = x.to_vec();
        let undo = normalize(cfg, &mut xn);
        (encoder_input(cfg, &self.params.b_dec, &xn), undo)
    }

    /// The sparse code of `x` (`n × d_in` row-major). BatchTopK uses its inference threshold
    /// (as SAELens does once it is saved as JumpReLU).
    pub fn encode(&self, x: &[f32]) -> Result<SparseCode> {
        self.check(x)?;
        let (xin, _) = self.prepare(x);
        Ok(forward(&self.params, &self.packed, &xin, Mode::Inference)?.code)
    }

    /// `b_dec + code·W_dec` in the normalised space (no input scaling undone).
    pub fn decode_normalized(&self, code: &SparseCode) -> Result<Vec<f32>> {
        let cfg = &self.params.config;
        if code.d_sae != cfg.d_sae {
            return Err(SaeError::Shape(format!(
                "code has {} latents, the SAE {}",
                code.d_sae, cfg.d_sae
            )));
        }
        code.validate()
            .map_err(|e| SaeError::Shape(format!("sparse code: {e}")))?;
        let mut out = vec![0.0; code.rows() * cfg.d_in];
        gather_sum(
            code,
            &self.params.w_dec,
            cfg.d_in,
            Some(&self.params.b_dec),
            &mut out,
        );
        Ok(out)
    }

    /// The reconstruction of `x` in its own scale (normalised, encoded, decoded, mapped back).
    pub fn reconstruct(&self, x: &[f32]) -> Result<Vec<f32>> {
        self.reconstruct_with_code(x).map(|(y, _)| y)
    }

    /// [`Sae::reconstruct`] and the code it went through.
    pub fn reconstruct_with_code(&self, x: &[f32]) -> Result<(Vec<f32>, SparseCode)> {
        self.check(x)?;
        let (xin, undo) = self.prepare(x);
        let code = forward(&self.params, &self.packed, &xin, Mode::Inference)?.code;
        let mut y = self.decode_normalized(&code)?;
        denormalize(&undo, self.params.config.d_in, &mut y);
        Ok((y, code))
    }
}
