//! The options every model command shares (`--model`, `--device`, `--batch`, `--sparse`) and
//! loading the model they name.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sparsekit_data::debian::{self, Record};
use sparsekit_models::{DeviceChoice, SentenceEncoder};

#[derive(clap::Args)]
pub struct ModelArgs {
    /// Model directory [default: where `sparsekit fetch minilm` installs all-MiniLM-L6-v2].
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// flex, ndarray or wgpu.
    #[arg(long, default_value_t = DeviceChoice::Flex)]
    pub device: DeviceChoice,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Run a pruned model sparse: each linear layer stored as N:M, BSR, CSR or dense, whichever
    /// its non-zeros suit (the choice per layer is printed); same results as the dense run.
    #[arg(long)]
    pub sparse: bool,
}

impl ModelArgs {
    /// `--model`, else the default install place of all-MiniLM-L6-v2.
    pub fn dir(&self) -> PathBuf {
        self.model
            .clone()
            .unwrap_or_else(|| sparsekit_data::fetch::default_dir(&sparsekit_data::fetch::MINILM))
    }

    /// Loads the model onto the device (with `--sparse`, its pruned layers stored sparse; the
    /// per-layer choice goes to stderr).
    pub fn load(&self) -> Result<SentenceEncoder> {
        let dir = self.dir();
        let encoder = SentenceEncoder::load(&dir, &self.device.device())
            .with_context(|| format!("loading the model {}", dir.display()))?;
        if !self.sparse {
            return Ok(encoder);
        }
        let (encoder, report) = encoder
            .sparsify_pruned()
            .with_context(|| format!("storing the layers of {} sparse", dir.display()))?;
        eprintln!("{report}");
        Ok(encoder)
    }
}

/// The Debian corpus at `path` [default: descriptions.jsonl where `sparsekit fetch
/// debian-text` writes it], with an error naming the file and the fetch command.
pub fn read_corpus(path: Option<&Path>) -> Result<Vec<Record>> {
    let corpus = path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| debian::default_dir().join("descriptions.jsonl"));
    debian::read_corpus(&corpus).with_context(|| {
        format!(
            "reading the corpus {} (`sparsekit fetch debian-text` writes it)",
            corpus.display()
        )
    })
}
