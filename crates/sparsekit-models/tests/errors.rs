//! Bad model directories and bad inputs give typed errors, never panics.

mod common;

use std::path::Path;

use burn::tensor::Device;
use common::tiny_dir;
use sparsekit_models::tokenize::Truncation;
use sparsekit_models::{read_texts, ModelError, SentenceEncoder};

/// A copy of the tiny fixture in a temp dir, to break.
fn copy_fixture() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&tiny_dir(), tmp.path());
    tmp
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn load(dir: &Path) -> Result<SentenceEncoder, ModelError> {
    SentenceEncoder::load(dir, &Device::flex())
}

fn edit_config(dir: &Path, key: &str, value: serde_json::Value) {
    let p = dir.join("config.json");
    let mut c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    c[key] = value;
    std::fs::write(p, c.to_string()).unwrap();
}

#[test]
fn missing_directory_and_files() {
    let err = load(Path::new("/nonexistent/model")).unwrap_err();
    assert!(matches!(err, ModelError::MissingFile { .. }), "{err}");
    assert!(err.to_string().contains("sparsekit fetch minilm"), "{err}");
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        let tmp = copy_fixture();
        std::fs::remove_file(tmp.path().join(file)).unwrap();
        let err = load(tmp.path()).unwrap_err();
        assert!(
            matches!(err, ModelError::MissingFile { .. }),
            "{file}: {err}"
        );
        assert!(err.to_string().contains(file), "{err}");
    }
}

#[test]
fn corrupt_checkpoint() {
    let tmp = copy_fixture();
    let p = tmp.path().join("model.safetensors");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let err = load(tmp.path()).unwrap_err();
    assert!(matches!(err, ModelError::Checkpoint { .. }), "{err}");
    std::fs::write(&p, b"not a checkpoint").unwrap();
    assert!(matches!(
        load(tmp.path()).unwrap_err(),
        ModelError::Checkpoint { .. }
    ));
}

#[test]
fn config_that_does_not_match_the_checkpoint() {
    let tmp = copy_fixture();
    edit_config(tmp.path(), "intermediate_size", 48.into());
    let err = load(tmp.path()).unwrap_err();
    assert!(matches!(err, ModelError::Checkpoint { .. }), "{err}");
    assert!(
        err.to_string().contains("intermediate.dense.weight"),
        "{err}"
    );

    let tmp = copy_fixture();
    edit_config(tmp.path(), "num_hidden_layers", 3.into());
    let err = load(tmp.path()).unwrap_err();
    assert!(err.to_string().contains("encoder.layer.2"), "{err}");

    let tmp = copy_fixture();
    edit_config(tmp.path(), "num_attention_heads", 5.into());
    let err = load(tmp.path()).unwrap_err();
    assert!(matches!(err, ModelError::Config { .. }), "{err}");
}

#[test]
fn unsupported_configs() {
    for (key, value, needle) in [
        ("hidden_act", serde_json::json!("relu"), "hidden_act"),
        (
            "position_embedding_type",
            serde_json::json!("relative_key"),
            "position_embedding_type",
        ),
        ("model_type", serde_json::json!("gpt2"), "model_type"),
        ("hidden_size", serde_json::json!("wide"), "hidden_size"),
    ] {
        let tmp = copy_fixture();
        edit_config(tmp.path(), key, value);
        let err = load(tmp.path()).unwrap_err();
        assert!(matches!(err, ModelError::Config { .. }), "{key}: {err}");
        assert!(err.to_string().contains(needle), "{key}: {err}");
    }
}

#[test]
fn tokenizer_that_does_not_fit_the_model() {
    let tmp = copy_fixture();
    // A model vocabulary smaller than the tokenizer's: the tokenizer is another model's.
    edit_config(tmp.path(), "vocab_size", 20.into());
    let err = load(tmp.path()).unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::Tokenizer(_) | ModelError::Checkpoint { .. }
        ),
        "{err}"
    );
    let tmp = copy_fixture();
    std::fs::write(tmp.path().join("tokenizer.json"), "{ not json").unwrap();
    assert!(matches!(
        load(tmp.path()).unwrap_err(),
        ModelError::Tokenizer(_)
    ));
}

#[test]
fn empty_and_over_long_texts() {
    let mut enc = load(&tiny_dir()).unwrap();
    for bad in ["", "   ", "\t"] {
        let err = enc.embed(&["fine", bad], 2).unwrap_err();
        assert!(matches!(err, ModelError::Text { index: 1, .. }), "{err}");
    }
    // 18 tokens with [CLS] and [SEP]; the fixture's max_seq_length is 16.
    let long =
        "sparse networks keep only the weights that matter , and drop the rest of them quietly";
    assert!(enc.embed(&[long], 1).is_ok(), "truncated by default");
    enc.truncation = Truncation::Error;
    let err = enc.embed(&["a dog", long], 1).unwrap_err();
    assert!(matches!(err, ModelError::Text { index: 1, .. }), "{err}");
    assert!(err.to_string().contains("16"), "{err}");
    assert!(matches!(
        enc.embed(&["a dog"], 0).unwrap_err(),
        ModelError::Invalid(_)
    ));
}

#[test]
fn text_files() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("t.txt");
    std::fs::write(&p, "one\r\ntwo\nthree\n").unwrap();
    assert_eq!(read_texts(&p).unwrap(), ["one", "two", "three"]);
    std::fs::write(&p, "one\n\nthree").unwrap();
    let err = read_texts(&p).unwrap_err();
    assert!(matches!(err, ModelError::Text { index: 1, .. }), "{err}");
    assert!(err.to_string().contains("line 2"), "{err}");
    std::fs::write(&p, b"ok\n\xff\xfe\n").unwrap();
    let err = read_texts(&p).unwrap_err();
    assert!(err.to_string().contains("line 2 is not UTF-8"), "{err}");
    std::fs::write(&p, "").unwrap();
    assert!(read_texts(&p).unwrap().is_empty());
    assert!(matches!(
        read_texts(&tmp.path().join("missing.txt")).unwrap_err(),
        ModelError::Io { .. }
    ));
}

/// Rewrites the fixture's checkpoint: every tensor renamed by `rename` and converted by `to`
/// (dtype, bytes of one f32 value).
fn rewrite_checkpoint(
    dir: &Path,
    rename: impl Fn(&str) -> String,
    to: impl Fn(&str) -> (safetensors::Dtype, fn(f32) -> Vec<u8>),
) {
    let p = dir.join("model.safetensors");
    let bytes = std::fs::read(&p).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, t) in st.tensors() {
        if t.dtype() != safetensors::Dtype::F32 {
            out.push((
                rename(&name),
                t.dtype(),
                t.shape().to_vec(),
                t.data().to_vec(),
            ));
            continue;
        }
        let (dtype, enc) = to(&name);
        let data: Vec<u8> = t
            .data()
            .chunks_exact(4)
            .flat_map(|b| enc(f32::from_le_bytes(b.try_into().unwrap())))
            .collect();
        out.push((rename(&name), dtype, t.shape().to_vec(), data));
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = out
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, &None, &p).unwrap();
}

#[test]
fn checkpoint_dtypes_and_prefixes() {
    let texts = ["the cat sat on the mat", "hello world"];
    let want = load(&tiny_dir()).unwrap().embed(&texts, 2).unwrap();
    // A task head's checkpoint (`bert.` prefix) stored in F64: exactly the same model.
    let tmp = copy_fixture();
    rewrite_checkpoint(
        tmp.path(),
        |n| format!("bert.{n}"),
        |_| {
            (safetensors::Dtype::F64, |v| {
                (v as f64).to_le_bytes().to_vec()
            })
        },
    );
    assert_eq!(load(tmp.path()).unwrap().embed(&texts, 2).unwrap(), want);
    // F16 loads (rounded weights: close, not equal).
    let tmp = copy_fixture();
    rewrite_checkpoint(
        tmp.path(),
        |n| n.to_string(),
        |_| {
            (safetensors::Dtype::F16, |v| {
                half::f16::from_f32(v).to_le_bytes().to_vec()
            })
        },
    );
    let got = load(tmp.path()).unwrap().embed(&texts, 2).unwrap();
    let max = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(max > 0.0 && max < 2e-2, "{max}");
    // An integer weight is refused, naming the tensor and the dtype.
    let tmp = copy_fixture();
    rewrite_checkpoint(
        tmp.path(),
        |n| n.to_string(),
        |n| {
            if n == "encoder.layer.1.output.dense.weight" {
                (safetensors::Dtype::I32, |v| {
                    (v as i32).to_le_bytes().to_vec()
                })
            } else {
                (safetensors::Dtype::F32, |v| v.to_le_bytes().to_vec())
            }
        },
    );
    let err = load(tmp.path()).unwrap_err();
    assert!(matches!(err, ModelError::Checkpoint { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("encoder.layer.1.output.dense.weight"),
        "{err}"
    );
    assert!(err.to_string().contains("I32"), "{err}");
}
