//! EleutherAI sparsify directories (the format of `eai-sparsify` 1.3.3,
//! `sparsify/sparse_coder.py`, `sparsify/config.py`): what `SparseCoder.save_to_disk` writes
//! and `SparseCoder.load_from_disk` reads.
//!
//! | file | content |
//! |------|---------|
//! | `cfg.json` | `SparseCoderConfig` fields — `activation` (`topk`; `groupmax` is not supported), `expansion_factor`, `normalize_decoder`, `num_latents` (0: `d_in · expansion_factor`), `k`, `multi_topk`, `skip_connection`, `transcode` — plus `d_in` |
//! | `sae.safetensors` | `encoder.weight [d_sae, d_in]`, `encoder.bias [d_sae]`, `W_dec [d_sae, d_in]`, `b_dec [d_in]` |
//!
//! sparsify's forward is `top-k(ReLU((x − b_dec)·encoder.weightᵀ + encoder.bias))`, decoded as
//! `Σ acts·W_dec + b_dec`. ReLU comes *before* top-k here and after it in SAELens' `TopK`; the
//! dense codes are the same (the positive entries among the k largest are the k largest positive
//! entries, and every other entry is 0), so both are [`Architecture::TopK`].
//!
//! Only TopK maps onto sparsify. Saving folds what sparsify cannot express but is an exact
//! rewrite of the same function: `apply_b_dec_to_input = false` becomes
//! `encoder.bias + encoder.weight·b_dec`, and an `expected_average_only_in` scale is folded into
//! the weights as in [`super::saelens`]. `constant_norm_rescale` and `layer_norm` have no
//! sparsify form (error). On loading, `transcode = true` (no `b_dec` subtracted from the input)
//! is `apply_b_dec_to_input = false`; `skip_connection` (`W_skip`) is not supported.
//!
//! A sparsify training run saves one such directory per hookpoint (`<run>/layers.0/`, …):
//! [`hookpoints`] lists them and [`load_many`] loads them all.

use std::path::Path;

use serde_json::{json, Value};

use super::{f32_safetensors, read_cfg, write_dir, Metadata, TensorFile};
use crate::config::{Architecture, Normalization, SaeConfig};
use crate::error::{Result, SaeError};
use crate::params::SaeParams;

/// The weights file.
pub const WEIGHTS_FILE: &str = "sae.safetensors";

/// Writes a TopK SAE as a sparsify directory that `sparsify.SparseCoder.load_from_disk(dir)`
/// loads. Other architectures, and per-input normalisations, are [`SaeError::Config`] errors.
/// Files are written atomically (see [`crate::format`]).
pub fn save(dir: &Path, params: &SaeParams) -> Result<()> {
    super::checked(params)?;
    let c = &params.config;
    if c.architecture != Architecture::TopK {
        return Err(SaeError::Config(format!(
            "sparsify stores only TopK SAEs; this one is {}",
            c.architecture
        )));
    }
    let (d_in, d_sae) = (c.d_in, c.d_sae);
    let (mut w_enc, mut w_dec, mut b_dec) = (
        params.w_enc.clone(),
        params.w_dec.clone(),
        params.b_dec.clone(),
    );
    match (c.normalize_activations, c.norm_scale) {
        (Normalization::None, _) | (Normalization::ExpectedAverageOnlyIn, None) => {}
        (Normalization::ExpectedAverageOnlyIn, Some(s)) => {
            w_enc.iter_mut().for_each(|v| *v *= s);
            w_dec.iter_mut().for_each(|v| *v /= s);
            b_dec.iter_mut().for_each(|v| *v /= s);
        }
        (n, _) => {
            return Err(SaeError::Config(format!(
                "sparsify has no input normalisation; {} cannot be saved",
                n.name()
            )))
        }
    }
    let mut b_enc = params.b_enc.clone();
    if !c.apply_b_dec_to_input {
        // sparsify always encodes x − b_dec: add W_enc·b_dec back through the bias.
        for (j, b) in b_enc.iter_mut().enumerate() {
            let dot: f64 = w_enc[j * d_in..(j + 1) * d_in]
                .iter()
                .zip(&b_dec)
                .map(|(&w, &d)| w as f64 * d as f64)
                .sum();
            *b = (*b as f64 + dot) as f32;
        }
    }
    let cfg = json!({
        "activation": "topk",
        "expansion_factor": (d_sae / d_in).max(1),
        "normalize_decoder": true,
        "num_latents": d_sae,
        "k": c.k.expect("validated"),
        "multi_topk": false,
        "skip_connection": false,
        "transcode": false,
        "d_in": d_in,
    });
    let weights = f32_safetensors(&[
        ("encoder.weight", vec![d_sae, d_in], &w_enc),
        ("encoder.bias", vec![d_sae], &b_enc),
        ("W_dec", vec![d_sae, d_in], &w_dec),
        ("b_dec", vec![d_in], &b_dec),
    ])?;
    let cfg_bytes = serde_json::to_vec_pretty(&cfg)
        .map_err(|e| SaeError::Config(format!("serialising cfg.json: {e}")))?;
    write_dir(
        dir,
        &[(WEIGHTS_FILE, weights), ("cfg.json", cfg_bytes)],
        &[],
    )
}

fn field<'a>(cfg: &'a Metadata, key: &str) -> Option<&'a Value> {
    cfg.get(key).filter(|v| !v.is_null())
}

/// Loads a sparsify directory (f32, f16, bf16 or f64 weights) as a TopK SAE. Missing files or
/// tensors, wrong shapes (naming the tensor and both shapes) and what sparsekit cannot represent
/// (`groupmax`, `skip_connection`) are [`SaeError::Format`] errors naming the file.
pub fn load(dir: &Path) -> Result<SaeParams> {
    let (cfg_path, cfg) = read_cfg(dir)?;
    let bad = |m: String| SaeError::format(&cfg_path, m);
    let uint = |key: &str, default: Option<u64>| -> Result<u64> {
        match field(&cfg, key) {
            Some(v) => v
                .as_u64()
                .ok_or_else(|| bad(format!("'{key}' = {v} is not a whole number"))),
            None => default.ok_or_else(|| bad(format!("no '{key}'"))),
        }
    };
    let flag = |key: &str| -> Result<bool> {
        match field(&cfg, key) {
            Some(Value::Bool(b)) => Ok(*b),
            None => Ok(false),
            Some(v) => Err(bad(format!("'{key}' = {v} is not a boolean"))),
        }
    };
    // Defaults are SparseCoderConfig's.
    let activation = field(&cfg, "activation")
        .and_then(Value::as_str)
        .unwrap_or("topk");
    if activation != "topk" {
        return Err(bad(format!(
            "activation '{activation}' is not supported (only topk)"
        )));
    }
    if flag("skip_connection")? {
        return Err(bad("skip_connection (W_skip) is not supported".into()));
    }
    let d_in = uint("d_in", None)? as usize;
    let num_latents = uint("num_latents", Some(0))? as usize;
    let d_sae = if num_latents > 0 {
        num_latents
    } else {
        d_in * uint("expansion_factor", Some(32))? as usize
    };
    let k = uint("k", Some(32))? as usize;
    let transcode = flag("transcode")?;

    let file = TensorFile::open(dir.join(WEIGHTS_FILE))?;
    let params = SaeParams {
        config: SaeConfig {
            architecture: Architecture::TopK,
            d_in,
            d_sae,
            k: Some(k),
            apply_b_dec_to_input: !transcode,
            normalize_activations: Normalization::None,
            norm_scale: None,
        },
        w_enc: file.get("encoder.weight", &[d_sae, d_in])?,
        b_enc: file.get("encoder.bias", &[d_sae])?,
        w_dec: file.get("W_dec", &[d_sae, d_in])?,
        b_dec: file.get("b_dec", &[d_in])?,
        threshold: None,
        gated: None,
    };
    params
        .validate()
        .map_err(|e| SaeError::format(dir, e.to_string()))?;
    Ok(params)
}

/// Natural order (`layers.2` before `layers.10`), as sparsify sorts hookpoints.
fn natural_key(s: &str) -> Vec<(u8, u128, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_digit() {
            let mut d = String::new();
            while let Some(&c) = chars.peek().filter(|c| c.is_ascii_digit()) {
                d.push(c);
                chars.next();
            }
            out.push((0, d.parse().unwrap_or(u128::MAX), d));
        } else {
            let mut t = String::new();
            while let Some(&c) = chars.peek().filter(|c| !c.is_ascii_digit()) {
                t.push(c);
                chars.next();
            }
            out.push((1, 0, t));
        }
    }
    out
}

/// The hookpoints of a sparsify checkpoint directory: its subdirectories that hold `cfg.json`
/// and `sae.safetensors`, in natural order (`layers.2` before `layers.10`).
pub fn hookpoints(dir: &Path) -> Result<Vec<String>> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| SaeError::io(format!("listing {}", dir.display()), e))?;
    let mut v = Vec::new();
    for e in rd {
        let e = e.map_err(|e| SaeError::io(format!("listing {}", dir.display()), e))?;
        let p = e.path();
        if p.join("cfg.json").is_file() && p.join(WEIGHTS_FILE).is_file() {
            v.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    v.sort_by_key(|s| natural_key(s));
    Ok(v)
}

/// Every SAE of a sparsify checkpoint directory, by hookpoint ([`hookpoints`]); an error when
/// there is none.
pub fn load_many(dir: &Path) -> Result<Vec<(String, SaeParams)>> {
    let hooks = hookpoints(dir)?;
    if hooks.is_empty() {
        return Err(SaeError::format(
            dir,
            format!("no hookpoint subdirectory with cfg.json and {WEIGHTS_FILE}"),
        ));
    }
    hooks
        .into_iter()
        .map(|h| load(&dir.join(&h)).map(|p| (h, p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec!["layers.10", "layers.2", "embed", "layers.1.mlp"];
        v.sort_by_key(|s| natural_key(s));
        assert_eq!(v, ["embed", "layers.1.mlp", "layers.2", "layers.10"]);
    }
}
