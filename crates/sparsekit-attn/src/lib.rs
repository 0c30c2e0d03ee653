//! # sparsekit-attn
//!
//! Sparse attention on burn, on every device.
//!
//! - [`pattern`]: which keys each query sees, as a
//!   [`BlockLayout`](sparsekit_kernels::attention::BlockLayout) of kept tiles — causal, sliding
//!   window, dilated, global tokens, BigBird, explicit block masks and their compositions
//!   ([`Pattern`], serde), and the data-dependent per-query top-k and MoBA block selection
//!   (one layout per head). Burn-free.
#![warn(missing_docs)]

pub mod error;
pub mod pattern;

pub use error::{AttnError, Result};
pub use pattern::Pattern;
