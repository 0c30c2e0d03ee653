//! One-shot pruning of all-MiniLM-L6-v2 on real text: the quality table of sparsekit-models'
//! `prune` module (README of sparsekit-models, issue 16).
//!
//! For every row, the dense model is pruned afresh in this process with
//! `sparsekit_models::prune::prune_one_shot` (calibration: 128 Debian train-split descriptions,
//! ≤ 128 tokens, seed 0 — what `sparsekit prune --model` does by default) and scored on the
//! Debian test split: retrieval MRR@10 (first `--retrieval-limit` test records), the section
//! probe's accuracy (first `--sections-limit` train/test records), the mean cosine of its
//! embeddings to the dense model's on all those texts, and the pruning wall time.
//!
//! ```text
//! cargo run --release --all-features --example prune_minilm -- \
//!     --rows dense,magnitude:0.5,wanda:0.5,sparsegpt:0.5,wanda:2:4,sparsegpt:0.7:owl
//! ```
//!
//! A row is `METHOD:SPARSITY[:ALLOCATION]` or `METHOD:N:M`, with METHOD one of magnitude,
//! wanda, sparsegpt, dsnot and ALLOCATION one of uniform, global, erk, owl. Needs
//! `sparsekit fetch minilm` and `sparsekit fetch debian-text`.

use std::io::Write;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use sparsekit_data::debian;
use sparsekit_data::eval::probe::ProbeConfig;
use sparsekit_models::eval::QualitySet;
use sparsekit_models::prune::{
    debian_calibration, prune_one_shot, Allocation, Method, OneShotConfig, Target,
};
use sparsekit_models::{DeviceChoice, SentenceEncoder};
use sparsekit_prune::owl::OwlConfig;

#[derive(Parser)]
struct Args {
    /// Comma-separated rows (see the module docs).
    #[arg(long, default_value = "dense,magnitude:0.5,wanda:0.5,sparsegpt:0.5")]
    rows: String,
    /// Test records of the retrieval task.
    #[arg(long, default_value_t = 1000)]
    retrieval_limit: usize,
    /// Train and test records of the section probe.
    #[arg(long, default_value_t = 1000)]
    sections_limit: usize,
    /// Calibration texts.
    #[arg(long, default_value_t = 128)]
    calib_samples: usize,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Append the Markdown rows to this file too.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

fn parse_row(row: &str) -> Result<Option<OneShotConfig>> {
    if row == "dense" {
        return Ok(None);
    }
    let parts: Vec<&str> = row.split(':').collect();
    let method = match parts[0] {
        "magnitude" => Method::Magnitude,
        "wanda" => Method::Wanda,
        "sparsegpt" => Method::SparseGpt,
        "dsnot" => Method::Dsnot,
        m => bail!("row {row}: unknown method {m}"),
    };
    let (target, rest) = match parts.get(1..) {
        Some([n, m, rest @ ..]) if !n.contains('.') && m.parse::<usize>().is_ok() => (
            Target::NM {
                n: n.parse()?,
                m: m.parse()?,
            },
            rest,
        ),
        Some([s, rest @ ..]) => (Target::Sparsity(s.parse()?), rest),
        _ => bail!("row {row}: expected METHOD:SPARSITY or METHOD:N:M"),
    };
    let allocation = match rest.first().copied().unwrap_or("uniform") {
        "uniform" => Allocation::Uniform,
        "global" => Allocation::Global,
        "erk" => Allocation::Erk,
        "owl" => Allocation::Owl(OwlConfig::default()),
        a => bail!("row {row}: unknown allocation {a}"),
    };
    Ok(Some(
        OneShotConfig::new(method, target).with_allocation(allocation),
    ))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let rows: Vec<(String, Option<OneShotConfig>)> = args
        .rows
        .split(',')
        .map(|r| Ok((r.trim().to_string(), parse_row(r.trim())?)))
        .collect::<Result<_>>()?;
    let model_dir = sparsekit_data::fetch::default_dir(&sparsekit_data::fetch::MINILM);
    let corpus = debian::default_dir().join("descriptions.jsonl");
    let records = debian::read_corpus(&corpus)
        .with_context(|| format!("reading {} (sparsekit fetch debian-text)", corpus.display()))?;
    let device = DeviceChoice::Flex.device();
    let dense = SentenceEncoder::load(&model_dir, &device)
        .with_context(|| format!("loading {} (sparsekit fetch minilm)", model_dir.display()))?;
    let set = QualitySet::new(
        &records,
        Some(args.retrieval_limit),
        Some(args.sections_limit),
    )?;
    let calib = debian_calibration(&records, args.calib_samples, 0);
    let calib: Vec<&str> = calib.iter().map(|s| s.as_str()).collect();
    let probe = ProbeConfig::default();
    eprintln!(
        "scoring on {} texts per row ({} retrieval queries, {} section train/test)",
        set.texts(),
        args.retrieval_limit,
        args.sections_limit
    );
    let (dense_report, reference) = set.score(&dense, args.batch, &probe, None)?;
    let header = "| method | target | allocation | MRR@10 | % of dense | sections acc. | cosine to dense | prune time |\n|---|---|---|---:|---:|---:|---:|---:|";
    println!("{header}");
    let mut out = match &args.out {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        ),
        None => None,
    };
    if let Some(f) = out.as_mut() {
        writeln!(f, "{header}")?;
    }
    for (name, config) in rows {
        let t = Instant::now();
        let line = match config {
            None => format!(
                "| dense | – | – | {:.4} | 100.0 % | {:.4} | 1.0000 | – |",
                dense_report.mrr_at_10, dense_report.sections_accuracy
            ),
            Some(config) => {
                let mut enc = dense.clone();
                let report = prune_one_shot(&mut enc, &calib, &config, &mut |_, _| {})
                    .with_context(|| format!("row {name}"))?;
                let (q, _) = set.score(&enc, args.batch, &probe, Some(&reference))?;
                format!(
                    "| {} | {} | {} | {:.4} | {:.1} % | {:.4} | {:.4} | {:.1} s |",
                    config.method.name(),
                    report.target,
                    match config.allocation {
                        Allocation::Uniform => "uniform",
                        Allocation::Global => "global",
                        Allocation::Erk => "erk",
                        Allocation::Owl(_) => "owl",
                    },
                    q.mrr_at_10,
                    100.0 * q.mrr_at_10 / dense_report.mrr_at_10,
                    q.sections_accuracy,
                    q.mean_cosine,
                    report.seconds
                )
            }
        };
        println!("{line}");
        if let Some(f) = out.as_mut() {
            writeln!(f, "{line}")?;
        }
        eprintln!("row {name}: {:.0} s", t.elapsed().as_secs_f64());
    }
    Ok(())
}
