//! Pruning criteria: one importance score per weight (higher = more important = kept).
//!
//! Every function works on plain row-major `&[f32]` buffers (no burn), so the CLI and other
//! non-training code can use them. Scores are `f32`; NaN scores rank below everything (see
//! [`crate::structure`]).
//!
//! | criterion | score | reference |
//! |---|---|---|
//! | [`Criterion::Magnitude`] | `|w|` | Han et al. 2015 |
//! | [`Criterion::Random`] | uniform in `[0, 1)`, seeded | baseline |
//! | [`Criterion::Gradient`] | `|g|` | |
//! | [`Criterion::Snip`] | `|g · w|` at initialization | Lee et al. 2019 (SNIP) |
//! | [`Criterion::Taylor`] | `Σ_t |g_t · w_t|` over batches | Molchanov et al. 2019 |
//! | [`Criterion::Movement`] | `−Σ_t w_t · g_t` over steps | Sanh et al. 2020 |
//!
//! The last two sum over steps: feed each step's weights and gradients to a
//! [`ScoreAccumulator`].

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{PruneError, Result};

/// Which score to compute for each weight.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Criterion {
    /// `|w|`.
    Magnitude,
    /// Uniform random scores from a seeded generator (the same seed gives the same scores).
    Random {
        /// Seed of the generator.
        seed: u64,
    },
    /// `|g|`, the magnitude of the latest gradient.
    Gradient,
    /// SNIP connection sensitivity `|g · w|`, meant for a single batch at initialization.
    Snip,
    /// First-order Taylor importance `Σ_t |g_t · w_t|`, accumulated over batches.
    Taylor,
    /// Movement score `−Σ_t w_t · g_t`, accumulated over training steps: weights moving away
    /// from zero score high.
    Movement,
}

impl Criterion {
    /// Whether the criterion reads gradients.
    pub fn needs_gradient(&self) -> bool {
        !matches!(self, Criterion::Magnitude | Criterion::Random { .. })
    }

    /// Whether the criterion sums over steps (use a [`ScoreAccumulator`]).
    pub fn is_accumulated(&self) -> bool {
        matches!(self, Criterion::Taylor | Criterion::Movement)
    }

    /// Scores of the weights `w` with the gradient `g` (required when
    /// [`needs_gradient`](Self::needs_gradient)). For the accumulated criteria this is the score
    /// of one step; use a [`ScoreAccumulator`] to sum several.
    ///
    /// ```
    /// use sparsekit_prune::Criterion;
    /// let w = [1.0, -3.0, 0.5];
    /// let g = [2.0, 0.25, -4.0];
    /// assert_eq!(Criterion::Magnitude.scores(&w, None)?, vec![1.0, 3.0, 0.5]);
    /// assert_eq!(Criterion::Snip.scores(&w, Some(&g))?, vec![2.0, 0.75, 2.0]);
    /// assert!(Criterion::Snip.scores(&w, None).is_err());
    /// # Ok::<(), sparsekit_prune::PruneError>(())
    /// ```
    pub fn scores(&self, w: &[f32], g: Option<&[f32]>) -> Result<Vec<f32>> {
        match self {
            Criterion::Magnitude => Ok(magnitude(w)),
            Criterion::Random { seed } => Ok(random(w.len(), *seed)),
            Criterion::Gradient => Ok(gradient_magnitude(need(g, w.len())?)),
            Criterion::Snip | Criterion::Taylor => snip(w, need(g, w.len())?),
            Criterion::Movement => {
                let g = need(g, w.len())?;
                Ok(w.iter().zip(g).map(|(w, g)| -(w * g)).collect())
            }
        }
    }
}

fn need(g: Option<&[f32]>, len: usize) -> Result<&[f32]> {
    let g = g.ok_or_else(|| {
        PruneError::InvalidArgument("this criterion needs the gradient of the weights".into())
    })?;
    check_len(g.len(), len)?;
    Ok(g)
}

fn check_len(got: usize, expected: usize) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(PruneError::Shape(format!(
            "gradient has {got} entries, weights have {expected}"
        )))
    }
}

/// `|w|` for each weight.
///
/// ```
/// assert_eq!(sparsekit_prune::criterion::magnitude(&[-2.0, 0.5]), vec![2.0, 0.5]);
/// ```
pub fn magnitude(w: &[f32]) -> Vec<f32> {
    w.iter().map(|x| x.abs()).collect()
}

/// `len` scores uniform in `[0, 1)` from `StdRng` seeded with `seed`.
///
/// ```
/// use sparsekit_prune::criterion::random;
/// assert_eq!(random(5, 7), random(5, 7));
/// assert_ne!(random(5, 7), random(5, 8));
/// ```
pub fn random(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.random::<f32>()).collect()
}

/// `|g|` for each gradient entry.
pub fn gradient_magnitude(g: &[f32]) -> Vec<f32> {
    magnitude(g)
}

/// SNIP sensitivity `|g · w|`; errors when the lengths differ.
///
/// ```
/// use sparsekit_prune::criterion::snip;
/// assert_eq!(snip(&[2.0, -1.0], &[0.5, 3.0])?, vec![1.0, 3.0]);
/// assert!(snip(&[1.0], &[1.0, 2.0]).is_err());
/// # Ok::<(), sparsekit_prune::PruneError>(())
/// ```
pub fn snip(w: &[f32], g: &[f32]) -> Result<Vec<f32>> {
    check_len(g.len(), w.len())?;
    Ok(w.iter().zip(g).map(|(w, g)| (w * g).abs()).collect())
}

/// Sums a per-step score over steps, in f64: Taylor `Σ |g·w|` or movement `−Σ w·g`.
///
/// ```
/// use sparsekit_prune::{Criterion, ScoreAccumulator};
/// let mut acc = ScoreAccumulator::new(Criterion::Movement, 2)?;
/// acc.accumulate(&[1.0, 1.0], &[-1.0, 2.0])?; // step 1
/// acc.accumulate(&[2.0, 0.5], &[-1.0, 2.0])?; // step 2
/// assert_eq!(acc.scores(), vec![3.0, -3.0]);
/// assert_eq!(acc.steps(), 2);
/// # Ok::<(), sparsekit_prune::PruneError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreAccumulator {
    criterion: Criterion,
    sums: Vec<f64>,
    steps: u64,
}

impl ScoreAccumulator {
    /// An empty accumulator for `len` weights; `criterion` must be
    /// [`Taylor`](Criterion::Taylor) or [`Movement`](Criterion::Movement).
    pub fn new(criterion: Criterion, len: usize) -> Result<Self> {
        if !criterion.is_accumulated() {
            return Err(PruneError::InvalidArgument(format!(
                "{criterion:?} is not accumulated over steps (use Taylor or Movement)"
            )));
        }
        Ok(Self {
            criterion,
            sums: vec![0.0; len],
            steps: 0,
        })
    }

    /// Adds one step's term from the weights `w` and their gradient `g`.
    pub fn accumulate(&mut self, w: &[f32], g: &[f32]) -> Result<()> {
        check_len(w.len(), self.sums.len())?;
        check_len(g.len(), self.sums.len())?;
        let taylor = self.criterion == Criterion::Taylor;
        for ((s, &w), &g) in self.sums.iter_mut().zip(w).zip(g) {
            let t = w as f64 * g as f64;
            *s += if taylor { t.abs() } else { -t };
        }
        self.steps += 1;
        Ok(())
    }

    /// The accumulated scores.
    pub fn scores(&self) -> Vec<f32> {
        self.sums.iter().map(|&s| s as f32).collect()
    }

    /// How many steps were accumulated.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Number of weights.
    pub fn len(&self) -> usize {
        self.sums.len()
    }

    /// Whether it tracks no weights.
    pub fn is_empty(&self) -> bool {
        self.sums.is_empty()
    }

    /// Back to zero (e.g. after a pruning step).
    pub fn reset(&mut self) {
        self.sums.iter_mut().for_each(|s| *s = 0.0);
        self.steps = 0;
    }
}
