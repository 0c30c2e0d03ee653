//! Tokenisation with Hugging Face's `tokenizers` crate, reading the model's `tokenizer.json`.
//!
//! The checkpoint's own truncation and padding settings are replaced by the encoder's: texts
//! are truncated to `max_len` tokens (special tokens included, as sentence-transformers'
//! `max_seq_length`) and padded to the longest text of the batch with the config's pad id.
//! Built without the `onig` C library: the crate's `fancy-regex` feature is pure Rust.

use std::path::Path;

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::ModelError;

/// What to do with a text longer than the model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Truncation {
    /// Keep its first tokens (sentence-transformers' behaviour).
    #[default]
    Truncate,
    /// Refuse it with [`ModelError::Text`].
    Error,
}

/// A tokenizer bound to one model: its vocabulary size and longest input.
#[derive(Debug, Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    max_len: usize,
    pad_id: u32,
    vocab_size: usize,
}

/// A batch of tokenised texts, padded to the longest (row-major `[n, seq_len]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    /// Token ids, padding positions hold the pad id.
    pub ids: Vec<u32>,
    /// Tokens of each text (special tokens included, padding excluded).
    pub lengths: Vec<usize>,
    /// Padded length.
    pub seq_len: usize,
}

impl Encoded {
    /// Number of texts.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// Whether the batch holds no text.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// The ids of text `i` without padding.
    pub fn text_ids(&self, i: usize) -> &[u32] {
        &self.ids[i * self.seq_len..i * self.seq_len + self.lengths[i]]
    }

    /// The texts `rows` (indices into this batch, in that order) as a batch of their own,
    /// padded with `pad_id` to the longest of them.
    ///
    /// # Panics
    ///
    /// When an index is `≥ self.len()` (callers pass indices they derived from this batch).
    pub fn select(&self, rows: &[usize], pad_id: u32) -> Encoded {
        let seq_len = rows.iter().map(|&i| self.lengths[i]).max().unwrap_or(0);
        let mut ids = vec![pad_id; rows.len() * seq_len];
        for (r, &i) in rows.iter().enumerate() {
            let t = self.text_ids(i);
            ids[r * seq_len..r * seq_len + t.len()].copy_from_slice(t);
        }
        Encoded {
            ids,
            lengths: rows.iter().map(|&i| self.lengths[i]).collect(),
            seq_len,
        }
    }

    /// Token ids `[n, seq_len]` and the padding mask `[n, seq_len]` (`true` = padding) on
    /// `device`.
    pub fn to_device(&self, device: &Device) -> (Tensor<2, Int>, Tensor<2, Bool>) {
        let n = self.len();
        let s = self.seq_len;
        let ids: Vec<i32> = self.ids.iter().map(|&i| i as i32).collect();
        let pad: Vec<bool> = (0..n * s).map(|k| k % s >= self.lengths[k / s]).collect();
        (
            Tensor::from_data(TensorData::new(ids, [n, s]), device),
            Tensor::from_data(TensorData::new(pad, [n, s]), device),
        )
    }
}

/// `inner` cutting texts at `max_len` tokens (at least 2: the special tokens).
fn truncating(mut inner: Tokenizer, max_len: usize) -> Result<Tokenizer, ModelError> {
    if max_len < 2 {
        return Err(ModelError::Invalid(format!(
            "max_len {max_len}: a text needs room for its two special tokens"
        )));
    }
    inner
        .with_truncation(Some(TruncationParams {
            direction: TruncationDirection::Right,
            max_length: max_len,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
        }))
        .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
    Ok(inner)
}

impl TextTokenizer {
    /// Reads `tokenizer.json`; texts are cut at `max_len` tokens, padded with `pad_id`, and
    /// every id must be below `vocab_size` (the model's embedding table): a tokenizer with a
    /// larger vocabulary is [`ModelError::Tokenizer`].
    pub fn from_file(
        path: &Path,
        max_len: usize,
        pad_id: u32,
        vocab_size: usize,
    ) -> Result<Self, ModelError> {
        if !path.is_file() {
            return Err(ModelError::MissingFile {
                path: path.to_path_buf(),
                hint: "the model directory needs its tokenizer.json".into(),
            });
        }
        let mut inner = Tokenizer::from_file(path)
            .map_err(|e| ModelError::Tokenizer(format!("{}: {e}", path.display())))?;
        let tok_vocab = inner.get_vocab_size(true);
        if tok_vocab > vocab_size {
            return Err(ModelError::Tokenizer(format!(
                "{} has {tok_vocab} tokens but the model's vocabulary has {vocab_size}: \
                 the tokenizer does not belong to this model",
                path.display()
            )));
        }
        inner.with_padding(None);
        Ok(TextTokenizer {
            inner: truncating(inner, max_len)?,
            max_len,
            pad_id,
            vocab_size,
        })
    }

    /// The same tokenizer cutting texts at `max_len` tokens instead (special tokens included),
    /// e.g. shorter inputs for training. `max_len < 2` is [`ModelError::Invalid`].
    pub fn with_max_len(&self, max_len: usize) -> Result<Self, ModelError> {
        Ok(TextTokenizer {
            inner: truncating(self.inner.clone(), max_len)?,
            max_len,
            pad_id: self.pad_id,
            vocab_size: self.vocab_size,
        })
    }

    /// Longest input in tokens.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The underlying Hugging Face tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// Tokenises `texts` (with special tokens). `first_index` numbers the texts in errors: an
    /// empty (or whitespace-only) text is refused, and with [`Truncation::Error`] so is a text
    /// longer than [`max_len`](Self::max_len).
    pub fn encode(
        &self,
        texts: &[&str],
        first_index: usize,
        truncation: Truncation,
    ) -> Result<Encoded, ModelError> {
        if let Some(i) = texts.iter().position(|t| t.trim().is_empty()) {
            return Err(ModelError::Text {
                index: first_index + i,
                message: "empty text".into(),
            });
        }
        let encodings = self
            .inner
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        let seq_len = encodings.iter().map(|e| e.len()).max().unwrap_or(0);
        let mut ids = vec![self.pad_id; texts.len() * seq_len];
        let mut lengths = Vec::with_capacity(texts.len());
        for (i, e) in encodings.iter().enumerate() {
            if truncation == Truncation::Error && !e.get_overflowing().is_empty() {
                let total = e.len() + e.get_overflowing().iter().map(|o| o.len()).sum::<usize>();
                return Err(ModelError::Text {
                    index: first_index + i,
                    message: format!(
                        "longer than the model takes ({} tokens or more, the limit is {})",
                        total.max(self.max_len + 1),
                        self.max_len
                    ),
                });
            }
            if let Some(&bad) = e.get_ids().iter().find(|&&t| t as usize >= self.vocab_size) {
                return Err(ModelError::Tokenizer(format!(
                    "text {}: token id {bad} is outside the model's vocabulary ({})",
                    first_index + i,
                    self.vocab_size
                )));
            }
            ids[i * seq_len..i * seq_len + e.len()].copy_from_slice(e.get_ids());
            lengths.push(e.len());
        }
        Ok(Encoded {
            ids,
            lengths,
            seq_len,
        })
    }
}
