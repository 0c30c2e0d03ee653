//! The attention block: a trait any replacement implements, and BERT's softmax self-attention.

use burn::module::Module;
use burn::nn::LinearConfig;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Tensor};

use crate::projection::Projection;
use crate::ModelError;

/// A function that replaces a projection found at a Hugging Face path
/// (`encoder.layer.0.attention.self.query`, …); see
/// [`Bert::map_projections`](crate::bert::Bert::map_projections).
pub type ProjectionMap<'a> = dyn FnMut(&str, Projection) -> Result<Projection, ModelError> + 'a;

/// An encoder layer's attention block: from the layer input `[batch, seq, d]` and the padding
/// mask `[batch, seq]` (`true` = padding), the block's output `[batch, seq, d]` (after its
/// output projection, before the residual). Implement it to swap the attention of a model
/// ([`Bert::map_attention`](crate::bert::Bert::map_attention)).
pub trait AttentionModule: Module {
    /// The block's output for `hidden` (`[batch, seq, d]`), `padding` (`[batch, seq]`).
    fn forward(&self, hidden: Tensor<3>, padding: &Tensor<2, Bool>) -> Tensor<3>;

    /// Replaces the block's projections through `f`, given the block's path prefix
    /// (`encoder.layer.N.attention`). The default has none.
    fn map_projections(self, _prefix: &str, _f: &mut ProjectionMap<'_>) -> Result<Self, ModelError>
    where
        Self: Sized,
    {
        Ok(self)
    }

    /// Visits the block's projections with their paths. The default has none.
    fn visit_projections(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Projection)) {}
}

/// BERT's multi-head softmax self-attention with a padding mask, computed by burn's
/// `module::attention` op (so each backend's fused path is used).
#[derive(Module, Debug)]
pub struct SelfAttention {
    /// `W_Q` (`attention.self.query`).
    pub query: Projection,
    /// `W_K` (`attention.self.key`).
    pub key: Projection,
    /// `W_V` (`attention.self.value`).
    pub value: Projection,
    /// `W_O` (`attention.output.dense`).
    pub output: Projection,
    /// Number of heads.
    pub num_heads: usize,
}

/// The four projections' names under the block prefix, in Hugging Face's layout.
const NAMES: [&str; 4] = ["self.query", "self.key", "self.value", "output.dense"];

impl SelfAttention {
    /// Random weights (burn's `Linear` initialisation), `d` wide with `num_heads` heads.
    pub fn init(d: usize, num_heads: usize, device: &Device) -> Self {
        let lin = || Projection::Dense(LinearConfig::new(d, d).init(device));
        SelfAttention {
            query: lin(),
            key: lin(),
            value: lin(),
            output: lin(),
            num_heads,
        }
    }
}

impl SelfAttention {
    /// The heads' outputs, merged (`[batch, seq, d]`): the input of the output projection
    /// (`attention.output.dense`). [`forward`](AttentionModule::forward) is this followed by that
    /// projection; calibration-based pruning reads it as the output projection's inputs.
    pub fn context(&self, hidden: Tensor<3>, padding: &Tensor<2, Bool>) -> Tensor<3> {
        let [b, s, d] = hidden.dims();
        let h = self.num_heads;
        let split = |t: Tensor<3>| t.reshape([b, s, h, d / h]).swap_dims(1, 2);
        let q = split(self.query.forward(hidden.clone()));
        let k = split(self.key.forward(hidden.clone()));
        let v = split(self.value.forward(hidden));
        // Padding keys are masked for every query (true = masked).
        let mask = padding.clone().reshape([b, 1, 1, s]).expand([b, h, s, s]);
        let ctx = attention(q, k, v, Some(mask), None, AttentionModuleOptions::default());
        ctx.swap_dims(1, 2).reshape([b, s, d])
    }
}

impl AttentionModule for SelfAttention {
    fn forward(&self, hidden: Tensor<3>, padding: &Tensor<2, Bool>) -> Tensor<3> {
        self.output.forward(self.context(hidden, padding))
    }

    fn map_projections(self, prefix: &str, f: &mut ProjectionMap<'_>) -> Result<Self, ModelError> {
        let [q, k, v, o] = NAMES.map(|n| format!("{prefix}.{n}"));
        Ok(SelfAttention {
            query: f(&q, self.query)?,
            key: f(&k, self.key)?,
            value: f(&v, self.value)?,
            output: f(&o, self.output)?,
            num_heads: self.num_heads,
        })
    }

    fn visit_projections(&self, prefix: &str, f: &mut dyn FnMut(&str, &Projection)) {
        let parts = [&self.query, &self.key, &self.value, &self.output];
        for (name, p) in NAMES.iter().zip(parts) {
            f(&format!("{prefix}.{name}"), p);
        }
    }
}
