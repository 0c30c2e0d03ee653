//! Flex and NdArray: the `sparsekit-kernels` block-sparse attention kernels on host slices
//! (inputs read row-major, borrowed when contiguous f32; outputs moved into new tensors).

use burn::backend::tensor::{BoolTensor, FloatTensor};
use burn::backend::{Flex, NdArray, TensorMetadata};
use sparsekit_kernels::attention::{
    block_attention_backward, block_attention_forward, AttentionShape,
};

use super::super::cpu::{kernel, out, read, CpuHost};
use super::{key_mask_of, BlockAttentionBackend, BlockLayoutPrimitive};

fn shape_of<B: CpuHost>(
    q: &FloatTensor<B>,
    k: &FloatTensor<B>,
    v: &FloatTensor<B>,
) -> AttentionShape {
    let (qs, ks, vs) = (q.shape(), k.shape(), v.shape());
    for (t, s) in [("q", &qs), ("k", &ks), ("v", &vs)] {
        assert_eq!(
            s.num_dims(),
            4,
            "sparsekit-tensor: attention: {t} must be 4-D, got {s:?}"
        );
    }
    AttentionShape {
        batch: qs[0],
        heads: qs[1],
        seq_q: qs[2],
        seq_k: ks[2],
        head_dim: qs[3],
        value_dim: vs[3],
    }
}

fn key_mask_host<B: CpuHost>(m: Option<BoolTensor<B>>) -> Option<Vec<bool>> {
    m.map(|m| read::<B>(B::bool_into_data(m)).iter::<bool>().collect())
}

pub(crate) fn forward<B: CpuHost>(
    q: FloatTensor<B>,
    k: FloatTensor<B>,
    v: FloatTensor<B>,
    layout: BlockLayoutPrimitive<B>,
    key_mask: Option<BoolTensor<B>>,
    scale: f32,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let s = shape_of::<B>(&q, &k, &v);
    let device = q.device();
    let km = key_mask_host::<B>(key_mask);
    let rows = s.batch * s.heads * s.seq_q;
    let mut o = vec![0.0f32; rows * s.value_dim];
    let mut lse = vec![0.0f32; rows];
    kernel(block_attention_forward(
        &B::f32_host(&q),
        &B::f32_host(&k),
        &B::f32_host(&v),
        s,
        &layout.host.layouts,
        km.as_deref(),
        scale,
        &mut o,
        &mut lse,
    ));
    (
        out::<B>(o, &[s.batch, s.heads, s.seq_q, s.value_dim], &device),
        out::<B>(lse, &[s.batch, s.heads, s.seq_q], &device),
    )
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn backward<B: CpuHost>(
    q: FloatTensor<B>,
    k: FloatTensor<B>,
    v: FloatTensor<B>,
    o: FloatTensor<B>,
    lse: FloatTensor<B>,
    d_out: FloatTensor<B>,
    layout: BlockLayoutPrimitive<B>,
    key_mask: Option<BoolTensor<B>>,
    scale: f32,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let s = shape_of::<B>(&q, &k, &v);
    let device = q.device();
    let km = key_mask_host::<B>(key_mask);
    let mut dq = vec![0.0f32; s.batch * s.heads * s.seq_q * s.head_dim];
    let mut dk = vec![0.0f32; s.batch * s.heads * s.seq_k * s.head_dim];
    let mut dv = vec![0.0f32; s.batch * s.heads * s.seq_k * s.value_dim];
    kernel(block_attention_backward(
        &B::f32_host(&q),
        &B::f32_host(&k),
        &B::f32_host(&v),
        &B::f32_host(&o),
        &B::f32_host(&lse),
        &B::f32_host(&d_out),
        s,
        &layout.host.layouts,
        km.as_deref(),
        scale,
        &mut dq,
        &mut dk,
        &mut dv,
    ));
    (
        out::<B>(dq, &[s.batch, s.heads, s.seq_q, s.head_dim], &device),
        out::<B>(dk, &[s.batch, s.heads, s.seq_k, s.head_dim], &device),
        out::<B>(dv, &[s.batch, s.heads, s.seq_k, s.value_dim], &device),
    )
}

macro_rules! cpu_attention_backend {
    ($b:ty) => {
        impl BlockAttentionBackend for $b {
            fn block_attention(
                q: FloatTensor<Self>,
                k: FloatTensor<Self>,
                v: FloatTensor<Self>,
                layout: BlockLayoutPrimitive<Self>,
                key_mask: BoolTensor<Self>,
                scale: f32,
            ) -> (FloatTensor<Self>, FloatTensor<Self>) {
                forward::<Self>(q, k, v, layout, key_mask_of::<Self>(key_mask), scale)
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
                backward::<Self>(
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
    };
}

cpu_attention_backend!(Flex);
cpu_attention_backend!(NdArray);
