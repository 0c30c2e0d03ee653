//! Block-sparse attention on every device: forward against an f64 host reference and against
//! burn's dense `attention` with the equivalent boolean mask; gradients (q, k, v) under autodiff
//! against dense autodiff of the same masked attention written with burn ops, and against finite
//! differences; shared and per-head layouts, causal and random partial tiles, sequences off the
//! block size, block_k > 64 (multi-word tile masks), key padding, query rows with no allowed key
//! (zeros, zero gradients, no NaN), and the typed errors. Written once, instantiated per device
//! at the bottom (wgpu cases are small: lavapipe is slow).
#![allow(deprecated)]

mod common;

use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Tensor, TensorData};
use common::*;
use rand::rngs::StdRng;
use rand::Rng;
use sparsekit_kernels::attention::{BlockLayout, Coverage};
use sparsekit_tensor::{block_sparse_attention, AttentionLayout, SparseError};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// `j <= i`, diagonal tiles partial.
    Causal,
    /// Tiles empty / full / partial at random, partial tiles with a random element predicate.
    Random,
    /// Like `Random`, with query block 0 left without any tile (rows with no allowed key).
    RandomEmptyFirst,
    /// Every pair.
    Full,
}

#[derive(Clone, Copy, Debug)]
pub struct Case {
    b: usize,
    h: usize,
    lq: usize,
    lk: usize,
    d: usize,
    dv: usize,
    bq: usize,
    bk: usize,
    kind: Kind,
    per_head: bool,
    /// Pad the last `pad` keys of the last batch entry.
    pad: usize,
}

#[allow(clippy::too_many_arguments)]
const fn case(
    b: usize,
    h: usize,
    lq: usize,
    lk: usize,
    d: usize,
    dv: usize,
    bq: usize,
    bk: usize,
    kind: Kind,
    per_head: bool,
    pad: usize,
) -> Case {
    Case {
        b,
        h,
        lq,
        lk,
        d,
        dv,
        bq,
        bk,
        kind,
        per_head,
        pad,
    }
}

const CPU_CASES: &[Case] = &[
    case(1, 2, 70, 70, 8, 5, 16, 16, Kind::Causal, false, 0),
    case(2, 2, 33, 47, 4, 3, 8, 16, Kind::Random, true, 6),
    case(2, 3, 21, 21, 5, 4, 4, 4, Kind::RandomEmptyFirst, false, 3),
    case(1, 1, 40, 150, 6, 3, 16, 70, Kind::Random, false, 0),
    case(2, 1, 9, 13, 3, 2, 4, 8, Kind::Full, false, 13),
    case(1, 2, 64, 64, 16, 16, 32, 32, Kind::Causal, true, 5),
];

const WGPU_CASES: &[Case] = &[
    case(1, 2, 37, 37, 8, 5, 16, 16, Kind::Causal, false, 0),
    case(2, 2, 19, 23, 4, 3, 8, 8, Kind::Random, true, 5),
    case(1, 2, 13, 13, 3, 2, 4, 4, Kind::RandomEmptyFirst, false, 2),
];

/// A deterministic pseudo-random predicate on (seed, i, j).
fn coin(seed: u64, i: usize, j: usize, p_num: u64) -> bool {
    let mut x = seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (j as u64) << 32;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x % 10 < p_num
}

fn layout_of(c: &Case, head: usize) -> BlockLayout {
    let seed = 1 + head as u64 * 7919;
    let kind = c.kind;
    BlockLayout::from_fn(
        c.lq,
        c.lk,
        c.bq,
        c.bk,
        |r, t| match kind {
            Kind::Causal | Kind::Full => Coverage::Partial,
            Kind::RandomEmptyFirst if r == 0 => Coverage::Empty,
            Kind::Random | Kind::RandomEmptyFirst => match (seed + 3 * r as u64 + 5 * t as u64) % 3
            {
                0 => Coverage::Empty,
                1 => Coverage::Full,
                _ => Coverage::Partial,
            },
        },
        |i, j| match kind {
            Kind::Causal => j <= i,
            Kind::Full => true,
            Kind::Random | Kind::RandomEmptyFirst => coin(seed, i, j, 6),
        },
    )
    .unwrap()
}

fn attention_layout(c: &Case) -> (AttentionLayout, Vec<BlockLayout>) {
    if c.per_head {
        let ls: Vec<_> = (0..c.h).map(|h| layout_of(c, h)).collect();
        (AttentionLayout::per_head(ls.clone()).unwrap(), ls)
    } else {
        let l = layout_of(c, 0);
        (AttentionLayout::shared(l.clone()), vec![l])
    }
}

/// `allowed[((b·h + hh)·lq + i)·lk + j]`: the layout and the key padding.
fn allowed(c: &Case, layouts: &[BlockLayout]) -> Vec<bool> {
    let dense: Vec<Vec<bool>> = layouts.iter().map(|l| l.to_dense_mask()).collect();
    let mut out = vec![false; c.b * c.h * c.lq * c.lk];
    for b in 0..c.b {
        for hh in 0..c.h {
            let m = &dense[if c.per_head { hh } else { 0 }];
            for i in 0..c.lq {
                for j in 0..c.lk {
                    let padded = b + 1 == c.b && j + c.pad >= c.lk;
                    out[((b * c.h + hh) * c.lq + i) * c.lk + j] = m[i * c.lk + j] && !padded;
                }
            }
        }
    }
    out
}

fn key_padding(c: &Case, device: &Device) -> Option<Tensor<2, Bool>> {
    (c.pad > 0).then(|| {
        let v: Vec<bool> = (0..c.b * c.lk)
            .map(|e| e / c.lk + 1 == c.b && e % c.lk + c.pad >= c.lk)
            .collect();
        Tensor::from_data(TensorData::new(v, [c.b, c.lk]), device)
    })
}

fn t4(v: &[f32], shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), device)
}

fn uniform(len: usize, r: &mut StdRng) -> Vec<f32> {
    (0..len).map(|_| r.random_range(-1.5f32..1.5)).collect()
}

struct Inputs {
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    g: Vec<f32>,
}

fn inputs(c: &Case, r: &mut StdRng) -> Inputs {
    Inputs {
        q: uniform(c.b * c.h * c.lq * c.d, r),
        k: uniform(c.b * c.h * c.lk * c.d, r),
        v: uniform(c.b * c.h * c.lk * c.dv, r),
        g: uniform(c.b * c.h * c.lq * c.dv, r),
    }
}

fn scale(c: &Case) -> f64 {
    1.0 / (c.d as f64).sqrt()
}

/// f64 reference: the output, `[b, h, lq, dv]`; rows with no allowed key are zero.
fn reference(c: &Case, q: &[f64], k: &[f64], v: &[f64], ok: &[bool]) -> Vec<f64> {
    let mut out = vec![0.0; c.b * c.h * c.lq * c.dv];
    for bh in 0..c.b * c.h {
        for i in 0..c.lq {
            let row = (bh * c.lq + i) * c.lk;
            let s: Vec<f64> = (0..c.lk)
                .map(|j| {
                    (0..c.d)
                        .map(|t| q[(bh * c.lq + i) * c.d + t] * k[(bh * c.lk + j) * c.d + t])
                        .sum::<f64>()
                        * scale(c)
                })
                .collect();
            let m = (0..c.lk)
                .filter(|&j| ok[row + j])
                .map(|j| s[j])
                .fold(f64::NEG_INFINITY, f64::max);
            if m == f64::NEG_INFINITY {
                continue;
            }
            let p: Vec<f64> = (0..c.lk)
                .map(|j| if ok[row + j] { (s[j] - m).exp() } else { 0.0 })
                .collect();
            let l: f64 = p.iter().sum();
            for e in 0..c.dv {
                out[(bh * c.lq + i) * c.dv + e] = (0..c.lk)
                    .map(|j| p[j] * v[(bh * c.lk + j) * c.dv + e])
                    .sum::<f64>()
                    / l;
            }
        }
    }
    out
}

/// Whether row `(bh, i)` has an allowed key.
fn row_valid(c: &Case, ok: &[bool]) -> Vec<bool> {
    (0..c.b * c.h * c.lq)
        .map(|r| ok[r * c.lk..(r + 1) * c.lk].iter().any(|&a| a))
        .collect()
}

fn assert_finite(v: &[f32], what: &str) {
    assert!(v.iter().all(|x| x.is_finite()), "{what}: non-finite value");
}

fn ours(c: &Case, x: &Inputs, layout: &AttentionLayout, device: &Device) -> Tensor<4> {
    block_sparse_attention(
        t4(&x.q, [c.b, c.h, c.lq, c.d], device),
        t4(&x.k, [c.b, c.h, c.lk, c.d], device),
        t4(&x.v, [c.b, c.h, c.lk, c.dv], device),
        layout,
        key_padding(c, device),
        None,
    )
    .unwrap()
}

/// Dense masked attention written with burn ops (differentiable): additive `-1e9` on blocked
/// pairs, softmax, and rows with no allowed key multiplied by 0.
fn dense_ops(
    c: &Case,
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    ok: &[bool],
    device: &Device,
) -> Tensor<4> {
    let bias: Vec<f32> = ok.iter().map(|&a| if a { 0.0 } else { -1e9 }).collect();
    let valid: Vec<f32> = row_valid(c, ok)
        .iter()
        .map(|&a| if a { 1.0 } else { 0.0 })
        .collect();
    let s =
        q.matmul(k.swap_dims(2, 3)) * (scale(c) as f32) + t4(&bias, [c.b, c.h, c.lq, c.lk], device);
    let p = burn::tensor::activation::softmax(s, 3);
    p.matmul(v) * t4(&valid, [c.b, c.h, c.lq, 1], device)
}

pub fn forward(device: &Device, tol: f64, cases: &[Case]) {
    let mut r = rng(71);
    for c in cases {
        let (layout, ls) = attention_layout(c);
        let ok = allowed(c, &ls);
        let x = inputs(c, &mut r);
        let got = host(ours(c, &x, &layout, device));
        assert_finite(&got, &format!("{c:?}"));
        let want = reference(c, &to64(&x.q), &to64(&x.k), &to64(&x.v), &ok);
        assert_close(&got, &want, tol, &format!("forward vs f64 {c:?}"));
        // burn's dense attention with the equivalent mask (true = masked), on rows that have an
        // allowed key (burn leaves all-masked rows undefined).
        let mask: Vec<bool> = ok.iter().map(|&a| !a).collect();
        let dense = host(attention(
            t4(&x.q, [c.b, c.h, c.lq, c.d], device),
            t4(&x.k, [c.b, c.h, c.lk, c.d], device),
            t4(&x.v, [c.b, c.h, c.lk, c.dv], device),
            Some(Tensor::from_data(
                TensorData::new(mask, [c.b, c.h, c.lq, c.lk]),
                device,
            )),
            None,
            AttentionModuleOptions::default(),
        ));
        let valid = row_valid(c, &ok);
        let pick = |v: &[f32]| -> Vec<f32> {
            v.chunks(c.dv)
                .zip(&valid)
                .filter(|(_, &ok)| ok)
                .flat_map(|(r, _)| r.to_vec())
                .collect()
        };
        let dense64: Vec<f64> = pick(&dense).iter().map(|&x| x as f64).collect();
        assert_close(
            &pick(&got),
            &dense64,
            tol * 10.0,
            &format!("forward vs burn {c:?}"),
        );
        // Rows with no allowed key are exactly zero.
        for (row, ok) in got.chunks(c.dv.max(1)).zip(&valid) {
            if !ok {
                assert!(row.iter().all(|&x| x == 0.0), "{c:?}: empty row not zero");
            }
        }
    }
}

fn grad4(t: &Tensor<4>, g: &burn::tensor::Gradients, len: usize) -> Vec<f32> {
    t.grad(g).map(host).unwrap_or_else(|| vec![0.0; len])
}

/// `(dq, dk, dv)` of `sum(g ∘ f(q, k, v))`.
fn grads(
    c: &Case,
    x: &Inputs,
    device: &Device,
    f: impl Fn(Tensor<4>, Tensor<4>, Tensor<4>) -> Tensor<4>,
) -> [Vec<f32>; 3] {
    let ad = device.clone().autodiff();
    let q = t4(&x.q, [c.b, c.h, c.lq, c.d], &ad).require_grad();
    let k = t4(&x.k, [c.b, c.h, c.lk, c.d], &ad).require_grad();
    let v = t4(&x.v, [c.b, c.h, c.lk, c.dv], &ad).require_grad();
    let out = f(q.clone(), k.clone(), v.clone());
    let gr = (out * t4(&x.g, [c.b, c.h, c.lq, c.dv], &ad))
        .sum()
        .backward();
    [
        grad4(&q, &gr, x.q.len()),
        grad4(&k, &gr, x.k.len()),
        grad4(&v, &gr, x.v.len()),
    ]
}

pub fn gradients(device: &Device, tol: f64, cases: &[Case]) {
    let mut r = rng(72);
    for c in cases {
        let (layout, ls) = attention_layout(c);
        let ok = allowed(c, &ls);
        let x = inputs(c, &mut r);
        let ad = device.clone().autodiff();
        let got = grads(c, &x, device, |q, k, v| {
            block_sparse_attention(q, k, v, &layout, key_padding(c, &ad), None).unwrap()
        });
        let want = grads(c, &x, device, |q, k, v| dense_ops(c, q, k, v, &ok, &ad));
        for (name, (g, w)) in ["dq", "dk", "dv"].iter().zip(got.iter().zip(&want)) {
            assert_finite(g, &format!("{name} {c:?}"));
            assert_close(
                g,
                &to64(w),
                tol * 10.0,
                &format!("{name} vs dense autodiff {c:?}"),
            );
        }
        // Rows with no allowed key have zero dq.
        for (row, ok) in got[0].chunks(c.d).zip(row_valid(c, &ok)) {
            if !ok {
                assert!(
                    row.iter().all(|&x| x == 0.0),
                    "{c:?}: empty row dq not zero"
                );
            }
        }
    }
}

pub fn finite_differences(device: &Device, _tol: f64) {
    let mut r = rng(73);
    for c in [
        case(1, 2, 6, 7, 3, 2, 4, 4, Kind::Causal, true, 0),
        case(2, 1, 5, 6, 2, 3, 2, 4, Kind::RandomEmptyFirst, false, 2),
    ] {
        let (layout, ls) = attention_layout(&c);
        let ok = allowed(&c, &ls);
        let x = inputs(&c, &mut r);
        let ad = device.clone().autodiff();
        let [dq, dk, dv] = grads(&c, &x, device, |q, k, v| {
            block_sparse_attention(q, k, v, &layout, key_padding(&c, &ad), None).unwrap()
        });
        let g = to64(&x.g);
        let loss = |q: &[f64], k: &[f64], v: &[f64]| -> f64 {
            reference(&c, q, k, v, &ok)
                .iter()
                .zip(&g)
                .map(|(a, b)| a * b)
                .sum()
        };
        let (q, k, v) = (to64(&x.q), to64(&x.k), to64(&x.v));
        assert_fd(|p| loss(p, &k, &v), &x.q, &dq, 1e-3, "fd dq", &mut r);
        assert_fd(|p| loss(&q, p, &v), &x.k, &dk, 1e-3, "fd dk", &mut r);
        assert_fd(|p| loss(&q, &k, p), &x.v, &dv, 1e-3, "fd dv", &mut r);
    }
}

/// Every query row masked (all keys padded): zeros and zero gradients, no NaN.
pub fn all_masked(device: &Device, _tol: f64) {
    let mut r = rng(74);
    let c = case(2, 2, 9, 11, 4, 3, 4, 4, Kind::Causal, false, 11);
    let c1 = Case { b: 1, ..c };
    let (layout, _) = attention_layout(&c1);
    let x = inputs(&c1, &mut r);
    let out = host(ours(&c1, &x, &layout, device));
    assert!(out.iter().all(|&v| v == 0.0), "all-masked output not zero");
    let ad = device.clone().autodiff();
    let gs = grads(&c1, &x, device, |q, k, v| {
        block_sparse_attention(q, k, v, &layout, key_padding(&c1, &ad), None).unwrap()
    });
    for g in &gs {
        assert!(g.iter().all(|&v| v == 0.0), "all-masked gradient not zero");
    }
    // A layout with no tile at all.
    let empty =
        AttentionLayout::shared(BlockLayout::from_block_mask(5, 6, 2, 2, &[false; 9]).unwrap());
    let out = block_sparse_attention(
        t4(&uniform(5 * 3, &mut r), [1, 1, 5, 3], device),
        t4(&uniform(6 * 3, &mut r), [1, 1, 6, 3], device),
        t4(&uniform(6 * 2, &mut r), [1, 1, 6, 2], device),
        &empty,
        None,
        Some(0.5),
    )
    .unwrap();
    assert!(host(out).iter().all(|&v| v == 0.0));
}

/// A layout reused across calls (its device tables are cached) and an explicit scale.
pub fn reuse_and_scale(device: &Device, tol: f64) {
    let mut r = rng(75);
    let c = case(1, 2, 12, 12, 4, 3, 4, 4, Kind::Random, false, 0);
    let (layout, ls) = attention_layout(&c);
    let ok = allowed(&c, &ls);
    for _ in 0..2 {
        let x = inputs(&c, &mut r);
        let got = host(
            block_sparse_attention(
                t4(&x.q, [c.b, c.h, c.lq, c.d], device),
                t4(&x.k, [c.b, c.h, c.lk, c.d], device),
                t4(&x.v, [c.b, c.h, c.lk, c.dv], device),
                &layout,
                None,
                Some(0.5 * scale(&c) as f32),
            )
            .unwrap(),
        );
        let q2: Vec<f64> = x.q.iter().map(|&v| 0.5 * v as f64).collect();
        let want = reference(&c, &q2, &to64(&x.k), &to64(&x.v), &ok);
        assert_close(&got, &want, tol, "explicit scale");
    }
}

#[test]
fn errors() {
    let device = Device::flex();
    let z = |s: [usize; 4]| Tensor::<4>::zeros(s, &device);
    let l = AttentionLayout::shared(BlockLayout::full(5, 6, 2, 4).unwrap());
    let call = |q, k, v, l: &AttentionLayout, p| block_sparse_attention(q, k, v, l, p, None);
    assert!(call(z([1, 2, 5, 3]), z([1, 2, 6, 3]), z([1, 2, 6, 4]), &l, None).is_ok());
    let shape_err = |r: Result<Tensor<4>, SparseError>, t: &str| match r {
        Err(SparseError::AttentionShape { tensor, .. }) => assert_eq!(tensor, t),
        other => panic!("expected a shape error on {t}, got {other:?}"),
    };
    shape_err(
        call(z([1, 2, 5, 3]), z([1, 2, 6, 4]), z([1, 2, 6, 4]), &l, None),
        "k",
    );
    shape_err(
        call(z([1, 2, 5, 3]), z([2, 2, 6, 3]), z([1, 2, 6, 4]), &l, None),
        "k",
    );
    shape_err(
        call(z([1, 2, 5, 3]), z([1, 2, 6, 3]), z([1, 2, 5, 4]), &l, None),
        "v",
    );
    shape_err(
        call(z([1, 2, 5, 3]), z([1, 2, 6, 3]), z([1, 1, 6, 4]), &l, None),
        "v",
    );
    shape_err(
        call(z([1, 2, 5, 0]), z([1, 2, 6, 0]), z([1, 2, 6, 4]), &l, None),
        "q",
    );
    let pad = Tensor::<2, Bool>::from_data(TensorData::new(vec![false; 5], [1, 5]), &device);
    shape_err(
        call(
            z([1, 2, 5, 3]),
            z([1, 2, 6, 3]),
            z([1, 2, 6, 4]),
            &l,
            Some(pad),
        ),
        "key_padding",
    );
    let layout_err = |r: Result<Tensor<4>, SparseError>| {
        assert!(matches!(r, Err(SparseError::Layout(_))), "{r:?}")
    };
    // Sequence lengths differ from the layout's.
    layout_err(call(
        z([1, 2, 4, 3]),
        z([1, 2, 6, 3]),
        z([1, 2, 6, 4]),
        &l,
        None,
    ));
    layout_err(call(
        z([1, 2, 5, 3]),
        z([1, 2, 7, 3]),
        z([1, 2, 7, 4]),
        &l,
        None,
    ));
    // Per-head layouts: count must match the heads; sizes must agree.
    let three = AttentionLayout::per_head(vec![BlockLayout::full(5, 6, 2, 4).unwrap(); 3]).unwrap();
    assert_eq!(three.heads(), Some(3));
    layout_err(call(
        z([1, 2, 5, 3]),
        z([1, 2, 6, 3]),
        z([1, 2, 6, 4]),
        &three,
        None,
    ));
    assert!(matches!(
        AttentionLayout::per_head(vec![]),
        Err(SparseError::Layout(_))
    ));
    assert!(matches!(
        AttentionLayout::per_head(vec![
            BlockLayout::full(5, 6, 2, 4).unwrap(),
            BlockLayout::full(5, 6, 4, 4).unwrap()
        ]),
        Err(SparseError::Layout(_))
    ));
}

macro_rules! suite {
    ($($dev:ident => $device:expr, $tol:expr, $cases:expr;)*) => {$(
        mod $dev {
            use super::*;
            fn device() -> Device { $device }
            #[test] fn forward() { super::forward(&device(), $tol, $cases) }
            #[test] fn gradients() { super::gradients(&device(), $tol, $cases) }
            #[test] fn finite_differences() { super::finite_differences(&device(), $tol) }
            #[test] fn all_masked() { super::all_masked(&device(), $tol) }
            #[test] fn reuse_and_scale() { super::reuse_and_scale(&device(), $tol) }
        }
    )*};
}

suite! {
    flex => Device::flex(), 1e-5, CPU_CASES;
    ndarray => Device::ndarray(), 1e-5, CPU_CASES;
    wgpu => wgpu_device(), 1e-4, WGPU_CASES;
}
