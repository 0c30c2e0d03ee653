//! Sentence embeddings as sentence-transformers computes them: a BERT encoder, then pooling
//! (mean over the non-padding tokens, or the `[CLS]` token), then L2 normalisation when the
//! model directory's `modules.json` lists a `Normalize` module.
//!
//! A model directory is what `sparsekit fetch minilm` unpacks (a sentence-transformers model
//! directory): `config.json`, `model.safetensors`, `tokenizer.json`, and optionally
//! `sentence_bert_config.json` (`max_seq_length`), `1_Pooling/config.json`, `modules.json`.
//! Texts are embedded longest first in batches (as sentence-transformers does), so that each
//! batch pads little, and returned in input order.

use std::path::Path;

use burn::tensor::{Bool, Device, Tensor};
use serde::Deserialize;

use crate::bert::{self, Bert, BertConfig, SelfAttention};
use crate::tokenize::{Encoded, TextTokenizer, Truncation};
use crate::ModelError;

/// How token states become one vector per text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Mean over the non-padding tokens (special tokens included).
    Mean,
    /// The first (`[CLS]`) token.
    Cls,
}

/// A sentence-embedding model: encoder, tokenizer, pooling, normalisation.
#[derive(Debug, Clone)]
pub struct SentenceEncoder {
    /// The encoder (swap its projections or attention as needed).
    pub model: Bert<SelfAttention>,
    /// Its tokenizer.
    pub tokenizer: TextTokenizer,
    /// Its configuration.
    pub config: BertConfig,
    /// Pooling of token states.
    pub pooling: Pooling,
    /// Whether embeddings are L2-normalised.
    pub normalize: bool,
    /// What to do with texts longer than the model takes.
    pub truncation: Truncation,
    /// An intervention in the forward pass (see [`Splice`]); `None` runs the model as it is.
    pub splice: Option<Splice>,
    device: Device,
}

/// The replacement function of a [`Splice`]: activations `[batch, seq, width]` and the padding
/// mask in, activations of the same shape out.
pub type SpliceFn = std::sync::Arc<dyn Fn(Tensor<3>, &Tensor<2, Bool>) -> Tensor<3> + Send + Sync>;

/// Replaces the activations at one (layer, site) of the forward pass by a function of them —
/// e.g. a sparse autoencoder's reconstruction — so that every embedding and evaluation of a
/// [`SentenceEncoder`] runs through it. The function gets `[batch, seq, width]` activations and
/// the padding mask (`true` = padding) and returns a tensor of the same shape.
#[derive(Clone)]
pub struct Splice {
    /// Layer index.
    pub layer: usize,
    /// Site within the layer.
    pub site: crate::hooks::Site,
    /// The replacement.
    pub f: SpliceFn,
}

impl std::fmt::Debug for Splice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Splice {{ layer: {}, site: {} }}", self.layer, self.site)
    }
}

#[derive(Deserialize)]
struct SbertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    word_embedding_dimension: Option<usize>,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(rename = "type")]
    kind: String,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, ModelError> {
    match std::fs::read_to_string(path) {
        Ok(s) => serde_json::from_str(&s)
            .map(Some)
            .map_err(|e| ModelError::Config {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ModelError::io(format!("reading {}", path.display()), e)),
    }
}

impl SentenceEncoder {
    /// Loads a sentence-transformers model directory onto `device`.
    ///
    /// Errors: a missing directory or file ([`ModelError::MissingFile`], naming it and
    /// `sparsekit fetch minilm`), an unsupported or inconsistent configuration
    /// ([`ModelError::Config`]), a corrupt checkpoint ([`ModelError::Checkpoint`]), a tokenizer
    /// that does not fit the model ([`ModelError::Tokenizer`]).
    pub fn load(dir: &Path, device: &Device) -> Result<Self, ModelError> {
        if !dir.is_dir() {
            return Err(ModelError::MissingFile {
                path: dir.to_path_buf(),
                hint: "not a directory; `sparsekit fetch minilm` installs all-MiniLM-L6-v2".into(),
            });
        }
        let config = BertConfig::from_hf_json(&dir.join("config.json"))?;
        let sbert: Option<SbertConfig> = read_json(&dir.join("sentence_bert_config.json"))?;
        let max_len = sbert
            .and_then(|s| s.max_seq_length)
            .unwrap_or(config.max_position_embeddings)
            .min(config.max_position_embeddings);
        let pooling_path = dir.join("1_Pooling").join("config.json");
        let pooling = match read_json::<PoolingConfig>(&pooling_path)? {
            None => Pooling::Mean,
            Some(p) => {
                let err = |m: String| ModelError::Config {
                    path: pooling_path.clone(),
                    message: m,
                };
                if let Some(w) = p
                    .word_embedding_dimension
                    .filter(|&w| w != config.hidden_size)
                {
                    return Err(err(format!(
                        "word_embedding_dimension {w} differs from the model's hidden_size {}",
                        config.hidden_size
                    )));
                }
                match (
                    p.pooling_mode_mean_tokens,
                    p.pooling_mode_cls_token,
                    p.pooling_mode_max_tokens || p.pooling_mode_mean_sqrt_len_tokens,
                ) {
                    (true, false, false) => Pooling::Mean,
                    (false, true, false) => Pooling::Cls,
                    _ => {
                        return Err(err(
                            "only one of pooling_mode_mean_tokens / pooling_mode_cls_token is \
                             supported"
                                .into(),
                        ))
                    }
                }
            }
        };
        let normalize = match read_json::<Vec<ModuleEntry>>(&dir.join("modules.json"))? {
            Some(m) => m.iter().any(|e| e.kind.ends_with(".Normalize")),
            None => false,
        };
        let tokenizer = TextTokenizer::from_file(
            &dir.join("tokenizer.json"),
            max_len,
            config.pad_token_id as u32,
            config.vocab_size,
        )?;
        let model = bert::load(&config, &dir.join("model.safetensors"), device)?;
        Ok(SentenceEncoder {
            model,
            tokenizer,
            config,
            pooling,
            normalize,
            truncation: Truncation::Truncate,
            splice: None,
            device: device.clone(),
        })
    }

    /// The device the model lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        self.config.hidden_size
    }

    /// Embeds `texts` (row-major `[n, dim]`), `batch_size` texts per forward pass, longest
    /// first. An empty text, or (with [`Truncation::Error`]) an over-long one, is
    /// [`ModelError::Text`] with its index.
    pub fn embed(&self, texts: &[&str], batch_size: usize) -> Result<Vec<f32>, ModelError> {
        self.embed_with(texts, batch_size, |_| {})
    }

    /// As [`embed`](Self::embed), calling `progress(texts done)` after each batch.
    pub fn embed_with(
        &self,
        texts: &[&str],
        batch_size: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<f32>, ModelError> {
        if batch_size == 0 {
            return Err(ModelError::Invalid("batch size must be positive".into()));
        }
        let d = self.dim();
        let mut out = vec![0.0f32; texts.len() * d];
        // Token counts first (cheap), to batch texts of similar length together.
        let all = self.tokenizer.encode(texts, 0, self.truncation)?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(all.lengths[i]));
        let mut done = 0;
        for chunk in order.chunks(batch_size) {
            let batch = all.select(chunk, self.config.pad_token_id as u32);
            let emb = self.embed_encoded(&batch)?;
            for (r, &i) in chunk.iter().enumerate() {
                out[i * d..(i + 1) * d].copy_from_slice(&emb[r * d..(r + 1) * d]);
            }
            done += chunk.len();
            progress(done);
        }
        Ok(out)
    }

    /// Embeds one tokenised batch (`[n, dim]`, in the batch's order).
    pub fn embed_encoded(&self, batch: &Encoded) -> Result<Vec<f32>, ModelError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let (ids, padding) = batch.to_device(&self.device);
        let hidden = match &self.splice {
            None => self.model.forward(ids, padding.clone()),
            Some(sp) => {
                let depth = self.model.depth();
                self.model
                    .forward_hooked(ids, padding.clone(), depth, &mut |l, s, t| {
                        if l == sp.layer && s == sp.site {
                            (sp.f)(t, &padding)
                        } else {
                            t
                        }
                    })
            }
        };
        let pooled = pool(hidden, padding, self.pooling);
        let pooled = if self.normalize {
            l2_normalize(pooled)
        } else {
            pooled
        };
        pooled
            .into_data()
            .try_into_vec::<f32>()
            .map_err(|e| ModelError::Invalid(format!("reading embeddings back: {e:?}")))
    }
}

/// Pools `[batch, seq, d]` token states into `[batch, d]`.
pub fn pool(hidden: Tensor<3>, padding: Tensor<2, Bool>, pooling: Pooling) -> Tensor<2> {
    let [b, s, d] = hidden.dims();
    match pooling {
        Pooling::Cls => hidden.slice([0..b, 0..1, 0..d]).reshape([b, d]),
        Pooling::Mean => {
            // sentence-transformers: sum(h·mask) / clamp(sum(mask), 1e-9).
            let keep = padding.bool_not().float().reshape([b, s, 1]);
            let sum = (hidden * keep.clone()).sum_dim(1).reshape([b, d]);
            let count = keep.sum_dim(1).reshape([b, 1]).clamp_min(1e-9);
            sum / count
        }
    }
}

/// Rows divided by their L2 norm (clamped at 1e-12, as `torch.nn.functional.normalize`).
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x
        .clone()
        .powf_scalar(2.0)
        .sum_dim(1)
        .sqrt()
        .clamp_min(1e-12);
    x / norm
}

/// Reads a text file of one text per line (UTF-8; `\n` or `\r\n`; a final newline is not an
/// extra text). An empty or whitespace-only line is [`ModelError::Text`] naming the line; a
/// file that is not UTF-8 is [`ModelError::Invalid`].
pub fn read_texts(path: &Path) -> Result<Vec<String>, ModelError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ModelError::io(format!("reading {}", path.display()), e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        ModelError::Invalid(format!("{}: line {line} is not UTF-8", path.display()))
    })?;
    let mut lines: Vec<String> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
        .collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    if let Some(i) = lines.iter().position(|l| l.trim().is_empty()) {
        return Err(ModelError::Text {
            index: i,
            message: format!(
                "{}: line {} is empty (one text per line)",
                path.display(),
                i + 1
            ),
        });
    }
    Ok(lines)
}
