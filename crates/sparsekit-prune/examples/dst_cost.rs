//! The cost of one DST pattern update against one training step, on a LeNet-300-100-shaped
//! sparse MLP (784 → 300 → 100 → 10) with Adam, batch 128, synthetic data.
//!
//! ```text
//! cargo run --release --example dst_cost -- [sparsity=0.9] [reps=20]
//! ```
//!
//! Prints, in milliseconds: a plain training step; a RigL update step's extra work split into
//! the probed forward/backward (dense gradients) and the pattern update with the Adam-state
//! remap; a SET pattern update with the remap. Measured, not asserted.

use std::time::Instant;

use burn::module::Module;
use burn::tensor::{activation::relu, Device, Distribution, Tensor};
use burn_optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use sparsekit_measure::stats;
use sparsekit_prune::dst::{
    forward_probed, DropSchedule, DstConfig, DstMethod, GradientProbe, GrowSignal,
};
use sparsekit_tensor::{SparseLinear, SparseLinearConfig};

#[derive(Module, Debug)]
struct LeNet {
    fc1: SparseLinear,
    fc2: SparseLinear,
    fc3: SparseLinear,
}

impl LeNet {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.fc3
            .forward(relu(self.fc2.forward(relu(self.fc1.forward(x)))))
    }
    fn forward_probed(&self, x: Tensor<2>) -> (Tensor<2>, Vec<GradientProbe>) {
        let (h, p1) = forward_probed(&self.fc1, x);
        let (h, p2) = forward_probed(&self.fc2, relu(h));
        let (y, p3) = forward_probed(&self.fc3, relu(h));
        (y, vec![p1, p2, p3])
    }
    fn into_layers(self) -> Vec<SparseLinear> {
        vec![self.fc1, self.fc2, self.fc3]
    }
    fn from_layers(layers: Vec<SparseLinear>) -> Self {
        let [fc1, fc2, fc3]: [SparseLinear; 3] = layers.try_into().expect("three layers");
        LeNet { fc1, fc2, fc3 }
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// Median of the samples (the project's timer statistics).
fn median(mut v: Vec<f64>) -> f64 {
    stats(&mut v).median_s
}

fn train_step(net: LeNet, optim: &mut ModuleOptimizer, x: &Tensor<2>, y: &Tensor<2>) -> LeNet {
    let loss = (net.forward(x.clone()) - y.clone()).powi_scalar(2).mean();
    let grads = GradientsParams::from_grads(loss.backward(), &net);
    optim.step(1e-3, net, grads)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let sparsity: f64 = args.get(1).map_or(Ok(0.9), |s| s.parse())?;
    let reps: usize = args.get(2).map_or(Ok(20), |s| s.parse())?;
    let device = Device::flex().autodiff();
    let layer = |i, o, seed| {
        SparseLinearConfig::new(i, o)
            .with_sparsity(sparsity)
            .with_seed(Some(seed))
            .init(&device)
    };
    let mut net = LeNet {
        fc1: layer(784, 300, 1),
        fc2: layer(300, 100, 2),
        fc3: layer(100, 10, 3),
    };
    let x = Tensor::<2>::random([128, 784], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<2>::random([128, 10], Distribution::Normal(0.0, 1.0), &device);
    let mut optim = AdamConfig::new().init();
    // Warm-up (and Adam state for every parameter).
    for _ in 0..3 {
        net = train_step(net, &mut optim, &x, &y);
    }

    let mut step = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        net = train_step(net, &mut optim, &x, &y);
        let _ = net.fc1.values.val().into_data(); // wait for the device
        step.push(ms(t));
    }

    let dst_cfg = |m| {
        DstConfig::new(m)
            .with_delta_t(1)
            .with_zeta(0.3)
            .with_schedule(DropSchedule::Constant)
    };
    let mut rigl = dst_cfg(DstMethod::RigL).init()?;
    let mut set = dst_cfg(DstMethod::Set).init()?;
    let (mut probed, mut rigl_update, mut set_update) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..reps {
        // RigL: probed forward/backward + optimizer step (the update step's training part).
        let t = Instant::now();
        let (pred, probes) = net.forward_probed(x.clone());
        let loss = (pred - y.clone()).powi_scalar(2).mean();
        let grads = loss.backward();
        let signals = probes
            .iter()
            .map(|p| p.gradient(&grads).map(GrowSignal::DenseGradient))
            .collect::<Result<Vec<_>, _>>()?;
        net = optim.step(1e-3, net.clone(), GradientsParams::from_grads(grads, &net));
        let _ = net.fc1.values.val().into_data();
        probed.push(ms(t));
        // RigL pattern update + Adam remap.
        let t = Instant::now();
        let layers = rigl.update_layers(net.into_layers(), r + 1, signals, Some(&mut optim))?;
        net = LeNet::from_layers(layers);
        rigl_update.push(ms(t));
        // SET pattern update + Adam remap.
        let t = Instant::now();
        let layers = set.update_layers(net.into_layers(), r + 1, vec![], Some(&mut optim))?;
        net = LeNet::from_layers(layers);
        set_update.push(ms(t));
    }
    let (s, p, ru, su) = (
        median(step),
        median(probed),
        median(rigl_update),
        median(set_update),
    );
    println!("LeNet-300-100, sparsity {sparsity}, batch 128, Adam, Flex CPU, median of {reps}:");
    println!("  training step (fwd+bwd+Adam)                 {s:8.2} ms");
    println!(
        "  RigL update step: probed fwd+bwd+Adam        {p:8.2} ms  ({:.2}× a step)",
        p / s
    );
    println!(
        "  RigL pattern update + Adam remap (3 layers)  {ru:8.2} ms  ({:.2}× a step)",
        ru / s
    );
    println!(
        "  SET  pattern update + Adam remap (3 layers)  {su:8.2} ms  ({:.2}× a step)",
        su / s
    );
    println!(
        "  amortized over ΔT = 100: RigL +{:.2} %, SET +{:.2} % per step",
        100.0 * (p - s + ru) / (100.0 * s),
        100.0 * su / (100.0 * s)
    );
    Ok(())
}
