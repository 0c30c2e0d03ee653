//! SAELens directories (the format of `sae-lens` 6.54.12, `sae_lens/saes/*.py`,
//! `sae_lens/loading/pretrained_sae_loaders.py`): what `SAE.save_model` writes and
//! `SAE.load_from_disk` reads.
//!
//! | file | content |
//! |------|---------|
//! | `cfg.json` | `architecture` (`standard`, `topk`, `jumprelu`, `gated`), `d_in`, `d_sae`, `dtype`, `device`, `apply_b_dec_to_input`, `normalize_activations`, `reshape_activations`, `k` and `rescale_acts_by_decoder_norm` (topk), `metadata` (with `sae_lens_version`; below 6.0 SAELens reinterprets the file as a pre-6.0 config) |
//! | `sae_weights.safetensors` | `W_enc [d_in, d_sae]`, `W_dec [d_sae, d_in]`, `b_dec [d_in]`; `b_enc [d_sae]` (all but gated); `threshold [d_sae]` (jumprelu); `b_gate`, `r_mag`, `b_mag [d_sae]` (gated) |
//! | `sparsity.safetensors` (optional) | `sparsity [d_sae]`: log10 of each latent's firing frequency (`log10(p + 1e-10)` in SAELens' trainer) |
//!
//! Mapping onto [`SaeParams`]:
//!
//! - [`Architecture::Relu`] ↔ `standard`; [`Architecture::Gated`]: our `b_enc` is `b_gate`.
//! - [`Architecture::BatchTopK`] is saved as `jumprelu` with its threshold, exactly as SAELens
//!   saves a trained `BatchTopKTrainingSAE` (its inference form); `metadata.training_architecture
//!   = "batchtopk"` and `metadata.training_architecture_details.k` (as SAELens' training config
//!   writes them) let [`load`] give back a BatchTopK SAE when the threshold is one value repeated
//!   and `k` a whole number; otherwise such a file loads as JumpReLU.
//! - `W_enc` is transposed at the edge (ours is latent-major `[d_sae, d_in]`).
//! - [`Normalization::ExpectedAverageOnlyIn`] with a `norm_scale` `s` is **folded** on save as
//!   SAELens' trainer does at the end of training (`fold_activation_norm_scaling_factor`):
//!   `W_enc·s`, `W_dec/s`, `b_dec/s`, and `normalize_activations = "none"` (the scale is noted in
//!   `metadata.sparsekit_folded_norm_scale`). SAELens' inference SAE applies no scaling for
//!   `expected_average_only_in`, so such a file loads as `ExpectedAverageOnlyIn` with
//!   `norm_scale = None`, which [`crate::reference`] treats as scale 1 — the same function.
//!   `covariance_whitening` is also the identity in SAELens' inference SAE (folded by its trainer)
//!   and loads as [`Normalization::None`]. `constant_norm_rescale` and `layer_norm` are
//!   per-input and kept as they are.
//! - Loading also accepts SAELens training checkpoints: `topk` / `batchtopk` with
//!   `rescale_acts_by_decoder_norm = true` are folded into plain weights exactly as SAELens'
//!   `process_state_dict_for_saving_inference` does (`W_enc·‖W_dec_j‖`, `b_enc·‖W_dec_j‖`,
//!   `W_dec_j/‖W_dec_j‖`); a `batchtopk` checkpoint's scalar `topk_threshold` becomes the
//!   threshold. (SAELens 6.54.12's `save_inference_model` of a TopK SAE folds the norms *and*
//!   keeps `rescale_acts_by_decoder_norm = true` in `cfg.json`, so its inference SAE multiplies
//!   by norms that are 1 up to rounding; folding them again here is the same function, with the
//!   weights changed by f32 rounding only.) `log_threshold` (older JumpReLU files) becomes `exp(log_threshold)`;
//!   pre-6.0 configs (`activation_fn = "topk"` with `activation_fn_kwargs.k`, boolean
//!   `normalize_activations`) are read as SAELens reads them.
//! - `reshape_activations = "hook_z"` only flattens heads before the SAE and is ignored.

use std::path::Path;

use serde_json::{json, Value};

use super::{f32_safetensors, read_cfg, transpose, write_dir, Metadata, TensorFile};
use crate::config::{Architecture, Normalization, SaeConfig};
use crate::error::{Result, SaeError};
use crate::params::{GatedParams, SaeParams};

/// The weights file.
pub const WEIGHTS_FILE: &str = "sae_weights.safetensors";
/// The optional per-latent log10 firing frequency.
pub const SPARSITY_FILE: &str = "sparsity.safetensors";
/// The version of SAELens whose format this module writes (`metadata.sae_lens_version`).
pub const SAE_LENS_VERSION: &str = "6.54.12";

/// Everything an SAELens directory holds.
#[derive(Clone, Debug, PartialEq)]
pub struct SaeLensDir {
    /// The SAE.
    pub params: SaeParams,
    /// `sparsity.safetensors`' `sparsity` (log10 firing frequency per latent), when present.
    pub sparsity: Option<Vec<f32>>,
    /// `cfg.json`'s `metadata` object (empty when absent).
    pub metadata: Metadata,
}

/// Writes `params` as an SAELens directory that `sae_lens.SAE.load_from_disk(dir)` loads (see
/// the module docs for the mapping), with `sparsity` (log10 firing frequency per latent,
/// `d_sae` values) as `sparsity.safetensors` when given (an older one is removed otherwise), and
/// `metadata` merged into `cfg.json`'s `metadata` (`sae_lens_version` is always
/// [`SAE_LENS_VERSION`]). Files are written atomically (see [`crate::format`]).
pub fn save(
    dir: &Path,
    params: &SaeParams,
    sparsity: Option<&[f32]>,
    metadata: Option<&Metadata>,
) -> Result<()> {
    super::checked(params)?;
    let c = &params.config;
    let (d_in, d_sae) = (c.d_in, c.d_sae);
    if let Some(s) = sparsity {
        if s.len() != d_sae {
            return Err(SaeError::Shape(format!(
                "sparsity has {} values, expected d_sae = {d_sae}",
                s.len()
            )));
        }
    }

    let mut meta: Metadata = metadata.cloned().unwrap_or_default();
    meta.insert("sae_lens_version".into(), json!(SAE_LENS_VERSION));

    // Fold a known expected_average_only_in scale, as SAELens' trainer does before saving.
    let (mut w_enc, mut w_dec, mut b_dec) = (
        params.w_enc.clone(),
        params.w_dec.clone(),
        params.b_dec.clone(),
    );
    let mut norm = c.normalize_activations;
    if let (Normalization::ExpectedAverageOnlyIn, Some(s)) = (norm, c.norm_scale) {
        w_enc.iter_mut().for_each(|v| *v *= s);
        w_dec.iter_mut().for_each(|v| *v /= s);
        b_dec.iter_mut().for_each(|v| *v /= s);
        norm = Normalization::None;
        meta.insert("sparsekit_folded_norm_scale".into(), json!(s));
    }
    let w_enc_t = transpose(&w_enc, d_sae, d_in); // [d_in, d_sae]

    let arch_name = match c.architecture {
        Architecture::Relu => "standard",
        Architecture::TopK => "topk",
        Architecture::JumpRelu | Architecture::BatchTopK => "jumprelu",
        Architecture::Gated => "gated",
    };
    if c.architecture == Architecture::BatchTopK {
        meta.insert("training_architecture".into(), json!("batchtopk"));
        // Keep other details SAELens wrote (a BatchTopK SAE loaded from SAELens), set k.
        let mut details = match meta.remove("training_architecture_details") {
            Some(Value::Object(d)) => d,
            _ => Metadata::new(),
        };
        // A float, as BatchTopKTrainingSAEConfig.k is.
        details.insert("k".into(), json!(c.k.expect("validated") as f64));
        meta.insert(
            "training_architecture_details".into(),
            Value::Object(details),
        );
    }
    let mut cfg = serde_json::Map::new();
    cfg.insert("architecture".into(), json!(arch_name));
    cfg.insert("d_in".into(), json!(d_in));
    cfg.insert("d_sae".into(), json!(d_sae));
    cfg.insert("dtype".into(), json!("float32"));
    cfg.insert("device".into(), json!("cpu"));
    cfg.insert("apply_b_dec_to_input".into(), json!(c.apply_b_dec_to_input));
    cfg.insert("normalize_activations".into(), json!(norm.name()));
    cfg.insert("reshape_activations".into(), json!("none"));
    if c.architecture == Architecture::TopK {
        cfg.insert("k".into(), json!(c.k.expect("validated")));
        cfg.insert("rescale_acts_by_decoder_norm".into(), json!(false));
    }
    cfg.insert("metadata".into(), Value::Object(meta));

    let mut tensors: Vec<(&str, Vec<usize>, &[f32])> = vec![
        ("W_enc", vec![d_in, d_sae], &w_enc_t),
        ("W_dec", vec![d_sae, d_in], &w_dec),
        ("b_dec", vec![d_in], &b_dec),
    ];
    match c.architecture {
        Architecture::Gated => {
            let g = params.gated.as_ref().expect("validated");
            tensors.push(("b_gate", vec![d_sae], &params.b_enc));
            tensors.push(("r_mag", vec![d_sae], &g.r_mag));
            tensors.push(("b_mag", vec![d_sae], &g.b_mag));
        }
        _ => tensors.push(("b_enc", vec![d_sae], &params.b_enc)),
    }
    if let Some(t) = &params.threshold {
        tensors.push(("threshold", vec![d_sae], t));
    }
    let weights = f32_safetensors(&tensors)?;
    let cfg_bytes = serde_json::to_vec_pretty(&Value::Object(cfg))
        .map_err(|e| SaeError::Config(format!("serialising cfg.json: {e}")))?;

    let mut files = vec![(WEIGHTS_FILE, weights)];
    let mut stale = vec![];
    match sparsity {
        Some(s) => files.push((
            SPARSITY_FILE,
            f32_safetensors(&[("sparsity", vec![d_sae], s)])?,
        )),
        None => stale.push(SPARSITY_FILE),
    }
    files.push(("cfg.json", cfg_bytes));
    write_dir(dir, &files, &stale)
}

/// Loads the SAE of an SAELens directory (see [`load_full`]).
pub fn load(dir: &Path) -> Result<SaeParams> {
    Ok(load_full(dir)?.params)
}

fn get_usize(cfg: &Metadata, key: &str, path: &Path) -> Result<usize> {
    match cfg.get(key) {
        Some(v) => v
            .as_u64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            })
            .map(|u| u as usize)
            .ok_or_else(|| SaeError::format(path, format!("'{key}' = {v} is not a whole number"))),
        None => Err(SaeError::format(path, format!("no '{key}'"))),
    }
}

/// A whole number `k` from JSON (SAELens' BatchTopK writes a float).
fn whole(v: Option<&Value>) -> Option<usize> {
    let v = v?;
    v.as_u64().map(|u| u as usize).or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 1.0)
            .map(|f| f as usize)
    })
}

/// Loads an SAELens directory: the SAE (f32, f16, bf16 or f64 weights), its sparsity file and its
/// metadata. Missing files or tensors, wrong shapes (naming the tensor and both shapes) and
/// architectures sparsekit does not have are [`SaeError::Format`] errors naming the file.
pub fn load_full(dir: &Path) -> Result<SaeLensDir> {
    let (cfg_path, cfg) = read_cfg(dir)?;
    let bad = |m: String| SaeError::format(&cfg_path, m);
    let metadata: Metadata = match cfg.get("metadata") {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::Null) | None => Metadata::new(),
        Some(v) => return Err(bad(format!("'metadata' is not an object: {v}"))),
    };

    // Pre-6.0 configs, as SAELens' handle_pre_6_0_config reads them.
    let activation_fn = cfg
        .get("activation_fn")
        .or_else(|| cfg.get("activation_fn_str"))
        .and_then(Value::as_str);
    let mut arch = cfg
        .get("architecture")
        .and_then(Value::as_str)
        .unwrap_or("standard")
        .to_string();
    let mut k_value = cfg.get("k").cloned();
    if activation_fn == Some("topk") {
        if let Some(k) = cfg.get("activation_fn_kwargs").and_then(|kw| kw.get("k")) {
            arch = "topk".into();
            k_value = Some(k.clone());
        }
    }
    if arch == "standard" && !matches!(activation_fn, None | Some("relu")) {
        return Err(bad(format!(
            "architecture 'standard' with activation_fn '{}' is not supported (only relu)",
            activation_fn.unwrap_or_default()
        )));
    }

    let d_in = get_usize(&cfg, "d_in", &cfg_path)?;
    let d_sae = get_usize(&cfg, "d_sae", &cfg_path)?;
    let apply_b_dec_to_input = match cfg.get("apply_b_dec_to_input") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(bad(format!(
                "'apply_b_dec_to_input' = {v} is not a boolean"
            )))
        }
    };
    let normalize_activations = match cfg.get("normalize_activations") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Normalization::None,
        Some(Value::Bool(true)) => Normalization::ExpectedAverageOnlyIn,
        Some(Value::String(s)) if s == "covariance_whitening" => Normalization::None,
        Some(Value::String(s)) => Normalization::from_name(s)
            .ok_or_else(|| bad(format!("unknown normalize_activations '{s}'")))?,
        Some(v) => {
            return Err(bad(format!(
                "'normalize_activations' = {v} is not a string"
            )))
        }
    };
    let rescale = cfg
        .get("rescale_acts_by_decoder_norm")
        .and_then(Value::as_bool)
        .unwrap_or(false);

    let file = TensorFile::open(dir.join(WEIGHTS_FILE))?;
    let w_enc_t = file.get("W_enc", &[d_in, d_sae])?;
    let mut w_enc = transpose(&w_enc_t, d_in, d_sae);
    let mut w_dec = file.get("W_dec", &[d_sae, d_in])?;
    let b_dec = file.get("b_dec", &[d_in])?;
    if file.has("scaling_factor") {
        let s = file.get("scaling_factor", &[d_sae])?;
        if s.iter().any(|&v| v != 1.0) {
            return Err(SaeError::format(
                &file.path,
                "a finetuning 'scaling_factor' other than 1 is not supported",
            ));
        }
    }

    let threshold_of = |file: &TensorFile| -> Result<Vec<f32>> {
        if file.has("threshold") {
            file.get("threshold", &[d_sae])
        } else if file.has("log_threshold") {
            Ok(file
                .get("log_threshold", &[d_sae])?
                .into_iter()
                .map(f32::exp)
                .collect())
        } else {
            Err(SaeError::format(
                &file.path,
                format!(
                    "no tensor 'threshold' (the file has: {})",
                    file.names().join(", ")
                ),
            ))
        }
    };
    let uniform = |t: &[f32]| t.iter().all(|&v| v == t[0]);

    let (architecture, k, mut b_enc, threshold, gated) = match arch.as_str() {
        "standard" => (
            Architecture::Relu,
            None,
            file.get("b_enc", &[d_sae])?,
            None,
            None,
        ),
        "topk" => {
            let k = whole(k_value.as_ref())
                .ok_or_else(|| bad(format!("topk needs a whole k, got {k_value:?}")))?;
            (
                Architecture::TopK,
                Some(k),
                file.get("b_enc", &[d_sae])?,
                None,
                None,
            )
        }
        "jumprelu" => {
            let t = threshold_of(&file)?;
            let batchtopk_k = (metadata
                .get("training_architecture")
                .and_then(Value::as_str)
                == Some("batchtopk"))
            .then(|| {
                whole(
                    metadata
                        .get("training_architecture_details")
                        .and_then(|d| d.get("k")),
                )
            })
            .flatten()
            .filter(|&k| k <= d_sae && uniform(&t));
            let arch = if batchtopk_k.is_some() {
                Architecture::BatchTopK
            } else {
                Architecture::JumpRelu
            };
            (
                arch,
                batchtopk_k,
                file.get("b_enc", &[d_sae])?,
                Some(t),
                None,
            )
        }
        "batchtopk" => {
            // A training checkpoint (BatchTopKTrainingSAE.save_model): scalar topk_threshold.
            let k = whole(k_value.as_ref())
                .ok_or_else(|| bad(format!("batchtopk needs a whole k, got {k_value:?}")))?;
            let t = match file.shape("topk_threshold") {
                Some(s) if s.is_empty() || s == [1] => file.get("topk_threshold", &s)?[0],
                Some(s) => {
                    return Err(SaeError::format(
                        &file.path,
                        format!("tensor 'topk_threshold' has shape {s:?}, expected []"),
                    ))
                }
                None => {
                    return Err(SaeError::format(
                        &file.path,
                        "no tensor 'topk_threshold' (a batchtopk training checkpoint)",
                    ))
                }
            };
            (
                Architecture::BatchTopK,
                Some(k),
                file.get("b_enc", &[d_sae])?,
                Some(vec![t; d_sae]),
                None,
            )
        }
        "gated" => (
            Architecture::Gated,
            None,
            file.get("b_gate", &[d_sae])?,
            None,
            Some(GatedParams {
                r_mag: file.get("r_mag", &[d_sae])?,
                b_mag: file.get("b_mag", &[d_sae])?,
            }),
        ),
        other => {
            return Err(bad(format!(
                "architecture '{other}' is not supported (standard, topk, jumprelu, gated, \
                 batchtopk)"
            )))
        }
    };

    if rescale && matches!(arch.as_str(), "topk" | "batchtopk") {
        // Fold ‖W_dec_j‖ into the encoder (SAELens' _fold_norm_topk).
        for j in 0..d_sae {
            let row = &mut w_dec[j * d_in..(j + 1) * d_in];
            let n = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            if !(n > 0.0 && n.is_finite()) {
                return Err(SaeError::format(
                    &file.path,
                    format!("rescale_acts_by_decoder_norm with W_dec row {j} of norm {n}"),
                ));
            }
            row.iter_mut().for_each(|v| *v /= n);
            w_enc[j * d_in..(j + 1) * d_in]
                .iter_mut()
                .for_each(|v| *v *= n);
            b_enc[j] *= n;
        }
    }

    let config = SaeConfig {
        architecture,
        d_in,
        d_sae,
        k,
        apply_b_dec_to_input,
        normalize_activations,
        norm_scale: None,
    };
    let params = SaeParams {
        config,
        w_enc,
        b_enc,
        w_dec,
        b_dec,
        threshold,
        gated,
    };
    params
        .validate()
        .map_err(|e| SaeError::format(dir, e.to_string()))?;

    let sparsity_path = dir.join(SPARSITY_FILE);
    let sparsity = if sparsity_path.is_file() {
        Some(TensorFile::open(sparsity_path)?.get("sparsity", &[d_sae])?)
    } else {
        None
    };
    Ok(SaeLensDir {
        params,
        sparsity,
        metadata,
    })
}
