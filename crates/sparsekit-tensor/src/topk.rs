//! Row-wise top-k ([`topk`], [`topk_abs`]) and the sparse gather-decode [`gather_decode`]: the
//! two halves of a TopK sparse autoencoder's bottleneck (`z = topk(W_enc·x)`,
//! `x̂ = Σ_j z_j·D[idx_j]`), on every device, differentiable.

use burn::backend::Dispatch;
use burn::tensor::{Int, Tensor};

use crate::backend::SparseBackend;
use crate::error::SparseError;

fn select(
    x: Tensor<2>,
    k: usize,
    magnitude: bool,
) -> Result<(Tensor<2>, Tensor<2, Int>), SparseError> {
    let [m, cols] = x.dims();
    if k > cols {
        return Err(SparseError::InvalidK { k, cols });
    }
    if cols > i32::MAX as usize {
        return Err(SparseError::TooLarge);
    }
    let indices = Tensor::<2, Int>::from_dispatch(<Dispatch as SparseBackend>::topk_rows(
        x.clone().into_dispatch(),
        k,
        magnitude,
        false,
    ));
    let values = if m == 0 || k == 0 {
        Tensor::zeros([m, k], &x.device())
    } else {
        // burn's gather: its backward scatters dValues to the indices (a `rows × cols` zero
        // tensor plus `rows·k` writes), which is exactly the gradient of a top-k.
        x.gather(1, indices.clone())
    };
    Ok((values, indices))
}

/// Per row of `x` (`rows × cols`), the `k` largest entries: `(values, indices)`, both
/// `rows × k`, sorted by decreasing value, ranked by the sparsity vocabulary's rule
/// ([`sparsekit_formats::sparsity`]): a NaN of either sign is the largest, `-0.0 == +0.0`, ties
/// go to the lower column.
///
/// `k = 0` gives `rows × 0` results; `k > cols` is [`SparseError::InvalidK`] (no silent clamp).
/// Differentiable in `x`: the gradient scatters `dvalues` to `indices` (zero elsewhere).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use sparsekit_tensor::topk;
/// let device = Device::flex();
/// let x = Tensor::<2>::from_floats([[0.5, 3.0, -1.0, 3.0]], &device);
/// let (values, indices) = topk(x, 2)?;
/// assert_eq!(values.into_data().to_vec::<f32>().unwrap(), vec![3.0, 3.0]);
/// assert_eq!(indices.into_data().convert::<i64>().to_vec::<i64>().unwrap(), vec![1, 3]);
/// # Ok::<(), sparsekit_tensor::SparseError>(())
/// ```
pub fn topk(x: Tensor<2>, k: usize) -> Result<(Tensor<2>, Tensor<2, Int>), SparseError> {
    select(x, k, false)
}

/// Like [`topk`], ranked by magnitude `|x|`; the values keep their sign.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use sparsekit_tensor::topk_abs;
/// let device = Device::flex();
/// let x = Tensor::<2>::from_floats([[0.5, 3.0, -4.0]], &device);
/// let (values, _) = topk_abs(x, 2)?;
/// assert_eq!(values.into_data().to_vec::<f32>().unwrap(), vec![-4.0, 3.0]);
/// # Ok::<(), sparsekit_tensor::SparseError>(())
/// ```
pub fn topk_abs(x: Tensor<2>, k: usize) -> Result<(Tensor<2>, Tensor<2, Int>), SparseError> {
    select(x, k, true)
}

/// Sparse gather-decode: `Y[b] = Σ_j values[b,j] · dictionary[indices[b,j]]`, with `values`
/// and `indices` `B × k` (e.g. from [`topk`]) and `dictionary` `n × d`; `Y` is `B × d`.
/// This is the decoder of a TopK sparse autoencoder: `O(B·k·d)` work instead of the dense
/// `O(B·n·d)`.
///
/// Differentiable in `values` (`dV[b,j] = ⟨dY[b], D[idx[b,j]]⟩`) and in `dictionary`
/// (`dD[r] = Σ_{idx[b,j] = r} V[b,j]·dY[b]`, summed in a fixed order, no float atomics); the
/// gradients are first order (the backward kernels are not differentiated again).
///
/// Entries whose index is outside `0..n` (negative or too large) contribute nothing; they are
/// not checked up front because that would need a read-back of the indices.
///
/// Errors: [`SparseError::Shape`] when `indices` and `values` differ in shape.
///
/// ```
/// use burn::tensor::{Device, Int, Tensor};
/// use sparsekit_tensor::gather_decode;
/// let device = Device::flex();
/// let dict = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], &device);
/// let values = Tensor::<2>::from_floats([[2.0, 3.0]], &device);
/// let indices = Tensor::<2, Int>::from_ints([[2, 0]], &device);
/// let y = gather_decode(values, indices, dict)?; // 2·[1, 1] + 3·[1, 0]
/// assert_eq!(y.into_data().to_vec::<f32>().unwrap(), vec![5.0, 2.0]);
/// # Ok::<(), sparsekit_tensor::SparseError>(())
/// ```
pub fn gather_decode(
    values: Tensor<2>,
    indices: Tensor<2, Int>,
    dictionary: Tensor<2>,
) -> Result<Tensor<2>, SparseError> {
    let (vd, id) = (values.dims(), indices.dims());
    if vd != id {
        return Err(SparseError::Shape {
            expected: vd,
            got: id,
        });
    }
    Ok(Tensor::from_dispatch(
        <Dispatch as SparseBackend>::gather_decode(
            values.into_dispatch(),
            indices.into_dispatch(),
            dictionary.into_dispatch(),
        ),
    ))
}
