//! `io::read_any`: every supported file through one call — the same matrices and metadata as the
//! per-format readers, typed errors for unknown / mismatched / empty / truncated files, and no
//! panic on corrupted bytes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use safetensors::tensor::{Dtype, TensorView};
use sparsekit_formats::io::{
    mtx, npy, npz, read_any, safetensors as st, AnyFile, Data, FileKind, SparseMatrix,
};
use sparsekit_formats::{Bsr, Coo, Csr, FormatError, Scalar, SpIndex};

/// A random `r × c` CSR with density `d` (rows may be empty; values exact in f16).
fn random_csr<T: Scalar, I: SpIndex>(rng: &mut StdRng, r: usize, c: usize, d: f64) -> Csr<T, I> {
    let mut coo = Coo::<T, I>::zeros(r, c).unwrap();
    for i in 0..r {
        for j in 0..c {
            if rng.random_bool(d) {
                let v = rng.random_range(-64..64) as f64 / 4.0 + 0.125;
                coo.push(i, j, T::from_f64(v)).unwrap();
            }
        }
    }
    coo.to_csr()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn npz_bytes(m: &SparseMatrix<f64, u64>, opts: &npz::NpzOptions) -> Vec<u8> {
    let mut c = std::io::Cursor::new(Vec::new());
    npz::write(&mut c, m, opts).unwrap();
    c.into_inner()
}

fn mtx_bytes(m: &SparseMatrix<f64, u64>) -> Vec<u8> {
    let mut v = Vec::new();
    mtx::write(&mut v, m, &mtx::MtxOptions::default()).unwrap();
    v
}

fn npy_bytes(values: &[f32], r: usize, c: usize) -> Vec<u8> {
    let mut v = Vec::new();
    npy::write_npy_dense_to(&mut v, values, r, c).unwrap();
    v
}

/// A checkpoint with a sparse CSR `enc.w` (sparsekit convention) beside dense tensors:
/// BF16 `[2, 3, 4]`, F64 `[5]`, I64 `[3]` and an F32 scalar.
fn mixed_safetensors(w: &SparseMatrix<f32, u32>) -> Vec<u8> {
    let sparse = st::write_sparse(&[("enc.w", w)]).unwrap();
    let bytes = &sparse;
    let file = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    let bf16: Vec<u8> = (0..24)
        .flat_map(|i| half::bf16::from_f32(if i % 5 == 0 { 0.0 } else { i as f32 }).to_le_bytes())
        .collect();
    let f64s: Vec<u8> = [0.0f64, 1e-300, 2.0, 0.0, -3.5]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let ints: Vec<u8> = [1i64, 0, 3].iter().flat_map(|x| x.to_le_bytes()).collect();
    let scalar = 7.0f32.to_le_bytes().to_vec();
    let mut views: Vec<(String, TensorView)> = file
        .tensors()
        .into_iter()
        .map(|(n, t)| {
            (
                n,
                TensorView::new(t.dtype(), t.shape().to_vec(), t.data()).unwrap(),
            )
        })
        .collect();
    views.push((
        "conv.weight".into(),
        TensorView::new(Dtype::BF16, vec![2, 3, 4], &bf16).unwrap(),
    ));
    views.push((
        "scale".into(),
        TensorView::new(Dtype::F64, vec![5], &f64s).unwrap(),
    ));
    views.push((
        "steps".into(),
        TensorView::new(Dtype::I64, vec![3], &ints).unwrap(),
    ));
    views.push((
        "t".into(),
        TensorView::new(Dtype::F32, vec![], &scalar).unwrap(),
    ));
    let mut m: HashMap<String, String> = meta.metadata().clone().unwrap_or_default();
    m.insert("format".into(), "pt".into());
    safetensors::tensor::serialize(views, &Some(m)).unwrap()
}

fn sparse(e: &Data<f64, u64>) -> &SparseMatrix<f64, u64> {
    match e {
        Data::Sparse(m) => m,
        Data::Dense(_) => panic!("expected a sparse entry"),
    }
}

#[test]
fn npz_every_format_and_index_width() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    for (k, (r, c)) in [(0, 0), (1, 7), (8, 12), (13, 5)].into_iter().enumerate() {
        let a = random_csr::<f64, u64>(&mut rng, r, c, 0.3);
        let bsr = Bsr::from_csr(&a, (1, 1)).unwrap();
        for (m, index) in [
            (SparseMatrix::Csr(a.clone()), npz::IndexWidth::Auto),
            (SparseMatrix::Csc(a.to_csc()), npz::IndexWidth::I64),
            (SparseMatrix::Coo(a.to_coo()), npz::IndexWidth::Auto),
            (SparseMatrix::Bsr(bsr), npz::IndexWidth::I64),
        ] {
            let opts = npz::NpzOptions {
                index,
                ..Default::default()
            };
            let bytes = npz_bytes(&m, &opts);
            let p = write(dir.path(), &format!("m{k}.npz"), &bytes);
            let file: AnyFile = read_any(&p).unwrap();
            assert_eq!(file.kind, FileKind::Npz);
            assert_eq!(file.entries.len(), 1);
            let e = &file.entries[0];
            assert_eq!(e.name, "matrix");
            assert_eq!(e.format, m.format_name());
            assert_eq!(e.dtype, "float64");
            assert!(!e.exact_in_f32);
            let want_index = if index == npz::IndexWidth::I64 {
                "int64"
            } else {
                "int32"
            };
            assert_eq!(e.index_dtype.as_deref(), Some(want_index));
            // The same matrix as the per-format reader.
            assert_eq!(*sparse(&e.data), npz::read_path::<f64, u64>(&p).unwrap());
            assert_eq!(sparse(&e.data).to_csr().unwrap(), a);
        }
    }
    // f32 values: exact in f32, and readable straight into f32 / u32.
    let a = random_csr::<f32, u64>(&mut rng, 6, 9, 0.4);
    let m = SparseMatrix::<f32, u64>::Csr(a.clone());
    let mut c = std::io::Cursor::new(Vec::new());
    npz::write(&mut c, &m, &npz::NpzOptions::default()).unwrap();
    let p = write(dir.path(), "f.npz", &c.into_inner());
    let file = read_any::<f32, u32>(&p).unwrap();
    let e = &file.entries[0];
    assert_eq!((e.dtype.as_str(), e.exact_in_f32), ("float32", true));
    match &e.data {
        Data::Sparse(SparseMatrix::Csr(b)) => assert_eq!(b.to_dense(), a.to_dense()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn mtx_coordinate_and_array() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(2);
    let a = random_csr::<f64, u64>(&mut rng, 9, 4, 0.35);
    let p = write(
        dir.path(),
        "a.mtx",
        &mtx_bytes(&SparseMatrix::Csr(a.clone())),
    );
    let file: AnyFile = read_any(&p).unwrap();
    assert_eq!(file.kind, FileKind::Mtx);
    let e = &file.entries[0];
    assert_eq!((e.format, e.dtype.as_str()), ("coo", "real general"));
    assert_eq!((e.index_dtype.as_deref(), e.exact_in_f32), (None, false));
    assert_eq!(sparse(&e.data).to_csr().unwrap(), a);

    let text = "%%MatrixMarket matrix array integer symmetric\n2 2\n1\n0\n5\n";
    let p = write(dir.path(), "b.mtx", text.as_bytes());
    let file: AnyFile = read_any(&p).unwrap();
    let e = &file.entries[0];
    assert_eq!((e.format, e.dtype.as_str()), ("array", "integer symmetric"));
    assert_eq!(sparse(&e.data).to_dense(), vec![1.0, 0.0, 0.0, 5.0]);
}

#[test]
fn npy_dense_any_rank() {
    let dir = tempfile::tempdir().unwrap();
    let vals: Vec<f32> = (0..12)
        .map(|i| if i % 3 == 0 { 0.0 } else { i as f32 })
        .collect();
    let p = write(dir.path(), "d.npy", &npy_bytes(&vals, 3, 4));
    let file: AnyFile = read_any(&p).unwrap();
    assert_eq!(file.kind, FileKind::Npy);
    let e = &file.entries[0];
    assert_eq!(
        (e.name.as_str(), e.format, e.dtype.as_str()),
        ("array", "dense", "float32")
    );
    assert!(e.exact_in_f32 && e.index_dtype.is_none());
    let Data::Dense(t) = &e.data else {
        panic!("dense expected")
    };
    assert_eq!(
        (t.shape(), t.matrix_shape(), t.len()),
        (&[3, 4][..], (3, 4), 12)
    );
    assert_eq!(t.to_vec::<f32>().unwrap(), vals);
    assert_eq!(
        t.to_vec::<f64>().unwrap(),
        vals.iter().map(|&v| v as f64).collect::<Vec<_>>()
    );

    // 3-D f64: a matrix of prod(leading) × last; not exact in f32.
    let mut b = Vec::new();
    npy::write_header(&mut b, "<f8", &[2, 3, 2]).unwrap();
    for i in 0..12 {
        b.extend_from_slice(&(i as f64 * 0.1).to_le_bytes());
    }
    let p = write(dir.path(), "t.npy", &b);
    let file: AnyFile = read_any(&p).unwrap();
    let e = &file.entries[0];
    let Data::Dense(t) = &e.data else {
        panic!("dense expected")
    };
    assert_eq!((t.matrix_shape(), e.exact_in_f32), ((6, 2), false));
    assert_eq!(t.to_vec::<f64>().unwrap()[11], 11.0 * 0.1);

    // Integer arrays are listed, but are no float values.
    let mut b = Vec::new();
    npy::write_header(&mut b, "<i8", &[3]).unwrap();
    for i in 0..3i64 {
        b.extend_from_slice(&i.to_le_bytes());
    }
    let p = write(dir.path(), "i.npy", &b);
    let file: AnyFile = read_any(&p).unwrap();
    let Data::Dense(t) = &file.entries[0].data else {
        panic!("dense expected")
    };
    assert_eq!(file.entries[0].dtype, "int64");
    assert!(matches!(
        t.to_vec::<f32>(),
        Err(FormatError::Unsupported { .. })
    ));
}

#[test]
fn safetensors_sparse_and_dense() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let w = SparseMatrix::Csr(random_csr::<f32, u32>(&mut rng, 5, 8, 0.3));
    let bytes = mixed_safetensors(&w);
    let p = write(dir.path(), "m.safetensors", &bytes);
    let file: AnyFile<f32, u32> = read_any(&p).unwrap();
    assert_eq!(file.kind, FileKind::Safetensors);
    let names: Vec<&str> = file.entries.iter().map(|e| e.name.as_str()).collect();
    // The sparse matrix first, its component arrays not listed, then the dense tensors by name.
    assert_eq!(names, ["enc.w", "conv.weight", "scale", "steps", "t"]);
    let e = &file.entries[0];
    assert_eq!((e.format, e.dtype.as_str()), ("csr", "F32"));
    assert_eq!(e.index_dtype.as_deref(), Some("I32"));
    assert!(matches!(&e.data, Data::Sparse(m) if *m == w));

    let dense = |name: &str| {
        let e = file.entries.iter().find(|e| e.name == name).unwrap();
        let Data::Dense(t) = &e.data else {
            panic!("{name}: dense expected")
        };
        (e, t)
    };
    let (e, t) = dense("conv.weight");
    assert_eq!((e.dtype.as_str(), e.exact_in_f32), ("BF16", true));
    assert_eq!((t.shape(), t.matrix_shape()), (&[2, 3, 4][..], (6, 4)));
    let want: Vec<f32> = (0..24)
        .map(|i| if i % 5 == 0 { 0.0 } else { i as f32 })
        .collect();
    assert_eq!(t.to_vec::<f32>().unwrap(), want);
    let (e, t) = dense("scale");
    assert_eq!((e.dtype.as_str(), e.exact_in_f32), ("F64", false));
    // f64 values stay exact (1e-300 is not zero).
    assert_eq!(t.to_vec::<f64>().unwrap()[1], 1e-300);
    let (e, t) = dense("steps");
    assert_eq!(e.dtype, "I64");
    assert!(matches!(
        t.to_vec::<f32>(),
        Err(FormatError::Unsupported { .. })
    ));
    let (_, t) = dense("t");
    assert_eq!((t.shape(), t.matrix_shape()), (&[][..], (1, 1)));
    assert_eq!(t.to_vec::<f64>().unwrap(), vec![7.0]);
}

/// One valid file of each kind.
fn samples() -> Vec<(FileKind, Vec<u8>)> {
    let mut rng = StdRng::seed_from_u64(4);
    let a = random_csr::<f64, u64>(&mut rng, 6, 8, 0.4);
    let m = SparseMatrix::Csr(a);
    let w = SparseMatrix::Csr(
        Csr::<f32, u32>::try_new(2, 3, vec![0, 1, 2], vec![2, 0], vec![0.5, -1.0]).unwrap(),
    );
    vec![
        (FileKind::Npz, npz_bytes(&m, &npz::NpzOptions::default())),
        (FileKind::Mtx, mtx_bytes(&m)),
        (
            FileKind::Npy,
            npy_bytes(&[1.0, 0.0, 2.5, 0.0, 0.0, 3.0], 2, 3),
        ),
        (FileKind::Safetensors, mixed_safetensors(&w)),
    ]
}

#[test]
fn extension_and_magic() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, bytes) in samples() {
        assert_eq!(FileKind::sniff(&bytes[..16]), Some(kind));
        // The right extension (any case) reads.
        let ext = kind.name();
        for name in [format!("a.{ext}"), format!("A.{}", ext.to_uppercase())] {
            let p = write(dir.path(), &name, &bytes);
            assert_eq!(read_any::<f64, u64>(&p).unwrap().kind, kind, "{name}");
        }
        // Another supported extension: a typed mismatch naming both.
        for other in FileKind::ALL.into_iter().filter(|&k| k != kind) {
            let p = write(dir.path(), &format!("b.{}", other.name()), &bytes);
            match read_any::<f64, u64>(&p) {
                Err(FormatError::FileKindMismatch {
                    extension,
                    detected,
                }) => assert_eq!((extension, detected), (other.name(), ext)),
                r => panic!(
                    "{ext} content as .{}: {:?}",
                    other.name(),
                    r.map(|f| f.kind)
                ),
            }
        }
        // No or an unknown extension: the content decides.
        for name in ["noext", "model.bin"] {
            let p = write(dir.path(), name, &bytes);
            assert_eq!(read_any::<f64, u64>(&p).unwrap().kind, kind, "{name}");
        }
    }
    // Unknown content: the extension decides; without one it is a typed error.
    let p = write(dir.path(), "m.txt", b"1 2 3\n");
    match read_any::<f64, u64>(&p) {
        Err(e @ FormatError::UnknownFileKind { .. }) => {
            assert_eq!(
                e.to_string(),
                "unknown extension '.txt'; expected .npz, .mtx, .safetensors or .npy"
            )
        }
        r => panic!("{:?}", r.map(|f| f.kind)),
    }
    let p = write(dir.path(), "plain", b"1 2 3\n");
    assert!(matches!(
        read_any::<f64, u64>(&p),
        Err(FormatError::UnknownFileKind { extension: None })
    ));
    assert_eq!(
        FileKind::from_extension("x.Safetensors").unwrap(),
        FileKind::Safetensors
    );
    assert!(FileKind::sniff(b"").is_none() && FileKind::sniff(b"PK").is_none());
    // A missing file is the OS error.
    assert!(matches!(
        read_any::<f64, u64>(dir.path().join("missing.npz")),
        Err(FormatError::Io(_))
    ));
}

#[test]
fn empty_and_garbage_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    for kind in FileKind::ALL {
        let p = write(dir.path(), &format!("e.{}", kind.name()), b"");
        match read_any::<f64, u64>(&p) {
            Err(FormatError::Malformed { kind: k, message }) => {
                assert_eq!(k, kind.name());
                assert!(message.contains("empty"), "{message}");
            }
            r => panic!("{:?}", r.map(|f| f.kind)),
        }
        // Bytes no format recognises, under the right extension: that reader's own error.
        let p = write(
            dir.path(),
            &format!("g.{}", kind.name()),
            b"\x00garbage, not a file",
        );
        let err = read_any::<f64, u64>(&p).unwrap_err();
        assert!(
            matches!(
                err,
                FormatError::Malformed { .. } | FormatError::Parse { .. }
            ),
            "{kind:?}: {err:?}"
        );
    }
}

#[test]
fn every_truncation_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, bytes) in samples() {
        let p = dir.path().join(format!("t.{}", kind.name()));
        // Every prefix, thinned out to ~300 lengths per file.
        let step = (bytes.len() / 300).max(1);
        // Text cut inside the last value is still a number ("-12.375" → "-12."): Matrix Market
        // cannot tell, so there only a cut before that value's line must fail (the entry count
        // no longer matches the size line).
        let last_line = bytes[..bytes.len() - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        for len in (0..bytes.len()).step_by(step) {
            std::fs::write(&p, &bytes[..len]).unwrap();
            let r = read_any::<f64, u64>(&p);
            if kind == FileKind::Mtx && len > last_line {
                continue;
            }
            assert!(
                r.is_err(),
                "{kind:?} truncated to {len} of {} read",
                bytes.len()
            );
        }
        std::fs::write(&p, &bytes).unwrap();
        assert!(read_any::<f64, u64>(&p).is_ok());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Corrupted bytes under every extension (magic kept, so the real reader runs; or not):
    /// an error or a file, never a panic; dense values decode or fail cleanly.
    #[test]
    fn corrupted_files_never_panic(
        which in 0usize..4,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        ext in 0usize..5,
    ) {
        let (_, mut bytes) = samples().swap_remove(which);
        for (i, v) in flips {
            let k = i.index(bytes.len());
            bytes[k] = v;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        let name = ["npz", "mtx", "npy", "safetensors", "bin"][ext];
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), &format!("x.{name}"), &bytes);
        if let Ok(file) = read_any::<f32, u32>(&p) {
            for e in &file.entries {
                if let Data::Dense(t) = &e.data {
                    let _ = t.to_vec::<f32>();
                    let _ = t.matrix_shape();
                }
            }
        }
    }
}
