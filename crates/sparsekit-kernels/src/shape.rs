//! Shape checks shared by the CSR, BSR and N:M kernels, so that every kernel of the same form
//! rejects mismatched operands with the same [`KernelError`] message.

use crate::dense::{MatMut, MatRef};
use crate::error::KernelError;

/// `Y` must be `m × n`; `what` names the product Y holds (e.g. `"A·X"`). Shared by every kernel
/// that writes a dense `Y`.
pub(crate) fn check_y(
    op: &'static str,
    y: &MatMut<'_, f32>,
    m: usize,
    n: usize,
    what: &str,
) -> Result<(), KernelError> {
    if y.nrows() != m || y.ncols() != n {
        return Err(KernelError::shape(
            op,
            format!("Y is {}×{} but {what} is {m}×{n}", y.nrows(), y.ncols()),
        ));
    }
    Ok(())
}

/// `Y = A·X` with `A` m × k: `X` must have k rows and `Y` be m × n; returns n. Shared by the CSR,
/// BSR and N:M `spmm` forms.
pub(crate) fn check_spmm<X>(
    op: &'static str,
    (m, k): (usize, usize),
    x: &MatRef<'_, X>,
    y: &MatMut<'_, f32>,
) -> Result<usize, KernelError> {
    if x.nrows() != k {
        return Err(KernelError::shape(
            op,
            format!("A is {m}×{k} but X has {} rows", x.nrows()),
        ));
    }
    let n = x.ncols();
    check_y(op, y, m, n, "A·X")?;
    Ok(n)
}

/// `Y = X·Wᵀ + bias` with `W` m × k: `X` must be batch × k, `Y` batch × m and the bias (when
/// given) of length m. Shared by the CSR, BSR and N:M `spmm_t` forms.
pub(crate) fn check_spmm_t(
    op: &'static str,
    x: &MatRef<'_, f32>,
    (m, k): (usize, usize),
    bias: Option<&[f32]>,
    y: &MatMut<'_, f32>,
) -> Result<(), KernelError> {
    let nb = x.nrows();
    if x.ncols() != k {
        return Err(KernelError::shape(
            op,
            format!("X is {nb}×{} but W is {m}×{k}", x.ncols()),
        ));
    }
    check_y(op, y, nb, m, "X·Wᵀ")?;
    if let Some(b) = bias {
        if b.len() != m {
            return Err(KernelError::shape(
                op,
                format!("bias has {} elements but W has {m} rows", b.len()),
            ));
        }
    }
    Ok(())
}

/// The weight gradient `dYᵀ·X` sampled at an m × k pattern: `dY` must be batch × m and `X`
/// batch × k. `sampled` names the sampling operand in the message (`"pattern"` or `"W"`). Shared
/// by `sddmm_linear` and `nm_sddmm`.
pub(crate) fn check_linear_grad(
    op: &'static str,
    sampled: &str,
    (m, k): (usize, usize),
    dy: &MatRef<'_, f32>,
    x: &MatRef<'_, f32>,
) -> Result<(), KernelError> {
    if x.nrows() != dy.nrows() || dy.ncols() != m || x.ncols() != k {
        return Err(KernelError::shape(
            op,
            format!(
                "{sampled} is {m}×{k} but dY is {}×{} and X is {}×{} (need dY batch×m, X batch×k)",
                dy.nrows(),
                dy.ncols(),
                x.nrows(),
                x.ncols()
            ),
        ));
    }
    Ok(())
}

/// `out` must hold one value per stored entry of a CSR pattern. Shared by `sddmm` and
/// `sddmm_linear`.
pub(crate) fn check_pattern_out(
    op: &'static str,
    out: &[f32],
    nnz: usize,
) -> Result<(), KernelError> {
    if out.len() != nnz {
        return Err(KernelError::shape(
            op,
            format!(
                "out has {} elements but the pattern has {} non-zeros",
                out.len(),
                nnz
            ),
        ));
    }
    Ok(())
}
