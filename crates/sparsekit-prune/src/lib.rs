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
//!   per-layer map, keep-dense patterns;
//! - [`schedule`]: one-shot, gradual (cubic), iterative with rewinding, periodic; and the
//!   [`GradientFlow`] to pruned weights (progressive decay, annealing);
//! - [`pruner`]: the [`Pruner`] that drives them over a burn module's parameters (burn `Linear`,
//!   `MaskedLinear`, any ≥ 2-D weight) from a training loop, with lottery [`ticket`]s.
//!
//! ```
//! use sparsekit_prune::{structure::{mask, is_nm}, Criterion, Structure};
//! let w = [0.1f32, -0.9, 0.5, 0.3, 0.2, -0.4, 0.7, 0.0]; // 2 × 4, output × input
//! let scores = Criterion::Magnitude.scores(&w, None)?;
//! let m = mask(&scores, 2, 4, 0.5, Structure::NM { n: 2, m: 4 })?;
//! assert!(is_nm(&m, 2, 4));
//! assert_eq!(m.count_ones(), 4);
//! # Ok::<(), sparsekit_prune::PruneError>(())
//! ```
#![warn(missing_docs)]

mod error;

pub use error::{PruneError, Result};

// --- pruning core (criterion / structure / allocation / schedule) and the burn `Pruner` ---
pub mod allocation;
pub mod criterion;
pub mod schedule;
pub mod structure;
pub mod ticket;

pub use allocation::{Allocation, LayerShape};
pub use criterion::{Criterion, ScoreAccumulator};
pub use schedule::{GradientFlow, Gradual, Iterative, Rewind, Schedule};
pub use structure::Structure;
pub use ticket::{Ticket, TicketLayer};
// --- end pruning core ---
