//! Running the Python peers of a suite: the peers venv's interpreter with the thread count of
//! our rows, and the shared `peers/sae_attn_peers.py` run unedited with `os.cpu_count()`
//! answering that thread count (the script sets `torch.set_num_threads(os.cpu_count())`).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use sparsekit_measure::peers;

/// The workspace root (the runner is `crates/sparsekit-bench`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shared `peers/sae_attn_peers.py`, or `None` when the peers directory lacks it.
pub fn shared_sae_attn_script() -> Option<PathBuf> {
    let script = peers::peers_dir(&workspace_root()).join("sae_attn_peers.py");
    script.is_file().then_some(script)
}

/// Arguments that run `script ARGS…` with `os.cpu_count()` answering `threads`.
pub fn with_cpu_count(threads: usize, script: &Path, args: &[&str]) -> Vec<String> {
    let wrapper = "import os, runpy, sys; n = int(sys.argv[1]); os.cpu_count = lambda: n; \
                   sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], run_name='__main__')";
    let mut out = vec![
        "-c".to_string(),
        wrapper.to_string(),
        threads.to_string(),
        script.display().to_string(),
    ];
    out.extend(args.iter().map(|a| a.to_string()));
    out
}

/// Runs `python ARGS…` (the peers venv) with `threads` BLAS / OpenMP threads and returns its
/// stdout; `what` names the script in the error.
pub fn run_python(
    python: &Path,
    args: &[String],
    threads: usize,
    what: &str,
) -> Result<String, String> {
    let mut cmd = peers::python_command(python);
    cmd.args(args)
        .env("OMP_NUM_THREADS", threads.to_string())
        .env("MKL_NUM_THREADS", threads.to_string())
        .env("SPARSIFY_DISABLE_TRITON", "1")
        .stdin(Stdio::null());
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: running {}: {e}", python.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{what} failed ({}): {}",
            out.status,
            err.lines().last().unwrap_or("")
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The JSON objects printed by a peer script whose `"bench"` is `bench`.
pub fn json_lines(stdout: &str, bench: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["bench"] == bench)
        .collect()
}
