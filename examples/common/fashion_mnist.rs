//! Fashion-MNIST from its four idx `.gz` files (Debian `dataset-fashion-mnist`), shared by the
//! examples: images normalized to zero mean / unit variance, labels as i64; batches as burn
//! tensors, the cross-entropy loss and test accuracy. The files are read by
//! `sparsekit::formats::io::idx`.

#![allow(dead_code)] // each example uses a subset

use std::path::Path;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, DeviceKind, Int, Tensor, TensorData};
use sparsekit::formats::io::idx::{self, IdxData};

/// One split: `images` is n × 784 (normalized), `labels` n.
pub struct Split {
    pub images: Vec<f32>,
    pub labels: Vec<i64>,
}

/// The u8 values of the idx file at `path` with its shape, checked against `dims` leading
/// dimensions after the first (28 × 28 for images, none for labels).
fn read_u8(path: &Path, dims: &[usize]) -> Result<(usize, Vec<u8>), String> {
    let a = idx::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    match a.data {
        IdxData::U8(v) if a.shape.len() == dims.len() + 1 && a.shape[1..] == *dims => {
            Ok((a.shape[0], v))
        }
        _ => Err(format!(
            "{}: expected u8 of shape [n, {dims:?}], found {:?}",
            path.display(),
            a.shape
        )),
    }
}

/// Loads `{prefix}-images-idx3-ubyte.gz` and `{prefix}-labels-idx1-ubyte.gz` from `dir`
/// (`prefix` = "train" or "t10k"), at most `limit` images (0 = all). A truncated or foreign
/// file is an error, never a panic.
pub fn load(dir: &Path, prefix: &str, limit: usize) -> Result<Split, String> {
    let (n_img, img) = read_u8(
        &dir.join(format!("{prefix}-images-idx3-ubyte.gz")),
        &[28, 28],
    )?;
    let (n_lab, lab) = read_u8(&dir.join(format!("{prefix}-labels-idx1-ubyte.gz")), &[])?;
    if n_img != n_lab {
        return Err(format!(
            "{n_img} images but {n_lab} labels in {}",
            dir.display()
        ));
    }
    let n = if limit > 0 { n_img.min(limit) } else { n_img };
    let images = img[..n * 784]
        .iter()
        .map(|&p| (p as f32 / 255.0 - 0.2860) / 0.3530)
        .collect();
    let labels = lab[..n].iter().map(|&l| l as i64).collect();
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
