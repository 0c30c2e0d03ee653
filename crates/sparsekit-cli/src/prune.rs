//! `sparsekit prune`, two modes:
//!
//! - **checkpoint** (`sparsekit prune IN.safetensors OUT.safetensors`): prune every selected
//!   ≥ 2-D float tensor of a checkpoint with `sparsekit-prune`'s burn-free core (magnitude or
//!   random scores; `--allocation uniform|global|erk` spreads `--sparsity` over the tensors);
//! - **model** (`sparsekit prune --model DIR --output OUTDIR --method wanda|sparsegpt|…`,
//!   feature `models`): calibrated one-shot pruning of a sentence-transformers BERT directory,
//!   layer by layer (`sparsekit_models::prune`), written as a complete model directory plus
//!   `sparsity.json` (see `prune_model.rs`).
//!
//! A tensor `[d0, d1, ...]` is pruned as the matrix `d0 × (d1 · ...)` (PyTorch's `[out, in, ...]`
//! layout), so `--pattern N:M` groups run along the last dimensions (the inputs). F32, F16 and
//! BF16 tensors keep their dtype (pruned entries become +0.0); every other tensor and the
//! `__metadata__` are copied unchanged.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use sparsekit_formats::io::safetensors::floats;
use sparsekit_formats::Selector;
use sparsekit_prune::structure::{self, Structure};
use sparsekit_prune::{Allocation, Criterion, LayerShape};

#[derive(clap::Args)]
pub struct Args {
    /// Input checkpoint (.safetensors) [checkpoint mode].
    #[arg(required_unless_present = "model", conflicts_with = "model")]
    pub input: Option<PathBuf>,
    /// Output checkpoint (.safetensors); overwritten if it exists [checkpoint mode].
    #[arg(required_unless_present = "model")]
    pub output: Option<PathBuf>,
    /// A sentence-transformers model directory to prune with calibration [model mode].
    #[arg(long, requires = "output_dir")]
    pub model: Option<PathBuf>,
    /// The pruned model directory to write [model mode].
    #[arg(long = "output", value_name = "OUTDIR")]
    pub output_dir: Option<PathBuf>,
    /// Importance score / method: magnitude and random prune a checkpoint; magnitude, wanda,
    /// sparsegpt and dsnot (Wanda refined by DSnoT) prune a model.
    #[arg(long, value_enum, default_value_t = Method::Magnitude)]
    pub method: Method,
    /// Fraction of the selected weights to prune (ignored with --pattern, whose sparsity is
    /// 1 − N/M).
    #[arg(long, default_value_t = 0.5)]
    pub sparsity: f64,
    /// N:M structure along the input dimension, e.g. 2:4.
    #[arg(long, value_parser = parse_nm, conflicts_with = "block")]
    pub pattern: Option<(usize, usize)>,
    /// Whole RxC blocks, e.g. 4x4 [checkpoint mode].
    #[arg(long, value_parser = crate::convert::parse_block, conflicts_with = "model")]
    pub block: Option<(usize, usize)>,
    /// How --sparsity is spread over the selected tensors: the same for each, one magnitude
    /// threshold across all (PyTorch's global_unstructured), Erdős–Rényi-kernel, or OWL's
    /// outlier-weighted layer sparsities [model mode].
    #[arg(long, value_enum, default_value_t = AllocationArg::Uniform)]
    pub allocation: AllocationArg,
    /// OWL's λ: the layers' sparsities span 2λ around --sparsity.
    #[arg(long, default_value_t = 0.08)]
    pub owl_lambda: f64,
    /// OWL's M: a score is an outlier above M × its layer's mean.
    #[arg(long, default_value_t = 5.0)]
    pub owl_m: f64,
    /// Tensor names to prune (sparsekit path pattern: `*` within a dot-separated segment, `**`
    /// any segments, `|` alternatives) [default: every ≥ 2-D float tensor; with --model every
    /// linear layer of the encoder, named `encoder.layer.N.….weight`].
    #[arg(long, default_value = "**")]
    pub include: String,
    /// Tensor names to leave alone, same syntax.
    #[arg(long)]
    pub exclude: Option<String>,
    /// Calibration texts [model mode]: `debian` (long descriptions from the Debian corpus'
    /// train split) or a text file, one text per line.
    #[arg(long, default_value = "debian")]
    pub calib: String,
    /// Calibration texts drawn (with --seed) from --calib.
    #[arg(long, default_value_t = 128)]
    pub calib_samples: usize,
    /// Tokens per calibration text at most.
    #[arg(long, default_value_t = 128)]
    pub calib_max_tokens: usize,
    /// The Debian corpus for `--calib debian` [default: where `sparsekit fetch debian-text`
    /// writes it].
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Device of model mode: flex, ndarray or wgpu.
    #[arg(long, default_value = "flex")]
    pub device: String,
    /// Seed of --method random and of the calibration sample.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Method {
    Magnitude,
    Random,
    Wanda,
    Sparsegpt,
    Dsnot,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AllocationArg {
    Uniform,
    Global,
    Erk,
    Owl,
}

fn parse_nm(s: &str) -> std::result::Result<(usize, usize), String> {
    let (n, m) = s
        .split_once(':')
        .ok_or_else(|| format!("'{s}': expected N:M, e.g. 2:4"))?;
    let p = |t: &str| {
        t.trim()
            .parse::<usize>()
            .map_err(|_| format!("'{s}': expected N:M, e.g. 2:4"))
    };
    let (n, m) = (p(n)?, p(m)?);
    if m == 0 || n > m {
        return Err(format!("'{s}': N:M needs 0 ≤ N ≤ M and M ≥ 1"));
    }
    Ok((n, m))
}

fn sel(p: &str) -> Result<Selector> {
    Selector::new(p).map_err(|e| anyhow::anyhow!("bad name pattern '{p}': {e}"))
}

fn zeros(v: &[f32]) -> usize {
    v.iter().filter(|x| **x == 0.0).count()
}

struct Row {
    name: String,
    shape: String,
    dtype: String,
    before: Option<f64>,
    after: Option<f64>,
    note: &'static str,
}

pub fn run(args: &Args) -> Result<()> {
    structure::check_sparsity(args.sparsity).map_err(|e| anyhow::anyhow!("--sparsity: {e}"))?;
    if let Some(model) = &args.model {
        #[cfg(feature = "models")]
        return crate::prune_model::run(args, model);
        #[cfg(not(feature = "models"))]
        bail!(
            "--model {}: this sparsekit was built without the `models` feature",
            model.display()
        );
    }
    let (Some(input), Some(output)) = (&args.input, &args.output) else {
        bail!("checkpoint mode needs IN.safetensors and OUT.safetensors (or use --model DIR)");
    };
    let method = match args.method {
        Method::Magnitude => Criterion::Magnitude,
        Method::Random => Criterion::Random { seed: args.seed },
        m => bail!(
            "--method {}: a calibrated method prunes a model directory (--model DIR --output \
             OUTDIR); a checkpoint takes magnitude or random",
            m.to_possible_value()
                .map_or("?".into(), |v| v.get_name().to_string())
        ),
    };
    let st = match (args.pattern, args.block) {
        (Some((n, m)), _) => Structure::NM { n, m },
        (None, Some((r, c))) => Structure::Block { rows: r, cols: c },
        (None, None) => Structure::Unstructured,
    };
    st.validate()?;
    let allocation = match args.allocation {
        AllocationArg::Uniform => Allocation::Uniform,
        AllocationArg::Global => Allocation::Global,
        AllocationArg::Erk => Allocation::Erk,
        AllocationArg::Owl => bail!(
            "--allocation owl needs calibration: prune a model directory (--model DIR --output \
             OUTDIR)"
        ),
    };
    if matches!(st, Structure::NM { .. }) && allocation != Allocation::Uniform {
        bail!("--pattern N:M fixes every tensor's sparsity: it takes --allocation uniform only");
    }
    let include = sel(&args.include)?;
    let exclude = args.exclude.as_deref().map(sel).transpose()?;
    let bytes = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let ctx = || format!("reading {}", input.display());
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| anyhow::anyhow!("malformed safetensors file: {e:?}"))
        .with_context(ctx)?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| anyhow::anyhow!("malformed safetensors file: {e:?}"))
        .with_context(ctx)?;
    let mut names: Vec<String> = file.names().into_iter().cloned().collect();
    names.sort();

    // First pass: what is selected, its values and scores.
    struct Selected {
        index: usize,
        rows: usize,
        cols: usize,
        values: Vec<f32>,
        scores: Vec<f32>,
    }
    let mut rows = Vec::new();
    let mut selected: Vec<Selected> = Vec::new();
    let mut tensors = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let t = file
            .tensor(name)
            .map_err(|e| anyhow::anyhow!("{name}: {e:?}"))?;
        let shape = t.shape().to_vec();
        let values = match t.dtype() {
            Dtype::F32 | Dtype::F16 | Dtype::BF16 => {
                Some(floats::<f32>(t.dtype(), t.data(), name)?)
            }
            _ => None,
        };
        let mut row = Row {
            name: name.clone(),
            shape: shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("x"),
            dtype: format!("{:?}", t.dtype()),
            before: values
                .as_ref()
                .map(|v| zeros(v) as f64 / v.len().max(1) as f64),
            after: None,
            note: "",
        };
        let chosen = include.matches(name) && !exclude.as_ref().is_some_and(|e| e.matches(name));
        match values {
            _ if !chosen => row.note = "not selected",
            None => row.note = "not a float tensor",
            Some(_) if shape.len() < 2 => row.note = "1-D",
            Some(v) => {
                // A different random stream per tensor.
                let criterion = match method {
                    Criterion::Random { seed } => Criterion::Random {
                        seed: seed.wrapping_add(k as u64),
                    },
                    c => c,
                };
                let scores = criterion.scores(&v, None)?;
                selected.push(Selected {
                    index: k,
                    rows: shape[0],
                    cols: shape[1..].iter().product(),
                    values: v,
                    scores,
                });
            }
        }
        rows.push(row);
        tensors.push((name.clone(), t.dtype(), shape, t.data().to_vec()));
    }
    if selected.is_empty() {
        bail!(
            "no ≥ 2-D F32/F16/BF16 tensor of {} is selected",
            input.display()
        );
    }
    let shapes: Vec<LayerShape> = selected
        .iter()
        .map(|t| LayerShape::new(names[t.index].clone(), t.rows, t.cols))
        .collect();
    let scores: Vec<Vec<f32>> = selected.iter().map(|t| t.scores.clone()).collect();
    let sparsities = allocation.sparsities(&shapes, args.sparsity, None, Some(&scores))?;

    // Second pass: masks, zeroed bytes.
    for (t, s) in selected.iter().zip(&sparsities) {
        let name = &names[t.index];
        let mask = structure::mask(&t.scores, t.rows, t.cols, *s, st)
            .with_context(|| format!("pruning {name}"))?;
        let data = &mut tensors[t.index].3;
        let width = data.len() / t.values.len().max(1);
        let mut after = t.values.clone();
        for (i, keep) in mask.to_bools().into_iter().enumerate() {
            if !keep {
                data[i * width..(i + 1) * width].fill(0);
                after[i] = 0.0;
            }
        }
        rows[t.index].after = Some(zeros(&after) as f64 / after.len().max(1) as f64);
    }
    let views = tensors
        .iter()
        .map(|(n, d, s, b)| {
            TensorView::new(*d, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| anyhow::anyhow!("{n}: {e:?}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let meta: Option<HashMap<String, String>> = header.metadata().clone();
    let written = safetensors::tensor::serialize(views, &meta)
        .map_err(|e| anyhow::anyhow!("writing safetensors: {e:?}"))?;
    std::fs::write(output, written).with_context(|| format!("writing {}", output.display()))?;
    print!("{}", table(&rows));
    let total: usize = selected.iter().map(|t| t.values.len()).sum();
    let kept_zeros: f64 = selected
        .iter()
        .map(|t| rows[t.index].after.unwrap_or(0.0) * t.values.len() as f64)
        .sum();
    println!(
        "pruned {} of {} tensors ({}, {} allocation; {:.2}% of the selected weights are 0) → {}",
        selected.len(),
        rows.len(),
        match st {
            Structure::NM { n, m } => format!("{n}:{m}"),
            Structure::Block { rows, cols } =>
                format!("{rows}x{cols} blocks, sparsity {}", args.sparsity),
            _ => format!("sparsity {}", args.sparsity),
        },
        args.allocation
            .to_possible_value()
            .map_or("?".into(), |v| v.get_name().to_string()),
        100.0 * kept_zeros / total.max(1) as f64,
        output.display()
    );
    Ok(())
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{:.2}%", x * 100.0))
}

fn table(rows: &[Row]) -> String {
    let header = ["TENSOR", "SHAPE", "DTYPE", "BEFORE", "AFTER", ""];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.shape.clone(),
                r.dtype.clone(),
                pct(r.before),
                pct(r.after),
                r.note.to_string(),
            ]
        })
        .collect();
    let mut w = header.map(|h| h.chars().count());
    for c in &cells {
        for (k, s) in c.iter().enumerate() {
            w[k] = w[k].max(s.chars().count());
        }
    }
    let line = |c: [&str; 6]| {
        let mut s = String::new();
        for (k, v) in c.iter().enumerate() {
            let pad = w[k] - v.chars().count();
            if (3..5).contains(&k) {
                s.push_str(&" ".repeat(pad));
                s.push_str(v);
            } else {
                s.push_str(v);
                s.push_str(&" ".repeat(pad));
            }
            s.push_str("  ");
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header);
    for c in &cells {
        out.push_str(&line([&c[0], &c[1], &c[2], &c[3], &c[4], &c[5]]));
    }
    out
}
