//! Sparsity report: per parameter, exact zeros, near zeros, zero rows and columns.

use std::fmt;

use burn::module::Module;

use crate::error::{check, Result};
use crate::select::{collect_params, select, Selector};

/// Sparsity of one parameter (its matrix view `[dims[0], rest]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSparsity {
    /// Path.
    pub path: String,
    /// The parameter's shape.
    pub dims: Vec<usize>,
    /// Number of entries.
    pub numel: usize,
    /// Entries exactly 0.
    pub zeros: usize,
    /// Entries with `|w| < ε`.
    pub small: usize,
    /// Rows (of the matrix view) that are entirely 0.
    pub zero_rows: usize,
    /// Rows.
    pub rows: usize,
    /// Columns (output neurons of a burn `Linear`) entirely 0.
    pub zero_cols: usize,
    /// Columns.
    pub cols: usize,
}

fn frac(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

impl ParamSparsity {
    /// Fraction of exact zeros.
    pub fn zero_fraction(&self) -> f64 {
        frac(self.zeros, self.numel)
    }
    /// Fraction of `|w| < ε`.
    pub fn small_fraction(&self) -> f64 {
        frac(self.small, self.numel)
    }
    /// Fraction of all-zero rows.
    pub fn zero_row_fraction(&self) -> f64 {
        frac(self.zero_rows, self.rows)
    }
    /// Fraction of all-zero columns.
    pub fn zero_col_fraction(&self) -> f64 {
        frac(self.zero_cols, self.cols)
    }
}

/// Per-parameter sparsity of the selected parameters, with totals.
#[derive(Debug, Clone, PartialEq)]
pub struct SparsityReport {
    /// The ε of the `|w| < ε` count.
    pub eps: f64,
    /// One entry per selected parameter.
    pub params: Vec<ParamSparsity>,
}

impl SparsityReport {
    /// Exact zeros over all selected entries.
    pub fn zero_fraction(&self) -> f64 {
        frac(
            self.params.iter().map(|p| p.zeros).sum(),
            self.params.iter().map(|p| p.numel).sum(),
        )
    }
    /// `|w| < ε` over all selected entries.
    pub fn small_fraction(&self) -> f64 {
        frac(
            self.params.iter().map(|p| p.small).sum(),
            self.params.iter().map(|p| p.numel).sum(),
        )
    }
    /// The entry of `path`.
    pub fn get(&self, path: &str) -> Option<&ParamSparsity> {
        self.params.iter().find(|p| p.path == path)
    }
}

impl fmt::Display for SparsityReport {
    /// A Markdown table.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "| parameter | shape | zeros | |w| < {:e} | zero rows | zero cols |",
            self.eps
        )?;
        writeln!(f, "|---|---|---|---|---|---|")?;
        for p in &self.params {
            writeln!(
                f,
                "| {} | {:?} | {:.2} % | {:.2} % | {}/{} | {}/{} |",
                p.path,
                p.dims,
                100.0 * p.zero_fraction(),
                100.0 * p.small_fraction(),
                p.zero_rows,
                p.rows,
                p.zero_cols,
                p.cols
            )?;
        }
        Ok(())
    }
}

/// The sparsity of the parameters of `module` that `pattern` selects; `eps` ≥ 0.
///
/// ```
/// use burn::nn::LinearConfig;
/// use burn::tensor::Device;
/// use sparsekit_reg::{sparsity_report, Proximal, ProximalStep, SoftThreshold};
/// let layer = LinearConfig::new(4, 3).init(&Device::flex());
/// let layer = ProximalStep::new(SoftThreshold, "weight", 10.0).unwrap().apply(layer, 1.0).unwrap();
/// let r = sparsity_report(&layer, "**", 1e-6).unwrap();
/// assert_eq!(r.get("weight").unwrap().zero_fraction(), 1.0);
/// assert_eq!(r.get("weight").unwrap().zero_cols, 3);
/// ```
pub fn sparsity_report<M: Module>(module: &M, pattern: &str, eps: f64) -> Result<SparsityReport> {
    check("eps", eps, eps >= 0.0, "≥ 0 and finite")?;
    let sel = Selector::new(pattern)?;
    let params = collect_params(module);
    let mut out = Vec::new();
    for p in select(&params, &sel)? {
        let [r, c] = p.shape();
        let v: Vec<f32> = p.value.clone().inner().into_data().iter::<f32>().collect();
        let zeros = v.iter().filter(|&&x| x == 0.0).count();
        let small = v.iter().filter(|&&x| (x.abs() as f64) < eps).count();
        let zero_rows = (0..r)
            .filter(|&i| v[i * c..(i + 1) * c].iter().all(|&x| x == 0.0))
            .count();
        let zero_cols = (0..c)
            .filter(|&j| (0..r).all(|i| v[i * c + j] == 0.0))
            .count();
        out.push(ParamSparsity {
            path: p.path.clone(),
            dims: p.dims.clone(),
            numel: v.len(),
            zeros,
            small,
            zero_rows,
            rows: r,
            zero_cols,
            cols: c,
        });
    }
    Ok(SparsityReport { eps, params: out })
}
