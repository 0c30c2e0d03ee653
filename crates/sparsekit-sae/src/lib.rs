//! # sparsekit-sae
//!
//! Sparse autoencoders trained sparse in every step.
//!
//! - [`config`], [`params`]: what an SAE is and its weights (latent-major).
//! - [`format`]: SAELens (`sae-lens` 6.54.12) and EleutherAI sparsify (`eai-sparsify` 1.3.3)
//!   directories, read and written so that the packages themselves load them.
//! - [`reference`]: the plain `f64` forward of every architecture with SAELens' semantics, the
//!   ground truth for fast paths.
#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod format;
pub mod params;
pub mod reference;

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
