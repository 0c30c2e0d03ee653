//! `sparsekit eval`: the Debian-corpus evaluations of a sentence encoder, one JSON object on
//! stdout (sparsekit-models' `eval` module documents the tasks).

use std::path::PathBuf;

use anyhow::Result;
use clap::ValueEnum;
use sparsekit_data::eval::probe::ProbeConfig;
use sparsekit_models::eval::{debian_retrieval, debian_sections};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Task {
    /// Synopsis → long description retrieval on the test split (MRR@10, recall@10).
    DebianRetrieval,
    /// Logistic-regression probe of the package section (train → test accuracy).
    DebianSections,
}

#[derive(clap::Args)]
pub struct Args {
    /// The task.
    #[arg(long, value_enum)]
    pub task: Task,
    /// Use at most this many records of each split.
    #[arg(long)]
    pub limit: Option<usize>,
    /// The corpus [default: descriptions.jsonl where `sparsekit fetch debian-text` writes it].
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    #[command(flatten)]
    pub model: crate::model_args::ModelArgs,
}

pub fn run(args: &Args) -> Result<()> {
    let dir = args.model.dir();
    let records = crate::model_args::read_corpus(args.corpus.as_deref())?;
    let encoder = args.model.load()?;
    let json = match args.task {
        Task::DebianRetrieval => serde_json::to_value(debian_retrieval(
            &encoder,
            &records,
            args.limit,
            args.model.batch,
        )?)?,
        Task::DebianSections => serde_json::to_value(debian_sections(
            &encoder,
            &records,
            args.limit,
            args.model.batch,
            &ProbeConfig::default(),
        )?)?,
    };
    let mut obj = json;
    obj["model"] = serde_json::Value::String(dir.display().to_string());
    obj["device"] = serde_json::Value::String(args.model.device.to_string());
    obj["limit"] = serde_json::json!(args.limit);
    println!("{obj}");
    Ok(())
}
