//! Sparse attention inside the BERT encoder of `sparsekit-models` (feature `models`).

use std::sync::Arc;

use burn::module::Module;
use burn::tensor::{Bool, Tensor};
use sparsekit_models::bert::{AttentionModule, ProjectionMap, SelfAttention};
use sparsekit_models::{ModelError, Projection};
use sparsekit_tensor::AttentionLayout;

use crate::attend::{Attend, LayoutCache, LearnedAlpha};
use crate::error::{AttnError, Result};
use crate::normalizer::Normalizer;
use crate::pattern::Pattern;

/// A BERT self-attention block with another normaliser and / or a pattern: the four
/// projections and the heads of a model's [`SelfAttention`], unchanged; the paths of
/// [`SparseMultiHeadAttention`](crate::SparseMultiHeadAttention) (no dropout: inference and
/// fine-tuning without attention dropout). Swap it in with
/// [`Bert::map_attention`](sparsekit_models::bert::Bert::map_attention):
///
/// ```no_run
/// # fn demo(enc: sparsekit_models::SentenceEncoder) -> Result<(), sparsekit_attn::AttnError> {
/// use sparsekit_attn::{Normalizer, Pattern, SparseSelfAttention};
/// let window = Some(Pattern::SlidingWindow { width: 8, causal: false });
/// let model = enc.model.map_attention(|_, sa| {
///     SparseSelfAttention::from_self_attention(sa, Normalizer::Softmax, window.clone(), 16)
///         .expect("a valid pattern")
/// });
/// # Ok(()) }
/// ```
#[derive(Module, Debug)]
pub struct SparseSelfAttention {
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
    /// The learned α per head ([`Normalizer::EntmaxLearned`] only).
    pub alpha: Option<LearnedAlpha>,
    /// Block size of the pattern's layout.
    pub block: usize,
    /// The normaliser (not saved in the record).
    #[module(skip)]
    pub normalizer: Normalizer,
    /// The pattern (not saved in the record).
    #[module(skip)]
    pub pattern: Option<Pattern>,
    #[module(skip)]
    layouts: LayoutCache,
}

impl SparseSelfAttention {
    /// The block of `sa` (its projections and heads) with `normalizer` and `pattern` in `block`
    /// tiles. Errors: an invalid normaliser, pattern or block size.
    pub fn from_self_attention(
        sa: SelfAttention,
        normalizer: Normalizer,
        pattern: Option<Pattern>,
        block: usize,
    ) -> Result<Self> {
        normalizer.validate()?;
        if normalizer.is_sparse() {
            return Err(AttnError::Config(
                "sparse normalisers need sparsekit_tensor::normalize (branch norm), not merged yet"
                    .into(),
            ));
        }
        if let Some(p) = &pattern {
            if block == 0 {
                return Err(AttnError::ZeroBlock);
            }
            p.validate()?;
        }
        let alpha = match normalizer {
            Normalizer::EntmaxLearned { init_alpha } => {
                let device = sa.query.weight().device();
                Some(LearnedAlpha::new(sa.num_heads, init_alpha, &device))
            }
            _ => None,
        };
        Ok(SparseSelfAttention {
            query: sa.query,
            key: sa.key,
            value: sa.value,
            output: sa.output,
            num_heads: sa.num_heads,
            alpha,
            block: block.max(1),
            normalizer,
            pattern,
            layouts: LayoutCache::default(),
        })
    }

    /// The projections as a [`SelfAttention`] (to reuse its path names).
    fn as_self_attention(&self) -> SelfAttention {
        SelfAttention {
            query: self.query.clone(),
            key: self.key.clone(),
            value: self.value.clone(),
            output: self.output.clone(),
            num_heads: self.num_heads,
        }
    }

    fn layout(&self, seq: usize) -> Option<Arc<AttentionLayout>> {
        self.pattern.as_ref().map(|p| {
            self.layouts
                .get(p, seq, seq, self.block)
                .expect("the pattern was validated at construction")
        })
    }

    fn heads(&self, hidden: Tensor<3>) -> [Tensor<4>; 3] {
        let [b, s, d] = hidden.dims();
        let h = self.num_heads;
        let split = |t: Tensor<3>| t.reshape([b, s, h, d / h]).swap_dims(1, 2);
        [
            split(self.query.forward(hidden.clone())),
            split(self.key.forward(hidden.clone())),
            split(self.value.forward(hidden)),
        ]
    }

    fn attend(&self) -> Attend<'_> {
        Attend {
            normalizer: self.normalizer,
            alpha: self.alpha.as_ref(),
            dropout: None,
        }
    }

    /// The attention probabilities `[batch, heads, seq, seq]` for `hidden` and `padding`
    /// (`true` = padding): exact zeros at padding keys, outside the pattern and wherever a
    /// sparse normaliser puts them.
    pub fn attention_weights(&self, hidden: Tensor<3>, padding: &Tensor<2, Bool>) -> Tensor<4> {
        let layout = self.layout(hidden.dims()[1]);
        let [q, k, _] = self.heads(hidden);
        self.attend()
            .weights(q, k, Some(padding.clone()), layout.as_deref())
    }
}

impl AttentionModule for SparseSelfAttention {
    fn forward(&self, hidden: Tensor<3>, padding: &Tensor<2, Bool>) -> Tensor<3> {
        let [b, s, d] = hidden.dims();
        let layout = self.layout(s);
        let [q, k, v] = self.heads(hidden);
        let ctx = self
            .attend()
            .context(q, k, v, Some(padding.clone()), layout.as_deref());
        self.output.forward(ctx.swap_dims(1, 2).reshape([b, s, d]))
    }

    fn map_projections(self, prefix: &str, f: &mut ProjectionMap<'_>) -> Result<Self, ModelError> {
        let sa = self.as_self_attention().map_projections(prefix, f)?;
        Ok(SparseSelfAttention {
            query: sa.query,
            key: sa.key,
            value: sa.value,
            output: sa.output,
            ..self
        })
    }

    fn visit_projections(&self, prefix: &str, f: &mut dyn FnMut(&str, &Projection)) {
        self.as_self_attention().visit_projections(prefix, f)
    }
}
