//! Every public constructor fed malformed input: it must return the specific typed error (and a
//! message naming the problem), never panic, never allocate from a declared shape alone.

use sparsekit_formats::{
    Axis, Bsr, BsrView, Coo, Csc, CscPattern, CscView, Csr, CsrPattern, FormatError, Mask, NMView,
    Select, NM,
};

// ---------------------------------------------------------------- CSC (mirror of CSR)

#[test]
fn csc_wrong_lengths() {
    let e = Csc::<f32>::try_new(2, 2, vec![0, 1, 2], vec![0, 1], vec![1.0]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::LengthMismatch {
                what: "values",
                expected: 2,
                got: 1
            }
        ),
        "{e}"
    );
    let e = Csc::<f32>::try_new(2, 2, vec![0, 2], vec![0, 1], vec![1.0, 2.0]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::LengthMismatch {
                what: "col_ptr",
                expected: 3,
                got: 2
            }
        ),
        "{e}"
    );
}

#[test]
fn csc_bad_ptr() {
    let e = CscPattern::<u32>::try_new(2, 2, vec![1, 1, 2], vec![0, 1]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::PtrStart {
                what: "col_ptr",
                got: 1
            }
        ),
        "{e}"
    );
    let e = CscPattern::<u32>::try_new(2, 3, vec![0, 2, 1, 2], vec![0, 1]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::PtrNotMonotone {
                what: "col_ptr",
                at: 2,
                prev: 2,
                next: 1
            }
        ),
        "{e}"
    );
    let e = CscPattern::<u32>::try_new(2, 2, vec![0, 1, 3], vec![0, 1]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::PtrEnd {
                what: "col_ptr",
                expected: 2,
                got: 3
            }
        ),
        "{e}"
    );
}

#[test]
fn csc_out_of_bounds_and_not_canonical() {
    let e = CscPattern::<u32>::try_new(3, 2, vec![0, 1, 2], vec![0, 5]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::IndexOutOfBounds {
                outer_axis: "column",
                outer: 1,
                axis: Axis::Row,
                index: 5,
                bound: 3,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.to_string(), "column 1: row 5 \u{2265} nrows 3");
    let e = CscPattern::<u32>::try_new(3, 1, vec![0, 2], vec![2, 1]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::NotCanonical {
                outer_axis: "column",
                outer: 0,
                position: 1,
                prev: 2,
                next: 1
            }
        ),
        "{e}"
    );
    let e = CscPattern::<u32>::try_new(3, 1, vec![0, 2], vec![1, 1]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::NotCanonical {
                prev: 1,
                next: 1,
                ..
            }
        ),
        "{e}"
    );
    // unsorted is fine for try_from_unsorted, but an index out of range in a later column is not
    let e = Csc::<f32>::try_from_unsorted(3, 2, vec![0, 2, 3], vec![2, 1, 9], vec![1.0; 3])
        .unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::IndexOutOfBounds {
                outer: 1,
                index: 9,
                ..
            }
        ),
        "{e}"
    );
    let e = Csr::<f32>::try_from_unsorted(2, 3, vec![0, 2, 3], vec![2, 1, 7], vec![1.0; 3])
        .unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::IndexOutOfBounds {
                outer: 1,
                index: 7,
                ..
            }
        ),
        "{e}"
    );
    let e = Csr::<f32>::try_from_unsorted(2, 3, vec![0, 2, 3], vec![2, 1, 0], vec![1.0; 2])
        .unwrap_err();
    assert!(
        matches!(e, FormatError::LengthMismatch { what: "values", .. }),
        "{e}"
    );
}

#[test]
fn shape_and_index_type_overflow() {
    let e = Csc::<f32, u64>::try_new(usize::MAX, 2, vec![0, 0, 0], vec![], vec![]).unwrap_err();
    assert!(matches!(e, FormatError::ShapeOverflow(_)), "{e}");
    let e = CsrPattern::<u64>::try_new(usize::MAX, 2, vec![0], vec![]).unwrap_err();
    assert!(matches!(e, FormatError::ShapeOverflow(_)), "{e}");
    let e = Coo::<f32, u64>::try_new(usize::MAX, 2, vec![], vec![], vec![]).unwrap_err();
    assert!(matches!(e, FormatError::ShapeOverflow(_)), "{e}");
    // nrows itself does not fit u32 (checked before anything is allocated)
    let big = u32::MAX as usize + 1;
    let e = CsrPattern::<u32>::empty(big, 1).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::IndexTypeOverflow {
                what: "nrows",
                index_type: "u32",
                ..
            }
        ),
        "{e}"
    );
    let e = Csc::<f32, u32>::zeros(1, big).unwrap_err();
    assert!(
        matches!(e, FormatError::IndexTypeOverflow { what: "ncols", .. }),
        "{e}"
    );
    let e = Coo::<f32, u32>::try_new(big, 1, vec![], vec![], vec![]).unwrap_err();
    assert!(
        matches!(e, FormatError::IndexTypeOverflow { what: "nrows", .. }),
        "{e}"
    );
    let e = Csr::<f32, u32>::from_dense(&[], 0, big, Select::NonZero).unwrap_err();
    assert!(
        matches!(e, FormatError::IndexTypeOverflow { what: "ncols", .. }),
        "{e}"
    );
    let e = Mask::new(usize::MAX, 2).unwrap_err();
    assert!(matches!(e, FormatError::ShapeOverflow(_)), "{e}");
    // …but u64 indices accept it, and a huge declared shape with little data allocates nothing
    let coo = Coo::<f32, u64>::try_new(1 << 40, 1 << 20, vec![5], vec![7], vec![1.0]).unwrap();
    assert_eq!(coo.nnz(), 1);
    let e = Csr::<f32, u64>::try_new(1 << 40, 3, vec![0, 0], vec![], vec![]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::LengthMismatch {
                what: "row_ptr",
                ..
            }
        ),
        "{e}"
    );
    let e = Bsr::<f32, u64>::try_new(1 << 40, 4, (2, 2), vec![0], vec![], vec![]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::LengthMismatch {
                what: "block_row_ptr",
                ..
            }
        ),
        "{e}"
    );
    let e = NM::<f32>::try_new(1 << 40, 16, 2, 4, vec![], vec![]).unwrap_err();
    assert!(
        matches!(e, FormatError::LengthMismatch { what: "values", .. }),
        "{e}"
    );
    let e = Mask::try_new(1 << 40, 64, vec![]).unwrap_err();
    assert!(
        matches!(e, FormatError::LengthMismatch { what: "words", .. }),
        "{e}"
    );
}

/// Storage derived from a declared shape (not from data) that cannot be allocated is an error,
/// not an abort.
#[test]
fn unallocatable_shapes_are_errors() {
    let e = Mask::new(1 << 40, 1 << 20).unwrap_err();
    assert!(
        matches!(e, FormatError::ShapeOverflow(ref m) if m.contains("cannot allocate")),
        "{e}"
    );
    let e = Csr::<f32, u64>::zeros(1 << 60, 1).unwrap_err();
    assert!(
        matches!(e, FormatError::ShapeOverflow(ref m) if m.contains("cannot allocate")),
        "{e}"
    );
    let e = Csr::<f32, u64>::from_dense(&[], 1 << 60, 0, Select::NonZero).unwrap_err();
    assert!(
        matches!(e, FormatError::ShapeOverflow(ref m) if m.contains("cannot allocate")),
        "{e}"
    );
    let a = Csr::<f32, u64>::zeros(1, 1 << 60).unwrap();
    let e = NM::from_csr(&a, 1, 4).unwrap_err();
    assert!(
        matches!(e, FormatError::ShapeOverflow(ref m) if m.contains("cannot allocate")),
        "{e}"
    );
}

// ---------------------------------------------------------------- COO

#[test]
fn coo_malformed() {
    let e = Coo::<f32>::try_new(2, 2, vec![0, 1], vec![0], vec![1.0, 2.0]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::LengthMismatch {
                what: "cols",
                expected: 2,
                got: 1
            }
        ),
        "{e}"
    );
    let e = Coo::<f32>::try_new(2, 2, vec![0, 1], vec![0, 1], vec![1.0]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::LengthMismatch {
                what: "values",
                expected: 2,
                got: 1
            }
        ),
        "{e}"
    );
    let e = Coo::<f32>::try_new(2, 2, vec![0, 2], vec![0, 1], vec![1.0, 2.0]).unwrap_err();
    assert!(matches!(
        e,
        FormatError::IndexOutOfBounds {
            outer_axis: "entry",
            outer: 1,
            axis: Axis::Row,
            index: 2,
            ..
        }
    ));
    assert_eq!(e.to_string(), "entry 1: row 2 \u{2265} nrows 2");
    let e = Coo::<f32>::try_new(2, 2, vec![0, 1], vec![0, 9], vec![1.0, 2.0]).unwrap_err();
    assert_eq!(e.to_string(), "entry 1: column 9 \u{2265} ncols 2");
    let mut c = Coo::<f32>::zeros(2, 2).unwrap();
    c.push(1, 1, 3.0).unwrap();
    let e = c.push(2, 0, 1.0).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::IndexOutOfBounds {
                axis: Axis::Row,
                index: 2,
                ..
            }
        ),
        "{e}"
    );
    let e = c.push(0, 5, 1.0).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::IndexOutOfBounds {
                axis: Axis::Col,
                index: 5,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(c.nnz(), 1);
}

// ---------------------------------------------------------------- BSR

#[test]
fn bsr_block_shape() {
    let e = Bsr::<f32>::try_new(4, 4, (0, 2), vec![], vec![], vec![]).unwrap_err();
    assert!(matches!(e, FormatError::Structure(_)), "{e}");
    assert_eq!(
        e.to_string(),
        "structure: block shape 0\u{d7}2: both sides must be \u{2265} 1"
    );
    let e = Bsr::<f32>::try_new(4, 6, (2, 4), vec![0, 0, 0], vec![], vec![]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "structure: block shape 2\u{d7}4 does not divide the matrix shape 4\u{d7}6"
    );
    let a = Csr::<f32>::zeros(5, 4).unwrap();
    let e = Bsr::from_csr(&a, (2, 2)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "structure: block shape 2\u{d7}2 does not divide the matrix shape 5\u{d7}4"
    );
    let e = Bsr::<f32>::from_dense(&[0.0; 20], 5, 4, (2, 2), 0.0).unwrap_err();
    assert!(matches!(e, FormatError::Structure(_)), "{e}");
    let e = Bsr::<f32>::zeros(3, 3, (2, 1)).unwrap_err();
    assert!(matches!(e, FormatError::Structure(_)), "{e}");
    // r·c overflowing usize
    let e = Bsr::<f32, u64>::try_new(0, 2, (usize::MAX, 2), vec![0], vec![], vec![]).unwrap_err();
    assert!(matches!(e, FormatError::ShapeOverflow(_)), "{e}");
}

#[test]
fn bsr_structure() {
    // 4×4 with 2×2 blocks: 2 block rows, 2 block columns
    let ok = |p: Vec<u32>, i: Vec<u32>, v: Vec<f32>| Bsr::<f32>::try_new(4, 4, (2, 2), p, i, v);
    assert!(ok(vec![0, 1, 2], vec![1, 0], vec![1.0; 8]).is_ok());
    let e = ok(vec![0, 1, 2], vec![1, 0], vec![1.0; 7]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::LengthMismatch {
                what: "values",
                expected: 8,
                got: 7
            }
        ),
        "{e}"
    );
    let e = ok(vec![0, 2], vec![0, 1], vec![1.0; 8]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::LengthMismatch {
                what: "block_row_ptr",
                expected: 3,
                got: 2
            }
        ),
        "{e}"
    );
    let e = ok(vec![1, 1, 2], vec![0, 1], vec![1.0; 8]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::PtrStart {
                what: "block_row_ptr",
                got: 1
            }
        ),
        "{e}"
    );
    let e = ok(vec![0, 2, 1], vec![0, 1], vec![1.0; 8]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::PtrNotMonotone {
                what: "block_row_ptr",
                ..
            }
        ),
        "{e}"
    );
    let e = ok(vec![0, 1, 3], vec![0, 1], vec![1.0; 8]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::PtrEnd {
                what: "block_row_ptr",
                ..
            }
        ),
        "{e}"
    );
    let e = ok(vec![0, 1, 2], vec![0, 2], vec![1.0; 8]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "block row 1: column 2 \u{2265} block columns 2"
    );
    let e = ok(vec![0, 2, 2], vec![1, 0], vec![1.0; 8]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::NotCanonical {
                outer_axis: "block row",
                outer: 0,
                prev: 1,
                next: 0,
                ..
            }
        ),
        "{e}"
    );
    let e = ok(vec![0, 2, 2], vec![1, 1], vec![1.0; 8]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::NotCanonical {
                prev: 1,
                next: 1,
                ..
            }
        ),
        "{e}"
    );
    let (p, i, v) = (vec![0u32, 1, 2], vec![1u32, 0], vec![1.0f32; 8]);
    let e = BsrView::try_new(4, 4, (2, 2), &p, &i, &v[..6]).unwrap_err();
    assert!(
        matches!(e, FormatError::LengthMismatch { what: "values", .. }),
        "{e}"
    );
    assert_eq!(
        BsrView::try_new(4, 4, (2, 2), &p, &i, &v)
            .unwrap()
            .to_owned(),
        ok(p.clone(), i.clone(), v.clone()).unwrap()
    );
}

// ---------------------------------------------------------------- N:M

#[test]
fn nm_arguments() {
    for (n, m) in [(0, 4), (4, 4), (5, 4), (2, 17), (0, 0)] {
        let e = NM::<f32>::try_new(1, 16, n, m, vec![], vec![]).unwrap_err();
        assert!(matches!(e, FormatError::InvalidArgument(_)), "{n}:{m}: {e}");
        assert!(e.to_string().contains(&format!("N:M = {n}:{m}")), "{e}");
        let e = NM::<f32>::from_dense(&[0.0; 16], 1, 16, n, m).unwrap_err();
        assert!(matches!(e, FormatError::InvalidArgument(_)), "{e}");
    }
    let e = NM::<f32>::try_new(1, 6, 2, 4, vec![], vec![]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "structure: ncols 6 is not a multiple of M = 4"
    );
    let e = NM::<f32>::from_csr(&Csr::<f32>::zeros(2, 10).unwrap(), 2, 8).unwrap_err();
    assert_eq!(
        e.to_string(),
        "structure: ncols 10 is not a multiple of M = 8"
    );
    let e = NM::<f32>::from_dense(&[0.0; 7], 1, 8, 2, 4).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::LengthMismatch {
                what: "dense",
                expected: 8,
                got: 7
            }
        ),
        "{e}"
    );
    let e = NM::<f32>::try_new(usize::MAX, 4, 2, 4, vec![], vec![]).unwrap_err();
    assert!(matches!(e, FormatError::ShapeOverflow(_)), "{e}");
}

#[test]
fn nm_packed_arrays() {
    // 1×8, 2:4 → 4 slots
    let e = NM::<f32>::try_new(1, 8, 2, 4, vec![1.0; 3], vec![0, 1, 0, 1]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::LengthMismatch {
                what: "values",
                expected: 4,
                got: 3
            }
        ),
        "{e}"
    );
    let e = NM::<f32>::try_new(1, 8, 2, 4, vec![1.0; 4], vec![0, 1, 0]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::LengthMismatch {
                what: "offsets",
                expected: 4,
                got: 3
            }
        ),
        "{e}"
    );
    let e = NM::<f32>::try_new(1, 8, 2, 4, vec![1.0; 4], vec![0, 1, 0, 4]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "structure: row 0, group 1 (columns 4..8), slot 1: offset 4 \u{2265} M = 4"
    );
    let e = NM::<f32>::try_new(2, 4, 2, 4, vec![1.0; 4], vec![0, 1, 3, 3]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "structure: row 1, group 0 (columns 0..4): offsets not strictly increasing (3 then 3)"
    );
    let (v, o) = (vec![1.0f32; 4], vec![1u8, 0, 0, 1]);
    let e = NMView::try_new(1, 8, 2, 4, &v, &o).unwrap_err();
    assert!(matches!(e, FormatError::Structure(_)), "{e}");
    let o = vec![0u8, 3, 1, 2];
    assert_eq!(
        NMView::try_new(1, 8, 2, 4, &v, &o).unwrap().to_dense(),
        vec![1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0]
    );
}

#[test]
fn nm_group_with_too_many_entries() {
    // row 3, group 5 (columns 20..24) holds 3 entries
    let mut coo = Coo::<f32>::zeros(4, 24).unwrap();
    coo.push(0, 0, 1.0).unwrap();
    for j in [20, 21, 23] {
        coo.push(3, j, 1.0).unwrap();
    }
    let a = coo.to_csr();
    let e = NM::from_csr(&a, 2, 4).unwrap_err();
    assert!(matches!(e, FormatError::Structure(_)));
    assert_eq!(
        e.to_string(),
        "structure: row 3, group 5 (columns 20..24): 3 non-zeros > N = 2"
    );
    assert!(NM::from_csr(&a, 3, 4).is_ok());
}

// ---------------------------------------------------------------- Mask

#[test]
fn mask_malformed() {
    let e = Mask::from_bools(&[true; 5], 2, 3).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::LengthMismatch {
                what: "bools",
                expected: 6,
                got: 5
            }
        ),
        "{e}"
    );
    let e = Mask::try_new(2, 70, vec![0; 3]).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::LengthMismatch {
                what: "words",
                expected: 4,
                got: 3
            }
        ),
        "{e}"
    );
    let e = Mask::try_new(2, 70, vec![0, 0, 0, 1 << 6]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "structure: mask row 1: bits set beyond ncols 70 in its last word"
    );
    assert!(Mask::try_new(2, 70, vec![0, 0, 0, (1 << 6) - 1]).is_ok());
    let a = Mask::new(2, 3).unwrap();
    let b = Mask::new(3, 2).unwrap();
    let e = a.and(&b).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::ShapeMismatch {
                left: (2, 3),
                right: (3, 2)
            }
        ),
        "{e}"
    );
    assert!(matches!(a.or(&b), Err(FormatError::ShapeMismatch { .. })));
    let e = Csr::<f32>::from_dense(&[0.0; 6], 3, 2, Select::Mask(&a)).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::ShapeMismatch {
                left: (3, 2),
                right: (2, 3)
            }
        ),
        "{e}"
    );
}

#[test]
#[should_panic(expected = "mask index (2, 0) out of bounds")]
fn mask_get_out_of_bounds_panics_like_slices() {
    Mask::new(2, 3).unwrap().get(2, 0);
}

// ---------------------------------------------------------------- dense selection

#[test]
fn select_malformed() {
    let d = [1.0f32, 2.0, 3.0, 4.0];
    let e = Csr::<f32>::from_dense(&d, 2, 2, Select::Threshold(f64::NAN)).unwrap_err();
    assert!(matches!(e, FormatError::InvalidArgument(_)), "{e}");
    assert_eq!(e.to_string(), "invalid argument: threshold is NaN");
    let e = Csr::<f32>::from_dense(&d, 2, 2, Select::TopK(5)).unwrap_err();
    assert_eq!(e.to_string(), "invalid argument: top-k: k = 5 > 4 entries");
    let e = Csr::<f32>::from_dense(&d, 2, 2, Select::TopKPerRow(3)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid argument: top-k per row: k = 3 > ncols 2"
    );
    let e = Csr::<f32>::from_dense(&d, 2, 3, Select::NonZero).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::LengthMismatch {
                what: "dense",
                expected: 6,
                got: 4
            }
        ),
        "{e}"
    );
    let e = Csr::<f32>::from_dense(&d, usize::MAX, 2, Select::NonZero).unwrap_err();
    assert!(matches!(e, FormatError::ShapeOverflow(_)), "{e}");
    let e = Csc::<f32>::from_dense(&d, 2, 2, Select::TopK(9)).unwrap_err();
    assert!(matches!(e, FormatError::InvalidArgument(_)), "{e}");
    let e = Coo::<f32>::from_dense(&d, 4, 2, Select::NonZero).unwrap_err();
    assert!(matches!(e, FormatError::LengthMismatch { .. }), "{e}");
    let e = Bsr::<f32>::from_dense(&d, 2, 2, (1, 1), f64::NAN).unwrap_err();
    assert!(matches!(e, FormatError::InvalidArgument(_)), "{e}");
    let e = Bsr::<f32>::from_dense(&d, 2, 3, (1, 1), 0.0).unwrap_err();
    assert!(
        matches!(e, FormatError::LengthMismatch { what: "dense", .. }),
        "{e}"
    );
    // edge values of k are fine
    assert_eq!(
        Csr::<f32>::from_dense(&d, 2, 2, Select::TopK(0))
            .unwrap()
            .nnz(),
        0
    );
    assert_eq!(
        Csr::<f32>::from_dense(&d, 2, 2, Select::TopK(4))
            .unwrap()
            .nnz(),
        4
    );
    assert_eq!(
        Csr::<f32>::from_dense(&d, 2, 2, Select::TopKPerRow(2))
            .unwrap()
            .nnz(),
        4
    );
}

// ---------------------------------------------------------------- views

#[test]
fn views_validate() {
    let (p, r, v) = (vec![0u32, 1, 2], vec![0u32, 3], vec![1.0f32, 2.0]);
    let e = CscView::try_new(3, 2, &p, &r, &v).unwrap_err();
    assert_eq!(e.to_string(), "column 1: row 3 \u{2265} nrows 3");
    let e = CscView::try_new(4, 2, &p, &r, &v[..1]).unwrap_err();
    assert!(
        matches!(e, FormatError::LengthMismatch { what: "values", .. }),
        "{e}"
    );
    let view = CscView::try_new(4, 2, &p, &r, &v).unwrap();
    assert_eq!(
        view.to_dense(),
        vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0]
    );
}
