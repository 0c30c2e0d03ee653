//! LeNet-300-100 (784-300-100-10) on Fashion-MNIST, pruned with `sparsekit-prune`: dense,
//! gradual magnitude pruning (GMP, Zhu & Gupta) to 90 / 95 / 98 %, iterative magnitude pruning
//! (IMP, 3 rounds with rewinding to init, lottery tickets), 2:4 with a progressively decaying
//! gradient to pruned weights, and dynamic sparse training from scratch with SET and RigL at
//! 90 / 98 % (ERK densities, truly sparse `SparseLinear` layers throughout). Same epochs, batch
//! and Adam for every training run.
//!
//! ```text
//! cargo run --release --example fashion_mnist_pruning -- --epochs 4 --methods dense,gmp90,imp,nm24,set90,rigl90
//! ```
//!
//! Models train as burn `Linear` layers whose pruned weights the `Pruner` keeps at zero; at the
//! end each pruned model is converted to `SparseLinear` (`SparseLinear::from_linear(&layer, mask)`)
//! and evaluated again, which must give the same accuracy. Prints and writes (`--out DIR`) a
//! Markdown table and an SVG plot of accuracy vs sparsity.
//!
//! Data: the four `*-idx?-ubyte.gz` files of Fashion-MNIST (Debian package
//! `dataset-fashion-mnist`, in `/usr/share/datasets/fashion-mnist/`; `--data DIR` to override).
#![allow(deprecated)]

use std::fmt::Write as _;
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
use sparsekit::tensor::{SparseLinear, SparseLinearConfig};
use sparsekit_measure::plot::{Chart, Series};
use sparsekit_prune::dst::{forward_probed, DstConfig, DstMethod, GradientProbe, GrowSignal};
use sparsekit_prune::{
    Allocation, GradientFlow, Gradual, Iterative, LayerShape, Pruner, PrunerConfig, Rewind,
    Schedule, Structure,
};

#[path = "common/fashion_mnist.rs"]
mod fashion_mnist;
use fashion_mnist::{accuracy, cross_entropy as loss, Split};

#[derive(Parser, Debug)]
#[command(about = "Pruning LeNet-300-100 on Fashion-MNIST with sparsekit-prune")]
struct Args {
    /// Directory with the Fashion-MNIST idx .gz files.
    #[arg(long, default_value = "/usr/share/datasets/fashion-mnist")]
    data: PathBuf,
    /// flex | ndarray | wgpu
    #[arg(long, default_value = "flex")]
    device: String,
    /// Epochs of every training run (IMP trains `rounds + 1` runs of this length).
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    #[arg(long, default_value_t = 128)]
    batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Comma-separated: dense, gmp90, gmp95, gmp98 (any gmpNN), imp, nm24, setNN, riglNN.
    #[arg(
        long,
        default_value = "dense,gmp90,gmp95,gmp98,imp,nm24,set90,set98,rigl90,rigl98"
    )]
    methods: String,
    /// Final sparsity of IMP.
    #[arg(long, default_value_t = 0.9)]
    imp_target: f64,
    /// IMP rounds.
    #[arg(long, default_value_t = 3)]
    imp_rounds: u32,
    /// SET / RigL: steps between pattern updates.
    #[arg(long, default_value_t = 100)]
    dst_delta_t: usize,
    /// SET / RigL: initial drop fraction ζ (cosine-annealed to 0 at 75 % of training).
    #[arg(long, default_value_t = 0.3)]
    dst_zeta: f64,
    /// Per-layer split of GMP and IMP targets: uniform | global | erk.
    #[arg(long, default_value = "erk")]
    allocation: String,
    /// Use only the first N training images (0 = all).
    #[arg(long, default_value_t = 0)]
    train_limit: usize,
    /// Where the table (pruning.md) and the plot (pruning.svg) go.
    #[arg(long, default_value = "target/pruning")]
    out: PathBuf,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[derive(Module, Debug)]
struct Mlp {
    l1: Linear,
    l2: Linear,
    l3: Linear,
}

impl Mlp {
    fn new(device: &Device) -> Self {
        Mlp {
            l1: LinearConfig::new(784, 300).init(device),
            l2: LinearConfig::new(300, 100).init(device),
            l3: LinearConfig::new(100, 10).init(device),
        }
    }
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.l3
            .forward(relu(self.l2.forward(relu(self.l1.forward(x)))))
    }
}

/// The same network with `SparseLinear` layers (values at the mask only).
struct SparseMlp([SparseLinear; 3]);

impl SparseMlp {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [a, b, c] = &self.0;
        c.forward(relu(b.forward(relu(a.forward(x)))))
    }
}

/// One row of the results. New methods (e.g. SET / RigL from `sparsekit_prune::dst`) add a
/// variant here and a `run_*` function below.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Method {
    Dense,
    /// Gradual magnitude pruning to this sparsity.
    Gmp(f64),
    /// Iterative magnitude pruning with rewinding to init.
    Imp,
    /// 2:4 on every layer, gradient to pruned weights decayed to 0.
    Nm24,
    /// Dynamic sparse training (SET or RigL) at this sparsity with ERK densities.
    Dst(DstMethod, f64),
}

impl Method {
    fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "dense" => Ok(Method::Dense),
            "imp" => Ok(Method::Imp),
            "nm24" => Ok(Method::Nm24),
            g if g.starts_with("gmp") => Ok(Method::Gmp(percent(g, 3)?)),
            g if g.starts_with("set") => Ok(Method::Dst(DstMethod::Set, percent(g, 3)?)),
            g if g.starts_with("rigl") => Ok(Method::Dst(DstMethod::RigL, percent(g, 4)?)),
            other => Err(format!(
                "unknown method '{other}' (dense, gmpNN, imp, nm24, setNN, riglNN)"
            )),
        }
    }
    fn name(&self, args: &Args) -> String {
        match self {
            Method::Dense => "dense".into(),
            Method::Gmp(s) => format!("GMP {:.0}%", s * 100.0),
            Method::Imp => format!("IMP {} rounds, rewind to init", args.imp_rounds),
            Method::Nm24 => "2:4, gradient decay".into(),
            Method::Dst(m, s) => format!("{m:?} {:.0}% (ERK)", s * 100.0),
        }
    }
}

/// `gmp90` → 0.9: the number after the `skip`-letter prefix, as a fraction in `[0, 1)`.
fn percent(s: &str, skip: usize) -> Result<f64, String> {
    s[skip..]
        .parse::<f64>()
        .ok()
        .filter(|p| (0.0..100.0).contains(p))
        .map(|p| p / 100.0)
        .ok_or_else(|| format!("'{s}': expected a percentage after the name, e.g. gmp90"))
}

struct Data {
    train: Split,
    test: Split,
}

/// Fraction of exact zeros among the three weight matrices.
fn weight_sparsity(m: &Mlp) -> f64 {
    let mut zeros = 0usize;
    let mut total = 0usize;
    for l in [&m.l1, &m.l2, &m.l3] {
        let v = l.weight.val().try_into_vec_as::<f32>().unwrap_or_default();
        zeros += v.iter().filter(|x| **x == 0.0).count();
        total += v.len();
    }
    zeros as f64 / total.max(1) as f64
}

/// Trains `steps` Adam steps; with a pruner, calls it around every update and restarts Adam
/// after a rewind (IMP retrains each ticket from scratch).
fn train(
    mut net: Mlp,
    mut pruner: Option<&mut Pruner>,
    steps: u64,
    name: &str,
    args: &Args,
    data: &Data,
    device: &Device,
) -> Result<Mlp, String> {
    let ad = device.clone().autodiff();
    let mut optim = AdamConfig::new().init();
    let n = data.train.labels.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let per_epoch = n.div_ceil(args.batch) as u64;
    let epochs = steps.div_ceil(per_epoch);
    let mut t = 0u64;
    for epoch in 0..epochs {
        order.shuffle(&mut rng);
        let bar = ProgressBar::new(per_epoch.min(steps - t)).with_style(
            ProgressStyle::with_template(
                "{prefix:>24} {msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
        let mut last = f32::NAN;
        for (s, chunk) in order.chunks(args.batch).enumerate() {
            if t == steps {
                break;
            }
            t += 1;
            let (x, y) = data.train.batch(chunk, &ad);
            let l = loss(net.forward(x), y);
            if s % 50 == 0 {
                last = l
                    .clone()
                    .into_data()
                    .iter::<f32>()
                    .next()
                    .unwrap_or(f32::NAN);
                let sp = pruner.as_ref().map_or(0.0, |p| p.sparsity());
                bar.set_message(format!(
                    "epoch {}/{epochs} loss {last:.4} sparsity {:.1}%",
                    epoch + 1,
                    sp * 100.0
                ));
            }
            let mut grads = GradientsParams::from_grads(l.backward(), &net);
            if let Some(p) = pruner.as_deref_mut() {
                grads = p.on_gradients(&net, grads, t).map_err(|e| e.to_string())?;
            }
            net = optim.step(args.lr, net, grads);
            if let Some(p) = pruner.as_deref_mut() {
                net = p.step(net, t).map_err(|e| e.to_string())?;
                if p.config().schedule.rewind_at(t).is_some() {
                    optim = AdamConfig::new().init();
                }
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let acc = accuracy(|x| net.valid().forward(x), &data.test, device);
        eprintln!(
            "{name:>24} epoch {}/{epochs} loss {last:.4} test acc {:.2} %",
            epoch + 1,
            acc * 100.0
        );
    }
    Ok(net)
}

/// LeNet-300-100 with `SparseLinear` layers, for dynamic sparse training.
#[derive(Module, Debug)]
struct DstMlp {
    l1: SparseLinear,
    l2: SparseLinear,
    l3: SparseLinear,
}

impl DstMlp {
    /// With `probe`, also one gradient probe per layer (RigL's dense gradient, update steps only).
    fn forward(&self, x: Tensor<2>, probe: bool) -> (Tensor<2>, Vec<GradientProbe>) {
        if !probe {
            let h = relu(self.l2.forward(relu(self.l1.forward(x))));
            return (self.l3.forward(h), vec![]);
        }
        let (h, p1) = forward_probed(&self.l1, x);
        let (h, p2) = forward_probed(&self.l2, relu(h));
        let (y, p3) = forward_probed(&self.l3, relu(h));
        (y, vec![p1, p2, p3])
    }
    fn to_mlp(&self) -> Mlp {
        Mlp {
            l1: self.l1.to_linear(),
            l2: self.l2.to_linear(),
            l3: self.l3.to_linear(),
        }
    }
}

/// SET / RigL from a random ERK pattern: pattern updates every `--dst-delta-t` steps with a
/// cosine-annealed drop fraction, frozen after 75 % of training; Adam's moments follow the
/// moved weights.
fn run_dst(
    method: DstMethod,
    target: f64,
    args: &Args,
    data: &Data,
    device: &Device,
) -> Result<DstMlp, String> {
    let ad = device.clone().autodiff();
    ad.seed(args.seed);
    let shapes = [(784, 300), (300, 100), (100, 10)];
    let layers: Vec<LayerShape> = shapes
        .iter()
        .enumerate()
        .map(|(i, &(d_in, d_out))| LayerShape::new(format!("l{}.weight", i + 1), d_out, d_in))
        .collect();
    let sparsities = Allocation::Erk
        .sparsities(&layers, target, None, None)
        .map_err(|e| e.to_string())?;
    let layer = |i: usize| {
        let (d_in, d_out) = shapes[i];
        SparseLinearConfig::new(d_in, d_out)
            .with_sparsity(sparsities[i])
            .with_seed(Some(args.seed + i as u64))
            .try_init(&ad)
            .map_err(|e| e.to_string())
    };
    let mut net = DstMlp {
        l1: layer(0)?,
        l2: layer(1)?,
        l3: layer(2)?,
    };
    let steps = args.epochs as u64 * steps_per_epoch(args, data);
    let mut dst = DstConfig::new(method)
        .with_delta_t(args.dst_delta_t)
        .with_zeta(args.dst_zeta)
        .with_t_end(Some((steps as f64 * 0.75) as usize))
        .with_seed(args.seed)
        .init()
        .map_err(|e| e.to_string())?;
    let name = format!("{method:?} {:.0}%", target * 100.0);
    let mut optim = AdamConfig::new().init();
    let n = data.train.labels.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut t = 0usize;
    for epoch in 0..args.epochs {
        order.shuffle(&mut rng);
        let bar = ProgressBar::new(n.div_ceil(args.batch) as u64).with_style(
            ProgressStyle::with_template("{prefix:>24} {msg} [{bar:30}] {pos}/{len} {per_sec}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(name.clone());
        for chunk in order.chunks(args.batch) {
            t += 1;
            let update = dst.is_update_step(t);
            let (x, y) = data.train.batch(chunk, &ad);
            let (logits, probes) = net.forward(x, update && dst.needs_gradient());
            let grads = loss(logits, y).backward();
            let signals = probes
                .iter()
                .map(|p| p.gradient(&grads).map(GrowSignal::DenseGradient))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            net = optim.step(
                args.lr,
                net.clone(),
                GradientsParams::from_grads(grads, &net),
            );
            if update {
                let DstMlp { l1, l2, l3 } = net;
                let mut it = dst
                    .update_layers(vec![l1, l2, l3], t, signals, Some(&mut optim))
                    .map_err(|e| e.to_string())?
                    .into_iter();
                let (Some(l1), Some(l2), Some(l3)) = (it.next(), it.next(), it.next()) else {
                    return Err("DST returned the wrong number of layers".into());
                };
                net = DstMlp { l1, l2, l3 };
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let acc = accuracy(|x| net.valid().forward(x, false).0, &data.test, device);
        eprintln!(
            "{name:>24} epoch {}/{} test acc {:.2} % ({} layer updates)",
            epoch + 1,
            args.epochs,
            acc * 100.0,
            dst.layer_updates()
        );
    }
    Ok(net)
}

fn allocation(args: &Args) -> Result<Allocation, String> {
    match args.allocation.as_str() {
        "uniform" => Ok(Allocation::Uniform),
        "global" => Ok(Allocation::Global),
        "erk" => Ok(Allocation::Erk),
        o => Err(format!("unknown --allocation {o}: uniform, global or erk")),
    }
}

fn steps_per_epoch(args: &Args, data: &Data) -> u64 {
    data.train.labels.len().div_ceil(args.batch) as u64
}

fn run_dense(args: &Args, data: &Data, device: &Device) -> Result<(Mlp, Option<Pruner>), String> {
    let ad = device.clone().autodiff();
    ad.seed(args.seed);
    let steps = args.epochs as u64 * steps_per_epoch(args, data);
    Ok((
        train(Mlp::new(&ad), None, steps, "dense", args, data, device)?,
        None,
    ))
}

/// GMP: cubic ramp from 0 at 10 % of training to the target at 70 %, pruning every
/// `steps / 100` updates, then fine-tuning on the final mask.
fn run_gmp(
    target: f64,
    args: &Args,
    data: &Data,
    device: &Device,
) -> Result<(Mlp, Option<Pruner>), String> {
    let ad = device.clone().autodiff();
    ad.seed(args.seed);
    let net = Mlp::new(&ad);
    let steps = args.epochs as u64 * steps_per_epoch(args, data);
    let frequency = (steps / 100).max(1);
    let start = steps / 10;
    let n = ((steps * 6 / 10) / frequency).max(1);
    let schedule = Schedule::Gradual(Gradual {
        initial: 0.0,
        final_sparsity: target,
        start,
        frequency,
        n,
    });
    let cfg = PrunerConfig::new(schedule).with_allocation(allocation(args)?);
    let mut p = Pruner::new(cfg, &net).map_err(|e| e.to_string())?;
    let name = format!("GMP {:.0}%", target * 100.0);
    let net = train(net, Some(&mut p), steps, &name, args, data, device)?;
    Ok((net, Some(p)))
}

/// IMP: `rounds` rounds of `epochs`, each pruning `rate` of the remaining weights by magnitude
/// and rewinding to the initial weights, then the ticket trains `epochs` more.
fn run_imp(args: &Args, data: &Data, device: &Device) -> Result<(Mlp, Option<Pruner>), String> {
    let ad = device.clone().autodiff();
    ad.seed(args.seed);
    let net = Mlp::new(&ad);
    let it = Iterative {
        rounds: args.imp_rounds,
        rate: Iterative::rate_for(args.imp_target, args.imp_rounds),
        round_steps: args.epochs as u64 * steps_per_epoch(args, data),
        rewind: Rewind::Init,
    };
    let cfg = PrunerConfig::new(Schedule::Iterative(it)).with_allocation(allocation(args)?);
    let mut p = Pruner::new(cfg, &net).map_err(|e| e.to_string())?;
    let net = train(
        net,
        Some(&mut p),
        it.total_steps(),
        "IMP",
        args,
        data,
        device,
    )?;
    // The winning ticket as safetensors, next to the table.
    if let Ok(t) = p.ticket() {
        if let Ok(bytes) = t.to_safetensors() {
            let _ = std::fs::write(args.out.join("imp_ticket.safetensors"), bytes);
        }
    }
    Ok((net, Some(p)))
}

/// 2:4 on every layer: masks recomputed every `steps / 50` updates over the first 70 % of
/// training from the dense (straight-through) weights, whose pruned part receives `β(t)` of its
/// gradient, `β` decaying 1 → 0 in 5 steps over that span; the last 30 % trains on a fixed mask.
fn run_nm24(args: &Args, data: &Data, device: &Device) -> Result<(Mlp, Option<Pruner>), String> {
    let ad = device.clone().autodiff();
    ad.seed(args.seed);
    let net = Mlp::new(&ad);
    let steps = args.epochs as u64 * steps_per_epoch(args, data);
    let end = steps * 7 / 10;
    let cfg = PrunerConfig::new(Schedule::Periodic {
        sparsity: 0.5,
        start: 1,
        end: end.max(1),
        every: (steps / 50).max(1),
    })
    .with_structure(Structure::NM { n: 2, m: 4 })
    .with_flow(GradientFlow::Decay {
        start: 1,
        end: end.max(2),
        intervals: 5,
    });
    let mut p = Pruner::new(cfg, &net).map_err(|e| e.to_string())?;
    let net = train(net, Some(&mut p), steps, "2:4 decay", args, data, device)?;
    Ok((net, Some(p)))
}

struct Row {
    name: String,
    target: f64,
    achieved: f64,
    acc: f64,
    sparse_acc: Option<f64>,
    secs: f64,
}

fn target_of(m: Method, args: &Args) -> f64 {
    match m {
        Method::Dense => 0.0,
        Method::Gmp(s) => s,
        Method::Imp => args.imp_target,
        Method::Nm24 => 0.5,
        Method::Dst(_, s) => s,
    }
}

/// Test accuracy against achieved sparsity, one point per method; the dense accuracy dashed.
fn svg(rows: &[Row]) -> Result<String, String> {
    let mut chart = Chart::new(
        "LeNet-300-100 on Fashion-MNIST: accuracy vs sparsity",
        "sparsity (%)",
        "test accuracy (%)",
    );
    chart.size = (560, 360);
    chart.reference_y = rows.iter().find(|r| r.target == 0.0).map(|d| d.acc * 100.0);
    chart.series = rows
        .iter()
        .map(|r| Series {
            label: format!("{} ({:.2} %)", r.name, r.acc * 100.0),
            points: vec![(r.achieved * 100.0, r.acc * 100.0)],
            dashed: false,
        })
        .collect();
    chart.to_svg().map_err(|e| format!("plot: {e}"))
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let device = fashion_mnist::device(&args.device)?;
    let methods = args
        .methods
        .split(',')
        .map(Method::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let (train, test) = fashion_mnist::load_splits(&args.data, args.train_limit)?;
    let data = Data { train, test };
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    eprintln!(
        "train {} images, test {} images, device {}, {} epochs per run",
        data.train.labels.len(),
        data.test.labels.len(),
        args.device,
        args.epochs
    );
    let mut rows = Vec::new();
    for m in methods {
        let start = Instant::now();
        if let Method::Dst(method, target) = m {
            // Trained sparse from the start: its own accuracy is the SparseLinear accuracy.
            let net = run_dst(method, target, args, &data, &device)?;
            let secs = start.elapsed().as_secs_f64();
            let net = net.valid();
            let sparse_acc = accuracy(|x| net.forward(x, false).0, &data.test, &device);
            let dense = net.to_mlp();
            rows.push(Row {
                name: m.name(args),
                target,
                achieved: weight_sparsity(&dense),
                acc: accuracy(|x| dense.forward(x), &data.test, &device),
                sparse_acc: Some(sparse_acc),
                secs,
            });
            continue;
        }
        let (net, pruner) = match m {
            Method::Dense => run_dense(args, &data, &device)?,
            Method::Gmp(s) => run_gmp(s, args, &data, &device)?,
            Method::Imp => run_imp(args, &data, &device)?,
            Method::Nm24 => run_nm24(args, &data, &device)?,
            Method::Dst(..) => unreachable!("handled above"),
        };
        let secs = start.elapsed().as_secs_f64();
        let net = net.valid();
        let acc = accuracy(|x| net.forward(x), &data.test, &device);
        // The same model with truly sparse layers.
        let sparse_acc = match &pruner {
            Some(p) => {
                let layer = |l: &Linear, path: &str| {
                    let mask = p.mask(path).ok_or_else(|| format!("no mask for {path}"))?;
                    SparseLinear::from_linear(l, mask).map_err(|e| e.to_string())
                };
                let s = SparseMlp([
                    layer(&net.l1, "l1.weight")?,
                    layer(&net.l2, "l2.weight")?,
                    layer(&net.l3, "l3.weight")?,
                ]);
                Some(accuracy(|x| s.forward(x), &data.test, &device))
            }
            None => None,
        };
        rows.push(Row {
            name: m.name(args),
            target: target_of(m, args),
            achieved: weight_sparsity(&net),
            acc,
            sparse_acc,
            secs,
        });
    }
    let dense = rows.iter().find(|r| r.target == 0.0).map(|r| r.acc);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| method | target sparsity | achieved sparsity | test accuracy | Δ vs dense | SparseLinear accuracy | time |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    for r in &rows {
        let _ = writeln!(
            md,
            "| {} | {:.0} % | {:.2} % | {:.2} % | {} | {} | {:.0} s |",
            r.name,
            r.target * 100.0,
            r.achieved * 100.0,
            r.acc * 100.0,
            dense.map_or("-".into(), |d| format!("{:+.2}", (r.acc - d) * 100.0)),
            r.sparse_acc.map_or("-".into(), |a| format!(
                "{:.2} %{}",
                a * 100.0,
                if a == r.acc { " (same)" } else { " (differs)" }
            )),
            r.secs
        );
    }
    println!("\n{md}");
    let md_path = args.out.join("pruning.md");
    let svg_path = args.out.join("pruning.svg");
    std::fs::write(&md_path, &md).map_err(|e| format!("{}: {e}", md_path.display()))?;
    std::fs::write(&svg_path, svg(&rows)?).map_err(|e| format!("{}: {e}", svg_path.display()))?;
    eprintln!("wrote {} and {}", md_path.display(), svg_path.display());
    Ok(())
}
