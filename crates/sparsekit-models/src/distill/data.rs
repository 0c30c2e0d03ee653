//! Training and validation texts from the Debian corpus, and the seeded, length-bucketed
//! batches the distillation loop draws from them.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use sparsekit_data::debian::{Record, Split};

use crate::tokenize::{Encoded, TextTokenizer, Truncation};
use crate::ModelError;

/// Which texts of a corpus record are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextField {
    /// The one-line synopsis (the retrieval task's queries).
    Synopsis,
    /// The long description (the retrieval task's documents).
    Description,
    /// Both, as two texts per record.
    #[default]
    Both,
}

impl TextField {
    /// The name (`synopsis`, `description`, `both`).
    pub fn name(self) -> &'static str {
        match self {
            TextField::Synopsis => "synopsis",
            TextField::Description => "description",
            TextField::Both => "both",
        }
    }
}

impl fmt::Display for TextField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TextField {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [TextField::Synopsis, TextField::Description, TextField::Both]
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                format!("unknown text field {s:?} (expected synopsis, description or both)")
            })
    }
}

/// The texts of the records of `split` (in corpus order, synopsis before description with
/// [`TextField::Both`]), empty texts left out, at most `limit` records.
pub fn corpus_texts(
    records: &[Record],
    split: Split,
    field: TextField,
    limit: Option<usize>,
) -> Vec<String> {
    let mut out = Vec::new();
    for r in records
        .iter()
        .filter(|r| r.split == split)
        .take(limit.unwrap_or(usize::MAX))
    {
        if field != TextField::Description {
            out.push(r.synopsis.clone());
        }
        if field != TextField::Synopsis {
            out.push(r.description.clone());
        }
    }
    out.retain(|t| !t.trim().is_empty());
    out
}

/// Batches of this many times the batch size are tokenised together, sorted by length and
/// cut into batches (so that a batch pads little), whose order is then shuffled.
const POOL: usize = 8;

/// An endless, seeded stream of tokenised training batches: every epoch visits the texts in a
/// new random order; texts of similar length share a batch.
pub(crate) struct Batches<'a> {
    texts: &'a [String],
    tokenizer: &'a TextTokenizer,
    pad_id: u32,
    batch: usize,
    rng: StdRng,
    order: Vec<usize>,
    pos: usize,
    ready: VecDeque<Encoded>,
    /// Completed passes over the texts.
    pub epochs: usize,
}

impl<'a> Batches<'a> {
    /// Batches of `batch` texts of `texts` (non-empty, every text non-blank).
    pub fn new(
        texts: &'a [String],
        tokenizer: &'a TextTokenizer,
        pad_id: u32,
        batch: usize,
        seed: u64,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.shuffle(&mut rng);
        Batches {
            texts,
            tokenizer,
            pad_id,
            batch,
            rng,
            order,
            pos: 0,
            ready: VecDeque::new(),
            epochs: 0,
        }
    }

    /// The next batch.
    pub fn next_batch(&mut self) -> Result<Encoded, ModelError> {
        if self.ready.is_empty() {
            self.refill()?;
        }
        self.ready
            .pop_front()
            .ok_or_else(|| ModelError::Invalid("no training text".into()))
    }

    fn refill(&mut self) -> Result<(), ModelError> {
        if self.pos >= self.order.len() {
            self.order.shuffle(&mut self.rng);
            self.pos = 0;
            self.epochs += 1;
        }
        let end = (self.pos + POOL * self.batch).min(self.order.len());
        let picked = &self.order[self.pos..end];
        let refs: Vec<&str> = picked.iter().map(|&i| self.texts[i].as_str()).collect();
        let pool = self
            .tokenizer
            .encode(&refs, 0, Truncation::Truncate)
            .map_err(|e| match e {
                ModelError::Text { index, message } => ModelError::Text {
                    index: picked[index],
                    message,
                },
                e => e,
            })?;
        self.pos = end;
        let mut rows: Vec<usize> = (0..pool.len()).collect();
        rows.sort_by_key(|&r| pool.lengths[r]);
        let mut batches: Vec<Encoded> = rows
            .chunks(self.batch)
            .map(|c| pool.select(c, self.pad_id))
            .collect();
        batches.shuffle(&mut self.rng);
        self.ready.extend(batches);
        Ok(())
    }
}
