//! # sparsekit-sae
//!
//! Sparse autoencoders trained sparse in every step.
#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod format;
pub mod params;

pub use config::{Architecture, Normalization, SaeConfig};
pub use error::{Result, SaeError};
pub use params::{GatedParams, SaeParams};
pub mod code;
mod encoder;
mod forward;
pub mod normalize;
pub mod run;
pub mod sae;
pub mod synthetic;
pub mod train;

pub use code::SparseCode;
pub use sae::Sae;
pub use train::{Gradients, StepStats, TrainConfig, Trainer};
pub mod eval;
#[cfg(feature = "models")]
pub mod splice;
