//! The two evaluations of a sentence encoder on the Debian corpus
//! ([`sparsekit_data::debian`]): the baselines every sparsification of the model is judged
//! against.
//!
//! - **retrieval** ([`debian_retrieval`]): each test package's synopsis is a query, the test
//!   long descriptions are the documents, the package's own description the one relevant
//!   document; MRR@10 and recall@10 by cosine, exact search.
//! - **sections** ([`debian_sections`]): a multinomial logistic-regression probe on frozen
//!   embeddings of `synopsis + "\n" + description`, trained on the train split, accuracy on the
//!   test split (sections unseen in training count as errors).
//!
//! `limit` keeps the first `limit` records of each split (records are sorted by package name,
//! so the subset is deterministic).

use std::time::Instant;

use serde::Serialize;
use sparsekit_data::debian::{Record, Split};
use sparsekit_data::eval::probe::{LogisticProbe, ProbeConfig};
use sparsekit_data::eval::retrieval::retrieval;

use crate::sentence::SentenceEncoder;
use crate::ModelError;

/// Documents ranked per query in the retrieval task.
pub const RETRIEVAL_K: usize = 10;

/// The result of [`debian_retrieval`].
#[derive(Debug, Clone, Serialize)]
pub struct RetrievalReport {
    /// `"debian-retrieval"`.
    pub task: &'static str,
    /// Queries (= documents).
    pub queries: usize,
    /// MRR@10.
    pub mrr_at_10: f64,
    /// Recall@10.
    pub recall_at_10: f64,
    /// Seconds spent embedding.
    pub embed_seconds: f64,
}

/// The result of [`debian_sections`].
#[derive(Debug, Clone, Serialize)]
pub struct SectionsReport {
    /// `"debian-sections"`.
    pub task: &'static str,
    /// Training texts.
    pub train: usize,
    /// Test texts.
    pub test: usize,
    /// Distinct sections in the training split.
    pub classes: usize,
    /// Test accuracy of the probe.
    pub accuracy: f64,
    /// Accuracy of always answering the most frequent training section (the floor).
    pub majority_baseline: f64,
    /// Seconds spent embedding.
    pub embed_seconds: f64,
    /// Seconds spent training the probe.
    pub probe_seconds: f64,
}

fn split(records: &[Record], which: Split, limit: Option<usize>) -> Vec<&Record> {
    records
        .iter()
        .filter(|r| r.split == which)
        .take(limit.unwrap_or(usize::MAX))
        .collect()
}

/// The retrieval task on the test split.
pub fn debian_retrieval(
    encoder: &SentenceEncoder,
    records: &[Record],
    limit: Option<usize>,
    batch_size: usize,
) -> Result<RetrievalReport, ModelError> {
    let test = split(records, Split::Test, limit);
    if test.is_empty() {
        return Err(ModelError::Invalid("the corpus has no test record".into()));
    }
    let t = Instant::now();
    let queries: Vec<&str> = test.iter().map(|r| r.synopsis.as_str()).collect();
    let docs: Vec<&str> = test.iter().map(|r| r.description.as_str()).collect();
    let q = encoder.embed(&queries, batch_size)?;
    let d = encoder.embed(&docs, batch_size)?;
    let embed_seconds = t.elapsed().as_secs_f64();
    let s = retrieval(&q, &d, encoder.dim(), RETRIEVAL_K)?;
    Ok(RetrievalReport {
        task: "debian-retrieval",
        queries: s.n,
        mrr_at_10: s.mrr,
        recall_at_10: s.recall,
        embed_seconds,
    })
}

/// The text a section probe sees for a record.
pub fn section_text(r: &Record) -> String {
    format!("{}\n{}", r.synopsis, r.description)
}

/// The sections task: probe trained on the train split, scored on the test split.
pub fn debian_sections(
    encoder: &SentenceEncoder,
    records: &[Record],
    limit: Option<usize>,
    batch_size: usize,
    probe: &ProbeConfig,
) -> Result<SectionsReport, ModelError> {
    let train = split(records, Split::Train, limit);
    let test = split(records, Split::Test, limit);
    if train.is_empty() || test.is_empty() {
        return Err(ModelError::Invalid(
            "the corpus needs train and test records".into(),
        ));
    }
    let t = Instant::now();
    let embed = |rs: &[&Record]| {
        let texts: Vec<String> = rs.iter().map(|r| section_text(r)).collect();
        let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
        encoder.embed(&refs, batch_size)
    };
    let x_train = embed(&train)?;
    let x_test = embed(&test)?;
    let embed_seconds = t.elapsed().as_secs_f64();
    let y_train: Vec<String> = train.iter().map(|r| r.section.clone()).collect();
    let y_test: Vec<String> = test.iter().map(|r| r.section.clone()).collect();
    let t = Instant::now();
    let score = probe_score(&x_train, &y_train, &x_test, &y_test, encoder.dim(), probe)?;
    let probe_seconds = t.elapsed().as_secs_f64();
    let (accuracy, majority_baseline, classes) = (score.accuracy, score.majority, score.classes);
    Ok(SectionsReport {
        task: "debian-sections",
        train: train.len(),
        test: test.len(),
        classes,
        accuracy,
        majority_baseline,
        embed_seconds,
        probe_seconds,
    })
}

/// A section probe's test accuracy, the majority-class accuracy and the training classes.
struct ProbeScore {
    accuracy: f64,
    majority: f64,
    classes: usize,
}

/// Trains the probe on `(x_train, y_train)` and scores it on the test split.
fn probe_score(
    x_train: &[f32],
    y_train: &[String],
    x_test: &[f32],
    y_test: &[String],
    dim: usize,
    probe: &ProbeConfig,
) -> Result<ProbeScore, ModelError> {
    let p = LogisticProbe::fit(x_train, dim, y_train, probe)?;
    let accuracy = p.accuracy(x_test, y_test);
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for y in y_train {
        *counts.entry(y.as_str()).or_default() += 1;
    }
    let major = counts
        .iter()
        .max_by_key(|(_, &c)| c)
        .map(|(m, _)| *m)
        .unwrap_or("");
    let majority =
        y_test.iter().filter(|y| y.as_str() == major).count() as f64 / y_test.len().max(1) as f64;
    Ok(ProbeScore {
        accuracy,
        majority,
        classes: counts.len(),
    })
}

/// The texts of both tasks, prepared once, to score many variants of one model (pruned,
/// distilled, spliced) against each other: retrieval on the first `retrieval_limit` test
/// records, the section probe on the first `sections_limit` train and test records, and the
/// mean cosine of every embedding to a reference model's on the same texts.
#[derive(Debug, Clone)]
pub struct QualitySet {
    queries: Vec<String>,
    docs: Vec<String>,
    train: Vec<String>,
    test: Vec<String>,
    y_train: Vec<String>,
    y_test: Vec<String>,
}

/// Every embedding [`QualitySet::score`] computed (row-major, in the set's order): pass them
/// back as the reference of other variants.
#[derive(Debug, Clone)]
pub struct QualityEmbeddings {
    queries: Vec<f32>,
    docs: Vec<f32>,
    train: Vec<f32>,
    test: Vec<f32>,
}

/// The scores of one model on a [`QualitySet`].
#[derive(Debug, Clone, Serialize)]
pub struct QualityReport {
    /// Retrieval MRR@10.
    pub mrr_at_10: f64,
    /// Retrieval recall@10.
    pub recall_at_10: f64,
    /// Section probe accuracy.
    pub sections_accuracy: f64,
    /// Mean cosine to the reference's embedding of the same text, over every text embedded
    /// (1 without a reference).
    pub mean_cosine: f64,
    /// Seconds spent embedding.
    pub embed_seconds: f64,
}

impl QualitySet {
    /// Prepares the texts. Errors when a split the tasks need is empty.
    pub fn new(
        records: &[Record],
        retrieval_limit: Option<usize>,
        sections_limit: Option<usize>,
    ) -> Result<Self, ModelError> {
        let test = split(records, Split::Test, retrieval_limit);
        let s_train = split(records, Split::Train, sections_limit);
        let s_test = split(records, Split::Test, sections_limit);
        if test.is_empty() || s_train.is_empty() || s_test.is_empty() {
            return Err(ModelError::Invalid(
                "the corpus needs train and test records".into(),
            ));
        }
        Ok(QualitySet {
            queries: test.iter().map(|r| r.synopsis.clone()).collect(),
            docs: test.iter().map(|r| r.description.clone()).collect(),
            train: s_train.iter().map(|r| section_text(r)).collect(),
            test: s_test.iter().map(|r| section_text(r)).collect(),
            y_train: s_train.iter().map(|r| r.section.clone()).collect(),
            y_test: s_test.iter().map(|r| r.section.clone()).collect(),
        })
    }

    /// Texts embedded per [`score`](Self::score).
    pub fn texts(&self) -> usize {
        self.queries.len() + self.docs.len() + self.train.len() + self.test.len()
    }

    /// Embeds every text with `encoder` and scores both tasks; with `reference` (the
    /// embeddings of another model on this set), also the mean cosine to it.
    pub fn score(
        &self,
        encoder: &SentenceEncoder,
        batch_size: usize,
        probe: &ProbeConfig,
        reference: Option<&QualityEmbeddings>,
    ) -> Result<(QualityReport, QualityEmbeddings), ModelError> {
        let t = Instant::now();
        let embed = |texts: &[String]| {
            let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
            encoder.embed(&refs, batch_size)
        };
        let e = QualityEmbeddings {
            queries: embed(&self.queries)?,
            docs: embed(&self.docs)?,
            train: embed(&self.train)?,
            test: embed(&self.test)?,
        };
        let embed_seconds = t.elapsed().as_secs_f64();
        let dim = encoder.dim();
        let r = retrieval(&e.queries, &e.docs, dim, RETRIEVAL_K)?;
        let p = probe_score(&e.train, &self.y_train, &e.test, &self.y_test, dim, probe)?;
        let mean_cosine = match reference {
            None => 1.0,
            Some(refe) => {
                let pairs = [
                    (&e.queries, &refe.queries),
                    (&e.docs, &refe.docs),
                    (&e.train, &refe.train),
                    (&e.test, &refe.test),
                ];
                let (mut sum, mut n) = (0.0, 0usize);
                for (a, b) in pairs {
                    if a.len() != b.len() {
                        return Err(ModelError::Invalid(
                            "the reference embeddings are of another set or width".into(),
                        ));
                    }
                    for (x, y) in a.chunks_exact(dim).zip(b.chunks_exact(dim)) {
                        sum += sparsekit_data::eval::retrieval::cosine_f64(x, y);
                        n += 1;
                    }
                }
                sum / n.max(1) as f64
            }
        };
        Ok((
            QualityReport {
                mrr_at_10: r.mrr,
                recall_at_10: r.recall,
                sections_accuracy: p.accuracy,
                mean_cosine,
                embed_seconds,
            },
            e,
        ))
    }
}
