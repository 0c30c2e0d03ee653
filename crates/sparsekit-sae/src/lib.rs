//! # sparsekit-sae
//!
//! Sparse autoencoders (SAEs) trained sparse in every step, on the CPU with SIMD + rayon, in the
//! formats the field uses. See the crate README for the worked example (fetch → activations →
//! train → eval → load in SAELens) and the measured quality and speed.
//!
//! - [`config`], [`params`]: what an SAE is and its weights (latent-major `[d_sae, d_in]`).
//! - [`Sae`]: inference — encode to a [`SparseCode`], decode by gather-sum, reconstruct.
//! - [`train`]: the [`Trainer`] (TopK + AuxK, BatchTopK, JumpReLU, ReLU + L1, Gated; k
//!   annealing; dense or lazy Adam; unit-norm decoder rows; checkpoints).
//! - [`run`]: training from activation shards to a saved SAE (`sparsekit sae train`).
//! - [`eval`]: FVU, L0, dead latents and feature density on shards (`sparsekit sae eval`);
//!   [`splice`] (feature `models`): the SAE spliced into MiniLM, downstream effect.
//! - [`format`]: SAELens (`sae-lens` 6.54.12) and EleutherAI sparsify (`eai-sparsify` 1.3.3)
//!   directories, read and written so that the packages themselves load them.
//! - [`reference`]: the plain `f64` forward of every architecture with SAELens' semantics, the
//!   ground truth for the fast paths.
//! - [`synthetic`]: a planted dictionary to measure feature recovery.
#![warn(missing_docs)]

pub mod code;
pub mod config;
mod encoder;
pub mod error;
pub mod eval;
pub mod format;
mod forward;
pub mod normalize;
pub mod params;
pub mod reference;
pub mod run;
pub mod sae;
#[cfg(feature = "models")]
pub mod splice;
pub mod synthetic;
pub mod train;

pub use code::SparseCode;
pub use config::{Architecture, Normalization, Precision, SaeConfig};
pub use error::{Result, SaeError};
pub use params::{GatedParams, SaeParams};
pub use sae::Sae;
pub use train::{Gradients, StepStats, TrainConfig, Trainer};
