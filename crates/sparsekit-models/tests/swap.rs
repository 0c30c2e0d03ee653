//! Swapping parts of the encoder: every projection to a SparseLinear / MaskedLinear /
//! N:M-structured layer, the attention block to another module.

mod common;

use burn::module::Module;
use burn::tensor::{Bool, Tensor};
use common::{compare_rows, devices, tiny_dir, tiny_texts};
use sparsekit_formats::sparsity::{mask, Structure};
use sparsekit_formats::Mask;
use sparsekit_models::bert::AttentionModule;
use sparsekit_models::{Projection, SentenceEncoder, Site};

fn texts() -> Vec<String> {
    tiny_texts()
}

fn embed(enc: &SentenceEncoder) -> Vec<f32> {
    let t = texts();
    let refs: Vec<&str> = t.iter().map(|s| s.as_str()).collect();
    enc.embed(&refs, 3).unwrap()
}

/// Scores for a mask: a fixed pseudo-random number per weight.
fn scores(rows: usize, cols: usize, salt: u64) -> Vec<f32> {
    (0..rows * cols)
        .map(|k| {
            let x = (k as u64 ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            (x >> 40) as f32
        })
        .collect()
}

#[test]
fn the_projections_have_hugging_face_names() {
    let enc = SentenceEncoder::load(&tiny_dir(), &burn::tensor::Device::flex()).unwrap();
    let mut names = Vec::new();
    enc.model
        .visit_projections(&mut |n, p| names.push((n.to_string(), p.shape())));
    let want: Vec<(String, (usize, usize))> = (0..2)
        .flat_map(|l| {
            [
                ("attention.self.query", (32, 32)),
                ("attention.self.key", (32, 32)),
                ("attention.self.value", (32, 32)),
                ("attention.output.dense", (32, 32)),
                ("intermediate.dense", (64, 32)),
                ("output.dense", (32, 64)),
            ]
            .map(|(n, s)| (format!("encoder.layer.{l}.{n}"), s))
        })
        .collect();
    assert_eq!(names, want);
}

#[test]
fn full_masks_change_nothing_and_sparse_equals_masked() {
    for (name, device) in devices() {
        let enc = SentenceEncoder::load(&tiny_dir(), &device).unwrap();
        let dense = embed(&enc);
        // All weights kept, stored sparse: the same embeddings.
        let mut full = enc.clone();
        full.model = full
            .model
            .map_projections(&mut |_, p| {
                let (o, i) = p.shape();
                p.sparsify(&Mask::ones(o, i).unwrap(), Structure::Unstructured)
            })
            .unwrap();
        let (max_abs, _) = compare_rows(
            &embed(&full),
            &dense.iter().map(|&v| v as f64).collect::<Vec<_>>(),
            32,
        );
        assert!(
            max_abs < 1e-5,
            "{name}: all-ones sparse layers: max|Δ| {max_abs:e}"
        );

        // Half the weights: SparseLinear, MaskedLinear and 2:4 agree.
        let pick = |path: &str, p: &Projection, s: Structure| {
            let (o, i) = p.shape();
            let salt = path.len() as u64;
            mask(&scores(o, i, salt), o, i, 0.5, s).unwrap()
        };
        let mut runs = Vec::new();
        for (storage, s) in [
            ("sparse", Structure::Unstructured),
            ("masked", Structure::Unstructured),
            ("2:4", Structure::NM { n: 2, m: 4 }),
            ("masked 2:4", Structure::NM { n: 2, m: 4 }),
        ] {
            let mut e = enc.clone();
            e.model = e
                .model
                .map_projections(&mut |path, p| {
                    let m = pick(path, &p, s);
                    if storage.starts_with("masked") {
                        p.masked(&m)
                    } else {
                        p.sparsify(&m, s)
                    }
                })
                .unwrap();
            let mut stored = 0;
            e.model
                .visit_projections(&mut |_, p| stored += p.stored_weights());
            runs.push((storage, embed(&e), stored));
        }
        for pair in [(0, 1), (2, 3)] {
            let (a, b) = (&runs[pair.0], &runs[pair.1]);
            let (max_abs, _) =
                compare_rows(&a.1, &b.1.iter().map(|&v| v as f64).collect::<Vec<_>>(), 32);
            assert!(
                max_abs < 1e-5,
                "{name}: {} vs {}: max|Δ| {max_abs:e}",
                a.0,
                b.0
            );
        }
        // Sparse storage keeps half the weights; masked storage keeps them all.
        let total = 2 * (4 * 32 * 32 + 2 * 32 * 64);
        assert_eq!(runs[0].2, total / 2, "{name}");
        assert_eq!(runs[1].2, total, "{name}");
        assert_eq!(runs[2].2, total / 2, "{name}");
        assert_ne!(
            runs[0].1, dense,
            "{name}: pruning must change the embeddings"
        );
    }
}

#[test]
fn a_mask_of_the_wrong_shape_is_an_error() {
    let enc = SentenceEncoder::load(&tiny_dir(), &burn::tensor::Device::flex()).unwrap();
    let err = enc
        .model
        .map_projections(&mut |_, p| {
            p.sparsify(&Mask::ones(3, 3).unwrap(), Structure::Unstructured)
        })
        .unwrap_err();
    assert!(err.to_string().contains("mask is 3×3"), "{err}");
    // An N:M structure the mask does not satisfy is refused.
    let enc = SentenceEncoder::load(&tiny_dir(), &burn::tensor::Device::flex()).unwrap();
    let err = enc
        .model
        .map_projections(&mut |_, p| {
            let (o, i) = p.shape();
            p.sparsify(&Mask::ones(o, i).unwrap(), Structure::NM { n: 2, m: 4 })
        })
        .unwrap_err();
    assert!(!err.to_string().is_empty());
}

/// An attention block that attends to nothing.
#[derive(Module, Debug)]
struct NoAttention {
    width: usize,
}

impl AttentionModule for NoAttention {
    fn forward(&self, hidden: Tensor<3>, _padding: &Tensor<2, Bool>) -> Tensor<3> {
        hidden.zeros_like()
    }
}

#[test]
fn the_attention_block_is_swappable() {
    let device = burn::tensor::Device::flex();
    let enc = SentenceEncoder::load(&tiny_dir(), &device).unwrap();
    let t = texts();
    let refs: Vec<&str> = t.iter().map(|s| s.as_str()).collect();
    let batch = enc
        .tokenizer
        .encode(&refs, 0, sparsekit_models::tokenize::Truncation::Truncate)
        .unwrap();
    let (ids, pad) = batch.to_device(&device);
    let same = enc.model.clone().map_attention(|_, a| a);
    let want = enc.model.forward(ids.clone(), pad.clone()).into_data();
    assert_eq!(same.forward(ids.clone(), pad.clone()).into_data(), want);
    let none = enc
        .model
        .clone()
        .map_attention(|_, _| NoAttention { width: 32 });
    let (out, caps) = none
        .forward_capture(ids, pad, &[(0, Site::AttnOut), (0, Site::ResidMid)])
        .unwrap();
    let zeros = caps.get(0, Site::AttnOut).unwrap().clone();
    assert!(zeros.abs().max().into_scalar::<f32>() == 0.0);
    assert_ne!(out.into_data(), want);
}

/// The Debian tasks' glue (split selection, `limit`, texts) against the metrics computed by hand
/// from the encoder's own embeddings.
#[test]
fn debian_eval_glue_matches_the_metrics_by_hand() {
    use sparsekit_data::debian::{Record, Split};
    use sparsekit_data::eval::retrieval::retrieval;
    let enc = SentenceEncoder::load(&tiny_dir(), &burn::tensor::Device::flex()).unwrap();
    let words = ["cat", "dog", "data", "sparse", "world", "mat"];
    let records: Vec<Record> = (0..30)
        .map(|i| Record {
            package: format!("pkg{i:02}"),
            section: if i % 4 == 1 { "utils" } else { "net" }.into(),
            synopsis: format!("{} {}", words[i % 6], words[(i / 6) % 6]),
            description: format!("the {} sat on the {}", words[(i / 6) % 6], words[i % 6]),
            split: [Split::Test, Split::Train, Split::Valid][i % 3],
        })
        .collect();
    let test: Vec<&Record> = records
        .iter()
        .filter(|r| r.split == Split::Test)
        .take(4)
        .collect();
    let q: Vec<&str> = test.iter().map(|r| r.synopsis.as_str()).collect();
    let d: Vec<&str> = test.iter().map(|r| r.description.as_str()).collect();
    let want = retrieval(
        &enc.embed(&q, 3).unwrap(),
        &enc.embed(&d, 3).unwrap(),
        32,
        10,
    )
    .unwrap();
    let got = sparsekit_models::eval::debian_retrieval(&enc, &records, Some(4), 3).unwrap();
    assert_eq!(got.queries, 4);
    assert_eq!((got.mrr_at_10, got.recall_at_10), (want.mrr, want.recall));
    let s = sparsekit_models::eval::debian_sections(
        &enc,
        &records,
        None,
        4,
        &sparsekit_data::eval::probe::ProbeConfig::default(),
    )
    .unwrap();
    assert_eq!((s.train, s.test, s.classes), (10, 10, 2));
    // The majority class of train ("net", 7 of 10) scored on test.
    let test_net = records
        .iter()
        .filter(|r| r.split == Split::Test && r.section == "net")
        .count();
    assert_eq!(s.majority_baseline, test_net as f64 / 10.0);
    assert!((0.0..=1.0).contains(&s.accuracy));
    // No test record: a typed error, not a panic.
    let train_only: Vec<Record> = records
        .into_iter()
        .filter(|r| r.split == Split::Train)
        .collect();
    assert!(sparsekit_models::eval::debian_retrieval(&enc, &train_only, None, 3).is_err());
}
