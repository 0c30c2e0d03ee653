//! Dynamic sparse training (DST): SET, RigL and SRigL on [`SparseLinear`] layers.
//!
//! A [`SparseLinear`]'s trainable parameter is its nnz values over a fixed CSR pattern. DST
//! keeps nnz fixed but moves the pattern: every `ΔT` steps each layer drops the fraction `ζ_t`
//! of its weights of smallest magnitude and grows as many at positions that were inactive,
//! chosen
//!
//! - at random ([`DstMethod::Set`], Mocanu et al. 2018),
//! - by largest dense-gradient magnitude ([`DstMethod::RigL`], Evci et al. 2020; the dense
//!   gradient is computed at update steps only, see [`forward_probed`]),
//! - by gradient under a constant fan-in constraint with neuron ablation
//!   ([`DstMethod::SRigL`], Lasby et al. 2023; see [`srigl_update`] for what we simplify).
//!
//! `ζ_t` follows RigL's cosine schedule `ζ/2 · (1 + cos(π t / T_end))` (or stays constant) and
//! the pattern is frozen from `T_end` on. Grown weights start at zero; nnz is preserved exactly.
//!
//! After an update, position `p` of the values parameter holds another weight. The parameter
//! keeps its id and length, and [`remap_optimizer_state`] rewrites the optimizer's per-value
//! state (Adam's moments) with the update's [`IndexMap`]: surviving weights keep their moments
//! at their new positions, grown weights start from zero moments.
//!
//! Pieces: [`DstConfig`] → [`DynamicSparsity`] (stateful, serializable; call it every step),
//! the host rules [`set_update`], [`rigl_update`], [`srigl_update`] (plain functions over a
//! [`CsrPattern`](sparsekit_formats::CsrPattern) and its values), [`dense_gradient`] /
//! [`forward_probed`] for RigL's signal, [`remap_optimizer_state`] for the optimizer.
//!
//! # A training loop
//!
//! RigL on a two-layer sparse MLP with Adam. At update steps the model's forward uses
//! [`forward_probed`] so that the backward pass also yields each layer's dense gradient; the
//! optimizer steps with the gradients of the old pattern, then the patterns move and Adam's
//! state follows.
//!
//! ```
//! use burn::module::Module;
//! use burn::tensor::{activation::relu, Device, Distribution, Tensor};
//! use burn_optim::{AdamConfig, GradientsParams};
//! use sparsekit_prune::dst::{forward_probed, DstConfig, DstMethod, GradientProbe, GrowSignal};
//! use sparsekit_tensor::{SparseLinear, SparseLinearConfig};
//!
//! #[derive(Module, Debug)]
//! struct Mlp {
//!     fc1: SparseLinear,
//!     fc2: SparseLinear,
//! }
//!
//! impl Mlp {
//!     /// With `probe`, also returns one gradient probe per layer (for RigL's growth).
//!     fn forward(&self, x: Tensor<2>, probe: bool) -> (Tensor<2>, Vec<GradientProbe>) {
//!         if !probe {
//!             return (self.fc2.forward(relu(self.fc1.forward(x))), vec![]);
//!         }
//!         let (h, p1) = forward_probed(&self.fc1, x);
//!         let (y, p2) = forward_probed(&self.fc2, relu(h));
//!         (y, vec![p1, p2])
//!     }
//! }
//!
//! let device = Device::flex().autodiff();
//! let layer = |i, o, sparsity, seed| {
//!     SparseLinearConfig::new(i, o).with_sparsity(sparsity).with_seed(Some(seed)).init(&device)
//! };
//! let mut net = Mlp { fc1: layer(8, 32, 0.8, 1), fc2: layer(32, 1, 0.5, 2) };
//! let nnz = (net.fc1.nnz(), net.fc2.nnz());
//! let x = Tensor::<2>::random([64, 8], Distribution::Normal(0.0, 1.0), &device);
//! let y = x.clone().slice([0..64, 0..1]) - x.clone().slice([0..64, 3..4]) * 0.5;
//!
//! let mut optim = AdamConfig::new().init();
//! let mut dst = DstConfig::new(DstMethod::RigL)
//!     .with_delta_t(10)
//!     .with_zeta(0.3)
//!     .with_t_end(Some(150))
//!     .init()?;
//! let mut losses = vec![];
//! for step in 1..=200 {
//!     let update = dst.is_update_step(step);
//!     let (pred, probes) = net.forward(x.clone(), update && dst.needs_gradient());
//!     let loss = (pred - y.clone()).powi_scalar(2).mean();
//!     losses.push(loss.clone().into_scalar::<f32>());
//!     let grads = loss.backward();
//!     let signals = probes
//!         .iter()
//!         .map(|p| p.gradient(&grads).map(GrowSignal::DenseGradient))
//!         .collect::<Result<Vec<_>, _>>()?;
//!     net = optim.step(1e-2, net.clone(), GradientsParams::from_grads(grads, &net));
//!     if update {
//!         let Mlp { fc1, fc2 } = net;
//!         let [fc1, fc2]: [SparseLinear; 2] = dst
//!             .update_layers(vec![fc1, fc2], step, signals, Some(&mut optim))?
//!             .try_into()
//!             .unwrap();
//!         net = Mlp { fc1, fc2 };
//!     }
//! }
//! assert_eq!((net.fc1.nnz(), net.fc2.nnz()), nnz); // nnz preserved exactly
//! assert_eq!(dst.layer_updates(), 2 * 14); // steps 10, 20, …, 140, two layers each
//! assert!(losses[199] < 0.5 * losses[0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! For SET, drop the probes: `net.forward(x, false)` and `update_layers(…, vec![], …)`.
//!
//! [`SparseLinear`]: sparsekit_tensor::SparseLinear

mod config;
mod drop_grow;
mod dynamic;
mod gradient;
mod index_map;
mod optim_state;
mod srigl;

pub use config::{DropSchedule, DstConfig, DstMethod};
pub use drop_grow::{drop_count, rigl_update, set_update, PatternUpdate};
pub use dynamic::{DynamicSparsity, GrowSignal};
pub use gradient::{dense_gradient, forward_probed, GradientProbe};
pub use index_map::IndexMap;
pub use optim_state::{
    flush_subnormal_optimizer_state, remap_optimizer_state, reset_optimizer_state,
};
pub use srigl::{constant_fan_in_pattern, fan_in, srigl_update};
