//! `#[derive(Config)]` descriptions of regularizers and proximal steps, for training configs.

use burn::config::Config;

use crate::error::Result as Res;
use crate::groups::{GroupWeights, Groups};
use crate::penalty::{
    ElasticNet, GroupLasso, Hoyer, HoyerSquare, HyperSparse, LogSum, Lq, Regularizer,
    SparseGroupLasso, Sum, TensorPenalty, L0, L1, L2,
};
use crate::prox::{
    Firm, GroupSoftThreshold, HalfThreshold, HardThreshold, Mcp, ProxOp, ProximalStep, Scad,
    SoftThreshold,
};
use crate::schedule::Schedule;

/// Which penalty (see the crate README for the formulas).
#[derive(Config, Debug, PartialEq)]
pub enum PenaltyKind {
    /// [`L1`].
    L1,
    /// [`L2`].
    L2,
    /// [`ElasticNet`].
    ElasticNet {
        /// ℓ1 share ρ.
        l1_ratio: f64,
    },
    /// [`GroupLasso`].
    GroupLasso {
        /// Groups.
        groups: Groups,
        /// Multipliers.
        weights: GroupWeights,
    },
    /// [`SparseGroupLasso`].
    SparseGroupLasso {
        /// Groups.
        groups: Groups,
        /// Multipliers.
        weights: GroupWeights,
        /// ℓ1 share α.
        alpha: f64,
    },
    /// [`Hoyer`].
    Hoyer,
    /// [`HoyerSquare`].
    HoyerSquare,
    /// [`LogSum`].
    LogSum {
        /// ε.
        eps: f64,
    },
    /// [`Lq`].
    Lq {
        /// q.
        q: f64,
        /// ε.
        eps: f64,
    },
    /// [`L0`] with β = 2/3, γ = −0.1, ζ = 1.1, on `log_alpha` parameters.
    L0,
    /// [`HyperSparse`] (one loss over all the weights the pattern selects).
    HyperSparse {
        /// Prune rate κ ∈ [0, 1).
        prune_rate: f64,
    },
}

/// One term `strength · schedule(step) · penalty(selected parameters)`.
///
/// ```
/// use burn::config::Config;
/// use sparsekit_reg::{PenaltyKind, RegularizerConfig, Regularizer};
/// let cfg = RegularizerConfig::new(PenaltyKind::L1, "**.weight".into(), 1e-4);
/// let json = serde_json_like(&cfg);
/// # fn serde_json_like(c: &RegularizerConfig) -> String { format!("{c}") }
/// assert!(json.contains("L1"));
/// let reg = cfg.init().unwrap();
/// ```
#[derive(Config, Debug)]
pub struct RegularizerConfig {
    /// The penalty.
    pub kind: PenaltyKind,
    /// Path pattern (see [`Selector`](crate::Selector)).
    pub pattern: String,
    /// Strength ≥ 0.
    pub strength: f64,
    /// Strength schedule.
    #[config(default = "Schedule::constant()")]
    pub schedule: Schedule,
}

impl RegularizerConfig {
    /// The penalty alone (without strength), selecting by `pattern`.
    pub fn build_penalty(&self) -> Res<Box<dyn Regularizer>> {
        let p = self.pattern.as_str();
        Ok(match &self.kind {
            PenaltyKind::L1 => Box::new(L1.on(p)?),
            PenaltyKind::L2 => Box::new(L2.on(p)?),
            PenaltyKind::ElasticNet { l1_ratio } => Box::new(ElasticNet::new(*l1_ratio)?.on(p)?),
            PenaltyKind::GroupLasso { groups, weights } => {
                Box::new(GroupLasso::new(groups.clone(), weights.clone())?.on(p)?)
            }
            PenaltyKind::SparseGroupLasso {
                groups,
                weights,
                alpha,
            } => Box::new(SparseGroupLasso::new(groups.clone(), weights.clone(), *alpha)?.on(p)?),
            PenaltyKind::Hoyer => Box::new(Hoyer.on(p)?),
            PenaltyKind::HoyerSquare => Box::new(HoyerSquare.on(p)?),
            PenaltyKind::LogSum { eps } => Box::new(LogSum::new(*eps)?.on(p)?),
            PenaltyKind::Lq { q, eps } => Box::new(Lq::new(*q, *eps)?.on(p)?),
            PenaltyKind::L0 => Box::new(L0::default().on(p)?),
            PenaltyKind::HyperSparse { prune_rate } => Box::new(HyperSparse::new(p, *prune_rate)?),
        })
    }

    /// A one-term [`Sum`].
    pub fn init(&self) -> Res<Sum> {
        Sum::new().with_boxed(self.strength, self.schedule.clone(), self.build_penalty()?)
    }
}

/// A list of terms; [`init`](Self::init) builds their [`Sum`].
#[derive(Config, Debug)]
pub struct SumConfig {
    /// The terms.
    pub terms: Vec<RegularizerConfig>,
}

impl SumConfig {
    /// The weighted sum of all terms.
    pub fn init(&self) -> Res<Sum> {
        let mut s = Sum::new();
        for t in &self.terms {
            s = s.with_boxed(t.strength, t.schedule.clone(), t.build_penalty()?)?;
        }
        Ok(s)
    }
}

/// Which proximal operator.
#[derive(Config, Debug, PartialEq)]
pub enum ProxKind {
    /// [`SoftThreshold`].
    Soft,
    /// [`GroupSoftThreshold`].
    GroupSoft {
        /// Groups (custom ones disjoint).
        groups: Groups,
        /// Multipliers.
        weights: GroupWeights,
    },
    /// [`HardThreshold`].
    Hard,
    /// [`Firm`].
    Firm {
        /// μ/λ.
        ratio: f64,
    },
    /// [`Mcp`].
    Mcp {
        /// γ.
        gamma: f64,
    },
    /// [`Scad`].
    Scad {
        /// a.
        a: f64,
    },
    /// [`HalfThreshold`].
    Half,
}

/// A proximal step: operator, pattern, strength and schedule.
///
/// ```
/// use sparsekit_reg::{ProxConfig, ProxKind};
/// let step = ProxConfig::new(ProxKind::Soft, "**.weight".into(), 1e-4).init().unwrap();
/// assert_eq!(step.strength, 1e-4);
/// ```
#[derive(Config, Debug)]
pub struct ProxConfig {
    /// The operator.
    pub kind: ProxKind,
    /// Path pattern.
    pub pattern: String,
    /// Strength (t = lr × strength).
    pub strength: f64,
    /// Strength schedule.
    #[config(default = "Schedule::constant()")]
    pub schedule: Schedule,
}

impl ProxConfig {
    /// The step.
    pub fn init(&self) -> Res<ProximalStep<Box<dyn ProxOp>>> {
        let op: Box<dyn ProxOp> = match &self.kind {
            ProxKind::Soft => Box::new(SoftThreshold),
            ProxKind::GroupSoft { groups, weights } => {
                Box::new(GroupSoftThreshold::new(groups.clone(), weights.clone())?)
            }
            ProxKind::Hard => Box::new(HardThreshold),
            ProxKind::Firm { ratio } => Box::new(Firm::new(*ratio)?),
            ProxKind::Mcp { gamma } => Box::new(Mcp::new(*gamma)?),
            ProxKind::Scad { a } => Box::new(Scad::new(*a)?),
            ProxKind::Half => Box::new(HalfThreshold),
        };
        Ok(ProximalStep::new(op, &self.pattern, self.strength)?
            .with_schedule(self.schedule.clone()))
    }
}
