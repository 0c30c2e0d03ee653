//! A plain `f64` reference forward of every architecture: the ground truth that fast paths are
//! tested against. Written for obviousness, not speed (dense loops, one token at a time).
//!
//! The semantics are SAELens' inference SAEs (`sae-lens` 6.54.12: `SAE.process_sae_in`,
//! `StandardSAE`, `TopKSAE`, `JumpReLUSAE`, `GatedSAE`, `SAE._setup_activation_normalization`)
//! and, for TopK, also EleutherAI sparsify's (`eai-sparsify` 1.3.3 `SparseCoder`). For one
//! token `x` (`d_in` values) with latent-major weights (`w_enc_j`, `w_dec_j` the rows of latent
//! `j`):
//!
//! 1. **Normalise** ([`Normalization`]):
//!    - `None`: `x' = x`.
//!    - `ExpectedAverageOnlyIn`: `x' = s·x` with `s = config.norm_scale`, or `s = 1` when it is
//!      `None` (SAELens' inference SAE applies no scaling for this setting: its trainer folds
//!      the scale into the weights before saving).
//!    - `ConstantNormRescale`: `c = sqrt(d_in) / ‖x‖₂`, `x' = c·x`.
//!    - `LayerNorm`: `μ = mean(x)`, `σ = sqrt(Σ(x − μ)² / (d_in − 1))` (PyTorch's `std`, with
//!      Bessel's correction), `x' = (x − μ) / (σ + 1e-5)`.
//! 2. **Centre**: `u = x' − b_dec` when `apply_b_dec_to_input`, else `u = x'`.
//! 3. **Pre-activations**: `pre_j = u·w_enc_j + b_enc_j`.
//! 4. **Activation** ([`Architecture`]):
//!    - `Relu` (SAELens `standard`): `a_j = max(pre_j, 0)`.
//!    - `TopK`: keep the `k` largest `pre_j` of the token, then ReLU:
//!      `a_j = max(pre_j, 0)` if `j` is among them, else 0 (SAELens: top-k, then ReLU; sparsify:
//!      ReLU, then top-k — the same code). Ties at the k-th value are broken towards the lower
//!      index (PyTorch leaves them unspecified).
//!    - `JumpRelu`: `a_j = max(pre_j, 0) · [pre_j > θ_j]` (strictly greater; with θ_j < 0 it is
//!      still 0 for `pre_j ≤ 0`).
//!    - `BatchTopK` at inference: exactly `JumpRelu` with its threshold (SAELens saves a trained
//!      BatchTopK SAE as a JumpReLU SAE).
//!    - `Gated`: gate `[u·w_enc_j + b_enc_j > 0]` (`b_enc` is SAELens' `b_gate`), magnitude
//!      `max(u·w_enc_j · exp(r_mag_j) + b_mag_j, 0)`, `a_j = gate · magnitude`.
//!      [`pre_activations`] of a Gated SAE are the magnitude path's (SAELens' `hook_sae_acts_pre`).
//! 5. **Decode**: `y' = Σ_j a_j·w_dec_j + b_dec`.
//! 6. **Denormalise**: `ExpectedAverageOnlyIn`: `y = y' / s`; `ConstantNormRescale`: `y = y' / c`;
//!    `LayerNorm`: `y = y'·σ + μ` (no ε); `None`: `y = y'`.
//!
//! Steps 6 of `ConstantNormRescale` and `LayerNorm` need the input's `c` or `μ, σ` (SAELens keeps
//! them on the module between `encode` and `decode`): [`decode`] alone applies only the
//! input-independent part and returns `y'` for those two; [`decode_with_input`] and [`forward`]
//! apply the full map.
//!
//! All arithmetic is `f64` on the `f32` parameters; inputs are `n × d_in` row-major, codes
//! `n × d_sae`. The parameters are assumed valid ([`SaeParams::validate`]); every function
//! panics when a slice's length is not `n` times its row width.

use crate::config::{Architecture, Normalization};
use crate::params::SaeParams;

/// The per-token input map of step 1, kept to undo it in step 6.
#[derive(Clone, Copy, Debug, PartialEq)]
enum InputMap {
    /// `x' = x·scale`, `y = y' / scale`.
    Scale(f64),
    /// `x' = (x − mu) / (sigma + 1e-5)`, `y = y'·sigma + mu`.
    Layer { mu: f64, sigma: f64 },
}

const LN_EPS: f64 = 1e-5;

fn input_map(params: &SaeParams, x: &[f32]) -> InputMap {
    let c = &params.config;
    let d = c.d_in as f64;
    match c.normalize_activations {
        Normalization::None => InputMap::Scale(1.0),
        Normalization::ExpectedAverageOnlyIn => InputMap::Scale(c.norm_scale.unwrap_or(1.0) as f64),
        Normalization::ConstantNormRescale => {
            let norm = x
                .iter()
                .map(|&v| (v as f64) * (v as f64))
                .sum::<f64>()
                .sqrt();
            InputMap::Scale(d.sqrt() / norm)
        }
        Normalization::LayerNorm => {
            let mu = x.iter().map(|&v| v as f64).sum::<f64>() / d;
            let var = x.iter().map(|&v| (v as f64 - mu).powi(2)).sum::<f64>() / (d - 1.0);
            InputMap::Layer {
                mu,
                sigma: var.sqrt(),
            }
        }
    }
}

fn apply_in(m: InputMap, x: &[f32]) -> Vec<f64> {
    match m {
        InputMap::Scale(s) => x.iter().map(|&v| v as f64 * s).collect(),
        InputMap::Layer { mu, sigma } => x
            .iter()
            .map(|&v| (v as f64 - mu) / (sigma + LN_EPS))
            .collect(),
    }
}

fn apply_out(m: InputMap, y: &mut [f64]) {
    match m {
        InputMap::Scale(s) => y.iter_mut().for_each(|v| *v /= s),
        InputMap::Layer { mu, sigma } => y.iter_mut().for_each(|v| *v = *v * sigma + mu),
    }
}

fn dot(a: &[f32], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(&a, &b)| a as f64 * b).sum()
}

fn check(params: &SaeParams, len: usize, width: usize, n: usize, what: &str) {
    assert_eq!(
        len,
        n * width,
        "{what} has {len} values, expected n·{width} = {}",
        n * width
    );
    let _ = params;
}

/// Steps 1–3 for one token: the centred input `u` and the encoder products `u·w_enc_j`.
fn products(params: &SaeParams, x: &[f32]) -> Vec<f64> {
    let c = &params.config;
    let mut u = apply_in(input_map(params, x), x);
    if c.apply_b_dec_to_input {
        u.iter_mut()
            .zip(&params.b_dec)
            .for_each(|(v, &b)| *v -= b as f64);
    }
    (0..c.d_sae).map(|j| dot(params.enc_row(j), &u)).collect()
}

/// Pre-activations (`n × d_sae`): `u·w_enc_j + b_enc_j` (step 3); for a Gated SAE the
/// magnitude path `u·w_enc_j·exp(r_mag_j) + b_mag_j`.
pub fn pre_activations(params: &SaeParams, x: &[f32], n: usize) -> Vec<f64> {
    let c = &params.config;
    check(params, x.len(), c.d_in, n, "x");
    let mut out = Vec::with_capacity(n * c.d_sae);
    for row in x.chunks(c.d_in.max(1)).take(n) {
        let p = products(params, row);
        match &params.gated {
            Some(g) if c.architecture == Architecture::Gated => out.extend(
                p.iter()
                    .enumerate()
                    .map(|(j, &pj)| pj * (g.r_mag[j] as f64).exp() + g.b_mag[j] as f64),
            ),
            _ => out.extend(p.iter().zip(&params.b_enc).map(|(&pj, &b)| pj + b as f64)),
        }
    }
    out
}

/// The dense code (`n × d_sae`) of `x` (`n × d_in`): steps 1–4 of the module docs.
pub fn encode(params: &SaeParams, x: &[f32], n: usize) -> Vec<f64> {
    let c = &params.config;
    check(params, x.len(), c.d_in, n, "x");
    let d_sae = c.d_sae;
    let mut out = vec![0.0f64; n * d_sae];
    for (row, a) in x.chunks(c.d_in.max(1)).take(n).zip(out.chunks_mut(d_sae)) {
        let p = products(params, row);
        let pre: Vec<f64> = p
            .iter()
            .zip(&params.b_enc)
            .map(|(&pj, &b)| pj + b as f64)
            .collect();
        match c.architecture {
            Architecture::Relu => {
                for j in 0..d_sae {
                    a[j] = pre[j].max(0.0);
                }
            }
            Architecture::TopK => {
                let k = c.k.expect("TopK has k");
                let mut order: Vec<usize> = (0..d_sae).collect();
                // Descending value, ties towards the lower index.
                order.sort_by(|&i, &j| pre[j].total_cmp(&pre[i]).then(i.cmp(&j)));
                for &j in &order[..k.min(d_sae)] {
                    a[j] = pre[j].max(0.0);
                }
            }
            Architecture::JumpRelu | Architecture::BatchTopK => {
                let t = params.threshold.as_ref().expect("JumpReLU has a threshold");
                for j in 0..d_sae {
                    a[j] = if pre[j] > t[j] as f64 {
                        pre[j].max(0.0)
                    } else {
                        0.0
                    };
                }
            }
            Architecture::Gated => {
                let g = params.gated.as_ref().expect("Gated has r_mag, b_mag");
                for j in 0..d_sae {
                    let gate = pre[j] > 0.0; // b_enc is the gate bias
                    let mag = (p[j] * (g.r_mag[j] as f64).exp() + g.b_mag[j] as f64).max(0.0);
                    a[j] = if gate { mag } else { 0.0 };
                }
            }
        }
    }
    out
}

/// `code·W_dec + b_dec` per token (step 5).
fn linear_decode(params: &SaeParams, code: &[f64], n: usize) -> Vec<f64> {
    let c = &params.config;
    check(params, code.len(), c.d_sae, n, "code");
    let d_in = c.d_in;
    let mut y = vec![0.0f64; n * d_in];
    for (a, yr) in code.chunks(c.d_sae.max(1)).take(n).zip(y.chunks_mut(d_in)) {
        yr.iter_mut()
            .zip(&params.b_dec)
            .for_each(|(v, &b)| *v = b as f64);
        for (j, &aj) in a.iter().enumerate() {
            if aj != 0.0 {
                for (v, &w) in yr.iter_mut().zip(params.dec_row(j)) {
                    *v += aj * w as f64;
                }
            }
        }
    }
    y
}

/// The reconstruction (`n × d_in`) from a dense code (`n × d_sae`): step 5, then step 6 where
/// it does not depend on the input (`None`, `ExpectedAverageOnlyIn`). For `ConstantNormRescale`
/// and `LayerNorm` the result is in the normalised space; use [`decode_with_input`].
pub fn decode(params: &SaeParams, code: &[f64], n: usize) -> Vec<f64> {
    let mut y = linear_decode(params, code, n);
    let c = &params.config;
    if c.normalize_activations == Normalization::ExpectedAverageOnlyIn {
        let s = c.norm_scale.unwrap_or(1.0) as f64;
        y.iter_mut().for_each(|v| *v /= s);
    }
    y
}

/// The reconstruction from a dense code with step 6 taken from the input `x` the code came from
/// (what SAELens' `decode` does right after `encode(x)`).
pub fn decode_with_input(params: &SaeParams, code: &[f64], x: &[f32], n: usize) -> Vec<f64> {
    let c = &params.config;
    check(params, x.len(), c.d_in, n, "x");
    let mut y = linear_decode(params, code, n);
    for (xr, yr) in x.chunks(c.d_in.max(1)).take(n).zip(y.chunks_mut(c.d_in)) {
        apply_out(input_map(params, xr), yr);
    }
    y
}

/// The reconstruction of `x` (`n × d_in`): encode, then decode with the input's normalisation
/// undone.
pub fn forward(params: &SaeParams, x: &[f32], n: usize) -> Vec<f64> {
    let code = encode(params, x, n);
    decode_with_input(params, &code, x, n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SaeConfig;
    use crate::params::GatedParams;

    /// d_in 2, d_sae 3, identity-ish weights that make each step visible by hand.
    fn tiny(arch: Architecture, k: Option<usize>) -> SaeParams {
        let config = SaeConfig::new(arch, 2, 3, k);
        let mut p = SaeParams::init(config, 0, 0.5).unwrap();
        p.w_enc = vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        p.w_dec = vec![1.0, 0.0, 0.0, 1.0, 0.5, 0.5];
        p.b_enc = vec![0.0, -1.0, 0.5];
        p.b_dec = vec![0.25, -0.25];
        p
    }

    // x = (1.25, 0.75): u = x − b_dec = (1, 1); pre = (1, 0, 2.5).
    const X: [f32; 2] = [1.25, 0.75];

    #[test]
    fn relu_by_hand() {
        let p = tiny(Architecture::Relu, None);
        assert_eq!(pre_activations(&p, &X, 1), vec![1.0, 0.0, 2.5]);
        let a = encode(&p, &X, 1);
        assert_eq!(a, vec![1.0, 0.0, 2.5]);
        // y = 1·(1,0) + 2.5·(0.5,0.5) + b_dec = (2.25 + 0.25, 1.25 − 0.25)
        assert_eq!(forward(&p, &X, 1), vec![2.5, 1.0]);
        assert_eq!(decode(&p, &a, 1), vec![2.5, 1.0]);
    }

    #[test]
    fn topk_relu_after_selection() {
        let mut p = tiny(Architecture::TopK, Some(1));
        assert_eq!(encode(&p, &X, 1), vec![0.0, 0.0, 2.5]);
        p.config.k = Some(3);
        p.b_enc = vec![-2.0, -3.0, -4.0]; // all pre negative: ReLU after top-k zeroes them
        assert_eq!(encode(&p, &X, 1), vec![0.0, 0.0, 0.0]);
    }

    #[test]
    fn jumprelu_strict_and_relu() {
        let mut p = tiny(Architecture::JumpRelu, None);
        p.threshold = Some(vec![1.0, -1.0, 2.0]);
        // pre = (1, 0, 2.5): 1 > 1 false; 0 > −1 but ReLU(0) = 0; 2.5 > 2.
        assert_eq!(encode(&p, &X, 1), vec![0.0, 0.0, 2.5]);
    }

    #[test]
    fn gated_by_hand() {
        let mut p = tiny(Architecture::Gated, None);
        p.gated = Some(GatedParams {
            r_mag: vec![0.0, 2.0f32.ln(), 0.0],
            b_mag: vec![1.0, 1.0, -5.0],
        });
        // products = (1, 1, 2); gate pre = (1, 0, 2.5) → gates (1, 0, 1);
        // magnitude = (1 + 1, 2 + 1, 2 − 5 → 0).
        let a = encode(&p, &X, 1);
        assert!((a[0] - 2.0).abs() < 1e-12 && a[1] == 0.0 && a[2] == 0.0);
        let pre = pre_activations(&p, &X, 1);
        assert!((pre[1] - 3.0).abs() < 1e-6, "{pre:?}");
    }

    #[test]
    fn normalisations_undo_themselves() {
        let mut p = tiny(Architecture::Relu, None);
        // Exact autoencoder of the positive quadrant: w_dec = w_enc = I, no biases.
        p.config.d_sae = 2;
        p.w_enc = vec![1.0, 0.0, 0.0, 1.0];
        p.w_dec = p.w_enc.clone();
        p.b_enc = vec![0.0; 2];
        p.b_dec = vec![0.0; 2];
        let x = [3.0f32, 4.0];
        for (norm, scale) in [
            (Normalization::None, None),
            (Normalization::ExpectedAverageOnlyIn, Some(0.5f32)),
            (Normalization::ExpectedAverageOnlyIn, None),
            (Normalization::ConstantNormRescale, None),
        ] {
            p.config.normalize_activations = norm;
            p.config.norm_scale = scale;
            let y = forward(&p, &x, 1);
            assert!(
                (y[0] - 3.0).abs() < 1e-12 && (y[1] - 4.0).abs() < 1e-12,
                "{norm:?}"
            );
        }
        p.config.normalize_activations = Normalization::ConstantNormRescale;
        p.config.norm_scale = None;
        // ‖x‖ = 5, c = sqrt(2)/5.
        let a = encode(&p, &x, 1);
        assert!((a[0] - 3.0 * 2f64.sqrt() / 5.0).abs() < 1e-12);
        // LayerNorm: x' = (−0.5, 0.5)/(σ + ε) with σ = sqrt(0.5); ReLU drops the first.
        p.config.normalize_activations = Normalization::LayerNorm;
        let sigma = 0.5f64.sqrt();
        let a = encode(&p, &x, 1);
        assert_eq!(a[0], 0.0);
        assert!((a[1] - 0.5 / (sigma + 1e-5)).abs() < 1e-12);
        let y = forward(&p, &x, 1);
        assert!((y[0] - 3.5).abs() < 1e-12);
        assert!((y[1] - (0.5 / (sigma + 1e-5) * sigma + 3.5)).abs() < 1e-12);
    }
}
