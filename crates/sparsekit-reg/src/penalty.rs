//! Differentiable penalties on parameters: the [`Regularizer`] trait, the per-tensor
//! [`TensorPenalty`]s, selection by path with [`On`], and the [`Sum`] combinator.

use std::fmt::Debug;

use burn::module::Module;
use burn::tensor::activation::sigmoid;
use burn::tensor::{Tensor, TensorData};

use crate::error::{check, RegError, Result};
use crate::groups::{GroupWeights, Groups};
use crate::schedule::Schedule;
use crate::select::{collect_params, select, ParamEntry, Selector};

/// Guards `√·` and divisions at 0 in group norms and Hoyer ratios.
pub(crate) const EPS: f64 = 1e-12;

/// A differentiable penalty of a module's parameters: a scalar `Tensor<1>` of shape `[1]` that
/// can be added to a loss and back-propagated (on an autodiff device).
pub trait Regularizer: Debug + Send + Sync {
    /// The penalty over already collected parameters (see [`collect_params`]).
    fn penalty_params(&self, params: &[ParamEntry]) -> Result<Tensor<1>>;

    /// The penalty of `module`'s parameters.
    fn penalty<M: Module>(&self, module: &M) -> Result<Tensor<1>>
    where
        Self: Sized,
    {
        self.penalty_params(&collect_params(module))
    }
}

impl<R: Regularizer + ?Sized> Regularizer for Box<R> {
    fn penalty_params(&self, params: &[ParamEntry]) -> Result<Tensor<1>> {
        (**self).penalty_params(params)
    }
}

/// A penalty of one parameter tensor (its matrix view, see [`ParamEntry`]).
pub trait TensorPenalty: Debug + Send + Sync {
    /// The penalty of one parameter; shape `[1]`.
    fn value(&self, param: &ParamEntry) -> Result<Tensor<1>>;

    /// This penalty summed over the parameters whose path matches `pattern`
    /// (see [`Selector`] for the syntax).
    ///
    /// ```
    /// use burn::nn::LinearConfig;
    /// use burn::tensor::Device;
    /// use sparsekit_reg::{Regularizer, TensorPenalty, L1};
    /// let layer = LinearConfig::new(4, 3).init(&Device::flex());
    /// let p = L1.on("weight").unwrap().penalty(&layer).unwrap();
    /// let want = layer.weight.val().abs().sum().into_scalar::<f32>();
    /// assert_eq!(p.into_scalar::<f32>(), want);
    /// ```
    fn on(self, pattern: &str) -> Result<On<Self>>
    where
        Self: Sized,
    {
        Ok(On {
            penalty: self,
            selector: Selector::new(pattern)?,
        })
    }
}

/// A [`TensorPenalty`] applied to the parameters a [`Selector`] picks; a [`Regularizer`].
/// Selecting nothing is an error ([`RegError::NoMatch`]), to catch typos in patterns.
#[derive(Debug, Clone)]
pub struct On<P> {
    /// The per-tensor penalty.
    pub penalty: P,
    /// Which parameters.
    pub selector: Selector,
}

impl<P: TensorPenalty> Regularizer for On<P> {
    fn penalty_params(&self, params: &[ParamEntry]) -> Result<Tensor<1>> {
        let sel = select(params, &self.selector)?;
        let mut total: Option<Tensor<1>> = None;
        for p in sel {
            let v = self.penalty.value(p)?;
            total = Some(match total {
                None => v,
                Some(t) => t + v,
            });
        }
        total.ok_or_else(|| RegError::NoMatch(self.selector.pattern().to_string()))
    }
}

/// `Σ_k strength_k · schedule_k(step) · R_k`: a weighted sum of regularizers.
///
/// [`Regularizer::penalty`] uses the full strengths; [`Sum::penalty_at`] applies the schedules.
///
/// ```
/// use burn::nn::LinearConfig;
/// use burn::tensor::Device;
/// use sparsekit_reg::{Regularizer, Schedule, Sum, TensorPenalty, L1, L2};
/// let layer = LinearConfig::new(4, 3).init(&Device::flex());
/// let reg = Sum::new()
///     .with(1e-3, L1.on("weight").unwrap())
///     .unwrap()
///     .with_scheduled(1e-4, Schedule::linear(0, 100), L2.on("**").unwrap())
///     .unwrap();
/// let full: f32 = reg.penalty(&layer).unwrap().into_scalar();
/// let start: f32 = reg.penalty_at(&layer, 0).unwrap().into_scalar();
/// assert!(full > start && start > 0.0);
/// ```
#[derive(Debug, Default)]
pub struct Sum {
    terms: Vec<(f64, Schedule, Box<dyn Regularizer>)>,
}

impl Sum {
    /// No terms (a penalty of an empty sum is an error).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `strength · r` with a constant schedule; `strength` must be finite and ≥ 0.
    pub fn with(self, strength: f64, r: impl Regularizer + 'static) -> Result<Self> {
        self.with_scheduled(strength, Schedule::constant(), r)
    }

    /// Adds `strength · schedule(step) · r`.
    pub fn with_scheduled(
        mut self,
        strength: f64,
        schedule: Schedule,
        r: impl Regularizer + 'static,
    ) -> Result<Self> {
        check("strength", strength, strength >= 0.0, "≥ 0 and finite")?;
        schedule.validate()?;
        self.terms.push((strength, schedule, Box::new(r)));
        Ok(self)
    }

    /// Adds an already boxed term (as built from a config).
    pub fn with_boxed(
        mut self,
        strength: f64,
        schedule: Schedule,
        r: Box<dyn Regularizer>,
    ) -> Result<Self> {
        check("strength", strength, strength >= 0.0, "≥ 0 and finite")?;
        schedule.validate()?;
        self.terms.push((strength, schedule, r));
        Ok(self)
    }

    /// Number of terms.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// Whether there is no term.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    fn total(&self, params: &[ParamEntry], step: Option<usize>) -> Result<Tensor<1>> {
        if params.is_empty() {
            return Err(RegError::NoParameters);
        }
        let mut total: Option<Tensor<1>> = None;
        for (s, sched, r) in &self.terms {
            let f = step.map_or(1.0, |k| sched.factor(k));
            let v = r.penalty_params(params)? * (s * f);
            total = Some(match total {
                None => v,
                Some(t) => t + v,
            });
        }
        Ok(total.unwrap_or_else(|| Tensor::zeros([1], &params[0].value.device())))
    }

    /// The penalty with each term's schedule evaluated at `step`.
    pub fn penalty_at<M: Module>(&self, module: &M, step: usize) -> Result<Tensor<1>> {
        self.total(&collect_params(module), Some(step))
    }
}

impl Regularizer for Sum {
    fn penalty_params(&self, params: &[ParamEntry]) -> Result<Tensor<1>> {
        self.total(params, None)
    }
}

fn abs_sum(w: &Tensor<2>) -> Tensor<1> {
    w.clone().abs().sum()
}

fn sq_sum(w: &Tensor<2>) -> Tensor<1> {
    w.clone().square().sum()
}

/// Lasso, `Σ|w|` (Tibshirani 1996).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct L1;

impl TensorPenalty for L1 {
    fn value(&self, p: &ParamEntry) -> Result<Tensor<1>> {
        Ok(abs_sum(&p.value))
    }
}

/// Squared L2 (weight decay / ridge), `Σw²` (no ½).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct L2;

impl TensorPenalty for L2 {
    fn value(&self, p: &ParamEntry) -> Result<Tensor<1>> {
        Ok(sq_sum(&p.value))
    }
}

/// Elastic net (Zou & Hastie 2005), `ρ·Σ|w| + (1 − ρ)·Σw²` with `ρ = l1_ratio ∈ [0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ElasticNet {
    l1_ratio: f64,
}

impl ElasticNet {
    /// `l1_ratio` ∈ [0, 1].
    ///
    /// ```
    /// assert!(sparsekit_reg::ElasticNet::new(0.5).is_ok());
    /// assert!(sparsekit_reg::ElasticNet::new(1.5).is_err());
    /// ```
    pub fn new(l1_ratio: f64) -> Result<Self> {
        check(
            "l1_ratio",
            l1_ratio,
            (0.0..=1.0).contains(&l1_ratio),
            "in [0, 1]",
        )?;
        Ok(Self { l1_ratio })
    }
}

impl TensorPenalty for ElasticNet {
    fn value(&self, p: &ParamEntry) -> Result<Tensor<1>> {
        Ok(abs_sum(&p.value) * self.l1_ratio + sq_sum(&p.value) * (1.0 - self.l1_ratio))
    }
}

/// Group lasso, ℓ2,1 (Yuan & Lin 2006): `Σ_g c_g ‖w_g‖₂`, with `c_g = √|g|` by default.
///
/// The norm is computed as `√(‖w_g‖² + ε) − √ε` with ε = 1e-12, so that the gradient at a zero
/// group is 0 instead of NaN.
///
/// ```
/// use burn::nn::LinearConfig;
/// use burn::tensor::Device;
/// use sparsekit_reg::{GroupLasso, GroupWeights, Groups, Regularizer, TensorPenalty};
/// let layer = LinearConfig::new(4, 3).init(&Device::flex());
/// // One group per output neuron of a burn Linear (weight is [d_in, d_out]).
/// let gl = GroupLasso::new(Groups::Columns, GroupWeights::SqrtSize).unwrap();
/// let p: f32 = gl.on("weight").unwrap().penalty(&layer).unwrap().into_scalar();
/// assert!(p > 0.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GroupLasso {
    groups: Groups,
    weights: GroupWeights,
}

impl GroupLasso {
    /// Groups and their multipliers.
    pub fn new(groups: Groups, weights: GroupWeights) -> Result<Self> {
        weights.validate()?;
        Ok(Self { groups, weights })
    }
}

pub(crate) fn group_norm_sum(
    groups: &Groups,
    weights: &GroupWeights,
    p: &ParamEntry,
) -> Result<Tensor<1>> {
    let shape = p.shape();
    let res = groups.resolve(&p.path, shape, false)?;
    let c = weights.tensor(&p.path, shape, &res, &p.value)?;
    let norms = (groups.sq_norms(&p.value, &res) + EPS).sqrt() - EPS.sqrt();
    Ok((norms * c).sum())
}

impl TensorPenalty for GroupLasso {
    fn value(&self, p: &ParamEntry) -> Result<Tensor<1>> {
        group_norm_sum(&self.groups, &self.weights, p)
    }
}

/// Sparse group lasso (Simon et al. 2013): `(1 − α)·Σ_g c_g‖w_g‖₂ + α·Σ|w|`, α ∈ [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct SparseGroupLasso {
    group: GroupLasso,
    alpha: f64,
}

impl SparseGroupLasso {
    /// Groups, multipliers and the ℓ1 share α ∈ [0, 1].
    ///
    /// ```
    /// use sparsekit_reg::{GroupWeights, Groups, SparseGroupLasso};
    /// assert!(SparseGroupLasso::new(Groups::Rows, GroupWeights::Uniform, 0.3).is_ok());
    /// assert!(SparseGroupLasso::new(Groups::Rows, GroupWeights::Uniform, -1.0).is_err());
    /// ```
    pub fn new(groups: Groups, weights: GroupWeights, alpha: f64) -> Result<Self> {
        check("alpha", alpha, (0.0..=1.0).contains(&alpha), "in [0, 1]")?;
        Ok(Self {
            group: GroupLasso::new(groups, weights)?,
            alpha,
        })
    }
}

impl TensorPenalty for SparseGroupLasso {
    fn value(&self, p: &ParamEntry) -> Result<Tensor<1>> {
        Ok(self.group.value(p)? * (1.0 - self.alpha) + abs_sum(&p.value) * self.alpha)
    }
}

/// Hoyer (DeepHoyer, Yang et al. 2020; Hoyer 2004): `‖w‖₁ / ‖w‖₂` per tensor, scale invariant.
/// Computed as `‖w‖₁ / √(‖w‖₂² + ε)`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Hoyer;

impl TensorPenalty for Hoyer {
    fn value(&self, p: &ParamEntry) -> Result<Tensor<1>> {
        Ok(abs_sum(&p.value) / (sq_sum(&p.value) + EPS).sqrt())
    }
}

/// Hoyer-square (DeepHoyer, Yang et al. 2020): `‖w‖₁² / ‖w‖₂²` per tensor (denominator + ε).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HoyerSquare;

impl TensorPenalty for HoyerSquare {
    fn value(&self, p: &ParamEntry) -> Result<Tensor<1>> {
        Ok(abs_sum(&p.value).square() / (sq_sum(&p.value) + EPS))
    }
}

/// Log-sum (Candès, Wakin & Boyd 2008): `Σ ln(1 + |w|/ε)`, ε > 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogSum {
    eps: f64,
}

impl LogSum {
    /// `eps` > 0.
    pub fn new(eps: f64) -> Result<Self> {
        check("eps", eps, eps > 0.0, "> 0")?;
        Ok(Self { eps })
    }
}

impl TensorPenalty for LogSum {
    fn value(&self, p: &ParamEntry) -> Result<Tensor<1>> {
        Ok((p.value.clone().abs() / self.eps).log1p().sum())
    }
}

/// Smoothed ℓq quasi-norm, 0 < q < 1 (e.g. Chartrand & Yin 2008; Lai, Xu & Yin 2013):
/// `Σ ((w² + ε)^{q/2} − ε^{q/2})`, ε > 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lq {
    q: f64,
    eps: f64,
}

impl Lq {
    /// `q` ∈ (0, 1), `eps` > 0.
    pub fn new(q: f64, eps: f64) -> Result<Self> {
        check("q", q, q > 0.0 && q < 1.0, "in (0, 1)")?;
        check("eps", eps, eps > 0.0, "> 0")?;
        Ok(Self { q, eps })
    }
}

impl TensorPenalty for Lq {
    fn value(&self, p: &ParamEntry) -> Result<Tensor<1>> {
        let n = (p.shape()[0] * p.shape()[1]) as f64;
        Ok((p.value.clone().square() + self.eps)
            .powf_scalar(self.q / 2.0)
            .sum()
            - n * self.eps.powf(self.q / 2.0))
    }
}

/// Expected L0 norm of hard-concrete gates (Louizos, Welling & Kingma 2018), applied to
/// `log_alpha` parameters (select them with e.g. `**.log_alpha`):
/// `Σ sigmoid(log_alpha − β·ln(−γ/ζ))`. See [`HardConcreteGate`](crate::HardConcreteGate).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct L0 {
    pub(crate) beta: f64,
    pub(crate) gamma: f64,
    pub(crate) zeta: f64,
}

impl Default for L0 {
    /// β = 2/3, γ = −0.1, ζ = 1.1.
    fn default() -> Self {
        Self {
            beta: 2.0 / 3.0,
            gamma: -0.1,
            zeta: 1.1,
        }
    }
}

impl L0 {
    /// Temperature β > 0, stretch γ < 0 and ζ > 1.
    pub fn new(beta: f64, gamma: f64, zeta: f64) -> Result<Self> {
        check("beta", beta, beta > 0.0, "> 0")?;
        check("gamma", gamma, gamma < 0.0, "< 0")?;
        check("zeta", zeta, zeta > 1.0, "> 1")?;
        Ok(Self { beta, gamma, zeta })
    }

    /// `Σ sigmoid(log_alpha − β·ln(−γ/ζ))` of any tensor of `log_alpha`s.
    pub fn expected_l0<const D: usize>(&self, log_alpha: Tensor<D>) -> Tensor<1> {
        sigmoid(log_alpha - self.beta * (-self.gamma / self.zeta).ln()).sum()
    }
}

impl TensorPenalty for L0 {
    fn value(&self, p: &ParamEntry) -> Result<Tensor<1>> {
        Ok(self.expected_l0(p.value.clone()))
    }
}

/// HyperSparse (Glandorf, Kaiser & Rosenhahn 2023), the adaptive regularizer of their
/// "Adaptive Regularized Training": one loss over **all** selected weights `w` (concatenated,
/// as the paper does over all prunable layers), with prune rate κ ∈ [0, 1):
///
/// `HS(w) = ‖w‖₁ · T(w) / sg(T(w)) − ‖w‖₁`, `T(w) = Σ_j tanh(s·|w_j|)`,
/// `s = 0.6585 / a_κ`,
///
/// where `sg` stops the gradient and `a_κ` is the ⌊κ·n⌋-th smallest |w| (0-based, ranked on the
/// detached values). Its value is 0; its gradient is the point of it:
///
/// `∂HS/∂w_i = sign(w_i) · ‖w‖₁ · s · (1 − tanh²(s·|w_i|)) / T(w)`,
///
/// a strong ℓ1-like pull on the weights below the κ-quantile that fades smoothly to 0 for the
/// large weights (the "exploitation" set). This is the authors' reference implementation
/// (`loss/HyperSparse.py` in GreenAutoML4FAS/HyperSparse); the constant 0.6585 is theirs.
/// If the κ-quantile is already exactly 0 (at least a κ share of the weights is exactly 0), the
/// target sparsity is reached and the penalty is 0 with a zero gradient.
///
/// ```
/// use burn::nn::LinearConfig;
/// use burn::tensor::Device;
/// use sparsekit_reg::{HyperSparse, Regularizer};
/// let dev = Device::flex().autodiff();
/// let layer = LinearConfig::new(8, 4).init(&dev);
/// let hs = HyperSparse::new("weight", 0.9).unwrap().penalty(&layer).unwrap();
/// let g = layer.weight.val().grad(&hs.backward()).unwrap();
/// assert!(g.abs().sum().into_scalar::<f32>() > 0.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HyperSparse {
    selector: Selector,
    prune_rate: f64,
}

/// The paper's scale constant: `s = 0.6585 / a_κ`.
const HYPERSPARSE_C: f64 = 0.6585;

impl HyperSparse {
    /// The weights `pattern` selects, prune rate κ ∈ [0, 1).
    pub fn new(pattern: &str, prune_rate: f64) -> Result<Self> {
        check(
            "prune_rate",
            prune_rate,
            (0.0..1.0).contains(&prune_rate),
            "in [0, 1)",
        )?;
        Ok(Self {
            selector: Selector::new(pattern)?,
            prune_rate,
        })
    }

    /// The prune rate κ.
    pub fn prune_rate(&self) -> f64 {
        self.prune_rate
    }

    /// `s = 0.6585 / a_κ` for the magnitudes `abs` (reordered in place), where `a_κ` is the
    /// smallest magnitude that survives pruning a fraction κ (the sparsity vocabulary's
    /// [`prune_count`](sparsekit_formats::sparsity::prune_count) and ranking); `None` when
    /// `abs` is empty or `a_κ` = 0.
    pub fn scale(abs: &mut [f32], prune_rate: f64) -> Option<f64> {
        use sparsekit_formats::sparsity::{prune_count, Score};
        if abs.is_empty() {
            return None;
        }
        let k = prune_count(abs.len(), prune_rate).ok()?.min(abs.len() - 1);
        let (_, a, _) = abs.select_nth_unstable_by(k, |a, b| a.rank_cmp(*b));
        let a = *a as f64;
        (a > 0.0).then(|| HYPERSPARSE_C / a)
    }
}

impl Regularizer for HyperSparse {
    fn penalty_params(&self, params: &[ParamEntry]) -> Result<Tensor<1>> {
        let sel = select(params, &self.selector)?;
        let device = sel[0].value.device();
        let mut abs: Vec<f32> = Vec::new();
        for p in &sel {
            abs.extend(p.value.clone().inner().abs().into_data().iter::<f32>());
        }
        let zero = || Tensor::<1>::zeros([1], &device);
        let Some(s) = Self::scale(&mut abs, self.prune_rate) else {
            // Keep the result attached to the parameters (zero gradient) on autodiff devices.
            let mut z = zero();
            for p in &sel {
                z = z + p.value.clone().sum() * 0.0;
            }
            return Ok(z);
        };
        let mut l1 = zero();
        let mut t = zero();
        for p in &sel {
            let a = p.value.clone().abs();
            l1 = l1 + a.clone().sum();
            t = t + (a * s).tanh().sum();
        }
        let denom = t.clone().detach();
        Ok(l1.clone() * t / denom - l1)
    }
}

/// MaskSparsity (after Jiang et al. 2022): `Σ |w ⊙ m|`, an ℓ1 penalty on only the entries a
/// given mask selects (e.g. the channels a pruning criterion marked), one mask per parameter
/// path. Parameters without a mask are not penalized.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MaskSparsity {
    masks: Vec<(String, Vec<usize>, Vec<bool>)>,
}

impl MaskSparsity {
    /// No masks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the mask of parameter `path`, row-major over the parameter's own `dims`.
    pub fn with_mask(mut self, path: &str, dims: &[usize], mask: Vec<bool>) -> Result<Self> {
        let n: usize = dims.iter().product();
        if n != mask.len() {
            return Err(RegError::Shape {
                what: format!("mask of {path}"),
                expected: vec![n],
                got: vec![mask.len()],
            });
        }
        self.masks.push((path.to_string(), dims.to_vec(), mask));
        Ok(self)
    }
}

impl Regularizer for MaskSparsity {
    fn penalty_params(&self, params: &[ParamEntry]) -> Result<Tensor<1>> {
        let first = params.first().ok_or(RegError::NoParameters)?;
        let mut total: Tensor<1> = Tensor::zeros([1], &first.value.device());
        for (path, dims, mask) in &self.masks {
            let p = params
                .iter()
                .find(|p| &p.path == path)
                .ok_or_else(|| RegError::NoMatch(path.clone()))?;
            if &p.dims != dims {
                return Err(RegError::Shape {
                    what: format!("mask of {path}"),
                    expected: p.dims.clone(),
                    got: dims.clone(),
                });
            }
            let m: Vec<f32> = mask.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect();
            let m: Tensor<2> = Tensor::from_data(TensorData::new(m, p.shape()), &p.value.device());
            total = total + (p.value.clone().abs() * m).sum();
        }
        Ok(total)
    }
}

/// FLOPS regularizer (Paria et al. 2020) on a batch of activations `a` (`[batch, units]`):
/// `Σ_j (mean_i |a_ij|)²`. Errors on an empty batch.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// let a = Tensor::<2>::from_floats([[1.0, 0.0], [-3.0, 2.0]], &Device::flex());
/// let f: f32 = sparsekit_reg::flops(&a).unwrap().into_scalar();
/// assert_eq!(f, 2.0 * 2.0 + 1.0 * 1.0);
/// ```
pub fn flops(a: &Tensor<2>) -> Result<Tensor<1>> {
    let [b, n] = a.dims();
    if b == 0 || n == 0 {
        return Err(RegError::Shape {
            what: "FLOPS activations".into(),
            expected: vec![1, 1],
            got: vec![b, n],
        });
    }
    Ok(a.clone().abs().mean_dim(0).square().sum())
}
