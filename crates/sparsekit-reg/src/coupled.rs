//! Group lasso whose groups span several parameters, e.g. a hidden neuron = its incoming
//! weights (a column of one layer) together with its outgoing weights (a row of the next).

use std::collections::HashMap;

use burn::module::Module;
use burn::tensor::Tensor;

use crate::error::{check, RegError, Result};
use crate::groups::{GroupWeights, Groups, Resolved};
use crate::penalty::{Regularizer, EPS};
use crate::prox::Proximal;
use crate::schedule::Schedule;
use crate::select::ParamEntry;
use sparsekit_tensor::params::{collect_params_detached, map_params};

/// Group lasso over groups that span several parameters (Scardapane, Comminiello, Hussain &
/// Uncini 2017 use such groups for neurons): every member parameter is split into the same
/// number of groups, and group g is the union of group g of every member:
/// `Σ_g c_g·‖(w_{1,g}, …, w_{m,g})‖₂`, with `c_g = √|g|` (total size) by default.
///
/// [`CoupledGroupLasso::neurons`] makes one group per hidden neuron between two burn `Linear`
/// layers: its incoming column of the first weight and its outgoing row of the second. Driving
/// such a group to 0 removes the neuron. For several hidden layers, use one instance per layer
/// (their groups overlap in the middle weights) and apply their proxes in turn.
///
/// ```
/// use burn::module::Module;
/// use burn::nn::{Linear, LinearConfig};
/// use burn::tensor::Device;
/// use sparsekit_reg::{CoupledGroupLasso, CoupledProximalStep, Proximal, Regularizer};
/// #[derive(Module, Debug)]
/// struct Mlp { l1: Linear, l2: Linear }
/// let dev = Device::flex();
/// let net = Mlp { l1: LinearConfig::new(6, 4).init(&dev), l2: LinearConfig::new(4, 2).init(&dev) };
/// let neurons = CoupledGroupLasso::neurons("l1.weight", "l2.weight").unwrap();
/// assert!(neurons.penalty(&net).unwrap().into_scalar::<f32>() > 0.0);
/// let net = CoupledProximalStep::new(neurons, 100.0).unwrap().apply(net, 1.0).unwrap();
/// let zero: f32 = net.l2.weight.val().abs().sum().into_scalar();
/// assert_eq!(zero, 0.0); // every neuron removed by a huge step
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CoupledGroupLasso {
    members: Vec<(String, Groups)>,
    weights: GroupWeights,
}

/// The members resolved on a module: (entry, groups, resolved) per member, and the combined
/// group structure (sizes summed over members).
type Bound<'a> = (Vec<(&'a ParamEntry, &'a Groups, Resolved)>, Resolved);

impl CoupledGroupLasso {
    /// `members`: (exact parameter path, how it is grouped); at least one, paths distinct.
    /// Custom groups must be disjoint within each member.
    pub fn new(members: Vec<(String, Groups)>, weights: GroupWeights) -> Result<Self> {
        if members.is_empty() {
            return Err(RegError::NoMatch("(no member)".into()));
        }
        for (i, (p, _)) in members.iter().enumerate() {
            if members[..i].iter().any(|(q, _)| q == p) {
                return Err(RegError::Pattern(format!("{p} is a member twice")));
            }
        }
        weights.validate()?;
        Ok(Self { members, weights })
    }

    /// One group per hidden neuron between two burn `Linear` layers (weights `[d_in, d_out]`):
    /// column j of `incoming` with row j of `outgoing`, `c_g = √|g|`.
    pub fn neurons(incoming: &str, outgoing: &str) -> Result<Self> {
        Self::new(
            vec![
                (incoming.to_string(), Groups::Columns),
                (outgoing.to_string(), Groups::Rows),
            ],
            GroupWeights::SqrtSize,
        )
    }

    fn bind<'a>(&'a self, params: &'a [ParamEntry]) -> Result<Bound<'a>> {
        let mut out = Vec::with_capacity(self.members.len());
        let mut total: Option<Resolved> = None;
        for (path, groups) in &self.members {
            let p = params
                .iter()
                .find(|p| &p.path == path)
                .ok_or_else(|| RegError::NoMatch(path.clone()))?;
            let res = groups.resolve(path, p.shape(), true)?;
            match &mut total {
                None => {
                    total = Some(Resolved {
                        n_groups: res.n_groups,
                        sizes: res.sizes.clone(),
                    })
                }
                Some(t) => {
                    if t.n_groups != res.n_groups {
                        return Err(RegError::Groups {
                            path: path.clone(),
                            shape: p.shape(),
                            reason: format!(
                                "{} groups, the first member has {}",
                                res.n_groups, t.n_groups
                            ),
                        });
                    }
                    for (a, b) in t.sizes.iter_mut().zip(&res.sizes) {
                        *a += b;
                    }
                }
            }
            out.push((p, groups, res));
        }
        Ok((out, total.expect("at least one member")))
    }

    /// `c_g` and `‖w_g‖₂²` (over all members) of every group, on `inner` (detached) or attached
    /// tensors.
    fn norms(&self, bound: &Bound<'_>, detached: bool) -> Result<(Tensor<1>, Tensor<1>)> {
        let (members, total) = bound;
        let mut sq: Option<Tensor<1>> = None;
        for (p, groups, res) in members {
            let v = if detached {
                p.value.clone().inner()
            } else {
                p.value.clone()
            };
            let s = groups.sq_norms(&v, res);
            sq = Some(match sq {
                None => s,
                Some(a) => a + s,
            });
        }
        let first = &members[0].0;
        let like = if detached {
            first.value.clone().inner()
        } else {
            first.value.clone()
        };
        let c = self
            .weights
            .tensor(&first.path, first.shape(), total, &like)?;
        Ok((c, sq.expect("at least one member")))
    }

    /// The prox of `t·Σ_g c_g‖w_g‖₂` (block soft thresholding of every coupled group):
    /// every member's part of group g is scaled by `max(0, 1 − t·c_g/‖w_g‖₂)`.
    pub fn prox<M: Module>(&self, module: M, t: f64) -> Result<M> {
        check("prox step t", t, t >= 0.0, "≥ 0 and finite")?;
        let params = collect_params_detached(&module);
        let bound = self.bind(&params)?;
        let (c, sq) = self.norms(&bound, true)?;
        let factor = (-(c * t) / sq.sqrt().clamp_min(1e-30) + 1.0).clamp_min(0.0);
        let scale: HashMap<String, (Groups, Resolved)> = bound
            .0
            .into_iter()
            .map(|(p, g, r)| (p.path.clone(), (g.clone(), r)))
            .collect();
        drop(params);
        Ok(map_params(
            module,
            |_| true,
            |path, _, w| match scale.get(path) {
                Some((g, r)) => g.scale(w, factor.clone(), r),
                None => w,
            },
        ))
    }
}

impl Regularizer for CoupledGroupLasso {
    fn penalty_params(&self, params: &[ParamEntry]) -> Result<Tensor<1>> {
        let bound = self.bind(params)?;
        let (c, sq) = self.norms(&bound, false)?;
        Ok((((sq + EPS).sqrt() - EPS.sqrt()) * c).sum())
    }
}

/// A [`CoupledGroupLasso`] prox applied with step `t = lr × strength × schedule(step)`;
/// implements [`Proximal`].
#[derive(Debug, Clone)]
pub struct CoupledProximalStep {
    /// The coupled groups.
    pub lasso: CoupledGroupLasso,
    /// Strength multiplying the learning rate.
    pub strength: f64,
    /// Strength schedule (constant unless set).
    pub schedule: Schedule,
}

impl CoupledProximalStep {
    /// `strength` ≥ 0, constant schedule.
    pub fn new(lasso: CoupledGroupLasso, strength: f64) -> Result<Self> {
        check("strength", strength, strength >= 0.0, "≥ 0 and finite")?;
        Ok(Self {
            lasso,
            strength,
            schedule: Schedule::constant(),
        })
    }

    /// With a strength schedule (used by [`apply_at`](Self::apply_at)).
    pub fn with_schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// [`Proximal::apply`] with the schedule evaluated at `step`.
    pub fn apply_at<M: Module>(&self, module: M, lr: f64, step: usize) -> Result<M> {
        self.lasso
            .prox(module, lr * self.strength * self.schedule.factor(step))
    }
}

impl Proximal for CoupledProximalStep {
    fn apply<M: Module>(&self, module: M, lr: f64) -> Result<M> {
        self.lasso.prox(module, lr * self.strength)
    }
}
