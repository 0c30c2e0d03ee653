//! LeNet-300-100 (784-300-100-10) on Fashion-MNIST with sparsity regularizers
//! (sparsekit-reg): (a) none, (b) L1 by proximal soft thresholding, (c) group lasso on neurons
//! by proximal group soft thresholding, (d) L0 hard-concrete gates on the hidden neurons.
//!
//! ```text
//! cargo run --release --example fashion_mnist_regularized -- --device flex --epochs 5
//! ```
//!
//! All variants: Adam (lr 1e-3), batch 128, the same seed and shuffles. The proximal steps run
//! after every Adam step with `t = lr × strength × ramp`, the strength ramped linearly over the
//! first epoch. A hidden neuron counts as removed when its incoming weight column is all zero
//! (its output is then the constant relu(bias), foldable into the next layer's bias) or its
//! outgoing weight row is all zero. For (d), the test-time gates are folded into the weights
//! (relu(x)·z = relu(x·z) for z ≥ 0), so closed gates become zero columns.
//!
//! Data: the four `*-idx?-ubyte.gz` files of Fashion-MNIST (Debian package
//! `dataset-fashion-mnist`, in `/usr/share/datasets/fashion-mnist/`; `--data DIR` to override).
#![allow(deprecated)]

use std::path::PathBuf;
use std::time::Instant;

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Device, DeviceKind, Int, Tensor, TensorData};
use burn_optim::{AdamConfig, GradientsParams};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use sparsekit_reg::{
    sparsity_report, GroupSoftThreshold, GroupWeights, Groups, HardConcreteGate,
    HardConcreteGateConfig, ProximalStep, Regularizer, Schedule, SoftThreshold, TensorPenalty, L0,
};

#[path = "common/fashion_mnist.rs"]
mod fashion_mnist;
use fashion_mnist::{load, Split};
#[derive(Parser, Debug)]
#[command(about = "Sparsity regularizers on LeNet-300-100 / Fashion-MNIST")]
struct Args {
    /// Directory with the Fashion-MNIST idx .gz files.
    #[arg(long, default_value = "/usr/share/datasets/fashion-mnist")]
    data: PathBuf,
    /// flex | ndarray | wgpu
    #[arg(long, default_value = "flex")]
    device: String,
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    #[arg(long, default_value_t = 128)]
    batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Variants to run: any of a,b,c,d.
    #[arg(long, default_value = "a,b,c,d")]
    variants: String,
    /// (b) soft-threshold strength: t = lr × l1.
    #[arg(long, default_value_t = 0.3)]
    l1: f64,
    /// (c) group soft-threshold strength on neuron columns (c_g = √fan-in): t = lr × group.
    #[arg(long, default_value_t = 0.1)]
    group: f64,
    /// (d) strength of the expected-L0 penalty per gate (added to the mean loss).
    #[arg(long, default_value_t = 2e-3)]
    l0: f64,
    /// (d) initial drop rate of the gates.
    #[arg(long, default_value_t = 0.5)]
    droprate_init: f64,
    /// Epochs of masked fine-tuning after the regularized epochs (zeros kept, no regularizer);
    /// (a) gets the same extra epochs.
    #[arg(long, default_value_t = 2)]
    finetune: usize,
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

fn batch_tensors(split: &Split, idx: &[usize], device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
    let mut x = Vec::with_capacity(idx.len() * 784);
    let mut y = Vec::with_capacity(idx.len());
    for &i in idx {
        x.extend_from_slice(&split.images[i * 784..(i + 1) * 784]);
        y.push(split.labels[i]);
    }
    let n = idx.len();
    (
        Tensor::from_data(TensorData::new(x, [n, 784]), device),
        Tensor::from_data(TensorData::new(y, [n]), device),
    )
}

fn loss(logits: Tensor<2>, y: Tensor<1, Int>) -> Tensor<1> {
    let n = y.dims()[0];
    -log_softmax(logits, 1).gather(1, y.reshape([n, 1])).mean()
}

fn accuracy(net: &Mlp, test: &Split, device: &Device) -> f64 {
    let net = net.valid();
    let mut correct = 0usize;
    let idx: Vec<usize> = (0..test.labels.len()).collect();
    for chunk in idx.chunks(1000) {
        let (x, y) = batch_tensors(test, chunk, device);
        let pred = net.forward(x, false).argmax(1).reshape([chunk.len()]);
        correct += pred
            .equal(y)
            .int()
            .sum()
            .into_data()
            .iter::<i64>()
            .next()
            .unwrap() as usize;
    }
    correct as f64 / test.labels.len() as f64
}

struct Row {
    name: String,
    reg_acc: f64,
    acc: f64,
    sparsity: f64,
    neurons: usize,
    epoch_s: f64,
}

enum Variant {
    None,
    L1(ProximalStep<SoftThreshold>),
    Group(ProximalStep<GroupSoftThreshold>),
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

#[allow(clippy::too_many_arguments)]
fn train(
    mut net: Mlp,
    variant: &Variant,
    epochs: usize,
    fixed: Option<&[Tensor<2>; 3]>,
    name: &str,
    args: &Args,
    train: &Split,
    test: &Split,
    device: &Device,
) -> (Mlp, f64) {
    let ad = device.clone().autodiff();
    let mut optim = AdamConfig::new().init();
    let n = train.labels.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let l0 = L0::default()
        .on("g1.log_alpha|g2.log_alpha")
        .expect("a valid pattern");
    let mut times = Vec::new();
    let mut step = 0usize;
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
            let (x, y) = batch_tensors(train, chunk, &ad);
            let mut l = loss(net.forward(x, true), y);
            if let Variant::L0(strength) = variant {
                let ramp = Schedule::linear(0, steps).factor(step);
                l = l + l0.penalty(&net).expect("gates selected") * (strength * ramp);
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
            let grads = GradientsParams::from_grads(l.backward(), &net);
            net = optim.step(args.lr, net, grads);
            net = match variant {
                Variant::L1(p) => p.apply_at(net, args.lr, step).expect("prox"),
                Variant::Group(p) => p.apply_at(net, args.lr, step).expect("prox"),
                _ => net,
            };
            if let Some(m) = fixed {
                net = apply_masks(net, m);
            }
            step += 1;
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

/// Hidden neurons (of 400) with an all-zero incoming column or outgoing row.
fn neurons_removed(net: &Mlp) -> usize {
    let host = |t: Tensor<2>| -> Vec<f32> { t.into_data().convert::<f32>().to_vec().unwrap() };
    let a1 = host(net.l1.weight.val().inner());
    let a2 = host(net.l2.weight.val().inner());
    let a3 = host(net.l3.weight.val().inner());
    let col_zero =
        |a: &[f32], rows: usize, cols: usize, j: usize| (0..rows).all(|i| a[i * cols + j] == 0.0);
    let row_zero =
        |a: &[f32], cols: usize, i: usize| a[i * cols..(i + 1) * cols].iter().all(|&v| v == 0.0);
    let h1 = (0..300)
        .filter(|&j| col_zero(&a1, 784, 300, j) || row_zero(&a2, 100, j))
        .count();
    let h2 = (0..100)
        .filter(|&j| col_zero(&a2, 300, 100, j) || row_zero(&a3, 10, j))
        .count();
    h1 + h2
}

fn main() {
    let args = Args::parse();
    let device = match args.device.as_str() {
        "flex" => Device::flex(),
        "ndarray" => Device::ndarray(),
        "wgpu" => Device::wgpu(DeviceKind::default()),
        other => {
            eprintln!("unknown --device {other}: use flex, ndarray or wgpu");
            std::process::exit(2);
        }
    };
    let (train_set, test_set) = match (
        load(&args.data, "train", args.train_limit),
        load(&args.data, "t10k", 0),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!(
                "Fashion-MNIST not found or unreadable ({e}).\nInstall the Debian package `dataset-fashion-mnist` or pass --data DIR \
                 holding train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz."
            );
            std::process::exit(1);
        }
    };
    eprintln!(
        "train {} images, test {} images, device {}",
        train_set.labels.len(),
        test_set.labels.len(),
        args.device
    );
    let ad = device.clone().autodiff();
    let ramp_steps = train_set.labels.len().div_ceil(args.batch);
    let mut rows = Vec::new();
    for v in args.variants.split(',').map(str::trim) {
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
        let (name, variant) = match v {
            "a" => ("(a) none".to_string(), Variant::None),
            "b" => (
                format!("(b) L1 prox {}", args.l1),
                Variant::L1(
                    ProximalStep::new(SoftThreshold, "l?.weight", args.l1)
                        .expect("valid")
                        .with_schedule(Schedule::linear(0, ramp_steps)),
                ),
            ),
            "c" => (
                format!("(c) group lasso {}", args.group),
                Variant::Group(
                    ProximalStep::new(
                        GroupSoftThreshold::new(Groups::Columns, GroupWeights::SqrtSize)
                            .expect("valid"),
                        "l1.weight|l2.weight",
                        args.group,
                    )
                    .expect("valid")
                    .with_schedule(Schedule::linear(0, ramp_steps)),
                ),
            ),
            "d" => (format!("(d) L0 gates {}", args.l0), Variant::L0(args.l0)),
            other => {
                eprintln!("unknown variant {other}: use a, b, c, d");
                std::process::exit(2);
            }
        };
        let (net, epoch_s) = train(
            net,
            &variant,
            args.epochs,
            None,
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
        rows.push(Row {
            name,
            reg_acc,
            acc: accuracy(&net, &test_set, &device),
            sparsity: report.zero_fraction(),
            neurons: neurons_removed(&net),
            epoch_s,
        });
    }
    let base = rows.first().map(|r| r.acc);
    println!("\n| variant | test acc before fine-tune | test acc | Δ acc vs first | weight sparsity | hidden neurons removed (of 400) | s / epoch |");
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.2} % | {:.2} % | {:+.2} | {:.2} % | {} ({:.1} %) | {:.2} |",
            r.name,
            r.reg_acc * 100.0,
            r.acc * 100.0,
            base.map_or(0.0, |b| (r.acc - b) * 100.0),
            r.sparsity * 100.0,
            r.neurons,
            r.neurons as f64 / 4.0,
            r.epoch_s
        );
    }
}
