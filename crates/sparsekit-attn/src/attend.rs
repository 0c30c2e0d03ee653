//! The attention core shared by [`SparseMultiHeadAttention`](crate::SparseMultiHeadAttention)
//! and [`SparseSelfAttention`](crate::SparseSelfAttention): heads in, heads out.

use burn::module::{Module, Param};
use burn::nn::Dropout;
use burn::tensor::activation::{softmax, softplus};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Tensor, TensorData};
use sparsekit_tensor::{block_sparse_attention, AttentionLayout};

use crate::error::{AttnError, Result};
use crate::normalizer::Normalizer;
use crate::pattern::Pattern;
use std::sync::{Arc, Mutex};

/// Scores of disallowed pairs before a normaliser: far below any real score, finite (so that
/// the normalisers' sorts, sums and backward passes stay finite), `exp` of it is exactly 0.
const MASKED: f32 = -1.0e9;

/// The learned α of every head, stored as `raw` with `α = 1 + softplus(raw)` (so `α > 1` for
/// every value of the parameter, with a gradient everywhere).
#[derive(Module, Debug)]
pub struct LearnedAlpha {
    /// `softplus⁻¹(α − 1)` per head.
    pub raw: Param<Tensor<1>>,
}

impl LearnedAlpha {
    /// Every head at `alpha` (> 1).
    pub fn new(heads: usize, alpha: f64, device: &Device) -> Self {
        // softplus⁻¹(y) = ln(eᵞ − 1) = y + ln(1 − e⁻ʸ).
        let y = alpha - 1.0;
        let raw = y + (-(-y).exp_m1()).ln();
        LearnedAlpha {
            raw: Param::from_tensor(Tensor::full([heads], raw, device)),
        }
    }

    /// α per head (`[heads]`, each > 1).
    pub fn alpha(&self) -> Tensor<1> {
        softplus(self.raw.val(), 1.0).add_scalar(1.0)
    }
}

/// How the heads attend: the normaliser, its learned α, the dropout on the probabilities.
pub(crate) struct Attend<'a> {
    pub normalizer: Normalizer,
    pub alpha: Option<&'a LearnedAlpha>,
    pub dropout: Option<&'a Dropout>,
}

/// Where the dropout acts (training on an autodiff device with `prob > 0`).
fn dropout_active(d: Option<&Dropout>, device: &Device) -> bool {
    d.is_some_and(|d| d.prob > 0.0 && d.training.is_enabled() && device.is_autodiff())
}

/// The layouts as a mask `[1, heads or 1, seq_q, seq_k]`, `true` = disallowed (burn's mask
/// convention). `O(seq_q · seq_k)`: only the dense paths use it.
pub(crate) fn layout_mask(layout: &AttentionLayout, device: &Device) -> Tensor<4, Bool> {
    let layouts = layout.layouts();
    let (sq, sk) = (layouts[0].seq_q(), layouts[0].seq_k());
    let bits: Vec<bool> = layouts
        .iter()
        .flat_map(|l| l.to_dense_mask().into_iter().map(|a| !a))
        .collect();
    Tensor::from_bool(TensorData::new(bits, [1, layouts.len(), sq, sk]), device)
}

/// Checks that `layout` (one shared, or one per head) fits `heads` heads of `seq_q × seq_k`.
pub(crate) fn check_layout(
    layout: &AttentionLayout,
    heads: usize,
    seq_q: usize,
    seq_k: usize,
) -> Result<()> {
    if layout.heads().is_some_and(|h| h != heads) {
        return Err(AttnError::Config(format!(
            "{} per-head layouts for {heads} heads",
            layout.layouts().len()
        )));
    }
    if (layout.seq_q(), layout.seq_k()) != (seq_q, seq_k) {
        return Err(AttnError::Config(format!(
            "a {}×{} layout for {seq_q} queries and {seq_k} keys",
            layout.seq_q(),
            layout.seq_k()
        )));
    }
    Ok(())
}

/// A cache of the compiled pattern's layouts by `(seq_q, seq_k)`: a pattern is compiled once
/// per sequence shape, and its [`AttentionLayout`] keeps its device tables across calls.
#[derive(Clone, Default)]
pub(crate) struct LayoutCache(Arc<Mutex<Vec<CachedLayout>>>);

/// A compiled layout and its `(seq_q, seq_k)`.
type CachedLayout = ((usize, usize), Arc<AttentionLayout>);

impl std::fmt::Debug for LayoutCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LayoutCache")
    }
}

impl LayoutCache {
    /// The layout of `pattern` for `seq_q × seq_k` in `block` tiles, compiled on first use.
    pub fn get(
        &self,
        pattern: &Pattern,
        seq_q: usize,
        seq_k: usize,
        block: usize,
    ) -> Result<Arc<AttentionLayout>> {
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, l)) = cache.iter().find(|(k, _)| *k == (seq_q, seq_k)) {
            return Ok(l.clone());
        }
        let l = Arc::new(AttentionLayout::shared(
            pattern.layout(seq_q, seq_k, block)?,
        ));
        cache.push(((seq_q, seq_k), l.clone()));
        Ok(l)
    }
}

impl Attend<'_> {
    /// `[batch, heads, seq_q, d_v]` from `q`, `k`: `[batch, heads, seq, d_k]`, `v`, the key
    /// padding `[batch, seq_k]` (`true` = padding) and the layout (checked by the caller).
    pub fn context(
        &self,
        q: Tensor<4>,
        k: Tensor<4>,
        v: Tensor<4>,
        key_padding: Option<Tensor<2, Bool>>,
        layout: Option<&AttentionLayout>,
    ) -> Tensor<4> {
        let device = q.device();
        let softmax = matches!(self.normalizer, Normalizer::Softmax);
        if let (true, Some(layout)) = (softmax, layout) {
            // Block-sparse: only the kept tiles are computed (no attention dropout here).
            return block_sparse_attention(q, k, v, layout, key_padding, None)
                .expect("operands and layout were checked");
        }
        if softmax && !dropout_active(self.dropout, &device) {
            // burn's attention op: fused where the backend has it.
            let [b, h, sq, _] = q.dims();
            let sk = k.dims()[2];
            let mask = key_padding.map(|p| p.reshape([b, 1, 1, sk]).expand([b, h, sq, sk]));
            return attention(q, k, v, mask, None, AttentionModuleOptions::default());
        }
        let p = self.weights(q, k, key_padding, layout);
        match self.dropout {
            Some(d) => d.forward(p).matmul(v),
            None => p.matmul(v),
        }
    }

    /// The probabilities `[batch, heads, seq_q, seq_k]` (no dropout): exact zeros at padding
    /// keys and disallowed pairs; a query with no allowed key gets a row of zeros.
    pub fn weights(
        &self,
        q: Tensor<4>,
        k: Tensor<4>,
        key_padding: Option<Tensor<2, Bool>>,
        layout: Option<&AttentionLayout>,
    ) -> Tensor<4> {
        let device = q.device();
        let [b, h, sq, dk] = q.dims();
        let sk = k.dims()[2];
        let scores = q
            .matmul(k.swap_dims(2, 3))
            .mul_scalar(1.0 / (dk as f64).sqrt());
        let pad = key_padding.map(|p| p.reshape([b, 1, 1, sk]).expand([b, h, sq, sk]));
        let lay = layout.map(|l| layout_mask(l, &device).expand([b, h, sq, sk]));
        let mask = match (pad, lay) {
            (Some(p), Some(l)) => Some(p.bool_or(l)),
            (p, l) => p.or(l),
        };
        let Some(mask) = mask else {
            return self.normalize(scores);
        };
        // Rows without any allowed key are left unmasked (finite everywhere) and zeroed after.
        let empty = mask.clone().all_dim(3).expand([b, h, sq, sk]);
        let fill = mask.clone().bool_and(empty.bool_not());
        let p = self.normalize(scores.mask_fill(fill, MASKED));
        p.mask_fill(mask, 0.0)
    }

    /// The normaliser along the key dimension (3).
    fn normalize(&self, scores: Tensor<4>) -> Tensor<4> {
        match self.normalizer {
            Normalizer::Softmax => softmax(scores, 3),
            Normalizer::Sparsemax => crate::normalize::sparsemax(scores, 3),
            Normalizer::Entmax15 => crate::normalize::entmax15(scores, 3),
            Normalizer::Entmax { alpha } => {
                crate::normalize::entmax_bisect(scores, alpha as f32, 3)
            }
            Normalizer::EntmaxLearned { .. } => {
                let alpha = self
                    .alpha
                    .expect("a learned-alpha normaliser has its parameter")
                    .alpha();
                let [b, h, sq, _] = scores.dims();
                let alpha = alpha.reshape([1, h, 1, 1]).expand([b, h, sq, 1]);
                crate::normalize::entmax_bisect_learned(scores, alpha, 3)
            }
        }
    }
}
