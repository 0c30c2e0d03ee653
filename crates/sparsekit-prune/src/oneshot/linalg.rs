//! Small dense linear algebra in f64 for SparseGPT: Cholesky factorization, inverse of a lower
//! triangular matrix, the inverse of a symmetric positive definite matrix from its Cholesky
//! factor, and the upper Cholesky factor of `A⁻¹` (what SparseGPT's OBS updates read).
//!
//! All matrices are dense, square `n × n`, row-major `&[f64]`. The routines are written for the
//! sizes of a layer's input dimension (hundreds to a few thousands): O(n³) with contiguous inner
//! dot products, sequential (so results never depend on the thread count).

use crate::PruneError;

/// Why a factorization failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LinalgError {
    /// The slice does not hold `n × n` values.
    #[error("matrix has {got} values, expected {n}\u{d7}{n} = {}", n * n)]
    Shape {
        /// The dimension asked for.
        n: usize,
        /// The slice length received.
        got: usize,
    },
    /// A pivot was not strictly positive (or not finite): the matrix is not (numerically)
    /// positive definite.
    #[error("matrix is not positive definite: pivot {pivot} is {value}")]
    NotPositiveDefinite {
        /// Index of the failing pivot.
        pivot: usize,
        /// The value found at that pivot (before the square root).
        value: f64,
    },
    /// A triangular matrix has a zero (or non-finite) diagonal entry.
    #[error("triangular matrix is singular: diagonal entry {index} is {value}")]
    Singular {
        /// Index of the zero diagonal entry.
        index: usize,
        /// Its value.
        value: f64,
    },
}

impl From<LinalgError> for PruneError {
    fn from(e: LinalgError) -> Self {
        match e {
            LinalgError::Shape { .. } => PruneError::Shape(e.to_string()),
            _ => PruneError::InvalidArgument(format!(
                "{e} (increase the dampening `percdamp` or check the calibration data)"
            )),
        }
    }
}

fn check(a: &[f64], n: usize) -> Result<(), LinalgError> {
    match n.checked_mul(n) {
        Some(len) if len == a.len() => Ok(()),
        _ => Err(LinalgError::Shape { n, got: a.len() }),
    }
}

/// `Σ a_k b_k` over equal-length slices, with four independent accumulators (lets the compiler
/// vectorize; the summation order is fixed, so the result is deterministic).
#[inline]
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        acc[0] += x[0] * y[0];
        acc[1] += x[1] * y[1];
        acc[2] += x[2] * y[2];
        acc[3] += x[3] * y[3];
    }
    let mut tail = 0.0;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Lower Cholesky factor `L` (`A = L·Lᵀ`) of a symmetric positive definite `n × n` matrix.
/// Only the lower triangle of `a` is read. The strict upper triangle of the result is zero.
///
/// ```
/// use sparsekit_prune::oneshot::linalg::cholesky_lower;
/// let a = [4.0, 2.0, 2.0, 5.0];
/// let l = cholesky_lower(&a, 2)?;
/// assert_eq!(l, vec![2.0, 0.0, 1.0, 2.0]);
/// assert!(cholesky_lower(&[1.0, 2.0, 2.0, 1.0], 2).is_err()); // indefinite
/// # Ok::<(), sparsekit_prune::oneshot::linalg::LinalgError>(())
/// ```
pub fn cholesky_lower(a: &[f64], n: usize) -> Result<Vec<f64>, LinalgError> {
    check(a, n)?;
    let mut l = vec![0.0f64; n * n];
    // Row-oriented Cholesky–Crout: L_ij = (A_ij − Σ_{k<j} L_ik L_jk) / L_jj; both sums run over
    // contiguous prefixes of rows i and j.
    for i in 0..n {
        for j in 0..=i {
            let s = dot(&l[i * n..i * n + j], &l[j * n..j * n + j]);
            let v = a[i * n + j] - s;
            if i == j {
                if !(v > 0.0 && v.is_finite()) {
                    return Err(LinalgError::NotPositiveDefinite { pivot: i, value: v });
                }
                l[i * n + i] = v.sqrt();
            } else {
                l[i * n + j] = v / l[j * n + j];
            }
        }
    }
    Ok(l)
}

/// Inverse of a lower triangular `n × n` matrix (only its lower triangle is read); the result is
/// lower triangular.
///
/// ```
/// use sparsekit_prune::oneshot::linalg::invert_lower;
/// let l = [2.0, 0.0, 1.0, 4.0];
/// assert_eq!(invert_lower(&l, 2)?, vec![0.5, 0.0, -0.125, 0.25]);
/// # Ok::<(), sparsekit_prune::oneshot::linalg::LinalgError>(())
/// ```
pub fn invert_lower(l: &[f64], n: usize) -> Result<Vec<f64>, LinalgError> {
    check(l, n)?;
    for i in 0..n {
        let d = l[i * n + i];
        if d == 0.0 || !d.is_finite() {
            return Err(LinalgError::Singular { index: i, value: d });
        }
    }
    // Work on the transpose so that both operands of each inner product are contiguous:
    // with T = Lᵀ (upper) and X = L⁻¹, column j of X solves L·x = e_j by forward substitution:
    // X_ij = −(Σ_{j≤k<i} L_ik X_kj) / L_ii. We build Y = Xᵀ row by row (row j of Y = column j
    // of X), so X_kj = Y_jk and the sum is dot(L[i, j..i], Y[j, j..i]).
    let mut y = vec![0.0f64; n * n];
    for j in 0..n {
        y[j * n + j] = 1.0 / l[j * n + j];
        for i in j + 1..n {
            let s = dot(&l[i * n + j..i * n + i], &y[j * n + j..j * n + i]);
            y[j * n + i] = -s / l[i * n + i];
        }
    }
    Ok(transpose_square(&y, n))
}

/// `A⁻¹` of a symmetric positive definite matrix given its lower Cholesky factor `L`
/// (`A = L·Lᵀ`, so `A⁻¹ = L⁻ᵀ·L⁻¹`), like `torch.cholesky_inverse`. The result is symmetric.
///
/// ```
/// use sparsekit_prune::oneshot::linalg::{cholesky_lower, cholesky_inverse};
/// let a = [4.0, 2.0, 2.0, 5.0];
/// let inv = cholesky_inverse(&cholesky_lower(&a, 2)?, 2)?;
/// let expect = [5.0 / 16.0, -2.0 / 16.0, -2.0 / 16.0, 4.0 / 16.0];
/// assert!(inv.iter().zip(expect).all(|(x, y)| (x - y).abs() < 1e-15));
/// # Ok::<(), sparsekit_prune::oneshot::linalg::LinalgError>(())
/// ```
pub fn cholesky_inverse(l: &[f64], n: usize) -> Result<Vec<f64>, LinalgError> {
    let linv = invert_lower(l, n)?;
    // (L⁻ᵀL⁻¹)_ij = Σ_{k ≥ max(i,j)} X_ki X_kj with X = L⁻¹; rows of T = Xᵀ are contiguous:
    // T_ik = X_ki, non-zero for k ≥ i.
    let t = transpose_square(&linv, n);
    let mut inv = vec![0.0f64; n * n];
    for i in 0..n {
        for j in i..n {
            // k ≥ j ≥ i.
            let v = dot(&t[i * n + j..i * n + n], &t[j * n + j..j * n + n]);
            inv[i * n + j] = v;
            inv[j * n + i] = v;
        }
    }
    Ok(inv)
}

/// The upper Cholesky factor `U` of `A⁻¹` (`A⁻¹ = Uᵀ·U`) for a symmetric positive definite `A`:
/// `torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(A)), upper=True)`, the
/// matrix SparseGPT's column-by-column OBS updates read. Row `j` of `U` holds, scaled by
/// `1/U_jj`, the update that removing weight `j` makes to the weights after it.
///
/// ```
/// use sparsekit_prune::oneshot::linalg::inverse_cholesky_upper;
/// // diag(4, 9): A⁻¹ = diag(1/4, 1/9), U = diag(1/2, 1/3).
/// let u = inverse_cholesky_upper(&[4.0, 0.0, 0.0, 9.0], 2)?;
/// assert!((u[0] - 0.5).abs() < 1e-15 && (u[3] - 1.0 / 3.0).abs() < 1e-15);
/// assert_eq!((u[1], u[2]), (0.0, 0.0));
/// # Ok::<(), sparsekit_prune::oneshot::linalg::LinalgError>(())
/// ```
pub fn inverse_cholesky_upper(a: &[f64], n: usize) -> Result<Vec<f64>, LinalgError> {
    let l = cholesky_lower(a, n)?;
    let inv = cholesky_inverse(&l, n)?;
    // Upper factor U with A⁻¹ = UᵀU is the transpose of the lower factor.
    let l2 = cholesky_lower(&inv, n)?;
    Ok(transpose_square(&l2, n))
}

/// Transpose of a square row-major matrix.
fn transpose_square(a: &[f64], n: usize) -> Vec<f64> {
    let mut t = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            t[j * n + i] = a[i * n + j];
        }
    }
    t
}
