//! Pruning and dynamic sparse training for burn models.
//!
//! Work in progress: the modules below are being filled in (issue 7).
#![warn(missing_docs)]

mod error;

pub mod dst;
// Calibration-based one-shot pruning: Wanda, SparseGPT, DSnoT.
pub mod oneshot;

pub use error::{PruneError, Result};
