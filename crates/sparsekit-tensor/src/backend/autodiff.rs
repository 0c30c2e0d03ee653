//! `Autodiff<B, C>`: hand-written backward passes that stay sparse.
//!
//! | op | forward | gradient of the values (at the pattern) | gradient of the dense operand |
//! |---|---|---|---|
//! | `csr_spmm`   | `Y = A·X`   | `sddmm(dY, X)`            | `Aᵀ·dY` (`csr_spmm_at`) |
//! | `csr_spmm_t` | `Y = X·Wᵀ`  | `sddmm_linear(dY, X)`     | `dY·W` (`csr_spmm_xa`)  |
//! | `csr_sddmm`  | `o = (L·Rᵀ)∘P` | —                      | `dL = S·R`, `dR = Sᵀ·L` with `S = (P, do)` |
//! | `csr_to_dense` | `D = A`   | `gather(dD, P)`           | — |
//! | `csr_gather` | `o = D∘P`   | —                         | `dD = to_dense(P, do)` |
//! | `gather_decode` | `Y[b] = Σ_j V[b,j]·D[idx[b,j]]` | `dV = gather_decode_dv(dY, idx, D)` | `dD = gather_decode_dd(dY, V, idx)` |
//!
//! The index ops (`topk_rows`, `threshold_row_ptr`, `threshold_col_idx`) have Int results and
//! run untracked on the inner backend. `gather_decode_dv` / `gather_decode_dd` are backward
//! kernels: under `Autodiff` they run on the inner backend and are not differentiated again
//! (first-order gradients only).
//!
//! No dense `m × k` gradient is materialized except by `csr_gather`'s backward, whose input is
//! dense. `csr_spmm_at`, `csr_spmm_xa` and `csr_sddmm_linear` use the trait's default bodies,
//! which are compositions of the ops above (plus `float_select` / `float_transpose`), so they are
//! differentiable too.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, Backend, TensorMetadata};

use super::{float_as, CsrPatternPrimitive, CsrPrimitive, SparseBackend};
use crate::structure::Structure;

type Pat<B> = (IntTensor<B>, IntTensor<B>, usize);

fn pat_of<B: Backend>(p: &Pat<B>) -> CsrPatternPrimitive<B> {
    // Backward passes run on the plain CSR pattern (no structured kernel is needed there).
    CsrPatternPrimitive {
        row_ptr: p.0.clone(),
        col_idx: p.1.clone(),
        cols: p.2,
        structure: Structure::Unstructured,
    }
}

fn inner_csr<B: Backend, C: CheckpointStrategy>(
    a: CsrPrimitive<Autodiff<B, C>>,
) -> (CsrPrimitive<B>, Pat<B>) {
    let pat = (a.row_ptr.clone(), a.col_idx.clone(), a.cols);
    let inner = CsrPrimitive {
        row_ptr: a.row_ptr,
        col_idx: a.col_idx,
        values: a.values.into_primitive(),
        cols: a.cols,
        structure: a.structure,
    };
    (inner, pat)
}

fn inner_pat<B: Backend, C: CheckpointStrategy>(
    p: CsrPatternPrimitive<Autodiff<B, C>>,
) -> (CsrPatternPrimitive<B>, Pat<B>) {
    let pat = (p.row_ptr.clone(), p.col_idx.clone(), p.cols);
    (
        CsrPatternPrimitive {
            row_ptr: p.row_ptr,
            col_idx: p.col_idx,
            cols: p.cols,
            structure: p.structure,
        },
        pat,
    )
}

#[derive(Debug)]
struct SpmmBackward;

impl<B: Backend + SparseBackend> Backward<B, 2> for SpmmBackward {
    // (pattern, A's values, X)
    type State = (Pat<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (pat, values, x) = ops.state;
        let dy = grads.consume::<B>(&ops.node);
        let [na, nx] = ops.parents;
        let (vt, xt) = (values.dtype(), x.dtype());
        if let Some(n) = na {
            let dv = B::csr_sddmm(dy.clone(), x, pat_of(&pat));
            grads.register::<B>(n.id, float_as::<B>(dv, vt));
        }
        if let Some(n) = nx {
            let dx = B::csr_spmm_at(pat_of(&pat).with_values(values), dy);
            grads.register::<B>(n.id, float_as::<B>(dx, xt));
        }
    }
}

#[derive(Debug)]
struct SpmmTBackward;

impl<B: Backend + SparseBackend> Backward<B, 2> for SpmmTBackward {
    // (pattern, W's values, X); parents [X, W.values]
    type State = (Pat<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (pat, values, x) = ops.state;
        let dy = grads.consume::<B>(&ops.node);
        let [nx, nw] = ops.parents;
        let (vt, xt) = (values.dtype(), x.dtype());
        if let Some(n) = nw {
            let dw = B::csr_sddmm_linear(dy.clone(), x, pat_of(&pat));
            grads.register::<B>(n.id, float_as::<B>(dw, vt));
        }
        if let Some(n) = nx {
            let dx = B::csr_spmm_xa(dy, pat_of(&pat).with_values(values));
            grads.register::<B>(n.id, float_as::<B>(dx, xt));
        }
    }
}

#[derive(Debug)]
struct SddmmBackward;

impl<B: Backend + SparseBackend> Backward<B, 2> for SddmmBackward {
    // (pattern, L, R); parents [L, R]
    type State = (Pat<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (pat, l, r) = ops.state;
        let dout = grads.consume::<B>(&ops.node);
        let s = pat_of(&pat).with_values(dout);
        let [nl, nr] = ops.parents;
        let (lt, rt) = (l.dtype(), r.dtype());
        if let Some(n) = nl {
            grads.register::<B>(n.id, float_as::<B>(B::csr_spmm(s.clone(), r), lt));
        }
        if let Some(n) = nr {
            grads.register::<B>(n.id, float_as::<B>(B::csr_spmm_at(s, l), rt));
        }
    }
}

#[derive(Debug)]
struct ToDenseBackward;

impl<B: Backend + SparseBackend> Backward<B, 1> for ToDenseBackward {
    type State = Pat<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dd = grads.consume::<B>(&ops.node);
        let [nv] = ops.parents;
        if let Some(n) = nv {
            grads.register::<B>(n.id, B::csr_gather(dd, pat_of(&ops.state)));
        }
    }
}

#[derive(Debug)]
struct GatherBackward;

impl<B: Backend + SparseBackend> Backward<B, 1> for GatherBackward {
    type State = Pat<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dout = grads.consume::<B>(&ops.node);
        let [nd] = ops.parents;
        if let Some(n) = nd {
            grads.register::<B>(n.id, B::csr_to_dense(pat_of(&ops.state).with_values(dout)));
        }
    }
}

#[derive(Debug)]
struct GatherDecodeBackward;

impl<B: Backend + SparseBackend> Backward<B, 2> for GatherDecodeBackward {
    // (V, idx, D, n); parents [V, D]
    type State = (FloatTensor<B>, IntTensor<B>, FloatTensor<B>, usize);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (v, idx, dict, n) = ops.state;
        let dy = grads.consume::<B>(&ops.node);
        let [nv, nd] = ops.parents;
        if let Some(node) = nv {
            grads.register::<B>(node.id, B::gather_decode_dv(dy.clone(), idx.clone(), dict));
        }
        if let Some(node) = nd {
            grads.register::<B>(node.id, B::gather_decode_dd(dy, v, idx, n));
        }
    }
}

/// An untracked autodiff tensor around an inner result (for backward-only kernels).
fn untracked<B: Backend, C: CheckpointStrategy>(t: FloatTensor<B>) -> FloatTensor<Autodiff<B, C>> {
    <Autodiff<B, C> as burn_backend::AutodiffBackend>::from_inner(t)
}

impl<B: Backend + SparseBackend, C: CheckpointStrategy> SparseBackend for Autodiff<B, C> {
    fn topk_rows(
        x: FloatTensor<Self>,
        k: usize,
        magnitude: bool,
        column_order: bool,
    ) -> IntTensor<Self> {
        B::topk_rows(x.into_primitive(), k, magnitude, column_order)
    }

    fn gather_decode(
        v: FloatTensor<Self>,
        idx: IntTensor<Self>,
        dict: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let prep = GatherDecodeBackward
            .prepare::<C>([v.node(), dict.node()])
            .compute_bound()
            .stateful();
        let (v, dict) = (v.into_primitive(), dict.into_primitive());
        match prep {
            OpsKind::Tracked(prep) => {
                let n = dict.shape()[0];
                let state = (v.clone(), idx.clone(), dict.clone(), n);
                prep.finish(state, B::gather_decode(v, idx, dict))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::gather_decode(v, idx, dict)),
        }
    }

    fn gather_decode_dv(
        dy: FloatTensor<Self>,
        idx: IntTensor<Self>,
        dict: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        untracked::<B, C>(B::gather_decode_dv(
            dy.into_primitive(),
            idx,
            dict.into_primitive(),
        ))
    }

    fn gather_decode_dd(
        dy: FloatTensor<Self>,
        v: FloatTensor<Self>,
        idx: IntTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self> {
        untracked::<B, C>(B::gather_decode_dd(
            dy.into_primitive(),
            v.into_primitive(),
            idx,
            n,
        ))
    }

    fn threshold_row_ptr(x: FloatTensor<Self>, threshold: f32) -> IntTensor<Self> {
        B::threshold_row_ptr(x.into_primitive(), threshold)
    }

    fn threshold_col_idx(
        x: FloatTensor<Self>,
        threshold: f32,
        row_ptr: IntTensor<Self>,
        nnz: usize,
    ) -> IntTensor<Self> {
        B::threshold_col_idx(x.into_primitive(), threshold, row_ptr, nnz)
    }

    fn csr_spmm(a: CsrPrimitive<Self>, x: FloatTensor<Self>) -> FloatTensor<Self> {
        let prep = SpmmBackward
            .prepare::<C>([a.values.node(), x.node()])
            .compute_bound()
            .stateful();
        let (a, pat) = inner_csr(a);
        let x = x.into_primitive();
        match prep {
            OpsKind::Tracked(prep) => {
                let state = (pat, a.values.clone(), x.clone());
                prep.finish(state, B::csr_spmm(a, x))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::csr_spmm(a, x)),
        }
    }

    fn csr_spmm_t(x: FloatTensor<Self>, a: CsrPrimitive<Self>) -> FloatTensor<Self> {
        let prep = SpmmTBackward
            .prepare::<C>([x.node(), a.values.node()])
            .compute_bound()
            .stateful();
        let (a, pat) = inner_csr(a);
        let x = x.into_primitive();
        match prep {
            OpsKind::Tracked(prep) => {
                let state = (pat, a.values.clone(), x.clone());
                prep.finish(state, B::csr_spmm_t(x, a))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::csr_spmm_t(x, a)),
        }
    }

    fn csr_sddmm(
        l: FloatTensor<Self>,
        r: FloatTensor<Self>,
        pattern: CsrPatternPrimitive<Self>,
    ) -> FloatTensor<Self> {
        let prep = SddmmBackward
            .prepare::<C>([l.node(), r.node()])
            .compute_bound()
            .stateful();
        let (p, pat) = inner_pat(pattern);
        let (l, r) = (l.into_primitive(), r.into_primitive());
        match prep {
            OpsKind::Tracked(prep) => {
                let state = (pat, l.clone(), r.clone());
                prep.finish(state, B::csr_sddmm(l, r, p))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::csr_sddmm(l, r, p)),
        }
    }

    fn csr_to_dense(a: CsrPrimitive<Self>) -> FloatTensor<Self> {
        let prep = ToDenseBackward
            .prepare::<C>([a.values.node()])
            .compute_bound()
            .stateful();
        let (a, pat) = inner_csr(a);
        match prep {
            OpsKind::Tracked(prep) => prep.finish(pat, B::csr_to_dense(a)),
            OpsKind::UnTracked(prep) => prep.finish(B::csr_to_dense(a)),
        }
    }

    fn csr_gather(d: FloatTensor<Self>, pattern: CsrPatternPrimitive<Self>) -> FloatTensor<Self> {
        let prep = GatherBackward
            .prepare::<C>([d.node()])
            .compute_bound()
            .stateful();
        let (p, pat) = inner_pat(pattern);
        let d = d.into_primitive();
        match prep {
            OpsKind::Tracked(prep) => prep.finish(pat, B::csr_gather(d, p)),
            OpsKind::UnTracked(prep) => prep.finish(B::csr_gather(d, p)),
        }
    }
}
