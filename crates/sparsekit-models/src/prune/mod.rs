//! Calibrated one-shot pruning of a whole encoder, as the reference implementations of Wanda,
//! SparseGPT, DSnoT and OWL prune a transformer: calibration text goes through the model, the
//! layers are pruned **in order**, and the calibration inputs of layer `ℓ` are computed by the
//! model whose layers `< ℓ` are already pruned (and, for SparseGPT, reconstructed).
//!
//! Per layer (the reference `sequential` loop): one forward pass of the *current* (still dense)
//! layer over the calibration batches collects the inputs of its six projections — `resid_pre`
//! for `attention.self.{query,key,value}`, the merged heads ([`SelfAttention::context`]) for
//! `attention.output.dense`, `resid_mid` for `intermediate.dense`, `mlp_hidden` for
//! `output.dense` — padding positions excluded; every selected projection is pruned from those
//! statistics; then the pruned layer's outputs become the next layer's calibration inputs.
//! Embeddings, LayerNorms and biases are never touched. The per-projection cores are
//! sparsekit-prune's [`oneshot`](sparsekit_prune::oneshot) functions (weights in PyTorch's
//! `[out, in]` layout, the papers' per-output-row comparison groups):
//!
//! | [`Method`] | statistic | what it does |
//! |---|---|---|
//! | `Magnitude` | none (no forward pass) | smallest `|W_ij|` per row / N:M group |
//! | `Wanda` | `‖X_j‖₂` | smallest `|W_ij|·‖X_j‖₂` per row / N:M group |
//! | `SparseGpt` | `H = 2XᵀX/n` | OBS mask selection and reconstruction, block 128, 1 % dampening, mask chosen jointly over the rows of each block (the reference `fasterprune`) |
//! | `Dsnot` | `XᵀX`, means | Wanda, then DSnoT's training-free prune-and-grow swaps |
//!
//! [`Allocation`] spreads an unstructured target over the projections: `Uniform` (every
//! projection at the target), `Global` (one `|W|` threshold across every selected projection,
//! as PyTorch's `prune.global_unstructured`; each projection is then pruned by the method at
//! the sparsity that threshold gives it, per output row, so the total is the global count up
//! to half a weight per row), `Erk`, or `Owl` (per-layer sparsities from the layers'
//! outlier ratios of the Wanda score on the dense model, [`sparsekit_prune::owl`]). An N:M
//! target fixes every projection's sparsity, so it takes `Uniform` only.
//!
//! The result stays in dense storage with exact zeros ([`Projection::Dense`]); write it with
//! [`save_model_dir`](crate::save::save_model_dir), run it sparse with the sparse projections.
//!
//! [`SelfAttention::context`]: crate::bert::SelfAttention::context

mod calib;

use std::time::Instant;

use serde::Serialize;
use sparsekit_formats::Selector;
use sparsekit_prune::oneshot::{self, DsnotConfig, MaskScope, SparseGptConfig, SparsityTarget};
use sparsekit_prune::owl::{self, OwlConfig};
use sparsekit_prune::{Allocation as LayerAllocation, LayerShape};

use crate::projection::Projection;
use crate::sentence::SentenceEncoder;
use crate::ModelError;

pub use calib::{debian_calibration, sample_texts, CalibrationConfig};
use calib::{Calibration, Input, Stats};

/// The one-shot pruning method of every selected projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// `|W_ij|` (needs no calibration).
    Magnitude,
    /// `|W_ij|·‖X_j‖₂` (Sun et al., 2023).
    Wanda,
    /// OBS mask selection and weight reconstruction (Frantar & Alistarh, 2023).
    #[serde(rename = "sparsegpt")]
    SparseGpt,
    /// Wanda, refined by DSnoT's training-free prune-and-grow (Zhang et al., 2024).
    Dsnot,
}

impl Method {
    /// The method's command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Magnitude => "magnitude",
            Method::Wanda => "wanda",
            Method::SparseGpt => "sparsegpt",
            Method::Dsnot => "dsnot",
        }
    }

    fn statistic(self) -> Option<Stats> {
        match self {
            Method::Magnitude => None,
            Method::Wanda => Some(Stats::Norms),
            Method::SparseGpt | Method::Dsnot => Some(Stats::Hessian),
        }
    }
}

/// How much to prune.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Target {
    /// A fraction of the selected weights, in `[0, 1]`.
    Sparsity(f64),
    /// `n` of every `m` consecutive inputs of each output row kept (2:4, 4:8).
    NM {
        /// Kept per group.
        n: usize,
        /// Group size.
        m: usize,
    },
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Sparsity(s) => write!(f, "{:.0}% unstructured", s * 100.0),
            Target::NM { n, m } => write!(f, "{n}:{m}"),
        }
    }
}

/// How an unstructured target is spread over the projections (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Allocation {
    /// Every projection at the target.
    Uniform,
    /// One `|W|` threshold across every selected projection.
    Global,
    /// Erdős–Rényi-kernel densities (`(n_in + n_out)/(n_in·n_out)`, RigL).
    Erk,
    /// Outlier-weighted layerwise sparsity.
    Owl(OwlConfig),
}

/// Everything [`prune_one_shot`] needs besides the model and the calibration texts.
#[derive(Debug, Clone)]
pub struct OneShotConfig {
    /// The method.
    pub method: Method,
    /// The target.
    pub target: Target,
    /// Spreading of an unstructured target.
    pub allocation: Allocation,
    /// Projections to prune: a [`Selector`] pattern on the weight's tensor name
    /// (`encoder.layer.3.attention.self.query.weight`); default `**` (all).
    pub include: String,
    /// Projections to leave alone, same syntax.
    pub exclude: Option<String>,
    /// Calibration batches.
    pub calibration: CalibrationConfig,
    /// SparseGPT's parameters (default: block 128, 1 % dampening, [`MaskScope::Block`]).
    pub sparsegpt: SparseGptConfig,
    /// DSnoT's parameters (`group_size` is set to `m` for an N:M target).
    pub dsnot: DsnotConfig,
}

impl OneShotConfig {
    /// `method` at `target`, uniform allocation, every projection, default calibration and the
    /// papers' defaults.
    pub fn new(method: Method, target: Target) -> Self {
        OneShotConfig {
            method,
            target,
            allocation: Allocation::Uniform,
            include: "**".into(),
            exclude: None,
            calibration: CalibrationConfig::default(),
            sparsegpt: SparseGptConfig {
                scope: MaskScope::Block,
                ..SparseGptConfig::default()
            },
            dsnot: DsnotConfig::default(),
        }
    }

    /// With another allocation.
    pub fn with_allocation(mut self, allocation: Allocation) -> Self {
        self.allocation = allocation;
        self
    }
}

/// One pruned projection.
#[derive(Debug, Clone, Serialize)]
pub struct TensorReport {
    /// The weight's tensor name (`encoder.layer.0.attention.self.query.weight`).
    pub name: String,
    /// `[d_out, d_in]`.
    pub shape: [usize; 2],
    /// The sparsity the allocation asked for.
    pub target_sparsity: f64,
    /// Zeros / entries after pruning.
    pub sparsity: f64,
    /// `"unstructured"` or `"N:M"`.
    pub pattern: String,
    /// Seconds spent pruning it (statistics excluded).
    pub seconds: f64,
}

/// What [`prune_one_shot`] did.
#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    /// The method.
    pub method: Method,
    /// The target, as text (`"50% unstructured"`, `"2:4"`).
    pub target: String,
    /// The allocation.
    pub allocation: Allocation,
    /// Calibration texts used.
    pub calibration_texts: usize,
    /// Calibration tokens (padding excluded) per layer.
    pub calibration_tokens: usize,
    /// OWL's outlier ratio per layer (empty without OWL).
    pub outlier_ratios: Vec<f64>,
    /// Per-layer sparsity OWL gave (empty without OWL).
    pub layer_sparsities: Vec<f64>,
    /// Every selected projection.
    pub tensors: Vec<TensorReport>,
    /// Zeros / entries over the selected projections.
    pub sparsity: f64,
    /// Wall time, calibration included.
    pub seconds: f64,
}

/// Progress of [`prune_one_shot`]: `(layers done, layers)`.
pub type Progress<'a> = dyn FnMut(usize, usize) + 'a;

/// Prunes the projections of `encoder` selected by `config` in place, calibrating on
/// `calibration` texts (ignored by [`Method::Magnitude`] without OWL). See the
/// [module docs](self).
///
/// Errors: an invalid target or allocation (N:M with a non-uniform allocation), a bad
/// pattern, no projection selected, no calibration text when one is needed, an empty text,
/// or a failure of a pruning core (e.g. a Hessian that is not positive definite).
///
/// ```no_run
/// use sparsekit_models::prune::{prune_one_shot, Method, OneShotConfig, Target};
/// use sparsekit_models::SentenceEncoder;
/// # fn f(dir: &std::path::Path, texts: &[&str]) -> Result<(), sparsekit_models::ModelError> {
/// let mut enc = SentenceEncoder::load(dir, &burn::tensor::Device::flex())?;
/// let config = OneShotConfig::new(Method::Wanda, Target::NM { n: 2, m: 4 });
/// let report = prune_one_shot(&mut enc, texts, &config, &mut |_, _| {})?;
/// assert!((report.sparsity - 0.5).abs() < 1e-9);
/// # Ok(()) }
/// ```
pub fn prune_one_shot(
    encoder: &mut SentenceEncoder,
    calibration: &[&str],
    config: &OneShotConfig,
    progress: &mut Progress<'_>,
) -> Result<PruneReport, ModelError> {
    let start = Instant::now();
    let invalid = |m: String| ModelError::Invalid(m);
    let sel = |p: &str| Selector::new(p).map_err(|e| invalid(format!("pattern '{p}': {e}")));
    let include = sel(&config.include)?;
    let exclude = config.exclude.as_deref().map(sel).transpose()?;
    let st = match config.target {
        Target::Sparsity(s) => SparsityTarget::Unstructured(s),
        Target::NM { n, m } => SparsityTarget::NM { n, m },
    };
    st.validate()?;
    if matches!(config.target, Target::NM { .. }) && config.allocation != Allocation::Uniform {
        return Err(invalid(
            "an N:M pattern fixes every projection's sparsity: it takes the uniform allocation \
             only"
                .into(),
        ));
    }
    if let Allocation::Owl(c) = config.allocation {
        c.validate()?;
    }

    // The selected projections, per layer, in forward order.
    let depth = encoder.model.depth();
    let mut selected: Vec<Vec<(String, (usize, usize))>> = vec![Vec::new(); depth];
    for (l, layer) in encoder.model.layers.iter().enumerate() {
        layer.visit_projections(l, &mut |path, p| {
            let name = format!("{path}.weight");
            if include.matches(&name) && !exclude.as_ref().is_some_and(|e| e.matches(&name)) {
                selected[l].push((path.to_string(), p.shape()));
            }
        });
    }
    let all: Vec<(usize, &String, (usize, usize))> = selected
        .iter()
        .enumerate()
        .flat_map(|(l, v)| v.iter().map(move |(p, s)| (l, p, *s)))
        .collect();
    if all.is_empty() {
        return Err(invalid(format!(
            "no projection is selected by --include '{}'{}",
            config.include,
            config
                .exclude
                .as_ref()
                .map_or(String::new(), |e| format!(" --exclude '{e}'"))
        )));
    }

    // Per-projection unstructured sparsities (OWL's come after the dense pass).
    let shapes: Vec<LayerShape> = all
        .iter()
        .map(|(_, p, (o, i))| LayerShape::new(format!("{p}.weight"), *o, *i))
        .collect();
    let target_s = match config.target {
        Target::Sparsity(s) => s,
        Target::NM { n, m } => 1.0 - n as f64 / m as f64,
    };
    let mut sparsities: Vec<f64> = match config.allocation {
        Allocation::Uniform | Allocation::Owl(_) => vec![target_s; all.len()],
        Allocation::Erk => LayerAllocation::Erk.sparsities(&shapes, target_s, None, None)?,
        Allocation::Global => {
            let mut scores = Vec::with_capacity(all.len());
            for (l, p, _) in &all {
                let w = projection(encoder, *l, p)?.weight_values()?;
                scores.push(w.iter().map(|v| v.abs()).collect::<Vec<f32>>());
            }
            LayerAllocation::Global.sparsities(&shapes, target_s, None, Some(&scores))?
        }
    };

    let owl_config = match config.allocation {
        Allocation::Owl(c) => Some(c),
        _ => None,
    };
    let needs_calibration = config.method.statistic().is_some() || owl_config.is_some();
    let mut cal = if needs_calibration {
        Some(Calibration::new(encoder, calibration, &config.calibration)?)
    } else {
        None
    };

    let (mut outlier_ratios, mut layer_sparsities) = (Vec::new(), Vec::new());
    if let (Some(c), Some(cal)) = (owl_config, cal.as_ref()) {
        outlier_ratios = owl_ratios(encoder, cal, &selected, c)?;
        // Layers without a selected projection take no part.
        let active: Vec<usize> = (0..depth).filter(|&l| !selected[l].is_empty()).collect();
        let ratios: Vec<f64> = active.iter().map(|&l| outlier_ratios[l]).collect();
        let s = owl::owl_sparsities(&ratios, target_s, &c)?;
        layer_sparsities = vec![0.0; depth];
        for (&l, s) in active.iter().zip(s) {
            layer_sparsities[l] = s;
        }
        for (k, (l, _, _)) in all.iter().enumerate() {
            sparsities[k] = layer_sparsities[*l];
        }
    }

    let mut tensors = Vec::with_capacity(all.len());
    let mut k = 0;
    for (l, layer_selection) in selected.iter().enumerate() {
        let stats = match (&cal, config.method.statistic()) {
            (Some(cal), Some(kind)) if !layer_selection.is_empty() => {
                Some(cal.layer_stats(&encoder.model.layers[l], l, kind)?)
            }
            _ => None,
        };
        let mut pruned: Vec<(String, Vec<f32>)> = Vec::new();
        for (path, (rows, cols)) in layer_selection {
            let t = Instant::now();
            let p = projection(encoder, l, path)?;
            let w = p.weight_values()?;
            let target = match config.target {
                Target::NM { n, m } => SparsityTarget::NM { n, m },
                Target::Sparsity(_) => SparsityTarget::Unstructured(sparsities[k]),
            };
            let input = Input::of(path)?;
            let weights = prune_weights(
                config,
                &w,
                (*rows, *cols),
                target,
                stats.as_ref().map(|s| s.get(input)),
            )
            .map_err(|e| invalid(format!("pruning {path}: {e}")))?;
            let zeros = weights.iter().filter(|v| **v == 0.0).count();
            tensors.push(TensorReport {
                name: format!("{path}.weight"),
                shape: [*rows, *cols],
                target_sparsity: match target {
                    SparsityTarget::Unstructured(s) => s,
                    SparsityTarget::NM { .. } => target_s,
                },
                sparsity: zeros as f64 / weights.len().max(1) as f64,
                pattern: match config.target {
                    Target::NM { n, m } => format!("{n}:{m}"),
                    Target::Sparsity(_) => "unstructured".into(),
                },
                seconds: t.elapsed().as_secs_f64(),
            });
            pruned.push((path.clone(), weights));
            k += 1;
        }
        if !pruned.is_empty() {
            let layer = encoder.model.layers[l].clone();
            encoder.model.layers[l] = layer.map_projections(l, &mut |path, p| match pruned
                .iter()
                .find(|(q, _)| q == path)
            {
                Some((_, w)) => p.with_weight(w),
                None => Ok(p),
            })?;
        }
        if let Some(cal) = cal.as_mut() {
            cal.advance(&encoder.model.layers[l], l);
        }
        progress(l + 1, depth);
    }

    let (zeros, total) = tensors.iter().fold((0.0, 0usize), |(z, t), r| {
        let n = r.shape[0] * r.shape[1];
        (z + r.sparsity * n as f64, t + n)
    });
    Ok(PruneReport {
        method: config.method,
        target: config.target.to_string(),
        allocation: config.allocation,
        calibration_texts: cal.as_ref().map_or(0, |c| c.texts()),
        calibration_tokens: cal.as_ref().map_or(0, |c| c.tokens()),
        outlier_ratios,
        layer_sparsities,
        tensors,
        sparsity: zeros / total.max(1) as f64,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The projection at `path` of layer `l`.
fn projection(encoder: &SentenceEncoder, l: usize, path: &str) -> Result<Projection, ModelError> {
    let mut found = None;
    encoder.model.layers[l].visit_projections(l, &mut |p, proj| {
        if p == path {
            found = Some(proj.clone());
        }
    });
    found.ok_or_else(|| ModelError::Invalid(format!("no projection {path}")))
}

/// One projection's pruned weights (`[out, in]`).
fn prune_weights(
    config: &OneShotConfig,
    w: &[f32],
    (rows, cols): (usize, usize),
    target: SparsityTarget,
    stats: Option<&calib::InputStats>,
) -> Result<Vec<f32>, ModelError> {
    let need = || ModelError::Invalid("calibration statistics are missing".into());
    let pruned = match config.method {
        Method::Magnitude => oneshot::magnitude(w, rows, cols, target)?,
        Method::Wanda => oneshot::wanda(w, rows, cols, &stats.ok_or_else(need)?.norms()?, target)?,
        Method::SparseGpt => {
            let acc = stats.ok_or_else(need)?.hessian()?;
            oneshot::sparsegpt(w, rows, cols, acc, target, &config.sparsegpt)?
        }
        Method::Dsnot => {
            let s = stats.ok_or_else(need)?;
            let acc = s.hessian()?;
            let start = oneshot::wanda(w, rows, cols, &acc.input_norms()?, target)?;
            let mut dc = config.dsnot;
            if let SparsityTarget::NM { m, .. } = target {
                dc.group_size = Some(m);
            }
            oneshot::dsnot(w, &start.weights, &start.mask, rows, cols, acc, &dc)?.pruned
        }
    };
    Ok(pruned.weights)
}

/// OWL's outlier ratio of every layer: the Wanda scores of its selected projections on the
/// dense model's calibration inputs (a separate dense pass, as the reference does).
fn owl_ratios(
    encoder: &SentenceEncoder,
    cal: &Calibration,
    selected: &[Vec<(String, (usize, usize))>],
    config: OwlConfig,
) -> Result<Vec<f64>, ModelError> {
    let mut pass = cal.clone();
    let mut ratios = vec![0.0; selected.len()];
    for (l, sel) in selected.iter().enumerate() {
        let layer = &encoder.model.layers[l];
        if !sel.is_empty() {
            let stats = pass.layer_stats(layer, l, Stats::Norms)?;
            let mut scores: Vec<Vec<f64>> = Vec::with_capacity(sel.len());
            for (path, (_, cols)) in sel {
                let w = projection(encoder, l, path)?.weight_values()?;
                let norms = stats.get(Input::of(path)?).norms()?;
                scores.push(
                    w.iter()
                        .enumerate()
                        .map(|(k, v)| (v.abs() as f64) * norms[k % cols])
                        .collect(),
                );
            }
            ratios[l] = owl::outlier_ratio(scores.iter().map(|s| s.as_slice()), config.m)?;
        }
        pass.advance(layer, l);
    }
    Ok(ratios)
}
