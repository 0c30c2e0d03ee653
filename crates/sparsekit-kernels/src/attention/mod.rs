//! Block-sparse attention: the [`BlockLayout`] of kept `(query, key)` tiles, and the flash-style
//! kernels that compute attention over only those tiles ([`block_attention_forward`],
//! [`block_attention_backward`]; see [`flash`] for the algorithm).

pub mod flash;
pub mod layout;
mod tile;

pub use flash::{
    block_attention_backward, block_attention_backward_isa, block_attention_forward,
    block_attention_forward_isa, AttentionShape,
};
pub use layout::{BlockLayout, Coverage, FULL};
