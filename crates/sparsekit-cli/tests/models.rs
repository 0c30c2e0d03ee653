//! `embed`, `activations` and `eval` end to end on the tiny random BERT fixture of
//! sparsekit-models (fast: no download), against its PyTorch reference.
#![cfg(feature = "models")]

mod common;

use std::path::PathBuf;

use common::{assert_clean_error, p, sparsekit, stderr, stdout};
use safetensors::SafeTensors;
use sparsekit_data::shards::{ShardReader, Shuffle};
use sparsekit_formats::io::npy::read_npy_dense;

fn tiny() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sparsekit-models/tests/fixtures/tiny-bert")
}

/// The reference array `name` of the fixture, as f32.
fn reference(name: &str) -> (Vec<f32>, Vec<usize>) {
    let bytes = std::fs::read(tiny().join("reference.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor(name).unwrap();
    let v = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (v, t.shape().to_vec())
}

#[test]
fn embed_writes_the_reference_embeddings() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("emb.npy");
    for device in ["flex", "ndarray"] {
        let o = sparsekit(&[
            "embed",
            "--model",
            p(&tiny()),
            "--input",
            p(&tiny().join("texts.txt")),
            "--output",
            p(&out),
            "--batch",
            "2",
            "--device",
            device,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stderr(&o).contains("embedded 5 texts"), "{}", stderr(&o));
        let (got, n, d) = read_npy_dense::<f32>(&out).unwrap();
        let (want, shape) = reference("embeddings");
        assert_eq!(vec![n, d], shape);
        let max = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(max <= 1e-5, "{device}: max|Δ| {max}");
    }
}

#[test]
fn embed_errors_are_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("t.txt");
    std::fs::write(&input, "one\n\nthree\n").unwrap();
    let out = tmp.path().join("e.npy");
    let args = |model: &str| {
        vec![
            "embed".to_string(),
            "--model".into(),
            model.into(),
            "--input".into(),
            p(&input).into(),
            "--output".into(),
            p(&out).into(),
        ]
    };
    let run = |a: Vec<String>| sparsekit(&a.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    assert_clean_error(&run(args(p(&tiny()))), &["line 2 is empty"]);
    std::fs::write(&input, "one\n").unwrap();
    assert_clean_error(
        &run(args(p(&tmp.path().join("no-model")))),
        &["no-model", "sparsekit fetch minilm"],
    );
    let o = sparsekit(&["embed", "--input", "x", "--output", "y", "--device", "tpu"]);
    assert_eq!(o.status.code(), Some(2), "usage error: {}", stderr(&o));
}

#[test]
fn activations_stream_the_reference_rows_into_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("acts");
    let o = sparsekit(&[
        "activations",
        "--model",
        p(&tiny()),
        "--input",
        p(&tiny().join("texts.txt")),
        "--layer",
        "1",
        "--site",
        "mlp_hidden",
        "--output",
        p(&out),
        "--shard-tokens",
        "10",
        "--batch",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let reader = ShardReader::open(&out).unwrap();
    let m = reader.manifest();
    let (want, shape) = reference("layer1.mlp_hidden");
    let (lengths, _) = reference("lengths");
    let _ = lengths; // i64 in the file: read below through the ids instead
    let (s, w) = (shape[1], shape[2]);
    assert_eq!(m.d, w);
    assert_eq!(m.texts, 5);
    assert_eq!(m.meta["site"], "mlp_hidden");
    assert_eq!(m.meta["layer"], "1");
    assert_eq!(m.shards.len(), m.tokens.div_ceil(10));
    // In order: text by text, position by position, the reference's unpadded rows.
    let mut rows = Vec::new();
    let mut texts = Vec::new();
    for b in reader.batches(7, Shuffle::None) {
        let b = b.unwrap();
        rows.extend(b.activations);
        texts.extend(b.text_index);
    }
    assert_eq!(rows.len(), m.tokens * w);
    let mut k = 0;
    for t in 0..5u64 {
        let n = texts.iter().filter(|&&x| x == t).count();
        for pos in 0..n {
            let r = &rows[k * w..(k + 1) * w];
            let e = &want[(t as usize * s + pos) * w..(t as usize * s + pos + 1) * w];
            let max = r
                .iter()
                .zip(e)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(max < 2e-5, "text {t} position {pos}: max|Δ| {max}");
            k += 1;
        }
    }
    assert_eq!(k, m.tokens);

    // --max-tokens cuts the stream; a second capture into the same directory is refused.
    let o = sparsekit(&[
        "activations",
        "--model",
        p(&tiny()),
        "--input",
        p(&tiny().join("texts.txt")),
        "--layer",
        "0",
        "--site",
        "resid_pre",
        "--output",
        p(&tmp.path().join("cut")),
        "--max-tokens",
        "11",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        ShardReader::open(&tmp.path().join("cut"))
            .unwrap()
            .manifest()
            .tokens,
        11
    );
    let again = sparsekit(&[
        "activations",
        "--model",
        p(&tiny()),
        "--input",
        p(&tiny().join("texts.txt")),
        "--layer",
        "0",
        "--site",
        "resid_pre",
        "--output",
        p(&tmp.path().join("cut")),
    ]);
    assert_clean_error(&again, &["cut"]);
    let bad = sparsekit(&[
        "activations",
        "--model",
        p(&tiny()),
        "--input",
        p(&tiny().join("texts.txt")),
        "--layer",
        "2",
        "--site",
        "resid_pre",
        "--output",
        p(&tmp.path().join("x")),
    ]);
    assert_clean_error(&bad, &["layer 2 does not exist"]);
    let o = sparsekit(&[
        "activations",
        "--input",
        "t",
        "--layer",
        "0",
        "--site",
        "mlp",
        "--output",
        "x",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("resid_pre"), "{}", stderr(&o));
}

#[test]
fn eval_prints_one_json_object() {
    // A small corpus in the format `sparsekit fetch debian-text` writes.
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("descriptions.jsonl");
    let mut lines = Vec::new();
    let words = ["cat", "dog", "data", "sparse", "world", "mat"];
    for i in 0..24 {
        let split = match i % 4 {
            0 => "test",
            1 => "valid",
            _ => "train",
        };
        let (a, b) = (words[i % 6], words[(i / 6) % 6]);
        lines.push(
            serde_json::json!({
                "package": format!("pkg{i:02}"),
                "section": if i % 2 == 0 { "utils" } else { "net" },
                "synopsis": format!("{a} and {b}"),
                "description": format!("the {a} sat on the {b} and {a} is small"),
                "split": split,
            })
            .to_string(),
        );
    }
    std::fs::write(&corpus, lines.join("\n") + "\n").unwrap();
    for (task, keys) in [
        (
            "debian-retrieval",
            &["mrr_at_10", "recall_at_10", "queries"][..],
        ),
        (
            "debian-sections",
            &["accuracy", "majority_baseline", "classes"][..],
        ),
    ] {
        let o = sparsekit(&[
            "eval",
            "--model",
            p(&tiny()),
            "--task",
            task,
            "--corpus",
            p(&corpus),
        ]);
        assert!(o.status.success(), "{task}: {}", stderr(&o));
        let out = stdout(&o);
        assert_eq!(out.lines().count(), 1, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["task"], task);
        for k in keys {
            assert!(v[k].is_number(), "{task}: {k} in {v}");
        }
    }
    let o = sparsekit(&[
        "eval",
        "--model",
        p(&tiny()),
        "--task",
        "debian-retrieval",
        "--corpus",
        "/nonexistent.jsonl",
    ]);
    assert_clean_error(&o, &["nonexistent.jsonl", "sparsekit fetch debian-text"]);
}

/// A copy of the tiny fixture with its encoder weights pruned by `prune_args` (through
/// `sparsekit prune` on the checkpoint).
fn pruned_tiny(dir: &std::path::Path, prune_args: &[&str]) {
    std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
    for entry in std::fs::read_dir(tiny()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() && entry.file_name() != "model.safetensors" {
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
    }
    std::fs::copy(
        tiny().join("1_Pooling/config.json"),
        dir.join("1_Pooling/config.json"),
    )
    .unwrap();
    let src = tiny().join("model.safetensors");
    let dst = dir.join("model.safetensors");
    let mut args = vec![
        "prune",
        p(&src),
        p(&dst),
        "--include",
        "encoder.**.weight",
        "--exclude",
        "**.LayerNorm.weight",
    ];
    args.extend_from_slice(prune_args);
    let o = sparsekit(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn embed_sparse_equals_embed_on_a_pruned_model() {
    let tmp = tempfile::tempdir().unwrap();
    let texts = tiny().join("texts.txt");
    for (name, prune_args, storage) in [
        ("2of4", &["--pattern", "2:4"][..], "12 2:4"),
        ("70", &["--sparsity", "0.7"][..], "12 csr"),
    ] {
        let model = tmp.path().join(name);
        pruned_tiny(&model, prune_args);
        let run = |sparse: bool| {
            let out = tmp.path().join(format!("{name}-{sparse}.npy"));
            let mut args = vec![
                "embed",
                "--model",
                p(&model),
                "--input",
                p(&texts),
                "--output",
                p(&out),
                "--batch",
                "2",
            ];
            if sparse {
                args.push("--sparse");
            }
            let o = sparsekit(&args);
            assert!(o.status.success(), "{}", stderr(&o));
            (read_npy_dense::<f32>(&out).unwrap().0, stderr(&o))
        };
        let (dense, _) = run(false);
        let (sparse, log) = run(true);
        assert!(log.contains(storage), "{name}: {log}");
        assert!(
            log.contains("encoder.layer.0.attention.self.query"),
            "{log}"
        );
        for (a, b) in dense.chunks(32).zip(sparse.chunks(32)) {
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let (na, nb): (f32, f32) = (
                a.iter().map(|x| x * x).sum::<f32>().sqrt(),
                b.iter().map(|x| x * x).sum::<f32>().sqrt(),
            );
            assert!(
                dot / (na * nb) >= 0.99999,
                "{name}: cosine {}",
                dot / (na * nb)
            );
        }
    }
}
