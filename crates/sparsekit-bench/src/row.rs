//! One result row of the report (`results[]` in BENCH.md's schema), and the notes the runner
//! emits for rows it could not measure.

use serde::{Deserialize, Serialize};

/// Problem shape. spmm: A m×k, X k×n. spmm_t: W m×k, X n×k (n = batch). sddmm: pattern m×k,
/// dY n×m, X n×k (n = batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    pub m: usize,
    pub k: usize,
    pub n: usize,
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}×{}×{}", self.m, self.k, self.n)
    }
}

/// A measured row, field for field BENCH.md's `results[]` entry (plus two optional extras).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub suite: String,
    pub op: String,
    pub format: String,
    pub dtype: String,
    pub device: String,
    pub shape: Shape,
    pub sparsity: f64,
    pub nnz: usize,
    pub samples: usize,
    pub median_s: f64,
    pub min_s: f64,
    pub max_s: f64,
    pub baseline: String,
    pub baseline_median_s: f64,
    pub speedup_vs_dense: f64,
    pub gflops_effective: f64,
    /// `true` when the device is a software wgpu adapter (lavapipe, llvmpipe, WARP): such rows
    /// prove correctness only and are excluded from speed claims.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_adapter: Option<bool>,
    /// `max |sparse - dense| / max |dense|` of the sparse result against the dense baseline's
    /// result, checked once per row outside the timed loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rel_err: Option<f64>,
    /// Suite-specific numbers (the `train` suite's heap bytes); flattened into the row.
    #[serde(flatten, default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A line of the runner's output: a measured row or a note (a row left out, and why).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Line {
    Note { note: String },
    Row(Box<Row>),
}
