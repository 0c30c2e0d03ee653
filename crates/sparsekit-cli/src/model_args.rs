//! The options every model command shares (`--model`, `--device`, `--batch`) and loading the
//! model they name.

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
}

impl ModelArgs {
    /// `--model`, else the default install place of all-MiniLM-L6-v2.
    pub fn dir(&self) -> PathBuf {
        self.model
            .clone()
            .unwrap_or_else(|| sparsekit_data::fetch::default_dir(&sparsekit_data::fetch::MINILM))
    }

    /// Loads the model onto the device.
    pub fn load(&self) -> Result<SentenceEncoder> {
        let dir = self.dir();
        SentenceEncoder::load(&dir, &self.device.device())
            .with_context(|| format!("loading the model {}", dir.display()))
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
