//! Cube (wgpu, CUDA): the gathered formulation of `gathered.rs` on Cube primitives.

use burn::backend::tensor::{BoolTensor, FloatTensor};
use burn::backend::Cube;

use super::{gathered, key_mask_of, BlockAttentionBackend, BlockLayoutPrimitive};

impl BlockAttentionBackend for Cube {
    fn block_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        layout: BlockLayoutPrimitive<Self>,
        key_mask: BoolTensor<Self>,
        scale: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        gathered::forward::<Self>(q, k, v, layout, key_mask_of::<Self>(key_mask), scale)
    }

    fn block_attention_backward(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        out: FloatTensor<Self>,
        lse: FloatTensor<Self>,
        d_out: FloatTensor<Self>,
        layout: BlockLayoutPrimitive<Self>,
        key_mask: BoolTensor<Self>,
        scale: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        gathered::backward::<Self>(
            q,
            k,
            v,
            out,
            lse,
            d_out,
            layout,
            key_mask_of::<Self>(key_mask),
            scale,
        )
    }
}
