//! Strength schedules: constant, linear or cosine ramps.

use burn::config::Config;

use crate::error::{check, Result as Res};

/// The shape of a [`Schedule`].
#[derive(Config, Debug, PartialEq)]
pub enum Ramp {
    /// Factor 1 at every step.
    Constant,
    /// 0 before `start`, then `p = (step − start) / len` rising linearly to 1.
    Linear,
    /// 0 before `start`, then `(1 − cos(π·p)) / 2` rising to 1.
    Cosine,
}

/// A multiplier in [0, 1] of a strength as a function of the training step.
///
/// ```
/// use sparsekit_reg::Schedule;
/// let s = Schedule::cosine(10, 100);
/// assert_eq!(s.factor(0), 0.0);
/// assert!((s.factor(60) - 0.5).abs() < 1e-12);
/// assert_eq!(s.factor(1000), 1.0);
/// assert_eq!(Schedule::linear(0, 4).factor(1), 0.25);
/// assert_eq!(Schedule::constant().factor(7), 1.0);
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct Schedule {
    /// Constant, linear or cosine.
    #[config(default = "Ramp::Constant")]
    pub ramp: Ramp,
    /// First step of the ramp (the factor is 0 before, for ramps).
    #[config(default = 0)]
    pub start: usize,
    /// Steps to go from 0 to 1 (0 = jump to 1 at `start`).
    #[config(default = 0)]
    pub len: usize,
}

impl Schedule {
    /// Factor 1 always.
    pub fn constant() -> Self {
        Self::new()
    }

    /// Linear ramp from `start` over `len` steps.
    pub fn linear(start: usize, len: usize) -> Self {
        Self::new()
            .with_ramp(Ramp::Linear)
            .with_start(start)
            .with_len(len)
    }

    /// Cosine ramp from `start` over `len` steps.
    pub fn cosine(start: usize, len: usize) -> Self {
        Self::new()
            .with_ramp(Ramp::Cosine)
            .with_start(start)
            .with_len(len)
    }

    /// Always valid; kept so that configs can be checked uniformly.
    pub(crate) fn validate(&self) -> Res<()> {
        check("schedule.len", self.len as f64, true, "any")
    }

    /// The multiplier at `step`, in [0, 1].
    pub fn factor(&self, step: usize) -> f64 {
        if self.ramp == Ramp::Constant {
            return 1.0;
        }
        if step < self.start {
            return 0.0;
        }
        if self.len == 0 {
            return 1.0;
        }
        let p = ((step - self.start) as f64 / self.len as f64).min(1.0);
        match self.ramp {
            Ramp::Linear => p,
            _ => (1.0 - (std::f64::consts::PI * p).cos()) / 2.0,
        }
    }
}
