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
//! weights, conv kernels). For a `MaskedLinear` the pruner also writes the layer's own `mask`.
//! [`Pruner::mask`] gives the mask to build a `SparseLinear` with `SparseLinear::from_linear`.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Bool, Tensor, TensorData};
use burn_optim::GradientsParams;
use serde::{Deserialize, Serialize};
use sparsekit_formats::Mask;
use sparsekit_formats::Selector;

use crate::allocation::{Allocation, LayerShape};
use crate::criterion::{Criterion, ScoreAccumulator};
use crate::error::{PruneError, Result};
use crate::schedule::{GradientFlow, Schedule};
use crate::structure::{self, Structure};

/// What to prune and how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrunerConfig {
    /// Path pattern of the parameters to prune (default `**.weight`).
    pub include: String,
    /// Path pattern of selected parameters to leave dense (e.g. the first or last layer).
    pub keep_dense: Option<String>,
    /// Importance score.
    pub criterion: Criterion,
    /// Grouping of the kept weights.
    pub structure: Structure,
    /// Split of the global target over layers.
    pub allocation: Allocation,
    /// When to prune and to which target.
    pub schedule: Schedule,
    /// Gradient reaching pruned weights.
    pub flow: GradientFlow,
}

impl PrunerConfig {
    /// Magnitude, unstructured, uniform, blocked gradients, with the given schedule.
    ///
    /// ```
    /// use sparsekit_prune::{PrunerConfig, Schedule, Structure};
    /// let c = PrunerConfig::new(Schedule::OneShot { at: 0, sparsity: 0.5 })
    ///     .with_structure(Structure::NM { n: 2, m: 4 });
    /// assert_eq!(c.include, "**.weight");
    /// ```
    pub fn new(schedule: Schedule) -> Self {
        Self {
            include: "**.weight".into(),
            keep_dense: None,
            criterion: Criterion::Magnitude,
            structure: Structure::Unstructured,
            allocation: Allocation::Uniform,
            schedule,
            flow: GradientFlow::Blocked,
        }
    }
    /// Sets `include`.
    pub fn with_include(mut self, pattern: impl Into<String>) -> Self {
        self.include = pattern.into();
        self
    }
    /// Sets `keep_dense`.
    pub fn with_keep_dense(mut self, pattern: impl Into<String>) -> Self {
        self.keep_dense = Some(pattern.into());
        self
    }
    /// Sets the criterion.
    pub fn with_criterion(mut self, c: Criterion) -> Self {
        self.criterion = c;
        self
    }
    /// Sets the structure.
    pub fn with_structure(mut self, s: Structure) -> Self {
        self.structure = s;
        self
    }
    /// Sets the allocation.
    pub fn with_allocation(mut self, a: Allocation) -> Self {
        self.allocation = a;
        self
    }
    /// Sets the gradient flow.
    pub fn with_flow(mut self, f: GradientFlow) -> Self {
        self.flow = f;
        self
    }
    fn validate(&self) -> Result<()> {
        self.structure.validate()?;
        self.schedule.validate()?;
        self.flow.validate()?;
        selector(&self.include)?;
        if let Some(p) = &self.keep_dense {
            selector(p)?;
        }
        Ok(())
    }
}

fn selector(p: &str) -> Result<Selector> {
    Selector::new(p).map_err(|e| PruneError::InvalidArgument(format!("path pattern: {e}")))
}

/// How a parameter's storage maps to the output × input mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// Stored `[d_input, d_output]` (burn's `Linear`): the mask is the transpose.
    InputMajor,
    /// Stored `[d_output, ...]`: the mask is the storage viewed as 2-D.
    OutputMajor,
}

/// One pruned parameter.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Tracked {
    path: String,
    dims: Vec<usize>,
    layout: Layout,
    /// Owned by a `MaskedLinear`: its `mask` parameter is kept equal to `mask`.
    masked_linear: bool,
    /// Output × input.
    mask: Mask,
    acc: Option<ScoreAccumulator>,
    /// The latest gradient (output × input), for the gradient criteria; not serialized.
    #[serde(skip)]
    last_grad: Option<Vec<f32>>,
    /// Dense values of the pruned weights (output × input) while a gradient flow is open.
    shadow: Option<Vec<f32>>,
    /// Weights (storage layout) recorded for rewinding.
    rewind: Option<Vec<f32>>,
    /// The mask as 0/1 floats (2-D view of the storage) on the parameter's device; rebuilt
    /// after every mask change.
    #[serde(skip)]
    on_device: Option<Tensor<2>>,
}

impl Tracked {
    fn rows_cols(&self) -> (usize, usize) {
        let [a, b] = view2(&self.dims);
        match self.layout {
            Layout::InputMajor => (b, a),
            Layout::OutputMajor => (a, b),
        }
    }
    /// Storage → output × input.
    fn storage_to_oi(&self, v: &[f32]) -> Vec<f32> {
        match self.layout {
            Layout::OutputMajor => v.to_vec(),
            Layout::InputMajor => {
                let [a, b] = view2(&self.dims);
                transpose(v, a, b)
            }
        }
    }
    /// Output × input → storage.
    fn oi_to_storage(&self, v: &[f32]) -> Vec<f32> {
        match self.layout {
            Layout::OutputMajor => v.to_vec(),
            Layout::InputMajor => {
                let (r, c) = self.rows_cols();
                transpose(v, r, c)
            }
        }
    }
    /// The cached device mask (see `on_device`), built on `device` if missing.
    fn device_mask(&mut self, device: &burn::tensor::Device) -> Tensor<2> {
        if let Some(m) = &self.on_device {
            return m.clone();
        }
        let [r, c] = view2(&self.dims);
        let m = Tensor::<2>::from_data(TensorData::new(self.mask_storage(), [r, c]), device);
        self.on_device = Some(m.clone());
        m
    }

    /// The mask as 0/1 factors in storage layout.
    fn mask_storage(&self) -> Vec<f32> {
        let m: Vec<f32> = self
            .mask
            .to_bools()
            .into_iter()
            .map(|b| b as u8 as f32)
            .collect();
        self.oi_to_storage(&m)
    }
}

pub(crate) fn view2(dims: &[usize]) -> [usize; 2] {
    match dims {
        [] => [1, 1],
        [n] => [1, *n],
        [r, rest @ ..] => [*r, rest.iter().product()],
    }
}

pub(crate) fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; v.len()];
    for i in 0..rows {
        for j in 0..cols {
            out[j * rows + i] = v[i * cols + j];
        }
    }
    out
}

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

/// A selected float parameter as the visitor saw it.
struct Seen {
    path: String,
    id: ParamId,
    dims: Vec<usize>,
    /// 2-D view of the storage.
    value: Tensor<2>,
    /// 2-D view of its gradient, when asked for and present.
    grad: Option<Tensor<2>>,
    /// Type of the module that owns it (`Struct:Linear`, ...).
    owner: String,
}

/// Collects float parameters (and bool ones, for `MaskedLinear` masks) with their paths.
struct Reader<'a> {
    stack: Vec<(String, String)>,
    include: &'a Selector,
    grads: Option<&'a GradientsParams>,
    floats: Vec<Seen>,
    bools: HashMap<String, Tensor<2, Bool>>,
}

impl Reader<'_> {
    fn path(&self) -> String {
        self.stack
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }
}

impl ModuleVisitor for Reader<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.stack.push((name.into(), container_type.into()));
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.path();
        if D < 2 || !self.include.matches(&path) {
            return;
        }
        // Outside the autodiff graph: the pruner runs between optimizer steps, and a reshape of
        // a tracked tensor that no backward pass consumes leaves a graph entry behind (every
        // later backward pays for it).
        let t = param.val().inner();
        let dims = t.dims().to_vec();
        let [r, c] = view2(&dims);
        let grad = self
            .grads
            .and_then(|g| g.get::<D>(param.id))
            .map(|g| g.reshape([r, c]));
        let owner = self.stack.last().map(|s| s.1.clone()).unwrap_or_default();
        self.floats.push(Seen {
            path,
            id: param.id,
            dims,
            value: t.reshape([r, c]),
            grad,
            owner,
        });
    }
    fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<D, Bool>>) {
        if D == 2 {
            let t = param.val();
            let [r, c] = view2(&t.dims());
            self.bools.insert(self.path(), t.reshape([r, c]));
        }
    }
}

/// Shapes of the float parameters with ≥ 2 dimensions, by path (read outside the autodiff graph).
pub(crate) fn param_dims<M: Module>(model: &M) -> Result<HashMap<String, Vec<usize>>> {
    let all = selector("**")?;
    let mut reader = Reader {
        stack: Vec::new(),
        include: &all,
        grads: None,
        floats: Vec::new(),
        bools: HashMap::new(),
    };
    model.visit(&mut reader);
    Ok(reader
        .floats
        .into_iter()
        .map(|f| (f.path, f.dims))
        .collect())
}

/// `model` with the float parameters at the given paths replaced (values in storage order; the
/// caller has checked their lengths against [`param_dims`]).
pub(crate) fn write_params<M: Module>(model: M, floats: HashMap<String, Vec<f32>>) -> M {
    model.map(&mut Writer {
        stack: Vec::new(),
        floats,
        bools: HashMap::new(),
    })
}

fn read_f32(t: Tensor<2>) -> Result<Vec<f32>> {
    t.try_into_vec_as::<f32>()
        .map_err(|e| PruneError::InvalidArgument(format!("reading a tensor back: {e:?}")))
}

/// Replaces selected float parameters (storage layout) and `MaskedLinear` masks.
struct Writer {
    stack: Vec<String>,
    floats: HashMap<String, Vec<f32>>,
    bools: HashMap<String, Vec<bool>>,
}

impl ModuleMapper for Writer {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.push(name.into());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(v) = self.floats.remove(&self.stack.join(".")) else {
            return param;
        };
        param.map(|t| {
            let (ad, rg) = (t.is_autodiff(), t.is_require_grad());
            let dims = t.dims();
            let device = t.device();
            let out = Tensor::<D>::from_data(TensorData::new(v, dims), &device.inner());
            match (ad, rg) {
                (true, true) => out.autodiff().require_grad(),
                (true, false) => out.autodiff(),
                _ => out,
            }
        })
    }
    fn map_bool<const D: usize>(
        &mut self,
        param: Param<Tensor<D, Bool>>,
    ) -> Param<Tensor<D, Bool>> {
        let Some(v) = self.bools.remove(&self.stack.join(".")) else {
            return param;
        };
        param.map(|t| {
            let ad = t.is_autodiff();
            let dims = t.dims();
            let device = t.device();
            let out = Tensor::<D, Bool>::from_data(TensorData::new(v, dims), &device.inner());
            if ad {
                out.autodiff()
            } else {
                out
            }
        })
    }
}

/// Multiplies selected float parameters by their device masks (the fast path of `step`).
struct MaskApplier {
    stack: Vec<String>,
    masks: HashMap<String, Tensor<2>>,
}

impl ModuleMapper for MaskApplier {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.push(name.into());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(m) = self.masks.remove(&self.stack.join(".")) else {
            return param;
        };
        param.map(|t| {
            let (ad, rg) = (t.is_autodiff(), t.is_require_grad());
            let inner = t.inner();
            let dims = inner.dims();
            let out = inner * m.reshape(dims);
            match (ad, rg) {
                (true, true) => out.autodiff().require_grad(),
                (true, false) => out.autodiff(),
                _ => out,
            }
        })
    }
}

/// The `mask` parameter next to a `MaskedLinear`'s `weight`.
fn sibling_mask(path: &str) -> String {
    match path.rsplit_once('.') {
        Some((prefix, _)) => format!("{prefix}.mask"),
        None => "mask".into(),
    }
}

impl Pruner {
    /// A pruner for the parameters of `model` selected by the config, all masks full. Call it on
    /// the untrained model: the weights are recorded for rewinding ([`Rewind::Init`](crate::Rewind::Init)) here.
    ///
    /// Errors on an invalid configuration or when nothing is selected.
    pub fn new<M: Module>(config: PrunerConfig, model: &M) -> Result<Self> {
        config.validate()?;
        let include = selector(&config.include)?;
        let mut reader = Reader {
            stack: Vec::new(),
            include: &include,
            grads: None,
            floats: Vec::new(),
            bools: HashMap::new(),
        };
        model.visit(&mut reader);
        if reader.floats.is_empty() {
            return Err(PruneError::InvalidArgument(format!(
                "no parameter with ≥ 2 dimensions matches '{}'",
                config.include
            )));
        }
        let mut layers = Vec::new();
        for Seen {
            path, dims, owner, ..
        } in &reader.floats
        {
            let leaf = path.rsplit('.').next().unwrap_or("");
            let layout = if owner == "Struct:Linear" && leaf == "weight" && dims.len() == 2 {
                Layout::InputMajor
            } else {
                Layout::OutputMajor
            };
            let masked_linear = owner == "Struct:MaskedLinear" && leaf == "weight";
            let mut t = Tracked {
                path: path.clone(),
                dims: dims.clone(),
                layout,
                masked_linear,
                mask: Mask::new(0, 0)?,
                acc: None,
                last_grad: None,
                shadow: None,
                rewind: None,
                on_device: None,
            };
            let (r, c) = t.rows_cols();
            t.mask = match reader.bools.get(&sibling_mask(path)) {
                Some(m) if masked_linear && m.dims() == [r, c] => {
                    let b = m
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
            p.record(reader.floats.into_iter().map(|f| f.value))?;
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

    fn read<M: Module>(&self, model: &M, grads: Option<&GradientsParams>) -> Result<Vec<Seen>> {
        let include = selector(&self.config.include)?;
        let mut reader = Reader {
            stack: Vec::new(),
            include: &include,
            grads,
            floats: Vec::new(),
            bools: HashMap::new(),
        };
        model.visit(&mut reader);
        let got: Vec<&str> = reader.floats.iter().map(|f| f.path.as_str()).collect();
        let want: Vec<&str> = self.layers.iter().map(|l| l.path.as_str()).collect();
        if got != want {
            return Err(PruneError::Shape(format!(
                "the model's selected parameters {got:?} are not the pruner's {want:?}"
            )));
        }
        for (f, l) in reader.floats.iter().zip(&self.layers) {
            if f.dims != l.dims {
                return Err(PruneError::Shape(format!(
                    "{}: shape {:?}, the pruner has {:?}",
                    l.path, f.dims, l.dims
                )));
            }
        }
        Ok(reader.floats)
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
            let Seen {
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
            model.visit(&mut GradScaler {
                grads: &mut grads,
                scales,
            });
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
            let mut masks = HashMap::new();
            for (l, f) in self.layers.iter_mut().zip(floats) {
                let device = f.value.device().inner();
                masks.insert(l.path.clone(), l.device_mask(&device));
            }
            self.last_step = Some(t);
            return Ok(model.map(&mut MaskApplier {
                stack: Vec::new(),
                masks,
            }));
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
        let mut writer = Writer {
            stack: Vec::new(),
            floats: HashMap::new(),
            bools: HashMap::new(),
        };
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
            writer.floats.insert(l.path.clone(), l.oi_to_storage(&kept));
            if l.masked_linear {
                writer.bools.insert(sibling_mask(&l.path), bools);
            }
        }
        self.last_step = Some(t);
        Ok(model.map(&mut writer))
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
        let mut writer = Writer {
            stack: Vec::new(),
            floats: HashMap::new(),
            bools: HashMap::new(),
        };
        for l in &self.layers {
            let r = l.rewind.as_ref().ok_or_else(|| {
                PruneError::InvalidArgument(format!("{}: no rewind point recorded", l.path))
            })?;
            let m = l.mask_storage();
            let v: Vec<f32> = r.iter().zip(&m).map(|(a, b)| a * b).collect();
            writer.floats.insert(l.path.clone(), v);
        }
        Ok(model.map(&mut writer))
    }

    /// Records the current weights as the rewind point (whatever the schedule says).
    pub fn record_rewind_point<M: Module>(&mut self, model: &M) -> Result<()> {
        let floats = self.read(model, None)?;
        self.record(floats.into_iter().map(|f| f.value))
    }

    /// The winning ticket: every mask with the rewind-point weights.
    pub fn ticket(&self) -> Result<crate::ticket::Ticket> {
        let mut layers = Vec::new();
        for l in &self.layers {
            let init = l.rewind.clone().ok_or_else(|| {
                PruneError::InvalidArgument(format!("{}: no rewind point recorded", l.path))
            })?;
            layers.push(crate::ticket::TicketLayer {
                path: l.path.clone(),
                dims: l.dims.clone(),
                input_major: l.layout == Layout::InputMajor,
                mask: l.mask.clone(),
                init,
            });
        }
        Ok(crate::ticket::Ticket { layers })
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

    /// The state (config, masks, statistics, rewind weights) as JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| PruneError::InvalidArgument(e.to_string()))
    }

    /// A pruner from [`to_json`](Self::to_json)'s output (masks are validated).
    pub fn from_json(s: &str) -> Result<Self> {
        let p: Self =
            serde_json::from_str(s).map_err(|e| PruneError::InvalidArgument(e.to_string()))?;
        p.config.validate()?;
        for l in &p.layers {
            if l.mask.shape() != l.rows_cols() {
                return Err(PruneError::Shape(format!(
                    "{}: mask {:?} for a {:?} parameter",
                    l.path,
                    l.mask.shape(),
                    l.dims
                )));
            }
        }
        Ok(p)
    }
}

/// Multiplies the gradients of chosen parameters by a factor tensor (2-D view of the
/// parameter), at the parameter's own rank.
struct GradScaler<'a> {
    grads: &'a mut GradientsParams,
    scales: HashMap<ParamId, Tensor<2>>,
}

impl ModuleVisitor for GradScaler<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(scale) = self.scales.remove(&param.id) {
            if let Some(g) = self.grads.remove::<D>(param.id) {
                let dims = g.dims();
                self.grads.register::<D>(param.id, g * scale.reshape(dims));
            }
        }
    }
}
