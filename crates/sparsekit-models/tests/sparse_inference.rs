//! Sparse inference of pruned models: prune every projection by magnitude (2:4, 4:8, 70 %
//! unstructured, 16×16 blocks, and a mild 20 % that stays dense), write the model directory
//! with `save_model_dir`, load it dense and sparse (`sparsify_pruned`), and check that the
//! embeddings agree (cosine ≥ 0.99999 per text), that each projection got the storage its
//! pattern suits, and how many weights it stores.
//!
//! The tiny random BERT fixture runs always; all-MiniLM-L6-v2 through `sparsekit-testenv`
//! (fails rather than skips under SPARSEKIT_REQUIRE_ENV).

mod common;

use std::path::Path;

use burn::tensor::Device;
use sparsekit_formats::sparsity::{Storage, Structure};
use sparsekit_models::save::save_model_dir;
use sparsekit_models::sparse::magnitude_prune;
use sparsekit_models::{Projection, SentenceEncoder};

/// Min cosine between rows of width `d`.
fn min_cosine(a: &[f32], b: &[f32], d: usize) -> f64 {
    a.chunks(d)
        .zip(b.chunks(d))
        .map(|(x, y)| {
            let dot: f64 = x.iter().zip(y).map(|(&p, &q)| p as f64 * q as f64).sum();
            let nx: f64 = x.iter().map(|&p| (p as f64).powi(2)).sum::<f64>().sqrt();
            let ny: f64 = y.iter().map(|&q| (q as f64).powi(2)).sum::<f64>().sqrt();
            dot / (nx * ny)
        })
        .fold(1.0, f64::min)
}

/// `src` with every projection pruned, written to `dst`.
fn write_pruned(src: &Path, dst: &Path, sparsity: f64, structure: Structure) {
    let enc = SentenceEncoder::load(src, &Device::flex()).unwrap();
    let model = enc
        .model
        .map_projections(&mut |_, p| magnitude_prune(&p, sparsity, structure))
        .unwrap();
    save_model_dir(src, dst, &model, &[]).unwrap();
}

/// Prunes `src`, loads the result dense and sparse, compares; returns the storages chosen.
fn check(src: &Path, texts: &[&str], batch: usize, sparsity: f64, structure: Structure) -> Storage {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pruned");
    write_pruned(src, &dir, sparsity, structure);
    let dense = SentenceEncoder::load(&dir, &Device::flex()).unwrap();
    let want = dense.embed(texts, batch).unwrap();
    let (sparse, report) = SentenceEncoder::load(&dir, &Device::flex())
        .unwrap()
        .sparsify_pruned()
        .unwrap();
    let got = sparse.embed(texts, batch).unwrap();
    let cos = min_cosine(&got, &want, dense.dim());
    assert!(
        cos >= 0.99999,
        "{structure} at {sparsity}: min cosine {cos}"
    );
    let mut n = 0;
    sparse.model.visit_projections(&mut |_, _| n += 1);
    assert_eq!(report.layers.len(), n);
    let first = report.layers[0].storage;
    for l in &report.layers {
        assert_eq!(l.storage, first, "{}: {report}", l.path);
        let want_stored = match l.storage {
            Storage::Dense => l.entries(),
            Storage::Sparse(Structure::NM { n, m }) => l.entries() / m * n,
            Storage::Sparse(_) => l.nonzeros,
        };
        assert_eq!(l.stored, want_stored, "{}", l.path);
        // Magnitude pruning of non-zero weights keeps exactly the structure's count.
        match structure {
            Structure::NM { n, m } => assert_eq!(l.nonzeros, l.entries() / m * n),
            _ => assert!((l.sparsity() - sparsity).abs() < 1e-3, "{}", l.path),
        }
    }
    // Dense projections stay `Linear`s; sparse ones are `SparseLinear`s storing `stored`.
    let mut stored = 0;
    sparse.model.visit_projections(&mut |_, p| {
        assert_eq!(matches!(p, Projection::Sparse(_)), first != Storage::Dense);
        stored += p.stored_weights();
    });
    assert_eq!(stored, report.stored());
    first
}

#[test]
fn pruned_tiny_bert_runs_sparse_with_the_dense_results() {
    let texts = common::tiny_texts();
    let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    let src = common::tiny_dir();
    let nm = |n, m| Structure::NM { n, m };
    let cases = [
        (0.5, nm(2, 4), Storage::Sparse(nm(2, 4))),
        (0.5, nm(4, 8), Storage::Sparse(nm(4, 8))),
        (0.75, nm(1, 4), Storage::Sparse(nm(1, 4))),
        (
            0.7,
            Structure::Unstructured,
            Storage::Sparse(Structure::Unstructured),
        ),
        (
            0.75,
            Structure::Block { rows: 16, cols: 16 },
            Storage::Sparse(Structure::Block { rows: 16, cols: 16 }),
        ),
        (0.2, Structure::Unstructured, Storage::Dense),
    ];
    for (sparsity, structure, want) in cases {
        assert_eq!(
            check(&src, &refs, 3, sparsity, structure),
            want,
            "{structure}"
        );
    }
}

#[test]
fn an_unpruned_model_stays_dense_and_the_report_says_so() {
    let enc = SentenceEncoder::load(&common::tiny_dir(), &Device::flex()).unwrap();
    let (enc, report) = enc.sparsify_pruned().unwrap();
    assert!(report.layers.iter().all(|l| l.storage == Storage::Dense));
    assert_eq!(report.stored(), report.entries());
    assert_eq!(report.counts(), [("dense".to_string(), 12)]);
    assert!(report.to_string().contains("encoder.layer.1.output.dense"));
    let mut dense = 0;
    enc.model.visit_projections(&mut |_, p| {
        dense += matches!(p, Projection::Dense(_)) as usize;
    });
    assert_eq!(dense, 12);
}

#[test]
fn pruned_minilm_runs_sparse_with_the_dense_results() {
    let Some(model) = sparsekit_testenv::minilm() else {
        return;
    };
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let texts =
        sparsekit_models::read_texts(&root.join("tests/fixtures/parity_texts.txt")).unwrap();
    let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    let nm = |n, m| Structure::NM { n, m };
    for (sparsity, structure, want) in [
        (0.5, nm(2, 4), Storage::Sparse(nm(2, 4))),
        (0.5, nm(4, 8), Storage::Sparse(nm(4, 8))),
        (
            0.7,
            Structure::Unstructured,
            Storage::Sparse(Structure::Unstructured),
        ),
    ] {
        assert_eq!(
            check(&model, &refs, 8, sparsity, structure),
            want,
            "{structure}"
        );
    }
}
