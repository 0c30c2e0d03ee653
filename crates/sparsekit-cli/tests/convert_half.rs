//! `sparsekit convert` to f16 / bf16 and to and from sparse `.safetensors` (no `models` feature
//! needed): every value rounded once to nearest even from its exact (f64) value, the pattern
//! and format kept, overflow / underflow counted, bf16 refused for NumPy and Matrix Market
//! outputs and f16 for `.npz` (SciPy has no float16 sparse matrices), one matrix picked from a
//! `.safetensors` input; and NumPy / SciPy / PyTorch reading what was written
//! (`$SPARSEKIT_PYTHON`, fails in CI without it).

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;

use half::{bf16, f16};
use sparsekit_formats::io::{mtx, npy, npz, safetensors as st, SparseMatrix};
use sparsekit_formats::{Bsr, Coo, Scalar};

/// 1 + 2⁻⁸ + 2⁻⁴⁰: just above a bf16 tie, the excess far below f32's precision. Rounded once it
/// is 1 + 2⁻⁷ (bits 0x3F81); truncating the f64's low 32 bits gives 1 (0x3F80).
const BF16_STICKY: f64 = 1.0 + 1.0 / 256.0 + 1.0 / 1_099_511_627_776.0;
/// 1 + 2⁻¹¹ + 2⁻⁴⁰: the same for f16, whose rounding through f32 would give 1 (0x3C00) instead
/// of 1 + 2⁻¹⁰ (0x3C01).
const F16_STICKY: f64 = 1.0 + 1.0 / 2048.0 + 1.0 / 1_099_511_627_776.0;

/// 6×8 f64 matrix, 2×2-block friendly, values not exact in f16/bf16 (ties, sticky ties, values
/// only f64 holds), one empty row.
fn matrix() -> Coo<f64, u32> {
    let vals = [
        0.1,
        -1.0 / 3.0,
        BF16_STICKY,
        F16_STICKY,
        1.0 + 1.0 / 2048.0, // exact f16 tie: to even (1.0)
        -2.5e-3,
        1234.5678,
        7.0e-5,
        -65504.0,
        3.0e10, // beyond f16, inside bf16
        0.333251953125,
        -1.0e-3,
    ];
    let mut coo = Coo::<f64, u32>::zeros(6, 8).unwrap();
    let mut k = 0;
    for i in [0usize, 1, 2, 4, 5] {
        for j in [(i * 3) % 8, (i * 3 + 5) % 8] {
            coo.push(i, j, vals[k % vals.len()]).unwrap();
            k += 1;
        }
    }
    coo.push(5, 6, vals[10]).unwrap();
    coo.push(4, 7, vals[11]).unwrap();
    coo
}

/// The matrix in each format (bsr with 2×2 blocks, whose explicit zeros are kept).
fn formats() -> Vec<SparseMatrix<f64, u32>> {
    let csr = matrix().to_csr();
    vec![
        SparseMatrix::Csr(csr.clone()),
        SparseMatrix::Csc(csr.to_csc()),
        SparseMatrix::Coo(csr.to_coo()),
        SparseMatrix::Bsr(Bsr::from_csr(&csr, (2, 2)).unwrap()),
    ]
}

fn values<T: Scalar>(m: &SparseMatrix<T, u32>) -> &[T] {
    match m {
        SparseMatrix::Csr(a) => a.values(),
        SparseMatrix::Csc(a) => a.values(),
        SparseMatrix::Coo(a) => a.values(),
        SparseMatrix::Bsr(a) => a.values(),
    }
}

/// The same matrix with every value replaced by `f(value)` (the pattern untouched).
fn map<T: Scalar, U: Scalar>(m: &SparseMatrix<T, u32>, f: impl Fn(T) -> U) -> SparseMatrix<U, u32> {
    let mut out: SparseMatrix<U, u32> = m.cast::<U>();
    let vs: Vec<U> = values(m).iter().map(|&v| f(v)).collect();
    match &mut out {
        SparseMatrix::Csr(a) => a.values_mut().copy_from_slice(&vs),
        SparseMatrix::Csc(a) => a.values_mut().copy_from_slice(&vs),
        SparseMatrix::Coo(a) => a.values_mut().copy_from_slice(&vs),
        SparseMatrix::Bsr(a) => a.values_mut().copy_from_slice(&vs),
    }
    out
}

/// `got` equals `want` bit for bit: same format, shape, pattern, and values (compared by the
/// bits of their exact f64 values, so −0 ≠ 0).
fn assert_bitwise<T: Scalar>(got: &SparseMatrix<T, u32>, want: &SparseMatrix<T, u32>) {
    assert_eq!(got.format_name(), want.format_name());
    assert_eq!(map(got, |_| 1.0f32), map(want, |_| 1.0f32), "pattern");
    let bits = |m: &SparseMatrix<T, u32>| -> Vec<u64> {
        values(m).iter().map(|v| v.to_f64().to_bits()).collect()
    };
    assert_eq!(bits(got), bits(want), "value bits");
}

fn write_npz(dir: &Path, name: &str, m: &SparseMatrix<f64, u32>) -> PathBuf {
    let path = dir.join(name);
    npz::write_path(&path, m, &npz::NpzOptions::default()).unwrap();
    path
}

fn convert(args: &[&str]) -> String {
    let mut all = vec!["convert"];
    all.extend_from_slice(args);
    let o = sparsekit(&all);
    assert!(o.status.success(), "{all:?}: {}", stderr(&o));
    stderr(&o)
}

#[test]
fn npz_to_safetensors_bf16_rounds_once_and_keeps_the_pattern() {
    let dir = tempfile::tempdir().unwrap();
    for m in formats() {
        let fmt = m.format_name();
        let src = write_npz(dir.path(), &format!("{fmt}.npz"), &m);
        let out = dir.path().join(format!("{fmt}_bf16.safetensors"));
        let err = convert(&[p(&src), p(&out), "--dtype", "bf16"]);
        assert!(err.is_empty(), "no value overflows or underflows: {err}");
        let bytes = std::fs::read(&out).unwrap();
        let back = st::read_sparse::<bf16, u32>(&bytes).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].0, "w", "the default matrix name");
        let want = map(&m, <bf16 as Scalar>::from_f64);
        assert_bitwise(&back[0].1, &want);
        // Where no sticky tie is involved this is `half`'s own rounding; at 1 + 2⁻⁸ + 2⁻⁴⁰ it
        // is the correct 1 + 2⁻⁷.
        for (&x, &y) in values(&m).iter().zip(values(&back[0].1)) {
            if x == BF16_STICKY {
                assert_eq!(y.to_bits(), 0x3F81);
            } else {
                assert_eq!(y.to_bits(), bf16::from_f64(x).to_bits(), "{x}");
            }
        }
        let dtypes: Vec<(String, String)> = st::read_dense_info(&bytes)
            .unwrap()
            .into_iter()
            .map(|t| (t.name, t.dtype))
            .collect();
        assert!(
            dtypes.contains(&("w.data".into(), "BF16".into())),
            "{dtypes:?}"
        );
    }
    // --name names the matrix, --format converts.
    let src = write_npz(dir.path(), "n.npz", &formats()[0]);
    let out = dir.path().join("n.safetensors");
    convert(&[
        p(&src),
        p(&out),
        "--dtype",
        "bf16",
        "--name",
        "enc.weight",
        "--format",
        "coo",
    ]);
    let back = st::read_sparse::<bf16, u32>(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(back[0].0, "enc.weight");
    assert_eq!(back[0].1.format_name(), "coo");
    assert_eq!(
        back[0].1.to_csr().unwrap(),
        matrix().to_csr().cast::<bf16>()
    );
}

#[test]
fn npz_to_safetensors_and_npy_f16_rounds_once() {
    let dir = tempfile::tempdir().unwrap();
    for m in formats() {
        let fmt = m.format_name();
        let src = write_npz(dir.path(), &format!("{fmt}.npz"), &m);
        let out = dir.path().join(format!("{fmt}_f16.safetensors"));
        // 3e10 overflows f16: the warning counts it (once in the matrix).
        let err = convert(&[p(&src), p(&out), "--dtype", "f16"]);
        let nonzero = values(&m).iter().filter(|v| **v != 0.0).count();
        assert!(
            err.contains(&format!(
                "1 of {nonzero} non-zero values overflowed to ±inf, 0 underflowed"
            )),
            "{err}"
        );
        let bytes = std::fs::read(&out).unwrap();
        let info = st::read_dense_info(&bytes).unwrap();
        assert!(
            info.iter().any(|t| t.name == "w.data" && t.dtype == "F16"),
            "{info:?}"
        );
        let back = st::read_sparse::<f16, u32>(&bytes).unwrap().remove(0).1;
        let want = map(&m, <f16 as Scalar>::from_f64);
        assert_bitwise(&back, &want);
        for (&x, &y) in values(&m).iter().zip(values(&back)) {
            if x == F16_STICKY {
                assert_eq!(y.to_bits(), 0x3C01, "rounded once, not through f32");
            } else if x == 1.0 + 1.0 / 2048.0 {
                assert_eq!(y.to_bits(), 0x3C00, "a tie goes to even");
            } else if x == 3.0e10 {
                assert_eq!(y.to_bits(), 0x7C00, "+inf");
            }
        }
    }
    // Dense .npy: '<f2', every value (zeros too) rounded once.
    let src = write_npz(dir.path(), "d.npz", &formats()[0]);
    let out = dir.path().join("d.npy");
    convert(&[p(&src), p(&out), "--dtype", "f16"]);
    let bytes = std::fs::read(&out).unwrap();
    let a = npy::read_array_from_bytes(&bytes).unwrap();
    assert_eq!(a.header.dtype, npy::NpyDtype::F16);
    let (vals, r, c) = npy::read_npy_dense::<f16>(&out).unwrap();
    assert_eq!((r, c), (6, 8));
    let want: Vec<u16> = matrix()
        .to_dense()
        .iter()
        .map(|&v| <f16 as Scalar>::from_f64(v).to_bits())
        .collect();
    assert_eq!(vals.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want);
}

#[test]
fn overflow_and_underflow_are_counted_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    // 1e6 and -7e4 overflow f16, 1e-9 and -2e-8 underflow (2e-8 < 2⁻²⁵, half the smallest
    // subnormal), 0.5 and 6e-8 (rounds to the smallest subnormal 2⁻²⁴) survive.
    let coo = Coo::<f64, u32>::try_new(
        2,
        4,
        vec![0, 0, 0, 1, 1, 1],
        vec![0, 1, 3, 0, 2, 3],
        vec![1e6, 1e-9, 0.5, -7e4, -2e-8, 6e-8],
    )
    .unwrap();
    let src = write_npz(
        dir.path(),
        "o.npz",
        &SparseMatrix::Coo(coo.to_csr().to_coo()),
    );
    let out = dir.path().join("o16.safetensors");
    let err = convert(&[p(&src), p(&out), "--dtype", "f16"]);
    assert_eq!(err.lines().count(), 1, "one warning line: {err}");
    assert!(err.starts_with("warning: "), "{err}");
    assert!(
        err.contains("2 of 6 non-zero values overflowed to ±inf, 2 underflowed to 0"),
        "{err}"
    );
    let back = st::read_sparse::<f16, u32>(&std::fs::read(&out).unwrap())
        .unwrap()
        .remove(0)
        .1;
    assert_eq!(back.format_name(), "coo");
    assert_eq!(back.nnz(), 6, "underflowed values stay stored");
    let got: Vec<f64> = values(&back).iter().map(|v| v.to_f64()).collect();
    assert_eq!(
        got,
        [
            f64::INFINITY,
            0.0,
            0.5,
            f64::NEG_INFINITY,
            -0.0,
            2f64.powi(-24)
        ]
    );
    assert!(got[4].is_sign_negative(), "−2e-8 underflows to −0");
    // bf16 holds all of them: no warning.
    let out = dir.path().join("o_bf16.safetensors");
    let err = convert(&[p(&src), p(&out), "--dtype", "bf16"]);
    assert!(err.is_empty(), "{err}");
    // Values that were zero, infinite or NaN in the input are not counted (a dense output).
    let coo = Coo::<f64, u32>::try_new(
        1,
        4,
        vec![0, 0, 0, 0],
        vec![0, 1, 2, 3],
        vec![0.0, f64::INFINITY, f64::NAN, 1e5],
    )
    .unwrap();
    let src = write_npz(dir.path(), "z.npz", &SparseMatrix::Coo(coo));
    let err = convert(&[p(&src), p(&dir.path().join("z16.npy")), "--dtype", "f16"]);
    assert!(err.contains("1 of 1 non-zero values overflowed"), "{err}");
}

#[test]
fn half_outputs_that_cannot_hold_the_type_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_npz(dir.path(), "a.npz", &formats()[0]);
    for ext in ["npz", "npy", "mtx"] {
        let out = dir.path().join(format!("b.{ext}"));
        let o = sparsekit(&["convert", p(&src), p(&out), "--dtype", "bf16"]);
        assert_clean_error(&o, &["--dtype bf16", "bfloat16", ".safetensors"]);
        assert!(!out.exists(), "nothing written for .{ext}");
    }
    let out = dir.path().join("h.npz");
    let o = sparsekit(&["convert", p(&src), p(&out), "--dtype", "f16"]);
    assert_clean_error(&o, &["--dtype f16", "SciPy", "float16", ".safetensors"]);
    assert!(!out.exists());
    // f16 is fine in the other three.
    for ext in ["npy", "mtx", "safetensors"] {
        let out = dir.path().join(format!("h.{ext}"));
        convert(&[p(&src), p(&out), "--dtype", "f16"]);
        assert!(out.exists());
    }
}

#[test]
fn f16_mtx_holds_the_exact_values() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_npz(dir.path(), "a.npz", &formats()[0]);
    let out = dir.path().join("a16.mtx");
    convert(&[p(&src), p(&out), "--dtype", "f16"]);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains(" 0.0999755859375\n"),
        "0.1 in f16, exactly: {text}"
    );
    // Read back at f64: exactly the f16 values.
    let back = mtx::read_path::<f64, u32>(&out).unwrap().to_csr();
    let want = matrix().to_csr().cast::<f16>().cast::<f64>();
    assert_eq!(back, want);
    // And convert reads it back (as f64 text) to the same f16 bits.
    let again = dir.path().join("again.safetensors");
    convert(&[p(&out), p(&again), "--dtype", "f16", "--format", "csr"]);
    let b = st::read_sparse::<f16, u32>(&std::fs::read(&again).unwrap())
        .unwrap()
        .remove(0)
        .1;
    assert_bitwise(&b, &SparseMatrix::Csr(matrix().to_csr().cast::<f16>()));
}

#[test]
fn safetensors_input_picks_one_sparse_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let a: SparseMatrix<f32, u32> = SparseMatrix::Csr(matrix().to_csr().cast());
    let b: SparseMatrix<f32, u32> = SparseMatrix::Coo(matrix().to_csr().to_coo().cast());
    let two = dir.path().join("two.safetensors");
    std::fs::write(
        &two,
        st::write_sparse(&[("enc.w", &a), ("dec.w", &b)]).unwrap(),
    )
    .unwrap();
    let out = dir.path().join("o.npz");
    assert_clean_error(
        &sparsekit(&["convert", p(&two), p(&out)]),
        &[
            "reading",
            "two.safetensors",
            "2 sparse matrices",
            "dec.w, enc.w",
            "--name",
        ],
    );
    assert_clean_error(
        &sparsekit(&["convert", p(&two), p(&out), "--name", "mid.w"]),
        &["no sparse matrix named 'mid.w'", "dec.w, enc.w"],
    );
    convert(&[p(&two), p(&out), "--name", "dec.w"]);
    let back = npz::read_path::<f32, u32>(&out).unwrap();
    assert_eq!(back, b, "dec.w as it was (coo, f32)");
    // safetensors → safetensors keeps the name.
    let one = dir.path().join("one.safetensors");
    convert(&[p(&two), p(&one), "--name", "enc.w"]);
    let back = st::read_sparse::<f32, u32>(&std::fs::read(&one).unwrap()).unwrap();
    assert_eq!(back, vec![("enc.w".to_string(), a.clone())]);
    // The only sparse matrix needs no --name.
    convert(&[p(&one), p(&out)]);
    assert_eq!(npz::read_path::<f32, u32>(&out).unwrap(), a);

    // A dense checkpoint: a clear error, also when --name names one of its tensors.
    let w: Vec<u8> = [1.0f32, 0.0, 0.0, 2.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let header = r#"{"layer.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    bytes.extend(w);
    let dense = dir.path().join("model.safetensors");
    std::fs::write(&dense, bytes).unwrap();
    assert_clean_error(
        &sparsekit(&["convert", p(&dense), p(&out)]),
        &[
            "reading",
            "model.safetensors",
            "no sparse matrix",
            "1 dense tensors",
        ],
    );
    assert_clean_error(
        &sparsekit(&["convert", p(&dense), p(&out), "--name", "layer.weight"]),
        &["'layer.weight' is a dense tensor"],
    );
    // --name means nothing without a .safetensors file.
    let src = write_npz(dir.path(), "a.npz", &formats()[0]);
    assert_clean_error(
        &sparsekit(&["convert", p(&src), p(&out), "--name", "x"]),
        &["--name applies to .safetensors"],
    );
}

#[test]
fn bf16_safetensors_widens_exactly_and_keeps_its_type() {
    let dir = tempfile::tempdir().unwrap();
    let m: SparseMatrix<bf16, u32> = SparseMatrix::Csr(matrix().to_csr().cast());
    let src = dir.path().join("w.safetensors");
    std::fs::write(&src, st::write_sparse(&[("w", &m)]).unwrap()).unwrap();
    let exact: Vec<f32> = values(&m).iter().map(|v| v.to_f32()).collect();
    // --dtype f32: every bf16 value exactly.
    let out = dir.path().join("w32.npz");
    convert(&[p(&src), p(&out), "--dtype", "f32"]);
    let back = npz::read_path::<f32, u32>(&out).unwrap();
    assert_eq!(
        npz::info(&mut std::fs::File::open(&out).unwrap())
            .unwrap()
            .value_dtype,
        "<f4"
    );
    assert_eq!(values(&back), &exact[..]);
    // No --dtype: bf16 stays bf16 in .safetensors, becomes float32 (exactly) in .npz.
    let out = dir.path().join("same.safetensors");
    convert(&[p(&src), p(&out)]);
    let bytes = std::fs::read(&out).unwrap();
    let info = st::read_dense_info(&bytes).unwrap();
    assert!(
        info.iter().any(|t| t.name == "w.data" && t.dtype == "BF16"),
        "{info:?}"
    );
    assert_bitwise(&st::read_sparse::<bf16, u32>(&bytes).unwrap()[0].1, &m);
    let out = dir.path().join("default.npz");
    convert(&[p(&src), p(&out)]);
    assert_eq!(
        npz::info(&mut std::fs::File::open(&out).unwrap())
            .unwrap()
            .value_dtype,
        "<f4"
    );
    assert_eq!(
        values(&npz::read_path::<f32, u32>(&out).unwrap()),
        &exact[..]
    );
    // An f16 .npz input (NumPy can write one) stays f16 where the output holds it, and becomes
    // float32, exactly, in .npz.
    let h: SparseMatrix<f16, u32> = SparseMatrix::Csr(matrix().to_csr().cast());
    let hz = dir.path().join("h.npz");
    npz::write_path(&hz, &h, &npz::NpzOptions::default()).unwrap();
    let hs = dir.path().join("h.safetensors");
    convert(&[p(&hz), p(&hs)]);
    let back = st::read_sparse::<f16, u32>(&std::fs::read(&hs).unwrap()).unwrap();
    assert_bitwise(&back[0].1, &h);
    let hn = dir.path().join("h.npy");
    convert(&[p(&hz), p(&hn)]);
    assert_eq!(
        npy::read_array_from_bytes(&std::fs::read(&hn).unwrap())
            .unwrap()
            .header
            .dtype,
        npy::NpyDtype::F16
    );
    let h2 = dir.path().join("h2.npz");
    convert(&[p(&hz), p(&h2)]);
    assert_eq!(
        npz::info(&mut std::fs::File::open(&h2).unwrap())
            .unwrap()
            .value_dtype,
        "<f4"
    );
    let exact: Vec<f32> = values(&h).iter().map(|v| v.to_f32()).collect();
    assert_eq!(
        values(&npz::read_path::<f32, u32>(&h2).unwrap()),
        &exact[..]
    );
}

/// Runs `code` with `$SPARSEKIT_PYTHON`; its stdout as JSON.
fn python(py: &Path, code: &str, args: &[&Path]) -> serde_json::Value {
    let o = Command::new(py)
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The 16-bit patterns of the values, as JSON.
fn bits_json<T: Scalar>(m: &SparseMatrix<T, u32>, to_bits: impl Fn(T) -> u16) -> serde_json::Value {
    serde_json::json!(values(m).iter().map(|&v| to_bits(v)).collect::<Vec<u16>>())
}

#[test]
fn numpy_and_scipy_read_the_f16_safetensors_and_npy() {
    let Some(py) = sparsekit_testenv::python(&["numpy", "scipy", "safetensors"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // SciPy has no float16 sparse matrices: they are built from float32 data (exact) and
    // compared in float16.
    let code = r#"
import json, sys
import numpy as np, scipy.sparse as sp
from safetensors import safe_open
from safetensors.numpy import load_file
out = {}
for f in sys.argv[1:-1]:
    with safe_open(f, "np") as h:
        fmt = h.metadata()["w"].removeprefix("sparsekit:")
    t = load_file(f)
    data, shape = t["w.data"], tuple(t["w.shape"].tolist())
    d32 = data.astype(np.float32)
    if fmt == "coo":
        m = sp.coo_matrix((d32, (t["w.row"], t["w.col"])), shape=shape)
    elif fmt == "bsr":
        m = sp.bsr_matrix((d32, t["w.indices"], t["w.indptr"]), shape=shape, blocksize=tuple(t["w.blocksize"].tolist()))
    else:
        m = getattr(sp, fmt + "_matrix")((d32, t["w.indices"], t["w.indptr"]), shape=shape)
    dense = m.toarray().astype(np.float16)
    out[f] = [fmt, str(data.dtype), data.view(np.uint16).ravel().tolist(), dense.view(np.uint16).ravel().tolist()]
d = np.load(sys.argv[-1])
out["npy"] = [str(d.dtype), list(d.shape), d.view(np.uint16).ravel().tolist()]
print(json.dumps(out))
"#;
    let mut files: Vec<PathBuf> = Vec::new();
    let mut want = Vec::new();
    for m in formats() {
        let fmt = m.format_name();
        let src = write_npz(dir.path(), &format!("{fmt}.npz"), &m);
        let out = dir.path().join(format!("{fmt}_f16.safetensors"));
        convert(&[p(&src), p(&out), "--dtype", "f16"]);
        let h = map(&m, <f16 as Scalar>::from_f64);
        let dense: Vec<u16> = h.to_dense().iter().map(|v| v.to_bits()).collect();
        want.push((p(&out).to_string(), fmt, bits_json(&h, f16::to_bits), dense));
        files.push(out);
    }
    let npy_out = dir.path().join("d16.npy");
    convert(&[p(&files[0]), p(&npy_out)]);
    files.push(npy_out);
    let refs: Vec<&Path> = files.iter().map(|f| f.as_path()).collect();
    let v = python(&py, code, &refs);
    for (f, fmt, bits, dense) in want {
        let got = &v[&f];
        assert_eq!(got[0], fmt, "{got}");
        assert_eq!(got[1], "float16", "{got}");
        assert_eq!(got[2], bits, "{fmt}: NumPy reads the same f16 bits");
        assert_eq!(
            got[3],
            serde_json::json!(dense),
            "{fmt}: SciPy builds the same matrix"
        );
    }
    let dense: Vec<u16> = matrix()
        .to_dense()
        .iter()
        .map(|&v| <f16 as Scalar>::from_f64(v).to_bits())
        .collect();
    assert_eq!(v["npy"], serde_json::json!(["float16", [6, 8], dense]));
}

#[test]
fn torch_reads_the_bf16_safetensors() {
    // safetensors.numpy has no bfloat16; safetensors.torch does (torch is in the pinned venv).
    let Some(py) = sparsekit_testenv::python(&["numpy", "scipy", "safetensors", "torch"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = write_npz(dir.path(), "a.npz", &formats()[0]);
    let out = dir.path().join("a_bf16.safetensors");
    convert(&[p(&src), p(&out), "--dtype", "bf16"]);
    let code = r#"
import json, sys
import torch, scipy.sparse as sp
from safetensors.torch import load_file
t = load_file(sys.argv[1])
data, indices, indptr, shape = t["w.data"], t["w.indices"], t["w.indptr"], t["w.shape"].tolist()
s = torch.sparse_csr_tensor(indptr.long(), indices.long(), data, size=shape)
m = sp.csr_matrix((data.float().numpy(), indices.numpy(), indptr.numpy()), shape=tuple(shape))
print(json.dumps({
    "dtype": str(data.dtype),
    "bits": (data.view(torch.int16).int() & 0xFFFF).tolist(),
    "dense_bits": (s.to_dense().view(torch.int16).int() & 0xFFFF).ravel().tolist(),
    "scipy_nnz": int(m.nnz),
    "keys": sorted(t.keys()),
}))
"#;
    let v = python(&py, code, &[&out]);
    let want = map(&formats()[0], <bf16 as Scalar>::from_f64);
    assert_eq!(v["dtype"], "torch.bfloat16");
    assert_eq!(v["bits"], bits_json(&want, bf16::to_bits));
    let dense: Vec<u16> = want.to_dense().iter().map(|x| x.to_bits()).collect();
    assert_eq!(v["dense_bits"], serde_json::json!(dense));
    assert_eq!(v["scipy_nnz"], want.nnz());
    assert_eq!(
        v["keys"],
        serde_json::json!(["w.data", "w.indices", "w.indptr", "w.shape"])
    );
}
