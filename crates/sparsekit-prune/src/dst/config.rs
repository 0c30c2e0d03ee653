//! Configuration of dynamic sparse training: which method, how often, how much.

use burn::config::Config;

use crate::error::{PruneError, Result};

use super::DynamicSparsity;

/// Which drop-and-grow rule rebuilds the pattern.
#[derive(Config, Debug, PartialEq, Copy)]
pub enum DstMethod {
    /// SET (Mocanu et al. 2018): drop the smallest |w|, grow at uniformly random inactive
    /// positions. Needs no gradient.
    Set,
    /// RigL (Evci et al. 2020): drop the smallest |w|, grow the inactive positions of largest
    /// dense-gradient magnitude.
    RigL,
    /// SRigL (Lasby et al. 2023): RigL under a constant fan-in constraint (every active output
    /// neuron keeps the same number of weights), with neuron ablation.
    SRigL,
}

/// How the drop fraction `ζ_t` evolves with the step `t`.
#[derive(Config, Debug, PartialEq, Copy)]
pub enum DropSchedule {
    /// `ζ_t = ζ/2 · (1 + cos(π t / T_end))` (RigL's schedule).
    Cosine,
    /// `ζ_t = ζ` (SET's original schedule).
    Constant,
}

/// Configuration of [`DynamicSparsity`].
///
/// ```
/// use sparsekit_prune::dst::{DstConfig, DstMethod};
/// let dst = DstConfig::new(DstMethod::RigL)
///     .with_delta_t(100)
///     .with_zeta(0.3)
///     .with_t_end(Some(7_500))
///     .init()?;
/// assert!(dst.is_update_step(100));
/// assert!(!dst.is_update_step(150));
/// assert!(!dst.is_update_step(7_500)); // no updates from T_end on
/// // A drop fraction outside [0, 1] is a typed error.
/// assert!(DstConfig::new(DstMethod::Set).with_zeta(1.5).init().is_err());
/// # Ok::<(), sparsekit_prune::PruneError>(())
/// ```
#[derive(Config, Debug)]
pub struct DstConfig {
    /// The drop-and-grow rule.
    pub method: DstMethod,
    /// Steps between two pattern updates (`ΔT`, ≥ 1); updates happen at `t = ΔT, 2ΔT, …`.
    #[config(default = 100)]
    pub delta_t: usize,
    /// Initial drop fraction `ζ` in `[0, 1]`: the fraction of each layer's weights moved per
    /// update (before the schedule scales it).
    #[config(default = 0.3)]
    pub zeta: f64,
    /// Last step (exclusive) at which the pattern may change (`T_end`); `None` = never stop.
    /// The cosine schedule needs it.
    #[config(default = "None")]
    pub t_end: Option<usize>,
    /// How `ζ_t` evolves.
    #[config(default = "DropSchedule::Cosine")]
    pub schedule: DropSchedule,
    /// Seed of SET's random growth.
    #[config(default = 0)]
    pub seed: u64,
    /// SRigL's neuron-ablation threshold `γ_sal` in `[0, 1]`: a neuron with fewer than
    /// `γ_sal · fan_in` salient weights is ablated. `0` disables ablation.
    #[config(default = 0.3)]
    pub gamma_sal: f64,
}

impl DstConfig {
    /// Checks the configuration and returns the (stateful) updater.
    ///
    /// Errors ([`PruneError::InvalidArgument`]): `ζ` or `γ_sal` outside `[0, 1]` or NaN,
    /// `ΔT = 0`, a cosine schedule without `T_end` or with `T_end = 0`.
    pub fn init(&self) -> Result<DynamicSparsity> {
        self.validate()?;
        Ok(DynamicSparsity::from_config(self.clone()))
    }

    pub(crate) fn validate(&self) -> Result<()> {
        check_fraction("zeta", self.zeta)?;
        check_fraction("gamma_sal", self.gamma_sal)?;
        if self.delta_t == 0 {
            return Err(PruneError::InvalidArgument(
                "delta_t (steps between updates) must be at least 1".into(),
            ));
        }
        if self.schedule == DropSchedule::Cosine && matches!(self.t_end, None | Some(0)) {
            return Err(PruneError::InvalidArgument(
                "the cosine drop schedule needs t_end ≥ 1".into(),
            ));
        }
        Ok(())
    }

    /// The drop fraction at step `t`: `0` from `T_end` on, otherwise `ζ` (constant) or
    /// `ζ/2 · (1 + cos(π t / T_end))` (cosine).
    pub fn drop_fraction(&self, t: usize) -> f64 {
        if let Some(t_end) = self.t_end {
            if t >= t_end {
                return 0.0;
            }
        }
        match (self.schedule, self.t_end) {
            (DropSchedule::Cosine, Some(t_end)) => {
                self.zeta / 2.0 * (1.0 + (std::f64::consts::PI * t as f64 / t_end as f64).cos())
            }
            _ => self.zeta,
        }
    }
}

/// A fraction in `[0, 1]` (NaN rejected).
pub(crate) fn check_fraction(name: &str, v: f64) -> Result<()> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(PruneError::InvalidArgument(format!(
            "{name} must be in [0, 1], got {v}"
        )))
    }
}
