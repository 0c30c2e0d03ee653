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
//! Programmer errors (a `dim` out of range, a fixed α that is not finite and > 1, an α tensor
//! that does not broadcast) panic, as burn's `softmax` does; see each function's `# Panics`.

use burn::backend::Dispatch;
use burn::tensor::{DType, FloatDType, Tensor, TensorData};

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
