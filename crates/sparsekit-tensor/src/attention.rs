//! Block-sparse attention on every device, differentiable: [`block_sparse_attention`] over an
//! [`AttentionLayout`] (one [`BlockLayout`] shared by all heads, or one per head).
//!
//! The layout says which `(query, key)` tiles are computed (full tiles, or partial ones with a
//! bit mask: see [`sparsekit_kernels::attention`]); the work is proportional to the kept tiles.
//! Flex and NdArray run the `sparsekit-kernels` flash-style CPU kernels; Cube devices (wgpu,
//! CUDA) run a gathered formulation with backend ops (no `seq_q × seq_k` score matrix); under
//! autodiff, the backward pass is FlashAttention's, hand-written (see
//! [`backend::BlockAttentionBackend`](crate::backend::BlockAttentionBackend)).

use std::sync::{Arc, Mutex};

use burn::backend::{Dispatch, DispatchDevice};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use sparsekit_kernels::attention::BlockLayout;

use crate::backend::{BlockAttentionBackend, BlockLayoutPrimitive, LayoutSet};
use crate::error::SparseError;

/// Device-side tables of one layout on one device (`slots`, `blocked`; see
/// [`BlockLayoutPrimitive`]).
struct DeviceTables {
    device: Device,
    autodiff: bool,
    slots: Tensor<1, Int>,
    blocked: Tensor<4, Bool>,
}

/// A block-sparse attention layout ready for [`block_sparse_attention`]: the host
/// [`BlockLayout`]s plus, per device it is used on, the device-side tables the Cube path reads
/// (built on first use and cached: patterns are reused across layers and steps; CPU devices get
/// zero-sized placeholders, their kernels read the host layouts).
///
/// Invariants (always checked by the constructors): at least one layout; all layouts have the
/// same `seq_q`, `seq_k`, `block_q`, `block_k`.
pub struct AttentionLayout {
    host: Arc<LayoutSet>,
    tables: Mutex<Vec<DeviceTables>>,
}

impl std::fmt::Debug for AttentionLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttentionLayout")
            .field("layouts", &self.host.layouts.len())
            .field("seq_q", &self.seq_q())
            .field("seq_k", &self.seq_k())
            .field("max_kept", &self.host.max_kept)
            .finish()
    }
}

impl AttentionLayout {
    /// One layout shared by every head.
    pub fn shared(layout: BlockLayout) -> Self {
        Self::build(vec![layout])
    }

    /// One layout per head (`layouts.len()` must equal the heads of the operands).
    ///
    /// Errors: [`SparseError::Layout`] when `layouts` is empty or the layouts differ in sequence
    /// lengths or block sizes.
    pub fn per_head(layouts: Vec<BlockLayout>) -> Result<Self, SparseError> {
        let Some(first) = layouts.first() else {
            return Err(SparseError::Layout("no layout given".into()));
        };
        let key = |l: &BlockLayout| (l.seq_q(), l.seq_k(), l.block_q(), l.block_k());
        if let Some((h, l)) = layouts
            .iter()
            .enumerate()
            .find(|(_, l)| key(l) != key(first))
        {
            return Err(SparseError::Layout(format!(
                "head {h}'s layout is (seq_q, seq_k, block_q, block_k) = {:?}, head 0's is {:?}",
                key(l),
                key(first)
            )));
        }
        Ok(Self::build(layouts))
    }

    fn build(layouts: Vec<BlockLayout>) -> Self {
        AttentionLayout {
            host: Arc::new(LayoutSet::new(layouts)),
            tables: Mutex::new(Vec::new()),
        }
    }

    /// The host layouts (one, or one per head).
    pub fn layouts(&self) -> &[BlockLayout] {
        &self.host.layouts
    }
    /// `Some(heads)` for a per-head layout, `None` when shared.
    pub fn heads(&self) -> Option<usize> {
        (!self.host.shared()).then_some(self.host.layouts.len())
    }
    /// Query positions.
    pub fn seq_q(&self) -> usize {
        self.host.first().seq_q()
    }
    /// Key positions.
    pub fn seq_k(&self) -> usize {
        self.host.first().seq_k()
    }

    /// The layout as a primitive on `device` (tables built on first use per device).
    fn primitive(&self, device: &Device) -> BlockLayoutPrimitive<Dispatch> {
        let autodiff = device.is_autodiff();
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        let found = tables
            .iter()
            .position(|t| t.autodiff == autodiff && &t.device == device);
        let t = match found {
            Some(i) => &tables[i],
            None => {
                tables.push(self.tables_on(device));
                tables.last().expect("just pushed")
            }
        };
        BlockLayoutPrimitive {
            slots: t.slots.clone().into_dispatch(),
            blocked: t.blocked.clone().into_dispatch(),
            host: self.host.clone(),
        }
    }

    fn tables_on(&self, device: &Device) -> DeviceTables {
        let cube = matches!(
            device.clone().inner().as_dispatch(),
            DispatchDevice::Cube(_)
        );
        let (slots, blocked, shape) = if cube {
            let f = self.host.first();
            let shape = [
                self.host.layouts.len(),
                f.q_blocks(),
                f.block_q(),
                self.host.max_kept * f.block_k(),
            ];
            (self.host.slots(), self.host.blocked(), shape)
        } else {
            (Vec::new(), Vec::new(), [0; 4])
        };
        let n = slots.len();
        DeviceTables {
            device: device.clone(),
            autodiff: device.is_autodiff(),
            slots: Tensor::from_data(TensorData::new(slots, [n]), device),
            blocked: Tensor::from_data(TensorData::new(blocked, shape), device),
        }
    }
}

fn shape_err(tensor: &'static str, got: &[usize], detail: String) -> SparseError {
    SparseError::AttentionShape {
        tensor,
        got: got.to_vec(),
        detail,
    }
}

/// Block-sparse scaled dot-product attention:
/// `out = softmax(scale · q·kᵀ + mask) · v`, where query `i` attends key `j` only if the layout
/// allows `(i, j)` and key `j` is not padding; a query with no allowed key gets `out = 0` (and
/// zero gradients), never NaN.
///
/// - `q`: `[batch, heads, seq_q, head_dim]`, `k`: `[batch, heads, seq_k, head_dim]`,
///   `v`: `[batch, heads, seq_k, value_dim]`; the result is `[batch, heads, seq_q, value_dim]`.
/// - `layout`: its `seq_q` / `seq_k` must match; one layout per head or one shared.
/// - `key_padding`: `[batch, seq_k]`, `true` = padding (burn's convention, as the `mask_pad` of
///   `burn::nn::attention`); the kernels take the complement (`true` = the key exists).
/// - `scale`: defaults to `1 / sqrt(head_dim)`.
///
/// Differentiable in `q`, `k` and `v` (first order; the backward pass recomputes the kept
/// scores from the saved log-sum-exp, FlashAttention style).
///
/// Errors: [`SparseError::AttentionShape`] for a size mismatch between the operands or
/// `head_dim = 0`,
/// [`SparseError::Layout`] when the layout does not fit them.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use sparsekit_kernels::attention::{BlockLayout, Coverage};
/// use sparsekit_tensor::{block_sparse_attention, AttentionLayout};
/// let device = Device::flex();
/// // Causal attention over 6 positions in 4 × 4 tiles: diagonal tiles are partial.
/// let causal = BlockLayout::from_fn(6, 6, 4, 4,
///     |r, c| if c < r { Coverage::Full } else if c == r { Coverage::Partial } else { Coverage::Empty },
///     |i, j| j <= i)?;
/// let layout = AttentionLayout::shared(causal);
/// let q = Tensor::<4>::ones([1, 2, 6, 8], &device);
/// let k = Tensor::<4>::ones([1, 2, 6, 8], &device);
/// let v = Tensor::<4>::ones([1, 2, 6, 3], &device);
/// let out = block_sparse_attention(q, k, v, &layout, None, None)?;
/// assert_eq!(out.dims(), [1, 2, 6, 3]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn block_sparse_attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    layout: &AttentionLayout,
    key_padding: Option<Tensor<2, Bool>>,
    scale: Option<f32>,
) -> Result<Tensor<4>, SparseError> {
    let (qd, kd, vd) = (q.dims(), k.dims(), v.dims());
    let [b, h, lq, d] = qd;
    if kd[0] != b || kd[1] != h || kd[3] != d {
        return Err(shape_err(
            "k",
            &kd,
            format!("expected [{b}, {h}, seq_k, {d}] to match q {qd:?}"),
        ));
    }
    if d == 0 {
        return Err(shape_err("q", &qd, "head_dim must be positive".into()));
    }
    let lk = kd[2];
    if vd[0] != b || vd[1] != h || vd[2] != lk {
        return Err(shape_err(
            "v",
            &vd,
            format!("expected [{b}, {h}, {lk}, value_dim] to match q {qd:?} and k {kd:?}"),
        ));
    }
    if let Some(kp) = &key_padding {
        let pd = kp.dims();
        if pd != [b, lk] {
            return Err(shape_err(
                "key_padding",
                &pd,
                format!("expected [{b}, {lk}]"),
            ));
        }
    }
    if layout.seq_q() != lq || layout.seq_k() != lk {
        return Err(SparseError::Layout(format!(
            "the layout is {} queries × {} keys, the operands {lq} × {lk}",
            layout.seq_q(),
            layout.seq_k()
        )));
    }
    if let Some(lh) = layout.heads() {
        if lh != h {
            return Err(SparseError::Layout(format!(
                "{lh} per-head layouts for {h} heads"
            )));
        }
    }
    let scale = scale.unwrap_or(1.0 / (d as f32).sqrt());
    let device = q.device();
    let prim = layout.primitive(&device);
    let key_mask = match key_padding {
        Some(p) => p.bool_not().into_dispatch(),
        // The op's "no key mask" (see `backend::key_mask_of`).
        None => Tensor::<1, Bool>::from_data(TensorData::new(Vec::<bool>::new(), [0]), &device)
            .into_dispatch(),
    };
    let (out, _lse) = <Dispatch as BlockAttentionBackend>::block_attention(
        q.into_dispatch(),
        k.into_dispatch(),
        v.into_dispatch(),
        prim,
        key_mask,
        scale,
    );
    Ok(Tensor::from_dispatch(out))
}
