//! An SAE spliced into a sentence encoder (feature `models`): the activations at one (layer,
//! site) of MiniLM replaced by the SAE's reconstruction, and what that does downstream — the SAE
//! analogue of the language-model ΔCE ([`downstream`]).
//!
//! The SAE runs on the CPU: the activations are read back from the model's device, reconstructed
//! and sent back, so the splice works on every burn device (on a GPU the round trip costs time,
//! not correctness).

use std::sync::Arc;

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};
use sparsekit_data::debian::{Record, Split};
use sparsekit_models::{SentenceEncoder, Site, Splice};

use crate::error::{Result, SaeError};
use crate::sae::Sae;

/// A [`Splice`] that replaces the activations at (`layer`, `site`) of `encoder` by `sae`'s
/// reconstruction. Checks that the layer exists and the site's width is the SAE's `d_in`.
pub fn sae_splice(
    encoder: &SentenceEncoder,
    sae: Arc<Sae>,
    layer: usize,
    site: Site,
) -> Result<Splice> {
    let cfg = &encoder.config;
    if layer >= encoder.model.depth() {
        return Err(SaeError::Config(format!(
            "layer {layer} does not exist (the model has {} layers)",
            encoder.model.depth()
        )));
    }
    let width = site.width(cfg.hidden_size, cfg.intermediate_size);
    let d_in = sae.params().config.d_in;
    if width != d_in {
        return Err(SaeError::Shape(format!(
            "site {site} of layer {layer} is {width} wide but the SAE's d_in is {d_in}"
        )));
    }
    Ok(Splice {
        layer,
        site,
        f: Arc::new(move |t: Tensor<3>, _padding| {
            let dims = t.dims();
            let device = t.device();
            let x = t
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .expect("f32 activations after convert");
            // Width checked when the splice was built; reconstruct cannot fail on it.
            let y = sae.reconstruct(&x).expect("width checked at construction");
            Tensor::from_data(TensorData::new(y, dims), &device)
        }),
    })
}

/// Downstream effect of a splice on the Debian corpus' test split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Downstream {
    /// Texts embedded (queries + documents).
    pub texts: usize,
    /// Mean cosine between spliced and original sentence embeddings.
    pub mean_cosine: f64,
    /// Retrieval MRR@10 without the splice.
    pub mrr_at_10: f64,
    /// Retrieval MRR@10 with the splice.
    pub mrr_at_10_spliced: f64,
    /// Recall@10 without and with the splice.
    pub recall_at_10: f64,
    /// Recall@10 with the splice.
    pub recall_at_10_spliced: f64,
}

/// Embeds the test split's synopses (queries) and descriptions (documents) with and without
/// `splice` and compares them (at most `limit` records).
pub fn downstream(
    encoder: &SentenceEncoder,
    splice: Splice,
    records: &[Record],
    limit: Option<usize>,
    batch: usize,
) -> Result<Downstream> {
    let test: Vec<&Record> = records
        .iter()
        .filter(|r| r.split == Split::Test)
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    if test.is_empty() {
        return Err(SaeError::Config("the corpus has no test record".into()));
    }
    let q: Vec<&str> = test.iter().map(|r| r.synopsis.as_str()).collect();
    let docs: Vec<&str> = test.iter().map(|r| r.description.as_str()).collect();
    let model_err = |e: sparsekit_models::ModelError| SaeError::Config(format!("embedding: {e}"));
    let dim = encoder.config.hidden_size;
    let (q0, d0) = (
        encoder.embed(&q, batch).map_err(model_err)?,
        encoder.embed(&docs, batch).map_err(model_err)?,
    );
    let mut spliced = encoder.clone();
    spliced.splice = Some(splice);
    let (q1, d1) = (
        spliced.embed(&q, batch).map_err(model_err)?,
        spliced.embed(&docs, batch).map_err(model_err)?,
    );
    let cos = sparsekit_data::eval::retrieval::cosine_f64;
    let pairs = q0
        .chunks(dim)
        .zip(q1.chunks(dim))
        .chain(d0.chunks(dim).zip(d1.chunks(dim)));
    let (mut total, mut count) = (0.0, 0usize);
    for (a, b) in pairs {
        total += cos(a, b);
        count += 1;
    }
    let r0 = sparsekit_data::eval::retrieval::retrieval(&q0, &d0, dim, 10);
    let r1 = sparsekit_data::eval::retrieval::retrieval(&q1, &d1, dim, 10);
    let (r0, r1) = (
        r0.map_err(|e| SaeError::Config(format!("retrieval: {e}")))?,
        r1.map_err(|e| SaeError::Config(format!("retrieval: {e}")))?,
    );
    Ok(Downstream {
        texts: count,
        mean_cosine: total / count.max(1) as f64,
        mrr_at_10: r0.mrr,
        mrr_at_10_spliced: r1.mrr,
        recall_at_10: r0.recall,
        recall_at_10_spliced: r1.recall,
    })
}
