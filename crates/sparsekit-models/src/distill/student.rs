//! The student: a pruned encoder whose pruned projections are [`SparseLinear`] layers on an
//! autodiff device, with only their stored (non-zero) values trainable.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use sparsekit_tensor::Structure;

use super::loss::{embedding_loss, DistillLoss};
use crate::bert::{Bert, SelfAttention};
use crate::sentence::{l2_normalize, pool};
use crate::tokenize::Encoded;
use crate::{ModelError, Pooling, Projection, SentenceEncoder};

/// A pruned sentence encoder prepared for sparse distillation.
///
/// Every projection with at least one zero weight (and at least one non-zero) is a
/// [`SparseLinear`](sparsekit_tensor::SparseLinear) over its non-zeros: the pattern is fixed and
/// its `values` are the **only** parameters that require gradients. Biases, LayerNorms,
/// embeddings and the projections without zeros (or without non-zeros) are frozen. Pruned
/// weights therefore stay exactly 0 whatever the optimiser does.
#[derive(Debug, Clone)]
pub struct Student {
    /// The encoder on an autodiff device.
    pub model: Bert<SelfAttention>,
    /// Pooling of token states (the pruned model's).
    pub pooling: Pooling,
    /// Whether embeddings are L2-normalised (the pruned model's).
    pub normalize: bool,
    /// Paths of the projections trained as sparse layers.
    pub sparse: Vec<String>,
    /// Paths of the projections left dense and frozen (no zero weight, or no non-zero one).
    pub frozen: Vec<String>,
    dim: usize,
    device: Device,
}

impl Student {
    /// The student of a pruned `encoder`, which must be loaded on an autodiff device
    /// (`Device::flex().autodiff()`, …). An encoder on a plain device, or one without any
    /// pruned projection (there would be nothing to train), is [`ModelError::Invalid`].
    pub fn new(encoder: &SentenceEncoder) -> Result<Self, ModelError> {
        let device = encoder.device().clone();
        if !device.is_autodiff() {
            return Err(ModelError::Invalid(
                "the student must be loaded on an autodiff device (e.g. Device::flex().autodiff())"
                    .into(),
            ));
        }
        let mut sparse = Vec::new();
        let mut frozen = Vec::new();
        let model = encoder
            .model
            .clone()
            .no_grad()
            .map_projections(&mut |path, p| {
                let mask = p.nonzero_mask()?;
                let (o, i) = p.shape();
                let kept = mask.count_ones();
                if kept == 0 || kept == o * i {
                    frozen.push(path.to_string());
                    Ok(p)
                } else {
                    sparse.push(path.to_string());
                    p.sparsify(&mask, Structure::Unstructured)
                }
            })?;
        if sparse.is_empty() {
            return Err(ModelError::Invalid(
                "the student has no pruned projection (every weight matrix is dense): nothing \
                 to distill"
                    .into(),
            ));
        }
        // Everything frozen, then the sparse values (and only them) trainable.
        let model = model.no_grad().map_projections(&mut |_, p| {
            Ok(match p {
                Projection::Sparse(mut l) => {
                    l.values = l.values.set_require_grad(true);
                    Projection::Sparse(l)
                }
                other => other,
            })
        })?;
        Ok(Student {
            model,
            pooling: encoder.pooling,
            normalize: encoder.normalize,
            sparse,
            frozen,
            dim: encoder.dim(),
            device,
        })
    }

    /// The autodiff device the student trains on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Trainable values: the stored weights of the sparse projections.
    pub fn trainable(&self) -> usize {
        let mut n = 0;
        self.model.visit_projections(&mut |_, p| {
            if let Projection::Sparse(l) = p {
                n += l.nnz();
            }
        });
        n
    }

    /// Sentence embeddings `[n, dim]` of a tokenised batch, attached to the autodiff graph.
    pub fn embed(&self, batch: &Encoded) -> Tensor<2> {
        embed_with(
            &self.model,
            batch,
            self.pooling,
            self.normalize,
            &self.device,
        )
    }

    /// The distillation loss of a batch against the teacher's embeddings `target`
    /// (row-major `[n, dim]`, in the batch's order); differentiable w.r.t. the sparse values.
    /// A `target` of the wrong length or an empty batch is [`ModelError::Invalid`].
    pub fn loss(
        &self,
        batch: &Encoded,
        target: &[f32],
        kind: DistillLoss,
    ) -> Result<Tensor<1>, ModelError> {
        let dim = self.dim;
        if batch.is_empty() || target.len() != batch.len() * dim {
            return Err(ModelError::Invalid(format!(
                "teacher embeddings: {} values for {} texts of width {dim}",
                target.len(),
                batch.len()
            )));
        }
        let t = Tensor::<1>::from_floats(target, &self.device).reshape([batch.len(), dim]);
        Ok(embedding_loss(self.embed(batch), t, kind))
    }

    /// Sentence embeddings (row-major `[n, dim]`, host) of a batch without autodiff: what
    /// the trained student computes at inference.
    pub fn embed_inference(&self, batch: &Encoded) -> Result<Vec<f32>, ModelError> {
        let plain = self.model.valid();
        let device = self.device.clone().inner();
        embed_with(&plain, batch, self.pooling, self.normalize, &device)
            .into_data()
            .try_into_vec::<f32>()
            .map_err(|e| ModelError::Invalid(format!("reading embeddings back: {e:?}")))
    }

    /// The trained encoder without autodiff (sparse projections kept), e.g. for
    /// [`save_model_dir`](crate::save::save_model_dir).
    pub fn into_model(self) -> Bert<SelfAttention> {
        self.model.valid()
    }
}

/// Pooled (and normalised) sentence embeddings of `batch` through `model` on `device`.
fn embed_with(
    model: &Bert<SelfAttention>,
    batch: &Encoded,
    pooling: Pooling,
    normalize: bool,
    device: &Device,
) -> Tensor<2> {
    let (ids, padding) = batch.to_device(device);
    let pooled = pool(model.forward(ids, padding.clone()), padding, pooling);
    if normalize {
        l2_normalize(pooled)
    } else {
        pooled
    }
}
