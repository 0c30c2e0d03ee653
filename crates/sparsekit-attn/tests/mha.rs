//! SparseMultiHeadAttention against burn's MultiHeadAttention and against the dense masked
//! computation in f64, on Flex and NdArray (and one wgpu case).
#![allow(deprecated)] // burn's NdArray backend is deprecated upstream but still supported

use burn::nn::attention::{MhaInput, MultiHeadAttentionConfig};
use burn::tensor::{Bool, Device, DeviceKind, Distribution, Tensor, TensorData};
use sparsekit_attn::pattern::{top_k_layouts, Heads};
use sparsekit_attn::{
    AttnError, Normalizer, Pattern, SparseMultiHeadAttention, SparseMultiHeadAttentionConfig,
};
use sparsekit_kernels::attention::BlockLayout;
use sparsekit_tensor::AttentionLayout;

fn cpu_devices() -> Vec<(&'static str, Device)> {
    vec![("flex", Device::flex()), ("ndarray", Device::ndarray())]
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec::<f32>().unwrap()
}

fn rand3(shape: [usize; 3], device: &Device) -> Tensor<3> {
    Tensor::random(shape, Distribution::Uniform(-1.0, 1.0), device)
}

/// Padding: batch row `r` has its last `r` keys padded (`true` = padding).
fn padding(b: usize, s: usize, device: &Device) -> Tensor<2, Bool> {
    let bits: Vec<bool> = (0..b)
        .flat_map(|r| (0..s).map(move |j| j + r >= s))
        .collect();
    Tensor::from_bool(TensorData::new(bits, [b, s]), device)
}

fn max_abs(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y).abs())
        .fold(0.0, f64::max)
}

/// The normalisers' f64 definitions on the allowed entries of a row.
fn softmax64(z: &[f64]) -> Vec<f64> {
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|&x| (x - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

fn sparsemax64(z: &[f64]) -> Vec<f64> {
    let mut s = z.to_vec();
    s.sort_by(|a, b| b.partial_cmp(a).unwrap());
    let (mut cum, mut tau) = (0.0, 0.0);
    for (k, &v) in s.iter().enumerate() {
        cum += v;
        if 1.0 + (k + 1) as f64 * v > cum {
            tau = (cum - 1.0) / (k + 1) as f64;
        }
    }
    z.iter().map(|&x| (x - tau).max(0.0)).collect()
}

/// The module's output computed in f64 from its own projections: scores of the allowed,
/// non-padding keys (`allowed(h, i, j)`), the normaliser, `·v`, then the output projection.
fn reference(
    mha: &SparseMultiHeadAttention,
    xq: &Tensor<3>,
    xkv: &Tensor<3>,
    pad: &[bool],
    allowed: &dyn Fn(usize, usize, usize) -> bool,
    norm: fn(&[f64]) -> Vec<f64>,
) -> Vec<f64> {
    let [b, sq, d] = xq.dims();
    let sk = xkv.dims()[1];
    let (h, dk) = (mha.n_heads, mha.d_k);
    let (q, k) = mha.heads(xq.clone(), xkv.clone());
    let v = mha
        .value
        .forward(xkv.clone())
        .reshape([b, sk, h, dk])
        .swap_dims(1, 2);
    let (q, k, v) = (host(q), host(k), host(v));
    let mut ctx = vec![0f32; b * sq * d];
    for bi in 0..b {
        for hi in 0..h {
            let base_q = (bi * h + hi) * sq * dk;
            let base_k = (bi * h + hi) * sk * dk;
            for i in 0..sq {
                let keys: Vec<usize> = (0..sk)
                    .filter(|&j| !pad[bi * sk + j] && allowed(hi, i, j))
                    .collect();
                if keys.is_empty() {
                    continue;
                }
                let z: Vec<f64> = keys
                    .iter()
                    .map(|&j| {
                        (0..dk)
                            .map(|t| q[base_q + i * dk + t] as f64 * k[base_k + j * dk + t] as f64)
                            .sum::<f64>()
                            / (dk as f64).sqrt()
                    })
                    .collect();
                let p = norm(&z);
                for t in 0..dk {
                    let c: f64 = keys
                        .iter()
                        .zip(&p)
                        .map(|(&j, &pj)| pj * v[base_k + j * dk + t] as f64)
                        .sum();
                    ctx[(bi * sq + i) * d + hi * dk + t] = c as f32;
                }
            }
        }
    }
    let ctx = Tensor::<3>::from_data(TensorData::new(ctx, [b, sq, d]), &xq.device());
    host(mha.output.forward(ctx))
        .into_iter()
        .map(|x| x as f64)
        .collect()
}

/// 1.5-entmax in f64 by bisection on τ (`p = max(z/2 − τ, 0)²`, Σp = 1), to machine precision.
fn entmax15_64(z: &[f64]) -> Vec<f64> {
    let zs: Vec<f64> = z.iter().map(|x| x / 2.0).collect();
    let max = zs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let p = |t: f64| -> Vec<f64> { zs.iter().map(|&v| (v - t).max(0.0).powi(2)).collect() };
    let (mut lo, mut hi) = (max - 1.0, max);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if p(mid).iter().sum::<f64>() >= 1.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let out = p(lo);
    let total: f64 = out.iter().sum();
    out.into_iter().map(|v| v / total).collect()
}

fn module(
    d: usize,
    h: usize,
    normalizer: Normalizer,
    pattern: Option<Pattern>,
    device: &Device,
) -> SparseMultiHeadAttention {
    SparseMultiHeadAttentionConfig::new(d, h)
        .with_dropout(0.0)
        .with_normalizer(normalizer)
        .with_pattern(pattern)
        .with_block(4)
        .init(device)
}

#[test]
fn softmax_without_pattern_is_burns_multi_head_attention() {
    let mut devices = cpu_devices();
    devices.push(("wgpu", Device::wgpu(DeviceKind::Cpu)));
    for (name, device) in devices {
        let (b, sq, sk, d, h) = (3, 5, 7, 16, 4);
        let burn_mha = MultiHeadAttentionConfig::new(d, h)
            .with_dropout(0.0)
            .init(&device);
        let mut mha = module(d, h, Normalizer::Softmax, None, &device);
        mha.query = burn_mha.query.clone();
        mha.key = burn_mha.key.clone();
        mha.value = burn_mha.value.clone();
        mha.output = burn_mha.output.clone();
        let (xq, xk, xv) = (
            rand3([b, sq, d], &device),
            rand3([b, sk, d], &device),
            rand3([b, sk, d], &device),
        );
        let pad = padding(b, sk, &device);
        let want = burn_mha
            .forward(MhaInput::new(xq.clone(), xk.clone(), xv.clone()).mask_pad(pad.clone()))
            .context;
        let got = mha.forward(xq.clone(), xk.clone(), xv.clone(), Some(pad.clone()));
        let want64: Vec<f64> = host(want).into_iter().map(|x| x as f64).collect();
        let err = max_abs(&host(got), &want64);
        assert!(err < 1e-5, "{name}: max|Δ| {err:e}");
        // The explicit path (the weights) agrees too.
        let w = burn_mha
            .forward(MhaInput::new(xq.clone(), xk.clone(), xv).mask_pad(pad.clone()))
            .weights;
        let p = mha.attention_weights(xq, xk, Some(pad));
        let err = max_abs(
            &host(p),
            &host(w).into_iter().map(|x| x as f64).collect::<Vec<_>>(),
        );
        assert!(err < 1e-5, "{name}: weights max|Δ| {err:e}");
    }
}

#[test]
fn softmax_with_a_pattern_is_the_dense_masked_attention() {
    for (name, device) in cpu_devices() {
        let (b, s, d, h) = (2, 11, 12, 3);
        for pattern in [
            Pattern::Causal,
            Pattern::SlidingWindow {
                width: 3,
                causal: false,
            },
            Pattern::union([
                Pattern::Dilated {
                    width: 2,
                    dilation: 3,
                    causal: true,
                },
                Pattern::Global { tokens: vec![4] },
            ]),
            // Query 0 sees no key (only keys 1.. allowed): a zero context.
            Pattern::intersection([Pattern::Full, Pattern::Global { tokens: vec![9] }]),
        ] {
            let mha = module(d, h, Normalizer::Softmax, Some(pattern.clone()), &device);
            let x = rand3([b, s, d], &device);
            let pad = padding(b, s, &device);
            let pad_host: Vec<bool> = (0..b)
                .flat_map(|r| (0..s).map(move |j| j + r >= s))
                .collect();
            let layout = pattern.layout(s, s, 4).unwrap();
            let want = reference(
                &mha,
                &x,
                &x,
                &pad_host,
                &|_, i, j| layout.allows(i, j),
                softmax64,
            );
            let got = host(mha.forward_self(x.clone(), Some(pad)));
            assert!(
                got.iter().all(|v| v.is_finite()),
                "{name} {pattern:?}: not finite"
            );
            let err = max_abs(&got, &want);
            assert!(err < 1e-5, "{name} {pattern:?}: max|Δ| {err:e}");
            // Weights: exact zeros outside the pattern and at padding.
            let p = host(mha.attention_weights(x.clone(), x, Some(padding(b, s, &device))));
            for bi in 0..b {
                for hi in 0..h {
                    for i in 0..s {
                        for j in 0..s {
                            let v = p[((bi * h + hi) * s + i) * s + j];
                            if !layout.allows(i, j) || pad_host[bi * s + j] {
                                assert_eq!(v, 0.0, "{name} {pattern:?}");
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn per_head_top_k_layouts() {
    let device = Device::flex();
    let (b, s, d, h, top) = (1, 9, 8, 2, 3);
    let mha = module(d, h, Normalizer::Softmax, None, &device);
    let x = rand3([b, s, d], &device);
    let (q, k) = mha.heads(x.clone(), x.clone());
    let (q, k) = (host(q), host(k));
    let layouts = top_k_layouts(
        Heads::new(&q, h, s, d / h).unwrap(),
        Heads::new(&k, h, s, d / h).unwrap(),
        top,
        4,
    )
    .unwrap();
    let per_head = AttentionLayout::per_head(layouts.clone()).unwrap();
    let got = host(
        mha.forward_with_layout(x.clone(), x.clone(), x.clone(), None, &per_head)
            .unwrap(),
    );
    let want = reference(
        &mha,
        &x,
        &x,
        &vec![false; s],
        &|hi, i, j| layouts[hi].allows(i, j),
        softmax64,
    );
    let err = max_abs(&got, &want);
    assert!(err < 1e-5, "max|Δ| {err:e}");
    // Wrong layout count or size: typed errors.
    let three = AttentionLayout::per_head(vec![layouts[0].clone(); 3]).unwrap();
    assert!(matches!(
        mha.forward_with_layout(x.clone(), x.clone(), x.clone(), None, &three),
        Err(AttnError::Config(_))
    ));
    let other = AttentionLayout::shared(BlockLayout::full(5, 5, 4, 4).unwrap());
    assert!(mha
        .forward_with_layout(x.clone(), x.clone(), x, None, &other)
        .is_err());
}

#[test]
fn invalid_configurations_are_typed_errors() {
    let device = Device::flex();
    let c = |d, h| SparseMultiHeadAttentionConfig::new(d, h);
    assert!(matches!(
        c(10, 3).try_init(&device),
        Err(AttnError::Config(_))
    ));
    assert!(matches!(
        c(10, 0).try_init(&device),
        Err(AttnError::Config(_))
    ));
    assert!(c(8, 2).with_dropout(1.0).try_init(&device).is_err());
    let alpha = |a| {
        c(8, 2)
            .with_normalizer(Normalizer::Entmax { alpha: a })
            .try_init(&device)
    };
    assert!(alpha(1.0).is_err() && alpha(f64::NAN).is_err());
    let learned = c(8, 2).with_normalizer(Normalizer::EntmaxLearned { init_alpha: 0.5 });
    assert!(learned.try_init(&device).is_err());
    let w0 = Some(Pattern::SlidingWindow {
        width: 0,
        causal: true,
    });
    assert!(matches!(
        c(8, 2).with_pattern(w0).try_init(&device),
        Err(AttnError::InvalidPattern { .. })
    ));
    assert!(matches!(
        c(8, 2)
            .with_pattern(Some(Pattern::Causal))
            .with_block(0)
            .try_init(&device),
        Err(AttnError::ZeroBlock)
    ));
    // The configuration (normaliser and pattern included) round-trips through JSON.
    let cfg = c(8, 2)
        .with_normalizer(Normalizer::Entmax15)
        .with_pattern(Some(Pattern::BigBird {
            window: 1,
            global: 1,
            random: 2,
            seed: 5,
        }));
    let json = serde_json::to_string(&cfg).unwrap();
    let back: SparseMultiHeadAttentionConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back.normalizer, cfg.normalizer);
    assert_eq!(back.pattern, cfg.pattern);
}

/// Sparsemax and 1.5-entmax attention (with and without a pattern, with padding) equal the f64
/// reference; their weights sum to 1 over the allowed keys and have exact zeros among them.
#[test]
fn sparse_normalisers_match_the_f64_reference() {
    for (name, device) in cpu_devices() {
        let (b, s, d, h) = (2, 11, 12, 3);
        for (norm, f) in [
            (Normalizer::Sparsemax, sparsemax64 as fn(&[f64]) -> Vec<f64>),
            (Normalizer::Entmax15, entmax15_64),
        ] {
            for pattern in [
                None,
                Some(Pattern::SlidingWindow {
                    width: 4,
                    causal: true,
                }),
            ] {
                let mha = module(d, h, norm, pattern.clone(), &device);
                // Scaled inputs so that the normalisers have supports smaller than the rows.
                let x = rand3([b, s, d], &device) * 4.0;
                let pad_host: Vec<bool> = (0..b)
                    .flat_map(|r| (0..s).map(move |j| j + r >= s))
                    .collect();
                let layout = pattern.as_ref().map(|p| p.layout(s, s, 4).unwrap());
                let allows = |i, j| layout.as_ref().is_none_or(|l| l.allows(i, j));
                let want = reference(&mha, &x, &x, &pad_host, &|_, i, j| allows(i, j), f);
                let got = host(mha.forward_self(x.clone(), Some(padding(b, s, &device))));
                let err = max_abs(&got, &want);
                assert!(err < 1e-5, "{name} {norm:?} {pattern:?}: max|Δ| {err:e}");
                let p = host(mha.attention_weights(x.clone(), x, Some(padding(b, s, &device))));
                let mut zeros_inside = 0;
                for bi in 0..b {
                    for hi in 0..h {
                        for i in 0..s {
                            let row = &p[((bi * h + hi) * s + i) * s..][..s];
                            let mut sum = 0.0f64;
                            for (j, &v) in row.iter().enumerate() {
                                assert!(v >= 0.0, "{name} {norm:?}: negative weight");
                                if !allows(i, j) || pad_host[bi * s + j] {
                                    assert_eq!(v, 0.0, "{name} {norm:?} {pattern:?}");
                                } else if v == 0.0 {
                                    zeros_inside += 1;
                                }
                                sum += v as f64;
                            }
                            assert!((sum - 1.0).abs() < 1e-5, "{name} {norm:?}: Σp = {sum}");
                        }
                    }
                }
                assert!(
                    zeros_inside > 0,
                    "{name} {norm:?}: no exact zero among allowed keys"
                );
            }
        }
    }
}

/// A learned α per head receives a gradient and moves under an optimizer step.
#[test]
fn learned_alpha_gets_a_gradient_and_moves() {
    use burn_optim::{AdamConfig, GradientsParams};
    let device = Device::flex().autodiff();
    let (b, s, d, h) = (2, 9, 8, 2);
    let mha = module(
        d,
        h,
        Normalizer::EntmaxLearned { init_alpha: 1.5 },
        None,
        &device,
    );
    let before = host(mha.alpha.as_ref().unwrap().alpha());
    assert!(before.iter().all(|a| (a - 1.5).abs() < 1e-5), "{before:?}");
    let x = rand3([b, s, d], &device) * 3.0;
    let target = rand3([b, s, d], &device);
    let loss = (mha.forward_self(x, None) - target).powf_scalar(2.0).mean();
    let grads = loss.backward();
    let raw = mha.alpha.as_ref().unwrap().raw.val();
    let g = host(raw.grad(&grads).expect("α has a gradient"));
    assert!(
        g.iter().all(|v| v.is_finite()) && g.iter().any(|v| *v != 0.0),
        "{g:?}"
    );
    let grads = GradientsParams::from_grads(grads, &mha);
    let mut opt = AdamConfig::new().init();
    let mha = opt.step(0.05, mha, grads);
    let after = host(mha.alpha.as_ref().unwrap().alpha());
    assert!(after.iter().all(|a| *a > 1.0));
    assert!(
        after.iter().zip(&before).any(|(a, b)| (a - b).abs() > 1e-3),
        "α did not move: {before:?} → {after:?}"
    );
}
