//! The `attention` suite: sparse attention against dense attention and the Python peers, same
//! shapes, same threads, one run (BENCH.md's `attention` row).
//!
//! - **Sparse normalisers** on `rows × n` logits (`randn · 3`, as the peer script): sparsemax,
//!   entmax-1.5 and α-entmax by bisection (α = 1.5) through `sparsekit_tensor::normalize` on
//!   Flex, forward (`op` = the normaliser) and forward + backward under autodiff (`…_fwdbwd`,
//!   the backward of `⟨P, G⟩` for a random `G`). Baseline: burn's `softmax` on the same device
//!   and logits (interleaved). Peers (`extra`): the `entmax` package and `torch.softmax`
//!   (`peers/sae_attn_peers.py --only simplex`). `sparsity` is the measured fraction of exact
//!   zeros of the output.
//! - **Block-sparse attention** `(B, H, L, d) = (1, 8, L, 64)`, block 64, through
//!   `sparsekit_tensor::block_sparse_attention` on Flex, forward and forward + backward, with two
//!   layouts: `rand10` (each head keeps a random 10 % of its 64×64 tiles plus the diagonal, as
//!   the peer script's block mask) and `window` (sliding window ±256 keys plus 64 global tokens:
//!   a long-context layout whose work grows as `L`). Baseline: burn's dense `attention` op on the
//!   same device (Flex's flash kernel forward; under autodiff burn's fallback, which holds the
//!   `L × L` scores — not run at L = 16384, a note says so). Peers (`extra`): torch SDPA dense
//!   forward and forward + backward, and SDPA with the 10 % boolean block mask
//!   (`peers/sae_attn_peers.py --only attn`, at the lengths it times). `sparsity` is the
//!   fraction of `(query, key)` pairs skipped; `gflops_effective` counts `4·d` flops per kept
//!   pair forward and `12·d` forward + backward (no recomputation counted).
//!
//! Every row checks its result once against the dense reference (`max_rel_err`): the
//! normalisers' against an f64 sort-based sparsemax / entmax on the host, the attention's
//! against burn's `attention` with the equivalent boolean mask (L ≤ 4096).

use std::collections::HashMap;

use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{activation, Bool, Device, Distribution, Tensor, TensorData};
use serde_json::{Map, Value};
use sparsekit_attn::pattern::Pattern;
use sparsekit_kernels::attention::BlockLayout;
use sparsekit_measure::peers;
use sparsekit_measure::row::{Line, Row, Shape};
use sparsekit_measure::timing::{measure_interleaved, Stats, Timing};
use sparsekit_tensor::normalize;
use sparsekit_tensor::{block_sparse_attention, AttentionLayout};

use crate::{input, peer_script};

/// A normaliser case: `rows × n` logits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SimplexCase {
    /// Rows normalised independently.
    pub rows: usize,
    /// Entries per row.
    pub n: usize,
}

/// An attention case: `(B, H, L, d)`, block size 64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AttnCase {
    /// Batch.
    pub batch: usize,
    /// Heads.
    pub heads: usize,
    /// Sequence length (queries = keys).
    pub len: usize,
    /// Head dimension.
    pub dim: usize,
}

/// Block size of the layouts.
const BLOCK: usize = 64;
/// Longest sequence whose dense fwd + bwd (burn's autodiff fallback holds `B·H·L²` scores and
/// their gradient) is run.
const DENSE_BWD_MAX_LEN: usize = 8192;
/// Longest sequence whose result is checked against dense masked attention (an `H·L²` mask).
const CHECK_MAX_LEN: usize = 4096;

/// BENCH.md's cases: normalisers `[4096, 1024]` (q) and `[1024, 4096]`; attention
/// `(1, 8, 4096, 64)` (q), and `L` from 1k to 16k for the scaling plot.
pub fn cases(quick: bool) -> (Vec<SimplexCase>, Vec<AttnCase>) {
    let simplex = if quick {
        vec![SimplexCase {
            rows: 4096,
            n: 1024,
        }]
    } else {
        vec![
            SimplexCase {
                rows: 4096,
                n: 1024,
            },
            SimplexCase {
                rows: 1024,
                n: 4096,
            },
        ]
    };
    let lens: &[usize] = if quick {
        &[4096]
    } else {
        &[1024, 2048, 4096, 8192, 16384]
    };
    let attn = lens
        .iter()
        .map(|&len| AttnCase {
            batch: 1,
            heads: 8,
            len,
            dim: 64,
        })
        .collect();
    (simplex, attn)
}

/// Peer seconds by key (`simplex_maps` by `(rows, n)`, `sdpa` by `L`).
#[derive(Default)]
struct PeerTimes {
    simplex: HashMap<(usize, usize), Map<String, Value>>,
    sdpa: HashMap<usize, Map<String, Value>>,
}

fn peer_times(quick: bool, threads: usize, notes: &mut Vec<String>) -> PeerTimes {
    let mut out = PeerTimes::default();
    let Some(python) = peers::peers_python() else {
        notes.push(
            "attention suite: no peers venv (PEERS_PY or ~/.cache/sparsekit-peers, see \
             peers/setup.sh): rows without entmax / torch SDPA columns"
                .into(),
        );
        return out;
    };
    let Some(script) = peer_script::shared_sae_attn_script() else {
        notes.push("attention suite: peers/sae_attn_peers.py not found".into());
        return out;
    };
    for only in ["simplex", "attn"] {
        let mut a = vec!["--only", only];
        if quick {
            a.push("--quick");
        }
        eprintln!(
            "  attention peers: sae_attn_peers.py {} ({threads} threads) …",
            a.join(" ")
        );
        let args = peer_script::with_cpu_count(threads, &script, &a);
        match peer_script::run_python(&python, &args, threads, "attention suite: peers") {
            Ok(stdout) => {
                for v in peer_script::json_lines(&stdout, "simplex_maps") {
                    let (Some(r), Some(n)) = (v["rows"].as_u64(), v["n"].as_u64()) else {
                        continue;
                    };
                    if let Value::Object(m) = v {
                        out.simplex.insert((r as usize, n as usize), m);
                    }
                }
                for v in peer_script::json_lines(&stdout, "sdpa") {
                    let Some(l) = v["L"].as_u64() else { continue };
                    if let Value::Object(m) = v {
                        out.sdpa.insert(l as usize, m);
                    }
                }
            }
            Err(e) => notes.push(e),
        }
    }
    out
}

fn peer(m: Option<&Map<String, Value>>, key: &str) -> Option<f64> {
    m.and_then(|m| m.get(key))
        .and_then(Value::as_f64)
        .filter(|s| *s > 0.0)
}

/// The three normalisers, by row name.
#[derive(Clone, Copy, Debug)]
enum Map3 {
    Sparsemax,
    Entmax15,
    Bisect15,
}

impl Map3 {
    fn name(self) -> &'static str {
        match self {
            Map3::Sparsemax => "sparsemax",
            Map3::Entmax15 => "entmax15",
            Map3::Bisect15 => "entmax_bisect_a1.5",
        }
    }
    fn apply(self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Map3::Sparsemax => normalize::sparsemax(x, 1),
            Map3::Entmax15 => normalize::entmax15(x, 1),
            Map3::Bisect15 => normalize::entmax_bisect(x, 1.5, 1),
        }
    }
    /// The package's forward / forward + backward columns of the peer script.
    fn peer_keys(self) -> (&'static str, Option<&'static str>) {
        match self {
            Map3::Sparsemax => ("entmax_sparsemax_fwd_s", Some("entmax_sparsemax_fwdbwd_s")),
            Map3::Entmax15 => ("entmax_entmax15_fwd_s", Some("entmax_entmax15_fwdbwd_s")),
            Map3::Bisect15 => ("entmax_bisect_a1.5_fwd_s", None),
        }
    }
    /// The f64 reference of one row (α = 2: sparsemax).
    fn reference(self, z: &[f32]) -> Vec<f64> {
        let alpha: f64 = match self {
            Map3::Sparsemax => 2.0,
            _ => 1.5,
        };
        entmax_reference(z, alpha)
    }
}

/// The f64 reference of one row: the kernels' sort-based twin (`reference::normalize`).
fn entmax_reference(z: &[f32], alpha: f64) -> Vec<f64> {
    let z: Vec<f64> = z.iter().map(|&v| v as f64).collect();
    sparsekit_kernels::reference::normalize::forward(alpha, &z)
}

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default()
}

#[allow(clippy::too_many_arguments)] // one field per column of the row
fn stats_row(
    op: String,
    format: &str,
    shape: Shape,
    sparsity: f64,
    nnz: usize,
    (s, b): (Stats, Stats),
    baseline: &str,
    gflop: f64,
    max_rel_err: Option<f64>,
    extra: Map<String, Value>,
) -> Row {
    Row {
        suite: "attention".into(),
        op,
        format: format.into(),
        dtype: "f32".into(),
        device: "flex".into(),
        shape,
        sparsity,
        nnz,
        samples: s.samples,
        median_s: s.median_s,
        min_s: s.min_s,
        max_s: s.max_s,
        baseline: baseline.into(),
        baseline_median_s: b.median_s,
        speedup_vs_dense: if s.median_s > 0.0 {
            b.median_s / s.median_s
        } else {
            0.0
        },
        gflops_effective: if s.median_s > 0.0 {
            gflop / s.median_s
        } else {
            0.0
        },
        software_adapter: None,
        max_rel_err,
        extra,
    }
}

/// Adds `name_s` and `speedup_vs_name` (`peer / ours`) to `extra` when the peer ran.
fn put_peer(extra: &mut Map<String, Value>, name: &str, peer_s: Option<f64>, ours: f64) {
    if let Some(p) = peer_s {
        extra.insert(format!("{name}_s"), p.into());
        if ours > 0.0 {
            extra.insert(format!("speedup_vs_{name}"), (p / ours).into());
        }
    }
}

fn run_simplex(
    case: SimplexCase,
    timing: &Timing,
    peers: &PeerTimes,
    seed: u64,
    emit: &mut dyn FnMut(Line),
) {
    let device = Device::flex();
    let ad = Device::flex().autodiff();
    let mut rng = input::rng(seed ^ (case.rows * 131 + case.n) as u64);
    let z: Vec<f32> = input::normal(&mut rng, case.rows * case.n)
        .into_iter()
        .map(|v| 3.0 * v)
        .collect();
    let g = input::normal(&mut rng, case.rows * case.n);
    let shape = Shape {
        m: case.rows,
        k: case.n,
        n: 1,
    };
    let data = |v: &[f32]| TensorData::new(v.to_vec(), [case.rows, case.n]);
    let x = Tensor::<2>::from_data(data(&z), &device);
    let peer_row = peers.simplex.get(&(case.rows, case.n));
    for map in [Map3::Sparsemax, Map3::Entmax15, Map3::Bisect15] {
        eprintln!("  attention {} {}×{} …", map.name(), case.rows, case.n);
        // Correctness once, outside the timed loop: a few rows against the f64 reference.
        let p = host(map.apply(x.clone()));
        let zeros = p.iter().filter(|v| **v == 0.0).count();
        let mut err = 0.0f64;
        for r in (0..case.rows).step_by((case.rows / 16).max(1)) {
            let want = map.reference(&z[r * case.n..(r + 1) * case.n]);
            for (a, b) in p[r * case.n..(r + 1) * case.n].iter().zip(&want) {
                err = err.max((*a as f64 - b).abs());
            }
        }
        let times = measure_interleaved(
            timing,
            || {
                let _ = host(map.apply(x.clone()));
            },
            || {
                let _ = host(activation::softmax(x.clone(), 1));
            },
        );
        let (fwd_key, fwdbwd_key) = map.peer_keys();
        let mut extra = Map::new();
        put_peer(
            &mut extra,
            "entmax_pkg",
            peer(peer_row, fwd_key),
            times.0.median_s,
        );
        put_peer(
            &mut extra,
            "torch_softmax",
            peer(peer_row, "torch_softmax_fwd_s"),
            times.0.median_s,
        );
        emit(Line::Row(Box::new(stats_row(
            map.name().into(),
            "dense",
            shape,
            zeros as f64 / p.len().max(1) as f64,
            p.len() - zeros,
            times,
            "burn_softmax",
            0.0,
            Some(err),
            extra,
        ))));

        // Forward + backward under autodiff.
        let gt = Tensor::<2>::from_data(data(&g), &ad);
        let xa = Tensor::<2>::from_data(data(&z), &ad);
        let fb = |f: &dyn Fn(Tensor<2>) -> Tensor<2>| {
            let x = xa.clone().require_grad();
            let loss = (f(x.clone()) * gt.clone()).sum();
            let grads = loss.backward();
            let _ = x.grad(&grads).map(|g| g.into_data());
        };
        let times = measure_interleaved(
            timing,
            || fb(&|x| map.apply(x)),
            || fb(&|x| activation::softmax(x, 1)),
        );
        let mut extra = Map::new();
        if let Some(k) = fwdbwd_key {
            put_peer(
                &mut extra,
                "entmax_pkg",
                peer(peer_row, k),
                times.0.median_s,
            );
        }
        put_peer(
            &mut extra,
            "torch_softmax",
            peer(peer_row, "torch_softmax_fwdbwd_s"),
            times.0.median_s,
        );
        emit(Line::Row(Box::new(stats_row(
            format!("{}_fwdbwd", map.name()),
            "dense",
            shape,
            zeros as f64 / p.len().max(1) as f64,
            p.len() - zeros,
            times,
            "burn_softmax",
            0.0,
            None,
            extra,
        ))));
    }
}

/// The two layouts of a length: per-head random 10 % tiles + diagonal, and window + global.
fn layouts(case: AttnCase, seed: u64) -> Vec<(&'static str, Vec<BlockLayout>)> {
    let nb = case.len.div_ceil(BLOCK);
    let mut rng = input::rng(seed ^ case.len as u64);
    let rand10: Vec<BlockLayout> = (0..case.heads)
        .map(|_| {
            use rand::Rng;
            let keep: Vec<bool> = (0..nb * nb)
                .map(|t| t / nb == t % nb || rng.random::<f64>() < 0.1)
                .collect();
            BlockLayout::from_block_mask(case.len, case.len, BLOCK, BLOCK, &keep)
                .expect("a valid block mask")
        })
        .collect();
    // ±256 keys around each query (the query itself included), and 64 global tokens.
    let window = Pattern::union([
        Pattern::SlidingWindow {
            width: 257,
            causal: false,
        },
        Pattern::Global {
            tokens: (0..64).collect(),
        },
    ])
    .layout(case.len, case.len, BLOCK)
    .expect("a valid window layout");
    vec![("rand10", rand10), ("window256+global64", vec![window])]
}

fn run_attention(
    case: AttnCase,
    timing: &Timing,
    peers: &PeerTimes,
    seed: u64,
    emit: &mut dyn FnMut(Line),
) {
    let device = Device::flex();
    let ad = Device::flex().autodiff();
    let AttnCase {
        batch: b,
        heads: h,
        len: l,
        dim: d,
    } = case;
    let shape4 = [b, h, l, d];
    let normal = || Distribution::Normal(0.0, 1.0);
    let q = Tensor::<4>::random(shape4, normal(), &device);
    let k = Tensor::<4>::random(shape4, normal(), &device);
    let v = Tensor::<4>::random(shape4, normal(), &device);
    let go = Tensor::<4>::random(shape4, normal(), &ad);
    let peer_row = peers.sdpa.get(&l);
    let dense_fwd = || {
        attention(
            q.clone(),
            k.clone(),
            v.clone(),
            None,
            None,
            AttentionModuleOptions::default(),
        )
    };
    for (name, heads_layouts) in layouts(case, seed) {
        let layout = if heads_layouts.len() == 1 {
            Ok(AttentionLayout::shared(heads_layouts[0].clone()))
        } else {
            AttentionLayout::per_head(heads_layouts.clone())
        };
        let layout = match layout {
            Ok(l) => l,
            Err(e) => {
                emit(Line::Note {
                    note: format!("attention suite: {name} L={l}: {e}"),
                });
                continue;
            }
        };
        let pairs: usize = if heads_layouts.len() == 1 {
            heads_layouts[0].allowed_pairs() * h
        } else {
            heads_layouts.iter().map(BlockLayout::allowed_pairs).sum()
        } * b;
        let tiles: f64 = heads_layouts
            .iter()
            .map(BlockLayout::tile_density)
            .sum::<f64>()
            / heads_layouts.len() as f64;
        let sparsity = 1.0 - pairs as f64 / (b * h * l * l) as f64;
        eprintln!(
            "  attention block {name} L={l} (tiles kept {:.1} %) …",
            100.0 * tiles
        );
        let sparse_fwd = || {
            block_sparse_attention(q.clone(), k.clone(), v.clone(), &layout, None, None)
                .expect("valid shapes")
        };
        let err = (l <= CHECK_MAX_LEN).then(|| {
            let mut mask = Vec::with_capacity(h * l * l);
            for head in 0..h {
                let hl = &heads_layouts[head % heads_layouts.len()];
                mask.extend(hl.to_dense_mask().into_iter().map(|ok| !ok));
            }
            let mask = Tensor::<4, Bool>::from_data(TensorData::new(mask, [1, h, l, l]), &device)
                .expand([b, h, l, l]);
            let want = attention(
                q.clone(),
                k.clone(),
                v.clone(),
                Some(mask),
                None,
                AttentionModuleOptions::default(),
            );
            let got = sparse_fwd();
            let diff: f32 = (got - want.clone()).abs().max().into_scalar::<f32>();
            let scale: f32 = want.abs().max().into_scalar::<f32>();
            diff as f64 / scale.max(f32::MIN_POSITIVE) as f64
        });
        let times = measure_interleaved(
            timing,
            || {
                let _ = sparse_fwd().into_data();
            },
            || {
                let _ = dense_fwd().into_data();
            },
        );
        let mut extra = Map::new();
        extra.insert("batch".into(), b.into());
        extra.insert("heads".into(), h.into());
        extra.insert("tile_density".into(), tiles.into());
        put_peer(
            &mut extra,
            "torch_sdpa",
            peer(peer_row, "torch_sdpa_dense_fwd_s"),
            times.0.median_s,
        );
        if name == "rand10" {
            put_peer(
                &mut extra,
                "torch_sdpa_blockmask",
                peer(peer_row, "torch_sdpa_blockmask10pct_fwd_s"),
                times.0.median_s,
            );
        }
        let shape = Shape { m: l, k: l, n: d };
        emit(Line::Row(Box::new(stats_row(
            "block_attention".into(),
            name,
            shape,
            sparsity,
            pairs,
            times,
            "burn_attention_dense",
            4.0 * pairs as f64 * d as f64 / 1e9,
            err,
            extra.clone(),
        ))));

        // Forward + backward under autodiff.
        let (qa, ka, va) = (
            Tensor::<4>::from_data(q.clone().into_data(), &ad),
            Tensor::<4>::from_data(k.clone().into_data(), &ad),
            Tensor::<4>::from_data(v.clone().into_data(), &ad),
        );
        let fb = |sparse: bool| {
            let (q, k, v) = (
                qa.clone().require_grad(),
                ka.clone().require_grad(),
                va.clone().require_grad(),
            );
            let out = if sparse {
                block_sparse_attention(q.clone(), k.clone(), v.clone(), &layout, None, None)
                    .expect("valid shapes")
            } else {
                attention(
                    q.clone(),
                    k.clone(),
                    v.clone(),
                    None,
                    None,
                    AttentionModuleOptions::default(),
                )
            };
            let grads = (out * go.clone()).sum().backward();
            for t in [q, k, v] {
                let _ = t.grad(&grads).map(|g| g.into_data());
            }
        };
        extra.remove("torch_sdpa_s");
        extra.remove("speedup_vs_torch_sdpa");
        extra.remove("torch_sdpa_blockmask_s");
        extra.remove("speedup_vs_torch_sdpa_blockmask");
        let times = if l <= DENSE_BWD_MAX_LEN {
            measure_interleaved(timing, || fb(true), || fb(false))
        } else {
            emit(Line::Note {
                note: format!(
                    "attention suite: L={l}: no dense fwd+bwd baseline (burn's autodiff \
                     attention holds {} GB of L×L scores per tensor)",
                    (b * h * l * l * 4) as f64 / 1e9
                ),
            });
            let s = sparsekit_measure::timing::measure(timing, || fb(true));
            let zero = Stats {
                samples: 0,
                median_s: 0.0,
                min_s: 0.0,
                max_s: 0.0,
            };
            (s, zero)
        };
        put_peer(
            &mut extra,
            "torch_sdpa",
            peer(peer_row, "torch_sdpa_dense_fwdbwd_s"),
            times.0.median_s,
        );
        emit(Line::Row(Box::new(stats_row(
            "block_attention_fwdbwd".into(),
            name,
            shape,
            sparsity,
            pairs,
            times,
            "burn_attention_dense",
            12.0 * pairs as f64 * d as f64 / 1e9,
            None,
            extra,
        ))));
    }
}

/// Runs the suite: the peers first (subprocesses), then the normalisers and the attention
/// cases on Flex.
pub fn run(quick: bool, timing: &Timing, seed: u64, emit: &mut dyn FnMut(Line)) {
    let threads = rayon::current_num_threads();
    let mut notes = Vec::new();
    let peers = peer_times(quick, threads, &mut notes);
    for note in notes {
        emit(Line::Note { note });
    }
    let (simplex, attn) = cases(quick);
    for case in simplex {
        run_simplex(case, timing, &peers, seed, emit);
    }
    for case in attn {
        run_attention(case, timing, &peers, seed, emit);
    }
}

/// One stderr line per row.
pub fn summary(r: &Row) -> String {
    let peer = r
        .extra
        .iter()
        .filter(|(k, _)| k.starts_with("speedup_vs_"))
        .map(|(k, v)| {
            format!(
                "{}×{:.2}",
                &k["speedup_vs_".len()..],
                v.as_f64().unwrap_or(0.0)
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "  attention {:<26} {:<18} {} sparsity {:.3}  {:>9.3} ms  {} {:>9.3} ms  {:>6.2}×  {peer}",
        r.op,
        r.format,
        r.shape,
        r.sparsity,
        r.median_s * 1e3,
        r.baseline,
        r.baseline_median_s * 1e3,
        r.speedup_vs_dense,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_follow_bench_md() {
        let (s, a) = cases(true);
        assert_eq!(
            s,
            vec![SimplexCase {
                rows: 4096,
                n: 1024
            }]
        );
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].heads, a[0].len, a[0].dim), (8, 4096, 64));
        let (s, a) = cases(false);
        assert_eq!(s.len(), 2);
        assert_eq!(a.first().map(|c| c.len), Some(1024));
        assert_eq!(a.last().map(|c| c.len), Some(16384));
    }

    #[test]
    fn reference_sums_to_one_and_is_sparse() {
        let z = [3.0f32, 1.0, 0.2, -1.0, 2.9];
        for alpha in [1.5, 2.0] {
            let p = entmax_reference(&z, alpha);
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert_eq!(p[3], 0.0);
        }
        // Sparsemax closed form: support {3.0, 2.9}, τ = (5.9 − 1)/2.
        let p = entmax_reference(&z, 2.0);
        assert!((p[0] - 0.55).abs() < 1e-6 && (p[4] - 0.45).abs() < 1e-6);
    }

    #[test]
    fn a_tiny_run_gives_checked_rows() {
        // The kernels keep thread-local scratch alive between calls, freed when a thread exits:
        // run on a thread that ends while the counter tests' lock is held, so that `memory`'s
        // test never sees these allocations (or their release) as its own.
        let _serial = crate::memory::COUNTER_TESTS
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        std::thread::spawn(tiny_run).join().unwrap();
    }

    fn tiny_run() {
        let timing = Timing {
            samples: 2,
            warmup_calls: 1,
            warmup_time: std::time::Duration::ZERO,
        };
        let mut rows = Vec::new();
        let peers = PeerTimes::default();
        run_simplex(
            SimplexCase { rows: 8, n: 37 },
            &timing,
            &peers,
            1,
            &mut |l| rows.push(l),
        );
        run_attention(
            AttnCase {
                batch: 1,
                heads: 2,
                len: 200,
                dim: 16,
            },
            &timing,
            &peers,
            1,
            &mut |l| rows.push(l),
        );
        let rows: Vec<Row> = rows
            .into_iter()
            .filter_map(|l| match l {
                Line::Row(r) => Some(*r),
                Line::Note { .. } => None,
            })
            .collect();
        assert_eq!(rows.len(), 6 + 4);
        for r in &rows {
            assert!(r.median_s > 0.0 && r.baseline_median_s > 0.0, "{r:?}");
            if let Some(e) = r.max_rel_err {
                assert!(e < 1e-4, "{} {}: {e}", r.op, r.format);
            }
        }
    }
}
