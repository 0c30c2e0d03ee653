//! The encoder against PyTorch on the tiny random BERT fixture (`scripts/make_tiny_bert.py`):
//! tokenisation, every activation site of every layer, the last hidden state and the sentence
//! embeddings, on Flex, NdArray and wgpu. Fast: no download, no Python at test time.

mod common;

use burn::tensor::Tensor;
use common::{compare_rows, devices, reference, tiny_dir, tiny_texts};
use sparsekit_models::tokenize::Truncation;
use sparsekit_models::{SentenceEncoder, Site};

/// Rows of `[n, s, w]` activations at the non-padding positions, flattened.
fn unpadded(values: &[f32], lengths: &[usize], s: usize, w: usize) -> Vec<f32> {
    let mut out = Vec::new();
    for (i, &len) in lengths.iter().enumerate() {
        out.extend_from_slice(&values[i * s * w..(i * s + len) * w]);
    }
    out
}

fn unpadded64(values: &[f64], lengths: &[usize], s: usize, w: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for (i, &len) in lengths.iter().enumerate() {
        out.extend_from_slice(&values[i * s * w..(i * s + len) * w]);
    }
    out
}

fn host(t: Tensor<3>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap()
}

#[test]
fn tokenizer_matches_hugging_face() {
    let r = reference();
    let enc = SentenceEncoder::load(&tiny_dir(), &burn::tensor::Device::flex()).unwrap();
    let texts = tiny_texts();
    let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    let batch = enc
        .tokenizer
        .encode(&refs, 0, Truncation::Truncate)
        .unwrap();
    let want_ids: Vec<u32> = r["ids"].values.iter().map(|&v| v as u32).collect();
    let want_len: Vec<usize> = r["lengths"].values.iter().map(|&v| v as usize).collect();
    assert_eq!(batch.lengths, want_len);
    assert_eq!(batch.seq_len, r["ids"].shape[1]);
    assert_eq!(batch.ids, want_ids);
    // The long fixture text is cut at max_seq_length (16), as sentence-transformers does.
    assert_eq!(batch.lengths.iter().max(), Some(&16));
}

#[test]
fn every_site_matches_pytorch_on_every_device() {
    let r = reference();
    let texts = tiny_texts();
    let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    for (name, device) in devices() {
        let enc = SentenceEncoder::load(&tiny_dir(), &device).unwrap();
        let batch = enc
            .tokenizer
            .encode(&refs, 0, Truncation::Truncate)
            .unwrap();
        let s = batch.seq_len;
        let all: Vec<(usize, Site)> = (0..enc.model.depth())
            .flat_map(|l| Site::ALL.map(|site| (l, site)))
            .collect();
        let (ids, pad) = batch.to_device(&device);
        let (out, caps) = enc.model.forward_capture(ids, pad, &all).unwrap();
        for &(l, site) in &all {
            let key = format!("layer{l}.{site}");
            let want = &r[&key];
            let w = *want.shape.last().unwrap();
            assert_eq!(w, site.width(32, 64), "{key}");
            let got = host(caps.get(l, site).unwrap().clone());
            let (max_abs, min_cos) = compare_rows(
                &unpadded(&got, &batch.lengths, s, w),
                &unpadded64(&want.values, &batch.lengths, s, w),
                w,
            );
            assert!(
                max_abs < 2e-5 && min_cos > 0.99999,
                "{name} {key}: max|Δ| {max_abs:e}, cos {min_cos}"
            );
        }
        let want = &r["last_hidden_state"];
        let (max_abs, _) = compare_rows(
            &unpadded(&host(out), &batch.lengths, s, 32),
            &unpadded64(&want.values, &batch.lengths, s, 32),
            32,
        );
        assert!(
            max_abs < 2e-5,
            "{name} last hidden state: max|Δ| {max_abs:e}"
        );
    }
}

#[test]
fn embeddings_match_sentence_transformers_for_any_batch_size() {
    let r = reference();
    let want = &r["embeddings"];
    let texts = tiny_texts();
    let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    for (name, device) in devices() {
        let enc = SentenceEncoder::load(&tiny_dir(), &device).unwrap();
        for batch in [1, 2, 5, 64] {
            let got = enc.embed(&refs, batch).unwrap();
            let (max_abs, min_cos) = compare_rows(&got, &want.values, 32);
            assert!(
                max_abs <= 1e-5 && min_cos >= 0.99999,
                "{name} batch {batch}: max|Δ| {max_abs:e}, cos {min_cos}"
            );
        }
        assert!(enc.embed(&[], 4).unwrap().is_empty());
    }
}

#[test]
fn capture_does_not_change_the_forward_result() {
    let texts = tiny_texts();
    let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    let device = burn::tensor::Device::flex();
    let enc = SentenceEncoder::load(&tiny_dir(), &device).unwrap();
    let batch = enc
        .tokenizer
        .encode(&refs, 0, Truncation::Truncate)
        .unwrap();
    let (ids, pad) = batch.to_device(&device);
    let plain = host(enc.model.forward(ids.clone(), pad.clone()));
    let sites = [
        (0, Site::MlpHidden),
        (1, Site::ResidPost),
        (1, Site::AttnOut),
    ];
    let (hooked, caps) = enc
        .model
        .forward_capture(ids.clone(), pad.clone(), &sites)
        .unwrap();
    assert_eq!(plain, host(hooked));
    assert_eq!(caps.tensors.len(), 3);
    // The last layer's resid_post is the output itself.
    assert_eq!(plain, host(caps.get(1, Site::ResidPost).unwrap().clone()));
    // Only the layers needed run: capturing layer 0 returns layer 0's output.
    let (upto0, caps0) = enc
        .model
        .forward_capture(ids.clone(), pad.clone(), &[(0, Site::ResidPost)])
        .unwrap();
    assert_eq!(
        host(upto0),
        host(caps0.get(0, Site::ResidPost).unwrap().clone())
    );
    let err = enc
        .model
        .forward_capture(ids, pad, &[(2, Site::ResidPre)])
        .unwrap_err();
    assert!(err.to_string().contains("layer 2 does not exist"), "{err}");
}
