//! `sparsekit embed`: sentence embeddings of a text file with a sentence-transformers model
//! directory (all-MiniLM-L6-v2 from `sparsekit fetch minilm`), written as a float32 `.npy`
//! `[n, dim]` in input order. Matches sentence-transformers on the same texts (the
//! `minilm_parity` test of sparsekit-models checks it).

use std::path::PathBuf;

use anyhow::{Context, Result};
use sparsekit_formats::io::npy::write_npy_dense;
use sparsekit_models::read_texts;

use crate::files::writing;

#[derive(clap::Args)]
pub struct Args {
    /// Texts, one per line (UTF-8; empty lines are an error).
    #[arg(long)]
    pub input: PathBuf,
    /// Output .npy (float32, [n, dim]).
    #[arg(long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub model: crate::model_args::ModelArgs,
}

pub fn run(args: &Args) -> Result<()> {
    let texts = read_texts(&args.input)?;
    let encoder = args.model.load()?;
    let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    let bar = crate::progress::bar(Some(texts.len() as u64), "texts");
    let t = std::time::Instant::now();
    let emb = encoder.embed_with(&refs, args.model.batch, |done| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    let secs = t.elapsed().as_secs_f64();
    write_npy_dense(&args.output, &emb, texts.len(), encoder.dim())
        .with_context(|| writing(&args.output))?;
    eprintln!(
        "embedded {} texts into {} ({}×{}, {:.1} texts/s on {})",
        texts.len(),
        args.output.display(),
        texts.len(),
        encoder.dim(),
        texts.len() as f64 / secs.max(1e-9),
        args.model.device
    );
    Ok(())
}
