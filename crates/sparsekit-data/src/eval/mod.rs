//! Evaluations of sentence embeddings.

pub mod probe;
pub mod retrieval;
