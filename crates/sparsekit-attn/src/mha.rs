//! [`SparseMultiHeadAttention`]: burn's multi-head attention with a sparse normaliser and a
//! block-sparse pattern.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig};
use burn::tensor::{Bool, Device, Tensor};
use sparsekit_tensor::AttentionLayout;
use std::sync::Arc;

use crate::attend::{check_layout, Attend, LayoutCache, LearnedAlpha};
use crate::error::{AttnError, Result};
use crate::normalizer::Normalizer;
use crate::pattern::Pattern;

/// Configuration of a [`SparseMultiHeadAttention`]: the fields of burn's
/// `nn::attention::MultiHeadAttentionConfig` (without `min_float` and `quiet_softmax`: masked
/// pairs get exact zeros), plus the normaliser, the pattern and its block size.
#[derive(Config, Debug)]
pub struct SparseMultiHeadAttentionConfig {
    /// Width of the model (of each projection).
    pub d_model: usize,
    /// Number of heads (`d_model` must be a multiple).
    pub n_heads: usize,
    /// Dropout on the attention probabilities (training only). Default: 0.1.
    #[config(default = 0.1)]
    pub dropout: f64,
    /// Initialisation of the projections (burn's default for its multi-head attention).
    #[config(
        default = "Initializer::KaimingUniform{gain: 1.0 / f64::sqrt(3.0), fan_out_only: false}"
    )]
    pub initializer: Initializer,
    /// Bias of the query projection.
    #[config(default = true)]
    pub query_bias: bool,
    /// Bias of the key projection.
    #[config(default = true)]
    pub key_bias: bool,
    /// Bias of the value projection.
    #[config(default = true)]
    pub value_bias: bool,
    /// Bias of the output projection.
    #[config(default = true)]
    pub output_bias: bool,
    /// The normaliser of the scores.
    #[config(default = "Normalizer::Softmax")]
    pub normalizer: Normalizer,
    /// The attention pattern (`None`: every key).
    #[config(default = "None")]
    pub pattern: Option<Pattern>,
    /// Block (tile) size of the pattern's layout.
    #[config(default = 64)]
    pub block: usize,
}

/// Multi-head attention with a choice of normaliser and pattern.
///
/// Paths of [`forward`](Self::forward):
/// - softmax, no pattern: burn's `module::attention` (fused where the backend has it; with
///   dropout in training, the explicit path below, since the fused op has no dropout);
/// - softmax with a pattern: [`sparsekit_tensor::block_sparse_attention`] over the pattern's
///   layout (flash-style, only the kept tiles, never `seq_q × seq_k`; no attention dropout on
///   this path);
/// - a sparse normaliser (with or without a pattern): the explicit path — scores `q·kᵀ/√d_k`
///   (`[batch, heads, seq_q, seq_k]`, dense), disallowed pairs and padding keys set to a large
///   negative value, the normaliser along the keys, probabilities of disallowed pairs set to
///   exactly 0, dropout, `·v`. Memory is `O(seq_q · seq_k)` per head: meant for short
///   sequences.
///
/// A query that sees no key (every key padding or outside the pattern) gets a zero context.
///
/// ```
/// use burn::tensor::{Device, Distribution, Tensor};
/// use sparsekit_attn::{Normalizer, Pattern, SparseMultiHeadAttentionConfig};
/// let device = Device::flex();
/// let mha = SparseMultiHeadAttentionConfig::new(16, 2)
///     .with_normalizer(Normalizer::Softmax)
///     .with_pattern(Some(Pattern::SlidingWindow { width: 3, causal: true }))
///     .with_block(4)
///     .init(&device);
/// let x = Tensor::<3>::random([2, 10, 16], Distribution::Default, &device);
/// let y = mha.forward_self(x.clone(), None);
/// assert_eq!(y.dims(), [2, 10, 16]);
/// let p = mha.attention_weights(x.clone(), x, None);
/// assert_eq!(p.dims(), [2, 2, 10, 10]); // exact zeros outside the window
/// ```
#[derive(Module, Debug)]
pub struct SparseMultiHeadAttention {
    /// `W_Q`.
    pub query: Linear,
    /// `W_K`.
    pub key: Linear,
    /// `W_V`.
    pub value: Linear,
    /// `W_O`.
    pub output: Linear,
    /// Dropout on the probabilities.
    pub dropout: Dropout,
    /// The learned α per head ([`Normalizer::EntmaxLearned`] only).
    pub alpha: Option<LearnedAlpha>,
    /// Width of the model.
    pub d_model: usize,
    /// Number of heads.
    pub n_heads: usize,
    /// Width of a head (`d_model / n_heads`).
    pub d_k: usize,
    /// Block size of the pattern's layout.
    pub block: usize,
    /// The normaliser (not saved in the record).
    #[module(skip)]
    pub normalizer: Normalizer,
    /// The pattern (not saved in the record).
    #[module(skip)]
    pub pattern: Option<Pattern>,
    /// The pattern's compiled layouts by sequence shape.
    #[module(skip)]
    layouts: LayoutCache,
}

impl SparseMultiHeadAttentionConfig {
    /// The module on `device`; panics on an invalid configuration (see
    /// [`try_init`](Self::try_init)).
    pub fn init(&self, device: &Device) -> SparseMultiHeadAttention {
        self.try_init(device)
            .unwrap_or_else(|e| panic!("SparseMultiHeadAttentionConfig::init: {e}"))
    }

    /// The module on `device`. Errors: `n_heads = 0` or not dividing `d_model`, an invalid
    /// normaliser α, pattern or block size, dropout outside `[0, 1)`.
    pub fn try_init(&self, device: &Device) -> Result<SparseMultiHeadAttention> {
        if self.n_heads == 0 || self.d_model % self.n_heads != 0 {
            return Err(AttnError::Config(format!(
                "d_model {} is not a positive multiple of n_heads {}",
                self.d_model, self.n_heads
            )));
        }
        if !(self.dropout.is_finite() && (0.0..1.0).contains(&self.dropout)) {
            return Err(AttnError::Config(format!(
                "dropout must be in [0, 1), got {}",
                self.dropout
            )));
        }
        self.normalizer.validate()?;
        if self.normalizer.is_sparse() {
            return Err(AttnError::Config(
                "sparse normalisers need sparsekit_tensor::normalize (branch norm), not merged yet"
                    .into(),
            ));
        }
        if let Some(p) = &self.pattern {
            if self.block == 0 {
                return Err(AttnError::ZeroBlock);
            }
            p.validate()?;
        }
        let lin = LinearConfig::new(self.d_model, self.d_model)
            .with_initializer(self.initializer.clone());
        let alpha = match self.normalizer {
            Normalizer::EntmaxLearned { init_alpha } => {
                Some(LearnedAlpha::new(self.n_heads, init_alpha, device))
            }
            _ => None,
        };
        Ok(SparseMultiHeadAttention {
            query: lin.clone().with_bias(self.query_bias).init(device),
            key: lin.clone().with_bias(self.key_bias).init(device),
            value: lin.clone().with_bias(self.value_bias).init(device),
            output: lin.with_bias(self.output_bias).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            alpha,
            d_model: self.d_model,
            n_heads: self.n_heads,
            d_k: self.d_model / self.n_heads,
            block: self.block.max(1),
            normalizer: self.normalizer,
            pattern: self.pattern.clone(),
            layouts: LayoutCache::default(),
        })
    }
}

impl SparseMultiHeadAttention {
    fn attend(&self) -> Attend<'_> {
        Attend {
            normalizer: self.normalizer,
            alpha: self.alpha.as_ref(),
            dropout: Some(&self.dropout),
        }
    }

    fn split(&self, x: Tensor<3>, lin: &Linear) -> Tensor<4> {
        let [b, s, _] = x.dims();
        lin.forward(x)
            .reshape([b, s, self.n_heads, self.d_k])
            .swap_dims(1, 2)
    }

    fn merge(&self, ctx: Tensor<4>) -> Tensor<3> {
        let [b, _, s, _] = ctx.dims();
        self.output
            .forward(ctx.swap_dims(1, 2).reshape([b, s, self.d_model]))
    }

    /// The projected heads `(q, k)`, each `[batch, n_heads, seq, d_k]`: the input of the
    /// data-dependent patterns ([`top_k_layouts`](crate::pattern::top_k_layouts),
    /// [`moba_layouts`](crate::pattern::moba_layouts) on their host data).
    pub fn heads(&self, query: Tensor<3>, key: Tensor<3>) -> (Tensor<4>, Tensor<4>) {
        (self.split(query, &self.query), self.split(key, &self.key))
    }

    /// The layout of the configured pattern for `seq_q × seq_k` (`None` without a pattern),
    /// compiled once per shape and cached.
    pub fn layout(&self, seq_q: usize, seq_k: usize) -> Result<Option<Arc<AttentionLayout>>> {
        self.pattern
            .as_ref()
            .map(|p| self.layouts.get(p, seq_q, seq_k, self.block))
            .transpose()
    }

    fn pattern_layout(&self, seq_q: usize, seq_k: usize) -> Option<Arc<AttentionLayout>> {
        self.layout(seq_q, seq_k)
            .expect("the pattern was validated at init")
    }

    /// Attention of `query` (`[batch, seq_q, d_model]`) over `key` and `value`
    /// (`[batch, seq_k, d_model]`), `key_padding` `[batch, seq_k]` (`true` = padding), under the
    /// configured pattern. Output `[batch, seq_q, d_model]`.
    pub fn forward(
        &self,
        query: Tensor<3>,
        key: Tensor<3>,
        value: Tensor<3>,
        key_padding: Option<Tensor<2, Bool>>,
    ) -> Tensor<3> {
        let (sq, sk) = (query.dims()[1], key.dims()[1]);
        let layout = self.pattern_layout(sq, sk);
        self.forward_layout(query, key, value, key_padding, layout.as_deref())
    }

    /// Self-attention: [`forward`](Self::forward) with `x` as query, key and value.
    pub fn forward_self(&self, x: Tensor<3>, key_padding: Option<Tensor<2, Bool>>) -> Tensor<3> {
        self.forward(x.clone(), x.clone(), x, key_padding)
    }

    /// [`forward`](Self::forward) under a given layout instead of the configured pattern: one
    /// shared, or one per head (the data-dependent patterns, through
    /// [`AttentionLayout::per_head`]). Errors: per-head layouts for another number of heads,
    /// layouts of other sequence lengths.
    pub fn forward_with_layout(
        &self,
        query: Tensor<3>,
        key: Tensor<3>,
        value: Tensor<3>,
        key_padding: Option<Tensor<2, Bool>>,
        layout: &AttentionLayout,
    ) -> Result<Tensor<3>> {
        check_layout(layout, self.n_heads, query.dims()[1], key.dims()[1])?;
        Ok(self.forward_layout(query, key, value, key_padding, Some(layout)))
    }

    fn forward_layout(
        &self,
        query: Tensor<3>,
        key: Tensor<3>,
        value: Tensor<3>,
        key_padding: Option<Tensor<2, Bool>>,
        layout: Option<&AttentionLayout>,
    ) -> Tensor<3> {
        let q = self.split(query, &self.query);
        let k = self.split(key, &self.key);
        let v = self.split(value, &self.value);
        self.merge(self.attend().context(q, k, v, key_padding, layout))
    }

    /// The attention probabilities `[batch, n_heads, seq_q, seq_k]` under the configured
    /// pattern (no dropout): exact zeros at padding keys, outside the pattern and wherever a
    /// sparse normaliser puts them — `(p == 0)` counts them.
    pub fn attention_weights(
        &self,
        query: Tensor<3>,
        key: Tensor<3>,
        key_padding: Option<Tensor<2, Bool>>,
    ) -> Tensor<4> {
        let (sq, sk) = (query.dims()[1], key.dims()[1]);
        let layout = self.pattern_layout(sq, sk);
        let (q, k) = self.heads(query, key);
        self.attend().weights(q, k, key_padding, layout.as_deref())
    }
}
