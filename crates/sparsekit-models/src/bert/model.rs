//! The encoder: embeddings and a stack of layers, with hooks and swappable parts.

use burn::module::Module;
use burn::tensor::{Bool, Device, Int, Tensor};

use super::attention::{AttentionModule, ProjectionMap, SelfAttention};
use super::embeddings::BertEmbeddings;
use super::layer::BertLayer;
use super::BertConfig;
use crate::hooks::{Captures, Hook, Site};
use crate::projection::Projection;
use crate::ModelError;

/// A BERT-family encoder with attention blocks `A` ([`SelfAttention`] as loaded).
#[derive(Module, Debug)]
pub struct Bert<A: AttentionModule> {
    /// The embedding block.
    pub embeddings: BertEmbeddings,
    /// The encoder layers (`encoder.layer.N`).
    pub layers: Vec<BertLayer<A>>,
}

impl BertConfig {
    /// An encoder with random weights (burn's initialisers). Panics on an invalid config (use
    /// [`BertConfig::validate`] first for an error).
    pub fn init(&self, device: &Device) -> Bert<SelfAttention> {
        if let Err(e) = self.validate() {
            panic!("BertConfig::init: {e}");
        }
        Bert {
            embeddings: BertEmbeddings::init(self, device),
            layers: (0..self.num_hidden_layers)
                .map(|_| BertLayer::init(self, device))
                .collect(),
        }
    }
}

impl<A: AttentionModule> Bert<A> {
    /// Token ids `[batch, seq]` and padding mask `[batch, seq]` (`true` = padding) → the last
    /// layer's hidden states `[batch, seq, d]`.
    pub fn forward(&self, ids: Tensor<2, Int>, padding: Tensor<2, Bool>) -> Tensor<3> {
        self.forward_hooked(ids, padding, self.layers.len(), &mut |_, _, t| t)
    }

    /// The forward pass through the first `layers` layers (all when `layers ≥` the depth),
    /// handing every [`Site`] to `hook` as it is computed. [`forward`](Self::forward) is this
    /// with a hook that does nothing.
    pub fn forward_hooked(
        &self,
        ids: Tensor<2, Int>,
        padding: Tensor<2, Bool>,
        layers: usize,
        hook: &mut Hook<'_>,
    ) -> Tensor<3> {
        let mut x = self.embeddings.forward(ids);
        for (i, layer) in self.layers.iter().take(layers).enumerate() {
            x = layer.forward(x, &padding, i, hook);
        }
        x
    }

    /// The forward pass, keeping the activations of `sites` (layer, site). Runs only as many
    /// layers as the deepest requested site needs; returns that layer's output. A layer index
    /// past the depth is [`ModelError::Invalid`].
    pub fn forward_capture(
        &self,
        ids: Tensor<2, Int>,
        padding: Tensor<2, Bool>,
        sites: &[(usize, Site)],
    ) -> Result<(Tensor<3>, Captures), ModelError> {
        if let Some(&(l, _)) = sites.iter().find(|(l, _)| *l >= self.layers.len()) {
            return Err(ModelError::Invalid(format!(
                "layer {l} does not exist (the model has {} layers: 0..{})",
                self.layers.len(),
                self.layers.len()
            )));
        }
        let depth = sites
            .iter()
            .map(|&(l, _)| l + 1)
            .max()
            .unwrap_or(self.layers.len());
        let mut captures = Captures::default();
        let out = self.forward_hooked(ids, padding, depth, &mut |l, s, t| {
            if sites.contains(&(l, s)) {
                captures.tensors.insert((l, s), t.clone());
            }
            t
        });
        Ok((out, captures))
    }

    /// Number of layers.
    pub fn depth(&self) -> usize {
        self.layers.len()
    }

    /// Replaces every projection (linear layer) through `f`, called with its Hugging Face path
    /// (`encoder.layer.3.attention.self.query`, `encoder.layer.3.intermediate.dense`, …) in
    /// forward order; return the projection unchanged to keep it. The first error stops the
    /// walk.
    ///
    /// ```no_run
    /// # use sparsekit_models::bert::{Bert, SelfAttention};
    /// # use sparsekit_models::Projection;
    /// # use sparsekit_formats::Mask;
    /// # use sparsekit_tensor::Structure;
    /// # fn masks(path: &str) -> Mask { unimplemented!() }
    /// # fn f(bert: Bert<SelfAttention>) -> Result<(), sparsekit_models::ModelError> {
    /// // Every feed-forward weight as a SparseLinear with a mask from somewhere else.
    /// let sparse = bert.map_projections(&mut |path, p| {
    ///     if path.ends_with("intermediate.dense") || path.ends_with("output.dense") {
    ///         p.sparsify(&masks(path), Structure::Unstructured)
    ///     } else {
    ///         Ok(p)
    ///     }
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn map_projections(self, f: &mut ProjectionMap<'_>) -> Result<Self, ModelError> {
        let layers = self
            .layers
            .into_iter()
            .enumerate()
            .map(|(i, l)| l.map_projections(i, f))
            .collect::<Result<_, _>>()?;
        Ok(Bert {
            embeddings: self.embeddings,
            layers,
        })
    }

    /// Visits every projection with its Hugging Face path, in forward order.
    pub fn visit_projections(&self, f: &mut dyn FnMut(&str, &Projection)) {
        for (i, l) in self.layers.iter().enumerate() {
            l.visit_projections(i, f);
        }
    }

    /// Replaces every layer's attention block through `f(layer index, block)` (another
    /// attention, e.g. sparse).
    pub fn map_attention<B: AttentionModule>(self, mut f: impl FnMut(usize, A) -> B) -> Bert<B> {
        Bert {
            embeddings: self.embeddings,
            layers: self
                .layers
                .into_iter()
                .enumerate()
                .map(|(i, l)| BertLayer {
                    attention: f(i, l.attention),
                    attention_norm: l.attention_norm,
                    ffn: l.ffn,
                    output_norm: l.output_norm,
                })
                .collect(),
        }
    }
}
