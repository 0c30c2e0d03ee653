//! Recovery of a pruned sentence encoder by **sparse distillation**: the pruned model (the
//! student) learns to reproduce the dense model's (the teacher's) sentence embeddings, with its
//! sparsity pattern fixed.
//!
//! - What trains ([`Student`]): only the stored, non-zero weights of the pruned projections —
//!   each becomes a [`SparseLinear`](sparsekit_tensor::SparseLinear) over its non-zeros whose
//!   `values` are the only parameters that require gradients (gradients, Adam state and updates
//!   are proportional to nnz). **Biases, LayerNorms, embeddings and unpruned projections are
//!   frozen.** Pruned weights stay exactly 0.
//! - The objective ([`DistillLoss`]): `1 − cos` (default) or MSE between the student's and the
//!   teacher's pooled, normalised embeddings of the same token ids (texts cut at
//!   [`DistillConfig::max_tokens`]); Adam at a constant learning rate.
//! - The data ([`corpus_texts`]): texts of the Debian corpus' train split (synopses and/or long
//!   descriptions), visited in a seeded random order per epoch, in batches of texts of similar
//!   length ([`DistillConfig::seed`] fixes the run).
//! - Validation: the mean student↔teacher cosine ([`mean_cosine`]) on a fixed set of texts
//!   (the valid split's), before training, every [`DistillConfig::eval_every`] steps and after
//!   the last step.
//!
//! [`distill`] runs it all; the trained encoder goes back to disk with
//! [`save_model_dir`](crate::save::save_model_dir).

mod data;
mod loss;
mod student;

use std::time::Instant;

use burn_optim::{AdamConfig, GradientsParams};
use serde::{Deserialize, Serialize};

pub use data::{corpus_texts, TextField};
pub use loss::{embedding_loss, mean_cosine, DistillLoss};
pub use student::Student;

use crate::bert::{Bert, SelfAttention};
use crate::tokenize::Encoded;
use crate::tokenize::Truncation;
use crate::{ModelError, SentenceEncoder};

/// The settings of a distillation run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistillConfig {
    /// Optimiser steps (one batch each).
    pub steps: usize,
    /// Texts per batch.
    pub batch_size: usize,
    /// Adam's learning rate (constant).
    pub lr: f64,
    /// The objective.
    pub loss: DistillLoss,
    /// Texts are cut at this many tokens (special tokens included; at most the model's own
    /// limit) for training and validation.
    pub max_tokens: usize,
    /// Validation texts used (the first ones given).
    pub valid_texts: usize,
    /// Validate every this many steps (0: only before and after training).
    pub eval_every: usize,
    /// Seed of the order of the training texts.
    pub seed: u64,
}

impl Default for DistillConfig {
    fn default() -> Self {
        DistillConfig {
            steps: 400,
            batch_size: 16,
            lr: 1e-4,
            loss: DistillLoss::Cosine,
            max_tokens: 128,
            valid_texts: 256,
            eval_every: 100,
            seed: 0,
        }
    }
}

impl DistillConfig {
    /// Refuses a configuration that cannot run ([`ModelError::Invalid`]): zero steps, batch,
    /// validation texts; a learning rate that is not finite and positive; fewer than 2 tokens.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Invalid(m));
        if self.steps == 0 {
            return bad("steps must be positive".into());
        }
        if self.batch_size == 0 {
            return bad("batch size must be positive".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!(
                "learning rate {} must be finite and positive",
                self.lr
            ));
        }
        if self.max_tokens < 2 {
            return bad(format!(
                "max tokens {}: a text needs room for its two special tokens",
                self.max_tokens
            ));
        }
        if self.valid_texts == 0 {
            return bad("validation needs at least one text".into());
        }
        Ok(())
    }
}

/// What [`distill`] reports while it runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DistillEvent {
    /// An optimiser step was taken (1-based) with this batch loss.
    Step {
        /// Step number.
        step: usize,
        /// The batch's loss before the update.
        loss: f64,
    },
    /// A validation ran after `step` steps (0: before training).
    Eval(EvalPoint),
}

/// One validation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalPoint {
    /// Steps taken before it.
    pub step: usize,
    /// Mean student↔teacher cosine over the validation texts.
    pub mean_cosine: f64,
}

/// The record of a distillation run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistillReport {
    /// The settings.
    pub config: DistillConfig,
    /// Training texts available.
    pub train_texts: usize,
    /// Validation texts used.
    pub valid_texts: usize,
    /// Trained values (stored weights of the sparse projections).
    pub trainable: usize,
    /// Projections trained as sparse layers.
    pub sparse_projections: Vec<String>,
    /// Projections left dense and frozen.
    pub frozen_projections: Vec<String>,
    /// Every batch loss, in step order.
    pub losses: Vec<f64>,
    /// Every validation, the first before training.
    pub evals: Vec<EvalPoint>,
    /// Complete passes over the training texts.
    pub epochs: usize,
    /// Wall time of the run in seconds (validation included).
    pub seconds: f64,
}

impl DistillReport {
    /// Mean cosine before training.
    pub fn cosine_before(&self) -> Option<f64> {
        self.evals.first().map(|e| e.mean_cosine)
    }

    /// Mean cosine after the last step.
    pub fn cosine_after(&self) -> Option<f64> {
        self.evals.last().map(|e| e.mean_cosine)
    }
}

/// A trained student and its record.
#[derive(Debug, Clone)]
pub struct Distilled {
    /// The trained encoder, without autodiff (its pruned projections are `SparseLinear`).
    pub model: Bert<SelfAttention>,
    /// What happened.
    pub report: DistillReport,
}

/// Checks that `teacher` and `student` are the same architecture with the same tokenisation and
/// pooling ([`ModelError::Invalid`] naming the difference).
pub fn check_pair(teacher: &SentenceEncoder, student: &SentenceEncoder) -> Result<(), ModelError> {
    let differ = |what: &str, t: String, s: String| {
        Err(ModelError::Invalid(format!(
            "teacher and student differ in {what}: {t} vs {s} (the student must be a pruned copy \
             of the teacher)"
        )))
    };
    if teacher.config != student.config {
        return differ(
            "configuration",
            format!("{:?}", teacher.config),
            format!("{:?}", student.config),
        );
    }
    if teacher.pooling != student.pooling {
        return differ(
            "pooling",
            format!("{:?}", teacher.pooling),
            format!("{:?}", student.pooling),
        );
    }
    if teacher.normalize != student.normalize {
        return differ(
            "normalisation",
            teacher.normalize.to_string(),
            student.normalize.to_string(),
        );
    }
    let (tv, sv) = (
        teacher.tokenizer.inner().get_vocab_size(true),
        student.tokenizer.inner().get_vocab_size(true),
    );
    if tv != sv {
        return differ("tokenizer vocabulary", tv.to_string(), sv.to_string());
    }
    Ok(())
}

/// Distils `teacher` (any device, inference only) into the pruned `student` (loaded on an
/// autodiff device, see [`Student::new`]) on the `train` texts, validating on the first
/// [`DistillConfig::valid_texts`] of `valid`; `observe` sees every step and validation.
///
/// Both models see the same token ids (the student's tokenizer, texts cut at
/// [`DistillConfig::max_tokens`]). Errors: an invalid configuration or text list (empty, a
/// blank text: [`ModelError::Text`] with its index in `train`, or in `valid` for
/// validation texts), a teacher/student mismatch ([`check_pair`]), a student without pruned
/// projections or not on an autodiff device, a loss that is not finite
/// ([`ModelError::Invalid`]).
pub fn distill(
    teacher: &SentenceEncoder,
    student: &SentenceEncoder,
    train: &[String],
    valid: &[String],
    config: &DistillConfig,
    observe: &mut dyn FnMut(&DistillEvent),
) -> Result<Distilled, ModelError> {
    let start = Instant::now();
    config.validate()?;
    check_pair(teacher, student)?;
    if train.is_empty() {
        return Err(ModelError::Invalid("no training text".into()));
    }
    if valid.is_empty() {
        return Err(ModelError::Invalid("no validation text".into()));
    }
    if let Some(i) = train.iter().position(|t| t.trim().is_empty()) {
        return Err(ModelError::Text {
            index: i,
            message: "empty training text".into(),
        });
    }
    let mut s = Student::new(student)?;
    let max_tokens = config.max_tokens.min(student.tokenizer.max_len());
    let tokenizer = student.tokenizer.with_max_len(max_tokens)?;
    let pad_id = student.config.pad_token_id as u32;
    let dim = student.dim();

    // The validation set, tokenised once, with the teacher's embeddings.
    let valid = &valid[..config.valid_texts.min(valid.len())];
    let refs: Vec<&str> = valid.iter().map(String::as_str).collect();
    let all = tokenizer.encode(&refs, 0, Truncation::Truncate)?;
    let mut rows: Vec<usize> = (0..all.len()).collect();
    rows.sort_by_key(|&r| std::cmp::Reverse(all.lengths[r]));
    let valid_batches: Vec<Encoded> = rows
        .chunks(config.batch_size.max(32))
        .map(|c| all.select(c, pad_id))
        .collect();
    let mut valid_target = Vec::with_capacity(valid.len() * dim);
    for b in &valid_batches {
        valid_target.extend(teacher.embed_encoded(b)?);
    }

    let mut report = DistillReport {
        config: config.clone(),
        train_texts: train.len(),
        valid_texts: valid.len(),
        trainable: s.trainable(),
        sparse_projections: s.sparse.clone(),
        frozen_projections: s.frozen.clone(),
        losses: Vec::with_capacity(config.steps),
        evals: Vec::new(),
        epochs: 0,
        seconds: 0.0,
    };
    let validate = |s: &Student, step: usize| -> Result<EvalPoint, ModelError> {
        let mut got = Vec::with_capacity(valid_target.len());
        for b in &valid_batches {
            got.extend(s.embed_inference(b)?);
        }
        let mean_cosine = mean_cosine(&got, &valid_target, dim)
            .ok_or_else(|| ModelError::Invalid("validation embeddings of the wrong size".into()))?;
        Ok(EvalPoint { step, mean_cosine })
    };
    let first = validate(&s, 0)?;
    observe(&DistillEvent::Eval(first));
    report.evals.push(first);

    let mut batches = data::Batches::new(train, &tokenizer, pad_id, config.batch_size, config.seed);
    let mut optim = AdamConfig::new().init();
    for step in 1..=config.steps {
        let batch = batches.next_batch()?;
        let target = teacher.embed_encoded(&batch)?;
        let loss = s.loss(&batch, &target, config.loss)?;
        let value = loss
            .clone()
            .inner()
            .into_data()
            .iter::<f32>()
            .next()
            .unwrap_or(f32::NAN) as f64;
        if !value.is_finite() {
            return Err(ModelError::Invalid(format!(
                "the loss is {value} at step {step}: lower the learning rate"
            )));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &s.model);
        s.model = optim.step(config.lr, s.model, grads);
        report.losses.push(value);
        observe(&DistillEvent::Step { step, loss: value });
        if step == config.steps || (config.eval_every > 0 && step % config.eval_every == 0) {
            let e = validate(&s, step)?;
            observe(&DistillEvent::Eval(e));
            report.evals.push(e);
        }
    }
    report.epochs = batches.epochs;
    report.seconds = start.elapsed().as_secs_f64();
    Ok(Distilled {
        model: s.into_model(),
        report,
    })
}
