//! [`Pruner`]: masks for the selected parameters of a burn module, stepped from a training loop.
//!
//! burn modules move by value, so the pruner takes the model and gives it back, like burn's
//! `Optimizer::step`:
//!
//! ```text
//! let mut pruner = Pruner::new(config, &model)?;          // on the untrained model (records t = 0)
//! for t in 1..=steps {
//!     let grads = GradientsParams::from_grads(loss.backward(), &model);
//!     let grads = pruner.on_gradients(&model, grads, t)?; // statistics + pruned gradients scaled
//!     model = optim.step(lr, model, grads);
//!     model = pruner.step(model, t)?;                     // prune on schedule, else re-apply masks
//! }
//! ```
//!
//! `t` counts optimizer updates (see [`crate::schedule`]). [`Pruner::on_gradients`] feeds the
//! gradient criteria and multiplies the gradients of pruned weights by the
//! [`GradientFlow`] factor (0 unless a decay / annealing flow is configured).
//! [`Pruner::step`] recomputes the masks at the schedule's pruning steps (scores →
//! per-layer sparsities by the allocation → masks by the structure), rewinds for iterative
//! schedules, and zeroes the pruned weights.
//!
//! # Which parameters
//!
//! Every float parameter with at least 2 dimensions whose path matches `include` (syntax of
//! `sparsekit_formats::Selector`, e.g. `**.weight` or `mlp.*.weight`). Masks are kept in the
//! output × input orientation of [`crate::structure`]: a parameter owned by burn's `Linear`
//! (stored `[d_input, d_output]`) is transposed, any other parameter `[d0, d1, ...]` is read as
//! `d0 × (d1 · ...)` (output first: `MaskedLinear`, `SparseLinear`-style and PyTorch-style
//! weights, conv kernels); see [`Layout`]. For a `MaskedLinear` the pruner also writes the
//! layer's own `mask`. [`Pruner::mask`] gives the mask to build a `SparseLinear` with
//! `SparseLinear::from_linear`.
//!
//! Files: `config` ([`PrunerConfig`]), `layer` (the mask state of one pruned parameter),
//! `apply` (the walks over the model, through `sparsekit_tensor::params`), `json` (the state
//! as JSON), and here the [`Pruner`] itself: when masks change and how.

mod apply;
mod config;
mod json;
mod layer;

use std::collections::HashMap;

use burn::module::Module;
use burn::tensor::{Tensor, TensorData};
use burn_optim::GradientsParams;
use serde::{Deserialize, Serialize};
use sparsekit_formats::Mask;
use sparsekit_tensor::params::{self, bool_params, view2, ParamEntry, ParamReader};

pub use config::PrunerConfig;
pub use sparsekit_tensor::params::Layout;

use crate::allocation::LayerShape;
use crate::criterion::{Criterion, ScoreAccumulator};
use crate::error::{PruneError, Result};
use crate::schedule::{GradientFlow, Schedule};
use crate::structure;
use crate::ticket::{Ticket, TicketLayer};
use apply::{sibling_mask, write};
use config::selector;
use layer::Tracked;

/// Masks for the selected parameters of a module, their criterion statistics, the weights
/// recorded for rewinding, and the configuration (see the [module docs](self)).
/// Serializable with serde (`to_json` / `from_json`); the device-side caches are rebuilt.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pruner {
    config: PrunerConfig,
    layers: Vec<Tracked>,
    /// The last step passed to [`Pruner::step`].
    last_step: Option<u64>,
}

fn read_f32(t: Tensor<2>) -> Result<Vec<f32>> {
    t.try_into_vec_as::<f32>()
        .map_err(|e| PruneError::InvalidArgument(format!("reading a tensor back: {e:?}")))
}

impl Pruner {
    /// A pruner for the parameters of `model` selected by the config, all masks full. Call it on
    /// the untrained model: the weights are recorded for rewinding ([`Rewind::Init`](crate::Rewind::Init)) here.
    ///
    /// Errors on an invalid configuration or when nothing is selected.
    pub fn new<M: Module>(config: PrunerConfig, model: &M) -> Result<Self> {
        config.validate()?;
        let include = selector(&config.include)?;
        let floats = ParamReader::detached()
            .min_rank(2)
            .select(&include)
            .read(model);
        if floats.is_empty() {
            return Err(PruneError::InvalidArgument(format!(
                "no parameter with ≥ 2 dimensions matches '{}'",
                config.include
            )));
        }
        // `MaskedLinear` masks by path, to start from the layer's own mask.
        let bools: HashMap<String, _> = bool_params(model)
            .into_iter()
            .map(|b| (b.path.clone(), b))
            .collect();
        let mut layers = Vec::new();
        for f in &floats {
            let masked_linear = f.owner == "Struct:MaskedLinear" && f.leaf() == "weight";
            let mut t = Tracked {
                path: f.path.clone(),
                dims: f.dims.clone(),
                layout: f.layout(),
                masked_linear,
                mask: Mask::new(0, 0)?,
                acc: None,
                last_grad: None,
                shadow: None,
                rewind: None,
                on_device: None,
            };
            let (r, c) = t.rows_cols();
            t.mask = match bools.get(&sibling_mask(&f.path)) {
                Some(m) if masked_linear && m.dims == [r, c] => {
                    let b = m
                        .value
                        .clone()
                        .try_into_vec_as::<bool>()
                        .map_err(|e| PruneError::InvalidArgument(format!("{e:?}")))?;
                    Mask::from_bools(&b, r, c)?
                }
                _ => Mask::ones(r, c)?,
            };
            if config.criterion.is_accumulated() {
                t.acc = Some(ScoreAccumulator::new(config.criterion, r * c)?);
            }
            layers.push(t);
        }
        let mut p = Self {
            config,
            layers,
            last_step: None,
        };
        if p.rewind_step() == Some(0) {
            p.record(floats.into_iter().map(|f| f.value))?;
        }
        Ok(p)
    }

    fn rewind_step(&self) -> Option<u64> {
        match self.config.schedule {
            Schedule::Iterative(it) => it.rewind.step(),
            _ => None,
        }
    }

    fn record(&mut self, values: impl Iterator<Item = Tensor<2>>) -> Result<()> {
        for (l, v) in self.layers.iter_mut().zip(values) {
            l.rewind = Some(read_f32(v)?);
        }
        Ok(())
    }

    /// Feeds the gradients of step `t` to the criterion statistics, and scales the gradients of
    /// pruned weights by the [`GradientFlow`] factor at `t` (0 when blocked). Call it between
    /// `backward` and the optimizer step.
    pub fn on_gradients<M: Module>(
        &mut self,
        model: &M,
        mut grads: GradientsParams,
        t: u64,
    ) -> Result<GradientsParams> {
        let floats = self.read(model, Some(&grads))?;
        let crit = self.config.criterion;
        let factor = self.config.flow.factor(t) as f32;
        let mut scales = HashMap::new();
        for (l, f) in self.layers.iter_mut().zip(floats) {
            let ParamEntry {
                id,
                dims,
                value: w,
                grad,
                ..
            } = f;
            let Some(g) = grad else { continue };
            if crit.needs_gradient() {
                let gv = l.storage_to_oi(&read_f32(g.clone())?);
                if l.acc.is_some() {
                    let mut wv = l.storage_to_oi(&read_f32(w)?);
                    // The straight-through weights are the dense ones.
                    if let Some(sh) = &l.shadow {
                        wv.iter_mut().zip(sh).for_each(|(w, s)| *w += s);
                    }
                    if let Some(acc) = &mut l.acc {
                        acc.accumulate(&wv, &gv)?;
                    }
                } else {
                    l.last_grad = Some(gv);
                }
            }
            if l.mask.count_ones() < l.mask.nrows() * l.mask.ncols() {
                let scale = if factor == 0.0 {
                    l.device_mask(&g.device())
                } else {
                    let f: Vec<f32> = l
                        .mask_storage()
                        .into_iter()
                        .map(|m| if m > 0.5 { 1.0 } else { factor })
                        .collect();
                    let [r, c] = view2(&dims);
                    Tensor::<2>::from_data(TensorData::new(f, [r, c]), &g.device())
                };
                scales.insert(id, scale);
            }
        }
        if !scales.is_empty() {
            params::scale_grads(model, &mut grads, scales);
        }
        Ok(grads)
    }

    /// After the optimizer update of step `t`: records the rewind point, recomputes the masks at
    /// the schedule's pruning steps (rewinding for iterative schedules), and zeroes the pruned
    /// weights. Returns the model with the masks applied.
    pub fn step<M: Module>(&mut self, model: M, t: u64) -> Result<M> {
        let open = self.config.flow != GradientFlow::Blocked;
        let floats = self.read(&model, None)?;
        if !open && !self.config.schedule.is_prune_step(t) && self.rewind_step() != Some(t) {
            // Nothing changes: multiply by the masks on the device, no host round trip.
            self.last_step = Some(t);
            return Ok(self.multiply_masks(model, &floats));
        }
        let mut values = Vec::with_capacity(floats.len());
        for f in floats {
            values.push(read_f32(f.value)?);
        }
        if let Some(k) = self.rewind_step() {
            if k == t && k > 0 {
                for (l, v) in self.layers.iter_mut().zip(&values) {
                    l.rewind = Some(v.clone());
                }
            }
        }
        // Dense (output × input) values: the model's, plus the straight-through ones kept aside.
        let mut dense: Vec<Vec<f32>> = Vec::with_capacity(values.len());
        for (l, v) in self.layers.iter_mut().zip(&values) {
            let mut d = l.storage_to_oi(v);
            if open {
                let sh = l.shadow.get_or_insert_with(|| vec![0.0; d.len()]);
                let bools = l.mask.to_bools();
                for ((d, s), keep) in d.iter_mut().zip(sh.iter_mut()).zip(bools) {
                    if !keep {
                        // The model held 0 before the update: what it holds now is the update.
                        *s += *d;
                        *d = *s;
                    }
                }
            }
            dense.push(d);
        }
        if self.config.schedule.is_prune_step(t) {
            self.update_masks(&dense, t)?;
        }
        let rewind = self.config.schedule.rewind_at(t);
        let (mut floats, mut masks) = (HashMap::new(), HashMap::new());
        for (l, d) in self.layers.iter_mut().zip(dense) {
            let bools = l.mask.to_bools();
            let src = match (rewind, &l.rewind) {
                (Some(_), Some(r)) => l.storage_to_oi(r),
                _ => d,
            };
            if open {
                l.shadow = Some(
                    src.iter()
                        .zip(&bools)
                        .map(|(&v, &k)| if k { 0.0 } else { v })
                        .collect(),
                );
            }
            let kept: Vec<f32> = src
                .iter()
                .zip(&bools)
                .map(|(&v, &k)| if k { v } else { 0.0 })
                .collect();
            floats.insert(l.path.clone(), l.oi_to_storage(&kept));
            if l.masked_linear {
                masks.insert(sibling_mask(&l.path), bools);
            }
        }
        self.last_step = Some(t);
        write(model, floats, masks)
    }

    fn update_masks(&mut self, dense: &[Vec<f32>], t: u64) -> Result<()> {
        let crit = self.config.criterion;
        let monotone = self.config.flow == GradientFlow::Blocked;
        let mut scores = Vec::with_capacity(self.layers.len());
        for (l, w) in self.layers.iter_mut().zip(dense) {
            let mut s = match (&l.acc, crit) {
                (Some(acc), _) => acc.scores(),
                (None, Criterion::Magnitude | Criterion::Random { .. }) => crit.scores(w, None)?,
                (None, _) => {
                    let g = l.last_grad.as_deref().ok_or_else(|| {
                        PruneError::InvalidArgument(format!(
                            "{:?} needs a gradient: call on_gradients before step",
                            crit
                        ))
                    })?;
                    crit.scores(w, Some(g))?
                }
            };
            if let Criterion::Random { seed } = crit {
                // Different layers and steps draw different scores.
                s = crate::criterion::random(s.len(), seed ^ (t << 20) ^ scores.len() as u64);
            }
            if monotone {
                // Pruned weights stay pruned.
                for (s, keep) in s.iter_mut().zip(l.mask.to_bools()) {
                    if !keep {
                        *s = f32::NEG_INFINITY;
                    }
                }
            }
            if let Some(acc) = &mut l.acc {
                acc.reset();
            }
            scores.push(s);
        }
        let shapes = self.shapes();
        let target = self.config.schedule.target(t);
        let sparsities = self.config.allocation.sparsities(
            &shapes,
            target,
            self.config.keep_dense.as_deref(),
            Some(scores.as_slice()),
        )?;
        let dense_sel = self
            .config
            .keep_dense
            .as_deref()
            .map(selector)
            .transpose()?;
        for ((l, s), sp) in self.layers.iter_mut().zip(&scores).zip(sparsities) {
            if dense_sel.as_ref().is_some_and(|d| d.matches(&l.path)) {
                continue;
            }
            let (r, c) = l.rows_cols();
            l.mask = structure::mask(s, r, c, sp, self.config.structure)?;
            l.on_device = None;
        }
        Ok(())
    }

    /// Restores the recorded weights under the current masks (lottery-ticket rewinding).
    /// Errors when no rewind point was recorded (the schedule has none, or it is not reached).
    pub fn rewind<M: Module>(&self, model: M) -> Result<M> {
        self.read(&model, None)?;
        let mut floats = HashMap::new();
        for l in &self.layers {
            let r = l.rewind.as_ref().ok_or_else(|| {
                PruneError::InvalidArgument(format!("{}: no rewind point recorded", l.path))
            })?;
            let m = l.mask_storage();
            let v: Vec<f32> = r.iter().zip(&m).map(|(a, b)| a * b).collect();
            floats.insert(l.path.clone(), v);
        }
        write(model, floats, HashMap::new())
    }

    /// Records the current weights as the rewind point (whatever the schedule says).
    pub fn record_rewind_point<M: Module>(&mut self, model: &M) -> Result<()> {
        let floats = self.read(model, None)?;
        self.record(floats.into_iter().map(|f| f.value))
    }

    /// The winning ticket: every mask with the rewind-point weights.
    pub fn ticket(&self) -> Result<Ticket> {
        let mut layers = Vec::new();
        for l in &self.layers {
            let init = l.rewind.clone().ok_or_else(|| {
                PruneError::InvalidArgument(format!("{}: no rewind point recorded", l.path))
            })?;
            layers.push(TicketLayer {
                path: l.path.clone(),
                dims: l.dims.clone(),
                input_major: l.layout == Layout::InputMajor,
                mask: l.mask.clone(),
                init,
            });
        }
        Ok(Ticket { layers })
    }

    /// The mask (output × input) of the parameter at `path`.
    pub fn mask(&self, path: &str) -> Option<&Mask> {
        self.layers.iter().find(|l| l.path == path).map(|l| &l.mask)
    }

    /// `(path, mask)` of every pruned parameter, in visiting order.
    pub fn masks(&self) -> Vec<(&str, &Mask)> {
        self.layers
            .iter()
            .map(|l| (l.path.as_str(), &l.mask))
            .collect()
    }

    /// Paths and output × input shapes of the pruned parameters.
    pub fn shapes(&self) -> Vec<LayerShape> {
        self.layers
            .iter()
            .map(|l| {
                let (r, c) = l.rows_cols();
                LayerShape::new(l.path.clone(), r, c)
            })
            .collect()
    }

    /// The storage layout of the parameter at `path`.
    pub fn layout(&self, path: &str) -> Option<Layout> {
        self.layers
            .iter()
            .find(|l| l.path == path)
            .map(|l| l.layout)
    }

    /// Fraction of pruned weights over all pruned parameters (by the masks).
    pub fn sparsity(&self) -> f64 {
        let total: usize = self
            .layers
            .iter()
            .map(|l| l.mask.nrows() * l.mask.ncols())
            .sum();
        let kept: usize = self.layers.iter().map(|l| l.mask.count_ones()).sum();
        if total == 0 {
            0.0
        } else {
            1.0 - kept as f64 / total as f64
        }
    }

    /// The last step passed to [`step`](Self::step), if any.
    pub fn last_step(&self) -> Option<u64> {
        self.last_step
    }

    /// The configuration.
    pub fn config(&self) -> &PrunerConfig {
        &self.config
    }
}
