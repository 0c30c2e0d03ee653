//! Every pattern's layout against a direct element-wise definition, on ragged sizes.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sparsekit_attn::pattern::{moba_layouts, top_k_layout, top_k_layouts, Heads, Pattern};
use sparsekit_attn::AttnError;
use sparsekit_kernels::attention::BlockLayout;

/// (seq_q, seq_k, block): empty, tiny, ragged, exact multiples, cross-attention shapes.
const SIZES: [(usize, usize, usize); 9] = [
    (0, 0, 4),
    (1, 1, 4),
    (7, 7, 4),
    (8, 8, 4),
    (13, 13, 3),
    (10, 6, 4),
    (6, 11, 4),
    (70, 70, 64),
    (9, 9, 1),
];

fn check(p: &Pattern, def: impl Fn(usize, usize, usize, usize) -> bool) {
    for (sq, sk, b) in SIZES {
        let l = p
            .layout(sq, sk, b)
            .unwrap_or_else(|e| panic!("{p:?} {sq}×{sk}/{b}: {e}"));
        assert_eq!((l.seq_q(), l.seq_k(), l.block_q()), (sq, sk, b));
        let dense = l.to_dense_mask();
        let mut count = 0;
        for i in 0..sq {
            for j in 0..sk {
                let want = def(i, j, sq, sk);
                count += want as usize;
                assert_eq!(dense[i * sk + j], want, "{p:?} {sq}×{sk}/{b} ({i},{j})");
            }
        }
        assert_eq!(l.allowed_pairs(), count, "{p:?} {sq}×{sk}/{b}");
        // The parts pass the layout's own checks.
        BlockLayout::new(
            sq,
            sk,
            b,
            b,
            l.row_ptr().to_vec(),
            l.col_idx().to_vec(),
            l.tile_masks().to_vec(),
            l.masks().to_vec(),
        )
        .unwrap();
    }
}

#[test]
fn full_and_causal() {
    check(&Pattern::Full, |_, _, _, _| true);
    check(&Pattern::Causal, |i, j, _, _| j <= i);
}

#[test]
fn sliding_windows() {
    for w in [1, 2, 3, 5, 64] {
        check(
            &Pattern::SlidingWindow {
                width: w,
                causal: false,
            },
            |i, j, _, _| i.abs_diff(j) < w,
        );
        check(
            &Pattern::SlidingWindow {
                width: w,
                causal: true,
            },
            |i, j, _, _| j <= i && i - j < w,
        );
    }
}

#[test]
fn dilated_windows() {
    for (w, d) in [(1, 1), (2, 1), (2, 2), (3, 3), (4, 2), (2, 5)] {
        for causal in [false, true] {
            check(
                &Pattern::Dilated {
                    width: w,
                    dilation: d,
                    causal,
                },
                |i, j, _, _| {
                    let dist = i.abs_diff(j);
                    dist % d == 0 && dist < w * d && (!causal || j <= i)
                },
            );
        }
    }
    // Dilation 1 is the sliding window.
    let a = Pattern::Dilated {
        width: 3,
        dilation: 1,
        causal: true,
    }
    .layout(13, 13, 4)
    .unwrap();
    let b = Pattern::SlidingWindow {
        width: 3,
        causal: true,
    }
    .layout(13, 13, 4)
    .unwrap();
    assert_eq!(a, b);
}

#[test]
fn global_tokens() {
    let p = Pattern::Global { tokens: vec![0, 5] };
    check(&p, |i, j, _, _| i == 0 || i == 5 || j == 0 || j == 5);
    // A token past a sequence only acts on the other one.
    let l = p.layout(4, 6, 4).unwrap();
    assert!(l.allows(3, 5) && !l.allows(3, 4));
}

#[test]
fn compositions() {
    let longformer = Pattern::union([
        Pattern::SlidingWindow {
            width: 2,
            causal: false,
        },
        Pattern::Global { tokens: vec![1] },
    ]);
    check(&longformer, |i, j, _, _| {
        i.abs_diff(j) < 2 || i == 1 || j == 1
    });
    check(&longformer.clone().and_causal(), |i, j, _, _| {
        j <= i && (i.abs_diff(j) < 2 || i == 1 || j == 1)
    });
    let strided = Pattern::intersection([
        Pattern::Dilated {
            width: 4,
            dilation: 2,
            causal: false,
        },
        Pattern::SlidingWindow {
            width: 5,
            causal: false,
        },
    ]);
    check(&strided, |i, j, _, _| {
        let d = i.abs_diff(j);
        d % 2 == 0 && d < 5
    });
    // Serde round trip of a nested pattern.
    let json = serde_json::to_string(&longformer.and_causal()).unwrap();
    let back: Pattern = serde_json::from_str(&json).unwrap();
    assert_eq!(back.layout(13, 13, 3).unwrap().allowed_pairs(), {
        let l = Pattern::union([
            Pattern::SlidingWindow {
                width: 2,
                causal: false,
            },
            Pattern::Global { tokens: vec![1] },
        ])
        .and_causal()
        .layout(13, 13, 3)
        .unwrap();
        l.allowed_pairs()
    });
}

#[test]
fn block_mask() {
    // 10 queries × 6 keys in blocks of 4: a 3 × 2 grid.
    let keep = vec![true, false, false, true, true, true];
    let p = Pattern::BlockMask {
        q_blocks: 3,
        k_blocks: 2,
        keep: keep.clone(),
    };
    let l = p.layout(10, 6, 4).unwrap();
    for i in 0..10 {
        for j in 0..6 {
            assert_eq!(l.allows(i, j), keep[(i / 4) * 2 + j / 4]);
        }
    }
    // The grid must fit the sequences.
    assert!(matches!(
        p.layout(13, 6, 4),
        Err(AttnError::InvalidPattern { .. })
    ));
    let bad = Pattern::BlockMask {
        q_blocks: 3,
        k_blocks: 2,
        keep: vec![true; 5],
    };
    assert!(matches!(bad.layout(10, 6, 4), Err(AttnError::Shape { .. })));
}

#[test]
fn big_bird_is_reproducible_and_counts_its_blocks() {
    let (seq, b) = (61usize, 4usize); // 16 blocks, the last one short
    let nb = seq.div_ceil(b);
    for (window, global, random) in [(1, 1, 2), (0, 2, 3), (2, 0, 1), (1, 1, 100)] {
        let p = |seed| Pattern::BigBird {
            window,
            global,
            random,
            seed,
        };
        let l = p(7).layout(seq, seq, b).unwrap();
        assert_eq!(
            l,
            p(7).layout(seq, seq, b).unwrap(),
            "same seed, same layout"
        );
        if random < 100 {
            assert_ne!(
                l,
                p(8).layout(seq, seq, b).unwrap(),
                "another seed draws others"
            );
        }
        for r in 0..nb {
            let kept: Vec<usize> = l.col_idx()[l.row_ptr()[r]..l.row_ptr()[r + 1]]
                .iter()
                .map(|&c| c as usize)
                .collect();
            // Element-wise: whole tiles.
            for i in r * b..((r + 1) * b).min(seq) {
                for j in 0..seq {
                    assert_eq!(l.allows(i, j), kept.contains(&(j / b)));
                }
            }
            if r < global {
                assert_eq!(kept.len(), nb, "a global query block sees everything");
                continue;
            }
            let fixed = |c: usize| c < global || r.abs_diff(c) <= window;
            assert!((0..nb).filter(|&c| fixed(c)).all(|c| kept.contains(&c)));
            let candidates = (0..nb).filter(|&c| !fixed(c)).count();
            let drawn = kept.iter().filter(|&&c| !fixed(c)).count();
            assert_eq!(drawn, random.min(candidates), "block row {r}");
        }
        // Global key blocks are seen by every query.
        for i in 0..seq {
            for j in 0..(global * b).min(seq) {
                assert!(l.allows(i, j));
            }
        }
    }
}

#[test]
fn typed_errors() {
    assert!(matches!(
        Pattern::Causal.layout(8, 8, 0),
        Err(AttnError::ZeroBlock)
    ));
    let w0 = Pattern::SlidingWindow {
        width: 0,
        causal: true,
    };
    assert!(matches!(
        w0.layout(8, 8, 4),
        Err(AttnError::InvalidPattern { .. })
    ));
    let d0 = Pattern::Dilated {
        width: 2,
        dilation: 0,
        causal: false,
    };
    assert!(matches!(
        d0.validate(),
        Err(AttnError::InvalidPattern { .. })
    ));
    let dw0 = Pattern::Dilated {
        width: 0,
        dilation: 2,
        causal: false,
    };
    assert!(dw0.validate().is_err());
    assert!(Pattern::Union(vec![]).layout(4, 4, 2).is_err());
    // Nested errors surface.
    assert!(Pattern::union([Pattern::Causal, w0])
        .layout(4, 4, 2)
        .is_err());
    let scores = |_: std::ops::Range<usize>, _: &mut [f32]| {};
    assert!(matches!(
        top_k_layout(4, 4, 5, 2, scores),
        Err(AttnError::InvalidK { k: 5, .. })
    ));
    assert!(matches!(
        top_k_layout(4, 4, 0, 2, scores),
        Err(AttnError::InvalidK { .. })
    ));
    assert!(matches!(
        top_k_layout(4, 4, 1, 0, scores),
        Err(AttnError::ZeroBlock)
    ));
    let data = [0f32; 24];
    assert!(matches!(
        Heads::new(&data, 2, 3, 5),
        Err(AttnError::Shape { .. })
    ));
    let q = Heads::new(&data, 2, 3, 4).unwrap();
    let k = Heads::new(&data, 2, 4, 3).unwrap();
    assert!(top_k_layouts(q, k, 1, 2).is_err());
    let k = Heads::new(&data[..16], 2, 2, 4).unwrap();
    assert!(
        moba_layouts(q, k, 1, 2, false).is_err(),
        "MoBA needs seq_q = seq_k"
    );
    assert!(matches!(
        moba_layouts(q, q, 3, 2, false),
        Err(AttnError::InvalidK { .. })
    ));
    assert!(matches!(
        moba_layouts(q, q, 1, 0, false),
        Err(AttnError::ZeroBlock)
    ));
}

fn random_heads(rng: &mut StdRng, n: usize, integers: bool) -> Vec<f32> {
    (0..n)
        .map(|_| {
            if integers {
                rng.random_range(-2i32..=2) as f32
            } else {
                rng.random_range(-1.0f32..1.0) * 10f32.powi(rng.random_range(-2..=1))
            }
        })
        .collect()
}

/// Brute force in f64: the `k` best keys of each query by (score desc, index asc).
fn brute_top_k(
    q: &[f32],
    k: &[f32],
    h: usize,
    sq: usize,
    sk: usize,
    d: usize,
    top: usize,
) -> Vec<Vec<usize>> {
    (0..sq)
        .map(|i| {
            let mut s: Vec<(f64, usize)> = (0..sk)
                .map(|j| {
                    let dot = (0..d)
                        .map(|t| q[(h * sq + i) * d + t] as f64 * k[(h * sk + j) * d + t] as f64)
                        .sum::<f64>();
                    (dot, j)
                })
                .collect();
            s.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(&b.1)));
            let mut keep: Vec<usize> = s[..top].iter().map(|x| x.1).collect();
            keep.sort_unstable();
            keep
        })
        .collect()
}

#[test]
fn top_k_is_exact() {
    let mut rng = StdRng::seed_from_u64(17);
    for case in 0..24 {
        let integers = case % 2 == 0; // many exact ties: the lower index wins
        let heads = rng.random_range(1..=3);
        let sq = rng.random_range(1..=23);
        let sk = rng.random_range(1..=29);
        let d = rng.random_range(1..=8);
        let block = [1, 3, 4, 8, 64][rng.random_range(0..5)];
        let top = rng.random_range(1..=sk);
        let q = random_heads(&mut rng, heads * sq * d, integers);
        let k = random_heads(&mut rng, heads * sk * d, integers);
        let layouts = top_k_layouts(
            Heads::new(&q, heads, sq, d).unwrap(),
            Heads::new(&k, heads, sk, d).unwrap(),
            top,
            block,
        )
        .unwrap();
        assert_eq!(layouts.len(), heads);
        for (h, l) in layouts.iter().enumerate() {
            let want = brute_top_k(&q, &k, h, sq, sk, d, top);
            let dense = l.to_dense_mask();
            for i in 0..sq {
                let got: Vec<usize> = (0..sk).filter(|&j| dense[i * sk + j]).collect();
                assert_eq!(got, want[i], "case {case} head {h} query {i}");
            }
        }
    }
}

#[test]
fn top_k_from_scores_ranks_nan_first() {
    let l = top_k_layout(2, 4, 2, 2, |rows, out: &mut [f32]| {
        for (r, i) in rows.enumerate() {
            let row = if i == 0 {
                [1.0, f32::NAN, 3.0, 3.0]
            } else {
                [0.0, -0.0, 0.0, -1.0]
            };
            out[r * 4..r * 4 + 4].copy_from_slice(&row);
        }
    })
    .unwrap();
    assert_eq!(
        l.to_dense_mask(),
        [false, true, true, false, true, true, false, false]
    );
}

/// MoBA's selection by brute force: own block + the best k − 1 other candidate blocks.
fn brute_moba(
    q: &[f32],
    k: &[f32],
    seq: usize,
    d: usize,
    b: usize,
    top: usize,
    causal: bool,
) -> Vec<bool> {
    let nb = seq.div_ceil(b);
    let pooled: Vec<Vec<f64>> = (0..nb)
        .map(|c| {
            let js = c * b..((c + 1) * b).min(seq);
            let n = js.len() as f64;
            (0..d)
                .map(|t| js.clone().map(|j| k[j * d + t] as f64).sum::<f64>() / n)
                .collect()
        })
        .collect();
    let mut mask = vec![false; seq * seq];
    for i in 0..seq {
        let own = i / b;
        let mut cand: Vec<(f64, usize)> = (0..nb)
            .filter(|&c| c != own && (!causal || c < own))
            .map(|c| ((0..d).map(|t| q[i * d + t] as f64 * pooled[c][t]).sum(), c))
            .collect();
        cand.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(&b.1)));
        let mut blocks: Vec<usize> = cand.iter().take(top - 1).map(|x| x.1).collect();
        blocks.push(own);
        for j in 0..seq {
            mask[i * seq + j] = blocks.contains(&(j / b)) && (!causal || j <= i);
        }
    }
    mask
}

#[test]
fn moba_keeps_the_own_block_and_is_causal() {
    let mut rng = StdRng::seed_from_u64(3);
    for case in 0..20 {
        let seq: usize = rng.random_range(1..=40);
        let d = rng.random_range(1..=6);
        let b = rng.random_range(1..=9);
        let nb = seq.div_ceil(b);
        let top = rng.random_range(1..=nb);
        let causal = case % 2 == 1;
        let heads = 2;
        let q = random_heads(&mut rng, heads * seq * d, false);
        let k = random_heads(&mut rng, heads * seq * d, false);
        let ls = moba_layouts(
            Heads::new(&q, heads, seq, d).unwrap(),
            Heads::new(&k, heads, seq, d).unwrap(),
            top,
            b,
            causal,
        )
        .unwrap();
        for (h, l) in ls.iter().enumerate() {
            let (qh, kh) = (
                &q[h * seq * d..(h + 1) * seq * d],
                &k[h * seq * d..(h + 1) * seq * d],
            );
            assert_eq!(
                l.to_dense_mask(),
                brute_moba(qh, kh, seq, d, b, top, causal),
                "case {case} head {h}"
            );
            for i in 0..seq {
                // Own block: every key of it (at or before i when causal).
                let own = (i / b) * b..((i / b + 1) * b).min(seq);
                for j in own {
                    assert_eq!(l.allows(i, j), !causal || j <= i);
                }
                if causal {
                    assert!((i + 1..seq).all(|j| !l.allows(i, j)), "no future key");
                }
                // At most k blocks (exactly k without the causal cut).
                let blocks = (0..nb)
                    .filter(|&c| (c * b..((c + 1) * b).min(seq)).any(|j| l.allows(i, j)))
                    .count();
                if causal {
                    assert_eq!(blocks, top.min(i / b + 1));
                } else {
                    assert_eq!(blocks, top);
                }
            }
        }
    }
}
