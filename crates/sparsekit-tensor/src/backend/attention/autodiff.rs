//! `Autodiff<B, C>`: block-sparse attention with a hand-written backward pass.
//!
//! The forward keeps `q`, `k`, `v`, `out` and `lse` (the FlashAttention state); the backward
//! calls the inner backend's
//! [`block_attention_backward`](super::BlockAttentionBackend::block_attention_backward) once and
//! registers `dq`, `dk`, `dv` for the parents that require them. The layout and the key mask are
//! constants. `lse` is an auxiliary output: it is untracked (no gradient flows through it).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::{BoolTensor, FloatTensor};
use burn::backend::{Autodiff, Backend};

use super::{BlockAttentionBackend, BlockLayoutPrimitive};

fn inner_layout<B: Backend, C: CheckpointStrategy>(
    l: BlockLayoutPrimitive<Autodiff<B, C>>,
) -> BlockLayoutPrimitive<B> {
    BlockLayoutPrimitive {
        slots: l.slots,
        blocked: l.blocked,
        host: l.host,
    }
}

fn untracked<B: Backend, C: CheckpointStrategy>(t: FloatTensor<B>) -> FloatTensor<Autodiff<B, C>> {
    <Autodiff<B, C> as burn_backend::AutodiffBackend>::from_inner(t)
}

#[derive(Debug)]
struct AttentionBackward;

/// `(q, k, v, out, lse, layout, key_mask, scale)`
type State<B> = (
    FloatTensor<B>,
    FloatTensor<B>,
    FloatTensor<B>,
    FloatTensor<B>,
    FloatTensor<B>,
    BlockLayoutPrimitive<B>,
    BoolTensor<B>,
    f32,
);

impl<B: Backend + BlockAttentionBackend> Backward<B, 3> for AttentionBackward {
    type State = State<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (q, k, v, out, lse, layout, key_mask, scale) = ops.state;
        let d_out = grads.consume::<B>(&ops.node);
        let (dq, dk, dv) =
            B::block_attention_backward(q, k, v, out, lse, d_out, layout, key_mask, scale);
        let [nq, nk, nv] = ops.parents;
        if let Some(n) = nq {
            grads.register::<B>(n.id, dq);
        }
        if let Some(n) = nk {
            grads.register::<B>(n.id, dk);
        }
        if let Some(n) = nv {
            grads.register::<B>(n.id, dv);
        }
    }
}

impl<B: Backend + BlockAttentionBackend, C: CheckpointStrategy> BlockAttentionBackend
    for Autodiff<B, C>
{
    fn block_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        layout: BlockLayoutPrimitive<Self>,
        key_mask: BoolTensor<Self>,
        scale: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let prep = AttentionBackward
            .prepare::<C>([q.node(), k.node(), v.node()])
            .compute_bound()
            .stateful();
        let layout = inner_layout(layout);
        let (q, k, v) = (q.into_primitive(), k.into_primitive(), v.into_primitive());
        match prep {
            OpsKind::Tracked(prep) => {
                let (out, lse) = B::block_attention(
                    q.clone(),
                    k.clone(),
                    v.clone(),
                    layout.clone(),
                    key_mask.clone(),
                    scale,
                );
                let state = (q, k, v, out.clone(), lse.clone(), layout, key_mask, scale);
                (prep.finish(state, out), untracked::<B, C>(lse))
            }
            OpsKind::UnTracked(prep) => {
                let (out, lse) = B::block_attention(q, k, v, layout, key_mask, scale);
                (prep.finish(out), untracked::<B, C>(lse))
            }
        }
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
        let (dq, dk, dv) = B::block_attention_backward(
            q.into_primitive(),
            k.into_primitive(),
            v.into_primitive(),
            out.into_primitive(),
            lse.into_primitive(),
            d_out.into_primitive(),
            inner_layout(layout),
            key_mask,
            scale,
        );
        (
            untracked::<B, C>(dq),
            untracked::<B, C>(dk),
            untracked::<B, C>(dv),
        )
    }
}
