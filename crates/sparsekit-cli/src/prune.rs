//! `sparsekit prune IN.safetensors OUT.safetensors`: prune every selected ≥ 2-D float tensor of
//! a checkpoint with `sparsekit-prune`'s burn-free core.
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
use sparsekit_formats::Selector;
use sparsekit_prune::structure::{self, Structure};
use sparsekit_prune::Criterion;

#[derive(clap::Args)]
pub struct Args {
    /// Input checkpoint (.safetensors).
    pub input: PathBuf,
    /// Output checkpoint (.safetensors); overwritten if it exists.
    pub output: PathBuf,
    /// Importance score: |w| or seeded random.
    #[arg(long, value_enum, default_value_t = Method::Magnitude)]
    pub method: Method,
    /// Fraction of each selected tensor's weights to prune (ignored with --pattern, whose
    /// sparsity is 1 − N/M).
    #[arg(long, default_value_t = 0.5)]
    pub sparsity: f64,
    /// N:M structure along the input dimension, e.g. 2:4.
    #[arg(long, value_parser = parse_nm, conflicts_with = "block")]
    pub pattern: Option<(usize, usize)>,
    /// Whole RxC blocks, e.g. 4x4.
    #[arg(long, value_parser = crate::convert::parse_block)]
    pub block: Option<(usize, usize)>,
    /// Tensor names to prune (sparsekit path pattern: `*` within a dot-separated segment, `**`
    /// any segments, `|` alternatives) [default: every ≥ 2-D float tensor].
    #[arg(long, default_value = "**")]
    pub include: String,
    /// Tensor names to leave alone, same syntax.
    #[arg(long)]
    pub exclude: Option<String>,
    /// Seed of --method random.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Method {
    Magnitude,
    Random,
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

/// Values of an F32/F16/BF16 tensor as f32.
fn decode(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        _ => return None,
    })
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
    let st = match (args.pattern, args.block) {
        (Some((n, m)), _) => Structure::NM { n, m },
        (None, Some((r, c))) => Structure::Block { rows: r, cols: c },
        (None, None) => Structure::Unstructured,
    };
    st.validate()?;
    let include = sel(&args.include)?;
    let exclude = args.exclude.as_deref().map(sel).transpose()?;
    let bytes =
        std::fs::read(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let ctx = || format!("reading {}", args.input.display());
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| anyhow::anyhow!("malformed safetensors file: {e:?}"))
        .with_context(ctx)?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| anyhow::anyhow!("malformed safetensors file: {e:?}"))
        .with_context(ctx)?;
    let mut names: Vec<String> = file.names().into_iter().cloned().collect();
    names.sort();
    let mut out: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut rows = Vec::new();
    let mut pruned = 0usize;
    for (k, name) in names.iter().enumerate() {
        let t = file
            .tensor(name)
            .map_err(|e| anyhow::anyhow!("{name}: {e:?}"))?;
        let shape = t.shape().to_vec();
        let mut data = t.data().to_vec();
        let values = decode(t.dtype(), &data);
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
        let selected = include.matches(name) && !exclude.as_ref().is_some_and(|e| e.matches(name));
        match values {
            _ if !selected => row.note = "not selected",
            None => row.note = "not a float tensor",
            Some(_) if shape.len() < 2 => row.note = "1-D",
            Some(v) => {
                let r = shape[0];
                let c: usize = shape[1..].iter().product();
                let scores = match args.method {
                    Method::Magnitude => Criterion::Magnitude.scores(&v, None)?,
                    // A different stream per tensor.
                    Method::Random => Criterion::Random {
                        seed: args.seed.wrapping_add(k as u64),
                    }
                    .scores(&v, None)?,
                };
                let mask = structure::mask(&scores, r, c, args.sparsity, st)
                    .with_context(|| format!("pruning {name}"))?;
                let width = data.len() / v.len().max(1);
                let mut after = v.clone();
                for (i, keep) in mask.to_bools().into_iter().enumerate() {
                    if !keep {
                        data[i * width..(i + 1) * width].fill(0);
                        after[i] = 0.0;
                    }
                }
                row.after = Some(zeros(&after) as f64 / after.len().max(1) as f64);
                pruned += 1;
            }
        }
        rows.push(row);
        out.push((name.clone(), t.dtype(), shape, data));
    }
    if pruned == 0 {
        bail!(
            "no ≥ 2-D F32/F16/BF16 tensor of {} is selected",
            args.input.display()
        );
    }
    let views = out
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
    std::fs::write(&args.output, written)
        .with_context(|| format!("writing {}", args.output.display()))?;
    print!("{}", table(&rows));
    println!(
        "pruned {pruned} of {} tensors ({}) → {}",
        rows.len(),
        match st {
            Structure::NM { n, m } => format!("{n}:{m}"),
            Structure::Block { rows, cols } =>
                format!("{rows}x{cols} blocks, sparsity {}", args.sparsity),
            _ => format!("sparsity {}", args.sparsity),
        },
        args.output.display()
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
