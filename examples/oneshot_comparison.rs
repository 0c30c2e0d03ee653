//! One-shot pruning methods compared on real inputs: the relative layer reconstruction error
//! `‖(W − Ŵ)Xᵀ‖²/‖WXᵀ‖²` of magnitude, Wanda, SparseGPT, SparseGPT+DSnoT and Wanda+DSnoT at
//! 50 %, 70 %, 90 % and 2:4 on a 300 × 784 layer (random weights, std 1/√784), with Fashion-MNIST
//! training images as calibration inputs and as many further images held out; times in ms.
//!
//! ```text
//! cargo run --release --example oneshot_comparison -- --calibration 2048
//! ```
//!
//! A measurement, not a test: the ordering these numbers show is asserted on a smaller layer by
//! `crates/sparsekit-prune/tests/oneshot.rs` (`fashion_mnist_reconstruction_ordering`).

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};
use clap::Parser;
use sparsekit::prune::oneshot::{
    dsnot, magnitude, reconstruction_error_gram, sparsegpt, wanda, DsnotConfig, HessianAccumulator,
    Pruned, SparseGptConfig, SparsityTarget,
};

#[path = "common/fashion_mnist.rs"]
mod fashion_mnist;
use fashion_mnist::or_exit;

#[derive(Parser, Debug)]
#[command(about = "Magnitude / Wanda / SparseGPT / DSnoT reconstruction errors on Fashion-MNIST")]
struct Args {
    /// Directory with the Fashion-MNIST idx .gz files.
    #[arg(long, default_value = "/usr/share/datasets/fashion-mnist")]
    data: PathBuf,
    /// Calibration images (as many again are held out).
    #[arg(long, default_value_t = 2048)]
    calibration: usize,
    /// Output rows of the layer.
    #[arg(long, default_value_t = 300)]
    rows: usize,
    #[arg(long, default_value_t = 2023)]
    seed: u64,
}

fn gram(x: &[f32], n: usize, cols: usize) -> HessianAccumulator {
    let mut acc = HessianAccumulator::new(cols).expect("cols > 0");
    acc.add_batch(x, n).expect("n × cols inputs");
    acc
}

fn main() {
    let args = Args::parse();
    let (rows, cols, n_cal) = (args.rows, 784usize, args.calibration);
    let split = or_exit(fashion_mnist::load(&args.data, "train", 2 * n_cal), 1);
    let n_cal = split.labels.len() / 2;
    let (cal, held) = split.images[..2 * n_cal * cols].split_at(n_cal * cols);

    let device = Device::flex();
    device.seed(args.seed);
    let w = Tensor::<2>::random(
        [rows, cols],
        Distribution::Normal(0.0, 1.0 / (cols as f64).sqrt()),
        &device,
    )
    .into_data()
    .try_into_vec_as::<f32>()
    .expect("f32 weights");

    let t0 = Instant::now();
    let acc = gram(cal, n_cal, cols);
    let t_acc = t0.elapsed();
    let acc_held = gram(held, n_cal, cols);
    println!(
        "Fashion-MNIST train images: layer {rows}\u{d7}{cols}, {n_cal} calibration + {n_cal} held-out \
         samples (Gram accumulation {:.0} ms)",
        t_acc.as_secs_f64() * 1e3
    );
    println!("relative reconstruction error ‖(W−Ŵ)Xᵀ‖²/‖WXᵀ‖², calibration / held-out [ms]\n");
    println!("| target | magnitude | Wanda | SparseGPT | SparseGPT+DSnoT | Wanda+DSnoT |");
    println!("|---|---|---|---|---|---|");
    let norms = acc.input_norms().expect("calibrated");
    for (label, t) in [
        ("50 %", SparsityTarget::Unstructured(0.5)),
        ("70 %", SparsityTarget::Unstructured(0.7)),
        ("90 %", SparsityTarget::Unstructured(0.9)),
        ("2:4", SparsityTarget::NM { n: 2, m: 4 }),
    ] {
        let ds_cfg = DsnotConfig {
            group_size: match t {
                SparsityTarget::NM { m, .. } => Some(m),
                _ => None,
            },
            ..Default::default()
        };
        let timed = |f: &dyn Fn() -> Pruned| {
            let t0 = Instant::now();
            let p = f();
            (p, t0.elapsed().as_secs_f64() * 1e3)
        };
        let (mg, t_mg) = timed(&|| magnitude(&w, rows, cols, t).unwrap());
        let (wa, t_wa) = timed(&|| wanda(&w, rows, cols, &norms, t).unwrap());
        let (sg, t_sg) =
            timed(&|| sparsegpt(&w, rows, cols, &acc, t, &SparseGptConfig::default()).unwrap());
        let refine = |p: &Pruned| {
            dsnot(&w, &p.weights, &p.mask, rows, cols, &acc, &ds_cfg)
                .unwrap()
                .pruned
        };
        let (sgd, t_sgd) = timed(&|| refine(&sg));
        let (wad, t_wad) = timed(&|| refine(&wa));
        let cell = |p: &Pruned, ms: f64| {
            let e1 = reconstruction_error_gram(&w, &p.weights, rows, cols, &acc).unwrap();
            let e2 = reconstruction_error_gram(&w, &p.weights, rows, cols, &acc_held).unwrap();
            format!("{e1:.4} / {e2:.4} [{ms:.0}]")
        };
        println!(
            "| {label} | {} | {} | {} | {} | {} |",
            cell(&mg, t_mg),
            cell(&wa, t_wa),
            cell(&sg, t_sg),
            cell(&sgd, t_sgd),
            cell(&wad, t_wad)
        );
    }
}
