//! Pruning and dynamic sparse training for burn models.
//!
//! Work in progress: the modules below are being filled in (issue 7).
#![warn(missing_docs)]

mod error;

pub mod dst;

pub use error::{PruneError, Result};
