//! The reverse direction: files written by sparsekit are loaded by the real tools
//! (`scipy.sparse.load_npz`, `scipy.io.mmread`, `safetensors.numpy.load_file`) and checked value
//! for value. Needs a Python with numpy, scipy and safetensors: `$SPARSEKIT_PYTHON` (set by
//! `cargo xtask test` from `scripts/python-env.sh`); without it the test fails in CI and is
//! skipped with a message locally (`sparsekit_testenv`).

use std::path::Path;
use std::process::Command;

use sparsekit_formats::io::mtx::{self, MtxField, MtxOptions, MtxSymmetry};
use sparsekit_formats::io::npz::{self, IndexWidth, NpzOptions};
use sparsekit_formats::io::{safetensors as st, SparseMatrix};
use sparsekit_formats::{Bsr, Coo, Csr};

/// 5×6 test matrix with values that are not exact in binary.
fn dense() -> (Vec<f64>, usize, usize) {
    let mut d = vec![0.0; 30];
    for (k, v) in [
        (0, 0.1),
        (3, -2.5),
        (5, 1.0 / 3.0),
        (7, 1e-300),
        (14, 1e30),
        (18, -7.0),
        (23, 4.25),
        (29, 2.0f64.sqrt()),
    ] {
        d[k] = v;
    }
    (d, 5, 6)
}

const CHECK: &str = r#"
import json, sys
import numpy as np
import scipy.io, scipy.sparse as sp
from safetensors.numpy import load_file

np.seterr(over="ignore")  # 1e30 does not fit float16: inf on both sides, on purpose
d = sys.argv[1]
spec = json.load(open(d + "/spec.json"))
want64 = np.array(spec["dense"], dtype=np.float64).reshape(spec["shape"])
lines = []
def check(name, got, want, extra=""):
    ok = got.shape == want.shape and np.array_equal(got, want)
    lines.append(f"{'OK  ' if ok else 'FAIL'} {name}{extra}")
    if not ok:
        lines.append(f"     got  {got!r}\n     want {want!r}")

for f in spec["npz"]:
    path = f"{d}/{f['file']}"
    m = sp.load_npz(path)
    want = want64.astype(f["dtype"]).astype(np.float64)
    # load_npz may narrow int64 indices that fit; the file's own dtypes come from np.load.
    with np.load(path) as z:
        idx = z["indices"] if "indices" in z else z["row"]
        ok_types = (z["format"].item() == f["format"].encode() and str(z["data"].dtype) == f["dtype"]
                    and str(idx.dtype) == f["index"] and tuple(z["shape"]) == tuple(spec["shape"]))
        extra = f"  format={m.format} data={z['data'].dtype} index={idx.dtype}"
    check(f["file"], m.toarray().astype(np.float64), want, extra + ("" if ok_types else "  (WRONG TYPES)"))
    if not ok_types:
        lines[-1] = "FAIL" + lines[-1][4:]

for f in spec["mtx"]:
    m = scipy.io.mmread(f"{d}/{f['file']}")
    info = scipy.io.mminfo(f"{d}/{f['file']}")
    m = m.toarray() if sp.issparse(m) else np.asarray(m)
    # an f32 matrix is written with f32's shortest digits: exact once read back as float32
    dt = f.get("dtype", "float64")
    want = np.array(f["dense"], dtype=np.float64).reshape(f["shape"]).astype(dt)
    check(f["file"], m.astype(dt), want, f"  mminfo={info[3:]} compared as {dt}")

t = load_file(f"{d}/sparse.safetensors")
for name, fmt in spec["safetensors"].items():
    shape = tuple(int(x) for x in t[f"{name}.shape"])
    if fmt == "csr":
        m = sp.csr_matrix((t[f"{name}.data"], t[f"{name}.indices"], t[f"{name}.indptr"]), shape=shape)
    elif fmt == "csc":
        m = sp.csc_matrix((t[f"{name}.data"], t[f"{name}.indices"], t[f"{name}.indptr"]), shape=shape)
    elif fmt == "coo":
        m = sp.coo_matrix((t[f"{name}.data"], (t[f"{name}.row"], t[f"{name}.col"])), shape=shape)
    else:
        m = sp.bsr_matrix((t[f"{name}.data"], t[f"{name}.indices"], t[f"{name}.indptr"]), shape=shape,
                          blocksize=tuple(int(x) for x in t[f"{name}.blocksize"]))
    check(f"sparse.safetensors:{name}", m.toarray().astype(np.float64), want64, f"  ({fmt}, data {t[name + '.data'].dtype})")

t = load_file(f"{d}/sparse_f16.safetensors")
for name, fmt in spec["safetensors_f16"].items():
    shape = tuple(int(x) for x in t[f"{name}.shape"])
    data = t[f"{name}.data"]
    # SciPy has no float16 matrices: rebuild from float32 data, compare in float16
    m = sp.csr_matrix((data.astype(np.float32), t[f"{name}.indices"], t[f"{name}.indptr"]), shape=shape)
    ok = data.dtype == np.float16
    check(f"sparse_f16.safetensors:{name}", m.toarray().astype(np.float16), want64.astype(np.float16),
          f"  ({fmt}, data {data.dtype})" + ("" if ok else "  (WRONG TYPES)"))
    if not ok:
        lines[-1] = "FAIL" + lines[-1][4:]

print("\n".join(lines))
print("ALL OK" if all(l.startswith("OK") or l.startswith("     ") for l in lines) else "SOME FAILED")
"#;

fn write_all(dir: &Path) -> String {
    let (d, m, n) = dense();
    let csr = Csr::<f64>::from_dense(&d, m, n, sparsekit_formats::Select::NonZero).unwrap();
    let csr32 = Csr::<f32>::from_dense(
        &d.iter().map(|&x| x as f32).collect::<Vec<_>>(),
        m,
        n,
        sparsekit_formats::Select::NonZero,
    )
    .unwrap();
    let mut npz_spec = vec![];
    let formats: Vec<(&str, SparseMatrix<f64>)> = vec![
        ("csr", csr.clone().into()),
        ("csc", csr.to_csc().into()),
        ("coo", csr.to_coo().into()),
        ("bsr", Bsr::from_csr(&csr, (1, 2)).unwrap().into()),
    ];
    for (fmt, mat) in &formats {
        for (width, wname) in [(IndexWidth::Auto, "int32"), (IndexWidth::I64, "int64")] {
            for compressed in [true, false] {
                let file = format!("{fmt}_{wname}_{}.npz", if compressed { "z" } else { "s" });
                npz::write_path(
                    dir.join(&file),
                    mat,
                    &NpzOptions {
                        index: width,
                        compressed,
                    },
                )
                .unwrap();
                npz_spec.push(serde_json::json!({"file": file, "format": fmt, "dtype": "float64", "index": wname}));
            }
        }
    }
    npz::write_path(
        dir.join("csr_f32.npz"),
        &SparseMatrix::from(csr32.clone()),
        &NpzOptions::default(),
    )
    .unwrap();
    npz_spec.push(serde_json::json!({"file": "csr_f32.npz", "format": "csr", "dtype": "float32", "index": "int32"}));
    npz::write_path(
        dir.join("bsr_f32.npz"),
        &SparseMatrix::from(Bsr::from_csr(&csr32, (5, 3)).unwrap()),
        &NpzOptions::default(),
    )
    .unwrap();
    npz_spec.push(serde_json::json!({"file": "bsr_f32.npz", "format": "bsr", "dtype": "float32", "index": "int32"}));

    // Matrix Market
    let mut mtx_spec = vec![];
    let coo = csr.to_coo();
    mtx::write_path(dir.join("general.mtx"), &coo, &MtxOptions::default()).unwrap();
    mtx_spec.push(serde_json::json!({"file": "general.mtx", "dense": d, "shape": [m, n]}));
    mtx::write_path(dir.join("general_f32.mtx"), &csr32, &MtxOptions::default()).unwrap();
    let d32: Vec<f64> = d.iter().map(|&x| x as f32 as f64).collect();
    mtx_spec.push(serde_json::json!({"file": "general_f32.mtx", "dense": d32, "shape": [m, n], "dtype": "float32"}));
    // symmetric 4×4
    let s = Coo::<f64>::try_new(
        4,
        4,
        vec![0, 1, 0, 2, 3, 3, 1],
        vec![0, 0, 1, 2, 1, 3, 3],
        vec![4.0, 0.1, 0.1, -3.0, 1e-7, 2.0, 1e-7],
    )
    .unwrap();
    let opts = MtxOptions {
        field: MtxField::Real,
        symmetry: MtxSymmetry::Symmetric,
    };
    mtx::write_path(dir.join("symmetric.mtx"), &s, &opts).unwrap();
    mtx_spec
        .push(serde_json::json!({"file": "symmetric.mtx", "dense": s.to_dense(), "shape": [4, 4]}));
    let k = Coo::<f64>::try_new(
        3,
        3,
        vec![1, 0, 2, 0],
        vec![0, 1, 0, 2],
        vec![1.5, -1.5, -0.25, 0.25],
    )
    .unwrap();
    let opts = MtxOptions {
        field: MtxField::Real,
        symmetry: MtxSymmetry::SkewSymmetric,
    };
    mtx::write_path(dir.join("skew.mtx"), &k, &opts).unwrap();
    mtx_spec.push(serde_json::json!({"file": "skew.mtx", "dense": k.to_dense(), "shape": [3, 3]}));
    let ints = Coo::<f32>::try_new(2, 3, vec![0, 1], vec![2, 0], vec![-7.0, 123456.0]).unwrap();
    let opts = MtxOptions {
        field: MtxField::Integer,
        symmetry: MtxSymmetry::General,
    };
    mtx::write_path(dir.join("integer.mtx"), &ints, &opts).unwrap();
    mtx_spec.push(
        serde_json::json!({"file": "integer.mtx", "dense": ints.to_dense(), "shape": [2, 3]}),
    );
    let opts = MtxOptions {
        field: MtxField::Pattern,
        symmetry: MtxSymmetry::General,
    };
    mtx::write_path(dir.join("pattern.mtx"), &ints, &opts).unwrap();
    mtx_spec.push(
        serde_json::json!({"file": "pattern.mtx", "dense": [0, 0, 1, 1, 0, 0], "shape": [2, 3]}),
    );

    // safetensors: the four formats side by side
    let named: Vec<(String, &SparseMatrix<f64>)> = formats
        .iter()
        .map(|(f, m)| (format!("model.{f}.weight"), m))
        .collect();
    let refs: Vec<(&str, &SparseMatrix<f64>)> =
        named.iter().map(|(n, m)| (n.as_str(), *m)).collect();
    std::fs::write(
        dir.join("sparse.safetensors"),
        st::write_sparse(&refs).unwrap(),
    )
    .unwrap();
    let st_spec: serde_json::Map<String, serde_json::Value> = named
        .iter()
        .map(|(n, m)| (n.clone(), serde_json::Value::from(m.format_name())))
        .collect();

    let h = SparseMatrix::from(csr.cast::<half::f16>());
    std::fs::write(
        dir.join("sparse_f16.safetensors"),
        st::write_sparse(&[("half.w", &h)]).unwrap(),
    )
    .unwrap();

    let spec = serde_json::json!({
        "dense": d, "shape": [m, n], "npz": npz_spec, "mtx": mtx_spec, "safetensors": st_spec,
        "safetensors_f16": {"half.w": "csr"},
    });
    std::fs::write(dir.join("spec.json"), spec.to_string()).unwrap();
    format!(
        "{} npz, {} mtx, {} safetensors matrices",
        npz_spec.len(),
        mtx_spec.len(),
        named.len()
    )
}

#[test]
fn scipy_and_safetensors_read_what_sparsekit_writes() {
    let dir = tempfile::tempdir().unwrap();
    let what = write_all(dir.path());
    let Some(py) = sparsekit_testenv::python(&["numpy", "scipy", "safetensors"]) else {
        return;
    };
    let out = Command::new(&py)
        .arg("-c")
        .arg(CHECK)
        .arg(dir.path())
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("python check ({what}):\n{stdout}{stderr}");
    assert!(out.status.success(), "python failed:\n{stderr}");
    assert!(stdout.contains("ALL OK"), "{stdout}");
}
