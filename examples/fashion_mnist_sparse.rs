//! LeNet-300-100 (784-300-100-10) on Fashion-MNIST: dense `Linear` layers vs `SparseLinear` at
//! 90 % and 98 % sparsity (random ERK masks), same epochs, batch and Adam.
//!
//! ```text
//! cargo run --release --example fashion_mnist_sparse -- --device flex --epochs 5
//! ```
//!
//! Data: the four `*-idx?-ubyte.gz` files of Fashion-MNIST (Debian package
//! `dataset-fashion-mnist`, in `/usr/share/datasets/fashion-mnist/`; `--data DIR` to override).
#![allow(deprecated)]

use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use burn_optim::{AdamConfig, GradientsParams};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use sparsekit::prune::{Allocation, LayerShape};
use sparsekit::tensor::{random_pattern, SparseLinear, SparseLinearConfig};

#[path = "common/fashion_mnist.rs"]
mod fashion_mnist;
use fashion_mnist::{cross_entropy as loss, or_exit, Split};
#[derive(Parser, Debug)]
#[command(about = "Dense vs SparseLinear LeNet-300-100 on Fashion-MNIST")]
struct Args {
    /// Directory with the Fashion-MNIST idx .gz files.
    #[arg(long, default_value = "/usr/share/datasets/fashion-mnist")]
    data: PathBuf,
    /// flex | ndarray | wgpu
    #[arg(long, default_value = "flex")]
    device: String,
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    #[arg(long, default_value_t = 128)]
    batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Comma-separated sparsities; 0 means the dense `Linear` model.
    #[arg(long, default_value = "0,0.9,0.98")]
    sparsities: String,
    /// Use only the first N training images (0 = all).
    #[arg(long, default_value_t = 0)]
    train_limit: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// A 784-300-100-10 MLP.
trait Net: Module + Clone {
    fn forward(&self, x: Tensor<2>) -> Tensor<2>;
    fn num_weights(&self) -> usize;
}

/// A linear layer of either kind: its forward pass and its stored weight count (incl. bias).
trait Layer {
    fn apply(&self, x: Tensor<2>) -> Tensor<2>;
    fn stored(&self) -> usize;
}

impl Layer for Linear {
    fn apply(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward(x)
    }
    fn stored(&self) -> usize {
        self.weight.shape().num_elements()
            + self.bias.as_ref().map_or(0, |b| b.shape().num_elements())
    }
}

impl Layer for SparseLinear {
    fn apply(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward(x)
    }
    fn stored(&self) -> usize {
        self.nnz() + self.bias.as_ref().map_or(0, |_| self.d_output)
    }
}

/// l3(relu(l2(relu(l1(x))))).
fn mlp<L: Layer>(layers: [&L; 3], x: Tensor<2>) -> Tensor<2> {
    layers[2].apply(relu(layers[1].apply(relu(layers[0].apply(x)))))
}

#[derive(Module, Debug)]
struct DenseMlp {
    l1: Linear,
    l2: Linear,
    l3: Linear,
}

#[derive(Module, Debug)]
struct SparseMlp {
    l1: SparseLinear,
    l2: SparseLinear,
    l3: SparseLinear,
}

/// The same `Net` for both MLPs (their layers differ only in type).
macro_rules! impl_net {
    ($($mlp:ty),*) => {$(
        impl Net for $mlp {
            fn forward(&self, x: Tensor<2>) -> Tensor<2> {
                mlp([&self.l1, &self.l2, &self.l3], x)
            }
            fn num_weights(&self) -> usize {
                [&self.l1, &self.l2, &self.l3].map(Layer::stored).iter().sum()
            }
        }
    )*};
}

impl_net!(DenseMlp, SparseMlp);

const LAYERS: [(usize, usize); 3] = [(784, 300), (300, 100), (100, 10)];

/// Erdős–Rényi-Kernel densities (sparsekit-prune's [`Allocation::Erk`]): density ∝
/// (fan_in + fan_out) / (fan_in · fan_out), scaled so that (1 - sparsity) of all weights are
/// kept, layers capped at dense.
fn erk_densities(sparsity: f64) -> Vec<f64> {
    let layers: Vec<LayerShape> = LAYERS
        .iter()
        .enumerate()
        .map(|(i, &(d_in, d_out))| LayerShape::new(format!("l{}.weight", i + 1), d_out, d_in))
        .collect();
    let sparsities = Allocation::Erk.sparsities(&layers, sparsity, None, None);
    or_exit(sparsities.map_err(|e| format!("ERK allocation: {e}")), 2)
        .iter()
        .map(|s| 1.0 - s)
        .collect()
}

fn accuracy<N: Net>(net: &N, test: &Split, device: &Device) -> f64 {
    let net = net.valid();
    fashion_mnist::accuracy(|x| net.forward(x), test, device)
}

struct Row {
    name: String,
    acc: f64,
    weights: usize,
    sparsity: f64,
    epoch_s: f64,
}

fn train<N: Net>(
    mut net: N,
    name: &str,
    args: &Args,
    train: &Split,
    test: &Split,
    device: &Device,
) -> (N, f64) {
    let ad = device.clone().autodiff();
    let mut optim = AdamConfig::new().init();
    let n = train.labels.len();
    let mut order: Vec<usize> = (0..n).collect();
    // The same shuffles for every model: seeded per run, not per model.
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut times = Vec::new();
    for epoch in 0..args.epochs {
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
        bar.set_message(format!("epoch {}/{}", epoch + 1, args.epochs));
        let start = Instant::now();
        let mut last = f32::NAN;
        for (s, chunk) in order.chunks(args.batch).enumerate() {
            let (x, y) = train.batch(chunk, &ad);
            let l = loss(net.forward(x), y);
            if s % 50 == 0 || s + 1 == steps {
                // Reading the loss back waits for the device; only every 50 steps.
                last = l
                    .clone()
                    .into_data()
                    .iter::<f32>()
                    .next()
                    .unwrap_or(f32::NAN);
                bar.set_message(format!(
                    "epoch {}/{} loss {last:.4}",
                    epoch + 1,
                    args.epochs
                ));
            }
            let grads = GradientsParams::from_grads(l.backward(), &net);
            net = optim.step(args.lr, net, grads);
            bar.inc(1);
        }
        let secs = start.elapsed().as_secs_f64();
        times.push(secs);
        bar.finish_and_clear();
        let acc = accuracy(&net, test, device);
        eprintln!(
            "{name:>12} epoch {}/{} loss {last:.4} test acc {:.2} % ({secs:.2} s)",
            epoch + 1,
            args.epochs,
            acc * 100.0,
        );
    }
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    (net, mean)
}

fn main() {
    let args = Args::parse();
    let device = or_exit(fashion_mnist::device(&args.device), 2);
    let (train_set, test_set) =
        or_exit(fashion_mnist::load_splits(&args.data, args.train_limit), 1);
    eprintln!(
        "train {} images, test {} images, device {}",
        train_set.labels.len(),
        test_set.labels.len(),
        args.device
    );
    let ad = device.clone().autodiff();
    let mut rows = Vec::new();
    for s in args
        .sparsities
        .split(',')
        .map(|s| s.trim().parse::<f64>().expect("sparsity"))
    {
        ad.seed(args.seed);
        if s == 0.0 {
            let net = DenseMlp {
                l1: LinearConfig::new(784, 300).init(&ad),
                l2: LinearConfig::new(300, 100).init(&ad),
                l3: LinearConfig::new(100, 10).init(&ad),
            };
            let weights = net.num_weights();
            let (net, epoch_s) = train(net, "dense", &args, &train_set, &test_set, &device);
            rows.push(Row {
                name: "dense".into(),
                acc: accuracy(&net, &test_set, &device),
                weights,
                sparsity: 0.0,
                epoch_s,
            });
        } else {
            let dens = erk_densities(s);
            let layer = |i: usize| {
                let (d_in, d_out) = LAYERS[i];
                let p =
                    random_pattern(d_out, d_in, 1.0 - dens[i], Some(args.seed + i as u64)).unwrap();
                SparseLinearConfig::new(d_in, d_out).init_with_pattern(&p, &ad)
            };
            let net = SparseMlp {
                l1: layer(0),
                l2: layer(1),
                l3: layer(2),
            };
            let weights = net.num_weights();
            let name = format!("sparse {:.0}%", s * 100.0);
            eprintln!(
                "{name}: ERK densities {:?}",
                dens.iter().map(|d| format!("{:.3}", d)).collect::<Vec<_>>()
            );
            let (net, epoch_s) = train(net, &name, &args, &train_set, &test_set, &device);
            rows.push(Row {
                name,
                acc: accuracy(&net, &test_set, &device),
                weights,
                sparsity: s,
                epoch_s,
            });
        }
    }
    let dense_time = rows.iter().find(|r| r.sparsity == 0.0).map(|r| r.epoch_s);
    println!(
        "\n| model | test acc | weights (incl. bias) | sparsity | s / epoch | speedup vs dense |"
    );
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        let speed = dense_time.map_or("-".to_string(), |d| format!("{:.2}×", d / r.epoch_s));
        println!(
            "| {} | {:.2} % | {} | {:.0} % | {:.2} | {} |",
            r.name,
            r.acc * 100.0,
            r.weights,
            r.sparsity * 100.0,
            r.epoch_s,
            speed
        );
    }
}
