//! SparseLinear and MaskedLinear: forward, conversions, training equivalence under Adam, and
//! the record round trip. Written once, instantiated per device at the bottom.
#![allow(deprecated)]

mod common;

use burn::module::Module;
use burn::nn::LinearConfig;
use burn::store::ModuleRecord;
use burn::tensor::{Device, Tensor};
use burn_optim::{AdamConfig, GradientsParams};
use common::*;
use sparsekit_formats::{CsrPattern, Mask};
use sparsekit_tensor::{MaskedLinear, SparseError, SparseLinear, SparseLinearConfig};

fn rand_t2(shape: [usize; 2], seed: u64, device: &Device) -> Tensor<2> {
    let mut r = rng(seed);
    t2(&random_vec(shape[0] * shape[1], &mut r), shape, device)
}

pub fn forward_matches_dense(device: &Device, tol: f64) {
    for (d_in, d_out, sparsity, bias) in [
        (13, 7, 0.7, true),
        (8, 16, 0.0, false),
        (5, 3, 1.0, true),
        (33, 9, 0.95, true),
    ] {
        let layer = SparseLinearConfig::new(d_in, d_out)
            .with_sparsity(sparsity)
            .with_bias(bias)
            .with_seed(Some(7))
            .init(device);
        assert_eq!(
            layer.nnz(),
            sparsekit_formats::sparsity::keep_count(d_in * d_out, sparsity).unwrap()
        );
        let x = rand_t2([5, d_in], 1, device);
        let want = to64(&host(layer.to_linear().forward(x.clone())));
        assert_close(
            &host(layer.forward(x.clone())),
            &want,
            tol,
            "SparseLinear vs to_linear",
        );
        let masked = layer.to_masked();
        assert_close(
            &host(masked.forward(x.clone())),
            &want,
            tol,
            "MaskedLinear vs to_linear",
        );
        // 3-D input
        let x3 = x.clone().reshape([1, 5, d_in]);
        assert_eq!(layer.forward(x3).dims(), [1, 5, d_out]);
        // round trips
        let back = masked.to_sparse();
        assert_eq!(back.pattern(), layer.pattern());
        assert_eq!(host(back.values.val()), host(layer.values.val()));
        let via_linear =
            SparseLinear::from_linear_pattern(&layer.to_linear(), &layer.pattern()).unwrap();
        assert_eq!(host(via_linear.values.val()), host(layer.values.val()));
    }
}

pub fn config_errors(device: &Device, _tol: f64) {
    let r = SparseLinearConfig::new(4, 4)
        .with_sparsity(1.5)
        .try_init(device);
    assert!(matches!(r, Err(SparseError::Sparsity(_))));
    // Patterns and masks of the wrong shape (W is d_output × d_input = 3 × 4 here).
    let cfg = SparseLinearConfig::new(4, 3);
    let wrong = CsrPattern::try_new(4, 3, vec![0; 5], vec![]).unwrap();
    let shape_err = |r: Result<SparseLinear, SparseError>| {
        matches!(
            r,
            Err(SparseError::Shape {
                expected: [3, 4],
                got: [4, 3]
            })
        )
    };
    assert!(shape_err(cfg.try_init_with_pattern(&wrong, device)));
    assert!(shape_err(
        cfg.init_with_mask(&Mask::new(4, 3).unwrap(), device)
    ));
    let dense = LinearConfig::new(4, 3).init(device);
    assert!(shape_err(SparseLinear::from_linear(
        &dense,
        &Mask::new(4, 3).unwrap()
    )));
    assert!(shape_err(SparseLinear::from_linear_pattern(&dense, &wrong)));
    assert!(MaskedLinear::from_linear(&dense, &Mask::new(4, 3).unwrap()).is_err());
}

/// `from_linear(&Linear, &Mask)` keeps exactly the masked weights of the dense layer, and both
/// layers give the mask back.
pub fn mask_constructors(device: &Device, tol: f64) {
    let (d_in, d_out) = (19, 6);
    let dense = LinearConfig::new(d_in, d_out).init(device);
    let mut r = rng(11);
    let bools: Vec<bool> = random_vec(d_out * d_in, &mut r)
        .iter()
        .map(|v| *v > 0.3)
        .collect();
    let mask = Mask::from_bools(&bools, d_out, d_in).unwrap();
    let sparse = SparseLinear::from_linear(&dense, &mask).unwrap();
    let masked = MaskedLinear::from_linear(&dense, &mask).unwrap();
    assert_eq!(sparse.nnz(), mask.count_ones());
    assert_eq!(sparse.mask(), mask);
    assert_eq!(masked.mask(), mask);
    // Reference: the dense weight (stored d_in × d_out) with the mask applied by hand.
    let w = host(dense.weight.val());
    let mut wm = vec![0.0f32; d_in * d_out];
    for i in 0..d_out {
        for j in 0..d_in {
            if mask.get(i, j) {
                wm[j * d_out + i] = w[j * d_out + i];
            }
        }
    }
    let mut reference = dense.clone();
    reference.weight = burn::module::Param::from_tensor(t2(&wm, [d_in, d_out], device));
    let x = rand_t2([4, d_in], 2, device);
    let want = to64(&host(reference.forward(x.clone())));
    assert_close(
        &host(sparse.forward(x.clone())),
        &want,
        tol,
        "from_linear (sparse)",
    );
    assert_close(&host(masked.forward(x)), &want, tol, "from_linear (masked)");
    // init_with_mask puts its non-zeros exactly on the mask.
    let fresh = SparseLinearConfig::new(d_in, d_out)
        .init_with_mask(&mask, device)
        .unwrap();
    assert_eq!(fresh.mask(), mask);
}

fn train<M: Module>(
    mut model: M,
    fwd: impl Fn(&M, Tensor<2>) -> Tensor<2>,
    x: &Tensor<2>,
    y: &Tensor<2>,
    steps: usize,
) -> M {
    let mut optim = AdamConfig::new().init();
    for _ in 0..steps {
        let d = fwd(&model, x.clone()) - y.clone();
        let loss = (d.clone() * d).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-2, model, grads);
    }
    model
}

/// SparseLinear and MaskedLinear with the same mask, init, data and Adam end with the same
/// weights, and MaskedLinear's off-mask weights never move.
pub fn training_equivalence(device: &Device, tol: f64) {
    let ad = device.clone().autodiff();
    let (d_in, d_out, batch, steps) = (19, 11, 16, 25);
    let linear = LinearConfig::new(d_in, d_out).init(&ad);
    let pattern = sparsekit_tensor::random_pattern(d_out, d_in, 0.8, Some(3)).unwrap();
    let sparse = SparseLinear::from_linear_pattern(&linear, &pattern).unwrap();
    let masked = MaskedLinear::from_linear_pattern(&linear, &pattern).unwrap();
    let w0 = host(masked.weight.val());
    let x = rand_t2([batch, d_in], 10, &ad);
    let y = rand_t2([batch, d_out], 11, &ad);

    let sparse = train(sparse, |m, x| m.forward(x), &x, &y, steps);
    let masked = train(masked, |m, x| m.forward(x), &x, &y, steps);

    let ws = host(sparse.weight().to_dense());
    let wm = host(masked.masked_weight());
    assert_close(&ws, &to64(&wm), tol * 10.0, "weights after training");
    let bs = host(sparse.bias.as_ref().unwrap().val());
    let bm = host(masked.bias.as_ref().unwrap().val());
    assert_close(&bs, &to64(&bm), tol * 10.0, "bias after training");
    // the weights did move, and off-mask weights of MaskedLinear did not
    assert!(rel_err(&ws, &to64(&w0)) > 1e-3, "training changed nothing");
    let mask = host(masked.mask.val().float());
    let w1 = host(masked.weight.val());
    for i in 0..w0.len() {
        if mask[i] == 0.0 {
            assert_eq!(w1[i], w0[i], "off-mask weight {i} moved");
        }
    }
    // the sparse layer's trainable state is nnz-sized
    assert_eq!(sparse.values.val().dims(), [pattern.nnz()]);
}

/// The gradient of SparseLinear's weight is a 1-D nnz tensor (never a dense m × k one).
pub fn gradient_is_nnz_sized(device: &Device, _tol: f64) {
    let ad = device.clone().autodiff();
    let layer = SparseLinearConfig::new(40, 30)
        .with_sparsity(0.9)
        .with_seed(Some(1))
        .init(&ad);
    let x = rand_t2([4, 40], 3, &ad);
    let grads = layer.forward(x).sum().backward();
    let g = layer.values.val().grad(&grads).unwrap();
    assert_eq!(g.dims(), [layer.nnz()]);
}

/// A layer of realistic size (784 → 300, 92 % sparse, batch 128): output and gradients agree with
/// the dense masked layer.
pub fn large_layer_matches_masked(device: &Device, tol: f64) {
    let ad = device.clone().autodiff();
    let layer = SparseLinearConfig::new(784, 300)
        .with_sparsity(0.92)
        .with_seed(Some(5))
        .init(&ad);
    let masked = layer.to_masked();
    let x = rand_t2([128, 784], 21, &ad).require_grad();
    let g = rand_t2([128, 300], 22, &ad);
    let ys = layer.forward(x.clone());
    let ym = masked.forward(x.clone());
    assert_close(&host(ys.clone()), &to64(&host(ym.clone())), tol, "forward");
    let gs = (ys * g.clone()).sum().backward();
    let gm = (ym * g).sum().backward();
    let dense_grad = masked.weight.val().grad(&gm).unwrap();
    // the dense gradient at the pattern = the sparse values' gradient
    let at_pattern =
        sparsekit_tensor::SparseTensor::from_dense_pattern(dense_grad, &layer.pattern()).unwrap();
    let sparse_grad = layer.values.val().grad(&gs).unwrap();
    let (dxs, dxm) = (x.grad(&gs).unwrap(), x.grad(&gm).unwrap());
    assert_close(&host(dxs), &to64(&host(dxm)), tol, "dX");
    assert_close(
        &host(sparse_grad),
        &to64(&host(at_pattern.values().clone())),
        tol,
        "dW",
    );
}

/// Saving and loading the record restores the pattern and the values.
pub fn record_round_trip(device: &Device, _tol: f64) {
    let config = SparseLinearConfig::new(17, 9).with_sparsity(0.75);
    let a = config.clone().with_seed(Some(1)).init(device);
    let bytes = a.clone().into_record().into_bytes().unwrap();
    let record = ModuleRecord::from_bytes(bytes).unwrap();
    let b = config.with_seed(Some(2)).init(device);
    assert_ne!(
        b.pattern(),
        a.pattern(),
        "the two seeds give different patterns"
    );
    let b = b.load_record(record);
    assert_eq!(b.pattern(), a.pattern());
    assert_eq!(host(b.values.val()), host(a.values.val()));
    assert_eq!(
        host(b.bias.as_ref().unwrap().val()),
        host(a.bias.as_ref().unwrap().val())
    );
    let x = rand_t2([3, 17], 5, device);
    assert_eq!(host(b.forward(x.clone())), host(a.forward(x)));
    // MaskedLinear keeps its mask in the record too
    let m = a.to_masked();
    let record = ModuleRecord::from_bytes(m.clone().into_record().into_bytes().unwrap()).unwrap();
    let m2 = SparseLinearConfig::new(17, 9)
        .with_sparsity(0.75)
        .with_seed(Some(9))
        .init(device)
        .to_masked()
        .load_record(record);
    assert_eq!(m2.pattern(), m.pattern());
}

macro_rules! suite {
    ($($dev:ident => $device:expr, $tol:expr;)*) => {$(
        mod $dev {
            use super::*;
            fn device() -> Device { $device }
            #[test] fn forward_matches_dense() { super::forward_matches_dense(&device(), $tol) }
            #[test] fn config_errors() { super::config_errors(&device(), $tol) }
            #[test] fn mask_constructors() { super::mask_constructors(&device(), $tol) }
            #[test] fn training_equivalence() { super::training_equivalence(&device(), $tol) }
            #[test] fn gradient_is_nnz_sized() { super::gradient_is_nnz_sized(&device(), $tol) }
            #[test] fn large_layer_matches_masked() { super::large_layer_matches_masked(&device(), $tol) }
            #[test] fn record_round_trip() { super::record_round_trip(&device(), $tol) }
        }
    )*};
}

suite! {
    flex => Device::flex(), 1e-5;
    ndarray => Device::ndarray(), 1e-5;
    wgpu => wgpu_device(), 1e-4;
}
