//! [`PrunerConfig`]: what to prune and how (serializable with serde).

use serde::{Deserialize, Serialize};
use sparsekit_formats::Selector;

use crate::allocation::Allocation;
use crate::criterion::Criterion;
use crate::error::{PruneError, Result};
use crate::schedule::{GradientFlow, Schedule};
use crate::structure::Structure;

/// What to prune and how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrunerConfig {
    /// Path pattern of the parameters to prune (default `**.weight`).
    pub include: String,
    /// Path pattern of selected parameters to leave dense (e.g. the first or last layer).
    pub keep_dense: Option<String>,
    /// Importance score.
    pub criterion: Criterion,
    /// Grouping of the kept weights.
    pub structure: Structure,
    /// Split of the global target over layers.
    pub allocation: Allocation,
    /// When to prune and to which target.
    pub schedule: Schedule,
    /// Gradient reaching pruned weights.
    pub flow: GradientFlow,
}

impl PrunerConfig {
    /// Magnitude, unstructured, uniform, blocked gradients, with the given schedule.
    ///
    /// ```
    /// use sparsekit_prune::{PrunerConfig, Schedule, Structure};
    /// let c = PrunerConfig::new(Schedule::OneShot { at: 0, sparsity: 0.5 })
    ///     .with_structure(Structure::NM { n: 2, m: 4 });
    /// assert_eq!(c.include, "**.weight");
    /// ```
    pub fn new(schedule: Schedule) -> Self {
        Self {
            include: "**.weight".into(),
            keep_dense: None,
            criterion: Criterion::Magnitude,
            structure: Structure::Unstructured,
            allocation: Allocation::Uniform,
            schedule,
            flow: GradientFlow::Blocked,
        }
    }
    /// Sets `include`.
    pub fn with_include(mut self, pattern: impl Into<String>) -> Self {
        self.include = pattern.into();
        self
    }
    /// Sets `keep_dense`.
    pub fn with_keep_dense(mut self, pattern: impl Into<String>) -> Self {
        self.keep_dense = Some(pattern.into());
        self
    }
    /// Sets the criterion.
    pub fn with_criterion(mut self, c: Criterion) -> Self {
        self.criterion = c;
        self
    }
    /// Sets the structure.
    pub fn with_structure(mut self, s: Structure) -> Self {
        self.structure = s;
        self
    }
    /// Sets the allocation.
    pub fn with_allocation(mut self, a: Allocation) -> Self {
        self.allocation = a;
        self
    }
    /// Sets the gradient flow.
    pub fn with_flow(mut self, f: GradientFlow) -> Self {
        self.flow = f;
        self
    }
    pub(super) fn validate(&self) -> Result<()> {
        self.structure.validate()?;
        self.schedule.validate()?;
        self.flow.validate()?;
        selector(&self.include)?;
        if let Some(p) = &self.keep_dense {
            selector(p)?;
        }
        Ok(())
    }
}

/// A path pattern, its syntax errors as [`PruneError::InvalidArgument`].
pub(super) fn selector(p: &str) -> Result<Selector> {
    Selector::new(p).map_err(|e| PruneError::InvalidArgument(format!("path pattern: {e}")))
}
