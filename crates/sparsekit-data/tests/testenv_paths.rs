//! sparsekit-testenv copies two path rules of this crate (it has no dependencies): the model
//! cache (`fetch::default_dir`) and the Debian corpus (`debian::default_dir`). They must agree.

use std::fs;
use std::path::Path;

use sparsekit_data::{debian, fetch};

fn touch(dir: &Path, files: &[&str]) {
    fs::create_dir_all(dir).unwrap();
    for f in files {
        fs::write(dir.join(f), b"").unwrap();
    }
}

// One test: the environment is process-wide.
#[test]
fn testenv_finds_what_fetch_writes() {
    let t = tempfile::tempdir().unwrap();
    std::env::set_var("SPARSEKIT_REQUIRE_ENV", "0");
    for k in [
        "SPARSEKIT_MINILM",
        "SPARSEKIT_MODELS",
        "SPARSEKIT_DEBIAN_TEXT",
    ] {
        std::env::remove_var(k);
    }
    for (xdg, models) in [
        (Some(t.path().join("xdg")), None),
        (Some(t.path().join("xdg2")), Some(t.path().join("models"))),
        (None, Some(t.path().join("models2"))),
    ] {
        match &xdg {
            Some(x) => std::env::set_var("XDG_CACHE_HOME", x),
            None => std::env::remove_var("XDG_CACHE_HOME"),
        }
        match &models {
            Some(m) => std::env::set_var("SPARSEKIT_MODELS", m),
            None => std::env::remove_var("SPARSEKIT_MODELS"),
        }
        let dir = fetch::default_dir(&fetch::MINILM);
        if let Some(m) = &models {
            assert!(dir.starts_with(m), "{}", dir.display());
        } else {
            assert!(dir.starts_with(xdg.as_ref().unwrap()), "{}", dir.display());
        }
        touch(&dir, &["model.safetensors", "tokenizer.json"]);
        assert_eq!(sparsekit_testenv::minilm(), Some(dir));
    }
    std::env::set_var("XDG_CACHE_HOME", t.path().join("xdg3"));
    for over in [None, Some(t.path().join("corpus"))] {
        match &over {
            Some(o) => std::env::set_var("SPARSEKIT_DEBIAN_TEXT", o),
            None => std::env::remove_var("SPARSEKIT_DEBIAN_TEXT"),
        }
        let dir = debian::default_dir();
        assert!(dir.starts_with(t.path()), "{}", dir.display());
        touch(&dir, &["descriptions.jsonl"]);
        assert_eq!(
            sparsekit_testenv::debian_text(),
            Some(dir.join("descriptions.jsonl"))
        );
    }
}
