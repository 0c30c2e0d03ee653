//! Spawning cargo and other processes with clear errors.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// The workspace root (xtask lives one level below it).
///
/// Read from the environment `cargo run` sets, not from the compile-time `env!`: a build cache
/// shared between checkouts (CI's `CARGO_TARGET_DIR`) does not rebuild xtask when only the
/// checkout's path changes, so a baked-in path would point at another checkout.
pub fn root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .parent()
        .expect("xtask has a parent dir")
        .to_path_buf()
}

/// `cargo ARGS…` run from the workspace root, with a quiet Mesa loader.
pub fn cargo(args: &[&str]) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root()).args(args);
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        cmd.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    cmd
}

/// `program` run from the workspace root, with a quiet Mesa loader (as [`cargo`]).
pub fn tool(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(root());
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        cmd.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    cmd
}

/// Runs `cmd`, failing with the command line if it exits non-zero.
pub fn status(mut cmd: Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    eprintln!("xtask: running {shown}");
    let st = cmd
        .status()
        .with_context(|| format!("could not start {shown}"))?;
    if !st.success() {
        bail!("{shown} failed with {st}");
    }
    Ok(())
}

/// The Python of the interop tests: `$SPARSEKIT_PYTHON` when set, else the venv that
/// `scripts/python-env.sh` creates from PyPI (once; then it only prints its path). `None`, with
/// a message, when the script fails: those tests then skip locally and fail in CI.
pub fn python_env() -> Option<PathBuf> {
    if let Some(py) = std::env::var_os("SPARSEKIT_PYTHON") {
        return Some(PathBuf::from(py));
    }
    let script = root().join("scripts").join("python-env.sh");
    let mut cmd = tool("bash");
    cmd.arg(&script).stderr(Stdio::inherit());
    let t0 = std::time::Instant::now();
    let py = match cmd.output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .last()
            .map(|l| PathBuf::from(l.trim())),
        Ok(o) => {
            eprintln!("xtask: {} failed with {}", script.display(), o.status);
            None
        }
        Err(e) => {
            eprintln!("xtask: could not run {}: {e}", script.display());
            None
        }
    };
    match &py {
        Some(p) => eprintln!(
            "xtask: SPARSEKIT_PYTHON={} (ready in {:.1} s)",
            p.display(),
            t0.elapsed().as_secs_f64()
        ),
        None => eprintln!(
            "xtask: no Python for the SciPy interop tests: they will be skipped (fail in CI)"
        ),
    }
    py
}
