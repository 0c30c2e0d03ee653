//! The CSR products on the row driver: `Y = αA·X + βY` ([`spmm`], [`spmm_with`], [`spmm_isa`])
//! and the linear-layer forward `Y = X·Wᵀ + b` ([`spmm_t`], [`spmm_t_bias`], [`spmm_t_isa`]).

use sparsekit_formats::{CsrView, Scalar, SpIndex};

use super::driver::{run_csr_rows, Direct, Out};
use crate::dense::{MatMut, MatRef};
use crate::element::{with_f32_out, Element};
use crate::error::KernelError;
use crate::scratch::for_transposed_chunks;
use crate::shape::{check_spmm, check_spmm_t};
use crate::simd::Isa;

/// `Y = A·X` for sparse `A` (m × k), dense `X` (k × n) and `Y` (m × n, overwritten).
///
/// Values may be `f32`, `f16`, `bf16` or `f64` (converted to f32 per non-zero; arithmetic is f32).
///
/// ```
/// use sparsekit_formats::Csr;
/// use sparsekit_kernels::{spmm, MatMut, MatRef};
/// let a = Csr::<f32>::try_new(2, 3, vec![0, 2, 3], vec![0, 2, 1], vec![1.0, 2.0, 3.0])?;
/// let x = [1.0f32, 10.0, 2.0, 20.0, 3.0, 30.0]; // 3×2
/// let mut y = [0.0f32; 4];
/// spmm(a.view(), MatRef::new(&x, 3, 2)?, MatMut::new(&mut y, 2, 2)?)?;
/// assert_eq!(y, [7.0, 70.0, 6.0, 60.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn spmm<T: Scalar, I: SpIndex, X: Element, Y: Element>(
    a: CsrView<'_, T, I>,
    x: MatRef<'_, X>,
    y: MatMut<'_, Y>,
) -> Result<(), KernelError> {
    spmm_isa(Isa::detect(), 1.0, a, x, 0.0, y)
}

/// `Y = α·A·X + β·Y`. With `β = 0` the old `Y` is not read (NaNs in it do not propagate).
pub fn spmm_with<T: Scalar, I: SpIndex, X: Element, Y: Element>(
    alpha: f32,
    a: CsrView<'_, T, I>,
    x: MatRef<'_, X>,
    beta: f32,
    y: MatMut<'_, Y>,
) -> Result<(), KernelError> {
    spmm_isa(Isa::detect(), alpha, a, x, beta, y)
}

/// [`spmm_with`] on an explicit instruction set (tests and benches compare ISAs with this).
pub fn spmm_isa<T: Scalar, I: SpIndex, X: Element, Y: Element>(
    isa: Isa,
    alpha: f32,
    a: CsrView<'_, T, I>,
    x: MatRef<'_, X>,
    beta: f32,
    y: MatMut<'_, Y>,
) -> Result<(), KernelError> {
    let (m, k) = a.shape();
    let n = check_spmm("spmm", (m, k), &x, &y)?;
    with_f32_out(y, beta != 0.0, |mut y| {
        let out = Out::rows(&mut y, alpha, beta);
        run_csr_rows(
            isa,
            a.row_ptr(),
            a.col_idx(),
            Direct(a.values().as_ptr()),
            x,
            n,
            out,
        );
    });
    Ok(())
}

/// `Y = X·Wᵀ` — the linear-layer forward: `X` is batch × k, `W` is m × k (sparse, one row per
/// output feature), `Y` is batch × m (overwritten).
///
/// Computed as `(W·Xᵀ)ᵀ`: `X` is transposed into a reused per-thread scratch buffer (k × batch,
/// in batch chunks whose transpose stays in L2), then the CSR kernel runs over the rows of `W`
/// with the batch as the register-blocked dimension and scatters each finished panel down a
/// column of `Y`.
pub fn spmm_t<T: Scalar, I: SpIndex, X: Element, Y: Element>(
    x: MatRef<'_, X>,
    w: CsrView<'_, T, I>,
    y: MatMut<'_, Y>,
) -> Result<(), KernelError> {
    spmm_t_isa(Isa::detect(), x, w, None, y)
}

/// `Y = X·Wᵀ + bias` (bias of length m broadcast over the batch; `None` = no bias).
pub fn spmm_t_bias<T: Scalar, I: SpIndex, X: Element, Y: Element>(
    x: MatRef<'_, X>,
    w: CsrView<'_, T, I>,
    bias: Option<&[f32]>,
    y: MatMut<'_, Y>,
) -> Result<(), KernelError> {
    spmm_t_isa(Isa::detect(), x, w, bias, y)
}

/// [`spmm_t_bias`] on an explicit instruction set.
pub fn spmm_t_isa<T: Scalar, I: SpIndex, X: Element, Y: Element>(
    isa: Isa,
    x: MatRef<'_, X>,
    w: CsrView<'_, T, I>,
    bias: Option<&[f32]>,
    y: MatMut<'_, Y>,
) -> Result<(), KernelError> {
    let (m, k) = w.shape();
    check_spmm_t("spmm_t", &x, (m, k), bias, &y)?;
    let nb = x.nrows();
    if nb == 0 || m == 0 {
        return Ok(());
    }
    with_f32_out(y, false, |mut y| {
        let out = Out::cols(&mut y, bias);
        for_transposed_chunks(isa, x, |xt, rows, t0| {
            run_csr_rows(
                isa,
                w.row_ptr(),
                w.col_idx(),
                Direct(w.values().as_ptr()),
                xt,
                rows,
                // SAFETY: t0 < batch = Y's row count.
                unsafe { out.batch_offset(t0) },
            );
        });
    });
    Ok(())
}
