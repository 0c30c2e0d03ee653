//! write → read round trips for every file format, index width and value type (proptest).
//! Values are arbitrary bit patterns (subnormals, huge, ±inf; no NaN since NaN ≠ NaN), so exact
//! equality really tests exactness.

use std::io::Cursor;

use half::{bf16, f16};
use proptest::prelude::*;
use sparsekit_formats::io::mtx::{self, MtxField, MtxOptions, MtxSymmetry};
use sparsekit_formats::io::npz::{self, IndexWidth, NpzOptions};
use sparsekit_formats::io::{safetensors as st, SparseMatrix};
use sparsekit_formats::{Bsr, Coo, Scalar, SpIndex};

/// A random matrix: block shape, number of block rows/cols, and per-cell `Option<bits>`.
#[derive(Clone, Debug)]
struct Gen {
    r: usize,
    c: usize,
    nbr: usize,
    nbc: usize,
    cells: Vec<Option<u64>>,
}

fn gen() -> impl Strategy<Value = Gen> {
    (1usize..3, 1usize..3, 0usize..4, 0usize..4).prop_flat_map(|(r, c, nbr, nbc)| {
        let n = r * c * nbr * nbc;
        proptest::collection::vec(proptest::option::weighted(0.4, any::<u64>()), n).prop_map(
            move |cells| Gen {
                r,
                c,
                nbr,
                nbc,
                cells,
            },
        )
    })
}

trait FromBits: Scalar {
    fn from_bits64(b: u64) -> Self;
}
impl FromBits for f64 {
    fn from_bits64(b: u64) -> Self {
        let v = f64::from_bits(b);
        if v.is_nan() {
            1.5
        } else {
            v
        }
    }
}
impl FromBits for f32 {
    fn from_bits64(b: u64) -> Self {
        let v = f32::from_bits(b as u32);
        if v.is_nan() {
            -2.25
        } else {
            v
        }
    }
}
impl FromBits for f16 {
    fn from_bits64(b: u64) -> Self {
        let v = f16::from_bits(b as u16);
        if v.is_nan() {
            f16::ONE
        } else {
            v
        }
    }
}
impl FromBits for bf16 {
    fn from_bits64(b: u64) -> Self {
        let v = bf16::from_bits(b as u16);
        if v.is_nan() {
            bf16::ONE
        } else {
            v
        }
    }
}

/// All four formats of the generated matrix (COO in column-major order, to be unlike CSR).
fn matrices<T: FromBits, I: SpIndex>(g: &Gen) -> Vec<SparseMatrix<T, I>> {
    let (m, n) = (g.r * g.nbr, g.c * g.nbc);
    let (mut rows, mut cols, mut vals) = (vec![], vec![], vec![]);
    for j in 0..n {
        for i in 0..m {
            if let Some(b) = g.cells[i * n + j] {
                rows.push(I::from_usize(i));
                cols.push(I::from_usize(j));
                vals.push(T::from_bits64(b));
            }
        }
    }
    let coo = Coo::<T, I>::try_new(m, n, rows, cols, vals).unwrap();
    let csr = coo.to_csr();
    let csc = coo.to_csc();
    let bsr = Bsr::from_csr(&csr, (g.r, g.c)).unwrap();
    vec![csr.into(), csc.into(), coo.into(), bsr.into()]
}

fn npz_roundtrip<T: FromBits, I: SpIndex>(g: &Gen) {
    for m in matrices::<T, I>(g) {
        for index in [IndexWidth::Auto, IndexWidth::I32, IndexWidth::I64] {
            for compressed in [true, false] {
                let opts = NpzOptions { index, compressed };
                let mut buf = Cursor::new(Vec::new());
                npz::write(&mut buf, &m, &opts).unwrap();
                let back: SparseMatrix<T, I> = npz::read(&mut buf).unwrap();
                assert_eq!(back, m, "{} {opts:?}", m.format_name());
                let info = npz::info(&mut buf).unwrap();
                assert_eq!(info.format, m.format_name());
                assert_eq!(info.shape, m.shape());
                assert_eq!(info.nnz, m.nnz());
                let want_idx = if index == IndexWidth::I64 {
                    "<i8"
                } else {
                    "<i4"
                };
                assert_eq!(info.index_dtype, want_idx);
                let want_val = match T::NAME {
                    "f64" => "<f8",
                    "f16" => "<f2",
                    _ => "<f4", // f32, and bf16 written as f32
                };
                assert_eq!(info.value_dtype, want_val);
                // Other index type on the way back: same matrix.
                let wide: SparseMatrix<T, u64> = npz::read(&mut buf).unwrap();
                assert_eq!(wide.to_dense(), m.to_dense());
            }
        }
    }
}

fn mtx_roundtrip<T: FromBits, I: SpIndex>(g: &Gen) {
    for m in matrices::<T, I>(g) {
        let mut buf = Vec::new();
        mtx::write(&mut buf, &m, &MtxOptions::default()).unwrap();
        let back = mtx::read::<T, I>(&buf[..]).unwrap();
        // Compare canonical CSR, keeping explicit zeros (BSR → COO drops block zeros).
        assert_eq!(
            back.to_csr(),
            m.to_coo().to_csr(),
            "{}\n{}",
            m.format_name(),
            String::from_utf8_lossy(&buf)
        );
        // pattern: same structure, ones.
        let mut buf = Vec::new();
        let opts = MtxOptions {
            field: MtxField::Pattern,
            symmetry: MtxSymmetry::General,
        };
        mtx::write(&mut buf, &m, &opts).unwrap();
        let p = mtx::read::<T, I>(&buf[..]).unwrap().to_csr();
        let want = m.to_coo().to_csr();
        assert_eq!(p.row_ptr(), want.row_ptr());
        assert_eq!(p.col_idx(), want.col_idx());
        assert!(p.values().iter().all(|&v| v == T::ONE));
    }
    // symmetric / skew-symmetric: A + Aᵀ and A − Aᵀ of the square part, integer-valued (exact).
    let coo = matrices::<T, I>(g)[2].to_coo().into_owned();
    let k = coo.nrows().min(coo.ncols());
    let (mut r, mut c, mut vs, mut vk) = (vec![], vec![], vec![], vec![]);
    for ((&i, &j), &v) in coo.rows().iter().zip(coo.cols()).zip(coo.values()) {
        let (i, j) = (i.index(), j.index());
        if i < k && j < k {
            let f = v.to_f64();
            let x = T::from_f64(if f.is_finite() {
                (f.abs() % 1000.0).floor()
            } else {
                7.0
            });
            if i != j {
                r.extend([i, j]);
                c.extend([j, i]);
                vs.extend([x, x]);
                vk.extend([x, T::from_f64(-x.to_f64())]);
            } else {
                r.push(i);
                c.push(i);
                vs.push(x);
                vk.push(T::ZERO);
            }
        }
    }
    let idx = |v: &[usize]| v.iter().map(|&x| I::from_usize(x)).collect::<Vec<I>>();
    for (vals, sym) in [
        (vs, MtxSymmetry::Symmetric),
        (vk, MtxSymmetry::SkewSymmetric),
    ] {
        let a = Coo::<T, I>::try_new(k, k, idx(&r), idx(&c), vals).unwrap();
        // (duplicates of (i,j) and (j,i) in A + Aᵀ are summed by to_csr, still symmetric)
        for field in [MtxField::Real, MtxField::Integer] {
            let mut buf = Vec::new();
            let opts = MtxOptions {
                field,
                symmetry: sym,
            };
            mtx::write(&mut buf, &a, &opts).unwrap();
            let back = mtx::read::<T, I>(&buf[..]).unwrap();
            let want = a.to_csr();
            if sym == MtxSymmetry::SkewSymmetric {
                // the (zero) diagonal is not written
                assert_eq!(back.to_dense(), want.to_dense());
            } else {
                assert_eq!(back.to_csr(), want, "{}", String::from_utf8_lossy(&buf));
            }
        }
    }
}

fn st_roundtrip<T: FromBits, I: SpIndex>(g: &Gen) {
    let ms = matrices::<T, I>(g);
    let named: Vec<(String, &SparseMatrix<T, I>)> = ms
        .iter()
        .map(|m| (format!("layers.0.{}", m.format_name()), m))
        .collect();
    let refs: Vec<(&str, &SparseMatrix<T, I>)> =
        named.iter().map(|(n, m)| (n.as_str(), *m)).collect();
    let bytes = st::write_sparse(&refs).unwrap();
    let back = st::read_sparse::<T, I>(&bytes).unwrap();
    let mut want: Vec<(String, SparseMatrix<T, I>)> = named
        .iter()
        .map(|(n, m)| (n.clone(), (*m).clone()))
        .collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(back, want);
    // dense view of the data arrays, in f32
    let (shape, v) = st::read_dense_f32(&bytes, "layers.0.csr.data").unwrap();
    assert_eq!(shape, vec![ms[0].nnz()]);
    let SparseMatrix::Csr(a) = &ms[0] else {
        unreachable!()
    };
    let want32: Vec<f32> = a.values().iter().map(|x| x.to_f32()).collect();
    let same = v
        .iter()
        .zip(&want32)
        .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()));
    assert!(same);
}

macro_rules! all_types {
    ($f:ident, $g:expr) => {
        $f::<f32, u32>($g);
        $f::<f64, u32>($g);
        $f::<f16, u32>($g);
        $f::<bf16, u32>($g);
        $f::<f32, u64>($g);
        $f::<f64, u64>($g);
        $f::<f16, u64>($g);
        $f::<bf16, u64>($g);
    };
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn npz_roundtrips(g in gen()) {
        all_types!(npz_roundtrip, &g);
    }

    #[test]
    fn mtx_roundtrips(g in gen()) {
        all_types!(mtx_roundtrip, &g);
    }

    #[test]
    fn safetensors_roundtrips(g in gen()) {
        all_types!(st_roundtrip, &g);
    }
}

#[test]
fn npz_files_on_disk_and_index_widths() {
    let dir = tempfile::tempdir().unwrap();
    let a = Coo::<f32>::try_new(3, 2, vec![2, 0], vec![1, 1], vec![1.0, 2.0])
        .unwrap()
        .to_csr();
    let m = SparseMatrix::from(a);
    let p = dir.path().join("a.npz");
    npz::write_path(&p, &m, &NpzOptions::default()).unwrap();
    assert_eq!(npz::read_path::<f32, u32>(&p).unwrap(), m);
    assert_eq!(npz::info_path(&p).unwrap().index_dtype, "<i4");
}

#[test]
fn mtx_shortest_float_text() {
    let a = Coo::<f64>::try_new(
        1,
        4,
        vec![0; 4],
        vec![0, 1, 2, 3],
        vec![0.1, 1e300, -5e-324, 1.0 / 3.0],
    )
    .unwrap();
    let mut buf = Vec::new();
    mtx::write(&mut buf, &a, &MtxOptions::default()).unwrap();
    let text = String::from_utf8(buf).unwrap();
    assert!(text.contains("1 1 0.1\n"), "{text}");
    assert!(text.contains("1 2 1e300\n"), "{text}");
    assert!(text.contains("1 3 -5e-324\n"), "{text}");
    assert!(text.contains("1 4 0.3333333333333333\n"), "{text}");
    let a32 = Coo::<f32>::try_new(1, 1, vec![0], vec![0], vec![0.1]).unwrap();
    let mut buf = Vec::new();
    mtx::write(&mut buf, &a32, &MtxOptions::default()).unwrap();
    assert!(String::from_utf8(buf).unwrap().ends_with("1 1 0.1\n"));
}
