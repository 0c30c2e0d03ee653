//! `sparsekit sae train` / `sae eval` end to end on synthetic shards (planted dictionary):
//! output files, metrics log, resume bit for bit, evaluation JSON, clear errors.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{assert_clean_error, p, sparsekit, stdout};
use sparsekit_data::shards::ShardWriter;
use sparsekit_sae::synthetic::PlantedDictionary;

/// `tokens` rows of a 16-wide planted dictionary in shards of 1000 rows, 50 tokens per text.
fn shards(dir: &Path, d: usize, tokens: usize, seed: u64) {
    let planted = PlantedDictionary::new(d, 32, 3, 0.5, 0.01, 1).unwrap();
    let x = planted.sample(tokens, seed);
    let mut w = ShardWriter::create(dir, d, 1000, BTreeMap::new()).unwrap();
    for (t, chunk) in x.chunks(50 * d).enumerate() {
        let n = chunk.len() / d;
        let ids: Vec<u32> = (0..n as u32).map(|i| i + t as u32).collect();
        let pos: Vec<u32> = (0..n as u32).collect();
        w.push_text(chunk, &ids, &pos).unwrap();
    }
    w.finish().unwrap();
}

fn train(acts: &Path, out: &Path, tokens: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "sae",
        "train",
        "--activations",
        p(acts),
        "--output",
        p(out),
        "--k",
        "3",
        "--expansion",
        "4",
        "--batch",
        "256",
        "--tokens",
        tokens,
        "--lr",
        "0.005",
        "--checkpoint-every",
        "2",
        "--shuffle-buffer",
        "500",
        "--seed",
        "7",
    ];
    args.extend_from_slice(extra);
    sparsekit(&args)
}

#[test]
fn train_writes_a_saelens_directory_metrics_and_a_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let (acts, out) = (tmp.path().join("acts"), tmp.path().join("sae"));
    shards(&acts, 16, 3000, 1);
    let o = train(&acts, &out, "2560", &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(summary["steps"], 10);
    assert_eq!(summary["d_sae"], 64);
    for f in [
        "cfg.json",
        "sae_weights.safetensors",
        "sparsity.safetensors",
        "run.json",
        "checkpoint/state.json",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let log = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 10);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["step"], i as u64 + 1);
        for key in ["fvu", "l0", "dead_fraction", "aux_loss", "tokens_per_s"] {
            assert!(l[key].is_number(), "{key} in {l}");
        }
    }
    // Training reduced the reconstruction error.
    assert!(lines[9]["fvu"].as_f64().unwrap() < lines[0]["fvu"].as_f64().unwrap());

    // Evaluation: one JSON object.
    let o = sparsekit(&["sae", "eval", "--sae", p(&out), "--activations", p(&acts)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ev: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(ev["tokens"], 3000);
    let fvu = ev["fvu"].as_f64().unwrap();
    assert!(fvu > 0.0 && fvu < 1.0, "{ev}");
    let l0 = ev["l0"].as_f64().unwrap();
    assert!(l0 > 0.0 && l0 <= 3.0, "{ev}");
    assert!(ev["dead_fraction"].is_number());
    assert!(ev["log_density_histogram"].is_array());
}

#[test]
fn resume_continues_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let acts = tmp.path().join("acts");
    shards(&acts, 16, 3000, 2);
    // Straight: 12 steps (over a pass boundary: 11 whole batches per pass).
    let straight = tmp.path().join("straight");
    assert!(train(&acts, &straight, "3072", &[]).status.success());
    // Interrupted after 5 steps, then resumed to 12.
    let split = tmp.path().join("split");
    assert!(train(&acts, &split, "1280", &[]).status.success());
    let o = train(&acts, &split, "3072", &["--resume"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let read = |d: &Path, f: &str| std::fs::read(d.join(f)).unwrap();
    assert_eq!(
        read(&straight, "sae_weights.safetensors"),
        read(&split, "sae_weights.safetensors")
    );
    assert_eq!(
        read(&straight, "checkpoint/state.safetensors"),
        read(&split, "checkpoint/state.safetensors")
    );
    // The log is the same apart from the timing column.
    let strip = |d: &Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(d.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("tokens_per_s");
                v
            })
            .collect()
    };
    assert_eq!(strip(&straight), strip(&split));
}

#[test]
fn wrong_width_bad_device_and_missing_input_are_clean_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (a16, a8, out) = (
        tmp.path().join("a16"),
        tmp.path().join("a8"),
        tmp.path().join("sae"),
    );
    shards(&a16, 16, 600, 3);
    shards(&a8, 8, 600, 3);
    assert!(train(&a16, &out, "512", &[]).status.success());
    let o = sparsekit(&["sae", "eval", "--sae", p(&out), "--activations", p(&a8)]);
    assert_clean_error(&o, &["8 wide", "d_in is 16"]);
    let o = train(&a8, &out, "512", &["--resume"]);
    assert_clean_error(&o, &["8 wide", "d_in is 16"]);
    let o = train(&a16, &tmp.path().join("x"), "512", &["--device", "wgpu"]);
    assert_clean_error(&o, &["--device wgpu", "cpu"]);
    let o = train(
        &tmp.path().join("nothing"),
        &tmp.path().join("y"),
        "512",
        &[],
    );
    assert_clean_error(&o, &["manifest.json"]);
    let o = sparsekit(&[
        "sae",
        "eval",
        "--sae",
        p(&tmp.path().join("nothing")),
        "--activations",
        p(&a16),
    ]);
    assert_clean_error(&o, &["nothing"]);
}
