//! The runner binary end to end on a tiny problem (2 samples: a smoke test, not a benchmark).

use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_sparsekit-bench");

#[test]
fn run_emits_one_valid_row_per_suite_and_device() {
    let out = std::env::temp_dir().join(format!(
        "sparsekit-bench-smoke-{}.jsonl",
        std::process::id()
    ));
    let st = Command::new(BIN)
        .args([
            "run",
            "--suite",
            "spmm,spmm_t,sddmm",
            "--samples",
            "2",
            "--shape",
            "64,48,16",
            "--sparsity",
            "0.9",
        ])
        .args(["--devices", "flex,ndarray,wgpu", "--out"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let text = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let notes: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.get("note").and_then(Value::as_str))
        .collect();
    let rows: Vec<&Value> = lines
        .iter()
        .filter(|l| l.get("note").is_none() && l["format"] == "csr" && l["dtype"] == "f32")
        .collect();
    // Half precision: csr bf16 and f16 spmm rows on flex (ndarray has no half tensors: a note).
    for dt in ["bf16", "f16"] {
        let half: Vec<&Value> = lines
            .iter()
            .filter(|l| l.get("note").is_none() && l["format"] == "csr" && l["dtype"] == dt)
            .collect();
        assert_eq!(half.len(), 1, "{dt}: {half:?}");
        assert_eq!(half[0]["device"], "flex");
        assert_eq!(half[0]["suite"], "spmm");
        let err = half[0]["max_rel_err"].as_f64().unwrap();
        assert!(err < if dt == "bf16" { 1e-2 } else { 2e-3 }, "{dt}: {err}");
    }
    // One note per wgpu adapter (CSR only), or one saying there is none.
    let mut adapters: Vec<&str> = rows
        .iter()
        .filter_map(|r| r["device"].as_str())
        .filter(|d| d.starts_with("wgpu:"))
        .collect();
    adapters.sort_unstable();
    adapters.dedup();
    assert_eq!(
        notes.iter().filter(|n| n.contains("wgpu")).count(),
        adapters.len().max(1),
        "one note per wgpu adapter: {notes:?}"
    );
    assert!(
        notes.iter().all(|n| n.contains("wgpu")
            || n.contains("not yet implemented")
            || n.contains("no f16 / bf16 tensors")
            || n.contains("half precision is timed on the CPU kernels only")),
        "{notes:?}"
    );
    // 3 suites × (flex, ndarray, each wgpu adapter)
    assert_eq!(rows.len(), 3 * (2 + adapters.len()), "{rows:?}");
    for r in rows {
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
            assert!(r.get(key).is_some(), "row lacks {key}: {r}");
        }
        assert_eq!(r["nnz"], 307); // round(0.1 · 64 · 48)
        assert_eq!(r["samples"], 2);
        assert!(r["median_s"].as_f64().unwrap() > 0.0);
        assert!(r["min_s"].as_f64().unwrap() <= r["max_s"].as_f64().unwrap());
        if r["device"].as_str().unwrap().starts_with("wgpu:") {
            assert!(
                r["software_adapter"].is_boolean(),
                "wgpu row lacks software_adapter: {r}"
            );
        }
        let err = r["max_rel_err"].as_f64().unwrap();
        assert!(err < 1e-4, "sparse and dense results differ: {r}");
    }
}

#[test]
fn machine_json_has_the_schema_keys() {
    let out = Command::new(BIN)
        .args(["machine", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["cpu", "cores", "simd", "os", "adapters"] {
        assert!(v.get(key).is_some(), "machine lacks {key}: {v}");
    }
}

#[test]
fn bad_arguments_fail_cleanly() {
    let out = Command::new(BIN)
        .args(["run", "--suite", "gemm"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = Command::new(BIN)
        .args(["run", "--sparsity", "1.5", "--shape", "8,8,8"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn sae_suite_emits_every_variant_and_notes_missing_peers() {
    let out = std::env::temp_dir().join(format!(
        "sparsekit-bench-sae-smoke-{}.jsonl",
        std::process::id()
    ));
    let st = Command::new(BIN)
        .args(["run", "--suite", "sae", "--samples", "2"])
        .args(["--sae-shape", "16,128,4,32", "--out"])
        .arg(&out)
        // No peers: a note, and rows without a baseline.
        .env("PEERS_PY", "/nonexistent/python")
        .status()
        .unwrap();
    assert!(st.success());
    let text = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rows: Vec<&Value> = lines.iter().filter(|l| l.get("note").is_none()).collect();
    let notes: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.get("note").and_then(Value::as_str))
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("sae_peers_encode.py")),
        "{notes:?}"
    );
    let ops: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["op"].as_str().unwrap().to_string(),
                r["format"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // TopK Auto / F32 / LazyAdam, BatchTopK, JumpReLU; encode Auto / F32.
    assert_eq!(ops.len(), 7, "{ops:?}");
    for arch in ["topk", "batchtopk", "jumprelu"] {
        assert!(
            ops.iter().any(|(o, a)| o == "train_step" && a == arch),
            "{ops:?}"
        );
    }
    assert_eq!(ops.iter().filter(|(o, _)| o == "encode").count(), 2);
    for r in rows {
        assert_eq!(r["suite"], "sae");
        assert_eq!(r["speedup_vs_dense"], 0.0, "no peers, no ratio: {r}");
        assert!(r["median_s"].as_f64().unwrap() > 0.0);
        for key in ["tokens_per_s", "encoder_path", "threads", "peak_heap_bytes"] {
            assert!(r.get(key).is_some(), "{key}: {r}");
        }
        assert!(["f32", "bf16-amx", "bf16"].contains(&r["dtype"].as_str().unwrap()));
    }
}
