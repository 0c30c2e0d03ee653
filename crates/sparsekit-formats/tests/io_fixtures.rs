//! Files written by the real tools (SciPy `save_npz`, `scipy.io.mmwrite`, safetensors; see
//! `fixtures/make_fixtures.py`) read exactly: every fixture against the dense matrix SciPy itself
//! computed (`fixtures/expected/*.npy`), and `info` against what NumPy reported.

use std::path::{Path, PathBuf};

use half::{bf16, f16};
use serde_json::Value;
use sparsekit_formats::io::npy::read_npy_dense;
use sparsekit_formats::io::{mtx, npz, safetensors as st, SparseMatrix};
use sparsekit_formats::Scalar;

/// `cargo test` sets `CARGO_MANIFEST_DIR` at run time; prefer it to the compile-time value, which
/// a build cache shared between checkouts can leave pointing at another checkout.
fn fixtures() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf())
        .join("tests/fixtures")
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn expected(name: &str) -> (Vec<f64>, usize, usize) {
    read_npy_dense::<f64>(fixtures().join("expected").join(format!("{name}.npy"))).unwrap()
}

fn dense_as<T: Scalar>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::from_f64(x)).collect()
}

/// Reads one npz fixture as `T` with index type `I` and compares to the expected dense.
fn check_npz<T: Scalar, I: sparsekit_formats::SpIndex>(file: &Path, exp: &str, fmt: &str) {
    let (want, m, n) = expected(exp);
    let got: SparseMatrix<T, I> = npz::read_path(file).unwrap_or_else(|e| panic!("{file:?}: {e}"));
    assert_eq!(got.format_name(), fmt, "{file:?}");
    assert_eq!(got.shape(), (m, n), "{file:?}");
    let want: Vec<T> = dense_as(&want);
    let dense = got.to_dense();
    // Compare bit patterns (after normalising -0.0, which SciPy's toarray turns into +0.0).
    let bits = |v: &[T]| -> Vec<u64> {
        v.iter()
            .map(|x| {
                let f = x.to_f64();
                if f == 0.0 {
                    0
                } else {
                    f.to_bits()
                }
            })
            .collect()
    };
    assert_eq!(bits(&dense), bits(&want), "{file:?} as {}", T::NAME);
    // and through CSR
    assert_eq!(
        bits(&got.to_csr().unwrap().to_dense()),
        bits(&want),
        "{file:?}"
    );
}

#[test]
fn every_scipy_npz_fixture_reads_exactly() {
    let man = manifest();
    let entries = man["npz"].as_array().unwrap();
    assert!(entries.len() >= 30);
    for e in entries {
        let file = fixtures().join(e["file"].as_str().unwrap());
        let exp = e["expected"].as_str().unwrap();
        let fmt = e["format"].as_str().unwrap();
        let vdt = e["value_dtype"].as_str().unwrap();
        match vdt {
            "<f4" => {
                check_npz::<f32, u32>(&file, exp, fmt);
                check_npz::<f32, u64>(&file, exp, fmt);
                check_npz::<f64, u32>(&file, exp, fmt);
            }
            "<f2" => {
                check_npz::<f16, u32>(&file, exp, fmt);
                check_npz::<f32, u64>(&file, exp, fmt);
            }
            _ => {
                check_npz::<f64, u32>(&file, exp, fmt);
                check_npz::<f64, u64>(&file, exp, fmt);
            }
        }
        // Every fixture also reads into every narrower type, as the rounded expected values.
        check_npz::<f32, u32>(&file, exp, fmt);
        check_npz::<bf16, u32>(&file, exp, fmt);

        let info = npz::info_path(&file).unwrap();
        assert_eq!(info.format, fmt, "{file:?}");
        let shape = e["shape"].as_array().unwrap();
        assert_eq!(
            info.shape,
            (
                shape[0].as_u64().unwrap() as usize,
                shape[1].as_u64().unwrap() as usize
            )
        );
        assert_eq!(info.nnz as u64, e["nnz"].as_u64().unwrap(), "{file:?}");
        assert_eq!(info.value_dtype, vdt, "{file:?}");
        assert_eq!(
            info.index_dtype,
            e["index_dtype"].as_str().unwrap(),
            "{file:?}"
        );
        let bs = e["block_shape"].as_array().map(|b| {
            (
                b[0].as_u64().unwrap() as usize,
                b[1].as_u64().unwrap() as usize,
            )
        });
        assert_eq!(info.block_shape, bs, "{file:?}");
    }
}

#[test]
fn noncanonical_scipy_csr_is_canonicalised() {
    let m: SparseMatrix<f64> = npz::read_path(fixtures().join("npz/noncanonical_csr.npz")).unwrap();
    let SparseMatrix::Csr(a) = m else {
        panic!("not csr")
    };
    // row 0 sorted; duplicate (2,1) summed; explicit zero at (3,0) kept, as SciPy keeps it.
    assert_eq!(a.row_ptr(), &[0, 3, 3, 4, 5]);
    assert_eq!(a.col_idx(), &[0, 2, 3, 1, 0]);
    assert_eq!(a.values(), &[0.5, 1.0, 2.0, 4.25, 0.0]);
}

#[test]
fn int64_fixtures_really_are_int64_and_read_into_u32() {
    let info = npz::info_path(fixtures().join("npz/A_csr_i64_stored.npz")).unwrap();
    assert_eq!(info.index_dtype, "<i8");
    let a: SparseMatrix<f64, u32> =
        npz::read_path(fixtures().join("npz/A_csr_i64_stored.npz")).unwrap();
    let b: SparseMatrix<f64, u32> =
        npz::read_path(fixtures().join("npz/A_csr_i32_deflate.npz")).unwrap();
    assert_eq!(a, b);
}

#[test]
fn every_scipy_mtx_fixture_reads_exactly() {
    let man = manifest();
    let entries = man["mtx"].as_array().unwrap();
    assert!(entries.len() >= 7);
    for e in entries {
        let file = fixtures().join(e["file"].as_str().unwrap());
        let (want, m, n) = expected(e["expected"].as_str().unwrap());
        let a = mtx::read_path::<f64, u32>(&file).unwrap_or_else(|err| panic!("{file:?}: {err}"));
        assert_eq!(a.shape(), (m, n), "{file:?}");
        assert_eq!(a.to_dense(), want, "{file:?}");
        let a32 = mtx::read_path::<f32, u64>(&file).unwrap();
        assert_eq!(a32.to_dense(), dense_as::<f32>(&want), "{file:?} as f32");

        let h = mtx::info_path(&file).unwrap();
        assert_eq!((h.nrows, h.ncols), (m, n));
        assert_eq!(h.nnz as u64, e["entries"].as_u64().unwrap(), "{file:?}");
        let field = match h.field {
            mtx::MtxField::Real => "real",
            mtx::MtxField::Integer => "integer",
            mtx::MtxField::Pattern => "pattern",
        };
        assert_eq!(field, e["field"].as_str().unwrap());
        let sym = match h.symmetry {
            mtx::MtxSymmetry::General => "general",
            mtx::MtxSymmetry::Symmetric => "symmetric",
            mtx::MtxSymmetry::SkewSymmetric => "skew-symmetric",
        };
        assert_eq!(sym, e["symmetry"].as_str().unwrap());
        let fmt = match h.format {
            mtx::MtxFormat::Coordinate => "coordinate",
            mtx::MtxFormat::Array => "array",
        };
        assert_eq!(fmt, e["format"].as_str().unwrap());
    }
}

#[test]
fn symmetric_mtx_expands_both_triangles() {
    let a = mtx::read_path::<f64, u32>(fixtures().join("mtx/S_real_symmetric.mtx")).unwrap();
    // 6 stored entries, 3 on the diagonal: 3 + 2·3 = 9 after expansion.
    assert_eq!(a.nnz(), 9);
}

#[test]
fn safetensors_checkpoint_reads_every_dtype() {
    let bytes = std::fs::read(fixtures().join("dense.safetensors")).unwrap();
    let man = manifest();
    let want = man["safetensors"].as_object().unwrap();
    let infos = st::read_dense_info(&bytes).unwrap();
    assert_eq!(infos.len(), want.len());
    for info in &infos {
        let w = &want[&info.name];
        assert_eq!(info.dtype, w["dtype"].as_str().unwrap(), "{}", info.name);
        let shape: Vec<usize> = w["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(info.shape, shape);
        let (s, v) = st::read_dense_f32(&bytes, &info.name).unwrap();
        assert_eq!(s, shape);
        let vals: Vec<f32> = w["values_f32"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(v, vals, "{}", info.name);
    }
    // It holds no sparse matrices.
    assert!(st::read_sparse::<f32, u32>(&bytes).unwrap().is_empty());
}
