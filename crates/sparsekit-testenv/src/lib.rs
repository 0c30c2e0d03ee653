//! The one rule for tests that need something outside the Rust build — a Python with SciPy, the
//! Fashion-MNIST files, a wgpu adapter:
//!
//! - when the **switch** is on ([`required`]: `SPARSEKIT_REQUIRE_ENV=1`, or `CI=true` as CI
//!   services set it), a missing thing **fails** the test (a panic naming what is missing and how
//!   to get it), so a CI run can never pass having checked nothing;
//! - otherwise the test is skipped with a `SKIPPED …` line written straight to stderr (not
//!   captured by the test harness, so it shows even when the test passes).
//!
//! Where things come from (never a machine-specific path):
//! - Python: `$SPARSEKIT_PYTHON`, which `cargo xtask test` sets from `scripts/python-env.sh`
//!   (a venv from PyPI with the pinned `scripts/python-requirements.txt`);
//! - Fashion-MNIST: `$SPARSEKIT_FASHION_MNIST`, else Debian's `dataset-fashion-mnist` location
//!   `/usr/share/datasets/fashion-mnist` (`.ci/run` installs the package);
//! - all-MiniLM-L6-v2 ([`minilm`]) and the Debian description corpus ([`debian_text`]): the
//!   cache of `sparsekit fetch` (which `cargo xtask test` runs first).
//!
//! The wgpu tests (tensor, reg, prune) need no helper: burn panics when no adapter exists, so
//! they fail in CI and locally alike (`cargo xtask test` installs Mesa's software driver).

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

/// The switch: `SPARSEKIT_REQUIRE_ENV` when set (`1`/`true`/`yes` on, anything else off), else
/// on when `CI` is set to anything but `false`/`0`/empty.
pub fn required() -> bool {
    let on = |v: &str| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes");
    match std::env::var("SPARSEKIT_REQUIRE_ENV") {
        Ok(v) => on(&v),
        Err(_) => std::env::var("CI")
            .map(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"))
            .unwrap_or(false),
    }
}

/// `what` is missing: panics when [`required`], else writes `SKIPPED: …` to stderr. `how` says
/// how to get it. Returns only when the caller should skip.
#[track_caller]
pub fn unavailable(what: &str, how: &str) {
    if required() {
        panic!("{what} is missing and SPARSEKIT_REQUIRE_ENV / CI requires it: {how}");
    }
    let at = std::panic::Location::caller();
    // Straight to stderr: libtest captures `eprintln!`, not the stream itself.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED ({}:{}): {what} is missing ({how}); set SPARSEKIT_REQUIRE_ENV=1 to make this a failure",
        at.file(),
        at.line()
    );
}

/// A Python interpreter that imports every module of `modules`: `$SPARSEKIT_PYTHON`. `None`
/// (after [`unavailable`]) when it is unset, absent, or lacks a module.
#[track_caller]
pub fn python(modules: &[&str]) -> Option<PathBuf> {
    let how = "run `cargo xtask test`, or `export SPARSEKIT_PYTHON=$(scripts/python-env.sh)`";
    let what = format!("a Python with {}", modules.join(", "));
    let Some(py) = std::env::var_os("SPARSEKIT_PYTHON").map(PathBuf::from) else {
        unavailable(&format!("{what} ($SPARSEKIT_PYTHON unset)"), how);
        return None;
    };
    let import = format!("import {}", modules.join(", "));
    match Command::new(&py).args(["-c", &import]).output() {
        Ok(o) if o.status.success() => Some(py),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let last = err.lines().last().unwrap_or("").to_string();
            unavailable(&format!("{what} ({} says: {last})", py.display()), how);
            None
        }
        Err(e) => {
            unavailable(&format!("{what} ({}: {e})", py.display()), how);
            None
        }
    }
}

/// The directory of the Fashion-MNIST idx `.gz` files: `$SPARSEKIT_FASHION_MNIST`, else
/// `/usr/share/datasets/fashion-mnist`. `None` (after [`unavailable`]) when
/// `train-images-idx3-ubyte.gz` is not there.
#[track_caller]
pub fn fashion_mnist() -> Option<PathBuf> {
    let dir = std::env::var_os("SPARSEKIT_FASHION_MNIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/datasets/fashion-mnist"));
    if dir.join("train-images-idx3-ubyte.gz").is_file() {
        return Some(dir);
    }
    unavailable(
        &format!("Fashion-MNIST in {}", dir.display()),
        "`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or set SPARSEKIT_FASHION_MNIST \
         to a directory holding the four idx .gz files",
    );
    None
}

/// `${XDG_CACHE_HOME:-~/.cache}/sparsekit` (an empty variable counts as unset; without `HOME`,
/// the system's temporary directory).
///
/// A copy of the rule of `sparsekit_data::fetch::cache_dir` (this crate has no dependencies);
/// sparsekit-data's test `tests/testenv_paths.rs` checks that they agree.
fn cache_dir() -> PathBuf {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(x) if !x.is_empty() => PathBuf::from(x),
        _ => match std::env::var_os("HOME") {
            Some(h) if !h.is_empty() => PathBuf::from(h).join(".cache"),
            _ => std::env::temp_dir(),
        },
    };
    base.join("sparsekit")
}

/// `$VAR` as a path when it is set and not empty.
fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The directory of all-MiniLM-L6-v2 (sentence-transformers' files: `model.safetensors`,
/// `tokenizer.json`, …): `$SPARSEKIT_MINILM`, else `$SPARSEKIT_MODELS/all-MiniLM-L6-v2`, else
/// `${XDG_CACHE_HOME:-~/.cache}/sparsekit/models/all-MiniLM-L6-v2`. `None` (after
/// [`unavailable`]) when `model.safetensors` or `tokenizer.json` is not there.
///
/// The default location is the rule of `sparsekit_data::fetch::default_dir(&MINILM)`, copied
/// here (checked by sparsekit-data's `tests/testenv_paths.rs`).
#[track_caller]
pub fn minilm() -> Option<PathBuf> {
    let dir = env_path("SPARSEKIT_MINILM").unwrap_or_else(|| {
        env_path("SPARSEKIT_MODELS")
            .unwrap_or_else(|| cache_dir().join("models"))
            .join("all-MiniLM-L6-v2")
    });
    if dir.join("model.safetensors").is_file() && dir.join("tokenizer.json").is_file() {
        return Some(dir);
    }
    unavailable(
        &format!("all-MiniLM-L6-v2 in {}", dir.display()),
        "run `sparsekit fetch minilm` (or `cargo xtask test`, which fetches it)",
    );
    None
}

/// The Debian package-description corpus, `descriptions.jsonl` (the file's path) in
/// `$SPARSEKIT_DEBIAN_TEXT`, else in `${XDG_CACHE_HOME:-~/.cache}/sparsekit/data/debian-text`.
/// `None` (after [`unavailable`]) when the file is not there.
///
/// The default directory is the rule of `sparsekit_data::debian::default_dir`, copied here
/// (checked by sparsekit-data's `tests/testenv_paths.rs`).
#[track_caller]
pub fn debian_text() -> Option<PathBuf> {
    let dir = env_path("SPARSEKIT_DEBIAN_TEXT")
        .unwrap_or_else(|| cache_dir().join("data").join("debian-text"));
    let file = dir.join("descriptions.jsonl");
    if file.is_file() {
        return Some(file);
    }
    unavailable(
        &format!("the Debian description corpus {}", file.display()),
        "run `sparsekit fetch debian-text` (or `cargo xtask test`, which fetches it)",
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test: the environment is process-wide, so the cases run in sequence.
    #[test]
    fn the_switch() {
        let saved = (
            std::env::var_os("SPARSEKIT_REQUIRE_ENV"),
            std::env::var_os("CI"),
        );
        let set = |k: &str, v: Option<&str>| match v {
            Some(v) => std::env::set_var(k, v),
            None => std::env::remove_var(k),
        };
        for (req, ci, want) in [
            (None, None, false),
            (None, Some("true"), true),
            (None, Some("1"), true),
            (None, Some("false"), false),
            (None, Some(""), false),
            (Some("1"), None, true),
            (Some("TRUE"), None, true),
            (Some("0"), Some("true"), false),
            (Some("yes"), Some("false"), true),
        ] {
            set("SPARSEKIT_REQUIRE_ENV", req);
            set("CI", ci);
            assert_eq!(required(), want, "SPARSEKIT_REQUIRE_ENV={req:?} CI={ci:?}");
            let panicked = std::panic::catch_unwind(|| unavailable("a thing", "get it")).is_err();
            assert_eq!(panicked, want);
        }
        set("SPARSEKIT_REQUIRE_ENV", Some("1"));
        std::env::set_var("SPARSEKIT_FASHION_MNIST", "/nonexistent/dir");
        assert!(std::panic::catch_unwind(fashion_mnist).is_err());
        std::env::set_var("SPARSEKIT_PYTHON", "/nonexistent/python");
        assert!(std::panic::catch_unwind(|| python(&["sys"])).is_err());
        set("SPARSEKIT_REQUIRE_ENV", Some("0"));
        assert_eq!(fashion_mnist(), None);
        assert_eq!(python(&["sys"]), None);
        std::env::remove_var("SPARSEKIT_FASHION_MNIST");
        std::env::remove_var("SPARSEKIT_PYTHON");

        // minilm / debian_text: the overrides, then the cache rule; Some only with the files.
        let saved_paths: Vec<_> = [
            "SPARSEKIT_MINILM",
            "SPARSEKIT_MODELS",
            "SPARSEKIT_DEBIAN_TEXT",
            "XDG_CACHE_HOME",
        ]
        .iter()
        .map(|k| (*k, std::env::var_os(k)))
        .collect();
        for (k, _) in &saved_paths {
            std::env::remove_var(k);
        }
        let tmp = std::env::temp_dir().join(format!("sparsekit-testenv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::env::set_var("XDG_CACHE_HOME", &tmp);
        let cached = tmp.join("sparsekit/models/all-MiniLM-L6-v2");
        std::fs::create_dir_all(&cached).unwrap();
        std::fs::write(cached.join("model.safetensors"), b"").unwrap();
        assert_eq!(minilm(), None, "tokenizer.json is missing");
        set("SPARSEKIT_REQUIRE_ENV", Some("1"));
        assert!(std::panic::catch_unwind(minilm).is_err());
        assert!(std::panic::catch_unwind(debian_text).is_err());
        set("SPARSEKIT_REQUIRE_ENV", Some("0"));
        std::fs::write(cached.join("tokenizer.json"), b"").unwrap();
        assert_eq!(minilm(), Some(cached.clone()));
        let models = tmp.join("models");
        std::env::set_var("SPARSEKIT_MODELS", &models);
        assert_eq!(minilm(), None);
        std::fs::create_dir_all(models.join("all-MiniLM-L6-v2")).unwrap();
        for f in ["model.safetensors", "tokenizer.json"] {
            std::fs::write(models.join("all-MiniLM-L6-v2").join(f), b"").unwrap();
        }
        assert_eq!(minilm(), Some(models.join("all-MiniLM-L6-v2")));
        std::env::set_var("SPARSEKIT_MINILM", &cached);
        assert_eq!(minilm(), Some(cached));
        assert_eq!(debian_text(), None);
        let corpus = tmp.join("sparsekit/data/debian-text");
        std::fs::create_dir_all(&corpus).unwrap();
        std::fs::write(corpus.join("descriptions.jsonl"), b"").unwrap();
        assert_eq!(debian_text(), Some(corpus.join("descriptions.jsonl")));
        std::env::set_var("SPARSEKIT_DEBIAN_TEXT", tmp.join("elsewhere"));
        assert_eq!(debian_text(), None);
        for (k, v) in saved_paths {
            match v {
                Some(v) => std::env::set_var(k, v),
                None => std::env::remove_var(k),
            }
        }
        let _ = std::fs::remove_dir_all(&tmp);
        set(
            "SPARSEKIT_REQUIRE_ENV",
            saved.0.as_deref().map(|v| v.to_str().unwrap()),
        );
        set("CI", saved.1.as_deref().map(|v| v.to_str().unwrap()));
    }
}
