//! The bench report: `report.json` (BENCH.md's schema, `sparsekit-bench/1`) and its Markdown
//! rendering `report.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const SCHEMA: &str = "sparsekit-bench/1";

/// The rows are the runner's own type (`sparsekit-measure`, burn-free): one declaration of the
/// schema's `results[]` entry for the writer and this reader.
pub use sparsekit_measure::row::{Row, Shape};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    /// UTC, RFC 3339.
    pub created: String,
    pub git_commit: String,
    /// The command that produced the report (an addition to BENCH.md's schema).
    #[serde(default)]
    pub command: String,
    pub machine: Value,
    pub results: Vec<Row>,
    /// Rows of peers measured outside Rust (`device: "peer:<name>"`); empty when not run.
    #[serde(default)]
    pub peers: Vec<Row>,
    /// Rows left out and why (formats not yet implemented, failures, peers unavailable).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// UTC RFC 3339 (`2026-01-01T00:00:00Z`) for seconds since the Unix epoch.
pub fn rfc3339_utc(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let secs = unix_secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339_utc(secs)
}

fn suite_title(suite: &str) -> &'static str {
    match suite {
        "spmm" => "`Y = A·X`, A sparse m×k, X dense k×n",
        "spmm_t" => "`Y = X·Wᵀ` (linear layer forward), W sparse m×k, X dense n×k",
        "sddmm" => "`dW = (dYᵀ·X) ⊙ pattern(W)` (linear layer weight gradient), W m×k, batch n",
        "train" => "one training step (forward + backward + Adam) of `SparseLinear` vs dense `Linear`, W m×k, batch n",
        "model" => "all-MiniLM-L6-v2 on burn vs PyTorch (sentence-transformers), same texts, batch and threads",
        "sae" => "sparse-autoencoder training step and encode (sparsekit-sae's fused CPU kernels) vs PyTorch and sparsify, same shapes and threads",
        "attention" => "sparse normalisers (sparsemax, entmax) vs softmax and the `entmax` package; block-sparse attention vs dense attention (burn, torch SDPA), same shapes and threads",
        _ => "",
    }
}

/// Seconds as a short human unit.
pub fn fmt_time(s: f64) -> String {
    if !s.is_finite() {
        "–".into()
    } else if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

/// Suites in the order of BENCH.md's matrix, then any others alphabetically.
pub fn suites_in_order(rows: &[Row]) -> Vec<String> {
    let known = [
        "spmm",
        "spmm_t",
        "sddmm",
        "train",
        "model",
        "sae",
        "attention",
    ];
    let mut seen: Vec<String> = Vec::new();
    for r in rows {
        if !seen.contains(&r.suite) {
            seen.push(r.suite.clone());
        }
    }
    seen.sort_by_key(|s| {
        (
            known.iter().position(|k| k == s).unwrap_or(known.len()),
            s.clone(),
        )
    });
    seen
}

/// Rows of one suite sorted by shape (as first seen), format, device, sparsity.
fn suite_rows<'a>(rows: &'a [Row], suite: &str) -> Vec<&'a Row> {
    let mut shape_order: Vec<Shape> = Vec::new();
    let mut out: Vec<&Row> = rows.iter().filter(|r| r.suite == suite).collect();
    for r in &out {
        if !shape_order.contains(&r.shape) {
            shape_order.push(r.shape);
        }
    }
    out.sort_by(|a, b| {
        let pa = shape_order.iter().position(|s| *s == a.shape);
        let pb = shape_order.iter().position(|s| *s == b.shape);
        pa.cmp(&pb)
            .then_with(|| a.format.cmp(&b.format))
            .then_with(|| (a.dtype != "f32").cmp(&(b.dtype != "f32")))
            .then_with(|| a.dtype.cmp(&b.dtype))
            .then_with(|| a.device.cmp(&b.device))
            .then_with(|| a.sparsity.total_cmp(&b.sparsity))
    });
    out
}

/// The lowest sparsity from which every measured sparsity is faster than dense, per
/// (shape, format, device); software adapters are left out.
fn break_even(rows: &[&Row]) -> Vec<String> {
    let mut groups: BTreeMap<(Shape, String, String), Vec<&Row>> = BTreeMap::new();
    for r in rows.iter().filter(|r| !r.is_software_adapter()) {
        let format = if r.dtype == "f32" {
            r.format.clone()
        } else {
            format!("{} {}", r.format, r.dtype)
        };
        groups
            .entry((r.shape, format, r.device.clone()))
            .or_default()
            .push(r);
    }
    let mut lines = Vec::new();
    for ((shape, format, device), mut g) in groups {
        g.sort_by(|a, b| a.sparsity.total_cmp(&b.sparsity));
        let best = g
            .iter()
            .max_by(|a, b| a.speedup_vs_dense.total_cmp(&b.speedup_vs_dense))
            .expect("non-empty group");
        let from = g
            .iter()
            .rposition(|r| r.speedup_vs_dense <= 1.0)
            .map_or(Some(0), |i| (i + 1 < g.len()).then_some(i + 1));
        let claim = match from {
            Some(0) => format!(
                "faster than dense at every measured sparsity (from {})",
                g[0].sparsity
            ),
            Some(i) => format!("faster than dense from sparsity {}", g[i].sparsity),
            None => "not faster than dense at any measured sparsity".into(),
        };
        lines.push(format!(
            "- {format} {shape} on {device}: {claim}; best {:.2}× at sparsity {}",
            best.speedup_vs_dense, best.sparsity
        ));
    }
    lines
}

/// Largest relative error of the sparse results against the dense baseline's (checked by the
/// runner once per row, outside the timed loop), per dtype, and a warning when a row exceeds
/// its dtype's bound ([`Row::rel_err_bound`]: `1e-4` for f32).
fn check_line(rows: &[&Row]) -> Option<String> {
    let checked: Vec<(&Row, f64)> = rows
        .iter()
        .filter_map(|r| r.max_rel_err.map(|e| (*r, e)))
        .collect();
    if checked.is_empty() {
        return None;
    }
    let worst = checked
        .iter()
        .map(|(r, e)| e / r.rel_err_bound())
        .fold(0.0f64, f64::max);
    let mut dtypes: Vec<&str> = checked.iter().map(|(r, _)| r.dtype.as_str()).collect();
    dtypes.dedup();
    dtypes.sort();
    dtypes.dedup();
    let per: Vec<String> = dtypes
        .iter()
        .map(|d| {
            let e = checked
                .iter()
                .filter(|(r, _)| r.dtype == *d)
                .map(|(_, e)| *e)
                .fold(0.0f64, f64::max);
            format!("{d} {e:.1e}")
        })
        .collect();
    Some(if worst <= 1.0 {
        format!(
            "- results checked against the dense product: max relative error {} over {} rows",
            per.join(", "),
            checked.len()
        )
    } else {
        format!("- **WARNING: a sparse result differs from the dense product (max relative error {}); its timing is suspect**", per.join(", "))
    })
}

/// The peer table: sparsekit's csr spmm against the peers' rows at the same shape and sparsity.
fn peer_table(report: &Report, out: &mut String) {
    const PEERS: [(&str, &str); 5] = [
        ("peer:mkl_csr", "MKL csr"),
        ("peer:scipy_csr", "scipy csr"),
        ("peer:torch_sparse_csr", "torch.sparse csr"),
        ("peer:numpy_dense_sgemm", "numpy dense"),
        ("peer:torch_dense_mm", "torch dense"),
    ];
    let mut keys: Vec<(Shape, f64)> = Vec::new();
    for p in report.peers.iter().filter(|p| p.suite == "spmm") {
        if !keys
            .iter()
            .any(|(s, sp)| *s == p.shape && *sp == p.sparsity)
        {
            keys.push((p.shape, p.sparsity));
        }
    }
    let present: Vec<(&str, &str)> = PEERS
        .into_iter()
        .filter(|(dev, _)| report.peers.iter().any(|p| p.device == *dev))
        .collect();
    let _ = writeln!(
        out,
        "## Peers: spmm (`Y = A·X`) against other libraries on this machine\n"
    );
    let _ = writeln!(
        out,
        "Median times; \"sparsekit vs X\" is X's median / sparsekit's median (above 1: sparsekit is faster). \
         sparsekit is its csr kernel on the flex row; peers draw their own random matrices at the same \
         shape and sparsity (nnz may differ by a fraction of a percent). scipy's CSR product is single-threaded; the other peers, like sparsekit, use every core.\n"
    );
    let mut header = String::from("| shape (m×k×n) | sparsity | sparsekit csr |");
    let mut rule = String::from("|---|---:|---:|");
    for (_, name) in &present {
        let _ = write!(header, " {name} |");
        rule.push_str("---:|");
    }
    for (_, name) in &present {
        let _ = write!(header, " sparsekit vs {name} |");
        rule.push_str("---:|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for (shape, sparsity) in keys {
        let sk = report
            .results
            .iter()
            .filter(|r| {
                r.suite == "spmm"
                    && r.format == "csr"
                    && r.dtype == "f32"
                    && r.shape == shape
                    && r.sparsity == sparsity
            })
            .min_by_key(|r| if r.device == "flex" { 0 } else { 1 });
        let mut line = format!(
            "| {shape} | {sparsity} | {} |",
            sk.map_or("–".into(), |r| fmt_time(r.median_s))
        );
        let medians: Vec<Option<f64>> = present
            .iter()
            .map(|(dev, _)| {
                report
                    .peers
                    .iter()
                    .find(|p| p.device == *dev && p.shape == shape && p.sparsity == sparsity)
                    .map(|p| p.median_s)
            })
            .collect();
        for m in &medians {
            let _ = write!(line, " {} |", m.map_or("–".into(), fmt_time));
        }
        for m in &medians {
            let ratio = match (m, sk) {
                (Some(m), Some(r)) => format!("{:.2}×", m / r.median_s),
                _ => "–".into(),
            };
            let _ = write!(line, " {ratio} |");
        }
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out);
}

/// Half precision (issue 18): sparsekit's bf16 / f16 spmm beside its f32 kernels, MKL's f32
/// CSR and PyTorch's bf16 dense and sparse products, per (shape, sparsity) with a half row.
fn half_table(report: &Report, out: &mut String) {
    let ours = |format: &str, dtype: &str, shape: Shape, sparsity: f64| {
        report
            .results
            .iter()
            .filter(|r| {
                r.suite == "spmm"
                    && r.format == format
                    && r.dtype == dtype
                    && r.shape == shape
                    && r.sparsity == sparsity
            })
            .min_by_key(|r| if r.device == "flex" { 0 } else { 1 })
            .map(|r| r.median_s)
    };
    let peer = |dev: &str, shape: Shape, sparsity: f64| {
        report
            .peers
            .iter()
            .find(|p| p.device == dev && p.shape == shape && p.sparsity == sparsity)
            .map(|p| p.median_s)
    };
    let mut keys: Vec<(Shape, f64)> = Vec::new();
    for r in report
        .results
        .iter()
        .filter(|r| r.suite == "spmm" && r.dtype != "f32")
    {
        if !keys.contains(&(r.shape, r.sparsity)) {
            keys.push((r.shape, r.sparsity));
        }
    }
    if keys.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "## Half precision: spmm (`Y = A·X`) in bf16 / f16 against f32 and peers\n"
    );
    let _ = writeln!(
        out,
        "sparsekit's half rows store the values and `X` in bf16 (or f16), accumulate in f32 and \
         write the half type; bsr16x16 bf16 runs on AMX tiles where the CPU has them. Ratios are \
         the other median / sparsekit bf16's (above 1: sparsekit bf16 is faster). MKL has no \
         half-precision sparse product: its f32 CSR (aligned `X`) is the fair comparison.\n"
    );
    let _ = writeln!(
        out,
        "| shape (m×k×n) | sparsity | csr f32 | csr bf16 | csr f16 | MKL csr f32 | torch dense bf16 | torch.sparse csr bf16 | bf16 vs our f32 | bf16 vs MKL | bf16 vs torch dense bf16 | bsr16x16 f32 | bsr16x16 bf16 | bsr bf16 vs our bsr f32 | bsr bf16 vs torch dense bf16 |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let t = |v: Option<f64>| v.map_or("–".to_string(), fmt_time);
    let x = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.2}×", a / b),
        _ => "–".into(),
    };
    for (shape, sp) in keys {
        let (cf, cb, ch) = (
            ours("csr", "f32", shape, sp),
            ours("csr", "bf16", shape, sp),
            ours("csr", "f16", shape, sp),
        );
        let (bf, bb) = (
            ours("bsr16x16", "f32", shape, sp),
            ours("bsr16x16", "bf16", shape, sp),
        );
        let (mkl, tdb, tsb) = (
            peer("peer:mkl_csr", shape, sp),
            peer("peer:torch_dense_mm_bf16", shape, sp),
            peer("peer:torch_sparse_csr_bf16", shape, sp),
        );
        let _ = writeln!(
            out,
            "| {shape} | {sp} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            t(cf),
            t(cb),
            t(ch),
            t(mkl),
            t(tdb),
            t(tsb),
            x(cf, cb),
            x(mkl, cb),
            x(tdb, cb),
            t(bf),
            t(bb),
            x(bf, bb),
            x(tdb, bb),
        );
    }
    let _ = writeln!(out);
}

fn machine_line(machine: &Value) -> String {
    let s = |k: &str| {
        machine
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string()
    };
    let cores = machine
        .get("cores")
        .and_then(Value::as_u64)
        .map_or("?".into(), |c| c.to_string());
    let simd: Vec<&str> = machine
        .get("simd")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let adapters: Vec<String> = machine
        .get("adapters")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|ad| {
                    let f = |k: &str| ad.get(k).and_then(Value::as_str).unwrap_or("?");
                    let sw = if ad.get("kind").and_then(Value::as_str) == Some("cpu") {
                        ", software"
                    } else {
                        ""
                    };
                    format!("{} ({}, {}{sw})", f("name"), f("kind"), f("api"))
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "{} · {cores} cores · SIMD: {} · {} · wgpu adapters: {}",
        s("cpu"),
        if simd.is_empty() {
            "none detected".into()
        } else {
            simd.join(", ")
        },
        s("os"),
        if adapters.is_empty() {
            "none".into()
        } else {
            adapters.join("; ")
        }
    )
}

/// Heap bytes of the `train` rows (model state between steps, and the peak during a step),
/// sparse beside dense; nothing when no row carries them.
fn memory_table(rows: &[&Row], out: &mut String) {
    let get = |r: &Row, k: &str| r.extra.get(k).and_then(Value::as_u64);
    let with: Vec<&&Row> = rows
        .iter()
        .filter(|r| get(r, "state_bytes").is_some() && get(r, "baseline_state_bytes").is_some())
        .collect();
    if with.is_empty() {
        return;
    }
    let mib = |b: Option<u64>| {
        b.map_or("–".to_string(), |b| {
            format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
        })
    };
    let _ = writeln!(
        out,
        "Heap memory (counted by the runner's allocator): *state* = parameters + Adam moments held between steps, \
         *peak* = high-water mark during a step (adds gradients and activations).\n"
    );
    let _ = writeln!(
        out,
        "| op | shape (m×k×n) | sparsity | device | nnz | sparse state | dense state | state ratio | sparse peak | dense peak |"
    );
    let _ = writeln!(out, "|---|---|---:|---|---:|---:|---:|---:|---:|---:|");
    for r in with {
        let ratio = match (get(r, "state_bytes"), get(r, "baseline_state_bytes")) {
            (Some(s), Some(d)) if s > 0 => format!("{:.1}× smaller", d as f64 / s as f64),
            _ => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.op,
            r.shape,
            r.sparsity,
            r.device,
            r.nnz,
            mib(get(r, "state_bytes")),
            mib(get(r, "baseline_state_bytes")),
            ratio,
            mib(get(r, "peak_bytes")),
            mib(get(r, "baseline_peak_bytes")),
        );
    }
    let _ = writeln!(out);
}

/// The `model` suite: texts per second of `embed` beside PyTorch's (the ratio is PyTorch's
/// median / ours: > 1 means faster than PyTorch), tokens per second of activation capture, and
/// the memory of the embed rows.
fn model_table(rows: &[&Row], out: &mut String) {
    let num = |r: &Row, k: &str| r.extra.get(k).and_then(Value::as_f64);
    let mib = |b: Option<f64>| {
        b.map_or("–".to_string(), |b| {
            format!("{:.0} MiB", b / (1u64 << 20) as f64)
        })
    };
    let per_s = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.1}"));
    let _ = writeln!(
        out,
        "| op | device | texts | batch | tokens | median | ours /s | PyTorch /s | vs PyTorch | peak RSS | peak heap |"
    );
    let _ = writeln!(
        out,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows.iter().filter(|r| r.op != "embed_sparse") {
        let (ours, theirs, ratio) = if r.op == "embed" {
            let theirs = num(r, "torch_sentences_per_s");
            let ratio = if theirs.is_some() {
                format!("{:.2}×", r.speedup_vs_dense)
            } else {
                "–".into()
            };
            (per_s(num(r, "sentences_per_s")), per_s(theirs), ratio)
        } else {
            (
                format!("{} tokens", per_s(num(r, "tokens_per_s"))),
                "–".into(),
                "–".into(),
            )
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {ours} | {theirs} | {ratio} | {} | {} |",
            r.op,
            r.device,
            r.shape.m,
            r.shape.n,
            num(r, "tokens").map_or("–".to_string(), |t| format!("{t:.0}")),
            fmt_time(r.median_s),
            mib(num(r, "peak_rss_bytes")),
            mib(num(r, "peak_heap_bytes")),
        );
    }
    let _ = writeln!(
        out,
        "\n`embed`: sentences per second over the texts (Debian test-split descriptions, truncated at 256 \
         tokens), PyTorch on the same texts with the same batch and thread count. `activations`: tokens per \
         second of capturing layer 3's `resid_post` into safetensors shards. Peak RSS: this process while the \
         device's embed rows ran.\n"
    );
    let sparse: Vec<&&Row> = rows.iter().filter(|r| r.op == "embed_sparse").collect();
    if sparse.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "| pruned (magnitude) | storage | device | median | sparse /s | dense burn /s | vs dense burn | PyTorch dense /s | vs PyTorch | stored weights |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let text = |r: &Row, k: &str| {
        r.extra
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("–")
            .to_string()
    };
    for r in sparse {
        let vs_torch = num(r, "vs_torch").map_or("–".to_string(), |v| format!("{v:.2}×"));
        let _ = writeln!(
            out,
            "| {} ({:.0} %) | {} | {} | {} | {} | {} | {:.2}× | {} | {vs_torch} | {} of {} |",
            r.format,
            100.0 * r.sparsity,
            text(r, "storage"),
            r.device,
            fmt_time(r.median_s),
            per_s(num(r, "sentences_per_s")),
            per_s(num(r, "dense_sentences_per_s")),
            r.speedup_vs_dense,
            per_s(num(r, "torch_sentences_per_s")),
            num(r, "stored_weights").map_or("–".to_string(), |v| format!("{v:.0}")),
            num(r, "dense_weights").map_or("–".to_string(), |v| format!("{v:.0}")),
        );
    }
    let _ = writeln!(
        out,
        "\n`embed_sparse`: MiniLM with every projection pruned by magnitude, each stored as its pattern \
         suits (`sparsify_pruned`) and run by the sparse kernels, against dense burn on the same pruned \
         weights (timed interleaved) and dense PyTorch; same texts and batch as `embed`.\n"
    );
}

/// The `sae` suite: tokens per second of each training step / encode beside PyTorch's and
/// sparsify's (ratios = their median / ours: > 1 means faster), and the heap of a step.
fn sae_table(rows: &[&Row], out: &mut String) {
    let num = |r: &Row, k: &str| r.extra.get(k).and_then(Value::as_f64);
    let text = |r: &Row, k: &str| {
        r.extra
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("–")
            .to_string()
    };
    let per_s = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.0}"));
    let ratio = |v: Option<f64>| match v {
        Some(v) if v > 0.0 && v.is_finite() => format!("{v:.2}×"),
        _ => "–".into(),
    };
    let mib = |b: Option<f64>| {
        b.map_or("–".to_string(), |b| {
            format!("{:.0} MiB", b / (1u64 << 20) as f64)
        })
    };
    let _ = writeln!(
        out,
        "| op | shape (d_in×d_sae, k, batch) | arch | precision | optimizer | median | ours tokens/s | \
         PyTorch tokens/s | sparsify tokens/s | vs PyTorch | vs sparsify | peak heap | peak RSS |"
    );
    let _ = writeln!(
        out,
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        let (d_in, d_sae) = (r.shape.k, r.shape.n);
        let k = num(r, "k").map_or("–".to_string(), |k| format!("{k:.0}"));
        let _ = writeln!(
            out,
            "| {} | {d_in}×{d_sae}, k {k}, {} | {} | {} ({}) | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.op,
            r.shape.m,
            r.format,
            r.dtype,
            text(r, "precision"),
            text(r, "optimizer"),
            fmt_time(r.median_s),
            per_s(num(r, "tokens_per_s")),
            per_s(num(r, "torch_tokens_per_s")),
            per_s(num(r, "sparsify_tokens_per_s")),
            ratio(Some(r.speedup_vs_dense)),
            ratio(num(r, "speedup_vs_sparsify")),
            mib(num(r, "peak_heap_bytes")),
            mib(num(r, "peak_rss_bytes")),
        );
    }
    let _ = writeln!(
        out,
        "\nRandom normal activations; tokens/s = batch / median. PyTorch: the faster of a TopK SAE step \
         with a gather and with a dense decoder (Adam), or `(x − b_dec)·W_enc + b_enc` + top-k for \
         `encode`; sparsify: `SparseCoder` (its step with fvu + AuxK loss, or `encode`). The peers time \
         TopK only. Precision `auto` is bf16 on AMX tiles where the CPU has them (exact top-k). Goals: \
         ≥ 4× PyTorch and ≥ 2× sparsify tokens/s for the training step. Peak heap: one step's (or \
         encode's) high-water mark above the live heap before it; peak RSS: the process over the row.\n"
    );
}

/// The `attention` suite: each row's time beside burn's dense baseline and the Python peers
/// (ratios = their median / ours: > 1 means faster).
fn attention_table(rows: &[&Row], out: &mut String) {
    let num = |r: &Row, k: &str| r.extra.get(k).and_then(Value::as_f64);
    let time = |v: Option<f64>| v.map_or("–".to_string(), fmt_time);
    let ratio = |v: Option<f64>| match v {
        Some(v) if v > 0.0 && v.is_finite() => format!("{v:.2}×"),
        _ => "–".into(),
    };
    let _ = writeln!(
        out,
        "| op | shape | layout | sparsity | median | burn dense | vs burn dense | PyTorch | vs PyTorch | \
         entmax pkg | vs entmax pkg | max rel err |"
    );
    let _ = writeln!(
        out,
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        let shape = match (num(r, "batch"), num(r, "heads")) {
            (Some(b), Some(h)) => format!("B {b:.0} H {h:.0} L {} d {}", r.shape.m, r.shape.n),
            _ => format!("{}×{}", r.shape.m, r.shape.k),
        };
        let (torch_s, torch_x) = match num(r, "torch_sdpa_s") {
            Some(t) => (Some(t), num(r, "speedup_vs_torch_sdpa")),
            None => (
                num(r, "torch_softmax_s"),
                num(r, "speedup_vs_torch_softmax"),
            ),
        };
        let _ = writeln!(
            out,
            "| {} | {shape} | {} | {:.3} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.op,
            r.format,
            r.sparsity,
            fmt_time(r.median_s),
            if r.baseline_median_s > 0.0 {
                fmt_time(r.baseline_median_s)
            } else {
                "–".into()
            },
            ratio(Some(r.speedup_vs_dense)),
            time(torch_s),
            ratio(torch_x),
            time(num(r, "entmax_pkg_s")),
            ratio(num(r, "speedup_vs_entmax_pkg")),
            r.max_rel_err
                .map_or("–".to_string(), |e| format!("{e:.1e}")),
        );
    }
    let _ = writeln!(
        out,
        "\nNormalisers: `randn·3` logits, burn's `softmax` on the same device as the baseline; PyTorch \
         = `torch.softmax`, entmax pkg = the `entmax` package (its sparsemax / entmax15 / \
         entmax_bisect), sparsity = exact zeros of the output. Attention: PyTorch = dense SDPA; \
         `rand10` keeps a random 10 % of each head's 64×64 tiles plus the diagonal, \
         `window256+global64` a ±256 sliding window and 64 global tokens; sparsity = skipped \
         (query, key) pairs. Goals: normalisers ≥ 20× the package forward (≥ 10× fwd+bwd) and within \
         3× of softmax; block attention at 90 % ≥ 5× dense forward, ≥ 4× fwd+bwd. The plot \
         `report-attention.svg` shows time against L.\n"
    );
}

/// `report.md`: a header, one table per suite (rows = shape × format × sparsity), the peer
/// table when peers ran, and the notes.
pub fn render_markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# sparsekit bench report\n");
    let _ = writeln!(
        out,
        "- created: {} · commit: `{}`",
        report.created, report.git_commit
    );
    if !report.command.is_empty() {
        let _ = writeln!(out, "- command: `{}`", report.command);
    }
    let _ = writeln!(out, "- machine: {}", machine_line(&report.machine));
    let _ = writeln!(
        out,
        "- method: median of the timed samples after warm-up; the dense baseline is burn's dense `matmul` \
         of the same product on the same device and inputs, timed in the same run. Speedup = dense median / \
         sparse median; GFLOP/s counts useful work only (2·nnz·n / median).\n"
    );
    let software = report.results.iter().any(Row::is_software_adapter);
    for suite in suites_in_order(&report.results) {
        let rows = suite_rows(&report.results, &suite);
        let _ = writeln!(out, "## {suite}: {}\n", suite_title(&suite));
        if suite == "model" {
            model_table(&rows, &mut out);
            continue;
        }
        if suite == "sae" {
            sae_table(&rows, &mut out);
            continue;
        }
        if suite == "attention" {
            attention_table(&rows, &mut out);
            continue;
        }
        let _ = writeln!(
            out,
            "| shape (m×k×n) | format | dtype | sparsity | device | nnz | sparse median | dense median | speedup | GFLOP/s |"
        );
        let _ = writeln!(out, "|---|---|---|---:|---|---:|---:|---:|---:|---:|");
        for r in &rows {
            let mark = if r.is_software_adapter() { " †" } else { "" };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {}{mark} | {} | {} | {} | {:.2}× | {:.1} |",
                r.shape,
                r.format,
                r.dtype,
                r.sparsity,
                r.device,
                r.nnz,
                fmt_time(r.median_s),
                fmt_time(r.baseline_median_s),
                r.speedup_vs_dense,
                r.gflops_effective
            );
        }
        let _ = writeln!(out);
        for line in break_even(&rows) {
            let _ = writeln!(out, "{line}");
        }
        if let Some(line) = check_line(&rows) {
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(out);
        memory_table(&rows, &mut out);
    }
    if report.results.is_empty() {
        let _ = writeln!(out, "No results.\n");
    }
    if software {
        let _ = writeln!(
            out,
            "† software wgpu adapter (e.g. lavapipe): correctness only, excluded from every speed claim above.\n"
        );
    }
    if !report.peers.is_empty() {
        peer_table(report, &mut out);
    }
    half_table(report, &mut out);
    if !report.notes.is_empty() {
        let _ = writeln!(out, "## Notes\n");
        for n in &report.notes {
            let _ = writeln!(out, "- {n}");
        }
        let _ = writeln!(out);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn row(
        suite: &str,
        device: &str,
        sparsity: f64,
        median_s: f64,
        dense_s: f64,
    ) -> Row {
        let (m, k, n) = (4096, 4096, 64);
        let nnz = ((1.0 - sparsity) * (m * k) as f64).round() as usize;
        Row {
            suite: suite.into(),
            op: suite.into(),
            format: if device.contains("dense") {
                "dense".into()
            } else {
                "csr".into()
            },
            dtype: "f32".into(),
            device: device.into(),
            shape: Shape { m, k, n },
            sparsity,
            nnz,
            samples: 10,
            median_s,
            min_s: median_s * 0.9,
            max_s: median_s * 1.2,
            baseline: "dense_matmul".into(),
            baseline_median_s: dense_s,
            speedup_vs_dense: dense_s / median_s,
            gflops_effective: 2.0 * nnz as f64 * n as f64 / median_s / 1e9,
            software_adapter: None,
            max_rel_err: None,
            extra: serde_json::Map::new(),
        }
    }

    pub(crate) fn sample_report() -> Report {
        let mut sw = row("spmm", "wgpu:llvmpipe", 0.9, 0.5, 0.1);
        sw.software_adapter = Some(true);
        Report {
            schema: SCHEMA.into(),
            created: rfc3339_utc(1_767_225_600),
            git_commit: "abc123".into(),
            command: "cargo xtask bench --quick".into(),
            machine: json!({"cpu": "Test CPU", "cores": 2, "simd": ["avx2", "fma"], "os": "linux", "adapters": []}),
            results: vec![
                row("spmm", "flex", 0.98, 0.001, 0.020),
                row("spmm", "flex", 0.7, 0.030, 0.020),
                row("spmm", "flex", 0.9, 0.004, 0.021),
                sw,
                row("sddmm", "flex", 0.9, 0.005, 0.02),
            ],
            peers: vec![
                row("spmm", "peer:mkl_csr", 0.9, 0.002, 0.02),
                row("spmm", "peer:scipy_csr", 0.9, 0.008, 0.02),
                row("spmm", "peer:numpy_dense_sgemm", 0.9, 0.02, 0.02),
            ],
            notes: vec!["spmm: format bsr4x4 not yet implemented; no rows".into()],
        }
    }

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(1_767_225_600), "2026-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_827_696), "2000-02-29T12:34:56Z");
        let now = now_rfc3339();
        assert_eq!(now.len(), 20);
        assert!(now.ends_with('Z'));
    }

    #[test]
    fn report_json_has_the_schema_keys_and_round_trips() {
        let report = sample_report();
        let v = serde_json::to_value(&report).unwrap();
        for key in [
            "schema",
            "created",
            "git_commit",
            "machine",
            "results",
            "peers",
        ] {
            assert!(v.get(key).is_some(), "report lacks {key}");
        }
        assert_eq!(v["schema"], SCHEMA);
        for key in ["cpu", "cores", "simd", "os", "adapters"] {
            assert!(v["machine"].get(key).is_some(), "machine lacks {key}");
        }
        let r = &v["results"][0];
        for key in [
            "suite",
            "op",
            "format",
            "dtype",
            "device",
            "shape",
            "sparsity",
            "nnz",
            "samples",
            "median_s",
            "min_s",
            "max_s",
            "baseline",
            "baseline_median_s",
            "speedup_vs_dense",
            "gflops_effective",
        ] {
            assert!(r.get(key).is_some(), "row lacks {key}");
        }
        for key in ["m", "k", "n"] {
            assert!(r["shape"][key].is_u64());
        }
        assert!(r.get("extra").is_none(), "extras are flattened");
        assert_eq!(v["results"][3]["software_adapter"], json!(true));
        let back: Report = serde_json::from_value(v).unwrap();
        assert_eq!(back.results, report.results);
        assert_eq!(back.peers, report.peers);
    }

    #[test]
    fn markdown_of_a_fixed_row_set() {
        let md = render_markdown(&sample_report());
        assert!(md.contains("## spmm:"));
        assert!(md.contains("## sddmm:"));
        assert!(md.find("## spmm:").unwrap() < md.find("## sddmm:").unwrap());
        // Sorted by sparsity within a (shape, format, device) group.
        let (a, b, c) = (
            md.find("| 4096×4096×64 | csr | f32 | 0.7 | flex |")
                .unwrap(),
            md.find("| 4096×4096×64 | csr | f32 | 0.9 | flex |")
                .unwrap(),
            md.find("| 4096×4096×64 | csr | f32 | 0.98 | flex |")
                .unwrap(),
        );
        assert!(a < b && b < c);
        assert!(md.contains(
            "| 4096×4096×64 | csr | f32 | 0.9 | flex | 1677722 | 4.000 ms | 21.000 ms | 5.25× | 53.7 |"
        ));
        assert!(md.contains("faster than dense from sparsity 0.9"), "{md}");
        // Software adapter rows are marked and excluded from claims.
        assert!(md.contains("| wgpu:llvmpipe † |"));
        assert!(md.contains("correctness only"));
        assert!(!md.contains("on wgpu:llvmpipe:"));
        // Peer table with ratios.
        assert!(md.contains("sparsekit vs MKL csr"));
        assert!(md.contains("| 4096×4096×64 | 0.9 | 4.000 ms | 2.000 ms | 8.000 ms | 20.000 ms | 0.50× | 2.00× | 5.00× |"), "{md}");
        assert!(md.contains("bsr4x4 not yet implemented"));
    }

    #[test]
    fn markdown_shows_the_model_suite_against_pytorch() {
        let mut embed = row("model", "flex", 0.0, 6.0, 2.0);
        embed.op = "embed".into();
        embed.speedup_vs_dense = 2.0 / 6.0;
        embed.extra.insert("sentences_per_s".into(), json!(21.3));
        embed
            .extra
            .insert("torch_sentences_per_s".into(), json!(64.0));
        embed
            .extra
            .insert("peak_rss_bytes".into(), json!(260u64 << 20));
        let mut acts = row("model", "flex", 0.0, 8.0, 6.0);
        acts.op = "activations".into();
        acts.extra.insert("tokens_per_s".into(), json!(1193.0));
        let mut report = sample_report();
        report.results = vec![embed, acts];
        let md = render_markdown(&report);
        assert!(md.contains("## model:"), "{md}");
        assert!(md.contains("| 21.3 | 64.0 | 0.33× | 260 MiB |"), "{md}");
        assert!(md.contains("1193.0 tokens"), "{md}");
        assert!(!md.contains("not faster than dense"), "{md}");
    }

    #[test]
    fn markdown_shows_the_sae_suite_against_pytorch_and_sparsify() {
        let mut step = row("sae", "cpu", 1.0 - 32.0 / 24576.0, 0.5, 2.0);
        step.op = "train_step".into();
        step.format = "topk".into();
        step.dtype = "bf16-amx".into();
        step.shape = Shape {
            m: 4096,
            k: 768,
            n: 24576,
        };
        step.speedup_vs_dense = 4.0;
        for (k, v) in [
            ("k", json!(32)),
            ("precision", json!("auto")),
            ("optimizer", json!("adam")),
            ("tokens_per_s", json!(8192.0)),
            ("torch_tokens_per_s", json!(2048.0)),
            ("sparsify_tokens_per_s", json!(4096.0)),
            ("speedup_vs_sparsify", json!(2.0)),
            ("peak_heap_bytes", json!(64u64 << 20)),
        ] {
            step.extra.insert(k.into(), v);
        }
        let mut jump = step.clone();
        jump.format = "jumprelu".into();
        jump.dtype = "f32".into();
        jump.speedup_vs_dense = 0.0;
        jump.extra
            .retain(|k, _| !k.contains("torch") && !k.contains("sparsify"));
        let mut report = sample_report();
        report.results = vec![step, jump];
        let md = render_markdown(&report);
        assert!(md.contains("## sae:"), "{md}");
        assert!(
            md.contains("| train_step | 768×24576, k 32, 4096 | topk | bf16-amx (auto) | adam | 500.000 ms | 8192 | 2048 | 4096 | 4.00× | 2.00× | 64 MiB | – |"),
            "{md}"
        );
        assert!(
            md.contains("| jumprelu | f32 (auto) | adam | 500.000 ms | 8192 | – | – | – | – |"),
            "{md}"
        );
        assert!(!md.contains("not faster than dense"), "{md}");
    }

    #[test]
    fn markdown_shows_train_memory_beside_dense() {
        let mut r = sample_report();
        let mut row = r.results[0].clone();
        row.suite = "train".into();
        row.op = "linear_step".into();
        for (k, v) in [
            ("state_bytes", 10u64 << 20),
            ("baseline_state_bytes", 200 << 20),
            ("peak_bytes", 20 << 20),
            ("baseline_peak_bytes", 330 << 20),
        ] {
            row.extra.insert(k.into(), json!(v));
        }
        r.results.push(row);
        let md = render_markdown(&r);
        assert!(md.contains("## train:"), "{md}");
        assert!(
            md.contains("| 10.0 MiB | 200.0 MiB | 20.0× smaller | 20.0 MiB | 330.0 MiB |"),
            "{md}"
        );
        // Suites without memory figures get no memory table.
        assert_eq!(md.matches("sparse state").count(), 1);
    }

    #[test]
    fn markdown_reports_the_correctness_check() {
        let mut r = sample_report();
        r.results[0].max_rel_err = Some(3e-7);
        r.results[1].max_rel_err = Some(1e-6);
        let md = render_markdown(&r);
        assert!(
            md.contains("max relative error f32 1.0e-6 over 2 rows"),
            "{md}"
        );
        // A bf16 row is held to its dtype's bound (1e-2), an f32 row to 1e-4.
        r.results[1].dtype = "bf16".into();
        r.results[1].max_rel_err = Some(5e-3);
        let md = render_markdown(&r);
        assert!(!md.contains("WARNING"), "{md}");
        assert!(md.contains("bf16 5.0e-3, f32 3.0e-7"), "{md}");
        r.results[1].max_rel_err = Some(0.5);
        assert!(render_markdown(&r).contains("WARNING"));
        r.results[1].max_rel_err = Some(1e-6);
        r.results[0].max_rel_err = Some(5e-3);
        assert!(
            render_markdown(&r).contains("WARNING"),
            "an f32 row at 5e-3 is suspect"
        );
    }

    #[test]
    fn markdown_shows_half_precision_against_f32_and_peers() {
        let mut r = sample_report();
        let mut half = r.results[2].clone();
        half.dtype = "bf16".into();
        half.median_s = 0.002;
        r.results.push(half);
        let mut torch = r.peers[0].clone();
        torch.device = "peer:torch_dense_mm_bf16".into();
        torch.dtype = "bf16".into();
        torch.median_s = 0.006;
        r.peers.push(torch);
        let md = render_markdown(&r);
        assert!(md.contains("## Half precision"), "{md}");
        // bf16 2 ms against our f32 4 ms (2×), MKL 2 ms (1×), torch bf16 dense 6 ms (3×).
        assert!(md.contains("| 2.00× | 1.00× | 3.00× |"), "{md}");
        r.results.retain(|x| x.dtype == "f32");
        assert!(!render_markdown(&r).contains("## Half precision"));
    }

    #[test]
    fn markdown_without_peers_or_rows() {
        let mut r = sample_report();
        r.peers.clear();
        assert!(!render_markdown(&r).contains("## Peers"));
        r.results.clear();
        assert!(render_markdown(&r).contains("No results."));
    }
}
