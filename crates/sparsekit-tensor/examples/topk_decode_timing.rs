//! Wall-clock of the TopK-SAE bottleneck ops on each device: `topk` of the pre-activations,
//! `gather_decode` vs the dense decode `Z·D` (Z the `B × n` dense code), and their sum of
//! forward + backward. Numbers only; nothing is asserted.
//!
//! `XDG_RUNTIME_DIR=/tmp cargo run --release --example topk_decode_timing -p sparsekit-tensor`
//! (the wgpu device here is the software adapter: correctness, not speed).
#![allow(deprecated)]

use std::time::Duration;

use burn::tensor::{Device, DeviceKind, Distribution, Tensor};
use sparsekit_measure::{measure, Timing};
use sparsekit_tensor::{gather_decode, topk};

/// Median milliseconds of `f` (the project's timer), `sync` waiting for the device each call;
/// one warm-up call (kernel compilation on Cube).
fn time<T>(reps: usize, mut f: impl FnMut() -> T, sync: impl Fn(T)) -> f64 {
    let timing = Timing {
        samples: reps,
        warmup_calls: 1,
        warmup_time: Duration::ZERO,
    };
    measure(&timing, || sync(f())).median_s * 1e3
}

fn main() {
    let (b, n, d, k) = (256, 4096, 256, 32);
    let cpu = Device::flex();
    let pre_host = Tensor::<2>::random([b, n], Distribution::Normal(0.0, 1.0), &cpu).into_data();
    let dict_host = Tensor::<2>::random([n, d], Distribution::Normal(0.0, 1.0), &cpu).into_data();
    for (name, device) in [
        ("flex", Device::flex()),
        ("wgpu (software adapter)", Device::wgpu(DeviceKind::Cpu)),
    ] {
        // The same inputs on every device (generated on the CPU), so the checksums compare.
        let pre = Tensor::<2>::from_data(pre_host.clone(), &device);
        let dict = Tensor::<2>::from_data(dict_host.clone(), &device);
        // Wait for the device while the result is alive, so no backend can skip the work.
        let sync = |t: Tensor<2>| {
            device.sync().expect("device sync");
            drop(std::hint::black_box(t));
        };
        let t_topk = time(20, || topk(pre.clone(), k).unwrap().0, sync);
        let (v, idx) = topk(pre.clone(), k).unwrap();
        let t_sparse = time(
            20,
            || gather_decode(v.clone(), idx.clone(), dict.clone()).unwrap(),
            sync,
        );
        let z = Tensor::<2>::zeros([b, n], &device).scatter(
            1,
            idx.clone(),
            v.clone(),
            burn::tensor::IndexingUpdateOp::Add,
        );
        let y = gather_decode(v.clone(), idx.clone(), dict.clone()).unwrap();
        let checksum = (
            v.clone().sum().into_scalar::<f32>() as f64,
            y.clone().abs().sum().into_scalar::<f32>() as f64,
            (y - z.clone().matmul(dict.clone()))
                .abs()
                .max()
                .into_scalar::<f32>() as f64,
        );
        println!(
            "{name}: Σ topk values {:.4}, Σ|Y| {:.4}, max |Y_sparse - Y_dense| {:.2e}",
            checksum.0, checksum.1, checksum.2
        );
        let t_dense = time(20, || z.clone().matmul(dict.clone()), sync);
        println!(
            "{name}: B={b} n={n} d={d} k={k}: topk {t_topk:.2} ms, gather_decode {t_sparse:.2} ms, dense decode {t_dense:.2} ms"
        );
    }
}
