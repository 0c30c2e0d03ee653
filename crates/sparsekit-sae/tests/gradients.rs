//! The hand-written backward pass of every architecture against central finite differences of
//! the trainer's own loss (f64 arithmetic on the perturbation; the loss is re-evaluated), on small
//! random SAEs. The loss itself is checked against an f64 evaluation in `training.rs`.

// The f64 references index like the formulas they transcribe.
#![allow(clippy::needless_range_loop)]

use rand::{Rng, SeedableRng};
use sparsekit_sae::train::{BDecInit, TrainConfig};
use sparsekit_sae::{Architecture, Normalization, SaeConfig, Trainer};

fn data(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n * d).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn trainer(arch: Architecture, norm: Normalization, aux: bool) -> (Trainer, Vec<f32>) {
    let (d, m, n) = (7, if aux { 40 } else { 12 }, 9);
    let k = arch.uses_k().then_some(3);
    let mut sae = SaeConfig::new(arch, d, m, k);
    sae.normalize_activations = norm;
    sae.norm_scale = (norm == Normalization::ExpectedAverageOnlyIn).then_some(1.7);
    let cfg = TrainConfig {
        b_dec_init: BDecInit::Zeros,
        normalize_decoder: Some(false),
        dead_after_tokens: if aux { 0 } else { u64::MAX },
        aux_k: Some(4),
        aux_coefficient: 0.5,
        l1_coefficient: 0.3,
        l0_coefficient: 0.2,
        threshold_init: 0.05,
        seed: 3,
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(sae, cfg).unwrap();
    // Non-trivial biases and gated parameters.
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let p = t.params_mut();
    p.b_enc
        .iter_mut()
        .for_each(|v| *v = rng.random_range(-0.2..0.3));
    p.b_dec
        .iter_mut()
        .for_each(|v| *v = rng.random_range(-0.2..0.2));
    if let Some(g) = p.gated.as_mut() {
        g.r_mag
            .iter_mut()
            .for_each(|v| *v = rng.random_range(-0.3..0.3));
        g.b_mag
            .iter_mut()
            .for_each(|v| *v = rng.random_range(-0.2..0.2));
    }
    let x = data(n, d, 5);
    if aux {
        // One step so that the latents that did not fire are dead (dead_after_tokens = 0).
        t.step(&x).unwrap();
    }
    (t, x)
}

/// Compares the analytic gradient of one array with central differences at a few entries.
///
/// Terms with a stop-gradient make the loss's derivative differ from the trained gradient:
/// AuxK's target (the main residual) and the Gated auxiliary loss's decoder. With AuxK only the
/// rows of latents outside this batch's main code are compared (their rows do not move the
/// target); the rows inside must equal the gradient without AuxK. Gated's `w_dec`/`b_dec` are
/// compared after adding the frozen-decoder term back (`expected_detached`).
fn check(arch: Architecture, norm: Normalization, aux: bool) {
    let (mut t, x) = trainer(arch, norm, aux);
    if arch == Architecture::Gated {
        t.params_mut().config.apply_b_dec_to_input = false;
    }
    let g = t.gradients(&x).unwrap();
    let names: &[&str] = match arch {
        Architecture::Gated => &["w_enc", "b_enc", "w_dec", "b_dec", "r_mag", "b_mag"],
        _ => &["w_enc", "b_enc", "w_dec", "b_dec"],
    };
    let d = t.params().config.d_in;
    // Latents of the main code (AuxK case): rows that move the detached target.
    let live: Vec<bool> = if aux {
        let mut cfg = t.config().clone();
        cfg.aux_coefficient = 0.0;
        let g0 = Trainer::from_state(t.state().clone(), cfg)
            .unwrap()
            .gradients(&x)
            .unwrap();
        // Rows with a main-code gradient are live; unless dead too, they must not see AuxK.
        let m = t.params().config.d_sae;
        let dead = t.dead_mask();
        (0..m)
            .map(|j| {
                let row0 = &g0.w_dec[j * d..(j + 1) * d];
                let is_live = row0.iter().any(|v| *v != 0.0);
                if is_live && !dead[j] {
                    assert_eq!(
                        &g.w_dec[j * d..(j + 1) * d],
                        row0,
                        "AuxK leaked into live latent {j}'s decoder gradient"
                    );
                }
                is_live
            })
            .collect()
    } else {
        Vec::new()
    };
    let detached = if arch == Architecture::Gated {
        expected_detached(&t, &x)
    } else {
        (Vec::new(), Vec::new())
    };
    let h = if arch == Architecture::BatchTopK {
        2e-4f32
    } else {
        2e-3f32
    };
    let mut checked = 0;
    for &name in names {
        let analytic: &[f32] = match name {
            "w_enc" => &g.w_enc,
            "b_enc" => &g.b_enc,
            "w_dec" => &g.w_dec,
            "b_dec" => &g.b_dec,
            "r_mag" => &g.r_mag,
            "b_mag" => &g.b_mag,
            _ => unreachable!(),
        };
        let len = analytic.len();
        let stride = if aux { 1 } else { (len / 13).max(1) };
        for idx in (0..len).step_by(stride) {
            if aux && matches!(name, "w_enc" | "w_dec" | "b_enc") {
                let j = if name == "b_enc" { idx } else { idx / d };
                // Live rows move the detached target; rows outside the AuxK code have no
                // gradient and sit next to a selection boundary.
                if live[j] || g.w_dec[j * d..(j + 1) * d].iter().all(|v| *v == 0.0) {
                    continue;
                }
            }
            if aux && name == "b_dec" {
                continue;
            }
            let mut loss_at = |delta: f32| {
                let p = t.params_mut();
                let v = match name {
                    "w_enc" => &mut p.w_enc[idx],
                    "b_enc" => &mut p.b_enc[idx],
                    "w_dec" => &mut p.w_dec[idx],
                    "b_dec" => &mut p.b_dec[idx],
                    "r_mag" => &mut p.gated.as_mut().unwrap().r_mag[idx],
                    "b_mag" => &mut p.gated.as_mut().unwrap().b_mag[idx],
                    _ => unreachable!(),
                };
                let old = *v;
                *v = old + delta;
                let l = t.gradients(&x).unwrap().loss;
                let p = t.params_mut();
                let v = match name {
                    "w_enc" => &mut p.w_enc[idx],
                    "b_enc" => &mut p.b_enc[idx],
                    "w_dec" => &mut p.w_dec[idx],
                    "b_dec" => &mut p.b_dec[idx],
                    "r_mag" => &mut p.gated.as_mut().unwrap().r_mag[idx],
                    "b_mag" => &mut p.gated.as_mut().unwrap().b_mag[idx],
                    _ => unreachable!(),
                };
                *v = old;
                l
            };
            let fd = (loss_at(h) - loss_at(-h)) / (2.0 * h as f64);
            let mut a = analytic[idx] as f64;
            match (arch, name) {
                (Architecture::Gated, "w_dec") => a += detached.0[idx],
                (Architecture::Gated, "b_dec") => a += detached.1[idx],
                _ => {}
            }
            let tol = 2e-3 + 2e-2 * fd.abs().max(a.abs());
            assert!(
                (fd - a).abs() <= tol,
                "{arch} {norm:?} aux={aux}: d loss / d {name}[{idx}] analytic {a} vs finite difference {fd}"
            );
            checked += 1;
        }
    }
    assert!(
        checked > if aux { 4 } else { 20 },
        "only {checked} entries compared"
    );
}

/// Gated's auxiliary loss `mean‖ReLU(π_gate)·W_dec + b_dec − x‖²` through the decoder that the
/// trained gradient treats as frozen: its derivative w.r.t. `w_dec` and `b_dec` (f64).
fn expected_detached(t: &Trainer, x: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let p = t.params();
    let (d, m) = (p.config.d_in, p.config.d_sae);
    let n = x.len() / d;
    let (mut gw, mut gb) = (vec![0.0f64; m * d], vec![0.0f64; d]);
    for i in 0..n {
        let xi = &x[i * d..(i + 1) * d];
        let gate: Vec<f64> = (0..m)
            .map(|j| {
                let s: f64 = (0..d)
                    .map(|c| xi[c] as f64 * p.w_enc[j * d + c] as f64)
                    .sum();
                (s + p.b_enc[j] as f64).max(0.0)
            })
            .collect();
        let r: Vec<f64> = (0..d)
            .map(|c| {
                (0..m)
                    .map(|j| gate[j] * p.w_dec[j * d + c] as f64)
                    .sum::<f64>()
                    + p.b_dec[c] as f64
                    - xi[c] as f64
            })
            .collect();
        for c in 0..d {
            gb[c] += 2.0 / n as f64 * r[c];
            for j in 0..m {
                gw[j * d + c] += 2.0 / n as f64 * gate[j] * r[c];
            }
        }
    }
    (gw, gb)
}

#[test]
fn topk_gradients() {
    check(Architecture::TopK, Normalization::None, false);
}

#[test]
fn topk_gradients_with_auxk_on_dead_latents() {
    check(Architecture::TopK, Normalization::None, true);
}

#[test]
fn batchtopk_gradients() {
    check(Architecture::BatchTopK, Normalization::None, false);
    check(Architecture::BatchTopK, Normalization::None, true);
}

#[test]
fn relu_l1_gradients() {
    check(Architecture::Relu, Normalization::None, false);
}

#[test]
fn jumprelu_gradients() {
    check(Architecture::JumpRelu, Normalization::None, false);
}

#[test]
fn gated_gradients() {
    check(Architecture::Gated, Normalization::None, false);
}

#[test]
fn gradients_under_each_normalisation() {
    for norm in [
        Normalization::ExpectedAverageOnlyIn,
        Normalization::ConstantNormRescale,
        Normalization::LayerNorm,
    ] {
        check(Architecture::TopK, norm, false);
        check(Architecture::Relu, norm, false);
    }
}

/// JumpReLU's threshold gradient is the straight-through estimate, not a derivative: check it
/// against its formula, −(θ/ε)·∂L/∂a − λ/(nε) summed over entries inside the rectangle window,
/// times θ (log-space), on an input built to put entries in the window.
#[test]
fn jumprelu_threshold_gradient_is_the_rectangle_ste() {
    let (d, m, n) = (4, 5, 6);
    let sae = SaeConfig::new(Architecture::JumpRelu, d, m, None);
    let eps = 0.5;
    let cfg = TrainConfig {
        b_dec_init: BDecInit::Zeros,
        bandwidth: eps,
        threshold_init: 0.3,
        l0_coefficient: 0.7,
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(sae, cfg).unwrap();
    let x = data(n, d, 9);
    let g = t.gradients(&x).unwrap();
    let p = t.params().clone();
    // Independent f64 evaluation.
    let mut expect = vec![0.0f64; m];
    let pre = |i: usize, j: usize| -> f64 {
        (0..d)
            .map(|c| (x[i * d + c] - p.b_dec[c]) as f64 * p.w_enc[j * d + c] as f64)
            .sum::<f64>()
            + p.b_enc[j] as f64
    };
    let mut xhat = vec![0.0f64; n * d];
    for i in 0..n {
        for c in 0..d {
            xhat[i * d + c] = p.b_dec[c] as f64;
        }
        for j in 0..m {
            let z = pre(i, j);
            let th = p.threshold.as_ref().unwrap()[j] as f64;
            if z > th && z > 0.0 {
                for c in 0..d {
                    xhat[i * d + c] += z * p.w_dec[j * d + c] as f64;
                }
            }
        }
    }
    let mut in_window = 0;
    for i in 0..n {
        for j in 0..m {
            let z = pre(i, j);
            let th = p.threshold.as_ref().unwrap()[j] as f64;
            if (z - th).abs() < eps as f64 / 2.0 {
                in_window += 1;
                let da: f64 = (0..d)
                    .map(|c| {
                        2.0 / n as f64
                            * (xhat[i * d + c] - x[i * d + c] as f64)
                            * p.w_dec[j * d + c] as f64
                    })
                    .sum();
                expect[j] += (-(th / eps as f64) * da - 0.7 / (n as f64 * eps as f64)) * th;
            }
        }
    }
    assert!(in_window > 0, "test input puts no entry in the window");
    for j in 0..m {
        let a = g.log_threshold[j] as f64;
        assert!(
            (a - expect[j]).abs() <= 1e-4 + 1e-3 * expect[j].abs(),
            "latent {j}: {a} vs {}",
            expect[j]
        );
    }
}
