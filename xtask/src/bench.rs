//! `cargo xtask bench`: builds and runs `sparsekit-bench` in release, adds the peers (optional),
//! and writes `report.json`, `report.md` and `report-<suite>.svg` under
//! `<target dir>/sparsekit-bench/` (or `--out DIR`); prints `report.md` at the end.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use sparsekit_measure::peers;

use crate::plot;
use crate::report::{self, Report, Row};
use crate::run;

/// Every suite of BENCH.md's matrix that the runner implements.
const DEFAULT_SUITES: &str = "spmm,spmm_t,sddmm,train,model,sae,attention";

#[derive(clap::Args, Clone)]
pub struct BenchArgs {
    /// Run only the rows marked `q` in BENCH.md (plus sparsity 0.7).
    #[arg(long)]
    pub quick: bool,
    /// Comma-separated suites (spmm, spmm_t, sddmm, train, model, sae, attention); all by default. `model`
    /// (all-MiniLM-L6-v2 vs PyTorch) needs the model and the Debian corpus (`sparsekit fetch
    /// minilm`, `sparsekit fetch debian-text`) and the project's Python (scripts/python-env.sh);
    /// `sae` (SAE training steps and encodes) compares with PyTorch and sparsify when the peers
    /// venv exists (`PEERS_PY` or `~/.cache/sparsekit-peers/bin/python`), and so does
    /// `attention` (normalisers vs the `entmax` package, block-sparse vs torch SDPA).
    #[arg(long, default_value = DEFAULT_SUITES)]
    pub suite: String,
    /// Also run the Python peers (`peers/spmm_peers.py`: MKL, scipy, torch.sparse, numpy dense).
    /// Needs `PEERS_PY` or `~/.cache/sparsekit-peers/bin/python`.
    #[arg(long)]
    pub peers: bool,
    /// Output directory (default: `<cargo target dir>/sparsekit-bench`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Timed samples per row (default: 10 with --quick, 15 otherwise).
    #[arg(long)]
    pub samples: Option<usize>,
    /// Comma-separated devices: flex, ndarray, wgpu (every wgpu adapter found: every suite with
    /// the Cube kernels against burn's dense ops on that adapter, measured after the CPU rows; software
    /// adapters such as lavapipe are slow — about 2 minutes for `--quick` — and their rows are
    /// marked `software_adapter` and kept out of every speed claim). `flex,ndarray` for CPU only.
    #[arg(long, default_value = "flex,ndarray,wgpu")]
    pub devices: String,
    /// Re-render the report from an existing rows file instead of running the benchmarks.
    #[arg(long, value_name = "ROWS_JSONL")]
    pub from_rows: Option<PathBuf>,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let out_dir = match &args.out {
        Some(d) => d.clone(),
        None => target_dir()?.join("sparsekit-bench"),
    };
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mut notes = Vec::new();

    // The same wgpu setup as `cargo xtask test`: without a Vulkan driver (fresh Linux machines)
    // there would be no wgpu rows at all.
    if args.from_rows.is_none() && args.devices.split(',').any(|d| d.trim() == "wgpu") {
        if let Err(e) = crate::gpu::ensure_vulkan_driver(true) {
            let msg = format!("no wgpu rows: {e:#}");
            eprintln!("xtask: {msg}");
            notes.push(msg);
        }
    }

    let bench_bin = build_bench_binary()?;
    let machine = machine(&bench_bin, &mut notes);
    let rows_path = match &args.from_rows {
        Some(p) => p.clone(),
        None => {
            let rows_path = out_dir.join("rows.jsonl");
            let mut cmd = run::tool(&bench_bin);
            // The model suite's PyTorch side runs in the project's Python environment.
            if args.suite.split(',').any(|s| s.trim() == "model") {
                match run::python_env() {
                    Some(py) => {
                        cmd.env("SPARSEKIT_PYTHON", py);
                    }
                    None => notes.push("model suite: no Python environment (scripts/python-env.sh failed): no PyTorch baseline".into()),
                }
            }
            cmd.arg("run");
            cmd.args(["--suite", &args.suite, "--devices", &args.devices]);
            if args.quick {
                cmd.arg("--quick");
            }
            if let Some(n) = args.samples {
                cmd.args(["--samples", &n.to_string()]);
            }
            cmd.arg("--out").arg(&rows_path);
            run::status(cmd)?;
            rows_path
        }
    };
    let (mut results, runner_notes) = read_lines(&rows_path)?;
    notes.extend(runner_notes);
    mark_software_adapters(&mut results, &machine);
    if !results.iter().any(|r| r.device.starts_with("wgpu"))
        && !notes.iter().any(|n| n.contains("wgpu"))
    {
        let adapters: Vec<&str> = machine["adapters"]
            .as_array()
            .map(|a| a.iter().filter_map(|ad| ad["name"].as_str()).collect())
            .unwrap_or_default();
        notes.push(format!(
            "no wgpu rows: add `wgpu` to --devices to run the suites on every wgpu adapter (wgpu adapters here: {})",
            if adapters.is_empty() { "none".to_string() } else { adapters.join("; ") }
        ));
    }

    let peers = if args.peers {
        match run_peers(args.quick) {
            Ok(rows) => {
                for peer in [
                    "peer:mkl_csr",
                    "peer:scipy_csr",
                    "peer:torch_sparse_csr",
                    "peer:numpy_dense_sgemm",
                ] {
                    if !rows.iter().any(|r| r.device == peer) {
                        notes.push(format!("{peer}: no rows (the peer script skipped it; is its library importable?)"));
                    }
                }
                rows
            }
            Err(e) => {
                let msg = format!("peers unavailable: {e:#}");
                eprintln!("xtask: {msg}");
                notes.push(msg);
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };

    let report = Report {
        schema: report::SCHEMA.into(),
        created: report::now_rfc3339(),
        git_commit: git_commit(),
        command: command_line(args),
        machine,
        results,
        peers,
        notes,
    };
    let json_path = out_dir.join("report.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;
    let md = report::render_markdown(&report);
    let md_path = out_dir.join("report.md");
    std::fs::write(&md_path, &md).with_context(|| format!("writing {}", md_path.display()))?;
    let mut written = vec![json_path, md_path];
    for suite in report::suites_in_order(&report.results) {
        if let Some(svg) = plot::speedup_svg(&suite, &report.results) {
            let p = out_dir.join(format!("report-{suite}.svg"));
            std::fs::write(&p, svg).with_context(|| format!("writing {}", p.display()))?;
            written.push(p);
        }
    }
    for p in &written {
        eprintln!("xtask: wrote {}", p.display());
    }
    println!("{md}");
    Ok(())
}

/// The `cargo xtask bench …` line that reproduces this report.
fn command_line(args: &BenchArgs) -> String {
    let mut c = String::from("cargo xtask bench");
    if args.quick {
        c.push_str(" --quick");
    }
    if args.suite != DEFAULT_SUITES {
        c.push_str(&format!(" --suite {}", args.suite));
    }
    if args.devices != "flex,ndarray,wgpu" {
        c.push_str(&format!(" --devices {}", args.devices));
    }
    if let Some(n) = args.samples {
        c.push_str(&format!(" --samples {n}"));
    }
    if args.peers {
        c.push_str(" --peers");
    }
    if let Some(p) = &args.from_rows {
        c.push_str(&format!(" --from-rows {}", p.display()));
    }
    c
}

/// The real target directory (honours `CARGO_TARGET_DIR` and config), from `cargo metadata`.
fn target_dir() -> Result<PathBuf> {
    let mut cmd = run::cargo(&["metadata", "--format-version", "1", "--no-deps"]);
    cmd.stderr(Stdio::inherit());
    let out = cmd.output().context("running cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed with {}", out.status);
    }
    let v: Value = serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
    v["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("cargo metadata has no target_directory")
}

fn git_commit() -> String {
    Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(run::root())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Builds the runner exactly as `cargo xtask test` builds it (`cargo test --release --workspace
/// --all-features --no-run`, which also links the `sparsekit-bench` binary for its smoke test)
/// and returns its path. Any other command resolves burn's features differently — `cargo run -p`
/// for one package, or `cargo build` without dev-dependencies — and rebuilds burn (20+ minutes
/// on two cores) next to the test build; this way one burn build serves tests and benches.
fn build_bench_binary() -> Result<PathBuf> {
    eprintln!("xtask: building sparsekit-bench (release, the test build's features)");
    run::status(run::cargo(&[
        "test",
        "--release",
        "--workspace",
        "--all-features",
        "--no-run",
    ]))?;
    let bin = target_dir()?
        .join("release")
        .join(format!("sparsekit-bench{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        bail!("built sparsekit-bench but {} does not exist", bin.display());
    }
    Ok(bin)
}

/// `sparsekit-bench machine --json`; a minimal object and a note if that fails.
fn machine(bench_bin: &Path, notes: &mut Vec<String>) -> Value {
    let mut cmd = run::tool(bench_bin);
    cmd.args(["machine", "--json"]);
    cmd.stderr(Stdio::inherit());
    eprintln!("xtask: probing the machine");
    match cmd.output() {
        Ok(o) if o.status.success() => match serde_json::from_slice(&o.stdout) {
            Ok(v) => return v,
            Err(e) => notes.push(format!("machine probe printed invalid JSON: {e}")),
        },
        Ok(o) => notes.push(format!("machine probe failed with {}", o.status)),
        Err(e) => notes.push(format!("machine probe could not start: {e}")),
    }
    serde_json::json!({
        "cpu": "unknown",
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "simd": [],
        "os": std::env::consts::OS,
        "adapters": [],
    })
}

/// Result rows and notes from the runner's JSON lines.
pub fn read_lines(path: &Path) -> Result<(Vec<Row>, Vec<String>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_lines(&text).with_context(|| format!("parsing {}", path.display()))
}

pub fn parse_lines(text: &str) -> Result<(Vec<Row>, Vec<String>)> {
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: Value = serde_json::from_str(line).with_context(|| format!("line {}", i + 1))?;
        if let Some(n) = v.get("note").and_then(Value::as_str) {
            notes.push(n.to_string());
        } else {
            rows.push(
                serde_json::from_value(v)
                    .with_context(|| format!("line {}: not a result row", i + 1))?,
            );
        }
    }
    Ok((rows, notes))
}

/// Marks `wgpu:<adapter>` rows whose adapter the machine probe reports as software.
fn mark_software_adapters(rows: &mut [Row], machine: &Value) {
    let software: Vec<String> = machine["adapters"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|ad| {
                    let name = ad["name"].as_str().unwrap_or("").to_ascii_lowercase();
                    ad["kind"] == "cpu"
                        || ["llvmpipe", "lavapipe", "swiftshader", "warp"]
                            .iter()
                            .any(|s| name.contains(s))
                })
                .filter_map(|ad| ad["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    for r in rows.iter_mut() {
        if let Some(name) = r.device.strip_prefix("wgpu:") {
            if software.iter().any(|s| s == name) || name.to_ascii_lowercase().contains("llvmpipe")
            {
                r.software_adapter = Some(true);
            }
        }
    }
}

fn run_peers(quick: bool) -> Result<Vec<Row>> {
    let python = peers::peers_python().context(
        "no Python for the peers: set PEERS_PY or create the venv ~/.cache/sparsekit-peers \
         (see peers/setup.sh)",
    )?;
    let script = peers::peers_dir(&run::root()).join("spmm_peers.py");
    if !script.exists() {
        bail!("{} not found (set SPARSEKIT_PEERS_DIR)", script.display());
    }
    // The venv's MKL (`<venv>/lib/libmkl_rt.so.*`) is found through LD_LIBRARY_PATH.
    let mut cmd = peers::python_command(&python);
    cmd.arg(&script);
    if quick {
        cmd.arg("--quick");
    }
    cmd.stderr(Stdio::inherit());
    eprintln!(
        "xtask: running peers: {} {}{}",
        python.display(),
        script.display(),
        if quick { " --quick" } else { "" }
    );
    let out = cmd
        .output()
        .with_context(|| format!("could not start {}", python.display()))?;
    if !out.status.success() {
        bail!("{cmd:?} failed with {}", out.status);
    }
    let (rows, _) = parse_lines(&String::from_utf8_lossy(&out.stdout))?;
    if rows.is_empty() {
        bail!("{} printed no rows", script.display());
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rows_and_notes() {
        let text = r#"{"note":"spmm: format bsr4x4 not yet implemented; no rows"}
{"suite":"spmm","op":"spmm","format":"csr","dtype":"f32","device":"flex","shape":{"m":64,"k":64,"n":8},"sparsity":0.9,"nnz":410,"samples":2,"median_s":1e-5,"min_s":1e-5,"max_s":2e-5,"baseline":"dense_matmul","baseline_median_s":2e-5,"speedup_vs_dense":2.0,"gflops_effective":0.6,"max_rel_err":1e-7}

"#;
        let (rows, notes) = parse_lines(text).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(notes.len(), 1);
        assert_eq!(rows[0].max_rel_err, Some(1e-7));
        assert!(parse_lines("{\"suite\": 1}").is_err());
    }

    #[test]
    fn software_adapter_rows_are_marked() {
        let mut rows = vec![crate::report::tests::row(
            "spmm",
            "wgpu:llvmpipe (LLVM 15, 256 bits)",
            0.9,
            1.0,
            1.0,
        )];
        rows.push(crate::report::tests::row("spmm", "flex", 0.9, 1.0, 1.0));
        let machine = serde_json::json!({"adapters": [{"name": "llvmpipe (LLVM 15, 256 bits)", "kind": "cpu", "api": "vulkan"}]});
        mark_software_adapters(&mut rows, &machine);
        assert!(rows[0].is_software_adapter());
        assert!(!rows[1].is_software_adapter());
    }
}
