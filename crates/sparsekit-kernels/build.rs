//! Emits `cfg(sparsekit_avx512)` when the compiler has stable AVX-512 intrinsics (Rust ≥ 1.89);
//! the workspace MSRV (1.85) builds the AVX2 / NEON / portable paths only.

use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(sparsekit_avx512)");
    println!("cargo:rerun-if-changed=build.rs");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let minor = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
        .and_then(|v| v.split('.').nth(1).and_then(|m| m.parse::<u32>().ok()));
    if minor.is_some_and(|m| m >= 89) {
        println!("cargo:rustc-cfg=sparsekit_avx512");
    }
}
