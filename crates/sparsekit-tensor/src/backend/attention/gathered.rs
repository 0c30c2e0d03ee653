//! The gathered formulation of block-sparse attention, written with backend ops (any backend;
//! used by Cube, i.e. wgpu and CUDA).
//!
//! Per query block `r`, its kept key blocks are listed in a slot table padded to the layout's
//! widest block row `M` ([`LayoutSet::slots`](super::LayoutSet::slots)). K and V are padded to
//! whole blocks and gathered slot by slot (`select` on the block dimension), which gives per
//! query block a `[M·block_k, dim]` operand; the scores are `[batch, heads·q_blocks, block_q,
//! M·block_k]` — proportional to the kept (padded) tiles, never `seq_q × seq_k` unless the
//! layout is dense. Blocked pairs (padding slots, clear bits of partial tiles, positions past the
//! sequence ends, absent keys) are filled with `-inf`; the softmax is the stable one with the row
//! maximum clamped to a finite value, and the normaliser clamped to 1 (it is `≥ 1` whenever a row
//! has an allowed key), so a row with no allowed key gives `out = 0`, `lse = -inf` and no NaN.
//!
//! Backward: FlashAttention's formulas on the same gathered operands — `P = exp(S − lse)`,
//! `dV_g = Pᵀ·dO`, `dP = dO·V_gᵀ`, `Δ = rowsum(dO ∘ O)`, `dS = P ∘ (dP − Δ)·scale`,
//! `dQ = dS·K_g`, `dK_g = dSᵀ·Q` — and `dK_g`, `dV_g` are added back to their key blocks with
//! `select_assign(.., Add)` (deterministic: burn's kernel loops over the slots serially, no
//! float atomics, so it runs on lavapipe).
//!
//! Why backend ops and not a hand-written CubeCL kernel: the batched matmuls are burn's tuned
//! ones, the formulation is short enough to be checked by reading, and it runs unchanged on every
//! Cube runtime. A fused flash kernel (no materialised `[.., block_q, M·block_k]` scores) is the
//! speed follow-up.

use burn::backend::tensor::{BoolTensor, FloatTensor, IndexingUpdateOp, IntTensor};
use burn::backend::{Backend, TensorMetadata};
use burn::tensor::{FloatDType, Shape, Slice};
use burn_backend::get_or_init_device_settings;

use super::BlockLayoutPrimitive;

/// All sizes of one call.
#[derive(Clone, Copy, Debug)]
struct Dims {
    b: usize,
    h: usize,
    lq: usize,
    lk: usize,
    d: usize,
    dv: usize,
    bq: usize,
    bk: usize,
    nq: usize,
    nk: usize,
    m: usize,
    shared: bool,
}

impl Dims {
    fn new<B: Backend>(
        q: &FloatTensor<B>,
        k: &FloatTensor<B>,
        v: &FloatTensor<B>,
        layout: &BlockLayoutPrimitive<B>,
    ) -> Self {
        let (qs, ks, vs) = (q.shape(), k.shape(), v.shape());
        let f = layout.host.first();
        Dims {
            b: qs[0],
            h: qs[1],
            lq: qs[2],
            lk: ks[2],
            d: qs[3],
            dv: vs[3],
            bq: f.block_q(),
            bk: f.block_k(),
            nq: f.q_blocks(),
            nk: f.k_blocks(),
            m: layout.host.max_kept,
            shared: layout.host.shared(),
        }
    }
    /// Nothing to compute: every output is zero (and `lse = -inf`).
    fn degenerate(&self) -> bool {
        self.b * self.h * self.lq == 0 || self.lk == 0 || self.m == 0
    }
}

fn float_dtype<B: Backend>(t: &FloatTensor<B>) -> FloatDType {
    FloatDType::from(t.dtype())
}

fn zeros_like<B: Backend>(t: &FloatTensor<B>, shape: Vec<usize>) -> FloatTensor<B> {
    B::float_zeros(Shape::from(shape), &t.device(), float_dtype::<B>(t))
}

fn reshape<B: Backend>(t: FloatTensor<B>, shape: Vec<usize>) -> FloatTensor<B> {
    B::float_reshape(t, Shape::from(shape))
}

fn full_range(n: usize) -> Slice {
    Slice::new(0, Some(n as isize), 1)
}

/// Pads dim 2 of a 4-D tensor with zeros up to `to` rows.
fn pad_rows<B: Backend>(t: FloatTensor<B>, to: usize) -> FloatTensor<B> {
    let s = t.shape();
    if s[2] >= to {
        return t;
    }
    let z = zeros_like::<B>(&t, vec![s[0], s[1], to - s[2], s[3]]);
    B::float_cat(vec![t, z], 2)
}

/// The first `n` rows (dim 2) of a 4-D tensor.
fn take_rows<B: Backend>(t: FloatTensor<B>, n: usize) -> FloatTensor<B> {
    let s = t.shape();
    if s[2] == n {
        return t;
    }
    B::float_slice(
        t,
        &[
            full_range(s[0]),
            full_range(s[1]),
            full_range(n),
            full_range(s[3]),
        ],
    )
}

/// `[b, h, L, x]` → the gathered `[b, h·nq, M·bk, x]` of the kept key blocks of each query block.
fn gather_blocks<B: Backend>(t: FloatTensor<B>, dm: Dims, slots: &IntTensor<B>) -> FloatTensor<B> {
    let x = t.shape()[3];
    let t = pad_rows::<B>(t, dm.nk * dm.bk);
    let g = if dm.shared {
        let t = reshape::<B>(t, vec![dm.b, dm.h, dm.nk, dm.bk * x]);
        B::float_select(t, 2, slots.clone())
    } else {
        let t = reshape::<B>(t, vec![dm.b, dm.h * dm.nk, dm.bk * x]);
        B::float_select(t, 1, slots.clone())
    };
    reshape::<B>(g, vec![dm.b, dm.h * dm.nq, dm.m * dm.bk, x])
}

/// The adjoint of [`gather_blocks`]: `[b, h·nq, M·bk, x]` summed back into `[b, h, lk, x]`.
fn scatter_blocks<B: Backend>(g: FloatTensor<B>, dm: Dims, slots: &IntTensor<B>) -> FloatTensor<B> {
    let x = g.shape()[3];
    let out = if dm.shared {
        let g = reshape::<B>(g, vec![dm.b, dm.h, dm.nq * dm.m, dm.bk * x]);
        let z = zeros_like::<B>(&g, vec![dm.b, dm.h, dm.nk, dm.bk * x]);
        B::float_select_assign(z, 2, slots.clone(), g, IndexingUpdateOp::Add)
    } else {
        let g = reshape::<B>(g, vec![dm.b, dm.h * dm.nq * dm.m, dm.bk * x]);
        let z = zeros_like::<B>(&g, vec![dm.b, dm.h * dm.nk, dm.bk * x]);
        B::float_select_assign(z, 1, slots.clone(), g, IndexingUpdateOp::Add)
    };
    take_rows::<B>(reshape::<B>(out, vec![dm.b, dm.h, dm.nk * dm.bk, x]), dm.lk)
}

/// Blocked pairs of the gathered scores, `[b, h·nq, bq, M·bk]`: the layout's mask, or-ed with the
/// gathered absent keys.
fn blocked_mask<B: Backend>(
    layout: &BlockLayoutPrimitive<B>,
    key_mask: Option<BoolTensor<B>>,
    dm: Dims,
) -> BoolTensor<B> {
    let w = dm.m * dm.bk;
    let full = Shape::from(vec![dm.b, dm.h, dm.nq, dm.bq, w]);
    let hl = if dm.shared { 1 } else { dm.h };
    let lay = B::bool_reshape(
        layout.blocked.clone(),
        Shape::from(vec![1, hl, dm.nq, dm.bq, w]),
    );
    let lay = B::bool_expand(lay, full.clone());
    let mask = match key_mask {
        None => lay,
        Some(km) => {
            let device = km.device();
            let absent = B::bool_not(km);
            let padded = dm.nk * dm.bk;
            let absent = if padded > dm.lk {
                let dtype = get_or_init_device_settings::<B>(&device).bool_dtype;
                let none = B::bool_zeros(Shape::from(vec![dm.b, padded - dm.lk]), &device, dtype);
                B::bool_cat(vec![absent, B::bool_not(none)], 1)
            } else {
                absent
            };
            let g = if dm.shared {
                let a = B::bool_reshape(absent, Shape::from(vec![dm.b, dm.nk, dm.bk]));
                let g = B::bool_select(a, 1, layout.slots.clone());
                B::bool_reshape(g, Shape::from(vec![dm.b, 1, dm.nq, 1, w]))
            } else {
                let a = B::bool_reshape(absent, Shape::from(vec![dm.b, 1, dm.nk, dm.bk]));
                let a = B::bool_expand(a, Shape::from(vec![dm.b, dm.h, dm.nk, dm.bk]));
                let a = B::bool_reshape(a, Shape::from(vec![dm.b, dm.h * dm.nk, dm.bk]));
                let g = B::bool_select(a, 1, layout.slots.clone());
                B::bool_reshape(g, Shape::from(vec![dm.b, dm.h, dm.nq, 1, w]))
            };
            B::bool_or(lay, B::bool_expand(g, full))
        }
    };
    B::bool_reshape(mask, Shape::from(vec![dm.b, dm.h * dm.nq, dm.bq, w]))
}

/// The gathered operands and the masked, scaled scores.
struct Gathered<B: Backend> {
    qp: FloatTensor<B>,
    kg: FloatTensor<B>,
    vg: FloatTensor<B>,
    s: FloatTensor<B>,
}

fn gathered<B: Backend>(
    q: FloatTensor<B>,
    k: FloatTensor<B>,
    v: FloatTensor<B>,
    layout: &BlockLayoutPrimitive<B>,
    key_mask: Option<BoolTensor<B>>,
    scale: f32,
    dm: Dims,
) -> Gathered<B> {
    let qp = reshape::<B>(
        pad_rows::<B>(q, dm.nq * dm.bq),
        vec![dm.b, dm.h * dm.nq, dm.bq, dm.d],
    );
    let kg = gather_blocks::<B>(k, dm, &layout.slots);
    let vg = gather_blocks::<B>(v, dm, &layout.slots);
    let s = B::float_matmul(qp.clone(), B::float_swap_dims(kg.clone(), 2, 3));
    let s = B::float_mul_scalar(s, scale.into());
    let s = B::float_mask_fill(
        s,
        blocked_mask::<B>(layout, key_mask, dm),
        f32::NEG_INFINITY.into(),
    );
    Gathered { qp, kg, vg, s }
}

/// Forward: `(out [b, h, lq, dv], lse [b, h, lq])`.
pub(crate) fn forward<B: Backend>(
    q: FloatTensor<B>,
    k: FloatTensor<B>,
    v: FloatTensor<B>,
    layout: BlockLayoutPrimitive<B>,
    key_mask: Option<BoolTensor<B>>,
    scale: f32,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let dm = Dims::new::<B>(&q, &k, &v, &layout);
    if dm.degenerate() {
        let out = zeros_like::<B>(&q, vec![dm.b, dm.h, dm.lq, dm.dv]);
        let lse = B::float_full(
            Shape::from(vec![dm.b, dm.h, dm.lq]),
            f32::NEG_INFINITY.into(),
            &q.device(),
            float_dtype::<B>(&q),
        );
        return (out, lse);
    }
    let g = gathered::<B>(q, k, v, &layout, key_mask, scale, dm);
    // Stable softmax; an all-blocked row has max = -inf, clamped to a finite value so that
    // exp(-inf - max) = 0 instead of NaN.
    let max = B::float_clamp_min(B::float_max_dim(g.s.clone(), 3), f32::MIN.into());
    let p = B::float_exp(B::float_sub(g.s, max.clone()));
    let l = B::float_sum_dim(p.clone(), 3);
    let lse = B::float_add(max, B::float_log(l.clone()));
    // l ≥ 1 for a row with an allowed key (its maximum contributes exp(0)); 0 otherwise.
    let p = B::float_div(p, B::float_clamp_min(l, 1.0f32.into()));
    let out = B::float_matmul(p, g.vg);
    let out = take_rows::<B>(
        reshape::<B>(out, vec![dm.b, dm.h, dm.nq * dm.bq, dm.dv]),
        dm.lq,
    );
    let lse = take_rows::<B>(reshape::<B>(lse, vec![dm.b, dm.h, dm.nq * dm.bq, 1]), dm.lq);
    let lse = reshape::<B>(lse, vec![dm.b, dm.h, dm.lq]);
    (out, lse)
}

/// Backward: `(dq, dk, dv)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward<B: Backend>(
    q: FloatTensor<B>,
    k: FloatTensor<B>,
    v: FloatTensor<B>,
    out: FloatTensor<B>,
    lse: FloatTensor<B>,
    d_out: FloatTensor<B>,
    layout: BlockLayoutPrimitive<B>,
    key_mask: Option<BoolTensor<B>>,
    scale: f32,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let dm = Dims::new::<B>(&q, &k, &v, &layout);
    if dm.degenerate() {
        return (
            zeros_like::<B>(&q, vec![dm.b, dm.h, dm.lq, dm.d]),
            zeros_like::<B>(&k, vec![dm.b, dm.h, dm.lk, dm.d]),
            zeros_like::<B>(&v, vec![dm.b, dm.h, dm.lk, dm.dv]),
        );
    }
    let rows = dm.nq * dm.bq;
    let g = gathered::<B>(q, k, v, &layout, key_mask, scale, dm);
    let lse = reshape::<B>(lse, vec![dm.b, dm.h, dm.lq, 1]);
    let lse = reshape::<B>(pad_rows::<B>(lse, rows), vec![dm.b, dm.h * dm.nq, dm.bq, 1]);
    // lse = -inf only on rows whose scores are all -inf: clamp to keep exp(-inf - lse) = 0.
    let p = B::float_exp(B::float_sub(g.s, B::float_clamp_min(lse, f32::MIN.into())));
    let shape = |x: usize| vec![dm.b, dm.h * dm.nq, dm.bq, x];
    let d_out = reshape::<B>(pad_rows::<B>(d_out, rows), shape(dm.dv));
    let out = reshape::<B>(pad_rows::<B>(out, rows), shape(dm.dv));
    let dvg = B::float_matmul(B::float_swap_dims(p.clone(), 2, 3), d_out.clone());
    let dp = B::float_matmul(d_out.clone(), B::float_swap_dims(g.vg, 2, 3));
    let delta = B::float_sum_dim(B::float_mul(d_out, out), 3);
    let ds = B::float_mul(p, B::float_sub(dp, delta));
    let ds = B::float_mul_scalar(ds, scale.into());
    let dq = B::float_matmul(ds.clone(), g.kg);
    let dq = take_rows::<B>(reshape::<B>(dq, vec![dm.b, dm.h, rows, dm.d]), dm.lq);
    let dkg = B::float_matmul(B::float_swap_dims(ds, 2, 3), g.qp);
    let dk = scatter_blocks::<B>(dkg, dm, &layout.slots);
    let dv = scatter_blocks::<B>(dvg, dm, &layout.slots);
    (dq, dk, dv)
}
