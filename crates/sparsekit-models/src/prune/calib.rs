//! Calibration: the texts, their hidden states at the current layer, and the statistics of the
//! inputs of one layer's projections.

use burn::tensor::{Bool, Tensor};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use sparsekit_data::debian::{Record, Split};
use sparsekit_prune::oneshot::{input_norms, HessianAccumulator};

use crate::bert::{BertLayer, SelfAttention};
use crate::hooks::Site;
use crate::sentence::SentenceEncoder;
use crate::tokenize::Truncation;
use crate::ModelError;

/// How calibration texts become batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalibrationConfig {
    /// Tokens per text at most (`[CLS]` and `[SEP]` included; never more than the model's
    /// `max_seq_length`); default 128.
    pub max_tokens: usize,
    /// Texts per forward pass; default 16.
    pub batch: usize,
}

impl Default for CalibrationConfig {
    fn default() -> Self {
        CalibrationConfig {
            max_tokens: 128,
            batch: 16,
        }
    }
}

/// `n` calibration texts from the Debian corpus' **train** split (never valid or test, which
/// the evaluations use): long descriptions of `n` packages drawn without replacement with
/// `seed` ([`sample_texts`]), whitespace folded to single spaces. Fewer when the split is
/// smaller.
pub fn debian_calibration(records: &[Record], n: usize, seed: u64) -> Vec<String> {
    let train = records
        .iter()
        .filter(|r| r.split == Split::Train)
        .map(|r| r.one_line_description())
        .collect();
    sample_texts(train, n, seed)
}

/// `n` of `texts` drawn without replacement with `seed` (all of them, shuffled, when there are
/// fewer): the calibration sample of a text file.
pub fn sample_texts(mut texts: Vec<String>, n: usize, seed: u64) -> Vec<String> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    texts.shuffle(&mut rng);
    texts.truncate(n);
    texts
}

/// Which statistic of a projection's inputs a method needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stats {
    /// Column norms `‖X_j‖₂` (Wanda, OWL).
    Norms,
    /// The Gram matrix and means (SparseGPT, DSnoT).
    Hessian,
}

/// The four distinct inputs of a BERT layer's projections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Input {
    /// `resid_pre`: query, key, value.
    Hidden,
    /// The merged heads: `attention.output.dense`.
    Context,
    /// `resid_mid`: `intermediate.dense`.
    Mid,
    /// `mlp_hidden`: `output.dense`.
    Ffn,
}

impl Input {
    /// The input of the projection at a Hugging Face path.
    pub(super) fn of(path: &str) -> Result<Input, ModelError> {
        let ends = |s: &str| path.ends_with(s);
        Ok(
            if ends(".attention.self.query")
                || ends(".attention.self.key")
                || ends(".attention.self.value")
            {
                Input::Hidden
            } else if ends(".attention.output.dense") {
                Input::Context
            } else if ends(".intermediate.dense") {
                Input::Mid
            } else if ends(".output.dense") {
                Input::Ffn
            } else {
                return Err(ModelError::Invalid(format!(
                    "{path}: not a projection of a BERT layer"
                )));
            },
        )
    }
}

/// Accumulated statistics of one input.
#[derive(Debug, Clone)]
pub(crate) enum InputStats {
    /// Σ x_j² per column.
    Norms(Vec<f64>),
    /// Gram matrix and sums.
    Hessian(HessianAccumulator),
}

impl InputStats {
    fn new(kind: Stats, d: usize) -> Result<Self, ModelError> {
        Ok(match kind {
            Stats::Norms => InputStats::Norms(vec![0.0; d]),
            Stats::Hessian => InputStats::Hessian(HessianAccumulator::new(d)?),
        })
    }

    fn add(&mut self, rows: &[f32], n: usize) -> Result<(), ModelError> {
        if n == 0 {
            return Ok(());
        }
        match self {
            InputStats::Norms(sq) => {
                let norms = input_norms(rows, n, sq.len())?;
                for (s, v) in sq.iter_mut().zip(norms) {
                    *s += v * v;
                }
            }
            InputStats::Hessian(acc) => acc.add_batch(rows, n)?,
        }
        Ok(())
    }

    /// `‖X_j‖₂` per input.
    pub(crate) fn norms(&self) -> Result<Vec<f64>, ModelError> {
        Ok(match self {
            InputStats::Norms(sq) => sq.iter().map(|s| s.sqrt()).collect(),
            InputStats::Hessian(acc) => acc.input_norms()?,
        })
    }

    /// The accumulator (SparseGPT, DSnoT).
    pub(crate) fn hessian(&self) -> Result<&HessianAccumulator, ModelError> {
        match self {
            InputStats::Hessian(acc) => Ok(acc),
            InputStats::Norms(_) => Err(ModelError::Invalid(
                "this method needs the Gram matrix of the calibration inputs".into(),
            )),
        }
    }
}

/// The statistics of one layer's four inputs.
pub(super) struct LayerStats {
    stats: [InputStats; 4],
}

impl LayerStats {
    pub(super) fn get(&self, input: Input) -> &InputStats {
        &self.stats[input as usize]
    }
}

/// One batch of calibration texts at the current layer.
#[derive(Clone)]
struct Batch {
    hidden: Tensor<3>,
    padding: Tensor<2, Bool>,
    lengths: Vec<usize>,
}

/// The calibration set at the current layer: hidden states of every batch.
#[derive(Clone)]
pub(super) struct Calibration {
    batches: Vec<Batch>,
    hidden_size: usize,
    intermediate_size: usize,
    texts: usize,
    tokens: usize,
}

/// The non-padding rows of `[b, s, w]` activations, row-major, and their count.
fn rows(t: &Tensor<3>, lengths: &[usize]) -> Result<(Vec<f32>, usize), ModelError> {
    let [_, s, w] = t.dims();
    let v = t
        .clone()
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|e| ModelError::Invalid(format!("reading activations back: {e:?}")))?;
    let n: usize = lengths.iter().sum();
    let mut out = Vec::with_capacity(n * w);
    for (b, &len) in lengths.iter().enumerate() {
        out.extend_from_slice(&v[b * s * w..(b * s + len) * w]);
    }
    Ok((out, n))
}

impl Calibration {
    /// Tokenises `texts` (cut to `max_tokens`), batches them (longest first, so batches pad
    /// little) and computes the embeddings' output: the first layer's input.
    pub(super) fn new(
        encoder: &SentenceEncoder,
        texts: &[&str],
        config: &CalibrationConfig,
    ) -> Result<Self, ModelError> {
        if texts.is_empty() {
            return Err(ModelError::Invalid(
                "calibration needs at least one text".into(),
            ));
        }
        if config.batch == 0 {
            return Err(ModelError::Invalid(
                "calibration batch size must be positive".into(),
            ));
        }
        // Cut at `max_tokens` (never past what the model takes) by the tokenizer itself, the
        // closing [SEP] kept.
        let max = config.max_tokens.min(encoder.tokenizer.max_len());
        let all = encoder
            .tokenizer
            .with_max_len(max)?
            .encode(texts, 0, Truncation::Truncate)?;
        let pad = encoder.config.pad_token_id as u32;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(all.lengths[i]));
        let device = encoder.device();
        let mut batches = Vec::new();
        for chunk in order.chunks(config.batch) {
            let batch = all.select(chunk, pad);
            let (ids, padding) = batch.to_device(device);
            batches.push(Batch {
                hidden: encoder.model.embeddings.forward(ids),
                padding,
                lengths: batch.lengths,
            });
        }
        Ok(Calibration {
            batches,
            hidden_size: encoder.config.hidden_size,
            intermediate_size: encoder.config.intermediate_size,
            texts: texts.len(),
            tokens: all.lengths.iter().sum(),
        })
    }

    pub(super) fn texts(&self) -> usize {
        self.texts
    }

    pub(super) fn tokens(&self) -> usize {
        self.tokens
    }

    /// Statistics of the inputs of layer `index`'s projections, from a forward pass of `layer`
    /// over every batch (padding excluded).
    pub(super) fn layer_stats(
        &self,
        layer: &BertLayer<SelfAttention>,
        index: usize,
        kind: Stats,
    ) -> Result<LayerStats, ModelError> {
        let (d, f) = (self.hidden_size, self.intermediate_size);
        let mut stats = LayerStats {
            stats: [
                InputStats::new(kind, d)?,
                InputStats::new(kind, d)?,
                InputStats::new(kind, d)?,
                InputStats::new(kind, f)?,
            ],
        };
        for b in &self.batches {
            let mut caps: Vec<(Site, Tensor<3>)> = Vec::with_capacity(3);
            layer.forward(b.hidden.clone(), &b.padding, index, &mut |_, site, t| {
                if matches!(site, Site::ResidPre | Site::ResidMid | Site::MlpHidden) {
                    caps.push((site, t.clone()));
                }
                t
            });
            for (site, t) in caps {
                let input = match site {
                    Site::ResidPre => {
                        let ctx = layer.attention.context(t.clone(), &b.padding);
                        let (r, n) = rows(&ctx, &b.lengths)?;
                        stats.stats[Input::Context as usize].add(&r, n)?;
                        Input::Hidden
                    }
                    Site::ResidMid => Input::Mid,
                    _ => Input::Ffn,
                };
                let (r, n) = rows(&t, &b.lengths)?;
                stats.stats[input as usize].add(&r, n)?;
            }
        }
        Ok(stats)
    }

    /// Moves every batch through `layer` (its current, possibly pruned, weights): the next
    /// layer's calibration inputs.
    pub(super) fn advance(&mut self, layer: &BertLayer<SelfAttention>, index: usize) {
        for b in &mut self.batches {
            b.hidden = layer.forward(b.hidden.clone(), &b.padding, index, &mut |_, _, t| t);
        }
    }
}
