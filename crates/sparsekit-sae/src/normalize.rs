//! Input normalisation ([`Normalization`]): what happens to activations before encoding and to
//! reconstructions after decoding.

use crate::config::{Normalization, SaeConfig};

/// SAELens' `layer_norm` epsilon.
pub const LAYER_NORM_EPS: f32 = 1e-5;

/// How one batch was normalised, to undo it on the reconstruction.
#[derive(Clone, Debug, PartialEq)]
pub enum Undo {
    /// Nothing to undo.
    None,
    /// Divide every value by this scale.
    Scale(f32),
    /// Divide token `i` by `scales[i]`.
    PerToken(Vec<f32>),
    /// Token `i`: `y·std[i] + mean[i]`.
    Affine {
        /// Per-token mean.
        mean: Vec<f32>,
        /// Per-token standard deviation (plus epsilon).
        std: Vec<f32>,
    },
}

/// Normalises `x` (`n × d_in`, in place) as `config` says and returns how to undo it.
/// [`Normalization::ExpectedAverageOnlyIn`] uses `config.norm_scale` (1 when not yet
/// estimated).
pub fn normalize(config: &SaeConfig, x: &mut [f32]) -> Undo {
    let d = config.d_in;
    if d == 0 {
        return Undo::None;
    }
    match config.normalize_activations {
        Normalization::None => Undo::None,
        Normalization::ExpectedAverageOnlyIn => {
            let s = config.norm_scale.unwrap_or(1.0);
            x.iter_mut().for_each(|v| *v *= s);
            Undo::Scale(s)
        }
        Normalization::ConstantNormRescale => {
            let target = (d as f32).sqrt();
            let scales = x
                .chunks_mut(d)
                .map(|r| {
                    let norm = r.iter().map(|v| v * v).sum::<f32>().sqrt();
                    let s = if norm > 0.0 { target / norm } else { 1.0 };
                    r.iter_mut().for_each(|v| *v *= s);
                    s
                })
                .collect();
            Undo::PerToken(scales)
        }
        Normalization::LayerNorm => {
            let (mut mean, mut std) = (Vec::new(), Vec::new());
            for r in x.chunks_mut(d) {
                let mu = r.iter().sum::<f32>() / d as f32;
                r.iter_mut().for_each(|v| *v -= mu);
                // torch's `std` is the unbiased estimate.
                let var = r.iter().map(|v| v * v).sum::<f32>() / (d.max(2) - 1) as f32;
                let s = var.sqrt() + LAYER_NORM_EPS;
                r.iter_mut().for_each(|v| *v /= s);
                mean.push(mu);
                std.push(s);
            }
            Undo::Affine { mean, std }
        }
    }
}

/// Maps a reconstruction (`n × d`, in place) back to the input's scale.
pub fn denormalize(undo: &Undo, d: usize, y: &mut [f32]) {
    if d == 0 {
        return;
    }
    match undo {
        Undo::None => {}
        Undo::Scale(s) => y.iter_mut().for_each(|v| *v /= s),
        Undo::PerToken(s) => {
            for (r, s) in y.chunks_mut(d).zip(s) {
                r.iter_mut().for_each(|v| *v /= s);
            }
        }
        Undo::Affine { mean, std } => {
            for ((r, m), s) in y.chunks_mut(d).zip(mean).zip(std) {
                r.iter_mut().for_each(|v| *v = *v * s + m);
            }
        }
    }
}

/// The scale of [`Normalization::ExpectedAverageOnlyIn`] for a sample of activations:
/// `sqrt(d_in) / mean‖x_i‖` (SAELens estimates it the same way, over a sample of batches).
pub fn estimate_norm_scale(x: &[f32], d: usize) -> Option<f32> {
    let n = x.len() / d.max(1);
    if n == 0 || d == 0 {
        return None;
    }
    let mean_norm = x
        .chunks(d)
        .map(|r| (r.iter().map(|v| (*v as f64).powi(2)).sum::<f64>()).sqrt())
        .sum::<f64>()
        / n as f64;
    (mean_norm > 0.0).then(|| ((d as f64).sqrt() / mean_norm) as f32)
}

/// The encoder's input from normalised activations: `x − b_dec` per token where the
/// configuration applies `b_dec` to the input (SAELens' `apply_b_dec_to_input`), else `x`.
pub(crate) fn encoder_input(config: &SaeConfig, b_dec: &[f32], xn: &[f32]) -> Vec<f32> {
    let mut x_in = xn.to_vec();
    if config.apply_b_dec_to_input && config.d_in > 0 {
        for r in x_in.chunks_mut(config.d_in) {
            r.iter_mut().zip(b_dec).for_each(|(v, b)| *v -= b);
        }
    }
    x_in
}
