//! all-MiniLM-L6-v2 on burn against sentence-transformers (PyTorch) on the same texts: short and
//! long (truncated at 256 tokens) texts in mixed batches, on Flex, NdArray and wgpu. Goal of
//! the issue: cosine ≥ 0.99999 and max |Δ| ≤ 1e-4 per text.
//!
//! Needs the model (`sparsekit fetch minilm`; `cargo xtask test` fetches it) and the project's
//! Python (`scripts/python-env.sh`, with sentence-transformers): under SPARSEKIT_REQUIRE_ENV / CI
//! a missing one fails the test.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{compare_rows, devices};
use sparsekit_formats::io::npy::read_npy_dense;
use sparsekit_models::{read_texts, SentenceEncoder};

const BATCH: usize = 8;

#[test]
fn minilm_matches_sentence_transformers_on_every_device() {
    let Some(model) = sparsekit_testenv::minilm() else {
        return;
    };
    let Some(py) = sparsekit_testenv::python(&["sentence_transformers"]) else {
        return;
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let input = root.join("tests/fixtures/parity_texts.txt");
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("ref.npy");
    let out = Command::new(py)
        .arg(root.join("../../scripts/minilm_reference.py"))
        .args(["--model".as_ref(), model.as_os_str()])
        .args(["--input".as_ref(), input.as_os_str()])
        .args(["--output".as_ref(), reference.as_os_str()])
        .args(["--batch", &BATCH.to_string()])
        .output()
        .expect("run scripts/minilm_reference.py");
    assert!(
        out.status.success(),
        "minilm_reference.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (want, n, d) = read_npy_dense::<f32>(&reference).unwrap();
    let want: Vec<f64> = want.iter().map(|&v| v as f64).collect();
    let texts = read_texts(&input).unwrap();
    assert_eq!((n, d), (texts.len(), 384));
    let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    for (name, device) in devices() {
        let enc = SentenceEncoder::load(&model, &device).unwrap();
        // The fixture holds texts past 256 tokens: truncation is exercised.
        let lens = enc
            .tokenizer
            .encode(&refs, 0, Default::default())
            .unwrap()
            .lengths;
        assert_eq!(lens.iter().max(), Some(&256), "{name}");
        let got = enc.embed(&refs, BATCH).unwrap();
        let (max_abs, min_cos) = compare_rows(&got, &want, d);
        eprintln!("minilm parity {name}: max|Δ| {max_abs:.2e}, min cosine {min_cos:.9}");
        assert!(
            max_abs <= 1e-4 && min_cos >= 0.99999,
            "{name}: max|Δ| {max_abs:e}, min cosine {min_cos}"
        );
    }
}
