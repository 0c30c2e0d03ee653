//! A BERT-family encoder on burn, generic over its configuration and its attention block.
//!
//! [`BertConfig::from_hf_json`] reads a Hugging Face `config.json`; [`load`] fills the encoder
//! from a `model.safetensors` with Hugging Face tensor names; [`Bert::forward`] maps token ids
//! and a padding mask to hidden states. Every linear layer is a
//! [`Projection`](crate::Projection) and every attention block an [`AttentionModule`], both
//! swappable in one call ([`Bert::map_projections`], [`Bert::map_attention`]).

mod attention;
mod config;
mod embeddings;
mod layer;
mod load;
mod model;

pub use attention::{AttentionModule, ProjectionMap, SelfAttention};
pub use config::BertConfig;
pub use embeddings::BertEmbeddings;
pub use layer::{BertLayer, FeedForward};
pub use load::load;
pub use model::Bert;
