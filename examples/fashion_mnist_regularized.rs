//! LeNet-300-100 (784-300-100-10) on Fashion-MNIST with sparsity regularizers
//! (sparsekit-reg): (a) none, (b) L1 by proximal soft thresholding, (c) group lasso on neurons
//! by proximal group soft thresholding, (d) L0 hard-concrete gates on the hidden neurons.
//!
//! ```text
//! cargo run --release --example fashion_mnist_regularized -- --device flex
//! ```
//!
//! All variants, (a) included, go through the same two phases with the same seed,
//! initialization and learning-rate plan (Adam, batch 128): `--epochs` epochs at constant
//! `--lr` (with the regularizer, its strength rising from 0 along a cosine ramp over `--ramp`
//! epochs and then held), then `--finetune` epochs of masked fine-tuning (zeros kept, no
//! regularizer; for (a) the mask keeps every weight) with the learning rate restarted at `--lr`
//! and decaying along a cosine to `--lr × --lr-end`. `--l1`, `--group`, `--l0` take lists: one
//! run of the variant per value. The proximal steps run
//! after every Adam step with `t = lr(step) × strength × ramp(step)`. For (d), the gates'
//! `log_alpha` have their own Adam with learning rate `--gate-lr`, and the test-time gates are
//! folded into the weights at the end of the regularized phase (relu(x)·z = relu(x·z) for
//! z ≥ 0), so closed gates become zero columns.
//!
//! "Hidden neurons removed" is measured by building the smaller network: a hidden neuron goes
//! when its outgoing weight row is all zero (nothing reads it), or when its incoming weight
//! column is all zero (it outputs the constant relu(bias), which is folded into the next layer's
//! bias). The compact network's test accuracy is measured and printed next to the original's.
//!
//! Data: the four `*-idx?-ubyte.gz` files of Fashion-MNIST (Debian package
//! `dataset-fashion-mnist`, in `/usr/share/datasets/fashion-mnist/`; `--data DIR` to override).
#![allow(deprecated)]

use std::path::PathBuf;
use std::time::Instant;

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use burn_optim::{AdamConfig, GradientsParams};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use sparsekit_reg::{
    sparsity_report, CoupledGroupLasso, CoupledProximalStep, GroupSoftThreshold, GroupWeights,
    Groups, HardConcreteGate, HardConcreteGateConfig, ProximalStep, Regularizer, Schedule,
    SoftThreshold, TensorPenalty, L0,
};

#[path = "common/fashion_mnist.rs"]
mod fashion_mnist;
use fashion_mnist::{cross_entropy as loss, or_exit, Split};
#[derive(Parser, Debug)]
#[command(about = "Sparsity regularizers on LeNet-300-100 / Fashion-MNIST")]
struct Args {
    /// Directory with the Fashion-MNIST idx .gz files.
    #[arg(long, default_value = "/usr/share/datasets/fashion-mnist")]
    data: PathBuf,
    /// flex | ndarray | wgpu
    #[arg(long, default_value = "flex")]
    device: String,
    /// Epochs of regularized training.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Epochs over which the regularization strength rises (cosine) from 0 to full; then held.
    #[arg(long, default_value_t = 3.0)]
    ramp: f64,
    /// Epochs of masked fine-tuning after the regularized epochs (zeros kept, no regularizer);
    /// (a) trains for the same total number of epochs.
    #[arg(long, default_value_t = 12)]
    finetune: usize,
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Adam learning rate (peak).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Fine-tuning: cosine learning-rate decay from `lr` to `lr × lr_end` (1 = constant lr).
    #[arg(long, default_value_t = 0.02)]
    lr_end: f64,
    /// Variants to run: any of a,b,c,d.
    #[arg(long, default_value = "a,b,c,d")]
    variants: String,
    /// (b) soft-threshold strength(s): t = lr × l1 (× ramp); a list runs one (b) per value.
    #[arg(long, value_delimiter = ',', default_value = "0.3")]
    l1: Vec<f64>,
    /// (b) per-layer multipliers of `--l1` for l1, l2, l3 (0 leaves that layer unregularized).
    /// The first layer holds 88 % of the weights; thresholding the small layers as hard kills
    /// hidden neurons without adding much sparsity.
    #[arg(long, value_delimiter = ',', default_value = "1,0.3,0")]
    l1_layer_scale: Vec<f64>,
    /// (c) group soft-threshold strength(s) per neuron group (c_g = √|g|): t = lr × group
    /// (× ramp); a list runs one (c) per value.
    #[arg(long, value_delimiter = ',', default_value = "0.03")]
    group: Vec<f64>,
    /// (c) also threshold each hidden neuron's outgoing weights (rows of the next layer's
    /// weight) as a group, with this strength (0 = incoming columns only).
    #[arg(long, default_value_t = 0.0)]
    group_out: f64,
    /// (c) one group per hidden neuron = its incoming column and its outgoing row together
    /// (`CoupledGroupLasso::neurons`), strength `--group`; `--group-out` is then ignored.
    /// On by default; `--coupled false` for separate column (and `--group-out` row) groups.
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    coupled: bool,
    /// (d) strength(s) of the expected-L0 penalty per gate (added to the mean loss, × ramp);
    /// a list runs one (d) per value.
    #[arg(long, value_delimiter = ',', default_value = "2e-3")]
    l0: Vec<f64>,
    /// (d) Adam learning rate of the gates' log_alpha (own optimizer; decays like `lr`).
    #[arg(long, default_value_t = 2e-2)]
    gate_lr: f64,
    /// (d) initial drop rate of the gates.
    #[arg(long, default_value_t = 0.5)]
    droprate_init: f64,
    /// Use only the first N training images (0 = all).
    #[arg(long, default_value_t = 0)]
    train_limit: usize,

    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[derive(Module, Debug)]
struct Mlp {
    l1: Linear,
    l2: Linear,
    l3: Linear,
    g1: HardConcreteGate,
    g2: HardConcreteGate,
    gated: bool,
}

impl Mlp {
    fn forward(&self, x: Tensor<2>, train: bool) -> Tensor<2> {
        let h1 = relu(self.l1.forward(x));
        let h1 = if self.gated {
            self.g1.forward(h1, train)
        } else {
            h1
        };
        let h2 = relu(self.l2.forward(h1));
        let h2 = if self.gated {
            self.g2.forward(h2, train)
        } else {
            h2
        };
        self.l3.forward(h2)
    }

    /// Folds the test-time gates into l1/l2 (columns and biases) and drops the gating.
    fn fold_gates(mut self) -> Self {
        if !self.gated {
            return self;
        }
        fn fold(l: Linear, z: Tensor<1>) -> Linear {
            let n = z.dims()[0];
            let w = l.weight.val().inner() * z.clone().inner().reshape([1, n]);
            let b = l
                .bias
                .map(|b| Param::from_tensor(b.val().inner() * z.inner()));
            Linear {
                weight: Param::from_tensor(w),
                bias: b,
            }
        }
        let z1 = self.g1.gates(false);
        let z2 = self.g2.gates(false);
        self.l1 = fold(self.l1, z1);
        self.l2 = fold(self.l2, z2);
        self.gated = false;
        self
    }
}

fn accuracy(net: &Mlp, test: &Split, device: &Device) -> f64 {
    let net = net.valid();
    fashion_mnist::accuracy(|x| net.forward(x, false), test, device)
}

struct Row {
    name: String,
    reg_acc: f64,
    acc: f64,
    compact_acc: f64,
    sparsity: f64,
    hidden: [usize; 2],
    epoch_s: f64,
}

// One value per run: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
enum Variant {
    None,
    /// One step per regularized layer (each with its own strength).
    L1(Vec<ProximalStep<SoftThreshold>>),
    /// Incoming columns, and optionally outgoing rows, of the hidden neurons.
    Group(
        ProximalStep<GroupSoftThreshold>,
        Option<ProximalStep<GroupSoftThreshold>>,
    ),
    /// One coupled group (incoming column + outgoing row) per hidden neuron, per hidden layer.
    Coupled(Vec<CoupledProximalStep>),
    L0(f64),
}

/// 1 where the weight is non-zero.
fn masks(net: &Mlp) -> [Tensor<2>; 3] {
    let m = |l: &Linear| l.weight.val().inner().not_equal_elem(0.0).float();
    [m(&net.l1), m(&net.l2), m(&net.l3)]
}

fn apply_masks(mut net: Mlp, m: &[Tensor<2>; 3]) -> Mlp {
    fn one(l: Linear, m: &Tensor<2>) -> Linear {
        Linear {
            weight: l
                .weight
                .map(|w| (w.inner() * m.clone()).autodiff().require_grad()),
            bias: l.bias,
        }
    }
    net.l1 = one(net.l1, &m[0]);
    net.l2 = one(net.l2, &m[1]);
    net.l3 = one(net.l3, &m[2]);
    net
}

/// The step-size plan shared by every variant, (a) included: constant learning rate in the
/// first phase, then a restart at full learning rate decaying along a cosine to `lr_end` over
/// the fine-tuning phase.
struct Plan {
    lr_end: f64,
    first_steps: usize,
    total_steps: usize,
}

impl Plan {
    fn factor(&self, step: usize) -> f64 {
        if step < self.first_steps {
            return 1.0;
        }
        let len = (self.total_steps - self.first_steps).max(1) as f64;
        let p = ((step - self.first_steps) as f64 / len).min(1.0);
        self.lr_end + (1.0 - self.lr_end) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
    }
}

/// One training phase; `step` is the global step (for the lr plan and the strength schedule),
/// advanced in place. Returns the trained net and the mean seconds per epoch.
#[allow(clippy::too_many_arguments)]
fn train(
    mut net: Mlp,
    variant: &Variant,
    epochs: usize,
    fixed: Option<&[Tensor<2>; 3]>,
    step: &mut usize,
    plan: &Plan,
    strength: &Schedule,
    name: &str,
    args: &Args,
    train: &Split,
    test: &Split,
    device: &Device,
) -> (Mlp, f64) {
    let ad = device.clone().autodiff();
    let mut optim = AdamConfig::new().init();
    // The gates get their own Adam (and learning rate): with Adam a scaled gradient would not
    // change the step size, and log_alpha must travel several units to close a gate.
    let mut optim_gates = AdamConfig::new().init();
    let n = train.labels.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = StdRng::seed_from_u64(args.seed ^ (*step as u64));
    let l0 = L0::default()
        .on("g1.log_alpha|g2.log_alpha")
        .expect("a valid pattern");
    let mut times = Vec::new();
    for epoch in 0..epochs {
        order.shuffle(&mut rng);
        let steps = n.div_ceil(args.batch);
        let bar = ProgressBar::new(steps as u64).with_style(
            ProgressStyle::with_template(
                "{prefix:>12} {msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
        bar.set_message(format!("epoch {}/{}", epoch + 1, epochs));
        let start = Instant::now();
        let mut last = f32::NAN;
        for (s, chunk) in order.chunks(args.batch).enumerate() {
            let lr = args.lr * plan.factor(*step);
            let (x, y) = train.batch(chunk, &ad);
            let mut l = loss(net.forward(x, true), y);
            if let Variant::L0(l0_strength) = variant {
                let f = strength.factor(*step);
                l = l + l0.penalty(&net).expect("gates selected") * (l0_strength * f);
            }
            if s % 50 == 0 || s + 1 == steps {
                last = l
                    .clone()
                    .into_data()
                    .iter::<f32>()
                    .next()
                    .unwrap_or(f32::NAN);
                bar.set_message(format!("epoch {}/{} loss {last:.4}", epoch + 1, epochs));
            }
            let mut grads = GradientsParams::from_grads(l.backward(), &net);
            if net.gated {
                let mut gates = GradientsParams::new();
                for id in [net.g1.log_alpha.id, net.g2.log_alpha.id] {
                    if let Some(g) = grads.remove::<1>(id) {
                        gates.register(id, g);
                    }
                }
                net = optim.step(lr, net, grads);
                net = optim_gates.step(args.gate_lr * plan.factor(*step), net, gates);
            } else {
                net = optim.step(lr, net, grads);
            }
            net = match variant {
                Variant::L1(steps) => steps
                    .iter()
                    .fold(net, |net, p| p.apply_at(net, lr, *step).expect("prox")),
                Variant::Group(p, q) => {
                    let net = p.apply_at(net, lr, *step).expect("prox");
                    match q {
                        Some(q) => q.apply_at(net, lr, *step).expect("prox"),
                        None => net,
                    }
                }
                Variant::Coupled(steps) => steps
                    .iter()
                    .fold(net, |net, p| p.apply_at(net, lr, *step).expect("prox")),
                _ => net,
            };
            if let Some(m) = fixed {
                net = apply_masks(net, m);
            }
            *step += 1;
            bar.inc(1);
        }
        let secs = start.elapsed().as_secs_f64();
        times.push(secs);
        bar.finish_and_clear();
        let acc = accuracy(&net, test, device);
        eprintln!(
            "{name:>12} epoch {}/{} loss {last:.4} test acc {:.2} % ({secs:.2} s)",
            epoch + 1,
            epochs,
            acc * 100.0,
        );
    }
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    (net, mean)
}

fn host2(t: Tensor<2>) -> Vec<f32> {
    t.inner().into_data().convert::<f32>().to_vec().unwrap()
}

fn host1(t: Tensor<1>) -> Vec<f32> {
    t.inner().into_data().convert::<f32>().to_vec().unwrap()
}

/// A dense layer on the host: `w` is `[d_in, d_out]` row-major (burn's layout), `b` is `[d_out]`.
struct HostLinear {
    w: Vec<f32>,
    b: Vec<f32>,
    d_in: usize,
    d_out: usize,
}

impl HostLinear {
    fn of(l: &Linear) -> Self {
        let [d_in, d_out] = l.weight.val().dims();
        Self {
            w: host2(l.weight.val()),
            b: l.bias.as_ref().map_or(vec![0.0; d_out], |b| host1(b.val())),
            d_in,
            d_out,
        }
    }

    fn to_linear(&self, device: &Device) -> Linear {
        Linear {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(self.w.clone(), [self.d_in, self.d_out]),
                device,
            )),
            bias: Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(self.b.clone(), [self.d_out]),
                device,
            ))),
        }
    }

    fn col_zero(&self, j: usize) -> bool {
        (0..self.d_in).all(|i| self.w[i * self.d_out + j] == 0.0)
    }

    fn row_zero(&self, i: usize) -> bool {
        self.w[i * self.d_out..(i + 1) * self.d_out]
            .iter()
            .all(|&v| v == 0.0)
    }
}

/// Removes the hidden neurons between `a` and `b` that cannot change the output: an all-zero
/// outgoing row in `b` (the neuron is never read), or an all-zero incoming column in `a` (the
/// neuron outputs the constant relu(bias), which is folded into `b`'s bias). Returns the
/// neurons kept.
fn remove_neurons(a: &mut HostLinear, b: &mut HostLinear) -> usize {
    let keep: Vec<usize> = (0..a.d_out)
        .filter(|&j| {
            if b.row_zero(j) {
                return false;
            }
            if a.col_zero(j) {
                let c = a.b[j].max(0.0);
                for k in 0..b.d_out {
                    b.b[k] += c * b.w[j * b.d_out + k];
                }
                return false;
            }
            true
        })
        .collect();
    let n = keep.len();
    let mut aw = Vec::with_capacity(a.d_in * n);
    for i in 0..a.d_in {
        aw.extend(keep.iter().map(|&j| a.w[i * a.d_out + j]));
    }
    a.w = aw;
    a.b = keep.iter().map(|&j| a.b[j]).collect();
    a.d_out = n;
    let mut bw = Vec::with_capacity(n * b.d_out);
    for &j in &keep {
        bw.extend_from_slice(&b.w[j * b.d_out..(j + 1) * b.d_out]);
    }
    b.w = bw;
    b.d_in = n;
    n
}

/// The network with every removable hidden neuron physically removed (see [`remove_neurons`]),
/// and its hidden sizes. Its accuracy is measured, not assumed equal.
fn compact(net: &Mlp, device: &Device) -> (Mlp, [usize; 2]) {
    let (mut a, mut b, mut c) = (
        HostLinear::of(&net.l1),
        HostLinear::of(&net.l2),
        HostLinear::of(&net.l3),
    );
    let h1 = remove_neurons(&mut a, &mut b);
    let h2 = remove_neurons(&mut b, &mut c);
    let gate = |n: usize| {
        HardConcreteGateConfig::new(n)
            .init(device)
            .expect("valid gate config")
    };
    let small = Mlp {
        l1: a.to_linear(device),
        l2: b.to_linear(device),
        l3: c.to_linear(device),
        g1: gate(h1.max(1)),
        g2: gate(h2.max(1)),
        gated: false,
    };
    (small, [h1, h2])
}

fn main() {
    let args = Args::parse();
    let device = or_exit(fashion_mnist::device(&args.device), 2);
    let (train_set, test_set) =
        or_exit(fashion_mnist::load_splits(&args.data, args.train_limit), 1);
    eprintln!(
        "train {} images, test {} images, device {}; {args:?}",
        train_set.labels.len(),
        test_set.labels.len(),
        args.device
    );
    let ad = device.clone().autodiff();
    let epoch_steps = train_set.labels.len().div_ceil(args.batch);
    let plan = Plan {
        lr_end: args.lr_end,
        first_steps: epoch_steps * args.epochs,
        total_steps: epoch_steps * (args.epochs + args.finetune),
    };
    let ramp_steps = (args.ramp * epoch_steps as f64).round() as usize;
    let strength = Schedule::cosine(0, ramp_steps);
    let mut rows = Vec::new();
    // One run per (variant, strength).
    let mut runs: Vec<(String, f64)> = Vec::new();
    for v in args.variants.split(',').map(str::trim) {
        let list = match v {
            "b" => args.l1.clone(),
            "c" => args.group.clone(),
            "d" => args.l0.clone(),
            _ => vec![0.0],
        };
        runs.extend(list.into_iter().map(|s| (v.to_string(), s)));
    }
    for (v, value) in &runs {
        let (v, value) = (v.as_str(), *value);
        ad.seed(args.seed);
        let gate = |n: usize| {
            HardConcreteGateConfig::new(n)
                .with_droprate_init(args.droprate_init)
                .init(&ad)
                .expect("valid gate config")
        };
        let net = Mlp {
            l1: LinearConfig::new(784, 300).init(&ad),
            l2: LinearConfig::new(300, 100).init(&ad),
            l3: LinearConfig::new(100, 10).init(&ad),
            g1: gate(300),
            g2: gate(100),
            gated: v == "d",
        };
        let neurons = |groups: Groups, pattern: &str, s: f64| {
            ProximalStep::new(
                GroupSoftThreshold::new(groups, GroupWeights::SqrtSize).expect("valid"),
                pattern,
                s,
            )
            .expect("valid")
            .with_schedule(strength.clone())
        };
        let (name, variant) = match v {
            "a" => ("(a) none".to_string(), Variant::None),
            "b" => {
                let scale = &args.l1_layer_scale;
                if scale.len() != 3 || scale.iter().any(|s| s.is_nan() || *s < 0.0) {
                    eprintln!("--l1-layer-scale takes three non-negative numbers (l1,l2,l3)");
                    std::process::exit(2);
                }
                let steps = ["l1.weight", "l2.weight", "l3.weight"]
                    .iter()
                    .zip(scale)
                    .filter(|(_, s)| **s > 0.0)
                    .map(|(path, s)| {
                        ProximalStep::new(SoftThreshold, path, value * s)
                            .expect("valid")
                            .with_schedule(strength.clone())
                    })
                    .collect();
                let name = if scale.iter().all(|s| *s == 1.0) {
                    format!("(b) L1 prox {value}")
                } else {
                    format!(
                        "(b) L1 prox {value} × ({}, {}, {})",
                        scale[0], scale[1], scale[2]
                    )
                };
                (name, Variant::L1(steps))
            }
            "c" if args.coupled => (
                format!("(c) neuron group lasso {value} (in+out)"),
                Variant::Coupled(
                    [("l1.weight", "l2.weight"), ("l2.weight", "l3.weight")]
                        .iter()
                        .map(|(a, b)| {
                            CoupledProximalStep::new(
                                CoupledGroupLasso::neurons(a, b).expect("valid"),
                                value,
                            )
                            .expect("valid")
                            .with_schedule(strength.clone())
                        })
                        .collect(),
                ),
            ),
            "c" => (
                if args.group_out > 0.0 {
                    format!("(c) group lasso {value} in / {} out", args.group_out)
                } else {
                    format!("(c) group lasso {value}")
                },
                Variant::Group(
                    neurons(Groups::Columns, "l1.weight|l2.weight", value),
                    (args.group_out > 0.0)
                        .then(|| neurons(Groups::Rows, "l2.weight|l3.weight", args.group_out)),
                ),
            ),
            "d" => (format!("(d) L0 gates {value}"), Variant::L0(value)),
            other => {
                eprintln!("unknown variant {other}: use a, b, c, d");
                std::process::exit(2);
            }
        };
        let mut step = 0usize;
        // (a) goes through the same two phases (its masks keep every weight).
        let (net, epoch_s) = train(
            net,
            &variant,
            args.epochs,
            None,
            &mut step,
            &plan,
            &strength,
            &name,
            &args,
            &train_set,
            &test_set,
            &device,
        );
        let net = net.fold_gates();
        let reg_acc = accuracy(&net, &test_set, &device);
        let net = if args.finetune > 0 {
            let m = masks(&net);
            let tuned = format!("{name} ft");
            train(
                net,
                &Variant::None,
                args.finetune,
                Some(&m),
                &mut step,
                &plan,
                &strength,
                &tuned,
                &args,
                &train_set,
                &test_set,
                &device,
            )
            .0
        } else {
            net
        };
        let report = sparsity_report(&net, "l?.weight", 0.0).expect("weights");
        eprintln!("{name}:\n{report}");
        let (small, hidden) = compact(&net, &ad);
        rows.push(Row {
            name,
            reg_acc,
            acc: accuracy(&net, &test_set, &device),
            compact_acc: accuracy(&small, &test_set, &device),
            sparsity: report.zero_fraction(),
            hidden,
            epoch_s,
        });
    }
    let base = rows.first().map(|r| r.acc);
    println!("\n| variant | test acc after regularized phase | test acc | Δ acc vs first | weight sparsity | hidden neurons removed (of 400) | compact net 784-h1-h2-10 | compact net test acc | s / regularized epoch |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let removed = 400 - r.hidden[0] - r.hidden[1];
        println!(
            "| {} | {:.2} % | {:.2} % | {:+.2} | {:.2} % | {} ({:.1} %) | 784-{}-{}-10 | {:.2} % | {:.2} |",
            r.name,
            r.reg_acc * 100.0,
            r.acc * 100.0,
            base.map_or(0.0, |b| (r.acc - b) * 100.0),
            r.sparsity * 100.0,
            removed,
            removed as f64 / 4.0,
            r.hidden[0],
            r.hidden[1],
            r.compact_acc * 100.0,
            r.epoch_s
        );
    }
}
