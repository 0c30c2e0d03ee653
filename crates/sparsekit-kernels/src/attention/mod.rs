//! Block-sparse attention: the [`BlockLayout`] of kept `(query, key)` tiles, and the flash-style
//! kernels that compute attention over only those tiles.

pub mod layout;

pub use layout::{BlockLayout, Coverage, FULL};
