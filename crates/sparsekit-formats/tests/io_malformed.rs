//! Malformed files: every reader answers with the specific typed `FormatError`, never a panic,
//! and never allocates what a file merely declares.

use std::io::{Cursor, Write};
use std::time::Instant;

use proptest::prelude::*;
use sparsekit_formats::io::npy::write_header;
use sparsekit_formats::io::{mtx, npz, safetensors as st, SparseMatrix};
use sparsekit_formats::{Csr, FormatError};

// ---------------------------------------------------------------------------------------------
// npz helpers: hand-made archives

fn npy_i64(vals: &[i64]) -> Vec<u8> {
    let mut b = Vec::new();
    write_header(&mut b, "<i8", &[vals.len()]).unwrap();
    for v in vals {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}
fn npy_i32(vals: &[i32]) -> Vec<u8> {
    let mut b = Vec::new();
    write_header(&mut b, "<i4", &[vals.len()]).unwrap();
    for v in vals {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}
fn npy_f64(vals: &[f64]) -> Vec<u8> {
    let mut b = Vec::new();
    write_header(&mut b, "<f8", &[vals.len()]).unwrap();
    for v in vals {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}
fn npy_format(f: &str) -> Vec<u8> {
    let mut b = Vec::new();
    write_header(&mut b, &format!("|S{}", f.len()), &[]).unwrap();
    b.extend_from_slice(f.as_bytes());
    b
}

fn zip_of(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in members {
        z.start_file(
            format!("{name}.npy"),
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored),
        )
        .unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap().into_inner()
}

/// A csr archive with the given arrays.
fn csr_npz(shape: [i64; 2], indptr: &[i32], indices: &[i32], data: &[f64]) -> Vec<u8> {
    zip_of(&[
        ("indices", npy_i32(indices)),
        ("indptr", npy_i32(indptr)),
        ("format", npy_format("csr")),
        ("shape", npy_i64(&shape)),
        ("data", npy_f64(data)),
    ])
}

fn read_npz(bytes: &[u8]) -> Result<SparseMatrix<f64>, FormatError> {
    npz::read(Cursor::new(bytes))
}
fn read_npz64(bytes: &[u8]) -> Result<SparseMatrix<f64, u64>, FormatError> {
    npz::read(Cursor::new(bytes))
}

fn valid_npz() -> Vec<u8> {
    let a =
        Csr::<f64>::try_new(3, 4, vec![0, 2, 2, 3], vec![0, 3, 1], vec![1.0, 2.0, 3.0]).unwrap();
    let mut c = Cursor::new(Vec::new());
    npz::write(&mut c, &SparseMatrix::from(a), &npz::NpzOptions::default()).unwrap();
    c.into_inner()
}

#[test]
fn handmade_csr_archive_is_valid() {
    let b = csr_npz([3, 4], &[0, 2, 2, 3], &[0, 3, 1], &[1.0, 2.0, 3.0]);
    assert_eq!(read_npz(&b).unwrap().nnz(), 3);
}

#[test]
fn npz_truncated() {
    let b = valid_npz();
    for cut in [0, 10, b.len() / 2, b.len() - 1] {
        let e = read_npz(&b[..cut]).unwrap_err();
        assert!(
            matches!(e, FormatError::Malformed { kind: "npz", .. }),
            "cut {cut}: {e:?}"
        );
    }
}

#[test]
fn npz_wrong_magic() {
    let e = read_npz(b"this is not a zip archive at all, just some text...").unwrap_err();
    assert!(
        matches!(e, FormatError::Malformed { kind: "npz", .. }),
        "{e:?}"
    );
    // a zip whose members are not .npy
    let b = zip_of(&[("format", b"hello world, not numpy".to_vec())]);
    let e = read_npz(&b).unwrap_err();
    assert!(
        matches!(e, FormatError::Malformed { kind: "npz", .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("format.npy"), "{e}");
}

#[test]
fn npz_index_out_of_range() {
    let b = csr_npz([3, 4], &[0, 2, 2, 3], &[0, 4, 1], &[1.0, 2.0, 3.0]);
    let e = read_npz(&b).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::IndexOutOfBounds {
                index: 4,
                bound: 4,
                ..
            }
        ),
        "{e:?}"
    );
    // also when the row is unsorted (canonicalisation path)
    let b = csr_npz([3, 4], &[0, 2, 2, 3], &[3, 0, 9], &[1.0, 2.0, 3.0]);
    let e = read_npz(&b).unwrap_err();
    assert!(
        matches!(e, FormatError::IndexOutOfBounds { index: 9, .. }),
        "{e:?}"
    );
}

#[test]
fn npz_lengths_disagree() {
    // indptr too short for 3 rows
    let b = csr_npz([3, 4], &[0, 2, 3], &[0, 3, 1], &[1.0, 2.0, 3.0]);
    let e = read_npz(&b).unwrap_err();
    assert!(matches!(e, FormatError::LengthMismatch { .. }), "{e:?}");
    // data shorter than indices
    let b = csr_npz([3, 4], &[0, 2, 2, 3], &[0, 3, 1], &[1.0, 2.0]);
    let e = read_npz(&b).unwrap_err();
    assert!(
        matches!(e, FormatError::LengthMismatch { what: "values", .. }),
        "{e:?}"
    );
    // indptr ends beyond indices
    let b = csr_npz([3, 4], &[0, 2, 2, 5], &[0, 3, 1], &[1.0, 2.0, 3.0]);
    let e = read_npz(&b).unwrap_err();
    assert!(matches!(e, FormatError::PtrEnd { .. }), "{e:?}");
    // coo row/col lengths
    let b = zip_of(&[
        ("row", npy_i32(&[0, 1])),
        ("col", npy_i32(&[0])),
        ("format", npy_format("coo")),
        ("shape", npy_i64(&[2, 2])),
        ("data", npy_f64(&[1.0, 2.0])),
    ]);
    let e = read_npz(&b).unwrap_err();
    assert!(matches!(e, FormatError::LengthMismatch { .. }), "{e:?}");
}

#[test]
fn npz_negative_index() {
    let b = csr_npz([3, 4], &[0, 2, 2, 3], &[0, -1, 1], &[1.0, 2.0, 3.0]);
    let e = read_npz(&b).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::NegativeIndex {
                what: "indices",
                position: 1,
                value: -1
            }
        ),
        "{e:?}"
    );
    let b = zip_of(&[
        ("row", npy_i64(&[0, -7])),
        ("col", npy_i64(&[0, 0])),
        ("format", npy_format("coo")),
        ("shape", npy_i64(&[2, 2])),
        ("data", npy_f64(&[1.0, 2.0])),
    ]);
    let e = read_npz(&b).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::NegativeIndex {
                what: "row",
                value: -7,
                ..
            }
        ),
        "{e:?}"
    );
    // negative shape
    let b = csr_npz([-3, 4], &[0], &[], &[]);
    let e = read_npz(&b).unwrap_err();
    assert!(matches!(e, FormatError::Malformed { .. }), "{e:?}");
}

#[test]
fn npz_huge_shape_with_tiny_arrays() {
    let t = Instant::now();
    let big = 1i64 << 40;
    // 2^40 × 2^40 overflows usize
    let b = csr_npz([big, big], &[0, 0], &[], &[]);
    let e = read_npz64(&b).unwrap_err();
    assert!(matches!(e, FormatError::ShapeOverflow(_)), "{e:?}");
    // 2^40 × 5: does not fit u32, and with u64 indptr must be 2^40 + 1 long
    let b = csr_npz([big, 5], &[0, 0], &[], &[]);
    let e = read_npz(&b).unwrap_err();
    assert!(matches!(e, FormatError::IndexTypeOverflow { .. }), "{e:?}");
    let e = read_npz64(&b).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::LengthMismatch {
                what: "row_ptr",
                ..
            } | FormatError::LengthMismatch { .. }
        ),
        "{e:?}"
    );
    // coo with a huge shape and nothing stored is a valid (empty) matrix that allocates nothing
    let b = zip_of(&[
        ("row", npy_i64(&[])),
        ("col", npy_i64(&[])),
        ("format", npy_format("coo")),
        ("shape", npy_i64(&[1 << 30, 1 << 30])),
        ("data", npy_f64(&[])),
    ]);
    let m = read_npz64(&b).unwrap();
    assert_eq!((m.shape(), m.nnz()), ((1 << 30, 1 << 30), 0));
    // an array header declaring 2^40 elements with 24 bytes behind it
    let mut data = Vec::new();
    write_header(&mut data, "<f8", &[1 << 40]).unwrap();
    data.extend_from_slice(&[0u8; 24]);
    let b = zip_of(&[
        ("indices", npy_i32(&[0, 1, 2])),
        ("indptr", npy_i32(&[0, 3])),
        ("format", npy_format("csr")),
        ("shape", npy_i64(&[1, 3])),
        ("data", data),
    ]);
    let e = read_npz(&b).unwrap_err();
    assert!(
        matches!(e, FormatError::Malformed { kind: "npz", .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("data.npy"), "{e}");
    assert!(t.elapsed().as_secs() < 2, "took {:?}", t.elapsed());
}

#[test]
fn npz_missing_member_and_unknown_format() {
    let b = zip_of(&[("format", npy_format("csr")), ("shape", npy_i64(&[2, 2]))]);
    let e = read_npz(&b).unwrap_err();
    assert!(matches!(e, FormatError::Malformed { .. }), "{e:?}");
    assert!(e.to_string().contains("indptr.npy"), "{e}");
    let b = zip_of(&[("format", npy_format("dia")), ("shape", npy_i64(&[2, 2]))]);
    let e = read_npz(&b).unwrap_err();
    assert!(matches!(e, FormatError::Unsupported { .. }), "{e:?}");
    let b = zip_of(&[("format", npy_format("xyz")), ("shape", npy_i64(&[2, 2]))]);
    let e = read_npz(&b).unwrap_err();
    assert!(matches!(e, FormatError::Malformed { .. }), "{e:?}");
    let e = npz::info(Cursor::new(&b)).unwrap_err();
    assert!(matches!(e, FormatError::Malformed { .. }), "{e:?}");
}

#[test]
fn npz_bsr_shape_errors() {
    // block 2×2 does not divide 3×4
    let mut data = Vec::new();
    write_header(&mut data, "<f8", &[1, 2, 2]).unwrap();
    for v in [1.0f64, 2.0, 3.0, 4.0] {
        data.extend_from_slice(&v.to_le_bytes());
    }
    let b = zip_of(&[
        ("indices", npy_i32(&[0])),
        ("indptr", npy_i32(&[0, 1])),
        ("format", npy_format("bsr")),
        ("shape", npy_i64(&[3, 4])),
        ("data", data.clone()),
    ]);
    let e = read_npz(&b).unwrap_err();
    assert!(matches!(e, FormatError::Structure(_)), "{e:?}");
    // unsorted + duplicate block columns: canonicalised, blocks summed
    let mut data = Vec::new();
    write_header(&mut data, "<f8", &[3, 1, 1]).unwrap();
    for v in [1.0f64, 2.0, 4.0] {
        data.extend_from_slice(&v.to_le_bytes());
    }
    let b = zip_of(&[
        ("indices", npy_i32(&[2, 0, 2])),
        ("indptr", npy_i32(&[0, 3])),
        ("format", npy_format("bsr")),
        ("shape", npy_i64(&[1, 3])),
        ("data", data),
    ]);
    let m = read_npz(&b).unwrap();
    assert_eq!(m.to_dense(), vec![2.0, 0.0, 5.0]);
}

// ---------------------------------------------------------------------------------------------
// Matrix Market

fn read_mtx(s: &str) -> Result<sparsekit_formats::Coo<f64>, FormatError> {
    mtx::read(s.as_bytes())
}

fn parse_line(e: &FormatError) -> usize {
    match e {
        FormatError::Parse { line, .. } => *line,
        e => panic!("expected a Parse error, got {e:?}"),
    }
}

#[test]
fn mtx_bad_header() {
    for (text, line) in [
        ("", 1),
        ("hello\n1 1 0\n", 1),
        ("%%MatrixMarket matrix coordinate reel general\n1 1 0\n", 1),
        ("%%MatrixMarket matrix coordinate real diagonal\n1 1 0\n", 1),
        ("%%MatrixMarket matrix sparse real general\n1 1 0\n", 1),
        (
            "%%MatrixMarket matrix coordinate real general\n% only a comment\n",
            3,
        ),
        ("%%MatrixMarket matrix coordinate real general\n2 x 1\n", 2),
        ("%%MatrixMarket matrix coordinate real general\n2 2\n", 2),
        (
            "%%MatrixMarket matrix coordinate real general\n2 2 1 7\n",
            2,
        ),
        (
            "%%MatrixMarket matrix coordinate real symmetric\n2 3 0\n",
            2,
        ),
        ("%%MatrixMarket matrix array pattern general\n2 3\n", 1),
    ] {
        let e = read_mtx(text).unwrap_err();
        assert_eq!(parse_line(&e), line, "{text:?}: {e}");
    }
    let e =
        read_mtx("%%MatrixMarket matrix coordinate complex general\n1 1 1\n1 1 1 0\n").unwrap_err();
    assert!(
        matches!(e, FormatError::Unsupported { kind: "mtx", .. }),
        "{e:?}"
    );
    let e = read_mtx("%%MatrixMarket vector coordinate real general\n1 1 0\n").unwrap_err();
    assert!(
        matches!(e, FormatError::Unsupported { kind: "mtx", .. }),
        "{e:?}"
    );
}

#[test]
fn mtx_entry_count_mismatch() {
    let e = read_mtx("%%MatrixMarket matrix coordinate real general\n3 3 3\n1 1 1.0\n2 2 2.0\n")
        .unwrap_err();
    assert_eq!(parse_line(&e), 5, "{e}");
    assert!(e.to_string().contains("2 of the 3 declared"), "{e}");
    let e = read_mtx("%%MatrixMarket matrix coordinate real general\n3 3 1\n1 1 1.0\n2 2 2.0\n")
        .unwrap_err();
    assert_eq!(parse_line(&e), 4, "{e}");
    assert!(e.to_string().contains("more entries"), "{e}");
    let e = read_mtx("%%MatrixMarket matrix array real general\n2 2\n1\n2\n3\n").unwrap_err();
    assert!(e.to_string().contains("3 of the 4 declared"), "{e}");
}

#[test]
fn mtx_entry_errors_name_the_line() {
    let head =
        "%%MatrixMarket matrix coordinate real general\n% comment\n%\n10 10 4\n1 1 1\n2 2 2\n";
    let e = read_mtx(&format!("{head}12 1 3\n4 4 4\n")).unwrap_err();
    assert_eq!(e.to_string(), "mtx line 7: row 12 > nrows 10");
    let e = read_mtx(&format!("{head}1 11 3\n4 4 4\n")).unwrap_err();
    assert_eq!(e.to_string(), "mtx line 7: column 11 > ncols 10");
    let e = read_mtx(&format!("{head}0 1 3\n4 4 4\n")).unwrap_err();
    assert_eq!(parse_line(&e), 7);
    let e = read_mtx(&format!("{head}-1 1 3\n4 4 4\n")).unwrap_err();
    assert_eq!(parse_line(&e), 7);
    let e = read_mtx(&format!("{head}3 3 abc\n4 4 4\n")).unwrap_err();
    assert_eq!(e.to_string(), "mtx line 7: value 'abc' is not a number");
    let e = read_mtx(&format!("{head}3 3\n4 4 4\n")).unwrap_err();
    assert_eq!(parse_line(&e), 7);
    let e =
        read_mtx("%%MatrixMarket matrix coordinate pattern general\n2 2 1\n1 1 5\n").unwrap_err();
    assert_eq!(parse_line(&e), 3);
    let e =
        read_mtx("%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 \u{ff}\n").unwrap_err();
    assert_eq!(parse_line(&e), 3);
    // invalid UTF-8
    let e = mtx::read::<f64, u32>(
        &b"%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 \xff\n"[..],
    )
    .unwrap_err();
    assert_eq!(parse_line(&e), 3);
}

#[test]
fn mtx_declared_sizes_are_not_trusted() {
    let t = Instant::now();
    // a trillion entries declared, one present: error, no huge allocation
    let e = read_mtx("%%MatrixMarket matrix coordinate real general\n3 3 1000000000000\n1 1 1\n")
        .unwrap_err();
    assert_eq!(parse_line(&e), 4);
    // shape overflowing usize
    let e =
        read_mtx("%%MatrixMarket matrix coordinate real general\n1099511627776 1099511627776 0\n")
            .unwrap_err();
    assert!(matches!(e, FormatError::ShapeOverflow(_)), "{e:?}");
    let e = read_mtx("%%MatrixMarket matrix array real general\n1099511627776 1099511627776\n")
        .unwrap_err();
    assert!(matches!(e, FormatError::ShapeOverflow(_)), "{e:?}");
    // too large for u32, fine for u64 (an empty matrix)
    let text = "%%MatrixMarket matrix coordinate real general\n8589934592 3 0\n";
    let e = mtx::read::<f32, u32>(text.as_bytes()).unwrap_err();
    assert!(matches!(e, FormatError::IndexTypeOverflow { .. }), "{e:?}");
    assert_eq!(
        mtx::read::<f32, u64>(text.as_bytes()).unwrap().nrows(),
        8589934592
    );
    // number that does not fit usize
    let e =
        read_mtx("%%MatrixMarket matrix coordinate real general\n99999999999999999999999 3 0\n")
            .unwrap_err();
    assert_eq!(parse_line(&e), 2);
    assert!(t.elapsed().as_secs() < 2);
}

#[test]
fn mtx_write_refuses_wrong_symmetry_or_field() {
    let a = sparsekit_formats::Coo::<f64>::try_new(2, 2, vec![0, 1], vec![1, 0], vec![1.0, 2.0])
        .unwrap();
    let opts = mtx::MtxOptions {
        field: mtx::MtxField::Real,
        symmetry: mtx::MtxSymmetry::Symmetric,
    };
    let e = mtx::write(Vec::new(), &a, &opts).unwrap_err();
    assert!(matches!(e, FormatError::InvalidArgument(_)), "{e:?}");
    assert!(e.to_string().contains("not symmetric"), "{e}");
    let pattern_only =
        sparsekit_formats::Coo::<f64>::try_new(2, 2, vec![0], vec![1], vec![1.0]).unwrap();
    let e = mtx::write(Vec::new(), &pattern_only, &opts).unwrap_err();
    assert!(matches!(e, FormatError::InvalidArgument(_)), "{e:?}");
    let rect = sparsekit_formats::Coo::<f64>::zeros(2, 3).unwrap();
    assert!(matches!(
        mtx::write(Vec::new(), &rect, &opts),
        Err(FormatError::InvalidArgument(_))
    ));
    let skew = mtx::MtxOptions {
        field: mtx::MtxField::Real,
        symmetry: mtx::MtxSymmetry::SkewSymmetric,
    };
    let diag = sparsekit_formats::Coo::<f64>::try_new(2, 2, vec![0], vec![0], vec![1.0]).unwrap();
    assert!(matches!(
        mtx::write(Vec::new(), &diag, &skew),
        Err(FormatError::InvalidArgument(_))
    ));
    let int = mtx::MtxOptions {
        field: mtx::MtxField::Integer,
        symmetry: mtx::MtxSymmetry::General,
    };
    let half = sparsekit_formats::Coo::<f64>::try_new(1, 1, vec![0], vec![0], vec![0.5]).unwrap();
    let e = mtx::write(Vec::new(), &half, &int).unwrap_err();
    assert!(matches!(e, FormatError::InvalidArgument(_)), "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// safetensors

fn st_file(tensors: &[(&str, &str, Vec<usize>, Vec<u8>)], meta: &str) -> Vec<u8> {
    let mut header = String::from("{");
    let mut off = 0;
    let mut data = Vec::new();
    for (name, dt, shape, bytes) in tensors {
        header += &format!(
            "\"{name}\":{{\"dtype\":\"{dt}\",\"shape\":{shape:?},\"data_offsets\":[{off},{}]}},",
            off + bytes.len()
        );
        off += bytes.len();
        data.extend_from_slice(bytes);
    }
    header += &format!("\"__metadata__\":{meta}}}");
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    out
}
fn i64s(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
fn sparse_file(indptr: &[i64], indices: &[i64], data: &[f32], shape: [i64; 2]) -> Vec<u8> {
    st_file(
        &[
            ("w.indptr", "I64", vec![indptr.len()], i64s(indptr)),
            ("w.indices", "I64", vec![indices.len()], i64s(indices)),
            ("w.data", "F32", vec![data.len()], f32s(data)),
            ("w.shape", "I64", vec![2], i64s(&shape)),
        ],
        "{\"w\":\"sparsekit:csr\"}",
    )
}

#[test]
fn safetensors_handmade_is_valid() {
    let b = sparse_file(&[0, 1, 1], &[1], &[2.5], [2, 2]);
    let m = st::read_sparse::<f32, u32>(&b).unwrap();
    assert_eq!(m[0].1.to_dense(), vec![0.0, 2.5, 0.0, 0.0]);
}

#[test]
fn safetensors_garbage_and_truncated() {
    for bytes in [&b""[..], b"garbage!", b"\xff\xff\xff\xff\xff\xff\xff\xff{}"] {
        let e = st::read_dense_info(bytes).unwrap_err();
        assert!(
            matches!(
                e,
                FormatError::Malformed {
                    kind: "safetensors",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = st::read_sparse::<f32, u32>(bytes).unwrap_err();
        assert!(
            matches!(
                e,
                FormatError::Malformed {
                    kind: "safetensors",
                    ..
                }
            ),
            "{e:?}"
        );
    }
    let b = sparse_file(&[0, 1, 1], &[1], &[2.5], [2, 2]);
    for cut in [4, 20, b.len() - 1] {
        let e = st::read_dense_info(&b[..cut]).unwrap_err();
        assert!(matches!(e, FormatError::Malformed { .. }), "{e:?}");
    }
}

#[test]
fn safetensors_dense_errors() {
    let b = sparse_file(&[0, 1, 1], &[1], &[2.5], [2, 2]);
    let e = st::read_dense_f32(&b, "nope").unwrap_err();
    assert!(matches!(e, FormatError::InvalidArgument(_)), "{e:?}");
    assert!(e.to_string().contains("w.data"), "{e}");
    let e = st::read_dense_f32(&b, "w.indptr").unwrap_err();
    assert!(matches!(e, FormatError::Unsupported { .. }), "{e:?}");
}

#[test]
fn safetensors_sparse_errors() {
    let e =
        st::read_sparse::<f32, u32>(&sparse_file(&[0, 1, 1], &[5], &[2.5], [2, 2])).unwrap_err();
    assert!(
        matches!(e, FormatError::IndexOutOfBounds { index: 5, .. }),
        "{e:?}"
    );
    let e =
        st::read_sparse::<f32, u32>(&sparse_file(&[0, 1, 1], &[-1], &[2.5], [2, 2])).unwrap_err();
    assert!(
        matches!(e, FormatError::NegativeIndex { value: -1, .. }),
        "{e:?}"
    );
    let e = st::read_sparse::<f32, u32>(&sparse_file(&[0, 1], &[1], &[2.5], [2, 2])).unwrap_err();
    assert!(matches!(e, FormatError::LengthMismatch { .. }), "{e:?}");
    let big = 1 << 40;
    let e = st::read_sparse::<f32, u64>(&sparse_file(&[0, 1, 1], &[1], &[2.5], [big, big]))
        .unwrap_err();
    assert!(matches!(e, FormatError::ShapeOverflow(_)), "{e:?}");
    let e =
        st::read_sparse::<f32, u64>(&sparse_file(&[0, 1, 1], &[1], &[2.5], [-2, 2])).unwrap_err();
    assert!(
        matches!(e, FormatError::NegativeIndex { what: "shape", .. }),
        "{e:?}"
    );
    // metadata announces a matrix whose arrays are missing
    let b = st_file(&[], "{\"v\":\"sparsekit:coo\"}");
    let e = st::read_sparse::<f32, u32>(&b).unwrap_err();
    assert!(matches!(e, FormatError::InvalidArgument(_)), "{e:?}");
    let b = st_file(&[], "{\"v\":\"sparsekit:dia\"}");
    assert!(st::read_sparse::<f32, u32>(&b).is_err());
}

#[test]
fn safetensors_write_refuses_name_clash() {
    let a: SparseMatrix<f32> = Csr::<f32>::zeros(1, 1).unwrap().into();
    let e = st::write_sparse(&[("w", &a), ("w", &a)]).unwrap_err();
    assert!(matches!(e, FormatError::InvalidArgument(_)), "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// random corruption: never a panic

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn corrupted_npz_never_panics(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), cut in any::<prop::sample::Index>()) {
        let mut b = zip_of(&[
            ("indices", npy_i32(&[0, 3, 1])),
            ("indptr", npy_i32(&[0, 2, 2, 3])),
            ("format", npy_format("csr")),
            ("shape", npy_i64(&[3, 4])),
            ("data", npy_f64(&[1.0, 2.0, 3.0])),
        ]);
        for (i, v) in flips {
            let k = i.index(b.len());
            b[k] = v;
        }
        let _ = read_npz(&b);
        let _ = npz::info(Cursor::new(&b));
        let c = cut.index(b.len() + 1);
        let _ = read_npz(&b[..c]);
    }

    #[test]
    fn corrupted_mtx_never_panics(text in "[0-9 .e%\\-\\n]{0,80}", sym in 0usize..4) {
        let banner = ["general", "symmetric", "skew-symmetric", "hermitian"][sym];
        let s = format!("%%MatrixMarket matrix coordinate real {banner}\n{text}");
        let _ = mtx::read::<f32, u32>(s.as_bytes());
        let s = format!("%%MatrixMarket matrix array real {banner}\n{text}");
        let _ = mtx::read::<f64, u64>(s.as_bytes());
    }

    #[test]
    fn corrupted_safetensors_never_panics(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut b = sparse_file(&[0, 1, 1], &[1], &[2.5], [2, 2]);
        for (i, v) in flips {
            let k = i.index(b.len());
            b[k] = v;
        }
        let _ = st::read_sparse::<f32, u32>(&b);
        let _ = st::read_dense_info(&b);
        let _ = st::read_dense_f32(&b, "w.data");
    }
}
