//! The pruner's state as JSON (serde): configuration, masks, statistics, rewind weights. The
//! device-side caches are not written; they are rebuilt on the next step.

use super::Pruner;
use crate::error::{PruneError, Result};

impl Pruner {
    /// The state (config, masks, statistics, rewind weights) as JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| PruneError::InvalidArgument(e.to_string()))
    }

    /// A pruner from [`to_json`](Self::to_json)'s output (masks are validated).
    pub fn from_json(s: &str) -> Result<Self> {
        let p: Self =
            serde_json::from_str(s).map_err(|e| PruneError::InvalidArgument(e.to_string()))?;
        p.config.validate()?;
        for l in &p.layers {
            if l.mask.shape() != l.rows_cols() {
                return Err(PruneError::Shape(format!(
                    "{}: mask {:?} for a {:?} parameter",
                    l.path,
                    l.mask.shape(),
                    l.dims
                )));
            }
        }
        Ok(p)
    }
}
