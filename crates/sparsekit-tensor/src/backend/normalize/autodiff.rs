//! `Autodiff<B, C>`: the sparse normalisers with a hand-written backward pass.
//!
//! The forward keeps the output `p` (all the closed forms need), the kind and the per-row α;
//! the backward calls the inner backend's
//! [`normalize_bwd`](super::NormalizeBackend::normalize_bwd) for `z` and, when α is tracked,
//! [`normalize_alpha_grad`](super::NormalizeBackend::normalize_alpha_grad) for α.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend};

use super::{NormalizeBackend, Normalizer};

fn untracked<B: Backend, C: CheckpointStrategy>(t: FloatTensor<B>) -> FloatTensor<Autodiff<B, C>> {
    <Autodiff<B, C> as burn_backend::AutodiffBackend>::from_inner(t)
}

#[derive(Debug)]
struct NormalizeBackward;

/// `(p, kind, alpha)` (alpha `[rows, 1]` or the empty "none").
type State<B> = (FloatTensor<B>, Normalizer, FloatTensor<B>);

impl<B: Backend + NormalizeBackend> Backward<B, 2> for NormalizeBackward {
    type State = State<B>;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (p, kind, alpha) = ops.state;
        let dp = grads.consume::<B>(&ops.node);
        let [nz, na] = ops.parents;
        if let Some(n) = na {
            let da = B::normalize_alpha_grad(p.clone(), dp.clone(), alpha.clone());
            grads.register::<B>(n.id, da);
        }
        if let Some(n) = nz {
            grads.register::<B>(n.id, B::normalize_bwd(p, dp, kind, alpha));
        }
    }
}

impl<B: Backend + NormalizeBackend, C: CheckpointStrategy> NormalizeBackend for Autodiff<B, C> {
    fn normalize_fwd(
        z: FloatTensor<Self>,
        kind: Normalizer,
        alpha: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let prep = NormalizeBackward
            .prepare::<C>([z.node(), alpha.node()])
            .compute_bound()
            .stateful();
        let (z, alpha) = (z.into_primitive(), alpha.into_primitive());
        match prep {
            OpsKind::Tracked(prep) => {
                let p = B::normalize_fwd(z, kind, alpha.clone());
                prep.finish((p.clone(), kind, alpha), p)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::normalize_fwd(z, kind, alpha)),
        }
    }

    fn normalize_bwd(
        p: FloatTensor<Self>,
        dp: FloatTensor<Self>,
        kind: Normalizer,
        alpha: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        untracked::<B, C>(B::normalize_bwd(
            p.into_primitive(),
            dp.into_primitive(),
            kind,
            alpha.into_primitive(),
        ))
    }

    fn normalize_alpha_grad(
        p: FloatTensor<Self>,
        dp: FloatTensor<Self>,
        alpha: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        untracked::<B, C>(B::normalize_alpha_grad(
            p.into_primitive(),
            dp.into_primitive(),
            alpha.into_primitive(),
        ))
    }
}
