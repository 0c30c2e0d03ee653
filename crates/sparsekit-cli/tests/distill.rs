//! `sparsekit distill` end to end on the tiny random BERT fixture of sparsekit-models: prune it
//! with `sparsekit prune`, distil it back toward the dense fixture on a small corpus.
#![cfg(feature = "models")]

mod common;

use std::path::{Path, PathBuf};

use common::{assert_clean_error, p, sparsekit, stderr, stdout};
use safetensors::SafeTensors;

fn tiny() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sparsekit-models/tests/fixtures/tiny-bert")
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), to).unwrap();
        }
    }
}

/// A small corpus in the format `sparsekit fetch debian-text` writes.
fn corpus(path: &Path) {
    let words = [
        "cat", "dog", "data", "sparse", "world", "mat", "network", "small",
    ];
    let lines: Vec<String> = (0..64)
        .map(|i| {
            let split = match i % 4 {
                0 => "test",
                1 => "valid",
                _ => "train",
            };
            let (a, b) = (words[i % 8], words[(i / 8) % 8]);
            serde_json::json!({
                "package": format!("pkg{i:02}"),
                "section": "utils",
                "synopsis": format!("{a} and {b}"),
                "description": format!("the {a} sat on the {b} and {a} is small , hello {b}"),
                "split": split,
            })
            .to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// Every tensor of a safetensors file: name → f32 values (F32 tensors only).
fn f32_tensors(path: &Path) -> Vec<(String, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut v: Vec<(String, Vec<f32>)> = st
        .tensors()
        .into_iter()
        .filter(|(_, t)| t.dtype() == safetensors::Dtype::F32)
        .map(|(n, t)| {
            let vals = t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            (n, vals)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn distill_writes_a_model_directory_and_its_record() {
    let tmp = tempfile::tempdir().unwrap();
    let pruned = tmp.path().join("pruned");
    copy_dir(&tiny(), &pruned);
    let o = sparsekit(&[
        "prune",
        p(&tiny().join("model.safetensors")),
        p(&pruned.join("model.safetensors")),
        "--sparsity",
        "0.7",
        "--include",
        "encoder.layer.*.**",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let corpus_path = tmp.path().join("descriptions.jsonl");
    corpus(&corpus_path);
    let out = tmp.path().join("distilled");
    let o = sparsekit(&[
        "distill",
        "--teacher",
        p(&tiny()),
        "--student",
        p(&pruned),
        "--output",
        p(&out),
        "--steps",
        "30",
        "--batch",
        "4",
        "--lr",
        "3e-3",
        "--eval-every",
        "10",
        "--valid",
        "16",
        "--corpus",
        p(&corpus_path),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let line = stdout(&o);
    assert_eq!(line.lines().count(), 1, "{line}");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let (before, after) = (
        v["valid_cosine_before"].as_f64().unwrap(),
        v["valid_cosine_after"].as_f64().unwrap(),
    );
    assert!(after > before, "cosine {before} → {after}");

    // The record.
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("distill.json")).unwrap()).unwrap();
    assert!(rec["command"].as_str().unwrap().contains("distill"));
    assert_eq!(rec["report"]["config"]["steps"], 30);
    assert_eq!(rec["report"]["config"]["loss"], "cosine");
    assert_eq!(rec["report"]["evals"].as_array().unwrap().len(), 4);
    assert_eq!(rec["report"]["losses"].as_array().unwrap().len(), 30);
    assert!(rec["wall_seconds"].as_f64().unwrap() > 0.0);

    // The directory: every file, same tensors, zeros exactly where the student had them.
    for f in [
        "config.json",
        "tokenizer.json",
        "modules.json",
        "1_Pooling/config.json",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let a = f32_tensors(&pruned.join("model.safetensors"));
    let b = f32_tensors(&out.join("model.safetensors"));
    assert_eq!(
        a.iter().map(|t| &t.0).collect::<Vec<_>>(),
        b.iter().map(|t| &t.0).collect::<Vec<_>>()
    );
    let mut trained = 0;
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        let zx: Vec<bool> = x.iter().map(|&v| v == 0.0).collect();
        let zy: Vec<bool> = y.iter().map(|&v| v == 0.0).collect();
        assert_eq!(zx, zy, "{name}: the zeros moved");
        trained += usize::from(x != y);
    }
    assert_eq!(
        trained, 12,
        "the 12 pruned projection weights train, nothing else"
    );
    // The output embeds.
    let o = sparsekit(&[
        "embed",
        "--model",
        p(&out),
        "--input",
        p(&tiny().join("texts.txt")),
        "--output",
        p(&tmp.path().join("e.npy")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn distill_refuses_bad_input_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus_path = tmp.path().join("descriptions.jsonl");
    corpus(&corpus_path);
    let out = tmp.path().join("out");
    let run = |teacher: &Path, student: &Path, extra: &[&str]| {
        let mut args = vec![
            "distill",
            "--teacher",
            p(teacher),
            "--student",
            p(student),
            "--output",
            p(&out),
            "--corpus",
            p(&corpus_path),
        ];
        args.extend_from_slice(extra);
        sparsekit(&args)
    };
    let missing = tmp.path().join("missing");
    assert_clean_error(&run(&missing, &tiny(), &[]), &["teacher", "missing"]);
    assert_clean_error(&run(&tiny(), &missing, &[]), &["student", "missing"]);
    assert_clean_error(&run(&tiny(), &tiny(), &["--steps", "0"]), &["steps"]);
    assert_clean_error(&run(&tiny(), &tiny(), &["--lr", "0"]), &["learning rate"]);
    // The dense model as its own student: nothing to train.
    assert_clean_error(&run(&tiny(), &tiny(), &[]), &["no pruned projection"]);
    assert!(!out.exists());
    let o = run(&tiny(), &tiny(), &["--loss", "l1"]);
    assert_eq!(o.status.code(), Some(2));
}
