//! Activation capture: one site of one layer, for every non-padding token of a text stream,
//! written to safetensors shards ([`sparsekit_data::shards`] documents the layout).
//!
//! Texts go through the encoder in batches in input order (so a token's `text_index` is its
//! text's line number, 0-based); only the layers up to the requested one run. Memory stays
//! bounded by one batch plus one shard, however many texts there are.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use sparsekit_data::shards::{Manifest, ShardWriter};

use crate::hooks::Site;
use crate::sentence::SentenceEncoder;
use crate::ModelError;

/// What to capture and how to write it.
#[derive(Debug, Clone)]
pub struct CaptureConfig {
    /// Layer index (0-based).
    pub layer: usize,
    /// Activation site.
    pub site: Site,
    /// Texts per forward pass.
    pub batch_size: usize,
    /// Stop after this many tokens (the last text is cut); `None` for all.
    pub max_tokens: Option<usize>,
    /// Rows per shard file.
    pub tokens_per_shard: usize,
}

impl CaptureConfig {
    /// `site` of `layer`, 32 texts per batch, 65 536 tokens per shard, no token limit.
    pub fn new(layer: usize, site: Site) -> Self {
        CaptureConfig {
            layer,
            site,
            batch_size: 32,
            max_tokens: None,
            tokens_per_shard: 65_536,
        }
    }
}

/// What a capture wrote.
#[derive(Debug, Clone)]
pub struct CaptureReport {
    /// Texts whose tokens were written (the last one possibly in part).
    pub texts: usize,
    /// Token rows written.
    pub tokens: usize,
    /// Wall-clock seconds (tokenising, forward passes, writing).
    pub seconds: f64,
    /// The manifest of the shard directory.
    pub manifest: Manifest,
}

impl CaptureReport {
    /// Captured tokens per second.
    pub fn tokens_per_s(&self) -> f64 {
        self.tokens as f64 / self.seconds.max(1e-9)
    }
}

/// Captures `config.site` of `config.layer` for `texts` into a new shard directory `out`;
/// `progress(tokens so far)` is called after each batch. `meta` is copied into the manifest
/// (the layer, site, width and the model's `max_seq_length` are added).
pub fn capture_to_shards(
    encoder: &SentenceEncoder,
    texts: &[&str],
    config: &CaptureConfig,
    out: &Path,
    mut meta: BTreeMap<String, String>,
    mut progress: impl FnMut(usize),
) -> Result<CaptureReport, ModelError> {
    let depth = encoder.model.depth();
    if config.layer >= depth {
        return Err(ModelError::Invalid(format!(
            "layer {} does not exist (the model has {depth} layers: 0..{depth})",
            config.layer
        )));
    }
    if config.batch_size == 0 || config.tokens_per_shard == 0 {
        return Err(ModelError::Invalid(
            "batch size and tokens per shard must be positive".into(),
        ));
    }
    let width = config
        .site
        .width(encoder.config.hidden_size, encoder.config.intermediate_size);
    meta.insert("layer".into(), config.layer.to_string());
    meta.insert("site".into(), config.site.to_string());
    meta.insert(
        "max_seq_length".into(),
        encoder.tokenizer.max_len().to_string(),
    );
    let start = Instant::now();
    let mut writer = ShardWriter::create(out, width, config.tokens_per_shard, meta)?;
    let limit = config.max_tokens.unwrap_or(usize::MAX);
    let mut tokens = 0usize;
    let mut written_texts = 0usize;
    'batches: for (b, chunk) in texts.chunks(config.batch_size).enumerate() {
        if tokens >= limit {
            break;
        }
        let batch = encoder
            .tokenizer
            .encode(chunk, b * config.batch_size, encoder.truncation)?;
        let (ids, padding) = batch.to_device(encoder.device());
        let (_, caps) =
            encoder
                .model
                .forward_capture(ids, padding, &[(config.layer, config.site)])?;
        let t = caps
            .get(config.layer, config.site)
            .expect("forward_capture returns the requested site")
            .clone();
        let values = t
            .into_data()
            .try_into_vec::<f32>()
            .map_err(|e| ModelError::Invalid(format!("reading activations back: {e:?}")))?;
        let s = batch.seq_len;
        for i in 0..batch.len() {
            let n = batch.lengths[i].min(limit - tokens);
            let rows = &values[i * s * width..(i * s + n) * width];
            let positions: Vec<u32> = (0..n as u32).collect();
            writer.push_text(rows, &batch.text_ids(i)[..n], &positions)?;
            tokens += n;
            written_texts += 1;
            if tokens >= limit {
                progress(tokens);
                break 'batches;
            }
        }
        progress(tokens);
    }
    let manifest = writer.finish()?;
    Ok(CaptureReport {
        texts: written_texts,
        tokens,
        seconds: start.elapsed().as_secs_f64(),
        manifest,
    })
}
