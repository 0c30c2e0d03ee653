//! An SAE spliced into a BERT encoder (feature `models`), on the tiny-BERT fixture of
//! sparsekit-models, on every CPU device and wgpu: an SAE that reconstructs exactly leaves the
//! embeddings unchanged; one that reconstructs nothing changes them; widths are checked.
#![cfg(feature = "models")]

use std::path::PathBuf;
use std::sync::Arc;

use sparsekit_data::debian::{Record, Split};
use sparsekit_models::{DeviceChoice, SentenceEncoder, Site};
use sparsekit_sae::splice::{downstream, sae_splice};
use sparsekit_sae::{Architecture, Sae, SaeConfig, SaeParams};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sparsekit-models/tests/fixtures/tiny-bert")
}

/// ReLU SAE with `W_enc = W_dec = [I; −I]`: `ReLU(x) − ReLU(−x) = x`, an exact reconstruction.
fn identity(d: usize) -> Sae {
    let mut cfg = SaeConfig::new(Architecture::Relu, d, 2 * d, None);
    cfg.apply_b_dec_to_input = false;
    let mut p = SaeParams::init(cfg, 0, 0.001).unwrap();
    p.w_enc.fill(0.0);
    for i in 0..d {
        p.w_enc[i * d + i] = 1.0;
        p.w_enc[(d + i) * d + i] = -1.0;
    }
    p.w_dec = p.w_enc.clone();
    Sae::new(p).unwrap()
}

fn records() -> Vec<Record> {
    let texts = std::fs::read_to_string(fixture().join("texts.txt")).unwrap();
    texts
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| Record {
            package: format!("p{i}"),
            section: "misc".into(),
            synopsis: l.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
            description: l.to_string(),
            split: Split::Test,
        })
        .collect()
}

fn check(device: DeviceChoice) {
    let enc = SentenceEncoder::load(&fixture(), &device.device()).unwrap();
    let recs = records();
    assert!(recs.len() >= 3);
    let d = enc.config.hidden_size;
    let id = sae_splice(&enc, Arc::new(identity(d)), 1, Site::ResidMid).unwrap();
    let down = downstream(&enc, id, &recs, None, 4).unwrap();
    assert!(
        down.mean_cosine > 0.99999,
        "{device:?}: identity splice moved embeddings: {down:?}"
    );
    assert_eq!(down.mrr_at_10, down.mrr_at_10_spliced);

    // An SAE whose reconstruction is only its (random) decoder bias.
    let mut zero = identity(d).into_params();
    zero.w_dec.fill(0.0);
    zero.b_dec
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = (i as f32 * 0.37).sin());
    let z = sae_splice(&enc, Arc::new(Sae::new(zero).unwrap()), 0, Site::ResidPost).unwrap();
    let down = downstream(&enc, z, &recs, None, 4).unwrap();
    assert!(
        down.mean_cosine < 0.999,
        "{device:?}: a constant splice should move embeddings: {down:?}"
    );
}

#[test]
fn splice_on_flex() {
    check(DeviceChoice::Flex);
}

#[test]
fn splice_on_ndarray() {
    check(DeviceChoice::NdArray);
}

#[test]
fn splice_on_wgpu() {
    check(DeviceChoice::Wgpu);
}

#[test]
fn splice_checks_layer_and_width() {
    let enc = SentenceEncoder::load(&fixture(), &DeviceChoice::Flex.device()).unwrap();
    let d = enc.config.hidden_size;
    let e = sae_splice(&enc, Arc::new(identity(d)), 9, Site::ResidPost).unwrap_err();
    assert!(e.to_string().contains("layer 9"), "{e}");
    let e = sae_splice(&enc, Arc::new(identity(d)), 0, Site::MlpHidden).unwrap_err();
    assert!(e.to_string().contains("d_in is 32"), "{e}");
}
