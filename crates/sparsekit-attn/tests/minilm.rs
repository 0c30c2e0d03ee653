//! SparseSelfAttention swapped into the tiny fixture BERT of sparsekit-models.
#![cfg(feature = "models")]
#![allow(deprecated)] // TensorData::to_vec; burn's NdArray backend

use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Tensor, TensorData};
use sparsekit_attn::{Normalizer, Pattern, SparseSelfAttention};
use sparsekit_models::bert::{AttentionModule, SelfAttention};
use sparsekit_models::tokenize::Truncation;
use sparsekit_models::SentenceEncoder;

fn tiny_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sparsekit-models/tests/fixtures/tiny-bert")
}

/// The reference: BERT's own attention with `pattern`'s dense mask added to the padding (rows
/// left without a key are unmasked: they are padding queries, never compared).
#[derive(Module, Debug)]
struct DenseMasked {
    sa: SelfAttention,
    #[module(skip)]
    pattern: Pattern,
}

impl AttentionModule for DenseMasked {
    fn forward(&self, hidden: Tensor<3>, padding: &Tensor<2, Bool>) -> Tensor<3> {
        let [b, s, d] = hidden.dims();
        let h = self.sa.num_heads;
        let split = |t: Tensor<3>| t.reshape([b, s, h, d / h]).swap_dims(1, 2);
        let q = split(self.sa.query.forward(hidden.clone()));
        let k = split(self.sa.key.forward(hidden.clone()));
        let v = split(self.sa.value.forward(hidden.clone()));
        let layout = self.pattern.layout(s, s, 4).unwrap();
        let bits: Vec<bool> = layout.to_dense_mask().into_iter().map(|a| !a).collect();
        let pat =
            Tensor::<4, Bool>::from_bool(TensorData::new(bits, [1, 1, s, s]), &hidden.device());
        let mask = padding
            .clone()
            .reshape([b, 1, 1, s])
            .expand([b, h, s, s])
            .bool_or(pat.expand([b, h, s, s]));
        let empty = mask.clone().all_dim(3).expand([b, h, s, s]);
        let mask = mask.bool_and(empty.bool_not());
        let ctx = attention(q, k, v, Some(mask), None, AttentionModuleOptions::default());
        self.sa
            .output
            .forward(ctx.swap_dims(1, 2).reshape([b, s, d]))
    }
}

#[allow(deprecated)]
fn devices() -> Vec<(&'static str, Device)> {
    vec![("flex", Device::flex()), ("ndarray", Device::ndarray())]
}

#[test]
fn softmax_reproduces_the_model_and_a_window_equals_the_dense_masked_model() {
    for (name, device) in devices() {
        let enc = SentenceEncoder::load(&tiny_dir(), &device).unwrap();
        let texts = sparsekit_models::read_texts(&tiny_dir().join("texts.txt")).unwrap();
        let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
        let batch = enc
            .tokenizer
            .encode(&refs, 0, Truncation::Truncate)
            .unwrap();
        let (ids, pad) = batch.to_device(&device);
        let host = |t: Tensor<3>| t.into_data().convert::<f32>().to_vec::<f32>().unwrap();
        let [bsz, seq] = pad.dims();
        let pad_host = pad.clone().into_data().to_vec::<bool>().unwrap();
        let d = 32;
        let cmp = |a: &[f32], b: &[f32], what: &str| {
            let mut worst = 0f32;
            for t in 0..bsz * seq {
                if pad_host[t] {
                    continue; // padding tokens are never read
                }
                for c in 0..d {
                    worst = worst.max((a[t * d + c] - b[t * d + c]).abs());
                }
            }
            assert!(worst <= 1e-5, "{name}: {what}: max|Δ| {worst:e}");
        };

        // Softmax, no pattern: the original model.
        let want = host(enc.model.forward(ids.clone(), pad.clone()));
        let same = enc.model.clone().map_attention(|_, sa| {
            SparseSelfAttention::from_self_attention(sa, Normalizer::Softmax, None, 4).unwrap()
        });
        cmp(
            &host(same.forward(ids.clone(), pad.clone())),
            &want,
            "softmax",
        );
        // Its projections keep their Hugging Face paths.
        let mut names = Vec::new();
        same.visit_projections(&mut |n, _| names.push(n.to_string()));
        assert_eq!(names[0], "encoder.layer.0.attention.self.query");

        // A sliding window (block-sparse op) equals the dense model under the same mask.
        let window = Pattern::SlidingWindow {
            width: 2,
            causal: false,
        };
        let sparse = enc.model.clone().map_attention(|_, sa| {
            SparseSelfAttention::from_self_attention(
                sa,
                Normalizer::Softmax,
                Some(window.clone()),
                4,
            )
            .unwrap()
        });
        let dense = enc.model.clone().map_attention(|_, sa| DenseMasked {
            sa,
            pattern: window.clone(),
        });
        let got = host(sparse.forward(ids.clone(), pad.clone()));
        cmp(
            &got,
            &host(dense.forward(ids.clone(), pad.clone())),
            "window",
        );
        assert!(got.iter().all(|v| v.is_finite()));
        let moved = got.iter().zip(&want).any(|(a, b)| (a - b).abs() > 1e-3);
        assert!(moved, "{name}: the window must change the embeddings");
    }
}
