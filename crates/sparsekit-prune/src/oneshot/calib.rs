//! Calibration statistics of a layer's inputs: [`HessianAccumulator`] (the Gram matrix `XᵀX`,
//! column sums and sample count, accumulated over batches) and [`input_norms`] (the per-input
//! `‖X_:,j‖₂` that Wanda needs, without the O(n·d²) Gram matrix).

use rayon::prelude::*;

use super::linalg::dot;
use super::{check_finite, Result};
use crate::PruneError;

/// Samples per internal chunk of [`HessianAccumulator::add_batch`]: bounds the f64 transposed
/// copy to `CHUNK · d_in · 8` bytes whatever the batch size.
const CHUNK: usize = 2048;

/// Accumulates the statistics of calibration inputs `X` (`n_samples × d_in`, row-major, one
/// sample per row) of a linear layer, batch by batch, in f64:
///
/// - the Gram matrix `G = XᵀX` (`d_in × d_in`), from which SparseGPT's Hessian of the layer-wise
///   squared error is `H = 2·G/n` ([`hessian`](Self::hessian));
/// - the column sums `Σ_s X_sj` (means and variances for DSnoT);
/// - the sample count.
///
/// Accumulating raw sums and dividing once at the end gives the same `H` as the reference's
/// running rescaling (`H *= n/(n+b); H += 2/(n+b)·XᵀX`), with less rounding.
///
/// Cost: O(n · d_in²) time (rayon over Gram rows), O(d_in²) memory.
///
/// ```
/// use sparsekit_prune::oneshot::HessianAccumulator;
/// let mut acc = HessianAccumulator::new(2)?;
/// acc.add_batch(&[1.0, 2.0, 3.0, 4.0], 2)?; // samples (1, 2) and (3, 4)
/// assert_eq!(acc.n_samples(), 2);
/// assert_eq!(acc.hessian()?, vec![10.0, 14.0, 14.0, 20.0]); // 2·XᵀX/2
/// assert_eq!(acc.input_means()?, vec![2.0, 3.0]);
/// # Ok::<(), sparsekit_prune::PruneError>(())
/// ```
#[derive(Clone, Debug)]
pub struct HessianAccumulator {
    d_in: usize,
    n_samples: usize,
    /// Upper triangle (j ≥ i) of XᵀX, row-major `d_in × d_in`; the strict lower triangle stays 0.
    gram_upper: Vec<f64>,
    sum: Vec<f64>,
}

impl HessianAccumulator {
    /// An empty accumulator for inputs of dimension `d_in`. Errors when the `d_in × d_in` Gram
    /// matrix overflows `usize` or cannot be allocated.
    pub fn new(d_in: usize) -> Result<Self> {
        let too_big = || PruneError::InvalidArgument(format!("d_in {d_in}: Gram matrix too large"));
        let len = d_in.checked_mul(d_in).ok_or_else(too_big)?;
        let mut gram_upper = Vec::new();
        gram_upper.try_reserve_exact(len).map_err(|_| too_big())?;
        gram_upper.resize(len, 0.0);
        Ok(HessianAccumulator {
            d_in,
            n_samples: 0,
            gram_upper,
            sum: vec![0.0; d_in],
        })
    }

    /// Input dimension `d_in`.
    pub fn d_in(&self) -> usize {
        self.d_in
    }

    /// Number of samples accumulated so far.
    pub fn n_samples(&self) -> usize {
        self.n_samples
    }

    /// Adds a batch `x` of `n` samples (`n × d_in`, row-major). Errors on a length mismatch or
    /// non-finite values (the accumulator is unchanged then). `n = 0` adds nothing.
    pub fn add_batch(&mut self, x: &[f32], n: usize) -> Result<()> {
        let d = self.d_in;
        if n.checked_mul(d) != Some(x.len()) {
            return Err(PruneError::Shape(format!(
                "calibration batch has {} values, expected n_samples {n} \u{d7} d_in {d}",
                x.len()
            )));
        }
        check_finite(x, "calibration inputs")?;
        if d == 0 {
            self.n_samples += n;
            return Ok(());
        }
        for chunk in x.chunks(CHUNK * d) {
            let b = chunk.len() / d;
            // Column-major f64 copy: column j of the chunk is xt[j·b .. (j+1)·b].
            let mut xt = vec![0.0f64; d * b];
            for (s, row) in chunk.chunks_exact(d).enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    xt[j * b + s] = v as f64;
                }
            }
            // Row i of the Gram upper triangle: G_ij += <x_:i, x_:j> for j ≥ i. Each entry is one
            // sequential dot product, so the result does not depend on the thread count.
            self.gram_upper
                .par_chunks_mut(d)
                .enumerate()
                .for_each(|(i, grow)| {
                    let ci = &xt[i * b..(i + 1) * b];
                    for (j, g) in grow.iter_mut().enumerate().skip(i) {
                        *g += dot(ci, &xt[j * b..(j + 1) * b]);
                    }
                });
            for (j, s) in self.sum.iter_mut().enumerate() {
                *s += xt[j * b..(j + 1) * b].iter().sum::<f64>();
            }
        }
        self.n_samples += n;
        Ok(())
    }

    fn need_samples(&self) -> Result<f64> {
        if self.n_samples == 0 {
            return Err(PruneError::InvalidArgument(
                "no calibration samples accumulated (n_samples = 0)".into(),
            ));
        }
        Ok(self.n_samples as f64)
    }

    /// The full symmetric Gram matrix `XᵀX` (`d_in × d_in`, row-major).
    pub fn gram(&self) -> Vec<f64> {
        let d = self.d_in;
        let mut g = self.gram_upper.clone();
        for i in 0..d {
            for j in 0..i {
                g[i * d + j] = g[j * d + i];
            }
        }
        g
    }

    /// The second moment `XᵀX / n` (`d_in × d_in`). Errors when no sample was added.
    pub fn second_moment(&self) -> Result<Vec<f64>> {
        let n = self.need_samples()?;
        let mut g = self.gram();
        g.iter_mut().for_each(|v| *v /= n);
        Ok(g)
    }

    /// SparseGPT's Hessian `H = 2·XᵀX / n` (`d_in × d_in`, row-major). Errors when no sample was
    /// added.
    pub fn hessian(&self) -> Result<Vec<f64>> {
        let mut h = self.second_moment()?;
        h.iter_mut().for_each(|v| *v *= 2.0);
        Ok(h)
    }

    /// `‖X_:,j‖₂` for every input `j` (Wanda's activation norms). Errors when no sample was added.
    pub fn input_norms(&self) -> Result<Vec<f64>> {
        self.need_samples()?;
        let d = self.d_in;
        Ok((0..d).map(|j| self.gram_upper[j * d + j].sqrt()).collect())
    }

    /// Mean of every input over the samples. Errors when no sample was added.
    pub fn input_means(&self) -> Result<Vec<f64>> {
        let n = self.need_samples()?;
        Ok(self.sum.iter().map(|s| s / n).collect())
    }

    /// Population variance of every input (`E[x²] − E[x]²`, clamped at 0). Errors when no sample
    /// was added.
    pub fn input_vars(&self) -> Result<Vec<f64>> {
        let n = self.need_samples()?;
        let d = self.d_in;
        Ok((0..d)
            .map(|j| {
                let m = self.sum[j] / n;
                (self.gram_upper[j * d + j] / n - m * m).max(0.0)
            })
            .collect())
    }
}

/// `‖X_:,j‖₂` of calibration inputs `x` (`n × d_in`, row-major), in f64, in O(n·d_in). Errors on a
/// length mismatch, non-finite values or `n = 0`.
///
/// ```
/// use sparsekit_prune::oneshot::input_norms;
/// let norms = input_norms(&[3.0, 0.0, 4.0, 1.0], 2, 2)?;
/// assert_eq!(norms, vec![5.0, 1.0]);
/// # Ok::<(), sparsekit_prune::PruneError>(())
/// ```
pub fn input_norms(x: &[f32], n: usize, d_in: usize) -> Result<Vec<f64>> {
    if n.checked_mul(d_in) != Some(x.len()) {
        return Err(PruneError::Shape(format!(
            "calibration inputs have {} values, expected n_samples {n} \u{d7} d_in {d_in}",
            x.len()
        )));
    }
    if n == 0 {
        return Err(PruneError::InvalidArgument(
            "no calibration samples (n_samples = 0)".into(),
        ));
    }
    check_finite(x, "calibration inputs")?;
    let mut sq = vec![0.0f64; d_in];
    if d_in > 0 {
        for row in x.chunks_exact(d_in) {
            for (s, &v) in sq.iter_mut().zip(row) {
                *s += v as f64 * v as f64;
            }
        }
    }
    Ok(sq.into_iter().map(f64::sqrt).collect())
}
