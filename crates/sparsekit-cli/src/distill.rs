//! `sparsekit distill`: recovers a pruned model by sparse distillation from the dense one
//! (sparsekit-models' `distill` module documents the method), writes the trained model
//! directory and a `distill.json` record into it, and prints a one-line JSON summary.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde_json::json;
use sparsekit_data::debian::Split;
use sparsekit_models::distill::{
    corpus_texts, distill, DistillConfig, DistillEvent, DistillLoss, TextField,
};
use sparsekit_models::save::save_model_dir;
use sparsekit_models::{DeviceChoice, SentenceEncoder};

/// The record written next to the trained weights.
pub const RECORD: &str = "distill.json";

#[derive(clap::Args)]
pub struct Args {
    /// The dense model directory (the teacher).
    #[arg(long)]
    pub teacher: PathBuf,
    /// The pruned model directory (the student; pruned weights exactly 0), same architecture.
    #[arg(long)]
    pub student: PathBuf,
    /// Output model directory (a copy of the student's with the trained weights).
    #[arg(long)]
    pub output: PathBuf,
    /// Optimiser steps.
    #[arg(long, default_value_t = DistillConfig::default().steps)]
    pub steps: usize,
    /// Texts per batch.
    #[arg(long, default_value_t = DistillConfig::default().batch_size)]
    pub batch: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = DistillConfig::default().lr)]
    pub lr: f64,
    /// cosine (1 − cos) or mse.
    #[arg(long, default_value_t = DistillLoss::Cosine)]
    pub loss: DistillLoss,
    /// Texts are cut at this many tokens.
    #[arg(long, default_value_t = DistillConfig::default().max_tokens)]
    pub max_tokens: usize,
    /// Validation texts (the first of the corpus' valid split).
    #[arg(long, default_value_t = DistillConfig::default().valid_texts)]
    pub valid: usize,
    /// Validate every this many steps (0: before and after only).
    #[arg(long, default_value_t = DistillConfig::default().eval_every)]
    pub eval_every: usize,
    /// Seed of the order of the training texts.
    #[arg(long, default_value_t = DistillConfig::default().seed)]
    pub seed: u64,
    /// Which texts of a record train: synopsis, description or both.
    #[arg(long, default_value_t = TextField::Both)]
    pub texts: TextField,
    /// Use at most this many training records.
    #[arg(long)]
    pub limit: Option<usize>,
    /// The corpus [default: descriptions.jsonl where `sparsekit fetch debian-text` writes it].
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// flex, ndarray or wgpu (the student trains on it with autodiff).
    #[arg(long, default_value_t = DeviceChoice::Flex)]
    pub device: DeviceChoice,
}

pub fn run(args: &Args) -> Result<()> {
    for (what, dir) in [("teacher", &args.teacher), ("student", &args.student)] {
        if !dir.is_dir() {
            bail!("the {what} directory {} does not exist", dir.display());
        }
    }
    let config = DistillConfig {
        steps: args.steps,
        batch_size: args.batch,
        lr: args.lr,
        loss: args.loss,
        max_tokens: args.max_tokens,
        valid_texts: args.valid,
        eval_every: args.eval_every,
        seed: args.seed,
    };
    config.validate()?;
    let records = crate::model_args::read_corpus(args.corpus.as_deref())?;
    let train = corpus_texts(&records, Split::Train, args.texts, args.limit);
    let valid = corpus_texts(&records, Split::Valid, args.texts, None);
    if train.is_empty() || valid.is_empty() {
        bail!(
            "the corpus has no {} texts in its train or valid split",
            args.texts
        );
    }
    let device = args.device.device();
    let teacher = SentenceEncoder::load(&args.teacher, &device)
        .with_context(|| format!("loading the teacher {}", args.teacher.display()))?;
    let student = SentenceEncoder::load(&args.student, &device.clone().autodiff())
        .with_context(|| format!("loading the student {}", args.student.display()))?;

    let bar = crate::progress::bar(Some(args.steps as u64), "steps");
    let (mut last_loss, mut last_cos) = (f64::NAN, f64::NAN);
    let out = distill(&teacher, &student, &train, &valid, &config, &mut |e| {
        match *e {
            DistillEvent::Step { loss, .. } => {
                last_loss = loss;
                bar.inc(1);
            }
            DistillEvent::Eval(p) => last_cos = p.mean_cosine,
        }
        bar.set_message(format!("loss {last_loss:.5}, valid cos {last_cos:.4}"));
    })
    .context("distilling")?;
    bar.finish_and_clear();

    let report = &out.report;
    let command: Vec<String> = std::env::args().collect();
    let record = json!({
        "teacher": args.teacher.display().to_string(),
        "student": args.student.display().to_string(),
        "device": args.device.to_string(),
        "texts": args.texts.to_string(),
        "limit": args.limit,
        "command": command.join(" "),
        "report": report,
        "valid_cosine_before": report.cosine_before(),
        "valid_cosine_after": report.cosine_after(),
        "wall_seconds": report.seconds,
    });
    let bytes = serde_json::to_vec_pretty(&record)?;
    let saved = save_model_dir(&args.student, &args.output, &out.model, &[(RECORD, bytes)])
        .with_context(|| format!("writing {}", args.output.display()))?;
    let summary = json!({
        "output": args.output.display().to_string(),
        "steps": config.steps,
        "trainable": report.trainable,
        "valid_cosine_before": report.cosine_before(),
        "valid_cosine_after": report.cosine_after(),
        "final_loss": report.losses.last(),
        "wall_seconds": report.seconds,
        "skipped": saved.skipped,
    });
    println!("{summary}");
    Ok(())
}
