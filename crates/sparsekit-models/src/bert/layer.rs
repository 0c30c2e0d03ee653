//! One encoder layer: attention block, feed-forward block, post-LayerNorm residuals.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::{Bool, Device, Tensor};

use super::attention::{AttentionModule, ProjectionMap, SelfAttention};
use super::BertConfig;
use crate::hooks::{Hook, Site};
use crate::projection::Projection;
use crate::ModelError;

/// The feed-forward block `GELU(x·W₁ᵀ + b₁)·W₂ᵀ + b₂`.
#[derive(Module, Debug)]
pub struct FeedForward {
    /// `W₁` (`intermediate.dense`, `intermediate_size × d`).
    pub intermediate: Projection,
    /// `W₂` (`output.dense`, `d × intermediate_size`).
    pub output: Projection,
}

/// One post-LayerNorm encoder layer with attention block `A`.
#[derive(Module, Debug)]
pub struct BertLayer<A: AttentionModule> {
    /// The attention block (`attention.self.*`, `attention.output.dense`).
    pub attention: A,
    /// `attention.output.LayerNorm`.
    pub attention_norm: LayerNorm,
    /// The feed-forward block (`intermediate.dense`, `output.dense`).
    pub ffn: FeedForward,
    /// `output.LayerNorm`.
    pub output_norm: LayerNorm,
}

impl BertLayer<SelfAttention> {
    /// Random weights for `config`.
    pub fn init(config: &BertConfig, device: &Device) -> Self {
        let d = config.hidden_size;
        let f = config.intermediate_size;
        let norm = || {
            LayerNormConfig::new(d)
                .with_epsilon(config.layer_norm_eps)
                .init(device)
        };
        BertLayer {
            attention: SelfAttention::init(d, config.num_attention_heads, device),
            attention_norm: norm(),
            ffn: FeedForward {
                intermediate: Projection::Dense(LinearConfig::new(d, f).init(device)),
                output: Projection::Dense(LinearConfig::new(f, d).init(device)),
            },
            output_norm: norm(),
        }
    }
}

impl<A: AttentionModule> BertLayer<A> {
    /// The layer's output; `hook` sees each [`Site`] of layer `index` as it is computed and
    /// returns the value to continue with.
    pub fn forward(
        &self,
        x: Tensor<3>,
        padding: &Tensor<2, Bool>,
        index: usize,
        hook: &mut Hook<'_>,
    ) -> Tensor<3> {
        let x = hook(index, Site::ResidPre, x);
        let attn = hook(
            index,
            Site::AttnOut,
            self.attention.forward(x.clone(), padding),
        );
        let mid = hook(index, Site::ResidMid, self.attention_norm.forward(x + attn));
        let hidden = hook(
            index,
            Site::MlpHidden,
            gelu(self.ffn.intermediate.forward(mid.clone())),
        );
        let out = hook(index, Site::MlpOut, self.ffn.output.forward(hidden));
        hook(index, Site::ResidPost, self.output_norm.forward(mid + out))
    }

    /// Replaces the layer's projections through `f` (paths under `encoder.layer.{index}`).
    pub fn map_projections(
        self,
        index: usize,
        f: &mut ProjectionMap<'_>,
    ) -> Result<Self, ModelError> {
        let p = format!("encoder.layer.{index}");
        Ok(BertLayer {
            attention: self
                .attention
                .map_projections(&format!("{p}.attention"), f)?,
            attention_norm: self.attention_norm,
            ffn: FeedForward {
                intermediate: f(&format!("{p}.intermediate.dense"), self.ffn.intermediate)?,
                output: f(&format!("{p}.output.dense"), self.ffn.output)?,
            },
            output_norm: self.output_norm,
        })
    }

    /// Visits the layer's projections with their paths.
    pub fn visit_projections(&self, index: usize, f: &mut dyn FnMut(&str, &Projection)) {
        let p = format!("encoder.layer.{index}");
        self.attention
            .visit_projections(&format!("{p}.attention"), f);
        f(&format!("{p}.intermediate.dense"), &self.ffn.intermediate);
        f(&format!("{p}.output.dense"), &self.ffn.output);
    }
}
