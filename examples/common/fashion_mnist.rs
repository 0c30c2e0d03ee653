//! Fashion-MNIST from its four idx `.gz` files (Debian `dataset-fashion-mnist`), shared by the
//! examples: images normalized to zero mean / unit variance, labels as i64; batches as burn
//! tensors, the cross-entropy loss and test accuracy.

#![allow(dead_code)] // each example uses a subset

use std::io::Read;
use std::path::Path;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, DeviceKind, Int, Tensor, TensorData};

/// One split: `images` is n × 784 (normalized), `labels` n.
pub struct Split {
    pub images: Vec<f32>,
    pub labels: Vec<i64>,
}

fn gunzip(path: &Path) -> std::io::Result<Vec<u8>> {
    let f = std::fs::File::open(path)?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(f).read_to_end(&mut out)?;
    Ok(out)
}

/// Loads `{prefix}-images-idx3-ubyte.gz` and `{prefix}-labels-idx1-ubyte.gz` from `dir`
/// (`prefix` = "train" or "t10k"), at most `limit` images (0 = all). A truncated or foreign
/// file is an error, never a panic.
pub fn load(dir: &Path, prefix: &str, limit: usize) -> Result<Split, String> {
    let img = dir.join(format!("{prefix}-images-idx3-ubyte.gz"));
    let lab = dir.join(format!("{prefix}-labels-idx1-ubyte.gz"));
    let img = gunzip(&img).map_err(|e| format!("{}: {e}", img.display()))?;
    let lab = gunzip(&lab).map_err(|e| format!("{}: {e}", lab.display()))?;
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    if img.len() < 16 || be(&img[0..4]) != 2051 || lab.len() < 8 || be(&lab[0..4]) != 2049 {
        return Err("not idx files".into());
    }
    // The headers' counts, bounded by the bytes actually present.
    let mut n = be(&img[4..8])
        .min(be(&lab[4..8]))
        .min((img.len() - 16) / 784)
        .min(lab.len() - 8);
    if limit > 0 {
        n = n.min(limit);
    }
    let images = img[16..16 + n * 784]
        .iter()
        .map(|&p| (p as f32 / 255.0 - 0.2860) / 0.3530)
        .collect();
    let labels = lab[8..8 + n].iter().map(|&l| l as i64).collect();
    Ok(Split { images, labels })
}

impl Split {
    /// The images and labels at `idx` as a `[idx.len(), 784]` batch and its labels.
    pub fn batch(&self, idx: &[usize], device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
        let mut x = Vec::with_capacity(idx.len() * 784);
        let mut y = Vec::with_capacity(idx.len());
        for &i in idx {
            x.extend_from_slice(&self.images[i * 784..(i + 1) * 784]);
            y.push(self.labels[i]);
        }
        let n = idx.len();
        (
            Tensor::from_data(TensorData::new(x, [n, 784]), device),
            Tensor::from_data(TensorData::new(y, [n]), device),
        )
    }
}

/// Mean cross-entropy of `logits` against integer labels `y`.
pub fn cross_entropy(logits: Tensor<2>, y: Tensor<1, Int>) -> Tensor<1> {
    let n = y.dims()[0];
    -log_softmax(logits, 1).gather(1, y.reshape([n, 1])).mean()
}

/// Test accuracy of any forward function, in batches of 1000.
pub fn accuracy(forward: impl Fn(Tensor<2>) -> Tensor<2>, test: &Split, device: &Device) -> f64 {
    let mut correct = 0usize;
    let idx: Vec<usize> = (0..test.labels.len()).collect();
    for chunk in idx.chunks(1000) {
        let (x, y) = test.batch(chunk, device);
        let pred = forward(x).argmax(1).reshape([chunk.len()]);
        correct += pred
            .equal(y)
            .int()
            .sum()
            .into_data()
            .iter::<i64>()
            .next()
            .unwrap_or(0) as usize;
    }
    correct as f64 / test.labels.len().max(1) as f64
}

/// The burn device named by an example's `--device` flag.
#[allow(deprecated)] // burn-ndarray is deprecated upstream but still supported by sparsekit
pub fn device(name: &str) -> Result<Device, String> {
    match name {
        "flex" => Ok(Device::flex()),
        "ndarray" => Ok(Device::ndarray()),
        "wgpu" => Ok(Device::wgpu(DeviceKind::default())),
        other => Err(format!(
            "unknown --device {other}: use flex, ndarray or wgpu"
        )),
    }
}

/// The training split (at most `train_limit` images, 0 = all) and the test split from `dir`,
/// or a message saying where the data comes from.
pub fn load_splits(dir: &Path, train_limit: usize) -> Result<(Split, Split), String> {
    match (load(dir, "train", train_limit), load(dir, "t10k", 0)) {
        (Ok(train), Ok(test)) => Ok((train, test)),
        (Err(e), _) | (_, Err(e)) => Err(format!(
            "Fashion-MNIST not found or unreadable ({e}).\nInstall the Debian package \
             `dataset-fashion-mnist` or pass --data DIR holding train-images-idx3-ubyte.gz, \
             train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz."
        )),
    }
}

/// The value, or the message on stderr and exit with `code` (usage errors 2, missing data 1).
pub fn or_exit<T>(r: Result<T, String>, code: i32) -> T {
    r.unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(code)
    })
}
