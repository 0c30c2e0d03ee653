//! Sparse normalisers, row-wise over row-major views: sparsemax (Martins & Astudillo 2016),
//! exact 1.5-entmax and α-entmax (Peters et al. 2019) with the gradient w.r.t. α (Correia et al.
//! 2019), and their Fenchel–Young losses. Definitions follow the Python `entmax` package 1.3:
//!
//! - α-entmax: `p = relu((α−1)·z − τ)^{1/(α−1)}` with `τ` such that `Σp = 1`; sparsemax is α = 2,
//!   1.5-entmax is α = 1.5 (`p = relu(z/2 − τ)²`), α → 1 tends to softmax;
//! - backward: `g = p^{2−α}` on the support (`1` for sparsemax, `√p` for 1.5-entmax),
//!   `dz = g⊙dp − (Σg·dp / Σg)·g`;
//! - loss: `Σ (p − onehot(t))·z + (1 − Σ p^α)/(α(α−1))`, gradient `p − onehot(t)`.
//!
//! | function | computes |
//! |---|---|
//! | [`normalize`] | `P = map(Z)` row-wise |
//! | [`normalize_backward`] | `dZ` from `P`, `dP` |
//! | [`entmax_rows`], [`entmax_rows_backward`] | the same with one α per row |
//! | [`entmax_alpha_grad`] | `∂L/∂α` per row |
//! | [`normalize_loss`], [`normalize_loss_backward`] | per-row loss and its gradient |
//!
//! **Algorithm (linear time, no full sort).** On the scale `z' = (α−1)(z − max z)` the threshold
//! satisfies `τ ≥ −1` for every α > 1 (the largest entry has `p ≤ 1`), so one pass over the row
//! keeps only the candidates `z' > −1`, and the threshold is solved on them in f64: Michelot's
//! iteration for sparsemax (exact), the same iteration with the closed-form quadratic root for
//! 1.5-entmax (exact; verified against the optimality conditions, with the package's sorted
//! formula over the candidates as fallback), Newton steps safeguarded by bisection for general α
//! (to f64 resolution), then `ensure_sum_one`. Cost per row: two O(n) passes (max, candidate
//! filter) and an O(n) write, plus the solve on `k` candidates: O(k) per step, at most `k`
//! Michelot steps (usually 2–4) and at most 200 Newton/bisection steps (usually < 10). Worst case
//! (every entry within `1/(α−1)` of the maximum, e.g. all-equal rows): O(n²) for the Michelot
//! iterations in theory, O(n log n) for the 1.5-entmax fallback, O(200·n) for general α.
//!
//! **Special values.** `−∞` entries are masks: probability exactly 0, never candidates. A row
//! with no finite entry (empty, or fully masked) gives all zeros and a zero gradient (the package
//! gives NaN). A row holding NaN or `+∞` gives an all-NaN row (documented, not an error: the
//! kernels do not scan for NaN before computing). Large logits (±1e4) are safe: everything is
//! relative to the row maximum, in f64. Equal logits get equal probability.
//!
//! Rows run in parallel with rayon; each row is computed by one thread in a fixed order, so results
//! are bit-identical for any thread count. [`crate::reference`] holds the f64 sort-based twins.

mod row;

use rayon::prelude::*;

use crate::dense::{MatMut, MatRef};
use crate::error::KernelError;
use crate::partition::PAR_MIN_WORK;
use row::{RowMap, RowScratch};

/// Which sparse normaliser to apply.
///
/// ```
/// use sparsekit_kernels::normalize::{normalize, Normalizer};
/// use sparsekit_kernels::{MatMut, MatRef};
/// let z = [1.0f32, 0.2, -1.0, f32::NEG_INFINITY];
/// let mut p = [0.0f32; 4];
/// normalize(Normalizer::Sparsemax, MatRef::new(&z, 1, 4)?, MatMut::new(&mut p, 1, 4)?)?;
/// assert!((p[0] - 0.9).abs() < 1e-6 && (p[1] - 0.1).abs() < 1e-6);
/// assert_eq!(&p[2..], &[0.0, 0.0]); // exact zeros; the −∞ entry is masked
/// assert!(Normalizer::entmax(1.0).is_err());
/// # Ok::<(), sparsekit_kernels::KernelError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Normalizer {
    /// Sparsemax: the Euclidean projection onto the simplex (α = 2), exact.
    Sparsemax,
    /// 1.5-entmax, exact (closed-form quadratic root).
    Entmax15,
    /// α-entmax for any finite α > 1, by root finding (`ensure_sum_one`, as the package's
    /// `entmax_bisect`). Build it with [`Normalizer::entmax`] to have α checked up front; the
    /// kernels check it too.
    Entmax {
        /// α > 1 (2 is sparsemax; → 1 tends to softmax).
        alpha: f32,
    },
}

impl Normalizer {
    /// α-entmax; [`KernelError::InvalidArgument`] unless α is finite and > 1.
    pub fn entmax(alpha: f32) -> Result<Self, KernelError> {
        check_alpha("Normalizer::entmax", alpha)?;
        Ok(Normalizer::Entmax { alpha })
    }
    /// The α of the map (2 for sparsemax, 1.5 for 1.5-entmax).
    pub fn alpha(&self) -> f32 {
        match *self {
            Normalizer::Sparsemax => 2.0,
            Normalizer::Entmax15 => 1.5,
            Normalizer::Entmax { alpha } => alpha,
        }
    }
    fn row_map(self, op: &'static str) -> Result<RowMap, KernelError> {
        Ok(match self {
            Normalizer::Sparsemax => RowMap::Sparsemax,
            Normalizer::Entmax15 => RowMap::Entmax15,
            Normalizer::Entmax { alpha } => {
                check_alpha(op, alpha)?;
                RowMap::Bisect {
                    alpha: alpha as f64,
                }
            }
        })
    }
}

fn check_alpha(op: &'static str, alpha: f32) -> Result<(), KernelError> {
    if alpha.is_finite() && alpha > 1.0 {
        Ok(())
    } else {
        Err(KernelError::InvalidArgument {
            op,
            detail: format!("alpha = {alpha} but entmax needs a finite alpha > 1"),
        })
    }
}

fn check_same(
    op: &'static str,
    a: (&str, usize, usize),
    b: (&str, usize, usize),
) -> Result<(), KernelError> {
    if (a.1, a.2) != (b.1, b.2) {
        return Err(KernelError::shape(
            op,
            format!("{} is {}×{} but {} is {}×{}", a.0, a.1, a.2, b.0, b.1, b.2),
        ));
    }
    Ok(())
}

fn check_per_row(
    op: &'static str,
    what: &str,
    len: usize,
    nrows: usize,
) -> Result<(), KernelError> {
    if len != nrows {
        return Err(KernelError::shape(
            op,
            format!("{what} has {len} elements but there are {nrows} rows"),
        ));
    }
    Ok(())
}

/// Runs `f(row, out_row)` over the rows of `out` (in parallel when the matrix is large enough);
/// each row is written by one thread.
fn for_rows<S: Default + Send>(
    mut out: MatMut<'_, f32>,
    f: impl Fn(usize, &mut [f32], &mut S) + Sync + Send,
) {
    let (r, c, stride) = (out.nrows(), out.ncols(), out.row_stride());
    if r == 0 || c == 0 {
        return;
    }
    let data = &mut out.data_mut()[..(r - 1) * stride + c];
    if r * c >= PAR_MIN_WORK && r > 1 && rayon::current_num_threads() > 1 {
        data.par_chunks_mut(stride)
            .enumerate()
            .with_min_len((PAR_MIN_WORK / c).max(1))
            .for_each_init(S::default, |s, (i, row)| f(i, &mut row[..c], s));
    } else {
        let mut s = S::default();
        for (i, row) in data.chunks_mut(stride).enumerate() {
            f(i, &mut row[..c], &mut s);
        }
    }
}

/// `P = map(Z)` row-wise. `P` must have `Z`'s shape (strides may differ).
pub fn normalize(f: Normalizer, z: MatRef<'_, f32>, p: MatMut<'_, f32>) -> Result<(), KernelError> {
    const OP: &str = "normalize";
    let map = f.row_map(OP)?;
    check_same(OP, ("Z", z.nrows(), z.ncols()), ("P", p.nrows(), p.ncols()))?;
    for_rows::<RowScratch>(p, |i, out, s| row::forward_row(map, z.row(i), out, s));
    Ok(())
}

/// `dZ` of [`normalize`] from its output `P` and the upstream gradient `dP` (all the same shape):
/// `g = p^{2−α}` on the support, `dz = g⊙dp − (Σg·dp/Σg)·g`; zero rows where `P` has no support.
pub fn normalize_backward(
    f: Normalizer,
    p: MatRef<'_, f32>,
    dp: MatRef<'_, f32>,
    dz: MatMut<'_, f32>,
) -> Result<(), KernelError> {
    const OP: &str = "normalize_backward";
    let map = f.row_map(OP)?;
    check_same(
        OP,
        ("P", p.nrows(), p.ncols()),
        ("dP", dp.nrows(), dp.ncols()),
    )?;
    check_same(
        OP,
        ("P", p.nrows(), p.ncols()),
        ("dZ", dz.nrows(), dz.ncols()),
    )?;
    for_rows::<()>(dz, |i, out, _| {
        row::backward_row(map, p.row(i), dp.row(i), out)
    });
    Ok(())
}

fn check_alphas(op: &'static str, alpha: &[f32], nrows: usize) -> Result<(), KernelError> {
    check_per_row(op, "alpha", alpha.len(), nrows)?;
    alpha.iter().try_for_each(|&a| check_alpha(op, a))
}

/// α-entmax with one α per row (`alpha.len() == Z.nrows()`, each finite and > 1), e.g. a learned
/// α per attention head.
pub fn entmax_rows(
    z: MatRef<'_, f32>,
    alpha: &[f32],
    p: MatMut<'_, f32>,
) -> Result<(), KernelError> {
    const OP: &str = "entmax_rows";
    check_same(OP, ("Z", z.nrows(), z.ncols()), ("P", p.nrows(), p.ncols()))?;
    check_alphas(OP, alpha, z.nrows())?;
    for_rows::<RowScratch>(p, |i, out, s| {
        let map = RowMap::Bisect {
            alpha: alpha[i] as f64,
        };
        row::forward_row(map, z.row(i), out, s)
    });
    Ok(())
}

/// `dZ` of [`entmax_rows`].
pub fn entmax_rows_backward(
    p: MatRef<'_, f32>,
    dp: MatRef<'_, f32>,
    alpha: &[f32],
    dz: MatMut<'_, f32>,
) -> Result<(), KernelError> {
    const OP: &str = "entmax_rows_backward";
    check_same(
        OP,
        ("P", p.nrows(), p.ncols()),
        ("dP", dp.nrows(), dp.ncols()),
    )?;
    check_same(
        OP,
        ("P", p.nrows(), p.ncols()),
        ("dZ", dz.nrows(), dz.ncols()),
    )?;
    check_alphas(OP, alpha, p.nrows())?;
    for_rows::<()>(dz, |i, out, _| {
        let map = RowMap::Bisect {
            alpha: alpha[i] as f64,
        };
        row::backward_row(map, p.row(i), dp.row(i), out)
    });
    Ok(())
}

/// `∂L/∂α` per row of α-entmax from its output `P` and `dP` (the package's
/// `EntmaxBisectFunction.backward`): with `g = p^{2−α}`, `ŷ = g/Σg`, `S = p·ln p`, `H = ΣS`,
/// `dα = Σ dp·(p − ŷ)/(α−1)² − Σ dp·(S − ŷ·H)/(α−1)`; 0 for a row without support. Valid for
/// sparsemax (α = 2) and 1.5-entmax outputs too.
pub fn entmax_alpha_grad(
    p: MatRef<'_, f32>,
    dp: MatRef<'_, f32>,
    alpha: &[f32],
    dalpha: &mut [f32],
) -> Result<(), KernelError> {
    const OP: &str = "entmax_alpha_grad";
    check_same(
        OP,
        ("P", p.nrows(), p.ncols()),
        ("dP", dp.nrows(), dp.ncols()),
    )?;
    check_alphas(OP, alpha, p.nrows())?;
    check_per_row(OP, "dalpha", dalpha.len(), p.nrows())?;
    let n = p.nrows();
    let g = |i: usize| row::alpha_grad_row(alpha[i] as f64, p.row(i), dp.row(i)) as f32;
    if n * p.ncols() >= PAR_MIN_WORK && rayon::current_num_threads() > 1 {
        dalpha
            .par_iter_mut()
            .enumerate()
            .for_each(|(i, o)| *o = g(i));
    } else {
        dalpha.iter_mut().enumerate().for_each(|(i, o)| *o = g(i));
    }
    Ok(())
}

/// Checks the class targets: each is `ignore_index` or in `0..ncols`.
fn check_targets(
    op: &'static str,
    targets: &[i64],
    ignore_index: Option<i64>,
    nrows: usize,
    ncols: usize,
) -> Result<(), KernelError> {
    check_per_row(op, "targets", targets.len(), nrows)?;
    for (i, &t) in targets.iter().enumerate() {
        if Some(t) != ignore_index && !(0..ncols as i64).contains(&t) {
            return Err(KernelError::InvalidArgument {
                op,
                detail: format!("target {t} of row {i} is not a class in 0..{ncols}"),
            });
        }
    }
    Ok(())
}

/// The Fenchel–Young loss of the map per row, as the package's `*_loss` functions:
/// `loss_i = Σ_j (p_ij − [j = t_i])·z_ij + (1 − Σ_j p_ij^α)/(α(α−1))` (f64 accumulation; masked
/// `−∞` entries contribute 0; a target on a masked entry gives `+∞`). Rows whose target equals
/// `ignore_index` get loss 0. Writes `P` (the map's output, kept for
/// [`normalize_loss_backward`]) and `loss` (one per row). Reductions are the caller's.
pub fn normalize_loss(
    f: Normalizer,
    z: MatRef<'_, f32>,
    targets: &[i64],
    ignore_index: Option<i64>,
    loss: &mut [f32],
    mut p: MatMut<'_, f32>,
) -> Result<(), KernelError> {
    const OP: &str = "normalize_loss";
    check_targets(OP, targets, ignore_index, z.nrows(), z.ncols())?;
    check_per_row(OP, "loss", loss.len(), z.nrows())?;
    normalize(f, z, p.rb_mut())?;
    let alpha = f.alpha() as f64;
    let p = p.as_ref();
    let row_loss = |i: usize| -> f32 {
        let t = targets[i];
        if Some(t) == ignore_index {
            return 0.0;
        }
        let (zr, pr) = (z.row(i), p.row(i));
        let (mut lin, mut pa) = (0.0f64, 0.0f64);
        for (&zv, &pv) in zr.iter().zip(pr) {
            if pv != 0.0 {
                let pv = pv as f64;
                lin += pv * zv as f64;
                pa += match f {
                    Normalizer::Sparsemax => pv * pv,
                    Normalizer::Entmax15 => pv * pv.sqrt(),
                    Normalizer::Entmax { .. } => pv.powf(alpha),
                };
            }
        }
        ((1.0 - pa) / (alpha * (alpha - 1.0)) + lin - zr[t as usize] as f64) as f32
    };
    loss.iter_mut()
        .enumerate()
        .for_each(|(i, o)| *o = row_loss(i));
    Ok(())
}

/// Gradient of [`normalize_loss`] w.r.t. the logits: `dZ_i = dloss_i·(P_i − onehot(t_i))`, zero
/// rows where the target is `ignore_index`.
pub fn normalize_loss_backward(
    p: MatRef<'_, f32>,
    targets: &[i64],
    ignore_index: Option<i64>,
    dloss: &[f32],
    dz: MatMut<'_, f32>,
) -> Result<(), KernelError> {
    const OP: &str = "normalize_loss_backward";
    check_targets(OP, targets, ignore_index, p.nrows(), p.ncols())?;
    check_per_row(OP, "dloss", dloss.len(), p.nrows())?;
    check_same(
        OP,
        ("P", p.nrows(), p.ncols()),
        ("dZ", dz.nrows(), dz.ncols()),
    )?;
    for_rows::<()>(dz, |i, out, _| {
        let t = targets[i];
        if Some(t) == ignore_index {
            out.fill(0.0);
            return;
        }
        let g = dloss[i];
        for (o, &pv) in out.iter_mut().zip(p.row(i)) {
            *o = g * pv;
        }
        out[t as usize] -= g;
    });
    Ok(())
}
