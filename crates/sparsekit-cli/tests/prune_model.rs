//! `sparsekit prune --model` end to end on the tiny random BERT fixture of sparsekit-models:
//! every method prunes every encoder linear layer to its target and pattern, the output is a
//! complete model directory with `sparsity.json`, and sentence-transformers loads it unchanged
//! and computes the same embeddings as `sparsekit embed` (through the project's Python; the
//! test fails in CI without it).
#![cfg(feature = "models")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_clean_error, p, sparsekit, stderr};
use safetensors::SafeTensors;
use sparsekit_formats::io::npy::read_npy_dense;
use sparsekit_formats::io::safetensors::floats;
use sparsekit_formats::sparsity::is_nm;
use sparsekit_formats::Mask;

fn tiny() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sparsekit-models/tests/fixtures/tiny-bert")
}

fn prune(out: &Path, extra: &[&str]) {
    let (dir, texts) = (tiny(), tiny().join("texts.txt"));
    let mut args = vec![
        "prune",
        "--model",
        p(&dir),
        "--output",
        p(out),
        "--calib",
        p(&texts),
    ];
    args.extend_from_slice(extra);
    let o = sparsekit(&args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
}

/// `(name, [rows, cols], values)` of every encoder linear weight of a model directory.
fn linear_weights(dir: &Path) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<_> = st
        .tensors()
        .into_iter()
        .filter(|(n, t)| {
            n.starts_with("encoder.") && !n.contains("LayerNorm") && t.shape().len() == 2
        })
        .map(|(n, t)| {
            let v = floats::<f32>(t.dtype(), t.data(), &n).unwrap();
            (n, t.shape().to_vec(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_method_writes_a_pruned_model_directory() {
    let tmp = tempfile::tempdir().unwrap();
    for method in ["magnitude", "wanda", "sparsegpt", "dsnot"] {
        for (target, args) in [
            ("50%", vec!["--sparsity", "0.5"]),
            ("2:4", vec!["--pattern", "2:4"]),
        ] {
            let out = tmp
                .path()
                .join(format!("{method}-{}", target.replace(['%', ':'], "_")));
            let mut a = vec!["--method", method];
            a.extend(args);
            prune(&out, &a);
            let weights = linear_weights(&out);
            assert_eq!(weights.len(), 12, "{method}");
            for (n, shape, v) in &weights {
                let keep: Vec<bool> = v.iter().map(|x| *x != 0.0).collect();
                let zeros = keep.iter().filter(|k| !**k).count();
                assert_eq!(zeros * 2, v.len(), "{method} {target} {n}");
                if target == "2:4" {
                    let mask = Mask::from_bools(&keep, shape[0], shape[1]).unwrap();
                    assert!(is_nm(&mask, 2, 4), "{method} {n}");
                }
            }
            let json: serde_json::Value =
                serde_json::from_slice(&std::fs::read(out.join("sparsity.json")).unwrap()).unwrap();
            assert_eq!(json["method"], method);
            assert_eq!(json["tensors"].as_array().unwrap().len(), 12);
            assert!((json["sparsity"].as_f64().unwrap() - 0.5).abs() < 1e-9);
            assert!(json["command"].as_str().unwrap().contains("prune --model"));
            for t in json["tensors"].as_array().unwrap() {
                assert!((t["sparsity"].as_f64().unwrap() - 0.5).abs() < 1e-9, "{t}");
            }
            // The other files are copied byte for byte.
            for f in [
                "config.json",
                "tokenizer.json",
                "modules.json",
                "1_Pooling/config.json",
            ] {
                assert_eq!(
                    std::fs::read(tiny().join(f)).unwrap(),
                    std::fs::read(out.join(f)).unwrap(),
                    "{f}"
                );
            }
        }
    }
}

#[test]
fn owl_and_selection() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("owl");
    prune(
        &out,
        &[
            "--method",
            "wanda",
            "--sparsity",
            "0.6",
            "--allocation",
            "owl",
            "--owl-lambda",
            "0.1",
            "--owl-m",
            "3",
        ],
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("sparsity.json")).unwrap()).unwrap();
    let s: Vec<f64> = json["layer_sparsities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(s.len(), 2);
    assert!(((s[0] + s[1]) / 2.0 - 0.6).abs() < 1e-12);
    let out = tmp.path().join("ffn");
    prune(
        &out,
        &["--method", "magnitude", "--exclude", "**.attention.**"],
    );
    for (n, _, v) in linear_weights(&out) {
        let zeros = v.iter().filter(|x| **x == 0.0).count();
        assert_eq!(zeros > 0, !n.contains(".attention."), "{n}");
    }
}

#[test]
fn model_mode_errors_are_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x");
    for (args, needle) in [
        (vec!["--method", "random"], "checkpoints"),
        (vec!["--pattern", "2:4", "--allocation", "erk"], "uniform"),
        (vec!["--include", "embeddings.**"], "no projection"),
        (
            vec!["--calib", "/nonexistent/texts.txt", "--method", "wanda"],
            "nonexistent",
        ),
        (
            vec!["--calib-samples", "0", "--method", "wanda"],
            "calib-samples",
        ),
    ] {
        let dir = tiny();
        let mut all = vec!["prune", "--model", p(&dir), "--output", p(&out)];
        all.extend(args);
        let o = sparsekit(&all);
        assert_clean_error(&o, &[needle]);
    }
    let o = sparsekit(&[
        "prune",
        "--model",
        p(&tmp.path().join("missing")),
        "--output",
        p(&out),
    ]);
    assert_clean_error(&o, &["missing"]);
}

/// sentence-transformers loads the pruned directory unchanged and embeds like we do.
#[test]
fn sentence_transformers_loads_the_pruned_directory() {
    let Some(py) = sparsekit_testenv::python(&["sentence_transformers"]) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sgpt");
    prune(&out, &["--method", "sparsegpt", "--pattern", "2:4"]);
    let ours = tmp.path().join("ours.npy");
    let o = sparsekit(&[
        "embed",
        "--model",
        p(&out),
        "--input",
        p(&tiny().join("texts.txt")),
        "--output",
        p(&ours),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let theirs = tmp.path().join("theirs.npy");
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/minilm_reference.py");
    let o = Command::new(py)
        .args([
            p(&script),
            "--model",
            p(&out),
            "--input",
            p(&tiny().join("texts.txt")),
            "--output",
            p(&theirs),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (a, n, d) = read_npy_dense::<f32>(&ours).unwrap();
    let (b, n2, d2) = read_npy_dense::<f32>(&theirs).unwrap();
    assert_eq!((n, d), (n2, d2));
    let max = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(max <= 1e-5, "max |Δ| {max}");
}
