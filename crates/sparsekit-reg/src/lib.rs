//! Sparsity regularizers and proximal operators for burn modules.
//!
//! - **Penalties** ([`Regularizer`]): differentiable scalar `Tensor<1>`s to add to the loss,
//!   on any device, under autodiff. Per-tensor penalties ([`TensorPenalty`]: [`L1`], [`L2`],
//!   [`ElasticNet`], [`GroupLasso`], [`SparseGroupLasso`], [`Hoyer`], [`HoyerSquare`],
//!   [`LogSum`], [`Lq`], [`L0`]) are applied to the parameters a path pattern selects with
//!   [`TensorPenalty::on`]; [`HyperSparse`] is one adaptive loss over all the selected weights;
//!   [`CoupledGroupLasso`] has groups that span several parameters (a hidden neuron's incoming
//!   and outgoing weights); [`MaskSparsity`] penalizes masked entries; [`flops`] is
//!   the FLOPS regularizer on activations; [`HardConcreteGate`] is the L0 gate module.
//! - **Proximal operators** ([`ProxOp`]): [`SoftThreshold`], [`GroupSoftThreshold`],
//!   [`HardThreshold`], [`Firm`], [`Mcp`], [`Scad`], [`HalfThreshold`], applied after an
//!   optimizer step by a [`ProximalStep`] ([`Proximal`]) with `t = lr × strength`
//!   ([`CoupledProximalStep`] for [`CoupledGroupLasso`]).
//!   [`SensitivityShrink`] is LOBSTER's (weight level) and its neuron-level variant's
//!   gradient-based shrinkage.
//! - **Plumbing**: [`Selector`] (path patterns), [`Sum`] (weighted sums with [`Schedule`]s),
//!   configs ([`RegularizerConfig`], [`SumConfig`], [`ProxConfig`]), [`sparsity_report`].
//!
//! Parameters are seen as matrices `[dims[0], product of the other dims]`; for burn's `Linear`
//! (weight `[d_input, d_output]`) the **columns are the output neurons**.
//!
//! ```
//! use burn::module::Module;
//! use burn::nn::LinearConfig;
//! use burn::tensor::{Device, Tensor};
//! use burn_optim::{AdamConfig, GradientsParams, Optimizer};
//! use sparsekit_reg::{Proximal, ProximalStep, Regularizer, SoftThreshold, TensorPenalty, L2};
//!
//! let dev = Device::flex().autodiff();
//! let mut layer = LinearConfig::new(8, 4).init(&dev);
//! let mut optim = AdamConfig::new().init();
//! let reg = L2.on("weight").unwrap();
//! let prox = ProximalStep::new(SoftThreshold, "weight", 1e-2).unwrap();
//! for _ in 0..3 {
//!     let x = Tensor::<2>::ones([2, 8], &dev);
//!     let loss = layer.forward(x).square().mean() + reg.penalty(&layer).unwrap() * 1e-3;
//!     let grads = GradientsParams::from_grads(loss.backward(), &layer);
//!     layer = optim.step(1e-2, layer, grads);
//!     layer = prox.apply(layer, 1e-2).unwrap();
//! }
//! ```
#![warn(missing_docs)]

mod config;
mod coupled;
mod error;
mod gate;
mod groups;
mod penalty;
mod prox;
mod report;
mod schedule;
pub mod select;
mod sensitivity;

pub use config::{PenaltyKind, ProxConfig, ProxKind, RegularizerConfig, SumConfig};
pub use coupled::{CoupledGroupLasso, CoupledProximalStep};
pub use error::{RegError, Result};
pub use gate::{HardConcreteGate, HardConcreteGateConfig};
pub use groups::{GroupWeights, Groups};
pub use penalty::{
    flops, ElasticNet, GroupLasso, Hoyer, HoyerSquare, HyperSparse, LogSum, Lq, MaskSparsity, On,
    Regularizer, SparseGroupLasso, Sum, TensorPenalty, L0, L1, L2,
};
pub use prox::{
    Firm, GroupSoftThreshold, HalfThreshold, HardThreshold, Mcp, ProxOp, Proximal, ProximalStep,
    Scad, SoftThreshold,
};
pub use report::{sparsity_report, ParamSparsity, SparsityReport};
pub use schedule::{Ramp, Schedule};
pub use select::{collect_params, ParamEntry, Selector};
pub use sensitivity::{Insensitivity, Level, SensitivityShrink};
