//! Sparse normalisers on every device, differentiable: [`sparsemax`], [`entmax15`],
//! [`entmax_bisect`] (any fixed α > 1) and [`entmax_bisect_learned`] (α a tensor, with `∂/∂α`),
//! along any dimension — drop-in sparse replacements for `softmax(x, dim)` (definitions and
//! defaults of the Python `entmax` package 1.3; see [`sparsekit_kernels::normalize`]).
//!
//! - Flex and NdArray run the `sparsekit-kernels` exact linear-time solves (f64 inside);
//!   Cube devices (wgpu, CUDA) a bisection on the threshold written with backend ops, finished
//!   by the exact closed form for sparsemax and 1.5-entmax (see
//!   [`backend::NormalizeBackend`](crate::backend::NormalizeBackend)).
//! - `−∞` entries are masks: probability exactly 0. A slice with no finite entry (fully masked)
//!   gives zeros and a zero gradient, never NaN (the Python package gives NaN). NaN or `+∞` in
//!   the input give NaN.
//! - The computation is in f32: f16 / bf16 inputs are cast to f32, normalised, and the result
//!   cast back (so are the gradients, through burn's differentiable cast).
//! - Under autodiff the backward pass is hand-written from the closed forms
//!   (`g = p^{2−α}` on the support, `dz = g⊙dp − (Σg·dp/Σg)·g`), first order only.
//!
//! The Fenchel–Young losses [`sparsemax_loss`], [`entmax15_loss`] and [`entmax_bisect_loss`]
//! (per example, gradient `p − onehot(target)`) are the package's `*_loss` functions.
//!
//! Programmer errors (a `dim` out of range, a fixed α that is not finite and > 1, an α tensor
//! that does not broadcast) panic, as burn's `softmax` does; see each function's `# Panics`.

use burn::backend::Dispatch;
use burn::tensor::{DType, FloatDType, Int, Tensor, TensorData};

use crate::backend::{NormalizeBackend, Normalizer};

/// Runs the op along `dim` of `x` with an optional α tensor (already of `x`'s rank, size 1 along
/// `dim`).
fn apply<const D: usize>(
    x: Tensor<D>,
    dim: usize,
    kind: Normalizer,
    alpha: Option<Tensor<D>>,
    op: &str,
) -> Tensor<D> {
    assert!(
        dim < D,
        "sparsekit-tensor: {op}: dim {dim} is out of range for a {D}-D tensor"
    );
    let dtype = x.dtype();
    let x = if dtype == DType::F32 {
        x
    } else {
        x.cast(FloatDType::F32)
    };
    let dims = x.dims();
    let device = x.device();
    let last = D - 1;
    let x = if dim == last {
        x
    } else {
        x.swap_dims(dim, last)
    };
    let moved = x.dims();
    let n = moved[last];
    let rows: usize = moved[..last].iter().product();
    let x2: Tensor<2> = x.reshape([rows, n]);
    let alpha = match alpha {
        Some(a) => {
            let mut target = dims;
            target[dim] = 1;
            let a = a.expand(target);
            let a = if a.dtype() == DType::F32 {
                a
            } else {
                a.cast(FloatDType::F32)
            };
            let a = if dim == last {
                a
            } else {
                a.swap_dims(dim, last)
            };
            a.reshape([rows, 1]).into_dispatch()
        }
        // The op's "no per-row α" (see `backend::alpha_of`).
        None => {
            Tensor::<1>::from_data(TensorData::new(Vec::<f32>::new(), [0]), &device).into_dispatch()
        }
    };
    let p = Tensor::<2>::from_dispatch(<Dispatch as NormalizeBackend>::normalize_fwd(
        x2.into_dispatch(),
        kind,
        alpha,
    ));
    let p: Tensor<D> = p.reshape(moved);
    let p = if dim == last {
        p
    } else {
        p.swap_dims(dim, last)
    };
    if dtype == DType::F32 {
        p
    } else {
        p.cast(FloatDType::from(dtype))
    }
}

/// Sparsemax along `dim` (Martins & Astudillo 2016): the Euclidean projection of each slice onto
/// the probability simplex, `p = relu(z − τ)` with `Σp = 1` — exact, with exact zeros.
///
/// # Panics
///
/// If `dim >= D`.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use sparsekit_tensor::normalize::sparsemax;
/// let device = Device::flex();
/// let z = Tensor::<2>::from_floats([[1.0, 0.2, -1.0, f32::NEG_INFINITY]], &device);
/// let p = sparsemax(z, 1).into_data().to_vec::<f32>().unwrap();
/// assert!((p[0] - 0.9).abs() < 1e-6 && (p[1] - 0.1).abs() < 1e-6);
/// assert_eq!(&p[2..], &[0.0, 0.0]);
/// ```
pub fn sparsemax<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    apply(x, dim, Normalizer::Sparsemax, None, "sparsemax")
}

/// 1.5-entmax along `dim` (Peters et al. 2019): `p = relu(z/2 − τ)²` with `Σp = 1`, exact.
///
/// # Panics
///
/// If `dim >= D`.
pub fn entmax15<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    apply(x, dim, Normalizer::Entmax15, None, "entmax15")
}

/// α-entmax along `dim` for a fixed α > 1 (`p = relu((α−1)z − τ)^{1/(α−1)}`, `Σp = 1`; α = 2 is
/// sparsemax, α = 1.5 is 1.5-entmax, α → 1 tends to softmax), as the package's `entmax_bisect`
/// (root finding, then renormalised so that `Σp = 1`).
///
/// # Panics
///
/// If `dim >= D`, or `alpha` is not finite and > 1.
pub fn entmax_bisect<const D: usize>(x: Tensor<D>, alpha: f32, dim: usize) -> Tensor<D> {
    let kind = Normalizer::entmax(alpha)
        .unwrap_or_else(|e| panic!("sparsekit-tensor: entmax_bisect: {e}"));
    apply(x, dim, kind, None, "entmax_bisect")
}

/// α-entmax along `dim` with α a tensor (e.g. a learned α per attention head), differentiable in
/// both `x` and `alpha` (`∂/∂α` as the package's `EntmaxBisectFunction`).
///
/// `alpha` has `x`'s rank, size 1 along `dim`, and broadcasts to `x` in the other dimensions
/// (e.g. `[1, heads, 1, 1]` for scores `[batch, heads, q, k]` along `dim = 3`); it is expanded to
/// one α per slice, so its gradient is summed back to its own shape. Its values must be finite
/// and > 1 (parameterise a learned α as, e.g., `1 + softplus(θ)` or a clamp): this is data, not
/// checked on the device — on Flex / NdArray the kernels panic on a bad α, on Cube the result is
/// NaN.
///
/// # Panics
///
/// If `dim >= D`, or `alpha` does not broadcast to `x` with size 1 along `dim`.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use sparsekit_tensor::normalize::entmax_bisect_learned;
/// let device = Device::flex().autodiff();
/// let z = Tensor::<2>::from_floats([[1.0, 0.5, -1.0], [0.0, 0.1, 0.2]], &device).require_grad();
/// let alpha = Tensor::<2>::from_floats([[1.5]], &device).require_grad();
/// let p = entmax_bisect_learned(z.clone(), alpha.clone(), 1);
/// let loss = (p * Tensor::<2>::from_floats([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], &device)).sum();
/// let grads = loss.backward();
/// assert_eq!(z.grad(&grads).unwrap().dims(), [2, 3]);
/// assert_eq!(alpha.grad(&grads).unwrap().dims(), [1, 1]);
/// ```
pub fn entmax_bisect_learned<const D: usize>(
    x: Tensor<D>,
    alpha: Tensor<D>,
    dim: usize,
) -> Tensor<D> {
    // `kind` is ignored when α is per slice; any valid α will do.
    apply(
        x,
        dim,
        Normalizer::Entmax { alpha: 1.5 },
        Some(alpha),
        "entmax_bisect_learned",
    )
}

/// The Fenchel–Young loss of a map, per example (see [`sparsemax_loss`]).
fn fy_loss(logits: Tensor<2>, targets: Tensor<1, Int>, kind: Normalizer, op: &str) -> Tensor<1> {
    let [b, c] = logits.dims();
    let [t] = targets.dims();
    assert_eq!(
        t, b,
        "sparsekit-tensor: {op}: {t} targets for {b} rows of logits"
    );
    assert!(
        b == 0 || c > 0,
        "sparsekit-tensor: {op}: logits have no class"
    );
    let dtype = logits.dtype();
    if b == 0 {
        return Tensor::<1>::zeros([0], &logits.device()).cast(FloatDType::from(dtype));
    }
    let z = if dtype == DType::F32 {
        logits
    } else {
        logits.cast(FloatDType::F32)
    };
    // `p` is a constant: the gradient of the loss in `z` is exactly `p − onehot(t)` (`p` is the
    // maximiser of the Fenchel–Young objective, so the path through it contributes nothing).
    let p = apply(z.clone(), 1, kind, None, op).detach();
    let a = kind.alpha() as f64;
    // Masked (−∞) logits have p = 0: take them as 0 in `Σ p·z` (else 0·−∞ = NaN).
    let masked = z.clone().equal_elem(f32::NEG_INFINITY);
    let lin = (p.clone() * z.clone().mask_fill(masked, 0.0)).sum_dim(1);
    let pa = match kind {
        Normalizer::Sparsemax => p.clone() * p,
        Normalizer::Entmax15 => p.clone() * p.sqrt(),
        Normalizer::Entmax { .. } => p.powf_scalar(a),
    }
    .sum_dim(1);
    // (1 − Σ p^α) / (α(α−1))
    let omega = (pa.neg() + 1.0).div_scalar(a * (a - 1.0));
    let zt = z.gather(1, targets.reshape([b, 1]));
    let loss: Tensor<1> = (lin + omega - zt).reshape([b]);
    if dtype == DType::F32 {
        loss
    } else {
        loss.cast(FloatDType::from(dtype))
    }
}

/// The sparsemax loss per example (Martins & Astudillo 2016; the package's `sparsemax_loss`):
/// `loss_i = Σ_j (p_ij − [j = t_i])·z_ij + (1 − Σ_j p_ij²)/2` with `p = sparsemax(z)` along the
/// classes; `≥ 0`, and 0 exactly when the target gets probability 1. Differentiable in `logits`
/// with gradient `p − onehot(t)` (not in `targets`). `logits` is `[batch, classes]` (masked `−∞`
/// classes allowed; a target on a masked class gives `+∞`), `targets` `[batch]` class indices in
/// `0..classes`; the result is `[batch]` (reductions are the caller's).
///
/// # Panics
///
/// If `targets` does not have `batch` entries, or `classes = 0` with `batch > 0`. Targets out of
/// `0..classes` are data, not checked on the device: burn's `gather` decides (a panic on the CPU
/// backends).
///
/// ```
/// use burn::tensor::{Device, Int, Tensor};
/// use sparsekit_tensor::normalize::sparsemax_loss;
/// let device = Device::flex();
/// let z = Tensor::<2>::from_floats([[3.0, 0.0, -1.0], [0.5, 0.4, 0.0]], &device);
/// let t = Tensor::<1, Int>::from_ints([0, 2], &device);
/// let loss = sparsemax_loss(z, t).into_data().to_vec::<f32>().unwrap();
/// assert_eq!(loss[0], 0.0); // the target already has probability 1
/// assert!(loss[1] > 0.0);
/// ```
pub fn sparsemax_loss(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    fy_loss(logits, targets, Normalizer::Sparsemax, "sparsemax_loss")
}

/// The 1.5-entmax loss per example: as [`sparsemax_loss`] with `p = entmax15(z)` and the
/// regulariser `(1 − Σ p^{1.5})/0.75`.
///
/// # Panics
///
/// As [`sparsemax_loss`].
pub fn entmax15_loss(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    fy_loss(logits, targets, Normalizer::Entmax15, "entmax15_loss")
}

/// The α-entmax loss per example for a fixed α > 1: as [`sparsemax_loss`] with
/// `p = entmax_bisect(z, α)` and the regulariser `(1 − Σ p^α)/(α(α−1))`.
///
/// # Panics
///
/// As [`sparsemax_loss`], and if `alpha` is not finite and > 1.
pub fn entmax_bisect_loss(logits: Tensor<2>, targets: Tensor<1, Int>, alpha: f32) -> Tensor<1> {
    let kind = Normalizer::entmax(alpha)
        .unwrap_or_else(|e| panic!("sparsekit-tensor: entmax_bisect_loss: {e}"));
    fy_loss(logits, targets, kind, "entmax_bisect_loss")
}
