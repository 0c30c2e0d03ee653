//! Allocation: per-layer sparsities from one global target.
//!
//! | allocation | per-layer sparsity | reference |
//! |---|---|---|
//! | [`Allocation::Uniform`] | the target for every layer | Zhu & Gupta 2017 |
//! | [`Allocation::Global`] | one score threshold over all layers (exact global count) | Han et al. 2015, Frankle & Carbin 2019 |
//! | [`Allocation::Erk`] | density ∝ `(n_in + n_out) / (n_in · n_out)`, capped at 1 | Evci et al. 2020 (RigL) |
//! | [`Allocation::PerLayer`] | given per layer by path pattern | |
//!
//! Layers matched by the `keep_dense` pattern (see [`Selector`](sparsekit_formats::Selector) for
//! the path syntax, shared by every sparsekit crate) get sparsity 0 and are left
//! out of the accounting: the target applies to the weights of the other layers.

use serde::{Deserialize, Serialize};
use sparsekit_formats::Selector;

use crate::error::{PruneError, Result};
use crate::structure::{check_sparsity, keep_count, top_k};

/// A layer's name (parameter path) and its `rows × cols` (output × input) shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerShape {
    /// Parameter path, e.g. `l1.weight`.
    pub name: String,
    /// Output features.
    pub rows: usize,
    /// Input features.
    pub cols: usize,
}

impl LayerShape {
    /// A named `rows × cols` layer.
    pub fn new(name: impl Into<String>, rows: usize, cols: usize) -> Self {
        Self {
            name: name.into(),
            rows,
            cols,
        }
    }
    /// `rows · cols`.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }
    /// Whether the layer has no weights.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a global target sparsity is split over layers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Allocation {
    /// Every layer at the target.
    Uniform,
    /// One threshold over the scores of all layers: exactly `round((1 − s) · total)` weights are
    /// kept overall (ties broken by layer order, then index).
    Global,
    /// Erdős–Rényi: density `ε · (n_in + n_out) / (n_in · n_out)`, with `ε` chosen so that the
    /// kept weights are `(1 − s)` of all; layers whose density would exceed 1 are made dense and
    /// `ε` is solved again over the rest (the iteration of the RigL reference code).
    Erk,
    /// `(pattern, sparsity)` pairs: a layer takes the sparsity of the first pattern that matches
    /// its name, else the target.
    PerLayer(Vec<(String, f64)>),
}

impl Allocation {
    /// Per-layer sparsities for `layers` at the global `target`. `scores` (one vector per layer)
    /// are needed by [`Allocation::Global`] only. `keep_dense` is a path pattern of layers to
    /// leave dense.
    ///
    /// ```
    /// use sparsekit_prune::{Allocation, LayerShape};
    /// let layers = [LayerShape::new("l1.weight", 300, 784), LayerShape::new("l2.weight", 10, 300)];
    /// let s = Allocation::Erk.sparsities(&layers, 0.9, None, None)?;
    /// let kept: f64 = layers.iter().zip(&s).map(|(l, s)| (1.0 - s) * l.len() as f64).sum();
    /// let total: f64 = layers.iter().map(|l| l.len() as f64).sum();
    /// assert!((kept / total - 0.1).abs() < 1e-12);
    /// assert!(s[1] < s[0]); // the small layer is kept denser
    /// assert_eq!(Allocation::Uniform.sparsities(&layers, 0.5, Some("l2.*"), None)?, [0.5, 0.0]);
    /// # Ok::<(), sparsekit_prune::PruneError>(())
    /// ```
    pub fn sparsities(
        &self,
        layers: &[LayerShape],
        target: f64,
        keep_dense: Option<&str>,
        scores: Option<&[Vec<f32>]>,
    ) -> Result<Vec<f64>> {
        check_sparsity(target)?;
        let dense_sel = keep_dense.map(selector).transpose()?;
        let prunable: Vec<bool> = layers
            .iter()
            .map(|l| !dense_sel.as_ref().is_some_and(|s| s.matches(&l.name)))
            .collect();
        let mut out = vec![0.0; layers.len()];
        match self {
            Allocation::Uniform => {
                for (o, &p) in out.iter_mut().zip(&prunable) {
                    if p {
                        *o = target;
                    }
                }
            }
            Allocation::PerLayer(map) => {
                let sels = map
                    .iter()
                    .map(|(p, s)| {
                        check_sparsity(*s)?;
                        Ok((selector(p)?, *s))
                    })
                    .collect::<Result<Vec<_>>>()?;
                for ((o, l), &p) in out.iter_mut().zip(layers).zip(&prunable) {
                    if p {
                        *o = sels
                            .iter()
                            .find(|(s, _)| s.matches(&l.name))
                            .map_or(target, |(_, s)| *s);
                    }
                }
            }
            Allocation::Erk => {
                let d = erk_densities(layers, &prunable, 1.0 - target);
                for (o, d) in out.iter_mut().zip(d) {
                    *o = 1.0 - d;
                }
            }
            Allocation::Global => {
                let scores = scores.ok_or_else(|| {
                    PruneError::InvalidArgument("global allocation needs the scores".into())
                })?;
                if scores.len() != layers.len() {
                    return Err(PruneError::Shape(format!(
                        "{} score vectors for {} layers",
                        scores.len(),
                        layers.len()
                    )));
                }
                let mut all = Vec::new();
                let mut owner = Vec::new();
                for (i, (l, s)) in layers.iter().zip(scores).enumerate() {
                    if s.len() != l.len() {
                        return Err(PruneError::Shape(format!(
                            "layer {}: {} scores for {}x{}",
                            l.name,
                            s.len(),
                            l.rows,
                            l.cols
                        )));
                    }
                    if prunable[i] {
                        all.extend_from_slice(s);
                        owner.extend(std::iter::repeat_n(i, s.len()));
                    }
                }
                let mut kept = vec![0usize; layers.len()];
                for j in top_k(&all, keep_count(all.len(), target)?) {
                    kept[owner[j]] += 1;
                }
                for (i, l) in layers.iter().enumerate() {
                    if prunable[i] && !l.is_empty() {
                        out[i] = 1.0 - kept[i] as f64 / l.len() as f64;
                    }
                }
            }
        }
        Ok(out)
    }
}

fn selector(p: &str) -> Result<Selector> {
    Selector::new(p).map_err(|e| PruneError::InvalidArgument(format!("path pattern: {e}")))
}

/// ERK densities (1 for the layers that are not prunable), `density` the overall target over the
/// prunable layers.
fn erk_densities(layers: &[LayerShape], prunable: &[bool], density: f64) -> Vec<f64> {
    let budget: f64 = layers
        .iter()
        .zip(prunable)
        .filter(|(_, &p)| p)
        .map(|(l, _)| l.len() as f64)
        .sum::<f64>()
        * density;
    // Empty layers, and layers that are not pruned, are dense from the start.
    let mut dense: Vec<bool> = layers
        .iter()
        .zip(prunable)
        .map(|(l, &p)| !p || l.is_empty())
        .collect();
    loop {
        let fixed: f64 = layers
            .iter()
            .zip(prunable)
            .zip(&dense)
            .filter(|((_, &p), &d)| p && d)
            .map(|((l, _), _)| l.len() as f64)
            .sum();
        let raw: f64 = layers
            .iter()
            .zip(&dense)
            .filter(|(_, &d)| !d)
            .map(|(l, _)| (l.rows + l.cols) as f64)
            .sum();
        let eps = if raw > 0.0 {
            (budget - fixed).max(0.0) / raw
        } else {
            0.0
        };
        let dens: Vec<f64> = layers
            .iter()
            .zip(&dense)
            .map(|(l, &d)| {
                if d {
                    1.0
                } else {
                    eps * (l.rows + l.cols) as f64 / l.len() as f64
                }
            })
            .collect();
        // RigL's iteration: every layer above 1 becomes dense at once, then solve again.
        let mut changed = false;
        for (d, &x) in dense.iter_mut().zip(&dens) {
            if !*d && x > 1.0 {
                *d = true;
                changed = true;
            }
        }
        if !changed {
            return dens;
        }
    }
}
