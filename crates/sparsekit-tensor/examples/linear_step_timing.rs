//! One training step (forward + backward + Adam) of a `SparseLinear` vs a dense `Linear`.
//!
//! ```text
//! cargo run --release -p sparsekit-tensor --example linear_step_timing -- [d] [batch] [steps]
//! ```
//! Defaults: d = 4096, batch = 64, steps = 5, on Flex. A quick look, not a benchmark: the
//! `train` suite of `cargo xtask bench` is the place for numbers.
#![allow(deprecated)]

use std::time::Instant;

use burn::module::Module;
use burn::nn::LinearConfig;
use burn::tensor::{Device, Distribution, Tensor};
use burn_optim::{AdamConfig, GradientsParams};
use sparsekit_tensor::SparseLinearConfig;

fn time<M: Module>(
    mut m: M,
    fwd: impl Fn(&M, Tensor<2>) -> Tensor<2>,
    x: &Tensor<2>,
    steps: usize,
) -> f64 {
    let mut optim = AdamConfig::new().init();
    let mut best = f64::INFINITY;
    for s in 0..steps + 1 {
        let t = Instant::now();
        let loss = fwd(&m, x.clone()).powf_scalar(2.0).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        m = optim.step(1e-3, m, grads);
        if s > 0 {
            best = best.min(t.elapsed().as_secs_f64());
        }
    }
    best
}

fn main() {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().unwrap())
        .collect();
    let (d, batch, steps) = (
        *a.first().unwrap_or(&4096),
        *a.get(1).unwrap_or(&64),
        *a.get(2).unwrap_or(&5),
    );
    let device = Device::flex().autodiff();
    let x = Tensor::<2>::random([batch, d], Distribution::Normal(0.0, 1.0), &device);
    let dense = time(
        LinearConfig::new(d, d).init(&device),
        |m, x| m.forward(x),
        &x,
        steps,
    );
    println!("dense  {d}x{d} batch {batch}: {:.2} ms / step", dense * 1e3);
    for s in [0.9, 0.98] {
        let layer = SparseLinearConfig::new(d, d)
            .with_sparsity(s)
            .with_seed(Some(1))
            .init(&device);
        let t = time(layer, |m, x| m.forward(x), &x, steps);
        println!(
            "sparse {:.0}%: {:.2} ms / step ({:.2}x vs dense)",
            s * 100.0,
            t * 1e3,
            dense / t
        );
    }
}
