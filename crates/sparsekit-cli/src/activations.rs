//! `sparsekit activations`: one site of one layer, for every non-padding token of a text file,
//! streamed into safetensors shards (layout: sparsekit-data's `shards` module; Python reads
//! them with `safetensors.numpy.load_file`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use sparsekit_models::capture::{capture_to_shards, CaptureConfig};
use sparsekit_models::{read_texts, Site};

#[derive(clap::Args)]
pub struct Args {
    /// Texts, one per line.
    #[arg(long, required_unless_present = "debian", conflicts_with = "debian")]
    pub input: Option<PathBuf>,
    /// Instead of --input: the long descriptions of one split (train, valid, test) of the Debian
    /// corpus (`sparsekit fetch debian-text`), newlines folded to spaces.
    #[arg(long)]
    pub debian: Option<sparsekit_data::debian::Split>,
    /// The corpus for --debian [default: where `sparsekit fetch debian-text` writes it].
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Layer (0-based).
    #[arg(long)]
    pub layer: usize,
    /// resid_pre, attn_out, resid_mid, mlp_hidden, mlp_out or resid_post.
    #[arg(long)]
    pub site: Site,
    /// Output directory (created; must not hold a previous capture).
    #[arg(long)]
    pub output: PathBuf,
    /// Stop after this many tokens.
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// Token rows per shard file.
    #[arg(long, default_value_t = 65_536)]
    pub shard_tokens: usize,
    #[command(flatten)]
    pub model: crate::model_args::ModelArgs,
}

pub fn run(args: &Args) -> Result<()> {
    let dir = args.model.dir();
    let (texts, source) = match (&args.input, args.debian) {
        (Some(input), _) => (read_texts(input)?, input.display().to_string()),
        (None, Some(split)) => {
            let corpus = args.corpus.clone().unwrap_or_else(|| {
                sparsekit_data::debian::default_dir().join("descriptions.jsonl")
            });
            let records = sparsekit_data::debian::read_corpus(&corpus).with_context(|| {
                format!(
                    "reading the corpus {} (`sparsekit fetch debian-text` writes it)",
                    corpus.display()
                )
            })?;
            let texts: Vec<String> = records
                .iter()
                .filter(|r| r.split == split)
                .map(|r| r.one_line_description())
                .collect();
            (texts, format!("debian:{split}"))
        }
        (None, None) => anyhow::bail!("give --input or --debian"),
    };
    let encoder = args.model.load()?;
    let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    let config = CaptureConfig {
        layer: args.layer,
        site: args.site,
        batch_size: args.model.batch,
        max_tokens: args.max_tokens,
        tokens_per_shard: args.shard_tokens,
    };
    let meta = BTreeMap::from([
        ("model".to_string(), dir.display().to_string()),
        ("input".to_string(), source),
        ("device".to_string(), args.model.device.to_string()),
    ]);
    let bar = crate::progress::bar(args.max_tokens.map(|n| n as u64), "tokens");
    let report = capture_to_shards(&encoder, &refs, &config, &args.output, meta, |t| {
        bar.set_position(t as u64)
    })?;
    bar.finish_and_clear();
    eprintln!(
        "captured layer {} {} for {} tokens of {} texts into {} ({} shards, {:.0} tokens/s on {})",
        args.layer,
        args.site,
        report.tokens,
        report.texts,
        args.output.display(),
        report.manifest.shards.len(),
        report.tokens_per_s(),
        args.model.device
    );
    Ok(())
}
