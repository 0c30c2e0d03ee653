//! `sparsekit prune --model DIR --output OUTDIR`: calibrated one-shot pruning of a
//! sentence-transformers BERT directory with `sparsekit_models::prune`, written as a complete
//! model directory (`sparsekit_models::save`: same file and tensor names, same dtypes, pruned
//! weights exactly 0, tokenizer and configs copied) plus `sparsity.json` (per-tensor target and
//! achieved sparsity, OWL's layer ratios, calibration size, wall time, the command).

use std::path::Path;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use sparsekit_data::debian;
use sparsekit_models::prune::{
    debian_calibration, prune_one_shot, sample_texts, Allocation, CalibrationConfig, Method,
    OneShotConfig, Target,
};
use sparsekit_models::save::save_model_dir;
use sparsekit_models::{read_texts, DeviceChoice, SentenceEncoder};
use sparsekit_prune::owl::OwlConfig;

use crate::prune::{AllocationArg, Args, Method as MethodArg};

/// The calibration texts `--calib` names.
fn calibration(args: &Args) -> Result<Vec<String>> {
    if args.calib_samples == 0 {
        bail!("--calib-samples must be positive");
    }
    if args.calib == "debian" {
        let corpus = args
            .corpus
            .clone()
            .unwrap_or_else(|| debian::default_dir().join("descriptions.jsonl"));
        let records = debian::read_corpus(&corpus).with_context(|| {
            format!(
                "reading the corpus {} (`sparsekit fetch debian-text` writes it)",
                corpus.display()
            )
        })?;
        Ok(debian_calibration(&records, args.calib_samples, args.seed))
    } else {
        let texts = read_texts(Path::new(&args.calib))
            .with_context(|| format!("reading the calibration texts {}", args.calib))?;
        Ok(sample_texts(texts, args.calib_samples, args.seed))
    }
}

pub fn run(args: &Args, model: &Path) -> Result<()> {
    let Some(out) = &args.output_dir else {
        bail!("--model needs --output OUTDIR");
    };
    if args.block.is_some() {
        bail!("--block is for checkpoints; a model takes --sparsity or --pattern N:M");
    }
    let method = match args.method {
        MethodArg::Magnitude => Method::Magnitude,
        MethodArg::Wanda => Method::Wanda,
        MethodArg::Sparsegpt => Method::SparseGpt,
        MethodArg::Dsnot => Method::Dsnot,
        MethodArg::Random => bail!("--method random prunes checkpoints only"),
    };
    let target = match args.pattern {
        Some((n, m)) => Target::NM { n, m },
        None => Target::Sparsity(args.sparsity),
    };
    let allocation = match args.allocation {
        AllocationArg::Uniform => Allocation::Uniform,
        AllocationArg::Global => Allocation::Global,
        AllocationArg::Erk => Allocation::Erk,
        AllocationArg::Owl => Allocation::Owl(OwlConfig {
            lambda: args.owl_lambda,
            m: args.owl_m,
        }),
    };
    let device: DeviceChoice = args
        .device
        .parse()
        .map_err(|e| anyhow::anyhow!("--device: {e}"))?;
    let mut config = OneShotConfig::new(method, target).with_allocation(allocation);
    config.include = args.include.clone();
    config.exclude = args.exclude.clone();
    config.calibration = CalibrationConfig {
        max_tokens: args.calib_max_tokens,
        ..CalibrationConfig::default()
    };

    let needs_texts = method != Method::Magnitude || matches!(allocation, Allocation::Owl(_));
    let texts = if needs_texts {
        calibration(args)?
    } else {
        Vec::new()
    };
    let mut encoder = SentenceEncoder::load(model, &device.device())
        .with_context(|| format!("loading the model {}", model.display()))?;
    let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    let bar = crate::progress::bar(Some(encoder.model.depth() as u64), "layers");
    let report = prune_one_shot(&mut encoder, &refs, &config, &mut |done, _| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();

    let command: Vec<String> = std::env::args().collect();
    let mut json = serde_json::to_value(&report)?;
    json["command"] = serde_json::json!(command.join(" "));
    json["model"] = serde_json::json!(model.display().to_string());
    json["device"] = serde_json::json!(device.to_string());
    if needs_texts {
        json["calibration"] = serde_json::json!({
            "source": args.calib,
            "samples": args.calib_samples,
            "max_tokens": args.calib_max_tokens,
            "seed": args.seed,
        });
    }
    let saved = save_model_dir(
        model,
        out,
        &encoder.model,
        &[(
            "sparsity.json",
            (serde_json::to_string_pretty(&json)? + "\n").into_bytes(),
        )],
    )
    .with_context(|| format!("writing {}", out.display()))?;

    for t in &report.tensors {
        println!(
            "{:<48} {:>10} target {:>6.2}%  pruned {:>6.2}%",
            t.name,
            format!("{}x{}", t.shape[0], t.shape[1]),
            t.target_sparsity * 100.0,
            t.sparsity * 100.0
        );
    }
    for s in &saved.skipped {
        eprintln!(
            "note: {} not copied (weights in another format would still be dense)",
            s.display()
        );
    }
    println!(
        "{} {} ({} allocation): {} projections, {:.2}% of their weights are 0, {:.1} s{} → {}",
        method.name(),
        report.target,
        args.allocation
            .to_possible_value()
            .map_or("?".into(), |v| v.get_name().to_string()),
        report.tensors.len(),
        report.sparsity * 100.0,
        report.seconds,
        if needs_texts {
            format!(
                ", calibrated on {} texts / {} tokens",
                report.calibration_texts, report.calibration_tokens
            )
        } else {
            String::new()
        },
        out.display()
    );
    Ok(())
}
