//! Evaluations of sentence embeddings, pure Rust (f32 storage, f64 where precision matters,
//! rayon over rows).
//!
//! - [`retrieval`]: exact cosine search of paired queries and documents, MRR@k and recall@k.
//! - [`classification`]: micro and macro accuracy of predicted class indices.
//! - [`probe`]: a softmax-regression linear probe on frozen embeddings (e.g. package section
//!   from the description's embedding), accuracy on held-out rows.

pub mod classification;
pub mod probe;
pub mod retrieval;
