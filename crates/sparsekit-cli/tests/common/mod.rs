//! Helpers shared by the end-to-end tests of the `sparsekit` binary.
#![allow(dead_code)] // each test file uses a subset

use std::path::Path;
use std::process::{Command, Output};

/// Runs the built `sparsekit` binary with `args`.
pub fn sparsekit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sparsekit"))
        .args(args)
        .output()
        .expect("run sparsekit")
}

/// A path as a command-line argument.
pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
