//! `sparsekit-bench`: the benchmark runner behind `cargo xtask bench`.
//!
//! - `sparsekit-bench run --suite spmm,spmm_t,sddmm,train,model,sae,attention [--quick] [--samples N] [--devices flex,ndarray]
//!   --out rows.jsonl` — times each case of BENCH.md's matrix (sparsekit kernel and burn's dense
//!   `matmul` on the same inputs, back to back) and writes one JSON line per row, plus
//!   `{"note": …}` lines for rows it leaves out.
//! - `sparsekit-bench machine --json` — CPU, cores, SIMD, OS and wgpu adapters.
//!
//! The report itself (JSON + Markdown + SVG) is assembled by `cargo xtask bench`.

mod attention;
mod input;
mod machine;
mod matrix;
mod memory;
mod model;
mod peer_script;
mod runner;
mod sae;
mod train;

// The report row and the timer are shared with xtask and the examples.
use sparsekit_measure::{row, timing};

/// Counts heap bytes for the `train` suite's memory columns (forwards to the system allocator).
#[global_allocator]
static ALLOC: memory::Counting = memory::Counting;

use std::io::Write;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::matrix::Suite;
use crate::row::Line;

#[derive(Parser)]
#[command(
    name = "sparsekit-bench",
    about = "sparsekit benchmark runner (see BENCH.md)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run benchmark suites and write one JSON row per line.
    Run(RunArgs),
    /// Describe this machine (CPU, SIMD, wgpu adapters).
    Machine {
        /// Print JSON (the report's `machine` object) instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Comma-separated suites: spmm, spmm_t, sddmm, train, model, sae, attention.
    #[arg(
        long,
        default_value = "spmm,spmm_t,sddmm,train,model,sae,attention",
        value_delimiter = ','
    )]
    suite: Vec<String>,
    /// Only the rows marked `q` in BENCH.md (plus sparsity 0.7).
    #[arg(long)]
    quick: bool,
    /// Timed samples per measurement (after warm-up). Reported rows need at least 10. Without
    /// it: 10 with --quick (the sae suite: 5, see `sae::QUICK_SAMPLES`), 15 otherwise.
    #[arg(long)]
    samples: Option<usize>,
    /// Comma-separated devices: flex, ndarray (CPU kernels vs burn's dense matmul there) and
    /// wgpu (every adapter found: the Cube kernels vs burn's dense matmul on that adapter; CSR
    /// suites only, rows of software adapters marked `software_adapter: true`).
    #[arg(long, default_value = "flex,ndarray")]
    devices: String,
    /// Override the shapes (m,k,n; repeatable).
    #[arg(long = "shape", value_parser = matrix::parse_shape)]
    shapes: Vec<row::Shape>,
    /// Override the sae suite's shapes (d_in,d_sae,k,batch; repeatable).
    #[arg(long = "sae-shape", value_parser = sae::parse_case)]
    sae_shapes: Vec<sae::SaeCase>,
    /// Override the sparsities (comma-separated).
    #[arg(long, value_delimiter = ',')]
    sparsity: Vec<f64>,
    /// Seed of the input generator.
    #[arg(long, default_value_t = 0x5EED)]
    seed: u64,
    /// Output file (JSON lines); stdout when absent.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run(args) => run(args),
        Command::Machine { json } => {
            let m = machine::probe();
            if json {
                println!("{}", serde_json::to_string_pretty(&m)?);
            } else {
                println!("cpu:      {} ({} cores)", m.cpu, m.cores);
                println!(
                    "simd:     {}",
                    if m.simd.is_empty() {
                        "-".into()
                    } else {
                        m.simd.join(", ")
                    }
                );
                println!("os/arch:  {}/{}", m.os, m.arch);
                if m.adapters.is_empty() {
                    println!("adapters: none (no wgpu adapter found)");
                }
                for a in &m.adapters {
                    let sw = if a.is_software() {
                        " [software: correctness only]"
                    } else {
                        ""
                    };
                    println!("adapter:  {} ({}, {}){sw}", a.name, a.kind, a.api);
                }
            }
            Ok(())
        }
    }
}

fn run(args: RunArgs) -> Result<()> {
    let samples = args.samples.unwrap_or(if args.quick { 10 } else { 15 });
    if samples < 10 {
        eprintln!(
            "sparsekit-bench: warning: {samples} samples per row; BENCH.md asks for at least 10"
        );
    }
    let (devices, gpus, mut notes) = runner::parse_devices(&args.devices)?;
    let shapes = (!args.shapes.is_empty()).then_some(args.shapes.as_slice());
    let sparsities = (!args.sparsity.is_empty()).then_some(args.sparsity.as_slice());
    if let Some(bad) = args.sparsity.iter().find(|s| !(0.0..=1.0).contains(*s)) {
        anyhow::bail!("sparsity {bad} is outside [0, 1]");
    }
    let train = args.suite.iter().any(|s| s.trim() == "train");
    let model_suite = args.suite.iter().any(|s| s.trim() == "model");
    let attention_suite = args.suite.iter().any(|s| s.trim() == "attention");
    let sae_cases = if args.suite.iter().any(|s| s.trim() == "sae") {
        sae::cases(args.quick, &args.sae_shapes)
    } else {
        Vec::new()
    };
    let sae_samples = match args.samples {
        Some(n) => n,
        None if args.quick => sae::QUICK_SAMPLES,
        None => samples,
    };
    let kernel_suites = args
        .suite
        .iter()
        .filter(|s| !matches!(s.trim(), "train" | "model" | "sae" | "attention"))
        .map(|s| s.parse::<Suite>().map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()?;
    let (cases, matrix_notes) = matrix::matrix(args.quick, &kernel_suites, shapes, sparsities);
    let train_cases = if train {
        train::cases(args.quick, sparsities)
    } else {
        Vec::new()
    };
    notes.extend(matrix_notes);
    if !sae_cases.is_empty() && sae_samples < samples {
        notes.push(format!(
            "sae suite: {sae_samples} samples per row (--quick: a training step at 768×24576, \
             batch 4096, takes 1–2 s on 2 cores; pass --samples 10 for BENCH.md's minimum)"
        ));
    }
    let cfg = runner::RunConfig {
        timing: runner::RunConfig::timing_for(samples),
        devices,
        gpus,
        seed: args.seed,
    };

    let mut sink: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::stdout()),
    };
    let mut write_err = None;
    let mut emit = |line: Line| {
        match &line {
            Line::Row(r) if r.suite == "sae" => eprintln!("{}", sae::summary(r)),
            Line::Row(r) if r.suite == "attention" => eprintln!("{}", attention::summary(r)),
            Line::Row(r) => {
                let warn = match r.max_rel_err {
                    Some(e) if e > r.rel_err_bound() => {
                        format!("  WARNING: sparse result differs from dense (rel err {e:.2e})")
                    }
                    _ => String::new(),
                };
                eprintln!(
                    "  {:<6} {:<4} {:<4} {} s={:<4} {:<7} sparse {:>9.3} ms  dense {:>9.3} ms  {:>6.2}×  {:>6.1} GFLOP/s{warn}",
                    r.suite,
                    r.format,
                    r.dtype,
                    r.shape,
                    r.sparsity,
                    r.device,
                    r.median_s * 1e3,
                    r.baseline_median_s * 1e3,
                    r.speedup_vs_dense,
                    r.gflops_effective
                );
            }
            Line::Note { note } => eprintln!("  note: {note}"),
        }
        let res = serde_json::to_string(&line)
            .map_err(anyhow::Error::from)
            .and_then(|s| {
                writeln!(sink, "{s}")
                    .and_then(|_| sink.flush())
                    .map_err(Into::into)
            });
        if let Err(e) = res {
            write_err.get_or_insert(e);
        }
    };
    for note in notes {
        emit(Line::Note { note });
    }
    eprintln!(
        "sparsekit-bench: {} cases × {} device(s), {samples} samples each",
        cases.len() + train_cases.len(),
        cfg.devices.len() + cfg.gpus.len()
    );
    if !sae_cases.is_empty() {
        eprintln!(
            "sparsekit-bench: sae: {} case(s) on the CPU, {sae_samples} samples each",
            sae_cases.len()
        );
    }
    for case in &cases {
        runner::run_case_cpu(case, &cfg, &mut emit);
    }
    let train_on =
        |case: &train::TrainCase, target: train::TrainTarget, emit: &mut dyn FnMut(Line)| {
            eprintln!(
                "  train  {} s={} on {} …",
                case.model,
                case.sparsity,
                target.name()
            );
            train::run_case(case, &target, &cfg.timing, cfg.seed, emit);
        };
    for case in &train_cases {
        for &device in &cfg.devices {
            train_on(case, train::TrainTarget::cpu(device), &mut emit);
        }
    }
    if model_suite {
        for case in model::cases(args.quick) {
            eprintln!(
                "  model  all-MiniLM-L6-v2 embed, {} texts, batch {} …",
                case.texts, case.batch
            );
            model::run(&case, &cfg.devices, &cfg.timing, &mut emit);
        }
    }
    if !sae_cases.is_empty() {
        sae::run(&sae_cases, sae_samples, args.quick, args.seed, &mut emit);
    }
    if attention_suite {
        attention::run(args.quick, &cfg.timing, args.seed, &mut emit);
    }
    // wgpu last: a software adapter's threads would slow every CPU row measured after it.
    for case in &cases {
        runner::run_case_gpu(case, &cfg, &mut emit);
    }
    for case in &train_cases {
        for gpu in &cfg.gpus {
            train_on(case, train::TrainTarget::gpu(gpu), &mut emit);
        }
    }
    match write_err {
        Some(e) => Err(e).context("writing rows"),
        None => Ok(()),
    }
}
