//! A pruned model in bf16 end to end on Flex: the tiny random BERT, every projection pruned to
//! 90 % by magnitude and stored as a `SparseLinear` (`sparsify_pruned`), then every float
//! parameter cast to bf16 (`sparsekit_tensor::params::cast_params`); its hidden states match
//! the f32 run of the same model within bf16 tolerance.

mod common;

use burn::tensor::{Bool, DType, Device, Int, Tensor, TensorData};
use sparsekit_formats::sparsity::Structure;
use sparsekit_models::sparse::magnitude_prune;
use sparsekit_models::{Projection, SentenceEncoder};
use sparsekit_tensor::params::cast_params;

#[test]
fn pruned_tiny_bert_runs_in_bf16_on_flex() {
    let device = Device::flex();
    let enc = SentenceEncoder::load(&common::tiny_dir(), &device).unwrap();
    let vocab = enc.config.vocab_size;
    let model = enc
        .model
        .map_projections(&mut |_, p| magnitude_prune(&p, 0.9, Structure::Unstructured))
        .unwrap();
    let (model, _) = model.sparsify_pruned().unwrap();
    let mut sparse = 0;
    model.visit_projections(&mut |_, p| {
        if let Projection::Sparse(l) = p {
            sparse += 1;
            assert_eq!(l.values.val().dtype(), DType::F32);
        }
    });
    assert!(sparse > 0, "the pruned projections are SparseLinear");

    // Two sequences of 9 tokens, the second padded after 6.
    let (b, s) = (2, 9);
    let ids: Vec<i64> = (0..b * s).map(|i| ((i * 37 + 11) % vocab) as i64).collect();
    let pad: Vec<bool> = (0..b * s).map(|i| i >= s + 6).collect();
    let ids = || Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [b, s]), &device);
    let padding = || Tensor::<2, Bool>::from_data(TensorData::new(pad.clone(), [b, s]), &device);

    let h32 = model.forward(ids(), padding());
    let half = cast_params(model.clone(), DType::BF16).unwrap();
    half.visit_projections(&mut |_, p| {
        if let Projection::Sparse(l) = p {
            assert_eq!(l.values.val().dtype(), DType::BF16);
        }
    });
    let h16 = half.forward(ids(), padding());
    assert_eq!(h16.dtype(), DType::BF16);
    assert_eq!(h16.dims(), h32.dims());

    let d = h32.dims()[2];
    let a: Vec<f32> = h16.into_data().try_into_vec_as::<f32>().unwrap();
    let w: Vec<f32> = h32.into_data().try_into_vec_as::<f32>().unwrap();
    // Only the unpadded tokens carry meaning.
    let keep: Vec<usize> = (0..b * s).filter(|&t| !pad[t]).collect();
    let (mut num, mut den, mut min_cos) = (0.0f64, 0.0f64, 1.0f64);
    for &t in &keep {
        let (x, y) = (&a[t * d..(t + 1) * d], &w[t * d..(t + 1) * d]);
        let (mut dot, mut nx, mut ny) = (0.0f64, 0.0f64, 0.0f64);
        for (&p, &q) in x.iter().zip(y) {
            let (p, q) = (p as f64, q as f64);
            num += (p - q).powi(2);
            den += q * q;
            dot += p * q;
            nx += p * p;
            ny += q * q;
        }
        min_cos = min_cos.min(dot / (nx.sqrt() * ny.sqrt()));
    }
    let rel = (num / den).sqrt();
    assert!(
        rel < 2e-2,
        "bf16 vs f32 hidden states: relative error {rel}"
    );
    assert!(
        min_cos > 0.999,
        "bf16 vs f32 hidden states: min cosine {min_cos}"
    );
}
