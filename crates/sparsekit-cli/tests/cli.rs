//! End-to-end tests of the `sparsekit` binary on files written with the library.

mod common;
use common::*;

use std::path::{Path, PathBuf};

use sparsekit_formats::io::{npy, npz, SparseMatrix};
use sparsekit_formats::{Coo, Csr};

/// 8×8, 2:4 along rows (not 1:4), rows 5 and 6 empty, values exactly representable.
fn two_four() -> Csr<f32> {
    let mut coo = Coo::<f32>::zeros(8, 8).unwrap();
    for i in 0..8 {
        if i == 5 || i == 6 {
            continue;
        }
        for (k, j) in [(i % 3), 4 + (i % 4)].into_iter().enumerate() {
            coo.push(i, j, (i * 8 + j) as f32 * 0.5 + 1.0 + k as f32)
                .unwrap();
        }
        if i % 2 == 0 {
            coo.push(i, 3, -1.25).unwrap();
        }
    }
    coo.to_csr()
}

fn write_npz(dir: &Path, name: &str, m: SparseMatrix<f32>) -> PathBuf {
    let path = dir.join(name);
    npz::write_path(&path, &m, &npz::NpzOptions::default()).unwrap();
    path
}

#[test]
fn inspect_table() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_npz(dir.path(), "a.npz", two_four().into());
    let o = sparsekit(&["inspect", p(&f)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains("a.npz") && lines[0].contains("npz"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("NAME") && lines[1].contains("2:4"),
        "{out}"
    );
    let row = lines[2];
    for s in ["csr", "8x8", "float32", "yes", "no"] {
        assert!(row.contains(s), "'{s}' not in row: {row}");
    }
    // Columns are aligned: every header word starts where its column does.
    let col = lines[1].find("SHAPE").unwrap();
    assert_eq!(&row[col..col + 3], "8x8", "{out}");
}

#[test]
fn inspect_json() {
    let dir = tempfile::tempdir().unwrap();
    let a = two_four();
    let f = write_npz(dir.path(), "a.npz", a.clone().into());
    let o = sparsekit(&["inspect", "--json", p(&f)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("valid JSON");
    assert_eq!(v["kind"], "npz");
    let m = &v["matrices"][0];
    assert_eq!(m["format"], "csr");
    assert_eq!(m["shape"], serde_json::json!([8, 8]));
    assert_eq!(m["nnz"], a.nnz());
    assert_eq!(m["empty_rows"], 2);
    let nm = m["nm"].as_array().unwrap();
    assert_eq!(nm[0]["pattern"], "2:4");
    assert_eq!(nm[0]["satisfied"], true);
    assert_eq!(nm[1]["pattern"], "1:4");
    assert_eq!(nm[1]["satisfied"], false);
    let sparsity = m["sparsity"].as_f64().unwrap();
    assert!((sparsity - (1.0 - a.nnz() as f64 / 64.0)).abs() < 1e-12);
    assert_eq!(m["blocks"]["total"], 4);
    assert!(m["blocks"]["nonempty"].as_u64().unwrap() >= 3);
}

#[test]
fn convert_round_trip_npz_mtx_npz_npy() {
    let dir = tempfile::tempdir().unwrap();
    let a = two_four();
    let src = write_npz(dir.path(), "a.npz", a.clone().into());
    let (mtx, npz2, npy2) = (
        dir.path().join("a.mtx"),
        dir.path().join("b.npz"),
        dir.path().join("c.npy"),
    );
    for args in [
        vec!["convert", p(&src), p(&mtx)],
        vec![
            "convert",
            p(&mtx),
            p(&npz2),
            "--format",
            "csc",
            "--index",
            "i64",
        ],
        vec!["convert", p(&npz2), p(&npy2)],
    ] {
        let o = sparsekit(&args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    }
    let b = npz::read_path::<f64, u32>(&npz2).unwrap();
    assert_eq!(b.format_name(), "csc");
    assert_eq!(b.nnz(), a.nnz());
    let (dense, r, c) = npy::read_npy_dense::<f64>(&npy2).unwrap();
    assert_eq!((r, c), (8, 8));
    let want: Vec<f64> = a.to_dense().iter().map(|&v| v as f64).collect();
    assert_eq!(dense, want);
}

#[test]
fn convert_dense_to_bsr_keeps_exact_nonzeros() {
    let dir = tempfile::tempdir().unwrap();
    let a = two_four();
    let dense = a.to_dense();
    let (src, bsr, back) = (
        dir.path().join("d.npy"),
        dir.path().join("d.npz"),
        dir.path().join("e.npy"),
    );
    npy::write_npy_dense(&src, &dense, 8, 8).unwrap();
    let o = sparsekit(&[
        "convert",
        p(&src),
        p(&bsr),
        "--format",
        "bsr",
        "--block",
        "2x4",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = npz::read_path::<f32, u32>(&bsr).unwrap();
    assert_eq!(m.format_name(), "bsr");
    assert_eq!(m.to_csr().unwrap(), a);
    let o = sparsekit(&["convert", p(&bsr), p(&back)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(npy::read_npy_dense::<f32>(&back).unwrap().0, dense);
    // A block shape that does not divide the matrix is a clean error.
    let o = sparsekit(&[
        "convert",
        p(&src),
        p(&bsr),
        "--format",
        "bsr",
        "--block",
        "3x3",
    ]);
    assert_clean_error(&o, &["writing", "d.npz"]);
}

#[test]
fn inspect_dense_npy_and_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    let dense = two_four().to_dense();
    let f = dir.path().join("w.npy");
    npy::write_npy_dense(&f, &dense, 8, 8).unwrap();
    let o = sparsekit(&["inspect", "--json", p(&f)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["matrices"][0]["format"], "dense");
    assert_eq!(v["matrices"][0]["dtype"], "float32");
    assert_eq!(v["matrices"][0]["nnz"], two_four().nnz());

    // A hand-written dense safetensors file: one 2:4 weight and one 1-D bias.
    let mut data: Vec<u8> = bytemuck_f32(&dense);
    let bias = [0.0f32, 1.0, 0.0, 0.0];
    data.extend(bytemuck_f32(&bias));
    let header = r#"{"layer.weight":{"dtype":"F32","shape":[8,8],"data_offsets":[0,256]},"layer.bias":{"dtype":"F32","shape":[4],"data_offsets":[256,272]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    bytes.extend(data);
    let f = dir.path().join("model.safetensors");
    std::fs::write(&f, bytes).unwrap();
    let o = sparsekit(&["inspect", "--json", p(&f)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let ms = v["matrices"].as_array().unwrap();
    let w = ms.iter().find(|m| m["name"] == "layer.weight").unwrap();
    assert_eq!(w["nnz"], two_four().nnz());
    assert_eq!(w["nm"][0]["satisfied"], true);
    let b = ms.iter().find(|m| m["name"] == "layer.bias").unwrap();
    assert_eq!(b["nnz"], 1);
    assert_eq!(b["matrix_shape"], serde_json::json!([1, 4]));
    let o = sparsekit(&["inspect", p(&f)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("layer.weight"));
}

fn bytemuck_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn corrupt_files_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    // Truncated npz.
    let good = write_npz(dir.path(), "good.npz", two_four().into());
    let bytes = std::fs::read(&good).unwrap();
    let bad = dir.path().join("bad.npz");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    assert_clean_error(&sparsekit(&["inspect", p(&bad)]), &["reading", "bad.npz"]);
    // Not a zip at all.
    std::fs::write(&bad, b"this is not an npz file").unwrap();
    assert_clean_error(&sparsekit(&["inspect", p(&bad)]), &["reading", "bad.npz"]);
    let out = dir.path().join("out.mtx");
    assert_clean_error(
        &sparsekit(&["convert", p(&bad), p(&out)]),
        &["reading", "bad.npz"],
    );
    // Matrix Market with an entry outside the matrix.
    let mtx = dir.path().join("bad.mtx");
    std::fs::write(
        &mtx,
        "%%MatrixMarket matrix coordinate real general\n3 3 2\n1 1 1.0\n2 9 2.0\n",
    )
    .unwrap();
    assert_clean_error(&sparsekit(&["inspect", p(&mtx)]), &["reading", "bad.mtx"]);
    // Garbage npy and safetensors.
    let npy = dir.path().join("bad.npy");
    std::fs::write(&npy, b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'").unwrap();
    assert_clean_error(&sparsekit(&["inspect", p(&npy)]), &["reading", "bad.npy"]);
    let st = dir.path().join("bad.safetensors");
    std::fs::write(&st, b"\xff\xff\xff\xff\xff\xff\xff\x7f{}").unwrap();
    assert_clean_error(
        &sparsekit(&["inspect", p(&st)]),
        &["reading", "bad.safetensors"],
    );
}

#[test]
fn missing_file_and_unknown_extension() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.npz");
    assert_clean_error(
        &sparsekit(&["inspect", p(&missing)]),
        &["reading", "missing.npz"],
    );
    let out = dir.path().join("x.npy");
    assert_clean_error(
        &sparsekit(&["convert", p(&missing), p(&out)]),
        &["reading", "missing.npz"],
    );
    let txt = dir.path().join("m.txt");
    std::fs::write(&txt, "1 2 3").unwrap();
    assert_clean_error(
        &sparsekit(&["inspect", p(&txt)]),
        &["unknown extension", ".txt"],
    );
    let good = write_npz(dir.path(), "g.npz", two_four().into());
    assert_clean_error(
        &sparsekit(&["convert", p(&good), p(&dir.path().join("g.csv"))]),
        &["unknown extension"],
    );
    // --format only makes sense for .npz output.
    assert_clean_error(
        &sparsekit(&["convert", p(&good), p(&out), "--format", "coo"]),
        &["--format"],
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(sparsekit(&[]).status.code(), Some(2));
    assert_eq!(sparsekit(&["inspect"]).status.code(), Some(2));
    assert_eq!(
        sparsekit(&["convert", "a.npz", "b.npz", "--block", "4"])
            .status
            .code(),
        Some(2)
    );
    let o = sparsekit(&["--help"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("inspect") && stdout(&o).contains("convert"));
}

#[test]
fn inspect_sparse_safetensors() {
    use sparsekit_formats::io::safetensors as st;
    let dir = tempfile::tempdir().unwrap();
    let a: SparseMatrix<f32> = two_four().into();
    let b: SparseMatrix<f32> = SparseMatrix::Coo(two_four().to_coo());
    let bytes = st::write_sparse(&[("enc.w", &a), ("dec.w", &b)]).unwrap();
    let f = dir.path().join("sparse.safetensors");
    std::fs::write(&f, bytes).unwrap();
    let o = sparsekit(&["inspect", "--json", p(&f)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let ms = v["matrices"].as_array().unwrap();
    // Two matrices, their component arrays not listed as dense tensors.
    assert_eq!(ms.len(), 2, "{v}");
    let enc = ms.iter().find(|m| m["name"] == "enc.w").unwrap();
    assert_eq!(enc["format"], "csr");
    assert_eq!(enc["dtype"], "F32");
    assert_eq!(enc["nm"][0]["satisfied"], true);
    let dec = ms.iter().find(|m| m["name"] == "dec.w").unwrap();
    assert_eq!(dec["format"], "coo");
    assert_eq!(dec["nnz"], two_four().nnz());
}

#[test]
fn files_are_read_by_extension_and_content() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_npz(dir.path(), "g.npz", two_four().into());
    let bytes = std::fs::read(&good).unwrap();
    // npz content under another supported extension: one line naming both.
    let wrong = dir.path().join("g.mtx");
    std::fs::write(&wrong, &bytes).unwrap();
    let out = dir.path().join("o.npy");
    for args in [
        vec!["inspect", p(&wrong)],
        vec!["convert", p(&wrong), p(&out)],
    ] {
        assert_clean_error(
            &sparsekit(&args),
            &["reading", "g.mtx", "extension says .mtx", ".npz file"],
        );
    }
    // An unknown extension: the content decides.
    let bin = dir.path().join("g.bin");
    std::fs::write(&bin, &bytes).unwrap();
    let o = sparsekit(&["inspect", "--json", p(&bin)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["kind"], "npz");
    assert_eq!(v["matrices"][0]["nnz"], two_four().nnz());
    // Empty files are one-line errors for every extension.
    for ext in ["npz", "mtx", "npy", "safetensors"] {
        let e = dir.path().join(format!("empty.{ext}"));
        std::fs::write(&e, b"").unwrap();
        assert_clean_error(
            &sparsekit(&["inspect", p(&e)]),
            &["reading", &format!("empty.{ext}"), "empty file"],
        );
    }
}

#[test]
fn convert_keeps_the_input_precision() {
    let dir = tempfile::tempdir().unwrap();
    // f64 values that f32 cannot hold stay f64; f32 input stays f32.
    let x = [0.1f64, 0.0, 1.0 / 3.0, 2.0];
    let (f64_npy, f32_npy) = (dir.path().join("d.npy"), dir.path().join("s.npy"));
    npy::write_npy_dense(&f64_npy, &x, 2, 2).unwrap();
    let xs: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    npy::write_npy_dense(&f32_npy, &xs, 2, 2).unwrap();
    for (src, dtype) in [(&f64_npy, "float64"), (&f32_npy, "float32")] {
        let out = dir.path().join("o.npz");
        let o = sparsekit(&["convert", p(src), p(&out)]);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = sparsekit(&["inspect", "--json", p(&out)]);
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(v["matrices"][0]["dtype"], dtype, "{src:?}");
    }
    let out = dir.path().join("o.npz");
    assert!(sparsekit(&["convert", p(&f64_npy), p(&out)])
        .status
        .success());
    let back = npz::read_path::<f64, u32>(&out).unwrap().to_dense();
    assert_eq!(back, x);
    // --dtype f32 rounds.
    assert!(
        sparsekit(&["convert", p(&f64_npy), p(&out), "--dtype", "f32"])
            .status
            .success()
    );
    let back = npz::read_path::<f64, u32>(&out).unwrap().to_dense();
    assert_eq!(back, xs.iter().map(|&v| v as f64).collect::<Vec<_>>());
    // A 3-D array is no matrix.
    let mut b = Vec::new();
    npy::write_header(&mut b, "<f4", &[2, 2, 2]).unwrap();
    b.extend(bytemuck_f32(&[1.0; 8]));
    let cube = dir.path().join("c.npy");
    std::fs::write(&cube, b).unwrap();
    assert_clean_error(
        &sparsekit(&["convert", p(&cube), p(&out)]),
        &["reading", "c.npy", "3-D"],
    );
    // ... but inspect sees it as 4 × 2 (prod(leading) × last).
    let o = sparsekit(&["inspect", "--json", p(&cube)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["matrices"][0]["matrix_shape"], serde_json::json!([4, 2]));
    assert_eq!(v["matrices"][0]["shape"], serde_json::json!([2, 2, 2]));
}
