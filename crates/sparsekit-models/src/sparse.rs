//! Sparse inference of a pruned model: every pruned projection stored in the format its
//! pattern suits and run by the sparse kernels.
//!
//! A pruned checkpoint (e.g. written by `sparsekit prune` through
//! [`save_model_dir`](crate::save::save_model_dir)) stores its pruned weights as exact zeros in
//! dense tensors. [`SentenceEncoder::sparsify_pruned`] (or [`Bert::sparsify_pruned`]) reads
//! each projection's non-zeros ([`Projection::nonzero_mask`]) and asks the sparsity
//! vocabulary's one rule, [`inference_storage`], how to store it:
//!
//! | pattern | storage | kernel |
//! |---|---|---|
//! | N:M of [`NM_KERNELS`](sparsekit_formats::sparsity::NM_KERNELS) (2:4, 4:8, 1:4, …), filling its slots | N:M | `nm_spmm_t` |
//! | whole aligned blocks of [`BLOCK_KERNELS`](sparsekit_formats::sparsity::BLOCK_KERNELS) (16×16, 8×8, 4×4) | BSR | `bsr_spmm_t` |
//! | anything else, sparse enough | CSR | `spmm_t` |
//! | density above the kernel's measured break-even against dense GEMM | dense | burn's `matmul` |
//!
//! The products are the same sums as the dense layer's (only the zero terms are skipped), so
//! the embeddings equal the dense run of the same weights within f32 rounding (tested: cosine
//! ≥ 0.99999 per text). The break-even densities and the end-to-end speed are measured in
//! `docs/models.md` ("Sparse inference").
//!
//! ```no_run
//! use std::path::Path;
//! use burn::tensor::Device;
//! use sparsekit_models::SentenceEncoder;
//! let enc = SentenceEncoder::load(Path::new("minilm-2of4"), &Device::flex())?;
//! let (enc, report) = enc.sparsify_pruned()?;
//! for layer in &report.layers {
//!     println!("{} {} ({} of {} stored)", layer.path, layer.storage, layer.stored, layer.entries());
//! }
//! let embeddings = enc.embed(&["a pruned model, run sparse"], 32)?;
//! # Ok::<(), sparsekit_models::ModelError>(())
//! ```

use std::fmt;

use sparsekit_formats::sparsity::{inference_storage, mask, Storage, Structure};

use crate::bert::{AttentionModule, Bert};
use crate::{ModelError, Projection, SentenceEncoder};

/// How one projection is stored after [`Bert::sparsify_pruned`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerStorage {
    /// Hugging Face path (`encoder.layer.0.attention.self.query`).
    pub path: String,
    /// `(d_output, d_input)`.
    pub shape: (usize, usize),
    /// Non-zero weights.
    pub nonzeros: usize,
    /// The storage chosen by [`inference_storage`].
    pub storage: Storage,
    /// Weight entries stored: `nonzeros` for CSR and BSR, `rows · (cols / m) · n` for N:M
    /// (groups with fewer than `n` non-zeros padded with explicit zeros), all entries for dense.
    pub stored: usize,
}

impl LayerStorage {
    /// `d_output · d_input`.
    pub fn entries(&self) -> usize {
        self.shape.0 * self.shape.1
    }

    /// Fraction of zero weights.
    pub fn sparsity(&self) -> f64 {
        match self.entries() {
            0 => 0.0,
            e => 1.0 - self.nonzeros as f64 / e as f64,
        }
    }
}

/// Per-projection storage of a sparsified model, in forward order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SparseReport {
    /// One entry per projection.
    pub layers: Vec<LayerStorage>,
}

impl SparseReport {
    /// Weight entries stored over all projections.
    pub fn stored(&self) -> usize {
        self.layers.iter().map(|l| l.stored).sum()
    }

    /// Weight entries of the dense projections (`Σ d_output · d_input`).
    pub fn entries(&self) -> usize {
        self.layers.iter().map(LayerStorage::entries).sum()
    }

    /// How many projections use each storage, in first-seen order (`[("2:4", 36)]`).
    pub fn counts(&self) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = Vec::new();
        for l in &self.layers {
            let name = l.storage.to_string();
            match out.iter_mut().find(|(n, _)| *n == name) {
                Some((_, c)) => *c += 1,
                None => out.push((name, 1)),
            }
        }
        out
    }
}

impl fmt::Display for SparseReport {
    /// One line per projection: path, shape, sparsity, storage, stored entries; then a total.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.layers {
            writeln!(
                f,
                "{:<44} {:>4}×{:<4} sparsity {:>5.1} %  {:<9} {:>8} stored",
                l.path,
                l.shape.0,
                l.shape.1,
                100.0 * l.sparsity(),
                l.storage.to_string(),
                l.stored
            )?;
        }
        let counts: Vec<String> = self
            .counts()
            .into_iter()
            .map(|(n, c)| format!("{c} {n}"))
            .collect();
        write!(
            f,
            "{} projections ({}): {} of {} weight entries stored",
            self.layers.len(),
            counts.join(", "),
            self.stored(),
            self.entries()
        )
    }
}

/// The projection with its smallest-magnitude weights set to exactly 0 (dense storage): the
/// kept set is the vocabulary's [`mask`] of `|W|` at `sparsity` under `structure` (N:M fixes
/// its own sparsity). The plainest pruning, for tests and benchmarks of sparse inference (the
/// speed of a pattern does not depend on which method chose it); calibrated methods (Wanda,
/// SparseGPT) live with `sparsekit prune`.
///
/// ```
/// use burn::nn::LinearConfig;
/// use burn::tensor::Device;
/// use sparsekit_formats::sparsity::Structure;
/// use sparsekit_models::{sparse::magnitude_prune, Projection};
/// let p = Projection::from(LinearConfig::new(8, 4).init(&Device::flex()));
/// let pruned = magnitude_prune(&p, 0.0, Structure::NM { n: 2, m: 4 })?;
/// assert_eq!(pruned.nonzero_mask()?.count_ones(), 16);
/// # Ok::<(), sparsekit_models::ModelError>(())
/// ```
pub fn magnitude_prune(
    p: &Projection,
    sparsity: f64,
    structure: Structure,
) -> Result<Projection, ModelError> {
    let (rows, cols) = p.shape();
    let w = p.weight_values()?;
    let scores: Vec<f32> = w.iter().map(|v| v.abs()).collect();
    let keep = mask(&scores, rows, cols, sparsity, structure)
        .map_err(|e| ModelError::Invalid(format!("pruning mask: {e}")))?;
    let pruned: Vec<f32> = w
        .iter()
        .enumerate()
        .map(|(k, &v)| if keep.get(k / cols, k % cols) { v } else { 0.0 })
        .collect();
    p.with_weight(&pruned)
}

/// One projection in the storage its non-zeros suit (see the [module docs](self)).
fn sparsify_one(path: &str, p: Projection) -> Result<(Projection, LayerStorage), ModelError> {
    let mask = p.nonzero_mask()?;
    let storage = inference_storage(&mask);
    let out = match storage {
        Storage::Dense => match p {
            Projection::Dense(_) => p,
            other => Projection::Dense(other.to_linear()),
        },
        Storage::Sparse(structure) => p.sparsify(&mask, structure)?,
    };
    let report = LayerStorage {
        path: path.to_string(),
        shape: out.shape(),
        nonzeros: mask.count_ones(),
        storage,
        stored: out.stored_weights(),
    };
    Ok((out, report))
}

impl<A: AttentionModule> Bert<A> {
    /// Stores every projection as its non-zeros suit ([`inference_storage`]: N:M, BSR, CSR or
    /// dense) so that the pruned weights cost nothing in the forward pass; returns the model and
    /// what was chosen per projection. The result computes the same function (within f32
    /// rounding). Already sparse or masked projections are re-stored the same way.
    pub fn sparsify_pruned(self) -> Result<(Self, SparseReport), ModelError> {
        let mut report = SparseReport::default();
        let model = self.map_projections(&mut |path, p| {
            let (p, layer) = sparsify_one(path, p)?;
            report.layers.push(layer);
            Ok(p)
        })?;
        Ok((model, report))
    }
}

impl SentenceEncoder {
    /// [`Bert::sparsify_pruned`] on the encoder: a pruned model directory, loaded by
    /// [`SentenceEncoder::load`], run by the sparse kernels.
    pub fn sparsify_pruned(self) -> Result<(Self, SparseReport), ModelError> {
        let mut enc = self;
        let (model, report) = enc.model.sparsify_pruned()?;
        enc.model = model;
        Ok((enc, report))
    }
}
