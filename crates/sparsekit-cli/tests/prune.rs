//! `sparsekit prune` end to end on a checkpoint written here with the `safetensors` crate, and
//! (when a Python with numpy + safetensors exists) the output loaded by `safetensors.numpy`.

mod common;
use common::*;
use sparsekit_formats::sparsity::{keep_count, mask, Structure};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

/// Deterministic distinct non-zero values.
fn vals(n: usize, salt: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let x = ((i as u32).wrapping_mul(2654435761).wrapping_add(salt) % 1000) as f32;
            (x + 1.0) / 1000.0 * if i % 3 == 0 { -1.0 } else { 1.0 }
        })
        .collect()
}

fn le32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A checkpoint: F32 [8, 12], F16 [6, 8], BF16 [2, 4, 4], F32 bias [8], I64 [3], F32 "head"
/// [4, 8], with metadata.
fn checkpoint(dir: &Path) -> PathBuf {
    checkpoint_with(dir, true)
}

/// `bf16: false` leaves out the BF16 tensor (numpy has no bfloat16).
fn checkpoint_with(dir: &Path, bf16_tensor: bool) -> PathBuf {
    let f16: Vec<u8> = vals(48, 7)
        .iter()
        .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
        .collect();
    let bf16: Vec<u8> = vals(32, 9)
        .iter()
        .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
        .collect();
    let ints: Vec<u8> = [1i64, 2, 3].iter().flat_map(|x| x.to_le_bytes()).collect();
    let arrays: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> = vec![
        ("enc.weight", Dtype::F32, vec![8, 12], le32(&vals(96, 1))),
        ("enc.bias", Dtype::F32, vec![8], le32(&vals(8, 2))),
        ("dec.weight", Dtype::F16, vec![6, 8], f16),
        ("conv.weight", Dtype::BF16, vec![2, 4, 4], bf16),
        ("steps", Dtype::I64, vec![3], ints),
        ("head.weight", Dtype::F32, vec![4, 8], le32(&vals(32, 3))),
    ];
    let arrays: Vec<_> = arrays
        .into_iter()
        .filter(|a| bf16_tensor || a.1 != Dtype::BF16)
        .collect();
    let views: Vec<(String, TensorView)> = arrays
        .iter()
        .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    let bytes = safetensors::tensor::serialize(views, &Some(meta)).unwrap();
    let path = dir.join("in.safetensors");
    std::fs::write(&path, bytes).unwrap();
    path
}

fn floats(st: &SafeTensors, name: &str) -> Vec<f32> {
    let t = st.tensor(name).unwrap();
    match t.dtype() {
        Dtype::F32 => t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => t
            .data()
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => t
            .data()
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        d => panic!("{d:?}"),
    }
}

#[test]
fn prunes_selected_tensors_and_copies_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let input = checkpoint(dir.path());
    let output = dir.path().join("out.safetensors");
    let o = sparsekit(&[
        "prune",
        p(&input),
        p(&output),
        "--sparsity",
        "0.75",
        "--exclude",
        "head.*",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("TENSOR") && out.contains("enc.weight") && out.contains("75.00%"),
        "{out}"
    );
    let inb = std::fs::read(&input).unwrap();
    let outb = std::fs::read(&output).unwrap();
    let a = SafeTensors::deserialize(&inb).unwrap();
    let b = SafeTensors::deserialize(&outb).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&outb).unwrap();
    assert_eq!(meta.metadata().as_ref().unwrap()["format"], "pt");
    // Exact counts, largest magnitudes kept, dtypes kept.
    for (name, n, dtype) in [
        ("enc.weight", 96, Dtype::F32),
        ("dec.weight", 48, Dtype::F16),
        ("conv.weight", 32, Dtype::BF16),
    ] {
        assert_eq!(b.tensor(name).unwrap().dtype(), dtype);
        assert_eq!(
            b.tensor(name).unwrap().shape(),
            a.tensor(name).unwrap().shape()
        );
        let before = floats(&a, name);
        let after = floats(&b, name);
        let kept: Vec<f32> = after.iter().copied().filter(|x| *x != 0.0).collect();
        assert_eq!(kept.len(), keep_count(n, 0.75).unwrap(), "{name}");
        // The same entries as the sparsity vocabulary's mask on |w| (one rule for every path).
        let shape = a.tensor(name).unwrap().shape().to_vec();
        let (r, c) = (shape[0], shape[1..].iter().product::<usize>());
        let mag: Vec<f32> = before.iter().map(|x| x.abs()).collect();
        let want = mask(&mag, r, c, 0.75, Structure::Unstructured).unwrap();
        let got: Vec<bool> = after.iter().map(|x| *x != 0.0).collect();
        assert_eq!(got, want.to_bools(), "{name}: kept entries");
        let min_kept = kept.iter().map(|x| x.abs()).fold(f32::INFINITY, f32::min);
        for (x, y) in before.iter().zip(&after) {
            if *y != 0.0 {
                assert_eq!(x, y);
            } else {
                assert!(x.abs() <= min_kept);
            }
        }
    }
    // Unselected and non-float tensors are byte-identical.
    for name in ["enc.bias", "steps", "head.weight"] {
        assert_eq!(
            a.tensor(name).unwrap().data(),
            b.tensor(name).unwrap().data(),
            "{name}"
        );
    }
}

#[test]
fn nm_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let input = checkpoint(dir.path());
    let output = dir.path().join("nm.safetensors");
    let o = sparsekit(&[
        "prune",
        p(&input),
        p(&output),
        "--pattern",
        "2:4",
        "--include",
        "enc.*|conv.*",
        "--method",
        "random",
        "--seed",
        "3",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let outb = std::fs::read(&output).unwrap();
    let b = SafeTensors::deserialize(&outb).unwrap();
    for (name, cols) in [("enc.weight", 12), ("conv.weight", 16)] {
        let v = floats(&b, name);
        for row in v.chunks(cols) {
            for g in row.chunks(4) {
                assert_eq!(g.iter().filter(|x| **x != 0.0).count(), 2, "{name}");
            }
        }
    }
    let o = sparsekit(&[
        "prune",
        p(&input),
        p(&output),
        "--block",
        "2x4",
        "--sparsity",
        "0.5",
        "--include",
        "enc.weight",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let outb = std::fs::read(&output).unwrap();
    let b = SafeTensors::deserialize(&outb).unwrap();
    let v = floats(&b, "enc.weight");
    let mut kept_blocks = 0;
    for bi in 0..4 {
        for bj in 0..3 {
            let nz = (0..2)
                .flat_map(|i| (0..4).map(move |j| (i, j)))
                .filter(|&(i, j)| v[(bi * 2 + i) * 12 + bj * 4 + j] != 0.0)
                .count();
            assert!(nz == 0 || nz == 8);
            kept_blocks += (nz == 8) as usize;
        }
    }
    assert_eq!(kept_blocks, 6);
}

#[test]
fn errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = checkpoint(dir.path());
    let output = dir.path().join("x.safetensors");
    for (args, want) in [
        (vec!["--sparsity", "1.5"], "sparsity"),
        (vec!["--include", "nothing.here"], "no"),
        (vec!["--exclude", "a..b"], "pattern"),
    ] {
        let mut a = vec!["prune", p(&input), p(&output)];
        a.extend(args);
        let o = sparsekit(&a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("error: ") && err.contains(want), "{err}");
    }
    // N > M and a zero block side are usage errors (clap: exit 2).
    for bad in [["--pattern", "5:4"], ["--block", "0x4"]] {
        let mut a = vec!["prune", p(&input), p(&output)];
        a.extend(bad);
        assert_eq!(sparsekit(&a).status.code(), Some(2));
    }
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"not a safetensors file").unwrap();
    let o = sparsekit(&["prune", p(&bad), p(&output)]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr).lines().count(), 1);
}

/// `safetensors.numpy` reads the pruned checkpoint: same names, dtypes and shapes, exact 2:4
/// groups, kept values unchanged. Needs `$SPARSEKIT_PYTHON` (fails in CI without it).
#[test]
fn python_reads_the_output() {
    let Some(py) = sparsekit_testenv::python(&["numpy", "safetensors"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = checkpoint_with(dir.path(), false);
    let output = dir.path().join("py.safetensors");
    let o = sparsekit(&["prune", p(&input), p(&output), "--pattern", "2:4"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let script = r#"
import sys, numpy as np
from safetensors.numpy import load_file
a, b = load_file(sys.argv[1]), load_file(sys.argv[2])
assert set(a) == set(b), (set(a), set(b))
for k in a:
    assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
    if a[k].ndim >= 2 and a[k].dtype.kind == "f":
        w = b[k].reshape(b[k].shape[0], -1).reshape(b[k].shape[0], -1, 4)
        assert ((w != 0).sum(axis=2) == 2).all(), k
        keep = b[k] != 0
        assert (a[k][keep] == b[k][keep]).all(), k
    else:
        assert (a[k] == b[k]).all(), k
print("OK")
"#;
    let o = Command::new(py)
        .args(["-c", script, p(&input), p(&output)])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("OK"),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `--allocation global` keeps exactly `round((1 − s) · total)` weights over the selected
/// tensors, by one magnitude threshold (what PyTorch's `global_unstructured` does); `erk`
/// keeps the same total within rounding with per-tensor sparsities from the shapes; N:M and a
/// calibrated method or OWL on a checkpoint are errors.
#[test]
fn allocations_of_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let input = checkpoint(dir.path());
    let output = dir.path().join("global.safetensors");
    let include = "enc.weight|dec.weight|head.weight";
    let o = sparsekit(&[
        "prune",
        p(&input),
        p(&output),
        "--sparsity",
        "0.6",
        "--allocation",
        "global",
        "--include",
        include,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (a, b) = (
        std::fs::read(&input).unwrap(),
        std::fs::read(&output).unwrap(),
    );
    let (a, b) = (
        SafeTensors::deserialize(&a).unwrap(),
        SafeTensors::deserialize(&b).unwrap(),
    );
    let names = ["enc.weight", "dec.weight", "head.weight"];
    let mut all: Vec<f32> = Vec::new();
    let mut kept = 0usize;
    for n in names {
        let (va, vb) = (floats(&a, n), floats(&b, n));
        all.extend(va.iter().map(|v| v.abs()));
        let k = vb.iter().filter(|v| **v != 0.0).count();
        kept += k;
        for (x, y) in va.iter().zip(&vb) {
            assert!(*y == 0.0 || x == y, "{n}");
        }
    }
    assert_eq!(kept, keep_count(all.len(), 0.6).unwrap());
    // One threshold: every kept weight is at least as large as every pruned one.
    let mut min_kept = f32::INFINITY;
    let mut max_pruned = 0.0f32;
    for n in names {
        for (x, y) in floats(&a, n).iter().zip(floats(&b, n)) {
            if y != 0.0 {
                min_kept = min_kept.min(x.abs());
            } else {
                max_pruned = max_pruned.max(x.abs());
            }
        }
    }
    assert!(min_kept >= max_pruned, "{min_kept} < {max_pruned}");

    let erk = dir.path().join("erk.safetensors");
    let o = sparsekit(&[
        "prune",
        p(&input),
        p(&erk),
        "--sparsity",
        "0.6",
        "--allocation",
        "erk",
        "--include",
        include,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let e = std::fs::read(&erk).unwrap();
    let e = SafeTensors::deserialize(&e).unwrap();
    let kept: usize = names
        .iter()
        .map(|n| floats(&e, n).iter().filter(|v| **v != 0.0).count())
        .sum();
    assert!((kept as f64 - 0.4 * all.len() as f64).abs() <= names.len() as f64);

    for (args, needle) in [
        (
            vec!["--pattern", "2:4", "--allocation", "global"],
            "uniform",
        ),
        (vec!["--allocation", "owl"], "calibration"),
        (vec!["--method", "wanda"], "model directory"),
    ] {
        let mut all_args = vec!["prune", p(&input), p(&output)];
        all_args.extend(args);
        let o = sparsekit(&all_args);
        assert_eq!(o.status.code(), Some(1), "{all_args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle) && err.lines().count() == 1, "{err}");
    }
}
