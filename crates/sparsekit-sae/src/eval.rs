//! Evaluating an SAE on activation shards ([`evaluate_shards`]): FVU over all tokens, L0, dead
//! latents and the feature-density histogram.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sparsekit_data::shards::{ShardReader, Shuffle};

use crate::error::{Result, SaeError};
use crate::sae::Sae;

/// What [`evaluate_shards`] measures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Tokens evaluated.
    pub tokens: u64,
    /// `Σ‖x − x̂‖² / Σ‖x − mean(x)‖²` over all tokens (the mean over all tokens too), in the
    /// activations' own scale.
    pub fvu: f64,
    /// Mean active latents per token.
    pub l0: f64,
    /// Fraction of latents that never fired on these tokens.
    pub dead_fraction: f64,
    /// Histogram of log10 feature density over the latents that fired: `(bin lower edge,
    /// count)` for bins of width 0.5 from −8 to 0.
    pub log_density_histogram: Vec<(f64, u64)>,
}

/// Evaluates `sae` on the shards in `dir`, in written order, `batch` tokens at a time, over at
/// most `max_tokens` tokens.
pub fn evaluate_shards(
    sae: &Sae,
    dir: &Path,
    batch: usize,
    max_tokens: Option<u64>,
) -> Result<EvalReport> {
    let reader = ShardReader::open(dir)?;
    let d = sae.params().config.d_in;
    let m = sae.params().config.d_sae;
    if reader.manifest().d != d {
        return Err(SaeError::Shape(format!(
            "{}: activations are {} wide but the SAE's d_in is {d}",
            dir.display(),
            reader.manifest().d
        )));
    }
    let limit = max_tokens.unwrap_or(u64::MAX);
    let (mut n, mut sse, mut active) = (0u64, 0.0f64, 0u64);
    let (mut sum, mut sumsq) = (vec![0.0f64; d], 0.0f64);
    let mut fires = vec![0u64; m];
    for b in reader.batches(batch.max(1), Shuffle::None) {
        let b = b?;
        let take = ((limit - n) as usize).min(b.rows);
        let x = &b.activations[..take * d];
        let (y, code) = sae.reconstruct_with_code(x)?;
        sse += x
            .iter()
            .zip(&y)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum::<f64>();
        for r in x.chunks(d) {
            for (s, v) in sum.iter_mut().zip(r) {
                *s += *v as f64;
                sumsq += (*v as f64).powi(2);
            }
        }
        for (&j, &v) in code.indices.iter().zip(&code.values) {
            if v != 0.0 {
                fires[j as usize] += 1;
                active += 1;
            }
        }
        n += take as u64;
        if n >= limit {
            break;
        }
    }
    if n == 0 {
        return Err(SaeError::Config(format!(
            "{}: no tokens to evaluate",
            dir.display()
        )));
    }
    let nf = n as f64;
    let tv = sumsq - sum.iter().map(|s| s * s).sum::<f64>() / nf;
    let mut hist: Vec<(f64, u64)> = (0..16).map(|b| (-8.0 + 0.5 * b as f64, 0)).collect();
    for &f in fires.iter().filter(|&&f| f > 0) {
        let l = (f as f64 / nf).log10();
        let b = (((l + 8.0) / 0.5).floor().max(0.0) as usize).min(hist.len() - 1);
        hist[b].1 += 1;
    }
    Ok(EvalReport {
        tokens: n,
        fvu: if tv > 0.0 { sse / tv } else { f64::NAN },
        l0: active as f64 / nf,
        dead_fraction: fires.iter().filter(|&&f| f == 0).count() as f64 / m as f64,
        log_density_histogram: hist,
    })
}
