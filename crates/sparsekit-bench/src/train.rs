//! The `train` suite: one training step (forward + backward + Adam) of `SparseLinear` layers vs
//! the same model built from burn's dense `Linear`, on the same device, inputs and optimizer,
//! timed interleaved in one run. Each row also records heap bytes (see [`crate::memory`]):
//!
//! - `state_bytes`: what the model holds between steps — parameters plus Adam's two moments
//!   (live heap after a step, minus before the model existed);
//! - `peak_bytes`: the high-water mark during a step above the same base — parameters, optimizer
//!   state, gradients and activations together.
//!
//! Both have `baseline_` twins for the dense model.

#![allow(deprecated)] // burn-ndarray is deprecated upstream but still supported by sparsekit

use std::fmt;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Device, Distribution, Int, Tensor};
use burn_optim::{AdamConfig, GradientsParams};
use serde_json::json;
use sparsekit_tensor::{SparseLinear, SparseLinearConfig, Structure};

use crate::memory;
use crate::row::{Line, Row, Shape};
use crate::runner::{DenseDevice, GpuDevice};
use crate::timing::{measure_interleaved, Timing};

/// The model a `train` row times.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Model {
    /// One `d_out × d_in` layer, batch `batch`, loss = mean(Y²).
    Linear {
        d_in: usize,
        d_out: usize,
        batch: usize,
    },
    /// LeNet-300-100 (784-300-100-10, ReLU), batch `batch`, cross-entropy on random labels.
    /// Every layer has the row's sparsity (uniform allocation).
    Mlp { batch: usize },
}

const MLP: [(usize, usize); 3] = [(784, 300), (300, 100), (100, 10)];

impl Model {
    fn op(self) -> &'static str {
        match self {
            Model::Linear { .. } => "linear_step",
            Model::Mlp { .. } => "mlp_784_300_100_10_step",
        }
    }

    /// BENCH.md's shape fields: m = d_out, k = d_in, n = batch (the first layer for the MLP).
    fn shape(self) -> Shape {
        match self {
            Model::Linear { d_in, d_out, batch } => Shape {
                m: d_out,
                k: d_in,
                n: batch,
            },
            Model::Mlp { batch } => Shape {
                m: MLP[0].1,
                k: MLP[0].0,
                n: batch,
            },
        }
    }

    fn layers(self) -> Vec<(usize, usize)> {
        match self {
            Model::Linear { d_in, d_out, .. } => vec![(d_in, d_out)],
            Model::Mlp { .. } => MLP.to_vec(),
        }
    }

    fn batch(self) -> usize {
        match self {
            Model::Linear { batch, .. } | Model::Mlp { batch } => batch,
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Model::Linear { d_in, d_out, batch } => {
                write!(f, "linear {d_out}×{d_in} batch {batch}")
            }
            Model::Mlp { batch } => write!(f, "mlp 784-300-100-10 batch {batch}"),
        }
    }
}

/// One row to measure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainCase {
    pub model: Model,
    pub sparsity: f64,
    /// Pattern structure of the sparse layers (`NM` rows ignore `sparsity`'s value for the
    /// pattern; it is recorded as `1 − n/m`).
    pub structure: Structure,
}

/// BENCH.md's `train` rows: the 4096² layer (quick: 0.9 and 0.98, the two sparsities the
/// targets name) and, in the full run, 0.95 and the MLP at batch 256; plus the 4096² layer with
/// a 2:4 pattern (N:M kernels in the forward pass) unless sparsities are given explicitly.
pub fn cases(quick: bool, sparsities: Option<&[f64]>) -> Vec<TrainCase> {
    let layer = Model::Linear {
        d_in: 4096,
        d_out: 4096,
        batch: 64,
    };
    let default: &[f64] = if quick {
        &[0.9, 0.98]
    } else {
        &[0.9, 0.95, 0.98]
    };
    let explicit = sparsities.is_some();
    let sparsities = sparsities.unwrap_or(default);
    let mut models = vec![layer];
    if !quick {
        models.push(Model::Mlp { batch: 256 });
    }
    let mut out: Vec<TrainCase> = models
        .into_iter()
        .flat_map(|model| {
            sparsities.iter().map(move |&sparsity| TrainCase {
                model,
                sparsity,
                structure: Structure::Unstructured,
            })
        })
        .collect();
    if !explicit {
        out.push(TrainCase {
            model: layer,
            sparsity: 0.5,
            structure: Structure::NM { n: 2, m: 4 },
        });
    }
    out
}

/// A stack of layers with ReLU between them.
#[derive(Module, Debug)]
struct DenseNet {
    layers: Vec<Linear>,
}

#[derive(Module, Debug)]
struct SparseNet {
    layers: Vec<SparseLinear>,
}

trait Net: Module + Sized {
    fn forward(&self, x: Tensor<2>) -> Tensor<2>;
}

fn stack<L>(layers: &[L], x: Tensor<2>, f: impl Fn(&L, Tensor<2>) -> Tensor<2>) -> Tensor<2> {
    let last = layers.len().saturating_sub(1);
    layers.iter().enumerate().fold(x, |x, (i, l)| {
        let y = f(l, x);
        if i < last {
            relu(y)
        } else {
            y
        }
    })
}

impl Net for DenseNet {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        stack(&self.layers, x, |l, x| l.forward(x))
    }
}

impl Net for SparseNet {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        stack(&self.layers, x, |l, x| l.forward(x))
    }
}

/// What a step's loss is computed against.
#[derive(Clone)]
enum Target {
    /// mean(Y²)
    Zero,
    /// cross-entropy against these labels
    Labels(Box<Tensor<1, Int>>),
}

fn loss(y: Tensor<2>, target: &Target) -> Tensor<1> {
    match target {
        Target::Zero => y.powf_scalar(2.0).mean(),
        Target::Labels(labels) => {
            let n = labels.dims()[0];
            -log_softmax(y, 1)
                .gather(1, (**labels).clone().reshape([n, 1]))
                .mean()
        }
    }
}

/// A model, its Adam optimizer and its inputs: `step()` runs one training step.
struct Trainer<N: Net> {
    net: Option<N>,
    optim: burn_optim::ModuleOptimizer,
    x: Tensor<2>,
    target: Target,
}

impl<N: Net> Trainer<N> {
    fn new(net: N, x: Tensor<2>, target: Target) -> Self {
        Trainer {
            net: Some(net),
            optim: AdamConfig::new().init(),
            x,
            target,
        }
    }

    fn step(&mut self) -> f32 {
        let net = self.net.take().expect("a trainer always holds its model");
        let l = loss(net.forward(self.x.clone()), &self.target);
        let grads = GradientsParams::from_grads(l.backward(), &net);
        self.net = Some(self.optim.step(1e-3, net, grads));
        // Reading the loss waits for the step on lazy backends.
        l.into_data().iter::<f32>().next().unwrap_or(f32::NAN)
    }
}

/// Heap bytes of a trainer: `(state, peak)` above `base` (see the module docs).
fn memory_of<N: Net>(trainer: &mut Trainer<N>, base: usize) -> (usize, usize) {
    trainer.step(); // Adam allocates its moments at the first step
    let state = memory::live().saturating_sub(base);
    memory::reset_peak();
    trainer.step();
    let peak = memory::peak().saturating_sub(base);
    (state, peak)
}

fn sparse_net(
    model: Model,
    sparsity: f64,
    structure: Structure,
    seed: u64,
    device: &Device,
) -> SparseNet {
    SparseNet {
        layers: model
            .layers()
            .into_iter()
            .enumerate()
            .map(|(i, (d_in, d_out))| {
                SparseLinearConfig::new(d_in, d_out)
                    .with_sparsity(sparsity)
                    .with_seed(Some(seed + i as u64))
                    .init_with_structure(structure, device)
                    .expect("train case with a valid structure for its shapes")
            })
            .collect(),
    }
}

fn dense_net(model: Model, device: &Device) -> DenseNet {
    DenseNet {
        layers: model
            .layers()
            .into_iter()
            .map(|(d_in, d_out)| LinearConfig::new(d_in, d_out).init(device))
            .collect(),
    }
}

/// Where a train case runs: a CPU backend (heap memory counted by the runner's allocator) or a
/// wgpu adapter (device memory is not counted; rows of software adapters are marked).
pub struct TrainTarget {
    device: Device,
    name: String,
    software: Option<bool>,
    count_memory: bool,
}

impl TrainTarget {
    /// Flex or NdArray.
    pub fn cpu(device: DenseDevice) -> Self {
        Self {
            device: device.device(),
            name: device.name().into(),
            software: None,
            count_memory: true,
        }
    }
    /// A wgpu adapter.
    pub fn gpu(gpu: &GpuDevice) -> Self {
        Self {
            device: gpu.device(),
            name: gpu.label(),
            software: Some(gpu.software),
            count_memory: false,
        }
    }
    /// The row's `device` field.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Measures one case on one device and emits its row.
pub fn run_case(
    case: &TrainCase,
    on: &TrainTarget,
    timing: &Timing,
    seed: u64,
    emit: &mut dyn FnMut(Line),
) {
    let model = case.model;
    let dev = on.device.clone().autodiff();
    dev.seed(seed);
    let batch = model.batch();
    let (d_in, _) = model.layers()[0];
    let x = Tensor::<2>::random([batch, d_in], Distribution::Normal(0.0, 1.0), &dev);
    let target = match model {
        Model::Linear { .. } => Target::Zero,
        Model::Mlp { .. } => Target::Labels(Box::new(Tensor::<1, Int>::from_ints(
            (0..batch as i64)
                .map(|i| (i * 7 + 3) % 10)
                .collect::<Vec<_>>()
                .as_slice(),
            &dev,
        ))),
    };

    // Memory first, one model at a time, so neither counts the other's bytes.
    let base = memory::live();
    let mut sparse = Trainer::new(
        sparse_net(model, case.sparsity, case.structure, seed, &dev),
        x.clone(),
        target.clone(),
    );
    let nnz: usize = sparse
        .net
        .as_ref()
        .map_or(0, |n| n.layers.iter().map(SparseLinear::nnz).sum());
    let (state, peak) = memory_of(&mut sparse, base);
    let base_dense = memory::live();
    let mut dense = Trainer::new(dense_net(model, &dev), x, target);
    let (dense_state, dense_peak) = memory_of(&mut dense, base_dense);
    let memory = [
        ("state_bytes", state),
        ("peak_bytes", peak),
        ("baseline_state_bytes", dense_state),
        ("baseline_peak_bytes", dense_peak),
    ];

    let mut failed = None;
    let (s, d) = measure_interleaved(
        timing,
        || {
            if !sparse.step().is_finite() {
                failed.get_or_insert("sparse loss is not finite");
            }
        },
        || {
            dense.step();
        },
    );
    if let Some(why) = failed {
        emit(Line::Note {
            note: format!(
                "train {model} sparsity {} on {}: {why}; row left out",
                case.sparsity, on.name
            ),
        });
        return;
    }
    // Useful work of the sparse step: forward X·Wᵀ, input gradient dY·W, weight gradient (SDDMM),
    // 2 FLOPs per non-zero per batch row each.
    let flops = 3.0 * 2.0 * nnz as f64 * batch as f64;
    let mut extra = serde_json::Map::new();
    if on.count_memory {
        for (k, v) in memory {
            extra.insert(k.into(), json!(v));
        }
    }
    emit(Line::Row(Box::new(Row {
        suite: "train".into(),
        op: model.op().into(),
        format: match case.structure {
            Structure::Block { rows: r, cols: c } => format!("bsr{r}x{c}"),
            Structure::Unstructured => "csr".into(),
            other => other.to_string(), // "2:4", "rows", …
        },
        dtype: "f32".into(),
        device: on.name.clone(),
        shape: model.shape(),
        sparsity: case.sparsity,
        nnz,
        samples: s.samples,
        median_s: s.median_s,
        min_s: s.min_s,
        max_s: s.max_s,
        baseline: "dense_linear_adam".into(),
        baseline_median_s: d.median_s,
        speedup_vs_dense: d.median_s / s.median_s,
        gflops_effective: flops / s.median_s / 1e9,
        software_adapter: on.software,
        max_rel_err: None,
        extra,
    })));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn quick_and_full_cases() {
        let q = cases(true, None);
        assert_eq!(q.len(), 3);
        assert!(q.iter().all(|c| matches!(c.model, Model::Linear { .. })));
        assert_eq!(q[2].structure, Structure::NM { n: 2, m: 4 });
        let full = cases(false, None);
        assert_eq!(full.len(), 7);
        assert!(full.iter().any(|c| c.model == Model::Mlp { batch: 256 }));
        assert_eq!(cases(true, Some(&[0.5])).len(), 1);
    }

    /// A tiny case end to end: a row with both timings, nnz and memory figures where the sparse
    /// model's persistent state is smaller than the dense one's.
    #[test]
    fn tiny_case_emits_a_row_with_memory() {
        let _serial = crate::memory::COUNTER_TESTS
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let case = TrainCase {
            model: Model::Linear {
                d_in: 256,
                d_out: 128,
                batch: 8,
            },
            sparsity: 0.9,
            structure: Structure::Unstructured,
        };
        let timing = Timing {
            samples: 3,
            warmup_calls: 1,
            warmup_time: Duration::ZERO,
        };
        let mut lines = Vec::new();
        run_case(
            &case,
            &TrainTarget::cpu(DenseDevice::Flex),
            &timing,
            1,
            &mut |l| lines.push(l),
        );
        let [Line::Row(r)] = lines.as_slice() else {
            panic!("expected one row, got {lines:?}")
        };
        assert_eq!((r.suite.as_str(), r.nnz), ("train", 3277));
        assert!(r.median_s > 0.0 && r.baseline_median_s > 0.0);
        let get = |k: &str| r.extra[k].as_u64().unwrap();
        // dense: 128·256 weights × 4 B × (param + 2 Adam moments) at least
        assert!(get("baseline_state_bytes") >= 3 * 128 * 256 * 4);
        assert!(get("state_bytes") < get("baseline_state_bytes"));
        assert!(get("peak_bytes") >= get("state_bytes"));
    }
}
