//! The `sparsekit` command builds without burn: its normal dependency tree holds no burn, wgpu or
//! CubeCL crate (and not sparsekit-tensor, which brings them). What keeps `cargo install` of the
//! CLI a small build; a dependency that pulls burn back in fails here.

use std::process::Command;

#[test]
fn dependency_tree_has_no_burn() {
    let o = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "sparsekit-cli",
            "--no-default-features",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "cargo tree failed: {err}");
    let tree = String::from_utf8_lossy(&o.stdout);
    assert!(
        tree.lines().any(|l| l.starts_with("sparsekit-prune ")),
        "{tree}"
    );
    let heavy: Vec<&str> = tree
        .lines()
        .filter(|l| {
            ["burn", "wgpu", "cubecl", "sparsekit-tensor"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    assert!(heavy.is_empty(), "the CLI depends on {heavy:?}");
}
