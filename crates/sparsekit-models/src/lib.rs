//! Real pretrained models on burn for sparsekit.
//!
//! - [`bert`]: a BERT-family encoder (all-MiniLM-L6-v2 and other Hugging Face BERT
//!   checkpoints) as burn modules, generic over its configuration; every linear layer a
//!   [`Projection`] (dense, [`SparseLinear`](sparsekit_tensor::SparseLinear) or
//!   [`MaskedLinear`](sparsekit_tensor::MaskedLinear)), every attention block swappable.
//! - [`tokenize`]: Hugging Face `tokenizers` reading the model's `tokenizer.json`.
//! - [`sentence`]: sentence embeddings as sentence-transformers computes them.
//! - [`hooks`]: named activation sites (`resid_pre`, `attn_out`, …) seen by a forward hook;
//!   [`capture`] streams one site's activations into safetensors shards.
//! - [`prune`]: calibrated one-shot pruning of the encoder (magnitude, Wanda, SparseGPT, DSnoT;
//!   uniform, global, ERK and OWL allocations), layer by layer as the reference implementations.
//! - [`save`]: a model directory written back with a model's (pruned) weights, same names and
//!   dtypes, loadable by sentence-transformers.
//! - [`sparse`]: a pruned model run sparse — each projection stored as N:M, BSR, CSR or dense,
//!   whichever its non-zeros suit.
//! - [`distill`]: recovery of a pruned encoder by sparse distillation from the dense one
//!   (only the non-zero weights train; the pattern stays).
//! - [`eval`]: the Debian-corpus retrieval and section-probe evaluations of an encoder.
#![warn(missing_docs)]

pub mod bert;
pub mod capture;
mod device;
pub mod distill;
mod error;
pub mod eval;
pub mod hooks;
mod projection;
pub mod prune;
pub mod save;
pub mod sentence;
pub mod sparse;
pub mod tokenize;

pub use device::DeviceChoice;
pub use error::ModelError;
pub use hooks::Site;
pub use projection::Projection;
pub use sentence::{read_texts, Pooling, SentenceEncoder, Splice};
pub use sparse::{LayerStorage, SparseReport};
