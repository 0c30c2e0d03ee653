//! Fashion-MNIST from its four idx `.gz` files (Debian `dataset-fashion-mnist`), shared by the
//! examples: images normalized to zero mean / unit variance, labels as i64.

use std::io::Read;
use std::path::Path;

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
