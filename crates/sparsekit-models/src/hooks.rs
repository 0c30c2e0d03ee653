//! Named activation sites of an encoder layer, and the hook that sees them.
//!
//! A layer `ℓ` of a post-LayerNorm BERT computes, with `x` its input:
//!
//! | site | value |
//! |---|---|
//! | `resid_pre` | `x` (the layer's input: the embeddings for layer 0) |
//! | `attn_out` | the attention block's output, after its output projection |
//! | `resid_mid` | `LayerNorm(x + attn_out)` |
//! | `mlp_hidden` | `GELU(resid_mid·W₁ᵀ + b₁)` (width `intermediate_size`) |
//! | `mlp_out` | `mlp_hidden·W₂ᵀ + b₂` |
//! | `resid_post` | `LayerNorm(resid_mid + mlp_out)` (the next layer's `resid_pre`) |
//!
//! The forward pass hands each value to a hook (`&mut dyn FnMut(usize, Site, Tensor<3>) ->
//! Tensor<3>`) as it computes it and continues with what the hook returns; the plain forward pass
//! runs the same code with a hook that returns its input, so capturing never changes the result.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use burn::tensor::Tensor;

/// One of the six activation sites of a layer (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Site {
    /// The layer's input.
    ResidPre,
    /// The attention block's output (after its output projection, before the residual).
    AttnOut,
    /// After the first residual and LayerNorm.
    ResidMid,
    /// The feed-forward hidden layer, after GELU.
    MlpHidden,
    /// The feed-forward output (before the residual).
    MlpOut,
    /// The layer's output.
    ResidPost,
}

impl Site {
    /// All sites in forward order.
    pub const ALL: [Site; 6] = [
        Site::ResidPre,
        Site::AttnOut,
        Site::ResidMid,
        Site::MlpHidden,
        Site::MlpOut,
        Site::ResidPost,
    ];

    /// The site's name (`resid_pre`, …), as the CLI and shard metadata spell it.
    pub fn name(self) -> &'static str {
        match self {
            Site::ResidPre => "resid_pre",
            Site::AttnOut => "attn_out",
            Site::ResidMid => "resid_mid",
            Site::MlpHidden => "mlp_hidden",
            Site::MlpOut => "mlp_out",
            Site::ResidPost => "resid_post",
        }
    }

    /// Width of the activations at this site: `intermediate` for `mlp_hidden`, else `hidden`.
    pub fn width(self, hidden: usize, intermediate: usize) -> usize {
        if self == Site::MlpHidden {
            intermediate
        } else {
            hidden
        }
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Site {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Site::ALL
            .into_iter()
            .find(|site| site.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Site::ALL.iter().map(|s| s.name()).collect();
                format!("unknown site {s:?} (expected one of {})", names.join(", "))
            })
    }
}

/// The hook of the forward pass: called with (layer, site, activations `[batch, seq, width]`),
/// it returns the activations the forward pass continues with — the same tensor to observe,
/// another of the same shape to intervene (e.g. splice in an SAE's reconstruction).
pub type Hook<'a> = dyn FnMut(usize, Site, Tensor<3>) -> Tensor<3> + 'a;

/// Activations captured by [`Bert::forward_capture`](crate::bert::Bert::forward_capture), by
/// (layer, site).
#[derive(Debug, Default, Clone)]
pub struct Captures {
    /// The captured tensors, `[batch, seq, width]` each (padding positions included).
    pub tensors: BTreeMap<(usize, Site), Tensor<3>>,
}

impl Captures {
    /// The activations of `site` in `layer`, if captured.
    pub fn get(&self, layer: usize, site: Site) -> Option<&Tensor<3>> {
        self.tensors.get(&(layer, site))
    }
}
