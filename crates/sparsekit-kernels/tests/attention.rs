//! Block-sparse flash attention (forward and backward) against the dense f64 reference
//! (`reference::block_attention_*`), against finite differences, on every ISA, across thread
//! counts, and on malformed input.
//!
//! Tolerance: f32 results `x` against f64 references `w` pass when
//! `|x − w| ≤ 1e-5 · (|w| + ‖w‖∞)` per tensor (the 1e-5 relative error, measured against
//! the tensor's scale so that entries near zero after cancellation do not fail on rounding).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sparsekit_kernels::attention::{Coverage, FULL};
use sparsekit_kernels::{
    block_attention_backward, block_attention_backward_isa, block_attention_forward,
    block_attention_forward_isa, reference, AttentionShape, BlockLayout, Isa, KernelError,
};

const TOL: f64 = 1e-5;

fn uniform(r: &mut StdRng, n: usize, amp: f32) -> Vec<f32> {
    (0..n).map(|_| r.random_range(-amp..amp)).collect()
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Full,
    Causal,
    /// Keys within `w` positions before the query (partial tiles on both band edges).
    Window(usize),
    /// Random full tiles (`density`) plus the diagonal; block row 1 is empty.
    Blocks(f64),
    /// Random element mask (every kept tile partial).
    Elements,
}

fn layout(r: &mut StdRng, kind: Kind, sq: usize, sk: usize, bq: usize, bk: usize) -> BlockLayout {
    match kind {
        Kind::Full => BlockLayout::full(sq, sk, bq, bk).unwrap(),
        Kind::Causal => {
            BlockLayout::from_fn(sq, sk, bq, bk, |_, _| Coverage::Partial, |i, j| j <= i).unwrap()
        }
        Kind::Window(w) => BlockLayout::from_fn(
            sq,
            sk,
            bq,
            bk,
            |_, _| Coverage::Partial,
            |i, j| j <= i && i - j < w,
        )
        .unwrap(),
        Kind::Blocks(p) => {
            let (qb, kb) = (sq.div_ceil(bq), sk.div_ceil(bk));
            let keep: Vec<bool> = (0..qb * kb)
                .map(|t| {
                    let (a, b) = (t / kb, t % kb);
                    a != 1 && (a == b || r.random_bool(p))
                })
                .collect();
            BlockLayout::from_block_mask(sq, sk, bq, bk, &keep).unwrap()
        }
        Kind::Elements => {
            let seed: u64 = r.random();
            BlockLayout::from_fn(
                sq,
                sk,
                bq,
                bk,
                |_, _| Coverage::Partial,
                move |i, j| {
                    let h = (i as u64 * 0x9E37_79B9 + j as u64 * 0x85EB_CA6B) ^ seed;
                    h.wrapping_mul(0xC2B2_AE35) >> 61 != 0
                },
            )
            .unwrap()
        }
    }
}

fn close(what: &str, got: &[f32], want: &[f64], tol: f64, floor: f64) {
    assert_eq!(got.len(), want.len(), "{what}");
    let norm = want.iter().fold(floor, |a, w| a.max(w.abs()));
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= tol * (w.abs() + norm),
            "{what}[{i}]: {g} vs {w} (norm {norm})"
        );
    }
}

fn close_lse(what: &str, got: &[f32], want: &[f64]) {
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        if w == f64::NEG_INFINITY {
            assert_eq!(g, f32::NEG_INFINITY, "{what}[{i}]");
        } else {
            assert!(
                (g as f64 - w).abs() <= TOL * (1.0 + w.abs()),
                "{what}[{i}]: {g} vs {w}"
            );
        }
    }
}

struct Case {
    shape: AttentionShape,
    layouts: Vec<BlockLayout>,
    key_mask: Option<Vec<bool>>,
    scale: f32,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    d_out: Vec<f32>,
}

#[allow(clippy::too_many_arguments)]
fn case(
    r: &mut StdRng,
    (batch, heads, seq_q, seq_k): (usize, usize, usize, usize),
    (head_dim, value_dim): (usize, usize),
    (bq, bk): (usize, usize),
    kinds: &[Kind],
    per_head: bool,
    pad_keys: bool,
    amp: f32,
) -> Case {
    let shape = AttentionShape {
        batch,
        heads,
        seq_q,
        seq_k,
        head_dim,
        value_dim,
    };
    let n = if per_head { heads } else { 1 };
    let layouts = (0..n)
        .map(|h| layout(r, kinds[h % kinds.len()], seq_q, seq_k, bq, bk))
        .collect();
    // Batch 0 keeps every key; later batches pad a random tail (batch 1 pads all keys when
    // there are 3 or more batches: every query fully masked).
    let key_mask = pad_keys.then(|| {
        (0..batch * seq_k)
            .map(|t| {
                let (b, j) = (t / seq_k, t % seq_k);
                match b {
                    0 => true,
                    1 if batch >= 3 => false,
                    _ => j < seq_k * 2 / 3 || r.random_bool(0.3),
                }
            })
            .collect()
    });
    let bh = batch * heads;
    Case {
        shape,
        layouts,
        key_mask,
        scale: 1.0 / (head_dim as f32).sqrt(),
        q: uniform(r, bh * seq_q * head_dim, amp),
        k: uniform(r, bh * seq_k * head_dim, amp),
        v: uniform(r, bh * seq_k * value_dim, 1.0),
        d_out: uniform(r, bh * seq_q * value_dim, 1.0),
    }
}

struct Grads {
    out: Vec<f32>,
    lse: Vec<f32>,
    dq: Vec<f32>,
    dk: Vec<f32>,
    dv: Vec<f32>,
}

fn run(c: &Case, isa: Isa) -> Grads {
    let s = c.shape;
    let bh = s.batch * s.heads;
    let mut g = Grads {
        out: vec![f32::NAN; bh * s.seq_q * s.value_dim],
        lse: vec![f32::NAN; bh * s.seq_q],
        dq: vec![f32::NAN; c.q.len()],
        dk: vec![f32::NAN; c.k.len()],
        dv: vec![f32::NAN; c.v.len()],
    };
    let km = c.key_mask.as_deref();
    block_attention_forward_isa(
        isa, &c.q, &c.k, &c.v, s, &c.layouts, km, c.scale, &mut g.out, &mut g.lse,
    )
    .unwrap();
    block_attention_backward_isa(
        isa, &c.q, &c.k, &c.v, &g.out, &g.lse, &c.d_out, s, &c.layouts, km, c.scale, &mut g.dq,
        &mut g.dk, &mut g.dv,
    )
    .unwrap();
    g
}

fn check_against_reference(c: &Case, what: &str) {
    check_with_floor(c, what, 0.0)
}

/// `grad_floor`: the smallest scale `dQ`, `dK` are measured against. With logits of ±1e4 the
/// softmax rows are near one-hot, `dS = P∘(dP − D)` cancels to ~0 and its f32 rounding
/// (`2⁻²⁴·|dO|·|V|`) is multiplied by `scale·|K|` (resp. `|Q|`) ≈ 100: the test measures `dQ`,
/// `dK` against that scale.
fn check_with_floor(c: &Case, what: &str, grad_floor: f64) {
    let km = c.key_mask.as_deref();
    let (o, l) =
        reference::block_attention_forward(&c.q, &c.k, &c.v, c.shape, &c.layouts, km, c.scale);
    let (dq, dk, dv) = reference::block_attention_backward(
        &c.q, &c.k, &c.v, &c.d_out, c.shape, &c.layouts, km, c.scale,
    );
    for isa in Isa::available() {
        let g = run(c, isa);
        let w = format!("{what} {isa:?}");
        close(&format!("{w} out"), &g.out, &o, TOL, 0.0);
        close_lse(&format!("{w} lse"), &g.lse, &l);
        close(&format!("{w} dq"), &g.dq, &dq, TOL, grad_floor);
        close(&format!("{w} dk"), &g.dk, &dk, TOL, grad_floor);
        close(&format!("{w} dv"), &g.dv, &dv, TOL, 0.0);
        for x in g.out.iter().chain(&g.dq).chain(&g.dk).chain(&g.dv) {
            assert!(x.is_finite(), "{w}: non-finite output");
        }
    }
}

#[test]
fn attention_matches_f64_reference_on_awkward_shapes() {
    let mut r = StdRng::seed_from_u64(17);
    let kinds = [
        Kind::Full,
        Kind::Causal,
        Kind::Window(40),
        Kind::Blocks(0.3),
        Kind::Elements,
    ];
    // (seq_q, seq_k, head_dim, value_dim, block_q, block_k)
    let shapes = [
        (1, 1, 1, 1, 16, 16),
        (63, 63, 16, 16, 16, 16),
        (65, 65, 64, 32, 64, 64),
        (130, 130, 80, 24, 32, 32),
        (130, 65, 16, 80, 64, 16),
        (65, 130, 1, 3, 16, 64),
        (63, 130, 64, 64, 32, 64),
    ];
    for (n, &(sq, sk, d, dv, bq, bk)) in shapes.iter().enumerate() {
        for (m, kind) in kinds.iter().enumerate() {
            let per_head = (n + m) % 2 == 1;
            let pad = (n + m) % 3 != 0;
            let batch = if pad { 3 } else { 1 };
            let c = case(
                &mut r,
                (batch, 2, sq, sk),
                (d, dv),
                (bq, bk),
                &[*kind, kinds[(m + 1) % kinds.len()]],
                per_head,
                pad,
                1.0,
            );
            check_against_reference(&c, &format!("{sq}×{sk} d{d} dv{dv} b{bq}×{bk} {kind:?}"));
        }
    }
}

#[test]
fn empty_rows_fully_masked_queries_and_zero_sizes() {
    let mut r = StdRng::seed_from_u64(3);
    // Block row 1 of `Blocks` is empty, and batch 1 pads every key.
    let c = case(
        &mut r,
        (3, 2, 70, 70),
        (16, 16),
        (16, 16),
        &[Kind::Blocks(0.2)],
        false,
        true,
        1.0,
    );
    check_against_reference(&c, "masked");
    let g = run(&c, Isa::detect());
    let s = c.shape;
    for h in 0..s.heads {
        // Batch 1: every query sees nothing.
        let bh = s.heads + h;
        for i in 0..s.seq_q {
            assert_eq!(g.lse[bh * s.seq_q + i], f32::NEG_INFINITY);
            assert!(g.out[(bh * s.seq_q + i) * 16..][..16]
                .iter()
                .all(|&x| x == 0.0));
            assert!(g.dq[(bh * s.seq_q + i) * 16..][..16]
                .iter()
                .all(|&x| x == 0.0));
        }
        assert!(g.dk[bh * 70 * 16..][..70 * 16].iter().all(|&x| x == 0.0));
        // Batch 0: queries 16..32 (empty block row) see nothing.
        for i in 16..32 {
            assert_eq!(g.lse[h * s.seq_q + i], f32::NEG_INFINITY);
        }
    }
    // Zero sizes are fine.
    for (b, sq, sk) in [(0, 5, 5), (1, 0, 5), (1, 5, 0), (1, 0, 0)] {
        let c = case(
            &mut r,
            (b, 2, sq, sk),
            (4, 4),
            (4, 4),
            &[Kind::Full],
            false,
            false,
            1.0,
        );
        check_against_reference(&c, &format!("zero {b} {sq} {sk}"));
    }
}

#[test]
fn large_logits_stay_finite_and_accurate() {
    let mut r = StdRng::seed_from_u64(5);
    // |q|, |k| ≈ 100 with d = 16: logits of ±1e4·scale and beyond.
    let mut c = case(
        &mut r,
        (1, 2, 70, 70),
        (16, 8),
        (32, 32),
        &[Kind::Causal, Kind::Elements],
        true,
        false,
        100.0,
    );
    // Mostly one-hot softmax rows; scale 1 gives |logits| up to ~1e5.
    c.scale = 1.0;
    check_with_floor(&c, "large logits", 100.0);
}

#[test]
fn gradients_match_finite_differences() {
    let mut r = StdRng::seed_from_u64(11);
    for kind in [Kind::Causal, Kind::Elements, Kind::Window(5)] {
        let c = case(
            &mut r,
            (2, 1, 9, 11),
            (3, 2),
            (4, 4),
            &[kind],
            false,
            true,
            1.0,
        );
        let g = run(&c, Isa::detect());
        // L = Σ O ∘ dO, evaluated in f64 by the reference.
        let loss = |q: &[f32], k: &[f32], v: &[f32]| -> f64 {
            let (o, _) = reference::block_attention_forward(
                q,
                k,
                v,
                c.shape,
                &c.layouts,
                c.key_mask.as_deref(),
                c.scale,
            );
            o.iter().zip(&c.d_out).map(|(a, b)| a * *b as f64).sum()
        };
        let h = 1e-2f32;
        for (name, which, grad) in [("dq", 0, &g.dq), ("dk", 1, &g.dk), ("dv", 2, &g.dv)] {
            for i in 0..grad.len() {
                let mut x = [c.q.clone(), c.k.clone(), c.v.clone()];
                let x0 = x[which][i];
                x[which][i] = x0 + h;
                let up = loss(&x[0], &x[1], &x[2]);
                x[which][i] = x0 - h;
                let down = loss(&x[0], &x[1], &x[2]);
                let fd = (up - down) / ((x0 + h) as f64 - (x0 - h) as f64);
                assert!(
                    (grad[i] as f64 - fd).abs() <= 1e-3 * (1.0 + fd.abs()),
                    "{kind:?} {name}[{i}]: {} vs finite difference {fd}",
                    grad[i]
                );
            }
        }
    }
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let mut r = StdRng::seed_from_u64(23);
    let c = case(
        &mut r,
        (2, 3, 200, 190),
        (32, 16),
        (32, 32),
        &[Kind::Blocks(0.4), Kind::Causal, Kind::Elements],
        true,
        true,
        1.0,
    );
    let runs: Vec<Grads> = [1, 2, 3]
        .iter()
        .map(|&n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap()
                .install(|| run(&c, Isa::detect()))
        })
        .collect();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for g in &runs[1..] {
        assert_eq!(bits(&g.out), bits(&runs[0].out));
        assert_eq!(bits(&g.lse), bits(&runs[0].lse));
        assert_eq!(bits(&g.dq), bits(&runs[0].dq));
        assert_eq!(bits(&g.dk), bits(&runs[0].dk));
        assert_eq!(bits(&g.dv), bits(&runs[0].dv));
    }
}

#[test]
fn malformed_inputs_are_typed_errors() {
    let mut r = StdRng::seed_from_u64(1);
    let c = case(
        &mut r,
        (2, 2, 8, 8),
        (4, 4),
        (4, 4),
        &[Kind::Full],
        false,
        true,
        1.0,
    );
    let s = c.shape;
    let (no, nl) = (2 * 2 * 8 * 4, 2 * 2 * 8);
    let fwd = |s: AttentionShape,
               q: &[f32],
               layouts: &[BlockLayout],
               km: Option<&[bool]>,
               scale: f32,
               no: usize,
               nl: usize|
     -> Result<(), KernelError> {
        let (mut o, mut l) = (vec![0.0; no], vec![0.0; nl]);
        block_attention_forward(q, &c.k, &c.v, s, layouts, km, scale, &mut o, &mut l)
    };
    let km = c.key_mask.as_deref();
    assert!(fwd(s, &c.q, &c.layouts, km, 0.5, no, nl).is_ok());
    assert!(fwd(s, &c.q[1..], &c.layouts, km, 0.5, no, nl).is_err());
    assert!(fwd(s, &c.q, &c.layouts, km, 0.5, no + 1, nl).is_err());
    assert!(fwd(s, &c.q, &c.layouts, km, 0.5, no, nl - 1).is_err());
    assert!(fwd(s, &c.q, &c.layouts, Some(&[true; 3]), 0.5, no, nl).is_err());
    assert!(fwd(s, &c.q, &c.layouts, km, f32::NAN, no, nl).is_err());
    let three = vec![c.layouts[0].clone(); 3];
    assert!(fwd(s, &c.q, &three, km, 0.5, no, nl).is_err());
    assert!(fwd(s, &c.q, &[], km, 0.5, no, nl).is_err());
    let two = vec![c.layouts[0].clone(); 2];
    assert!(fwd(s, &c.q, &two, km, 0.5, no, nl).is_ok());
    let short = BlockLayout::full(7, 8, 4, 4).unwrap();
    assert!(fwd(s, &c.q, &[short], km, 0.5, no, nl).is_err());
    let zero_d = AttentionShape { head_dim: 0, ..s };
    assert!(fwd(zero_d, &[], &c.layouts, km, 0.5, no, nl).is_err());
    let huge = AttentionShape {
        batch: usize::MAX,
        ..s
    };
    assert!(fwd(huge, &c.q, &c.layouts, None, 0.5, no, nl).is_err());
    // Backward: each buffer.
    let (mut o, mut l) = (vec![0.0; no], vec![0.0; nl]);
    block_attention_forward(&c.q, &c.k, &c.v, s, &c.layouts, km, 0.5, &mut o, &mut l).unwrap();
    let (mut dq, mut dk, mut dv) = (
        vec![0.0; c.q.len()],
        vec![0.0; c.k.len()],
        vec![0.0; c.v.len()],
    );
    let ok = block_attention_backward(
        &c.q, &c.k, &c.v, &o, &l, &c.d_out, s, &c.layouts, km, 0.5, &mut dq, &mut dk, &mut dv,
    );
    assert!(ok.is_ok());
    for bad in 0..9 {
        let mut bufs: Vec<Vec<f32>> = vec![
            c.q.clone(),
            c.k.clone(),
            c.v.clone(),
            o.clone(),
            l.clone(),
            c.d_out.clone(),
            dq.clone(),
            dk.clone(),
            dv.clone(),
        ];
        bufs[bad].pop();
        let [q, k, v, o, l, g, mut dq, mut dk, mut dv] = <[Vec<f32>; 9]>::try_from(bufs).unwrap();
        let e = block_attention_backward(
            &q, &k, &v, &o, &l, &g, s, &c.layouts, km, 0.5, &mut dq, &mut dk, &mut dv,
        );
        assert!(
            matches!(e, Err(KernelError::ShapeMismatch { .. })),
            "buffer {bad}: {e:?}"
        );
    }
    // A partial-tile layout is accepted with FULL marks elsewhere.
    assert!(c.layouts[0].tile_masks().iter().all(|&m| m == FULL));
}
