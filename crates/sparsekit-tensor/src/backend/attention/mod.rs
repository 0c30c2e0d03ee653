//! The block-sparse attention extension: [`BlockAttentionBackend`].
//!
//! Implemented for
//! - [`Flex`] and [`NdArray`] (`cpu.rs`): the `sparsekit-kernels` flash-style CPU kernels
//!   (`block_attention_forward` / `block_attention_backward`) on host slices;
//! - [`Cube`] (wgpu, CUDA; `gathered.rs`): the *gathered* formulation written with backend ops
//!   (see that module: per query block, its kept key / value blocks are gathered, padded to the
//!   layout's widest block row; never an `L × L` score matrix);
//! - [`Autodiff<B, C>`] (`autodiff.rs`): a hand-written backward pass that calls
//!   [`block_attention_backward`](BlockAttentionBackend::block_attention_backward) of the inner
//!   backend (gradients for `q`, `k`, `v`; the layout and the key mask are constants).
//!
//! Shapes: `q` is `[batch, heads, seq_q, head_dim]`, `k` is `[batch, heads, seq_k, head_dim]`,
//! `v` is `[batch, heads, seq_k, value_dim]`, `out` is `[batch, heads, seq_q, value_dim]`, `lse`
//! (the log-sum-exp of each query's scaled, masked scores) is `[batch, heads, seq_q]`;
//! `key_mask` is `[batch, seq_k]` with `true` = the key exists (the kernels' convention), or an
//! empty 1-D tensor for "no key mask" (burn's extension macro does not carry an
//! `Option<BoolTensor>`; [`key_mask_of`] reads the convention back). A query with no allowed key
//! gets `out = 0`, `lse = -inf`, and zero gradients.

use std::sync::Arc;

use burn::backend::tensor::{BoolTensor, FloatTensor, IntTensor};
use burn::backend::{backend_extension, Backend, ExtensionType, TensorMetadata};
#[allow(unused_imports)]
use burn::backend::{Autodiff, Cube, Dispatch, Flex, NdArray};
use sparsekit_kernels::attention::BlockLayout;

mod autodiff;
mod cpu;
mod cube;
mod gathered;

/// The host side of a block layout set: one [`BlockLayout`] shared by all heads, or one per head,
/// all with the same sequence lengths and block sizes (checked by the user-facing
/// [`AttentionLayout`](crate::AttentionLayout), which builds it).
#[derive(Debug)]
pub struct LayoutSet {
    /// One layout (shared by every head) or one per head.
    pub layouts: Vec<BlockLayout>,
    /// The widest block row over all layouts: the number of key-block slots of the gathered
    /// formulation.
    pub max_kept: usize,
}

impl LayoutSet {
    /// Builds the set; `layouts` must be non-empty and agree in sequence lengths and block sizes
    /// (the caller checks).
    pub fn new(layouts: Vec<BlockLayout>) -> Self {
        let max_kept = layouts
            .iter()
            .flat_map(|l| l.row_ptr().windows(2).map(|w| w[1] - w[0]))
            .max()
            .unwrap_or(0);
        LayoutSet { layouts, max_kept }
    }
    /// The first layout (they all share sizes).
    pub fn first(&self) -> &BlockLayout {
        &self.layouts[0]
    }
    /// Whether the layout is shared by all heads.
    pub fn shared(&self) -> bool {
        self.layouts.len() == 1
    }

    /// The gathered formulation's slot table: for each layout `l`, query block `r` and slot
    /// `s < max_kept`, the key block of the `s`-th kept tile of row `r` (0 for padding slots),
    /// plus `l · k_blocks` when per-head (an index into the heads-flattened key blocks).
    /// `[layouts · q_blocks · max_kept]`, row-major.
    pub fn slots(&self) -> Vec<i32> {
        let (nq, nk, m) = (
            self.first().q_blocks(),
            self.first().k_blocks(),
            self.max_kept,
        );
        let per_head = !self.shared();
        let mut out = vec![0i32; self.layouts.len() * nq * m];
        for (h, l) in self.layouts.iter().enumerate() {
            let base = if per_head { h * nk } else { 0 };
            for r in 0..nq {
                let (lo, hi) = (l.row_ptr()[r], l.row_ptr()[r + 1]);
                for (s, &c) in l.col_idx()[lo..hi].iter().enumerate() {
                    out[(h * nq + r) * m + s] = (base + c as usize) as i32;
                }
                for s in hi - lo..m {
                    out[(h * nq + r) * m + s] = base as i32;
                }
            }
        }
        out
    }

    /// The gathered formulation's blocked-pair mask: `true` where query row `i` of block row `r`
    /// may *not* see key `j` of slot `s` (padding slots, bits clear in a partial tile, positions
    /// past either sequence end). `[layouts, q_blocks, block_q, max_kept · block_k]`, row-major.
    pub fn blocked(&self) -> Vec<bool> {
        let f = self.first();
        let (nq, bq, bk, m) = (f.q_blocks(), f.block_q(), f.block_k(), self.max_kept);
        let width = m * bk;
        let words = f.words_per_row();
        let mut out = vec![true; self.layouts.len() * nq * bq * width];
        for (h, l) in self.layouts.iter().enumerate() {
            for r in 0..nq {
                let rows = l.rows_in(r);
                for (s, t) in (l.row_ptr()[r]..l.row_ptr()[r + 1]).enumerate() {
                    let c = l.col_idx()[t] as usize;
                    let cols = l.cols_in(c);
                    let bits = l.tile_bits(t);
                    for i in 0..rows {
                        let row = &mut out[((h * nq + r) * bq + i) * width + s * bk..][..cols];
                        for (j, o) in row.iter_mut().enumerate() {
                            *o = bits.is_some_and(|b| b[i * words + j / 64] >> (j % 64) & 1 == 0);
                        }
                    }
                }
            }
        }
        out
    }
}

/// A block layout as backend primitives (built once per layout and device by
/// [`AttentionLayout`](crate::AttentionLayout)).
///
/// `slots` (Int, [`LayoutSet::slots`]) and `blocked` (Bool, [`LayoutSet::blocked`], reshaped to
/// `[layouts, q_blocks, block_q, max_kept · block_k]`) are what the Cube path reads; the CPU
/// backends read only `host` and get zero-sized placeholders there.
#[derive(ExtensionType, Debug, Clone)]
pub struct BlockLayoutPrimitive<B: Backend> {
    /// Key-block slot table, `[layouts · q_blocks · max_kept]` (Int).
    pub slots: IntTensor<B>,
    /// Blocked pairs of the gathered scores, `[layouts, q_blocks, block_q, max_kept · block_k]`.
    pub blocked: BoolTensor<B>,
    /// The layouts on the host.
    pub host: Arc<LayoutSet>,
}

/// Block-sparse attention on backend primitives (see the module docs for shapes and who
/// implements what).
#[backend_extension(NdArray, Flex, Cube, Autodiff)]
pub trait BlockAttentionBackend: Backend {
    /// `(out, lse)`: `out = softmax(scale · q·kᵀ restricted to the layout and key mask) · v`.
    fn block_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        #[extension_type] layout: BlockLayoutPrimitive<Self>,
        key_mask: BoolTensor<Self>,
        scale: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// `(dq, dk, dv)` of [`block_attention`](Self::block_attention) given its `out`, `lse` and
    /// the output gradient `d_out` (FlashAttention's backward formulas). A backward kernel:
    /// under `Autodiff` it is not differentiated again (first-order gradients only).
    #[allow(clippy::too_many_arguments)]
    fn block_attention_backward(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        out: FloatTensor<Self>,
        lse: FloatTensor<Self>,
        d_out: FloatTensor<Self>,
        #[extension_type] layout: BlockLayoutPrimitive<Self>,
        key_mask: BoolTensor<Self>,
        scale: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// The key mask of an op call: `None` for the empty 1-D "no mask" tensor (see the module docs).
pub fn key_mask_of<B: Backend>(m: BoolTensor<B>) -> Option<BoolTensor<B>> {
    (m.shape().num_dims() == 2).then_some(m)
}
