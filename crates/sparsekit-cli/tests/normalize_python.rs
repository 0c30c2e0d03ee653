//! `sparsekit normalize` against the Python `entmax` package 1.3 (`scripts/entmax_reference.py`):
//! probabilities and input gradients on random and adversarial arrays (ties, all-equal rows,
//! ±1e4, `−∞` masks, a fully masked row, a single unmasked entry, dims other than the last), in
//! float64 and float32. Needs `$SPARSEKIT_PYTHON` with torch and entmax (fails in CI without it).
//!
//! Tolerances: float64 files 1e-6 absolute against the package's float64 results (our kernels
//! compute in f32 with f64 accumulation; measured ≤ 3e-7). float32 files: `2e-6·(1 + |ref|)`
//! against the package's *float64* results on the same values (the accuracy claim), and
//! `1e-4·(1 + |ref|)` against its float32 results, plus for `entmax_bisect`
//! `16·ε_f32·max|(α−1)·x|·r` (r = 1/(α−1)): the package's own float32 rounding is that large — it
//! scales the logits by α−1 *before* subtracting the row maximum, so at logits ~1e4 it is off by
//! ~ulp(1e4)·r (measured 1.6e-4), and for α = 3 the gradient weights `p^{2−α} = 1/p` amplify the
//! error of small `p` (measured 1e-5). Fully masked rows: the package gives NaN (or
//! raises, for sparsemax; the script writes NaN), ours must be exact zeros.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_clean_error, p, sparsekit};
use sparsekit_formats::io::npy::{read_array_from_bytes, NpyDtype};

fn load(path: &Path) -> (NpyDtype, Vec<usize>, Vec<f64>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let a = read_array_from_bytes(&bytes).unwrap();
    (
        a.header.dtype,
        a.header.shape.clone(),
        a.to_scalar_vec::<f64>("a").unwrap(),
    )
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/entmax_reference.py")
}

#[test]
fn normalize_matches_entmax_package() {
    let Some(py) = sparsekit_testenv::python(&["torch", "numpy", "entmax"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = Command::new(py).arg(script()).arg(d).output().unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let manifest: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(d.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest.len(), 30);
    let mut checked = 0usize;
    for m in &manifest {
        let case = m["case"].as_str().unwrap();
        let func = m["fn"].as_str().unwrap();
        let file = m["file"].as_str().unwrap();
        let dim = m["dim"].as_i64().unwrap().to_string();
        let alpha = m["alpha"].as_f64();
        for tag in ["f32", "f64"] {
            let x = d.join(format!("{case}_x_{tag}.npy"));
            let g = d.join(format!("{case}_g_{tag}.npy"));
            let (po, dxo) = (d.join("ours_p.npy"), d.join("ours_dx.npy"));
            let alpha_s = alpha.map(|a| a.to_string());
            let mut args = vec!["normalize", "--fn", func, "--dim", &dim];
            if let Some(a) = &alpha_s {
                args.extend(["--alpha", a.as_str()]);
            }
            args.extend(["--input", p(&x), "--output", p(&po)]);
            args.extend(["--grad-output", p(&g), "--grad-input", p(&dxo)]);
            let o = sparsekit(&args);
            assert!(
                o.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let (_, _, xv) = load(&x);
            let tol = match (tag, alpha) {
                ("f32", Some(a)) => {
                    let big = xv
                        .iter()
                        .filter(|v| v.is_finite())
                        .fold(0.0f64, |m, v| m.max((v * (a - 1.0)).abs()));
                    16.0 * f32::EPSILON as f64 * big / (a - 1.0)
                }
                _ => 0.0,
            };
            for (ours, what) in [(&po, "p"), (&dxo, "dx")] {
                let (dt, shape, got) = load(ours);
                let (rdt, rshape, want) = load(&d.join(format!("{case}_{file}_{what}_{tag}.npy")));
                assert_eq!((dt, &shape), (rdt, &rshape), "{case} {file} {what} {tag}");
                let (_, _, want64) = load(&d.join(format!("{case}_{file}_{what}_f64.npy")));
                for (i, (&a, &b)) in got.iter().zip(&want64).enumerate() {
                    if !b.is_nan() {
                        assert!(
                            (a - b).abs() <= 2e-6 * (1.0 + b.abs()),
                            "{case} {file} {what} {tag} [{i}]: ours {a} vs entmax f64 {b}"
                        );
                    }
                }
                let mut worst = 0.0f64;
                for (i, (&a, &b)) in got.iter().zip(&want).enumerate() {
                    if b.is_nan() {
                        assert_eq!(a, 0.0, "{case} {file} {what} {tag} [{i}]: fully masked");
                        continue;
                    }
                    worst = worst.max((a - b).abs());
                    let tol = match tag {
                        "f64" => 1e-6,
                        _ => 1e-4 * (1.0 + b.abs()) + tol,
                    };
                    assert!(
                        (a - b).abs() <= tol,
                        "{case} {file} {what} {tag} [{i}]: ours {a} vs entmax {b} (tol {tol:e})"
                    );
                    if what == "p" && b == 0.0 && tag == "f64" {
                        assert_eq!(a, 0.0, "{case} {file} [{i}]: exact zero expected");
                    }
                }
                eprintln!("{case:12} {file:12} {what:2} {tag}: max |Δ| = {worst:.2e}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 120);
}

/// Usage errors are one clean line: bad α, α for the wrong map, a bad dim, a missing file, a
/// gradient of the wrong shape.
#[test]
fn normalize_clean_errors() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.npy");
    let g = dir.path().join("g.npy");
    sparsekit_formats::io::npy::write_npy_dense(&x, &[0.5f32, 1.0, -1.0, 2.0, 0.0, 0.0], 2, 3)
        .unwrap();
    sparsekit_formats::io::npy::write_npy_dense(&g, &[1.0f32; 6], 3, 2).unwrap();
    let out = dir.path().join("p.npy");
    let run = |extra: &[&str]| {
        let mut a = vec!["normalize", "--input", p(&x), "--output", p(&out)];
        a.extend(extra);
        sparsekit(&a)
    };
    assert_clean_error(&run(&["--fn", "entmax", "--alpha", "1"]), &["alpha"]);
    assert_clean_error(&run(&["--fn", "entmax"]), &["--alpha"]);
    assert_clean_error(&run(&["--fn", "sparsemax", "--alpha", "1.5"]), &["--alpha"]);
    assert_clean_error(&run(&["--fn", "sparsemax", "--dim", "2"]), &["--dim 2"]);
    assert_clean_error(&run(&["--fn", "sparsemax", "--dim", "-3"]), &["--dim -3"]);
    let dx = dir.path().join("dx.npy");
    let o = run(&[
        "--fn",
        "entmax15",
        "--grad-output",
        p(&g),
        "--grad-input",
        p(&dx),
    ]);
    assert_clean_error(&o, &["shape"]);
    let o = sparsekit(&[
        "normalize",
        "--fn",
        "sparsemax",
        "--input",
        "/nonexistent/x.npy",
        "--output",
        p(&out),
    ]);
    assert_clean_error(&o, &["x.npy"]);
    // Along dim 0 of a 2×3 array: columns (0.5, 2.0) → sparsemax (0, 1) etc.
    let o = run(&["--fn", "sparsemax", "--dim", "0"]);
    assert!(o.status.success());
    let (dt, shape, v) = load(&out);
    assert_eq!((dt, shape), (NpyDtype::F32, vec![2, 3]));
    assert_eq!(v, vec![0.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
}
