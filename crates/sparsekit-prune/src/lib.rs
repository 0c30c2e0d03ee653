//! Pruning and dynamic sparse training for burn models.
//!
//! Pruning is built from composable pieces, each usable alone on plain row-major `&[f32]`
//! matrices (no burn needed, which is what the `sparsekit prune` CLI uses):
//!
//! - [`criterion`]: one score per weight — magnitude, random, gradient, SNIP, Taylor, movement
//!   ([`ScoreAccumulator`] for the ones summed over steps);
//! - [`structure`]: scores → [`Mask`](sparsekit_formats::Mask) at a target sparsity —
//!   unstructured (exact count), N:M, blocks, rows (neurons), columns (channels); `is_nm` & co.;
//! - [`allocation`]: per-layer sparsities from a global target — uniform, global threshold, ERK,
//!   per-layer map, keep-dense patterns; [`owl`] (outlier-weighted layerwise sparsity);
//! - [`schedule`]: one-shot, gradual (cubic), iterative with rewinding, periodic; and the
//!   [`GradientFlow`] to pruned weights (progressive decay, annealing);
//! - [`pruner`]: the [`Pruner`] that drives them over a burn module's parameters (burn `Linear`,
//!   `MaskedLinear`, any ≥ 2-D weight) from a training loop, with lottery [`ticket`]s.
//!
//! Feature `burn` (default) gates [`pruner`], [`ticket`] and [`dst`] and the burn, burn-optim and
//! sparsekit-tensor dependencies; `default-features = false` leaves the burn-free core above
//! (what the `sparsekit` CLI uses, so that it builds without burn, wgpu or CubeCL).
//!
//! ```
//! use burn::nn::{Linear, LinearConfig};
//! use burn::tensor::Device;
//! use sparsekit_prune::{Pruner, PrunerConfig, Schedule, Structure};
//! use sparsekit_tensor::SparseLinear;
//!
//! #[derive(burn::module::Module, Debug)]
//! struct Net { l1: Linear, l2: Linear }
//!
//! let device = Device::flex();
//! let net = Net { l1: LinearConfig::new(16, 8).init(&device), l2: LinearConfig::new(8, 4).init(&device) };
//! // 2:4 by magnitude, once, now (a training loop would call `on_gradients` and `step` every update).
//! let config = PrunerConfig::new(Schedule::OneShot { at: 0, sparsity: 0.5 })
//!     .with_structure(Structure::NM { n: 2, m: 4 });
//! let mut pruner = Pruner::new(config, &net)?;
//! let net = pruner.step(net, 0)?;
//! let mask = pruner.mask("l1.weight").unwrap(); // 8 × 16: output × input
//! assert!(sparsekit_prune::structure::is_nm(mask, 2, 4));
//! assert_eq!(pruner.sparsity(), 0.5);
//! // The pruned layer as a truly sparse one.
//! let sparse = SparseLinear::from_linear(&net.l1, mask)?;
//! assert_eq!(sparse.nnz(), 64);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod error;

pub use error::{PruneError, Result};

// --- burn-free core (always built): criterion / structure / allocation / schedule / oneshot ---
pub mod allocation;
pub mod criterion;
// Calibration-based one-shot pruning: Wanda, SparseGPT, DSnoT.
pub mod oneshot;
pub mod owl;
pub mod schedule;
pub mod structure;

pub use allocation::{Allocation, LayerShape};
pub use criterion::{Criterion, ScoreAccumulator};
pub use schedule::{GradientFlow, Gradual, Iterative, Rewind, Schedule};
pub use structure::Structure;

// --- the burn side (feature `burn`, on by default): the `Pruner`, tickets, dynamic sparse training ---
#[cfg(feature = "burn")]
pub mod dst;
#[cfg(feature = "burn")]
pub mod pruner;
#[cfg(feature = "burn")]
pub mod ticket;

#[cfg(feature = "burn")]
pub use dst::flush_subnormal_optimizer_state;
#[cfg(feature = "burn")]
pub use pruner::{Layout, Pruner, PrunerConfig};
#[cfg(feature = "burn")]
pub use ticket::{Ticket, TicketLayer};
