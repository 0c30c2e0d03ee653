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
    let p = LogisticProbe::fit(&x_train, encoder.dim(), &y_train, probe)?;
    let probe_seconds = t.elapsed().as_secs_f64();
    let accuracy = p.accuracy(&x_test, &y_test);
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for y in &y_train {
        *counts.entry(y.as_str()).or_default() += 1;
    }
    let (major, _) = counts
        .iter()
        .max_by_key(|(_, &c)| c)
        .expect("train is not empty");
    let majority_baseline =
        y_test.iter().filter(|y| y.as_str() == *major).count() as f64 / y_test.len() as f64;
    Ok(SectionsReport {
        task: "debian-sections",
        train: train.len(),
        test: test.len(),
        classes: counts.len(),
        accuracy,
        majority_baseline,
        embed_seconds,
        probe_seconds,
    })
}
