//! # sparsekit-sae
//!
//! Sparse autoencoders trained sparse in every step.
#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod format;
pub mod params;
pub mod reference;

pub use config::{Architecture, Normalization, SaeConfig};
pub use error::{Result, SaeError};
pub use params::{GatedParams, SaeParams};
