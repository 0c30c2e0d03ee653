//! Shared by the tests: the devices, the tiny-BERT fixture and its PyTorch reference.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use burn::tensor::{Device, DeviceKind};
use safetensors::{Dtype, SafeTensors};

/// Flex, NdArray and wgpu (Mesa's software Vulkan in CI: `DeviceKind::Cpu`).
#[allow(deprecated)] // burn-ndarray is deprecated upstream but still supported by sparsekit
pub fn devices() -> Vec<(&'static str, Device)> {
    vec![
        ("flex", Device::flex()),
        ("ndarray", Device::ndarray()),
        ("wgpu", Device::wgpu(DeviceKind::Cpu)),
    ]
}

/// The tiny random BERT of `scripts/make_tiny_bert.py`.
pub fn tiny_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-bert")
}

/// The fixture's texts.
pub fn tiny_texts() -> Vec<String> {
    sparsekit_models::read_texts(&tiny_dir().join("texts.txt")).expect("fixture texts")
}

/// An array of the reference: values as f64 and shape.
pub struct Array {
    pub values: Vec<f64>,
    pub shape: Vec<usize>,
}

/// Every array of `reference.safetensors`.
pub fn reference() -> HashMap<String, Array> {
    let bytes = std::fs::read(tiny_dir().join("reference.safetensors")).expect("reference");
    let st = SafeTensors::deserialize(&bytes).expect("safetensors");
    st.tensors()
        .into_iter()
        .map(|(name, t)| {
            let values = match t.dtype() {
                Dtype::F32 => t
                    .data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
                    .collect(),
                Dtype::I64 => t
                    .data()
                    .chunks_exact(8)
                    .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f64)
                    .collect(),
                d => panic!("{name}: dtype {d:?}"),
            };
            (
                name,
                Array {
                    values,
                    shape: t.shape().to_vec(),
                },
            )
        })
        .collect()
}

/// Max |a − b| and min cosine over rows of width `d`.
pub fn compare_rows(a: &[f32], b: &[f64], d: usize) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    let mut max_abs = 0.0f64;
    let mut min_cos = 1.0f64;
    for (ra, rb) in a.chunks(d).zip(b.chunks(d)) {
        let (mut dot, mut na, mut nb) = (0.0, 0.0, 0.0);
        for (&x, &y) in ra.iter().zip(rb) {
            let x = x as f64;
            max_abs = max_abs.max((x - y).abs());
            dot += x * y;
            na += x * x;
            nb += y * y;
        }
        min_cos = min_cos.min(dot / (na.sqrt() * nb.sqrt()).max(1e-300));
    }
    (max_abs, min_cos)
}
