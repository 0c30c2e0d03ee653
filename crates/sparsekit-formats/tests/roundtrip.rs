//! Property tests: every conversion against a dense reference, across f32/f64 and u32/u64, on
//! awkward shapes (0 rows or columns, 1×1, empty rows/columns, nnz = 0, dense rows, sizes not
//! multiples of the block size or of M). Values are small integers so sums are exact in f32.

use proptest::prelude::*;
use sparsekit_formats::{
    satisfies_nm, Bsr, Coo, Csc, Csr, CsrPattern, Mask, Scalar, Select, SpIndex, NM,
};

/// A small integer value, zero with probability ~1/2.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![4 => Just(0.0), 4 => (-9i32..=9).prop_map(f64::from)]
}

/// `(nrows, ncols, dense)` with shapes 0..=7 × 0..=7; sometimes one row is fully dense.
fn dense_matrix() -> impl Strategy<Value = (usize, usize, Vec<f64>)> {
    (0usize..=7, 0usize..=7)
        .prop_flat_map(|(r, c)| {
            (
                Just(r),
                Just(c),
                proptest::collection::vec(value(), r * c),
                any::<prop::sample::Index>(),
                any::<bool>(),
            )
        })
        .prop_map(|(r, c, mut d, row, dense_row)| {
            if dense_row && r > 0 {
                let i = row.index(r);
                for j in 0..c {
                    if d[i * c + j] == 0.0 {
                        d[i * c + j] = (j + 1) as f64;
                    }
                }
            }
            (r, c, d)
        })
}

fn cast<T: Scalar>(d: &[f64]) -> Vec<T> {
    d.iter().map(|&v| T::from_f64(v)).collect()
}
fn back<T: Scalar>(d: &[T]) -> Vec<f64> {
    d.iter().map(|v| v.to_f64()).collect()
}
fn transpose_dense(d: &[f64], nrows: usize, ncols: usize) -> Vec<f64> {
    let mut t = vec![0.0; d.len()];
    for i in 0..nrows {
        for j in 0..ncols {
            t[j * nrows + i] = d[i * ncols + j];
        }
    }
    t
}
/// Re-validates a CSR through the checked constructor (canonical form, bounds, lengths).
fn revalidate<T: Scalar, I: SpIndex>(a: &Csr<T, I>) {
    Csr::<T, I>::try_new(
        a.nrows(),
        a.ncols(),
        a.row_ptr().to_vec(),
        a.col_idx().to_vec(),
        a.values().to_vec(),
    )
    .expect("conversion output must be canonical");
}

/// Compressed arrays over `outer` with each slice in reverse input order (unsorted, duplicates kept).
fn unsorted_compress(
    nouter: usize,
    outer: &[u32],
    inner: &[u32],
    vals: &[f32],
) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
    let mut ptr = vec![0u32; nouter + 1];
    for &o in outer {
        ptr[o as usize + 1] += 1;
    }
    for k in 0..nouter {
        ptr[k + 1] += ptr[k];
    }
    let mut next: Vec<usize> = ptr.iter().map(|&p| p as usize).collect();
    let (mut idx, mut v) = (vec![0u32; inner.len()], vec![0f32; vals.len()]);
    for k in (0..outer.len()).rev() {
        let o = outer[k] as usize;
        idx[next[o]] = inner[k];
        v[next[o]] = vals[k];
        next[o] += 1;
    }
    (ptr, idx, v)
}

fn compressed_roundtrips<T: Scalar, I: SpIndex>(nrows: usize, ncols: usize, d: &[f64]) {
    let dt: Vec<T> = cast(d);
    let csr = Csr::<T, I>::from_dense(&dt, nrows, ncols, Select::NonZero).unwrap();
    revalidate(&csr);
    assert_eq!(back(&csr.to_dense()), d);
    assert_eq!(csr.nnz(), d.iter().filter(|v| **v != 0.0).count());

    let csc = csr.to_csc();
    Csc::<T, I>::try_new(
        nrows,
        ncols,
        csc.col_ptr().to_vec(),
        csc.row_idx().to_vec(),
        csc.values().to_vec(),
    )
    .unwrap();
    assert_eq!(back(&csc.to_dense()), d);
    assert_eq!(csc.to_csr(), csr);
    assert_eq!(
        Csc::<T, I>::from_dense(&dt, nrows, ncols, Select::NonZero).unwrap(),
        csc
    );

    let t = csr.transpose();
    revalidate(&t);
    assert_eq!(t.shape(), (ncols, nrows));
    assert_eq!(back(&t.to_dense()), transpose_dense(d, nrows, ncols));
    assert_eq!(t.transpose(), csr);
    assert_eq!(csc.transpose().to_csr(), t);
    assert_eq!(csr.pattern().transpose(), *t.pattern());
    assert_eq!(csr.pattern().to_csc(), *csc.pattern());
    assert_eq!(csc.pattern().to_csr(), *csr.pattern());

    let coo = Coo::from_csr(&csr);
    assert_eq!(back(&coo.to_dense()), d);
    assert_eq!(coo.to_csr(), csr);
    assert_eq!(coo.to_csc(), csc);
    assert_eq!(csc.to_coo().to_csr(), csr);
    assert_eq!(
        back(&coo.transpose().to_dense()),
        transpose_dense(d, nrows, ncols)
    );

    // views agree with owners
    assert_eq!(csc.view().to_owned(), csc);
    assert_eq!(back(&csc.view().to_dense()), d);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn csr_csc_coo_dense_f32_u32((nrows, ncols, d) in dense_matrix()) {
        compressed_roundtrips::<f32, u32>(nrows, ncols, &d);
    }

    #[test]
    fn csr_csc_coo_dense_f64_u64((nrows, ncols, d) in dense_matrix()) {
        compressed_roundtrips::<f64, u64>(nrows, ncols, &d);
    }

    #[test]
    fn csr_csc_half((nrows, ncols, d) in dense_matrix()) {
        compressed_roundtrips::<half::f16, u32>(nrows, ncols, &d);
        compressed_roundtrips::<half::bf16, u64>(nrows, ncols, &d);
    }

    /// Unsorted COO with duplicates: conversions sum them (SciPy's rule).
    #[test]
    fn coo_duplicates_summed(
        (nrows, ncols, entries) in (1usize..=6, 1usize..=6).prop_flat_map(|(r, c)| {
            (Just(r), Just(c), proptest::collection::vec((0..r, 0..c, -9i32..=9), 0..40))
        })
    ) {
        let mut reference = vec![0.0f64; nrows * ncols];
        for &(i, j, v) in &entries {
            reference[i * ncols + j] += v as f64;
        }
        let rows: Vec<u32> = entries.iter().map(|e| e.0 as u32).collect();
        let cols: Vec<u32> = entries.iter().map(|e| e.1 as u32).collect();
        let vals: Vec<f32> = entries.iter().map(|e| e.2 as f32).collect();
        let coo = Coo::<f32, u32>::try_new(nrows, ncols, rows.clone(), cols.clone(), vals.clone()).unwrap();
        prop_assert_eq!(back(&coo.to_dense()), reference.clone());
        let csr = coo.to_csr();
        revalidate(&csr);
        prop_assert_eq!(back(&csr.to_dense()), reference.clone());
        // one stored entry per distinct coordinate (sums that cancel stay stored)
        let mut distinct: Vec<(usize, usize)> = entries.iter().map(|e| (e.0, e.1)).collect();
        distinct.sort();
        distinct.dedup();
        prop_assert_eq!(csr.nnz(), distinct.len());
        let csc = coo.to_csc();
        prop_assert_eq!(back(&csc.to_dense()), reference.clone());
        prop_assert_eq!(csc.to_csr(), csr.clone());
        // the same triplets as unsorted CSR / CSC arrays
        let coo_t = coo.transpose();
        prop_assert_eq!(back(&coo_t.to_dense()), transpose_dense(&reference, nrows, ncols));
        let (rp, ci, cv) = unsorted_compress(nrows, &rows, &cols, &vals);
        let u = Csr::<f32>::try_from_unsorted(nrows, ncols, rp, ci, cv).unwrap();
        prop_assert_eq!(u, csr.clone());
        let (cp, ri, rv) = unsorted_compress(ncols, &cols, &rows, &vals);
        let uc = Csc::<f32>::try_from_unsorted(nrows, ncols, cp, ri, rv).unwrap();
        prop_assert_eq!(uc, csc);
    }

    #[test]
    fn bsr_roundtrips(
        (r, c, nbr, nbc) in (1usize..=3, 1usize..=3, 0usize..=3, 0usize..=3),
        seed in proptest::collection::vec(value(), 81),
    ) {
        let (nrows, ncols) = (nbr * r, nbc * c);
        let d: Vec<f64> = seed[..nrows * ncols].to_vec();
        let df: Vec<f32> = cast(&d);
        let csr = Csr::<f32>::from_dense(&df, nrows, ncols, Select::NonZero).unwrap();
        let bsr = Bsr::from_csr(&csr, (r, c)).unwrap();
        Bsr::<f32>::try_new(nrows, ncols, (r, c), bsr.block_row_ptr().to_vec(), bsr.block_col_idx().to_vec(), bsr.values().to_vec()).unwrap();
        prop_assert_eq!(back(&bsr.to_dense()), d.clone());
        prop_assert_eq!(bsr.to_csr(), csr.clone());
        prop_assert_eq!(bsr.to_csc(), csr.to_csc());
        prop_assert_eq!(bsr.to_coo().to_csr(), csr.clone());
        let nblocks = (0..nbr).flat_map(|bi| (0..nbc).map(move |bj| (bi, bj)))
            .filter(|&(bi, bj)| (0..r).any(|ri| (0..c).any(|ci| d[(bi * r + ri) * ncols + bj * c + ci] != 0.0)))
            .count();
        prop_assert_eq!(bsr.nblocks(), nblocks);
        prop_assert_eq!(bsr.values().len(), nblocks * r * c);
        let from_dense = Bsr::<f32>::from_dense(&df, nrows, ncols, (r, c), 0.0).unwrap();
        prop_assert_eq!(&from_dense, &bsr);
        let keep_zeros = bsr.to_csr_keep_zeros();
        revalidate(&keep_zeros);
        prop_assert_eq!(keep_zeros.nnz(), nblocks * r * c);
        prop_assert_eq!(back(&bsr.view().to_dense()), d.clone());
        // u64 indices, f64 values
        let b64 = Bsr::<f64, u64>::from_csr(&Csr::<f64, u64>::from_dense(&d, nrows, ncols, Select::NonZero).unwrap(), (r, c)).unwrap();
        prop_assert_eq!(b64.to_dense(), d.clone());
    }

    /// Shapes that are not multiples of the block size are rejected, naming the numbers.
    #[test]
    fn bsr_block_shape_must_divide((nrows, ncols, d) in dense_matrix(), r in 2usize..=4, c in 1usize..=4) {
        let df: Vec<f32> = cast(&d);
        let csr = Csr::<f32>::from_dense(&df, nrows, ncols, Select::NonZero).unwrap();
        let res = Bsr::from_csr(&csr, (r, c));
        if nrows % r == 0 && ncols % c == 0 {
            prop_assert_eq!(back(&res.unwrap().to_dense()), d);
        } else {
            let msg = res.unwrap_err().to_string();
            prop_assert!(msg.contains(&format!("{r}\u{d7}{c}")) && msg.contains(&format!("{nrows}\u{d7}{ncols}")), "{}", msg);
        }
    }

    #[test]
    fn nm_roundtrips(
        (n, m) in (2usize..=16).prop_flat_map(|m| (1..m, Just(m))),
        nrows in 0usize..=4,
        groups in 0usize..=3,
        seed in proptest::collection::vec(value(), 4 * 3 * 16),
    ) {
        let ncols = groups * m;
        let d: Vec<f64> = seed[..nrows * ncols].to_vec();
        let df: Vec<f32> = cast(&d);
        let nm = NM::from_dense(&df, nrows, ncols, n, m).unwrap();
        NM::try_new(nrows, ncols, n, m, nm.values().to_vec(), nm.offsets().to_vec()).unwrap();
        prop_assert_eq!(nm.values().len(), nrows * groups * n);
        // reference: top-n magnitudes per group, ties to the lower column
        let mut expect = vec![0.0f64; d.len()];
        for g in 0..nrows * groups {
            let mut idx: Vec<usize> = (g * m..(g + 1) * m).collect();
            idx.sort_by(|&a, &b| d[b].abs().partial_cmp(&d[a].abs()).unwrap().then(a.cmp(&b)));
            for &p in &idx[..n] { expect[p] = d[p]; }
        }
        prop_assert_eq!(back(&nm.to_dense()), expect.clone());
        prop_assert_eq!(back(&nm.view().to_dense()), expect.clone());
        // pruned matrix: CSR conversions and the padding rule agree
        let ef: Vec<f32> = cast(&expect);
        let csr = Csr::<f32>::from_dense(&ef, nrows, ncols, Select::NonZero).unwrap();
        prop_assert!(satisfies_nm(csr.pattern(), n, m));
        prop_assert_eq!(nm.to_csr::<u32>().unwrap(), csr.clone());
        prop_assert_eq!(NM::from_csr(&csr, n, m).unwrap(), nm.clone());
        prop_assert_eq!(NM::from_dense(&ef, nrows, ncols, n, m).unwrap(), nm.clone());
        prop_assert_eq!(nm.to_csc::<u64>().unwrap().to_dense(), ef.clone());
        prop_assert_eq!(nm.to_coo::<u32>().unwrap().to_dense(), ef.clone());
        // the unpruned matrix satisfies N:M iff every group has ≤ n non-zeros
        let full = Csr::<f32, u64>::from_dense(&df, nrows, ncols, Select::NonZero).unwrap();
        let ok = (0..nrows * groups).all(|g| d[g * m..(g + 1) * m].iter().filter(|v| **v != 0.0).count() <= n);
        prop_assert_eq!(satisfies_nm(full.pattern(), n, m), ok);
        match NM::from_csr(&full, n, m) {
            Ok(x) => { prop_assert!(ok); prop_assert_eq!(x.to_dense(), df.clone()); }
            Err(e) => { prop_assert!(!ok); let want = format!("non-zeros > N = {}", n); prop_assert!(e.to_string().contains(&want)); }
        }
    }

    #[test]
    fn nm_rejects_ncols_not_multiple_of_m((nrows, ncols, d) in dense_matrix(), m in 2usize..=8) {
        let df: Vec<f32> = cast(&d);
        let res = NM::from_dense(&df, nrows, ncols, 1, m);
        if ncols % m == 0 {
            prop_assert!(res.is_ok());
        } else {
            prop_assert_eq!(res.unwrap_err().to_string(), format!("structure: ncols {ncols} is not a multiple of M = {m}"));
        }
    }

    #[test]
    fn mask_roundtrips((nrows, ncols, bools) in (0usize..=5, 0usize..=140).prop_flat_map(|(r, c)| {
        (Just(r), Just(c), proptest::collection::vec(any::<bool>(), r * c))
    }), other_seed in proptest::collection::vec(any::<bool>(), 5 * 140)) {
        let m = Mask::from_bools(&bools, nrows, ncols).unwrap();
        prop_assert_eq!(m.to_bools(), bools.clone());
        prop_assert_eq!(m.count_ones(), bools.iter().filter(|b| **b).count());
        for i in 0..nrows { for j in 0..ncols { prop_assert_eq!(m.get(i, j), bools[i * ncols + j]); } }
        let p: CsrPattern<u32> = m.to_csr_pattern().unwrap();
        prop_assert_eq!(p.nnz(), m.count_ones());
        prop_assert_eq!(Mask::from_pattern(&p).unwrap(), m.clone());
        let p64: CsrPattern<u64> = m.to_csr_pattern().unwrap();
        prop_assert_eq!(Mask::from_pattern(&p64).unwrap(), m.clone());
        let other_bools = &other_seed[..nrows * ncols];
        let o = Mask::from_bools(other_bools, nrows, ncols).unwrap();
        let zip = |f: fn(bool, bool) -> bool| -> Vec<bool> { bools.iter().zip(other_bools).map(|(&a, &b)| f(a, b)).collect() };
        prop_assert_eq!(m.and(&o).unwrap().to_bools(), zip(|a, b| a & b));
        prop_assert_eq!(m.or(&o).unwrap().to_bools(), zip(|a, b| a | b));
        prop_assert_eq!(m.xor(&o).unwrap().to_bools(), zip(|a, b| a ^ b));
        prop_assert_eq!(m.and_not(&o).unwrap().to_bools(), zip(|a, _b| a).iter().zip(other_bools).map(|(&a, &b)| a && !b).collect::<Vec<_>>());
        let not = m.not();
        prop_assert_eq!(not.to_bools(), bools.iter().map(|b| !b).collect::<Vec<_>>());
        prop_assert_eq!(not.count_ones() + m.count_ones(), nrows * ncols);
        prop_assert_eq!(Mask::try_new(nrows, ncols, not.words().to_vec()).unwrap(), not.clone());
        // Select::Mask keeps exactly the masked entries, zeros included
        let d: Vec<f64> = (0..nrows * ncols).map(|k| (k % 3) as f64).collect();
        let a = Csr::<f64>::from_dense(&d, nrows, ncols, Select::Mask(&m)).unwrap();
        prop_assert_eq!(a.pattern(), &p);
        // set / get
        let mut s = Mask::new(nrows, ncols).unwrap();
        for i in 0..nrows { for j in 0..ncols { if bools[i * ncols + j] { s.set(i, j, true); } } }
        prop_assert_eq!(&s, &m);
        if nrows * ncols > 0 {
            s.set(0, 0, !bools[0]);
            prop_assert_eq!(s.get(0, 0), !bools[0]);
        }
    }

    #[test]
    fn select_rules((nrows, ncols, d) in dense_matrix(), t in 0.0f64..9.0, k_seed in any::<prop::sample::Index>()) {
        let df: Vec<f32> = cast(&d);
        let total = nrows * ncols;
        // Threshold
        let a = Csr::<f32, u64>::from_dense(&df, nrows, ncols, Select::Threshold(t)).unwrap();
        let expect: Vec<f64> = d.iter().map(|&v| if v.abs() > t { v } else { 0.0 }).collect();
        prop_assert_eq!(back(&a.to_dense()), expect);
        prop_assert_eq!(a.nnz(), d.iter().filter(|v| v.abs() > t).count());
        // TopK: exactly k entries, the largest magnitudes, ties to the lower flat index
        let k = k_seed.index(total + 1);
        let b = Csr::<f32>::from_dense(&df, nrows, ncols, Select::TopK(k)).unwrap();
        prop_assert_eq!(b.nnz(), k);
        let mut idx: Vec<usize> = (0..total).collect();
        idx.sort_by(|&x, &y| d[y].abs().partial_cmp(&d[x].abs()).unwrap().then(x.cmp(&y)));
        let mut kept: Vec<usize> = idx[..k].to_vec();
        kept.sort();
        let got: Vec<usize> = (0..nrows).flat_map(|i| b.row(i).0.iter().map(move |&j| i * ncols + j as usize).collect::<Vec<_>>()).collect();
        prop_assert_eq!(got, kept);
        // TopKPerRow
        let kr = if ncols == 0 { 0 } else { k_seed.index(ncols + 1) };
        let c = Csr::<f32>::from_dense(&df, nrows, ncols, Select::TopKPerRow(kr)).unwrap();
        for i in 0..nrows {
            let row = &d[i * ncols..(i + 1) * ncols];
            let mut idx: Vec<usize> = (0..ncols).collect();
            idx.sort_by(|&x, &y| row[y].abs().partial_cmp(&row[x].abs()).unwrap().then(x.cmp(&y)));
            let mut kept: Vec<u32> = idx[..kr].iter().map(|&j| j as u32).collect();
            kept.sort();
            prop_assert_eq!(c.row(i).0, &kept[..]);
        }
        // Coo::from_dense agrees
        prop_assert_eq!(Coo::<f32>::from_dense(&df, nrows, ncols, Select::NonZero).unwrap().to_dense(), df.clone());
    }
}

#[test]
fn edge_shapes() {
    for &(r, c) in &[(0usize, 0usize), (0, 5), (5, 0), (1, 1)] {
        let d = vec![0.0f64; r * c];
        compressed_roundtrips::<f32, u32>(r, c, &d);
        let z = Csr::<f32>::zeros(r, c).unwrap();
        assert_eq!(z.to_csc().to_csr(), z);
        assert_eq!(z.transpose().shape(), (c, r));
        assert_eq!(Coo::<f32>::zeros(r, c).unwrap().to_csr(), z);
        assert_eq!(Bsr::<f32>::zeros(r, c, (1, 1)).unwrap().to_csr(), z);
        let m = Mask::new(r, c).unwrap();
        assert_eq!(m.count_ones(), 0);
        assert_eq!(m.density(), 0.0);
        assert_eq!(Mask::ones(r, c).unwrap().count_ones(), r * c);
    }
    compressed_roundtrips::<f32, u32>(1, 1, &[3.0]);
    // 1×1, N:M with 0 columns
    let nm = NM::<f32>::from_dense(&[], 3, 0, 2, 4).unwrap();
    assert_eq!(nm.values().len(), 0);
    assert_eq!(nm.to_csr::<u32>().unwrap(), Csr::zeros(3, 0).unwrap());
    // a fully dense row next to empty rows
    let d = [0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 0.0, 0.0, 0.0];
    compressed_roundtrips::<f64, u32>(3, 3, &d);
    let a = Csr::<f64>::from_dense(&d, 3, 3, Select::NonZero).unwrap();
    assert_eq!(a.row_ptr(), &[0, 0, 3, 3]);
    assert_eq!(Bsr::from_csr(&a, (3, 1)).unwrap().nblocks(), 3);
    assert_eq!(Bsr::from_csr(&a, (1, 3)).unwrap().nblocks(), 1);
}

#[test]
fn bsr_matches_scipy_layout() {
    // scipy.sparse.bsr_matrix(np.arange(1, 17).reshape(4, 4), blocksize=(2, 2)).data.ravel()
    let d: Vec<f32> = (1..=16).map(|v| v as f32).collect();
    let b = Bsr::<f32>::from_dense(&d, 4, 4, (2, 2), 0.0).unwrap();
    assert_eq!(b.block_row_ptr(), &[0, 2, 4]);
    assert_eq!(b.block_col_idx(), &[0, 1, 0, 1]);
    assert_eq!(
        b.values(),
        &[1., 2., 5., 6., 3., 4., 7., 8., 9., 10., 13., 14., 11., 12., 15., 16.]
    );
    assert_eq!(b.block(1), &[3., 4., 7., 8.]);
}

#[test]
fn nm_padding_rule() {
    // 2:4, group with a single non-zero at offset 0 → pad at the lowest unused offset 1
    let a = Csr::<f32>::try_new(1, 8, vec![0, 2], vec![0, 6], vec![1.0, 2.0]).unwrap();
    let nm = NM::from_csr(&a, 2, 4).unwrap();
    assert_eq!(nm.offsets(), &[0, 1, 0, 2]);
    assert_eq!(nm.values(), &[1.0, 0.0, 0.0, 2.0]);
    // 1:4 on an empty group → offset 0, zero value
    let e = Csr::<f32>::zeros(2, 4).unwrap();
    let nm = NM::from_csr(&e, 1, 4).unwrap();
    assert_eq!(
        (nm.offsets(), nm.values()),
        (&[0u8, 0][..], &[0.0f32, 0.0][..])
    );
    // 4:8 from dense with ties → lower columns
    let d = [1.0f32; 8];
    let nm = NM::from_dense(&d, 1, 8, 4, 8).unwrap();
    assert_eq!(nm.offsets(), &[0, 1, 2, 3]);
    // an explicit zero stored in CSR counts as an entry (it is in the pattern)
    let z = Csr::<f32>::try_new(1, 4, vec![0, 2], vec![1, 3], vec![0.0, 5.0]).unwrap();
    assert!(!satisfies_nm(z.pattern(), 1, 4));
    assert!(satisfies_nm(z.pattern(), 2, 4));
}

#[test]
fn select_nan_is_largest_and_kept() {
    let d = [1.0f32, f32::NAN, 3.0];
    let a = Csr::<f32>::from_dense(&d, 1, 3, Select::TopK(1)).unwrap();
    assert_eq!(a.col_idx(), &[1]);
    let n = NM::from_dense(&d[..2], 1, 2, 1, 2).unwrap();
    assert_eq!(n.offsets(), &[1]);
    // NaN is "non-zero" and fails every threshold
    assert_eq!(
        Csr::<f32>::from_dense(&d, 1, 3, Select::NonZero)
            .unwrap()
            .nnz(),
        3
    );
    assert_eq!(
        Csr::<f32>::from_dense(&d, 1, 3, Select::Threshold(0.0))
            .unwrap()
            .nnz(),
        2
    );
}

/// COO → CSR/CSC with far more columns (rows) than entries takes the comparison-sort path of the
/// compressor; it must agree with the counting-sort path (same entries, small shape) and must not
/// allocate per declared column (a file may declare 4·10⁸ columns with no entries: found by
/// fuzzing `mtx_read`).
#[test]
fn coo_compression_with_huge_declared_inner_dimension() {
    let (rows, cols, vals) = (
        vec![2u32, 0, 2, 1, 2, 0],
        vec![7u32, 3, 1, 3, 7, 0],
        vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0],
    );
    let small = Coo::try_new(3, 8, rows.clone(), cols.clone(), vals.clone()).unwrap();
    let huge = Coo::try_new(3, 400_000_000, rows, cols, vals).unwrap();
    let (a, b) = (small.to_csr(), huge.to_csr());
    assert_eq!(a.row_ptr(), b.row_ptr());
    assert_eq!(a.col_idx(), b.col_idx());
    assert_eq!(a.values(), b.values());
    assert_eq!(a.col_idx(), &[0, 3, 3, 1, 7]); // duplicates (2, 7) summed
    assert_eq!(a.values(), &[6.0, 2.0, 4.0, 3.0, 6.0]);
    let empty = Coo::<f32>::try_new(0, 444_444_440, vec![], vec![], vec![]).unwrap();
    assert_eq!(empty.to_csr().nnz(), 0);
}
