//! Training from activation shards to a saved SAE, as `sparsekit sae train` runs it
//! ([`train_on_shards`]): shuffled batches from a shard directory (sparsekit-data's `shards`),
//! a metrics log (JSON lines), atomic checkpoints and bit-for-bit resume, and the result saved as
//! a SAELens directory.
//!
//! Output directory layout:
//! - `cfg.json`, `sae_weights.safetensors`, `sparsity.safetensors`: the SAE (SAELens format);
//! - `checkpoint/`: the full training state ([`crate::train::checkpoint`]);
//! - `metrics.jsonl`: one [`StepStats`] per logged step, plus `tokens_per_s`;
//! - `run.json`: what was trained on and how.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sparsekit_data::shards::{ShardReader, Shuffle};

use crate::config::SaeConfig;
use crate::error::{Result, SaeError};
use crate::train::{checkpoint, StepStats, TrainConfig, Trainer};

/// Where the data comes from and how it is batched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Shard directory (`sparsekit activations` output).
    pub activations: PathBuf,
    /// Tokens per step.
    pub batch: usize,
    /// Tokens to train on (rounded up to whole batches; passes over the shards repeat, each
    /// with its own shuffle).
    pub tokens: u64,
    /// Rows in the shuffle buffer.
    pub shuffle_buffer: usize,
    /// Seed of the data order.
    pub data_seed: u64,
    /// Steps between checkpoints (0: only at the end).
    pub checkpoint_every: u64,
    /// Steps between metrics-log lines (≥ 1).
    pub log_every: u64,
}

/// What a finished run reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The last step's statistics.
    pub last: Option<StepStats>,
    /// Steps done in this invocation.
    pub steps_this_run: u64,
    /// Wall time of this invocation's steps, seconds.
    pub seconds: f64,
    /// Tokens per second over this invocation.
    pub tokens_per_s: f64,
}

const CHECKPOINT: &str = "checkpoint";
const METRICS: &str = "metrics.jsonl";

/// One metrics-log line.
#[derive(Serialize)]
struct LogLine<'a> {
    #[serde(flatten)]
    stats: &'a StepStats,
    tokens_per_s: f64,
}

/// Trains an SAE on the shards of `run.activations` and saves it to `output`. With `resume`,
/// continues from `output/checkpoint` (the configurations stored there win; the data order
/// continues where it stopped, so the result equals an uninterrupted run bit for bit).
/// `on_step` sees every step's statistics and the tokens/s so far.
pub fn train_on_shards(
    run: &RunConfig,
    sae: SaeConfig,
    train: TrainConfig,
    output: &Path,
    resume: bool,
    mut on_step: impl FnMut(&StepStats, f64),
) -> Result<(Trainer, RunReport)> {
    if run.batch == 0 {
        return Err(SaeError::Config("batch is 0".into()));
    }
    let reader = ShardReader::open(&run.activations)?;
    let manifest = reader.manifest();
    let ckpt_dir = output.join(CHECKPOINT);
    let (mut trainer, run) = if resume {
        let (t, extra) = checkpoint::load(&ckpt_dir)?;
        let stored: RunConfig = serde_json::from_value(extra)
            .map_err(|e| SaeError::format(&ckpt_dir, format!("run configuration: {e}")))?;
        // The data may have moved; everything else continues as stored, except the token
        // budget, which a resume may extend.
        let run = RunConfig {
            activations: run.activations.clone(),
            tokens: run.tokens.max(stored.tokens),
            ..stored
        };
        (t, run)
    } else {
        sae.validate()?;
        (Trainer::new(sae, train)?, run.clone())
    };
    let d_in = trainer.params().config.d_in;
    if manifest.d != d_in {
        return Err(SaeError::Shape(format!(
            "{}: activations are {} wide but the SAE's d_in is {d_in}",
            run.activations.display(),
            manifest.d
        )));
    }
    if manifest.tokens < run.batch {
        return Err(SaeError::Config(format!(
            "{}: {} tokens, fewer than one batch of {}",
            run.activations.display(),
            manifest.tokens,
            run.batch
        )));
    }
    fs::create_dir_all(output)
        .map_err(|e| SaeError::io(format!("creating {}", output.display()), e))?;
    // The metrics log holds exactly the steps up to the checkpoint.
    let metrics_path = output.join(METRICS);
    let done = trainer.state().step;
    let kept: String = if resume {
        fs::read_to_string(&metrics_path)
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .ok()
                    .and_then(|v| v.get("step").and_then(|s| s.as_u64()))
                    .is_some_and(|s| s <= done)
            })
            .map(|l| format!("{l}\n"))
            .collect()
    } else {
        String::new()
    };
    fs::write(&metrics_path, kept)
        .map_err(|e| SaeError::io(format!("writing {}", metrics_path.display()), e))?;
    let mut log = fs::OpenOptions::new()
        .append(true)
        .open(&metrics_path)
        .map_err(|e| SaeError::io(format!("opening {}", metrics_path.display()), e))?;
    let run_json = serde_json::json!({
        "run": &run,
        "sae": &trainer.params().config,
        "train": trainer.config(),
        "manifest_meta": &manifest.meta,
        "manifest_tokens": manifest.tokens,
    });
    fs::write(
        output.join("run.json"),
        serde_json::to_string_pretty(&run_json).expect("json"),
    )
    .map_err(|e| SaeError::io("writing run.json", e))?;

    let total_steps = run.tokens.div_ceil(run.batch as u64);
    let per_pass = (manifest.tokens / run.batch) as u64;
    let extra = serde_json::to_value(&run).expect("run config serialises");
    let t0 = Instant::now();
    let mut step = done;
    let mut last = None;
    let mut pass = step / per_pass;
    let mut skip = step % per_pass;
    'outer: while step < total_steps {
        let shuffle = Shuffle::Buffer {
            size: run.shuffle_buffer,
            seed: run.data_seed.wrapping_add(pass),
        };
        for batch in reader.batches(run.batch, shuffle) {
            let batch = batch?;
            if batch.rows < run.batch {
                break; // only whole batches: every step sees `batch` tokens
            }
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let st = trainer.step(&batch.activations)?;
            step = st.step;
            let secs = t0.elapsed().as_secs_f64();
            let tps = (step - done) as f64 * run.batch as f64 / secs.max(1e-9);
            if step % run.log_every.max(1) == 0 || step == total_steps {
                let line = serde_json::to_string(&LogLine {
                    stats: &st,
                    tokens_per_s: tps,
                })
                .expect("json");
                writeln!(log, "{line}").map_err(|e| SaeError::io("writing metrics.jsonl", e))?;
            }
            on_step(&st, tps);
            last = Some(st);
            if run.checkpoint_every > 0 && step % run.checkpoint_every == 0 && step < total_steps {
                checkpoint::save(&ckpt_dir, &trainer, extra.clone())?;
            }
            if step >= total_steps {
                break 'outer;
            }
        }
        pass += 1;
    }
    let seconds = t0.elapsed().as_secs_f64();
    checkpoint::save(&ckpt_dir, &trainer, extra)?;
    crate::format::saelens::save(
        output,
        trainer.params(),
        Some(&trainer.log_feature_density()),
        None,
    )?;
    let steps_this_run = step - done;
    let report = RunReport {
        last,
        steps_this_run,
        seconds,
        tokens_per_s: steps_this_run as f64 * run.batch as f64 / seconds.max(1e-9),
    };
    Ok((trainer, report))
}
