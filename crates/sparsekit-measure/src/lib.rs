//! # sparsekit-measure
//!
//! The pieces every benchmark, report and probe of sparsekit shares, in one burn-free crate so
//! that everything can reach them: the bench runner (`sparsekit-bench`), `cargo xtask bench`'s
//! report writer (which must not compile burn), the examples, and the kernel / tensor / prune
//! probes (`crates/*/examples`). It depends on no other sparsekit crate, so the crates below the
//! runner can use it as a dev-dependency without a dependency cycle.
//!
//! - [`timing`]: the one timer (warm-up, timed calls, median / min / max);
//! - [`row`]: one row of the bench report (`results[]` of docs/bench.md's schema);
//! - [`plot`]: line charts as SVG text, drawn with `plotters`;
//! - [`peers`]: the Python peers' interpreter, directory and environment.

#![warn(missing_docs)]

pub mod peers;
pub mod plot;
pub mod row;
pub mod timing;

pub use plot::{Chart, Series};
pub use row::{Line, Row, Shape};
pub use timing::{measure, measure_interleaved, stats, Stats, Timing};
