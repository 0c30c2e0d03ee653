//! Where the Python peers live and how to start them: the peers venv's interpreter
//! (`PEERS_PY`, else `~/.cache/sparsekit-peers/bin/python`), the shared peers directory
//! (`SPARSEKIT_PEERS_DIR`, else `<workspace>/../shared/peers`), and a [`Command`] for the
//! interpreter with the venv's libraries (MKL) on `LD_LIBRARY_PATH`, as `peers/setup.sh`
//! exports them. Used by `cargo xtask bench --peers` (spmm peers) and the bench runner's `sae`
//! suite (SAE peers).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python interpreter of the peers venv: `PEERS_PY`, else
/// `~/.cache/sparsekit-peers/bin/python` when it exists.
pub fn peers_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PEERS_PY") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME")?;
    let p = Path::new(&home).join(".cache/sparsekit-peers/bin/python");
    p.exists().then_some(p)
}

/// `$SPARSEKIT_PEERS_DIR`, else `<workspace_root>/../shared/peers` (canonicalized when it
/// exists).
pub fn peers_dir(workspace_root: &Path) -> PathBuf {
    let dir = std::env::var_os("SPARSEKIT_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root.join("..").join("shared").join("peers"));
    dir.canonicalize().unwrap_or(dir)
}

/// A command running `python` with the venv's `lib/` (where the peers venv keeps
/// `libmkl_rt.so.*`) prepended to `LD_LIBRARY_PATH`.
pub fn python_command(python: &Path) -> Command {
    let mut cmd = Command::new(python);
    if let Some(lib) = python
        .parent()
        .and_then(Path::parent)
        .map(|venv| venv.join("lib"))
        .filter(|l| l.is_dir())
    {
        let mut paths = vec![lib];
        if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
            paths.extend(std::env::split_paths(&old));
        }
        if let Ok(joined) = std::env::join_paths(paths) {
            cmd.env("LD_LIBRARY_PATH", joined);
        }
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_dir_defaults_beside_the_workspace() {
        if std::env::var_os("SPARSEKIT_PEERS_DIR").is_some() {
            return;
        }
        let root = Path::new("/nonexistent/ws");
        assert_eq!(peers_dir(root), root.join("../shared/peers"));
    }

    #[test]
    fn python_command_prepends_the_venv_lib() {
        let venv = std::env::temp_dir().join(format!("sk-peers-venv-{}", std::process::id()));
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        std::fs::create_dir_all(venv.join("lib")).unwrap();
        let cmd = python_command(&venv.join("bin/python"));
        let ld = cmd
            .get_envs()
            .find(|(k, _)| *k == "LD_LIBRARY_PATH")
            .and_then(|(_, v)| v.map(PathBuf::from));
        let _ = std::fs::remove_dir_all(&venv);
        let ld = ld.expect("LD_LIBRARY_PATH set");
        assert!(
            std::env::split_paths(&ld).next() == Some(venv.join("lib")),
            "{ld:?}"
        );
    }
}
