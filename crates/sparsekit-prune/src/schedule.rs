//! Schedules: when to prune and to which sparsity, and how much gradient reaches pruned weights.
//!
//! All are pure functions of the step `t` = the number of optimizer updates done so far (`t = 0`
//! is the untrained model).
//!
//! | schedule | target sparsity at `t` | reference |
//! |---|---|---|
//! | [`Schedule::OneShot`] | `s` from step `at` on | SNIP (Lee et al. 2019) at `at = 0`; post-training pruning |
//! | [`Schedule::Gradual`] | `s_f + (s_i − s_f)(1 − (t_k − t0)/(nΔt))³` at the last pruning step `t_k = t0 + kΔt ≤ t` | Zhu & Gupta 2017 (GMP) |
//! | [`Schedule::Iterative`] | `1 − (1 − p)^r` after round `r`, rewinding the weights | Frankle & Carbin 2019; Frankle et al. 2020 (rewinding) |
//! | [`Schedule::Periodic`] | `s`, masks recomputed every `every` steps in `[start, end]` | SR-STE / N:M training (Zhou et al. 2021) |
//!
//! | gradient flow | factor on pruned weights' gradients | reference |
//! |---|---|---|
//! | [`GradientFlow::Blocked`] | 0 (pruned weights stay zero) | |
//! | [`GradientFlow::Decay`] | `β(t)`: 1 → 0 in `intervals` equal steps over `[start, end]` | Bambhaniya et al. 2024 (progressive gradient flow for N:M) |
//! | [`GradientFlow::Anneal`] | `α(t) = α0 · (1 − (t − start)/(end − start))`, clamped | Kundu et al. 2021 (AutoSparse gradient annealing; a linear ramp is our choice) |

use serde::{Deserialize, Serialize};

use crate::error::{PruneError, Result};
use crate::structure::check_sparsity;

/// Gradual magnitude pruning (Zhu & Gupta 2017): `n` pruning steps `Δt` apart from `t0`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gradual {
    /// `s_i`, the sparsity at `t0`.
    pub initial: f64,
    /// `s_f`, the sparsity at `t0 + nΔt`.
    pub final_sparsity: f64,
    /// `t0`.
    pub start: u64,
    /// `Δt` (≥ 1).
    pub frequency: u64,
    /// `n`, the number of pruning intervals (≥ 1).
    pub n: u64,
}

impl Gradual {
    /// The cubic formula at any `t`, clamped to `[t0, t0 + nΔt]`.
    ///
    /// ```
    /// use sparsekit_prune::schedule::Gradual;
    /// let g = Gradual { initial: 0.0, final_sparsity: 0.9, start: 100, frequency: 10, n: 10 };
    /// assert_eq!(g.formula(100), 0.0);
    /// assert!((g.formula(150) - 0.9 * (1.0 - 0.5f64.powi(3))).abs() < 1e-12);
    /// assert_eq!(g.formula(1000), 0.9);
    /// ```
    pub fn formula(&self, t: u64) -> f64 {
        let span = (self.n * self.frequency) as f64;
        let x = ((t.saturating_sub(self.start)) as f64 / span).min(1.0);
        self.final_sparsity + (self.initial - self.final_sparsity) * (1.0 - x).powi(3)
    }
    /// Last step of the schedule, `t0 + nΔt`.
    pub fn end(&self) -> u64 {
        self.start + self.n * self.frequency
    }
}

/// Iterative magnitude pruning: train `round_steps`, prune `rate` of the remaining weights,
/// rewind, for `rounds` rounds; then train the last round on the final mask.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Iterative {
    /// Number of pruning rounds.
    pub rounds: u32,
    /// Fraction of the remaining weights pruned each round, in `[0, 1]`.
    pub rate: f64,
    /// Training steps per round (≥ 1).
    pub round_steps: u64,
    /// Where the weights go back to after each pruning.
    pub rewind: Rewind,
}

impl Iterative {
    /// `1 − (1 − rate)^rounds`.
    pub fn final_sparsity(&self) -> f64 {
        1.0 - (1.0 - self.rate).powi(self.rounds as i32)
    }
    /// `(rounds + 1) · round_steps`: every round plus the final training on the ticket.
    pub fn total_steps(&self) -> u64 {
        (self.rounds as u64 + 1) * self.round_steps
    }
    /// The per-round rate that reaches `final_sparsity` in `rounds` rounds.
    ///
    /// ```
    /// use sparsekit_prune::schedule::Iterative;
    /// let p = Iterative::rate_for(0.9, 3);
    /// assert!((1.0 - (1.0 - p).powi(3) - 0.9).abs() < 1e-12);
    /// ```
    pub fn rate_for(final_sparsity: f64, rounds: u32) -> f64 {
        1.0 - (1.0 - final_sparsity).powf(1.0 / rounds.max(1) as f64)
    }
}

/// The weights a lottery-ticket rewind restores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rewind {
    /// The initial weights (`t = 0`; Frankle & Carbin 2019).
    Init,
    /// The weights after `k` updates (Frankle et al. 2020, "late rewinding").
    Step(u64),
    /// No rewinding: keep training the pruned weights (fine-tuning).
    None,
}

impl Rewind {
    /// The step whose weights are recorded, if any.
    pub fn step(&self) -> Option<u64> {
        match self {
            Rewind::Init => Some(0),
            Rewind::Step(k) => Some(*k),
            Rewind::None => None,
        }
    }
}

/// When to recompute the masks and at which global target sparsity.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    /// Prune once at step `at` to `sparsity`.
    OneShot {
        /// The step.
        at: u64,
        /// The target.
        sparsity: f64,
    },
    /// Gradual magnitude pruning (cubic).
    Gradual(Gradual),
    /// Iterative magnitude pruning with rewinding.
    Iterative(Iterative),
    /// A fixed target, masks recomputed every `every` steps for `start ≤ t ≤ end` (for N:M
    /// training with a [`GradientFlow`] that lets pruned weights come back).
    Periodic {
        /// The target (ignored by N:M, whose sparsity is fixed).
        sparsity: f64,
        /// First mask update.
        start: u64,
        /// Last mask update.
        end: u64,
        /// Steps between updates (≥ 1).
        every: u64,
    },
}

impl Schedule {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(PruneError::InvalidArgument(m.to_string()));
        match *self {
            Schedule::OneShot { sparsity, .. } => Ok(check_sparsity(sparsity)?),
            Schedule::Gradual(g) => {
                check_sparsity(g.initial)?;
                check_sparsity(g.final_sparsity)?;
                if g.frequency == 0 || g.n == 0 {
                    return bad("gradual schedule needs frequency ≥ 1 and n ≥ 1");
                }
                Ok(())
            }
            Schedule::Iterative(it) => {
                check_sparsity(it.rate)?;
                if it.round_steps == 0 {
                    return bad("iterative schedule needs round_steps ≥ 1");
                }
                Ok(())
            }
            Schedule::Periodic {
                sparsity,
                start,
                end,
                every,
            } => {
                check_sparsity(sparsity)?;
                if every == 0 || end < start {
                    return bad("periodic schedule needs every ≥ 1 and start ≤ end");
                }
                Ok(())
            }
        }
    }

    /// Whether the masks are recomputed at step `t`.
    ///
    /// ```
    /// use sparsekit_prune::schedule::{Gradual, Schedule};
    /// let s = Schedule::Gradual(Gradual { initial: 0.0, final_sparsity: 0.8, start: 10, frequency: 5, n: 4 });
    /// let steps: Vec<u64> = (0..100).filter(|&t| s.is_prune_step(t)).collect();
    /// assert_eq!(steps, [10, 15, 20, 25, 30]);
    /// assert_eq!(s.target(12), 0.0);
    /// assert_eq!(s.target(30), 0.8);
    /// ```
    pub fn is_prune_step(&self, t: u64) -> bool {
        match *self {
            Schedule::OneShot { at, .. } => t == at,
            Schedule::Gradual(g) => {
                t >= g.start && t <= g.end() && (t - g.start) % g.frequency.max(1) == 0
            }
            Schedule::Iterative(it) => {
                let r = it.round_steps.max(1);
                t > 0 && t % r == 0 && t / r <= it.rounds as u64
            }
            Schedule::Periodic {
                start, end, every, ..
            } => t >= start && t <= end && (t - start) % every.max(1) == 0,
        }
    }

    /// The global target sparsity in force at step `t` (that of the last pruning step `≤ t`; 0
    /// before the first).
    pub fn target(&self, t: u64) -> f64 {
        match *self {
            Schedule::OneShot { at, sparsity } => {
                if t >= at {
                    sparsity
                } else {
                    0.0
                }
            }
            Schedule::Gradual(g) => {
                if t < g.start {
                    0.0
                } else {
                    let f = g.frequency.max(1);
                    let last = (g.start + (t - g.start) / f * f).min(g.end());
                    g.formula(last)
                }
            }
            Schedule::Iterative(it) => {
                let r = (t / it.round_steps.max(1)).min(it.rounds as u64);
                1.0 - (1.0 - it.rate).powi(r as i32)
            }
            Schedule::Periodic {
                sparsity, start, ..
            } => {
                if t >= start {
                    sparsity
                } else {
                    0.0
                }
            }
        }
    }

    /// The rewind to apply right after the pruning at step `t` (iterative schedules only).
    pub fn rewind_at(&self, t: u64) -> Option<Rewind> {
        match *self {
            Schedule::Iterative(it) if self.is_prune_step(t) && it.rewind != Rewind::None => {
                Some(it.rewind)
            }
            _ => None,
        }
    }

    /// The last step at which masks change.
    pub fn last_prune_step(&self) -> u64 {
        match *self {
            Schedule::OneShot { at, .. } => at,
            Schedule::Gradual(g) => g.end(),
            Schedule::Iterative(it) => it.rounds as u64 * it.round_steps,
            Schedule::Periodic {
                end, every, start, ..
            } => start + (end - start.min(end)) / every.max(1) * every.max(1),
        }
    }
}

/// How much of their gradient pruned weights receive between mask updates.
///
/// With [`Blocked`](Self::Blocked) pruned weights are zero and stay zero. With the other two the
/// model still computes with the pruned weights zeroed (a sparse forward pass), while their
/// dense values are kept aside by the [`Pruner`](crate::Pruner) and move by `factor(t)` times
/// their gradient (a straight-through estimator), so a later mask update can bring them back.
/// This needs a layer whose pruned weights receive a gradient: burn's `Linear` (dense gradient),
/// not `MaskedLinear` (whose gradient is zero off the mask).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum GradientFlow {
    /// Factor 0.
    Blocked,
    /// Progressive decay `β(t)`: 1 up to `start`, then `1 − ⌊intervals · (t − start)/(end − start)⌋ / intervals`,
    /// 0 from `end` on.
    Decay {
        /// Start of the decay.
        start: u64,
        /// `β = 0` from here.
        end: u64,
        /// Number of equal decrements (≥ 1).
        intervals: u32,
    },
    /// `α(t)`: `alpha0` up to `start`, linear to 0 at `end`, 0 afterwards.
    Anneal {
        /// Initial factor.
        alpha0: f64,
        /// Start of the ramp.
        start: u64,
        /// `α = 0` from here.
        end: u64,
    },
}

impl GradientFlow {
    /// The factor on pruned weights' gradients at step `t`.
    ///
    /// ```
    /// use sparsekit_prune::GradientFlow;
    /// let d = GradientFlow::Decay { start: 100, end: 200, intervals: 4 };
    /// assert_eq!([d.factor(0), d.factor(100), d.factor(124), d.factor(125), d.factor(199), d.factor(200)],
    ///            [1.0, 1.0, 1.0, 0.75, 0.25, 0.0]);
    /// let a = GradientFlow::Anneal { alpha0: 0.5, start: 0, end: 10 };
    /// assert_eq!([a.factor(0), a.factor(5), a.factor(10)], [0.5, 0.25, 0.0]);
    /// ```
    pub fn factor(&self, t: u64) -> f64 {
        match *self {
            GradientFlow::Blocked => 0.0,
            GradientFlow::Decay {
                start,
                end,
                intervals,
            } => {
                if t < start {
                    1.0
                } else if t >= end {
                    0.0
                } else {
                    // Integer arithmetic: the steps fall exactly where the formula says.
                    let k = intervals.max(1) as u128;
                    let done = (t - start) as u128 * k / (end - start) as u128;
                    1.0 - done as f64 / k as f64
                }
            }
            GradientFlow::Anneal { alpha0, start, end } => {
                if t < start {
                    alpha0
                } else if t >= end {
                    0.0
                } else {
                    alpha0 * (1.0 - (t - start) as f64 / (end - start) as f64)
                }
            }
        }
    }

    /// Whether pruned weights may still move at step `t` (factor > 0).
    pub fn is_open(&self, t: u64) -> bool {
        self.factor(t) > 0.0
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        match *self {
            GradientFlow::Decay {
                start,
                end,
                intervals,
            } if end <= start || intervals == 0 => Err(PruneError::InvalidArgument(format!(
                "decay needs start < end and intervals ≥ 1 (got {start}..{end}, {intervals})"
            ))),
            GradientFlow::Anneal { alpha0, start, end }
                if end <= start || !(0.0..=1.0).contains(&alpha0) =>
            {
                Err(PruneError::InvalidArgument(format!(
                    "anneal needs start < end and alpha0 in [0, 1] (got {start}..{end}, {alpha0})"
                )))
            }
            _ => Ok(()),
        }
    }
}
