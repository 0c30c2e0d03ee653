//! The `model` suite: sentence embedding with all-MiniLM-L6-v2 on burn against dense PyTorch
//! (sentence-transformers), same texts, same batch, same thread count, in one run; plus the
//! throughput of activation capture.
//!
//! Texts: the first `n` test-split long descriptions of the Debian corpus (real English of
//! every length; those past 256 tokens are truncated, as sentence-transformers does), newlines
//! folded to spaces. PyTorch runs `scripts/minilm_reference.py --time` in the project's Python
//! (`SPARSEKIT_PYTHON`, which `cargo xtask bench` sets) with `torch.set_num_threads` equal to
//! the cores rayon uses here. Memory: peak RSS of this process while one device's rows run
//! (`/proc/self/clear_refs` resets the high-water mark first) and the peak heap bytes (the
//! counting allocator).
//!
//! Sparse inference (`embed_sparse` rows, Flex): MiniLM with every projection pruned by
//! magnitude (2:4, and 70 % unstructured; the speed of a pattern does not depend on the method
//! that chose it), run by the sparse kernels (`SentenceEncoder::sparsify_pruned`) against dense
//! burn on the same pruned weights (timed interleaved) and against dense PyTorch.
//!
//! Missing model, corpus or Python: a note, no row (a benchmark, not a test).

use std::path::{Path, PathBuf};
use std::process::Command;

use sparsekit_data::{debian, fetch};
use sparsekit_formats::sparsity::Structure;
use sparsekit_measure::row::{Line, Row, Shape};
use sparsekit_measure::timing::measure_interleaved;
use sparsekit_measure::timing::{measure, Timing};
use sparsekit_models::capture::{capture_to_shards, CaptureConfig};
use sparsekit_models::sparse::magnitude_prune;
use sparsekit_models::{SentenceEncoder, Site};

use crate::memory;
use crate::runner::DenseDevice;

/// Texts per timed call, and texts per forward pass.
pub struct ModelCase {
    /// Texts embedded per timed call.
    pub texts: usize,
    /// Texts per forward pass (both sides).
    pub batch: usize,
}

/// The suite's cases: 128 texts (`--quick`) or 512, batch 32.
pub fn cases(quick: bool) -> Vec<ModelCase> {
    vec![ModelCase {
        texts: if quick { 128 } else { 512 },
        batch: 32,
    }]
}

fn texts(n: usize) -> Result<Vec<String>, String> {
    let corpus = debian::default_dir().join("descriptions.jsonl");
    let records = debian::read_corpus(&corpus).map_err(|e| {
        format!("model suite: no Debian corpus ({e}); run `sparsekit fetch debian-text`")
    })?;
    let t: Vec<String> = records
        .iter()
        .filter(|r| r.split == debian::Split::Test)
        .take(n)
        .map(|r| r.one_line_description())
        .collect();
    if t.len() < n {
        return Err(format!(
            "model suite: the corpus has only {} test texts",
            t.len()
        ));
    }
    Ok(t)
}

/// PyTorch's median seconds for embedding the texts of `input`.
fn torch_seconds(
    model: &Path,
    input: &Path,
    batch: usize,
    threads: usize,
    samples: usize,
) -> Result<f64, String> {
    let py = std::env::var_os("SPARSEKIT_PYTHON")
        .map(PathBuf::from)
        .ok_or(
            "model suite: no PyTorch row: SPARSEKIT_PYTHON is unset (`cargo xtask bench` sets it)",
        )?;
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/minilm_reference.py");
    let out = Command::new(&py)
        .arg(&script)
        .arg("--model")
        .arg(model)
        .arg("--input")
        .arg(input)
        .args(["--batch", &batch.to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--time", &samples.to_string()])
        .output()
        .map_err(|e| format!("model suite: running {}: {e}", py.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "model suite: minilm_reference.py failed: {}",
            err.lines().last().unwrap_or("")
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(
        out.stdout
            .split(|&b| b == b'\n')
            .rfind(|l| !l.is_empty())
            .unwrap_or(b""),
    )
    .map_err(|e| format!("model suite: minilm_reference.py printed no JSON: {e}"))?;
    v["median_seconds"]
        .as_f64()
        .ok_or_else(|| "model suite: minilm_reference.py: no median_seconds".into())
}

/// FLOPs of one encoder pass over texts of these token counts (multiply-adds × 2): the
/// projections (4·d² + 2·d·f per token per layer) and attention (2·s²·d per text per layer,
/// scores and context).
fn flops(lengths: &[usize], enc: &SentenceEncoder) -> f64 {
    let c = &enc.config;
    let (d, f, l) = (
        c.hidden_size as f64,
        c.intermediate_size as f64,
        c.num_hidden_layers as f64,
    );
    let tokens: f64 = lengths.iter().map(|&s| s as f64).sum();
    let attn: f64 = lengths.iter().map(|&s| (s * s) as f64).sum();
    l * (2.0 * tokens * (4.0 * d * d + 2.0 * d * f) + 4.0 * attn * d)
}

/// A row of the suite: `times` = (samples, median, min, max) seconds, `baseline` = (name,
/// median seconds); the ratio is baseline / ours.
#[allow(clippy::too_many_arguments)]
fn row(
    op: &str,
    dev: DenseDevice,
    case: &ModelCase,
    dim: usize,
    times: (usize, f64, f64, f64),
    baseline: (String, f64),
    gflops_effective: f64,
    extra: serde_json::Map<String, serde_json::Value>,
) -> Line {
    let (samples, median_s, min_s, max_s) = times;
    Line::Row(Box::new(Row {
        suite: "model".into(),
        op: op.into(),
        format: "dense".into(),
        dtype: "f32".into(),
        device: dev.name().into(),
        shape: Shape {
            m: case.texts,
            k: dim,
            n: case.batch,
        },
        sparsity: 0.0,
        nnz: 0,
        samples,
        median_s,
        min_s,
        max_s,
        speedup_vs_dense: baseline.1 / median_s,
        baseline: baseline.0,
        baseline_median_s: baseline.1,
        gflops_effective,
        software_adapter: None,
        max_rel_err: None,
        extra,
    }))
}

/// Runs the suite on the CPU devices.
pub fn run(case: &ModelCase, devices: &[DenseDevice], timing: &Timing, emit: &mut dyn FnMut(Line)) {
    let note = |emit: &mut dyn FnMut(Line), note: String| emit(Line::Note { note });
    let model = fetch::default_dir(&fetch::MINILM);
    if fetch::verify(&fetch::MINILM, &model).is_err() {
        return note(
            emit,
            format!(
                "model suite: no all-MiniLM-L6-v2 in {}; run `sparsekit fetch minilm`",
                model.display()
            ),
        );
    }
    let texts = match texts(case.texts) {
        Ok(t) => t,
        Err(e) => return note(emit, e),
    };
    let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    let tmp = std::env::temp_dir().join(format!("sparsekit-bench-model-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    if let Err(e) = std::fs::create_dir_all(&tmp) {
        return note(
            emit,
            format!("model suite: creating {}: {e}", tmp.display()),
        );
    }
    let input = tmp.join("texts.txt");
    if let Err(e) = std::fs::write(&input, texts.join("\n") + "\n") {
        return note(
            emit,
            format!("model suite: writing {}: {e}", input.display()),
        );
    }
    let threads = rayon::current_num_threads();
    let torch = torch_seconds(&model, &input, case.batch, threads, timing.samples);
    if let Err(e) = &torch {
        note(emit, e.clone());
    }
    for &dev in devices {
        let enc = match SentenceEncoder::load(&model, &dev.device()) {
            Ok(e) => e,
            Err(e) => {
                note(
                    emit,
                    format!("model suite: loading MiniLM on {}: {e}", dev.name()),
                );
                continue;
            }
        };
        let lengths = match enc.tokenizer.encode(&refs, 0, enc.truncation) {
            Ok(b) => b.lengths,
            Err(e) => return note(emit, format!("model suite: tokenising: {e}")),
        };
        let tokens: usize = lengths.iter().sum();
        let rss_reset = memory::reset_peak_rss();
        memory::reset_peak();
        let heap_before = memory::live();
        let stats = measure(timing, || {
            enc.embed(&refs, case.batch)
                .expect("embedding the bench texts");
        });
        let peak_heap = memory::peak().saturating_sub(heap_before);
        let mut extra = serde_json::Map::new();
        let sps = case.texts as f64 / stats.median_s;
        extra.insert("sentences_per_s".into(), sps.into());
        extra.insert("tokens".into(), tokens.into());
        extra.insert("threads".into(), threads.into());
        extra.insert("peak_heap_bytes".into(), peak_heap.into());
        if rss_reset {
            if let Some(rss) = memory::peak_rss() {
                extra.insert("peak_rss_bytes".into(), rss.into());
            }
        }
        let (baseline, base_s) = match &torch {
            Ok(s) => {
                extra.insert(
                    "torch_sentences_per_s".into(),
                    (case.texts as f64 / s).into(),
                );
                (
                    format!("peer:sentence-transformers (torch, {threads} threads)"),
                    *s,
                )
            }
            // No PyTorch row (a note says why): ratio 0, never NaN (the report is JSON).
            Err(_) => ("none (PyTorch unavailable)".to_string(), 0.0),
        };
        let (gflops, dim) = (flops(&lengths, &enc) / stats.median_s / 1e9, enc.dim());
        emit(row(
            "embed",
            dev,
            case,
            dim,
            (stats.samples, stats.median_s, stats.min_s, stats.max_s),
            (baseline, base_s),
            gflops,
            extra,
        ));

        if dev == DenseDevice::Flex {
            let torch = torch.as_ref().ok().copied();
            for (sparsity, structure) in [
                (0.5, Structure::NM { n: 2, m: 4 }),
                (0.7, Structure::Unstructured),
            ] {
                if let Err(e) = sparse_rows(
                    &enc,
                    &refs,
                    case,
                    timing,
                    (sparsity, structure),
                    torch,
                    emit,
                ) {
                    note(emit, format!("model suite: sparse {structure}: {e}"));
                }
            }
        }

        // Activation capture of the same texts (layer 3, resid_post) into shards.
        let shards = tmp.join(format!("shards-{}", dev.name()));
        let mut capture_times = Vec::new();
        for _ in 0..timing.samples.max(1) {
            let _ = std::fs::remove_dir_all(&shards);
            let mut cfg = CaptureConfig::new(3, Site::ResidPost);
            cfg.batch_size = case.batch;
            match capture_to_shards(&enc, &refs, &cfg, &shards, Default::default(), |_| {}) {
                Ok(r) => capture_times.push(r.seconds),
                Err(e) => {
                    note(emit, format!("model suite: capture on {}: {e}", dev.name()));
                    break;
                }
            }
        }
        if capture_times.len() == timing.samples.max(1) {
            let s = sparsekit_measure::timing::stats(&mut capture_times);
            let mut extra = serde_json::Map::new();
            extra.insert("tokens_per_s".into(), (tokens as f64 / s.median_s).into());
            extra.insert("tokens".into(), tokens.into());
            emit(row(
                "activations",
                dev,
                case,
                enc.dim(),
                (s.samples, s.median_s, s.min_s, s.max_s),
                ("embed (same texts, same device)".into(), stats.median_s),
                0.0,
                extra,
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

/// One `embed_sparse` row: MiniLM pruned by magnitude at `(sparsity, structure)`, sparse
/// kernels vs dense burn on the same pruned weights (interleaved), PyTorch dense beside.
fn sparse_rows(
    enc: &SentenceEncoder,
    refs: &[&str],
    case: &ModelCase,
    timing: &Timing,
    (sparsity, structure): (f64, Structure),
    torch_s: Option<f64>,
    emit: &mut dyn FnMut(Line),
) -> Result<(), sparsekit_models::ModelError> {
    let mut dense = enc.clone();
    dense.model = dense
        .model
        .map_projections(&mut |_, p| magnitude_prune(&p, sparsity, structure))?;
    let (sparse, report) = dense.clone().sparsify_pruned()?;
    let (s, d) = measure_interleaved(
        timing,
        || {
            sparse.embed(refs, case.batch).expect("embedding (sparse)");
        },
        || {
            dense
                .embed(refs, case.batch)
                .expect("embedding (dense, pruned)");
        },
    );
    let storage: Vec<String> = report
        .counts()
        .into_iter()
        .map(|(n, c)| format!("{c} {n}"))
        .collect();
    let mut extra = serde_json::Map::new();
    extra.insert(
        "sentences_per_s".into(),
        (case.texts as f64 / s.median_s).into(),
    );
    extra.insert(
        "dense_sentences_per_s".into(),
        (case.texts as f64 / d.median_s).into(),
    );
    if let Some(t) = torch_s {
        extra.insert(
            "torch_sentences_per_s".into(),
            (case.texts as f64 / t).into(),
        );
        extra.insert("vs_torch".into(), (t / s.median_s).into());
    }
    extra.insert("pruned".into(), format!("magnitude {structure}").into());
    extra.insert("storage".into(), storage.join(", ").into());
    extra.insert("stored_weights".into(), report.stored().into());
    extra.insert("dense_weights".into(), report.entries().into());
    extra.insert("threads".into(), rayon::current_num_threads().into());
    let weight_sparsity = 1.0
        - report.layers.iter().map(|l| l.nonzeros).sum::<usize>() as f64
            / report.entries().max(1) as f64;
    emit(Line::Row(Box::new(Row {
        suite: "model".into(),
        op: "embed_sparse".into(),
        format: match structure {
            Structure::Unstructured => "csr".into(),
            s => s.to_string(),
        },
        dtype: "f32".into(),
        device: DenseDevice::Flex.name().into(),
        shape: Shape {
            m: case.texts,
            k: sparse.dim(),
            n: case.batch,
        },
        sparsity: weight_sparsity,
        nnz: report.stored(),
        samples: s.samples,
        median_s: s.median_s,
        min_s: s.min_s,
        max_s: s.max_s,
        speedup_vs_dense: d.median_s / s.median_s,
        baseline: "dense burn (same pruned weights, interleaved)".into(),
        baseline_median_s: d.median_s,
        gflops_effective: 0.0,
        software_adapter: None,
        max_rel_err: None,
        extra,
    })));
    Ok(())
}
