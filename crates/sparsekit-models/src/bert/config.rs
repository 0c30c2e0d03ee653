//! The encoder's configuration, read from a Hugging Face `config.json`.

use std::path::Path;

use burn::config::Config;
use serde::Deserialize;

use crate::ModelError;

/// A BERT-family encoder: sizes and the few choices that change the forward pass.
///
/// Field names are Hugging Face's (`config.json` of `BertModel`), so
/// [`BertConfig::from_hf_json`] reads any BERT checkpoint's configuration; the encoder built by
/// [`BertConfig::init`](crate::bert::Bert) is generic over these sizes.
#[derive(Config, Debug, PartialEq)]
pub struct BertConfig {
    /// Vocabulary size (rows of the word-embedding table).
    pub vocab_size: usize,
    /// Model width `d`.
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer (`hidden_size` must be a multiple of it).
    pub num_attention_heads: usize,
    /// Width of the feed-forward block.
    pub intermediate_size: usize,
    /// Longest sequence the position table covers.
    #[config(default = 512)]
    pub max_position_embeddings: usize,
    /// Token-type (segment) vocabulary size.
    #[config(default = 2)]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    #[config(default = 1e-12)]
    pub layer_norm_eps: f64,
    /// Id of the padding token.
    #[config(default = 0)]
    pub pad_token_id: usize,
}

/// The subset of Hugging Face's `config.json` that the encoder reads, with its defaults.
#[derive(Deserialize)]
struct HfConfig {
    model_type: Option<String>,
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "default_positions")]
    max_position_embeddings: usize,
    #[serde(default = "default_types")]
    type_vocab_size: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    #[serde(default)]
    pad_token_id: Option<usize>,
    #[serde(default = "default_act")]
    hidden_act: String,
    #[serde(default = "default_position_type")]
    position_embedding_type: String,
}

/// The integer fields of [`HfConfig`].
const INTEGER_FIELDS: [&str; 8] = [
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "type_vocab_size",
    "pad_token_id",
];

fn default_positions() -> usize {
    512
}
fn default_types() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}
fn default_position_type() -> String {
    "absolute".into()
}

impl BertConfig {
    /// Reads a Hugging Face `config.json`. Refuses, with [`ModelError::Config`], what this
    /// encoder does not implement: an activation other than exact GELU (`"gelu"`), positions
    /// other than `"absolute"`, a model type other than BERT-like ones, or inconsistent sizes.
    pub fn from_hf_json(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ModelError::MissingFile {
                    path: path.to_path_buf(),
                    hint: "a Hugging Face model directory has a config.json".into(),
                }
            } else {
                ModelError::io(format!("reading {}", path.display()), e)
            }
        })?;
        let err = |message: String| ModelError::Config {
            path: path.to_path_buf(),
            message,
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| err(format!("not JSON: {e}")))?;
        // serde's messages do not name the field; name it for the fields the encoder reads.
        for key in INTEGER_FIELDS {
            if let Some(v) = value.get(key).filter(|v| !v.is_null() && !v.is_u64()) {
                return Err(err(format!(
                    "{key}: expected a non-negative integer, found {v}"
                )));
            }
        }
        let hf: HfConfig = serde_json::from_value(value).map_err(|e| err(e.to_string()))?;
        if let Some(t) = hf.model_type.as_deref().filter(|t| *t != "bert") {
            return Err(err(format!(
                "model_type {t:?} is not supported: only \"bert\" checkpoints (RoBERTa-style \
                 position offsets and DistilBERT's layout are not implemented)"
            )));
        }
        if hf.hidden_act != "gelu" {
            return Err(err(format!(
                "hidden_act {:?} is not supported (only exact \"gelu\")",
                hf.hidden_act
            )));
        }
        if hf.position_embedding_type != "absolute" {
            return Err(err(format!(
                "position_embedding_type {:?} is not supported (only \"absolute\")",
                hf.position_embedding_type
            )));
        }
        let config = BertConfig::new(
            hf.vocab_size,
            hf.hidden_size,
            hf.num_hidden_layers,
            hf.num_attention_heads,
            hf.intermediate_size,
        )
        .with_max_position_embeddings(hf.max_position_embeddings)
        .with_type_vocab_size(hf.type_vocab_size)
        .with_layer_norm_eps(hf.layer_norm_eps)
        .with_pad_token_id(hf.pad_token_id.unwrap_or(0));
        config.validate().map_err(err)?;
        Ok(config)
    }

    /// Checks the sizes: all positive, `hidden_size` divisible by `num_attention_heads`, the pad
    /// id inside the vocabulary, a finite positive epsilon.
    pub fn validate(&self) -> Result<(), String> {
        let sizes = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        if let Some((name, _)) = sizes.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} must be positive"));
        }
        if self.hidden_size % self.num_attention_heads != 0 {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.pad_token_id >= self.vocab_size {
            return Err(format!(
                "pad_token_id {} is outside the vocabulary ({})",
                self.pad_token_id, self.vocab_size
            ));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(format!(
                "layer_norm_eps {} must be finite and positive",
                self.layer_norm_eps
            ));
        }
        Ok(())
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}
