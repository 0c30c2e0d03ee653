//! One result row of the bench report (`results[]` in docs/bench.md's schema, `sparsekit-bench/1`),
//! and the notes the runner emits for rows it could not measure. The runner writes these rows,
//! `cargo xtask bench` reads them back into its report: one type for both.

use serde::{Deserialize, Serialize};

/// Problem shape. spmm: A m×k, X k×n. spmm_t: W m×k, X n×k (n = batch). sddmm: pattern m×k,
/// dY n×m, X n×k (n = batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Shape {
    /// Rows of the sparse operand.
    pub m: usize,
    /// Columns of the sparse operand.
    pub k: usize,
    /// Columns of the dense operand (the batch for `spmm_t`, `sddmm`, `train`).
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
    /// Suite (`spmm`, `spmm_t`, `sddmm`, `train`).
    pub suite: String,
    /// The operation timed.
    pub op: String,
    /// Sparse format (`csr`, `bsr4x4`, `nm2:4`, ...).
    pub format: String,
    /// Value type (`f32`).
    pub dtype: String,
    /// Device (`flex`, `ndarray`, `wgpu:<adapter>`, or `peer:<name>` for peers).
    pub device: String,
    /// Problem shape.
    pub shape: Shape,
    /// Fraction of zeros of the sparse operand.
    pub sparsity: f64,
    /// Stored entries of the sparse operand.
    pub nnz: usize,
    /// Timed calls.
    pub samples: usize,
    /// Median seconds per call.
    pub median_s: f64,
    /// Fastest call, seconds.
    pub min_s: f64,
    /// Slowest call, seconds.
    pub max_s: f64,
    /// The dense baseline (`dense_matmul`, ...).
    pub baseline: String,
    /// The baseline's median seconds per call, same device and inputs.
    pub baseline_median_s: f64,
    /// `baseline_median_s / median_s`.
    pub speedup_vs_dense: f64,
    /// Useful work (2·nnz·n for products) per second, in GFLOP/s.
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

impl Row {
    /// Rows measured on a software wgpu adapter prove correctness only, never speed.
    pub fn is_software_adapter(&self) -> bool {
        self.software_adapter.unwrap_or(false)
    }

    /// The largest `max_rel_err` a correct row of this `dtype` shows against its dense
    /// baseline: `1e-4` for f32; for half precision both results are rounded to the half type
    /// (relative half-ulp 2⁻⁹ bf16, 2⁻¹² f16, of values up to the largest one), and the dense
    /// baseline may accumulate in lower precision: `1e-2` for bf16, `2e-3` for f16.
    pub fn rel_err_bound(&self) -> f64 {
        match self.dtype.as_str() {
            "bf16" => 1e-2,
            "f16" => 2e-3,
            _ => 1e-4,
        }
    }
}

/// A line of the runner's output: a measured row or a note (a row left out, and why).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Line {
    /// A row left out, and why.
    Note {
        /// The reason, for the report's notes.
        note: String,
    },
    /// A measured row.
    Row(Box<Row>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row {
            suite: "spmm".into(),
            op: "spmm".into(),
            format: "csr".into(),
            dtype: "f32".into(),
            device: "flex".into(),
            shape: Shape { m: 4, k: 5, n: 6 },
            sparsity: 0.9,
            nnz: 2,
            samples: 10,
            median_s: 1e-5,
            min_s: 9e-6,
            max_s: 2e-5,
            baseline: "dense_matmul".into(),
            baseline_median_s: 2e-5,
            speedup_vs_dense: 2.0,
            gflops_effective: 0.1,
            software_adapter: None,
            max_rel_err: None,
            extra: serde_json::Map::new(),
        }
    }

    #[test]
    fn optional_fields_are_left_out_and_extras_flattened() {
        let mut r = row();
        let v = serde_json::to_value(&r).unwrap();
        assert!(v.get("software_adapter").is_none() && v.get("max_rel_err").is_none());
        r.extra.insert("heap_bytes".into(), serde_json::json!(7));
        r.software_adapter = Some(true);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["heap_bytes"], serde_json::json!(7));
        assert_eq!(v["software_adapter"], serde_json::json!(true));
        assert!(v.get("extra").is_none());
        let back: Row = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
        assert!(back.is_software_adapter() && !row().is_software_adapter());
        assert!(!back.extra.contains_key("software_adapter"));
    }

    #[test]
    fn lines_are_rows_or_notes() {
        let note: Line = serde_json::from_str(r#"{"note":"bsr left out"}"#).unwrap();
        assert!(matches!(note, Line::Note { note } if note == "bsr left out"));
        let text = serde_json::to_string(&Line::Row(Box::new(row()))).unwrap();
        let back: Line = serde_json::from_str(&text).unwrap();
        assert!(matches!(back, Line::Row(r) if *r == row()));
    }
}
