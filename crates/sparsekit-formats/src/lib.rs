//! # sparsekit-formats
//!
//! Owned, validated sparse matrix storage for sparsekit (layer L0: no burn dependency).
//!
//! - [`Csr`], [`Csc`], [`Coo`], [`Bsr`] (r×c blocks), [`NM`] (N:M semi-structured) and [`Mask`]
//!   (bit-packed), generic over the value type ([`Scalar`]: f32, f64, `half::f16`, `half::bf16`)
//!   and the index type ([`SpIndex`]: `u32` default, `u64`).
//! - Structure and values are separate: a [`CsrPattern`] can be shared (`Arc`) by many value arrays.
//! - Every constructor from outside data returns `Result<_, FormatError>`; canonical form (sorted,
//!   duplicate-free indices) is an invariant of every compressed type.
//! - Borrowed views ([`CsrView`], …) are what `sparsekit-kernels` take.
//! - [`sparsity`]: the vocabulary every sparsekit crate shares — how many entries a sparsity
//!   keeps ([`sparsity::keep_count`]), how scores rank (NaN first, ties to the lower index),
//!   what N:M and block structure mean ([`Structure`]), scores → [`Mask`]; and [`Selector`],
//!   which named tensors a path pattern (`**.weight|head.*`) selects.
//! - [`io`]: files the real tools write and read — SciPy `.npz` ([`io::npz`]), Matrix Market
//!   ([`io::mtx`]) and safetensors ([`io::safetensors`]), returning a [`SparseMatrix`]; every
//!   reader validates and bounds its allocations by the bytes present.
//!
//! ```
//! use sparsekit_formats::Csr;
//! let a = Csr::<f32>::try_new(2, 2, vec![0, 1, 2], vec![1, 0], vec![5.0, 6.0])?;
//! assert_eq!(a.nnz(), 2);
//! # Ok::<(), sparsekit_formats::FormatError>(())
//! ```

#![warn(missing_docs)]

pub mod bsr;
mod compressed;
pub mod convert;
pub mod coo;
pub mod csc;
pub mod csr;
pub mod dense;
pub mod error;
pub mod index;
pub mod io;
pub mod mask;
pub mod nm;
pub mod scalar;
pub mod selector;
pub mod sparsity;
pub mod transpose;

pub use bsr::{Bsr, BsrView};
pub use coo::{Coo, CooView};
pub use csc::{Csc, CscPattern, CscPatternView, CscView};
pub use csr::{Csr, CsrPattern, CsrPatternView, CsrView};
pub use dense::Select;
pub use error::{Axis, FormatError, Result};
pub use index::SpIndex;
pub use io::SparseMatrix;
pub use mask::Mask;
pub use nm::{satisfies_nm, NMView, NM};
pub use scalar::Scalar;
pub use selector::Selector;
pub use sparsity::Structure;
