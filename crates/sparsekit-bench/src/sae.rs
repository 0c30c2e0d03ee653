//! The `sae` suite: sparse-autoencoder training steps and encodes (`sparsekit-sae`'s fused CPU
//! kernels) against PyTorch and EleutherAI sparsify, same shapes, same thread count, in one run.
//!
//! Rows per case `(d_in, d_sae, k, batch)`:
//! - `train_step` TopK with `Precision::Auto` (bf16 on AMX where the CPU has it; its top-k is
//!   exact) and `Precision::F32`, both with Adam, and Auto with LazyAdam; BatchTopK and JumpReLU
//!   (F32, Adam) on the cases marked `all_archs` (the 384 shape);
//! - `encode` (inference top-k codes of the batch) with Auto and F32.
//!
//! The `dtype` column is the encoder's arithmetic as the kernel reports its path (`bf16-amx`,
//! `bf16`, `f32`). Inputs are random normal activations; each train row warms up with two steps
//! (the first initialises `b_dec` and packs the encoder) before its timed steps.
//!
//! Peers (the peers venv: `PEERS_PY`, else `~/.cache/sparsekit-peers/bin/python`):
//! - training: the shared `peers/sae_attn_peers.py --only sae [--quick]` (PyTorch TopK SAE with a
//!   gather decoder and with a dense decoder, Adam; sparsify's `SparseCoder`), run with
//!   `os.cpu_count()` replaced by rayon's thread count so that `torch.set_num_threads` matches
//!   ours without editing the shared script. A TopK row's baseline is the faster PyTorch
//!   variant (`torch_topk_sae`); sparsify's time and our ratio to it go into `extra`. The
//!   script times TopK only: BatchTopK / JumpReLU rows carry no baseline (ratio 0).
//! - encoding: `scripts/sae_peers_encode.py` (`(x − b_dec)·W_enc + b_enc`, top-k in PyTorch;
//!   `SparseCoder.encode`).
//!
//! Missing Python or peers: a note, and rows without a baseline (ratio 0, never NaN).
//! Memory: `peak_heap_bytes` is the counting allocator's high-water mark during one (untimed)
//! step above the live bytes before it; `state_bytes` the heap the trainer holds between steps
//! (parameters, Adam moments, packed encoder); `peak_rss_bytes` the process's VmHWM over the
//! row (reset before it).

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};
use sparsekit_measure::peers;
use sparsekit_measure::row::{Line, Row, Shape};
use sparsekit_measure::timing::{measure, Stats, Timing};
use sparsekit_sae::train::Optimizer;
use sparsekit_sae::{Architecture, Precision, Sae, SaeConfig, TrainConfig, Trainer};

use crate::{input, memory, peer_script};

/// One SAE shape of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaeCase {
    /// Input (activation) width.
    pub d_in: usize,
    /// Latents.
    pub d_sae: usize,
    /// Active latents per token (TopK, BatchTopK).
    pub k: usize,
    /// Tokens per step / encode.
    pub batch: usize,
    /// Also time BatchTopK and JumpReLU training here.
    pub all_archs: bool,
}

impl SaeCase {
    fn key(&self) -> (usize, usize, usize, usize) {
        (self.d_in, self.d_sae, self.k, self.batch)
    }
}

/// BENCH.md's cases: (768, 24576, 32, 4096) (q) and (384, 12288, 32, 4096) (BatchTopK and
/// JumpReLU too); `--sae-shape` overrides them (every architecture on each).
pub fn cases(quick: bool, overrides: &[SaeCase]) -> Vec<SaeCase> {
    if !overrides.is_empty() {
        return overrides.to_vec();
    }
    let big = SaeCase {
        d_in: 768,
        d_sae: 24576,
        k: 32,
        batch: 4096,
        all_archs: false,
    };
    let small = SaeCase {
        d_in: 384,
        d_sae: 12288,
        k: 32,
        batch: 4096,
        all_archs: true,
    };
    if quick {
        vec![big]
    } else {
        vec![big, small]
    }
}

/// `d_in,d_sae,k,batch` (the `--sae-shape` flag).
pub fn parse_case(s: &str) -> Result<SaeCase, String> {
    let v: Vec<usize> = s
        .split(',')
        .map(|p| p.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{s:?}: {e} (expected d_in,d_sae,k,batch)"))?;
    match v[..] {
        [d_in, d_sae, k, batch] if d_in > 0 && batch > 0 && k > 0 && k <= d_sae => Ok(SaeCase {
            d_in,
            d_sae,
            k,
            batch,
            all_archs: true,
        }),
        _ => Err(format!(
            "{s:?}: expected d_in,d_sae,k,batch (positive, k ≤ d_sae)"
        )),
    }
}

/// Samples per row of this suite under `--quick` when `--samples` is not given: a step at
/// 768×24576 with a 4096-token batch takes 1–2 s on the 2-core machine, and 10 samples of
/// each of its five rows plus the peers would take quick runs well past 5 minutes. Full runs
/// keep the runner's count (BENCH.md's minimum of 10).
pub const QUICK_SAMPLES: usize = 5;

/// The timer of this suite: `samples` timed calls after the row's own warm-up calls (two train
/// steps, one encode), so no further warm-up here.
fn timing(samples: usize) -> Timing {
    Timing {
        samples,
        warmup_calls: 0,
        warmup_time: Duration::ZERO,
    }
}

/// PyTorch / sparsify seconds of one case (medians; `None` where the peer did not run).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct PeerTimes {
    /// PyTorch TopK SAE, gather decoder.
    torch_gather_s: Option<f64>,
    /// PyTorch TopK SAE, dense decoder.
    torch_dense_s: Option<f64>,
    /// The faster PyTorch variant (training), or PyTorch's encode.
    torch_s: Option<f64>,
    /// sparsify's `SparseCoder` (training step or encode).
    sparsify_s: Option<f64>,
}

type Key = (usize, usize, usize, usize);

fn key_of(v: &Value) -> Option<Key> {
    let g = |k: &str| v.get(k).and_then(Value::as_u64).map(|x| x as usize);
    Some((g("d_in")?, g("d_sae")?, g("k")?, g("batch")?))
}

/// The JSON lines of a peer script, by shape.
fn parse_peer_lines(stdout: &str, bench: &str) -> HashMap<Key, PeerTimes> {
    let mut out = HashMap::new();
    for line in stdout.lines().filter(|l| l.trim_start().starts_with('{')) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["bench"] != bench {
            continue;
        }
        let Some(key) = key_of(&v) else { continue };
        let f = |k: &str| v.get(k).and_then(Value::as_f64).filter(|s| *s > 0.0);
        let t = if bench == "sae_topk_train_step" {
            let (g, d) = (f("torch_gather_decoder_s"), f("torch_dense_decoder_s"));
            PeerTimes {
                torch_gather_s: g,
                torch_dense_s: d,
                torch_s: match (g, d) {
                    (Some(g), Some(d)) => Some(g.min(d)),
                    (a, b) => a.or(b),
                },
                sparsify_s: f("sparsify_s"),
            }
        } else {
            PeerTimes {
                torch_s: f("torch_encode_s"),
                sparsify_s: f("sparsify_encode_s"),
                ..Default::default()
            }
        };
        out.insert(key, t);
    }
    out
}

/// The shapes `peers/sae_attn_peers.py --only sae` times (its own list).
fn shared_script_shapes(quick: bool) -> Vec<Key> {
    let mut v = vec![(384, 12288, 32, 4096), (768, 24576, 32, 4096)];
    if !quick {
        v.push((768, 24576, 32, 512));
    }
    v
}

/// Training-step peers of the cases (the shared script), by shape; notes for what is missing.
fn train_peers(
    python: &Path,
    cases: &[SaeCase],
    quick: bool,
    threads: usize,
    notes: &mut Vec<String>,
) -> HashMap<Key, PeerTimes> {
    let known = shared_script_shapes(quick);
    if !cases.iter().any(|c| known.contains(&c.key())) {
        notes.push(format!(
            "sae suite: no training peers: peers/sae_attn_peers.py times only the shapes {known:?}"
        ));
        return HashMap::new();
    }
    let Some(script) = peer_script::shared_sae_attn_script() else {
        notes.push(
            "sae suite: no training peers: peers/sae_attn_peers.py not found (set SPARSEKIT_PEERS_DIR)"
                .into(),
        );
        return HashMap::new();
    };
    let only: &[&str] = if quick {
        &["--only", "sae", "--quick"]
    } else {
        &["--only", "sae"]
    };
    let args = peer_script::with_cpu_count(threads, &script, only);
    eprintln!(
        "  sae    peers: {} {} --only sae{} ({threads} threads) …",
        python.display(),
        script.display(),
        if quick { " --quick" } else { "" }
    );
    match peer_script::run_python(python, &args, threads, "sae suite: peers/sae_attn_peers.py") {
        Ok(stdout) => {
            let found = parse_peer_lines(&stdout, "sae_topk_train_step");
            if found.values().all(|t| t.sparsify_s.is_none()) {
                notes.push(
                    "sae suite: sparsify did not import in the peers venv: no sparsify training times"
                        .into(),
                );
            }
            found
        }
        Err(e) => {
            notes.push(e);
            HashMap::new()
        }
    }
}

/// Encode peers of the cases (`scripts/sae_peers_encode.py`), by shape.
fn encode_peers(
    python: &Path,
    cases: &[SaeCase],
    samples: usize,
    threads: usize,
    notes: &mut Vec<String>,
) -> HashMap<Key, PeerTimes> {
    let script = peer_script::workspace_root().join("scripts/sae_peers_encode.py");
    let mut args = vec![script.display().to_string()];
    for c in cases {
        args.push("--shape".into());
        args.push(format!("{},{},{},{}", c.d_in, c.d_sae, c.k, c.batch));
    }
    args.extend([
        "--threads".into(),
        threads.to_string(),
        "--samples".into(),
        samples.to_string(),
    ]);
    eprintln!("  sae    peers: scripts/sae_peers_encode.py ({threads} threads) …");
    match peer_script::run_python(
        python,
        &args,
        threads,
        "sae suite: scripts/sae_peers_encode.py",
    ) {
        Ok(stdout) => parse_peer_lines(&stdout, "sae_topk_encode"),
        Err(e) => {
            notes.push(e);
            HashMap::new()
        }
    }
}

/// What one row times.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    TrainStep,
    Encode,
}

#[derive(Clone, Copy, Debug)]
struct Variant {
    op: Op,
    arch: Architecture,
    precision: Precision,
    optimizer: Optimizer,
}

fn variants(case: &SaeCase) -> Vec<Variant> {
    let v = |op, arch, precision, optimizer| Variant {
        op,
        arch,
        precision,
        optimizer,
    };
    use Architecture::*;
    use Op::*;
    let mut out = vec![
        v(TrainStep, TopK, Precision::Auto, Optimizer::Adam),
        v(TrainStep, TopK, Precision::F32, Optimizer::Adam),
        v(TrainStep, TopK, Precision::Auto, Optimizer::LazyAdam),
    ];
    if case.all_archs {
        out.push(v(TrainStep, BatchTopK, Precision::F32, Optimizer::Adam));
        out.push(v(TrainStep, JumpRelu, Precision::F32, Optimizer::Adam));
    }
    out.push(v(Encode, TopK, Precision::Auto, Optimizer::Adam));
    out.push(v(Encode, TopK, Precision::F32, Optimizer::Adam));
    out
}

fn precision_name(p: Precision) -> &'static str {
    match p {
        Precision::Auto => "auto",
        Precision::F32 => "f32",
        Precision::Bf16 => "bf16",
    }
}

fn optimizer_name(o: Optimizer) -> &'static str {
    match o {
        Optimizer::Adam => "adam",
        Optimizer::LazyAdam => "lazy_adam",
    }
}

/// The row's `dtype` from the kernel's path name (`amx-bf16` → `bf16-amx`).
fn dtype_of(path: &str) -> &'static str {
    if path.starts_with("amx") {
        "bf16-amx"
    } else if path.contains("bf16") {
        "bf16"
    } else {
        "f32"
    }
}

/// What one measured variant yields, before the peers are attached.
struct Measured {
    stats: Stats,
    encoder_path: &'static str,
    l0: f64,
    fvu: Option<f64>,
    peak_heap: usize,
    state_bytes: Option<usize>,
    peak_rss: Option<u64>,
}

fn measure_train(
    case: &SaeCase,
    v: &Variant,
    x: &[f32],
    samples: usize,
    seed: u64,
) -> Result<Measured, String> {
    let k = v.arch.uses_k().then_some(case.k);
    let cfg = TrainConfig {
        precision: v.precision,
        optimizer: v.optimizer,
        seed,
        ..TrainConfig::default()
    };
    let rss_reset = memory::reset_peak_rss();
    let live_before = memory::live();
    let mut t = Trainer::new(SaeConfig::new(v.arch, case.d_in, case.d_sae, k), cfg)
        .map_err(|e| e.to_string())?;
    // Warm-up 1: initialises b_dec (geometric median of the batch) and packs the encoder.
    t.step(x).map_err(|e| e.to_string())?;
    let state_bytes = memory::live().saturating_sub(live_before);
    // Warm-up 2, with the heap's high-water mark of one step.
    memory::reset_peak();
    let before = memory::live();
    t.step(x).map_err(|e| e.to_string())?;
    let peak_heap = memory::peak().saturating_sub(before);
    let encoder_path = t.encoder_path().map_err(|e| e.to_string())?;
    let mut last = None;
    let mut err = None;
    let stats = measure(&timing(samples), || match t.step(x) {
        Ok(s) => last = Some(s),
        Err(e) => {
            err.get_or_insert(e.to_string());
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    let last = last.ok_or("no step ran")?;
    Ok(Measured {
        stats,
        encoder_path,
        l0: last.l0,
        fvu: Some(last.fvu),
        peak_heap,
        state_bytes: Some(state_bytes),
        peak_rss: rss_reset.then(memory::peak_rss).flatten(),
    })
}

fn measure_encode(
    case: &SaeCase,
    v: &Variant,
    x: &[f32],
    samples: usize,
    seed: u64,
) -> Result<Measured, String> {
    let cfg = TrainConfig {
        seed,
        ..TrainConfig::default()
    };
    // Freshly initialised weights (the encode cost does not depend on training).
    let params = Trainer::new(
        SaeConfig::new(v.arch, case.d_in, case.d_sae, Some(case.k)),
        cfg,
    )
    .map_err(|e| e.to_string())?
    .params()
    .clone();
    let rss_reset = memory::reset_peak_rss();
    let sae = Sae::with_precision(params, v.precision).map_err(|e| e.to_string())?;
    // Warm-up, with the heap's high-water mark of one encode.
    memory::reset_peak();
    let before = memory::live();
    let code = sae.encode(x).map_err(|e| e.to_string())?;
    let peak_heap = memory::peak().saturating_sub(before);
    let l0 = code.l0();
    drop(code);
    let mut err = None;
    let stats = measure(&timing(samples), || {
        if let Err(e) = sae.encode(x) {
            err.get_or_insert(e.to_string());
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    Ok(Measured {
        stats,
        encoder_path: sae.encoder_path(),
        l0,
        fvu: None,
        peak_heap,
        state_bytes: None,
        peak_rss: rss_reset.then(memory::peak_rss).flatten(),
    })
}

/// The report row of one measured variant and its peers.
fn row(
    case: &SaeCase,
    v: &Variant,
    m: &Measured,
    peer: Option<&PeerTimes>,
    threads: usize,
) -> Line {
    let s = &m.stats;
    let b = case.batch as f64;
    let mut extra = Map::new();
    let mut put = |k: &str, v: Value| {
        extra.insert(k.into(), v);
    };
    put("arch", v.arch.name().into());
    put("precision", precision_name(v.precision).into());
    if v.op == Op::TrainStep {
        put("optimizer", optimizer_name(v.optimizer).into());
    }
    put("encoder_path", m.encoder_path.into());
    put("threads", threads.into());
    put("d_in", case.d_in.into());
    put("d_sae", case.d_sae.into());
    put("k", case.k.into());
    put("batch", case.batch.into());
    put("tokens_per_s", (b / s.median_s).into());
    put("l0", m.l0.into());
    if let Some(f) = m.fvu.filter(|f| f.is_finite()) {
        put("fvu", f.into());
    }
    put("peak_heap_bytes", m.peak_heap.into());
    if let Some(sb) = m.state_bytes {
        put("state_bytes", sb.into());
    }
    if let Some(r) = m.peak_rss {
        put("peak_rss_bytes", r.into());
    }
    // PyTorch's and sparsify's times: TopK rows only (the peers time TopK).
    let peer = peer.filter(|_| v.arch == Architecture::TopK);
    if let Some(p) = peer {
        if let Some(t) = p.torch_s {
            put("torch_tokens_per_s", (b / t).into());
        }
        if let Some(t) = p.torch_gather_s {
            put("torch_gather_decoder_s", t.into());
        }
        if let Some(t) = p.torch_dense_s {
            put("torch_dense_decoder_s", t.into());
        }
        if let Some(t) = p.sparsify_s {
            put("sparsify_s", t.into());
            put("sparsify_tokens_per_s", (b / t).into());
            put("speedup_vs_sparsify", (t / s.median_s).into());
        }
    }
    let (baseline, base_s) = match peer.and_then(|p| p.torch_s) {
        Some(t) => (
            format!(
                "peer:{} ({threads} threads)",
                if v.op == Op::TrainStep {
                    "torch_topk_sae"
                } else {
                    "torch_topk_encode"
                }
            ),
            t,
        ),
        None if v.arch != Architecture::TopK => {
            ("none (the peers time TopK only)".to_string(), 0.0)
        }
        None => ("none (peer unavailable)".to_string(), 0.0),
    };
    // Useful work: the dense encoder product (2·batch·d_in·d_sae), plus for a step the sparse
    // decoder forward and the three k-sparse backward products (4 × 2·batch·l0·d_in).
    let enc = 2.0 * b * (case.d_in * case.d_sae) as f64;
    let flops = match v.op {
        Op::Encode => enc,
        Op::TrainStep => enc + 8.0 * b * m.l0 * case.d_in as f64,
    };
    Line::Row(Box::new(Row {
        suite: "sae".into(),
        op: match v.op {
            Op::TrainStep => "train_step",
            Op::Encode => "encode",
        }
        .into(),
        format: v.arch.name().into(),
        dtype: dtype_of(m.encoder_path).into(),
        device: "cpu".into(),
        shape: Shape {
            m: case.batch,
            k: case.d_in,
            n: case.d_sae,
        },
        sparsity: 1.0 - m.l0 / case.d_sae as f64,
        nnz: (m.l0 * b).round() as usize,
        samples: s.samples,
        median_s: s.median_s,
        min_s: s.min_s,
        max_s: s.max_s,
        speedup_vs_dense: if base_s > 0.0 {
            base_s / s.median_s
        } else {
            0.0
        },
        baseline,
        baseline_median_s: base_s,
        gflops_effective: flops / s.median_s / 1e9,
        software_adapter: None,
        max_rel_err: None,
        extra,
    }))
}

/// One console line of a row: median, tokens/s and the ratios to PyTorch and sparsify.
pub fn summary(r: &Row) -> String {
    let num = |k: &str| r.extra.get(k).and_then(Value::as_f64);
    let text = |k: &str| r.extra.get(k).and_then(Value::as_str).unwrap_or("");
    let ratio = |v: Option<f64>| match v {
        Some(v) if v > 0.0 => format!("{v:.2}×"),
        _ => "–".into(),
    };
    format!(
        "  sae    {:<10} {:<9} {:<8} {:<9} {} {:>9.1} ms  {:>8.0} tok/s  vs torch {:>6}  vs sparsify {:>6}",
        r.op,
        r.format,
        r.dtype,
        text("optimizer"),
        r.shape,
        r.median_s * 1e3,
        num("tokens_per_s").unwrap_or(0.0),
        ratio(Some(r.speedup_vs_dense)),
        ratio(num("speedup_vs_sparsify")),
    )
}

/// Runs the suite: the peers first (subprocesses), then every variant of every case.
pub fn run(cases: &[SaeCase], samples: usize, quick: bool, seed: u64, emit: &mut dyn FnMut(Line)) {
    let threads = rayon::current_num_threads();
    let mut notes = Vec::new();
    let (train_p, encode_p) = match peers::peers_python() {
        Some(py) => (
            train_peers(&py, cases, quick, threads, &mut notes),
            encode_peers(&py, cases, samples, threads, &mut notes),
        ),
        None => {
            notes.push(
                "sae suite: no peers venv (set PEERS_PY or create ~/.cache/sparsekit-peers, see \
                 peers/setup.sh): rows without PyTorch / sparsify baselines"
                    .into(),
            );
            (HashMap::new(), HashMap::new())
        }
    };
    for note in notes {
        emit(Line::Note { note });
    }
    for case in cases {
        let mut rng = input::rng(seed ^ (case.d_in * 31 + case.d_sae) as u64);
        let x = input::normal(&mut rng, case.batch * case.d_in);
        let (tp, ep) = (train_p.get(&case.key()), encode_p.get(&case.key()));
        if tp.is_none() && !train_p.is_empty() {
            emit(Line::Note {
                note: format!(
                    "sae suite: the training peers did not time {:?}",
                    case.key()
                ),
            });
        }
        for v in variants(case) {
            eprintln!(
                "  sae    {} {} {}×{} k={} batch {} {} {} …",
                match v.op {
                    Op::TrainStep => "train_step",
                    Op::Encode => "encode",
                },
                v.arch.name(),
                case.d_in,
                case.d_sae,
                case.k,
                case.batch,
                precision_name(v.precision),
                if v.op == Op::TrainStep {
                    optimizer_name(v.optimizer)
                } else {
                    ""
                }
            );
            let (measured, peer) = match v.op {
                Op::TrainStep => (measure_train(case, &v, &x, samples, seed), tp),
                Op::Encode => (measure_encode(case, &v, &x, samples, seed), ep),
            };
            match measured {
                Ok(m) => emit(row(case, &v, &m, peer, threads)),
                Err(e) => emit(Line::Note {
                    note: format!(
                        "sae suite: {:?} {} {:?}: {e}",
                        v.op,
                        v.arch.name(),
                        case.key()
                    ),
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_follow_bench_md() {
        let q = cases(true, &[]);
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].key(), (768, 24576, 32, 4096));
        let full = cases(false, &[]);
        assert_eq!(full.len(), 2);
        assert!(full[1].all_archs && full[1].d_in == 384);
        let c = parse_case("32,256,8,64").unwrap();
        assert_eq!(c.key(), (32, 256, 8, 64));
        assert_eq!(cases(true, &[c]), vec![c]);
        assert!(parse_case("32,256,8").is_err());
        assert!(parse_case("32,8,256,64").is_err());
    }

    #[test]
    fn parses_both_peer_scripts() {
        let train = r#"noise
{"bench": "sae_topk_train_step", "d_in": 384, "d_sae": 12288, "k": 32, "batch": 4096, "torch_gather_decoder_s": 2.0, "torch_dense_decoder_s": 1.5, "torch_tokens_per_s_best": 2730.0, "sparsify_s": 1.0, "sparsify_tokens_per_s": 4096.0}
{"bench": "simplex_maps", "rows": 4096, "n": 1024}"#;
        let t = parse_peer_lines(train, "sae_topk_train_step");
        let p = t[&(384, 12288, 32, 4096)];
        assert_eq!(p.torch_s, Some(1.5));
        assert_eq!(p.sparsify_s, Some(1.0));
        assert_eq!(t.len(), 1);
        let enc = r#"{"bench": "sae_topk_encode", "d_in": 32, "d_sae": 256, "k": 8, "batch": 64, "torch_encode_s": 0.5}"#;
        let e = parse_peer_lines(enc, "sae_topk_encode");
        assert_eq!(e[&(32, 256, 8, 64)].torch_s, Some(0.5));
        assert_eq!(e[&(32, 256, 8, 64)].sparsify_s, None);
    }

    #[test]
    fn dtype_names_the_encoder_arithmetic() {
        assert_eq!(dtype_of("amx-bf16"), "bf16-amx");
        assert_eq!(dtype_of("avx512-bf16"), "bf16");
        assert_eq!(dtype_of("avx512-f32"), "f32");
        assert_eq!(dtype_of("scalar"), "f32");
    }

    #[test]
    fn a_tiny_case_gives_rows_with_ratios_to_the_peers() {
        // Reads the process-wide heap counters.
        let _serial = memory::COUNTER_TESTS
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let case = parse_case("16,64,4,32").unwrap();
        let mut rng = input::rng(1);
        let x = input::normal(&mut rng, case.batch * case.d_in);
        let v = Variant {
            op: Op::TrainStep,
            arch: Architecture::TopK,
            precision: Precision::F32,
            optimizer: Optimizer::Adam,
        };
        let m = measure_train(&case, &v, &x, 2, 0).unwrap();
        assert_eq!(m.l0, 4.0);
        let peer = PeerTimes {
            torch_s: Some(m.stats.median_s * 4.0),
            sparsify_s: Some(m.stats.median_s * 2.0),
            ..Default::default()
        };
        let Line::Row(r) = row(&case, &v, &m, Some(&peer), 2) else {
            panic!("a row")
        };
        assert_eq!(r.suite, "sae");
        assert_eq!(r.dtype, "f32");
        assert!((r.speedup_vs_dense - 4.0).abs() < 1e-9);
        assert!((r.extra["speedup_vs_sparsify"].as_f64().unwrap() - 2.0).abs() < 1e-9);
        assert_eq!(r.nnz, 4 * 32);
        // Without peers: no baseline, ratio 0.
        let Line::Row(r) = row(&case, &v, &m, None, 2) else {
            panic!("a row")
        };
        assert_eq!(r.speedup_vs_dense, 0.0);
        assert!(r.baseline.starts_with("none"));
    }
}
