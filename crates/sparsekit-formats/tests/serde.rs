//! serde: JSON round trips of every type, and tampered JSON rejected on deserialize with the
//! same error the checked constructor gives.

use serde::{de::DeserializeOwned, Serialize};
use sparsekit_formats::{Bsr, Coo, Csc, CscPattern, Csr, Mask, Select, NM};

fn roundtrip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(x: &T) -> String {
    let json = serde_json::to_string(x).unwrap();
    let back: T = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, x);
    json
}

/// Replaces the first occurrence of `from` in `json` (which must exist) and deserializes.
fn tampered<T: DeserializeOwned + std::fmt::Debug>(json: &str, from: &str, to: &str) -> String {
    assert!(json.contains(from), "{from} not in {json}");
    let bad = json.replacen(from, to, 1);
    serde_json::from_str::<T>(&bad).unwrap_err().to_string()
}

fn sample() -> Vec<f32> {
    // 4×4: [[1,0,0,2],[0,0,0,0],[0,3,0,0],[4,0,5,0]]
    vec![
        1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 4.0, 0.0, 5.0, 0.0,
    ]
}

#[test]
fn csc_json() {
    let a = Csc::<f32>::from_dense(&sample(), 4, 4, Select::NonZero).unwrap();
    let json = roundtrip(&a);
    roundtrip(&a.cast::<f64>());
    roundtrip(a.pattern());
    // row_idx = [0, 3, 2, 3, 0]; make an index out of range
    let e = tampered::<Csc<f32>>(&json, "\"row_idx\":[0,3,", "\"row_idx\":[0,9,");
    assert!(e.contains("column 0: row 9 \u{2265} nrows 4"), "{e}");
    let e = tampered::<CscPattern>(
        &serde_json::to_string(a.pattern()).unwrap(),
        "\"row_idx\":[0,3,",
        "\"row_idx\":[3,0,",
    );
    assert!(e.contains("not strictly increasing"), "{e}");
    let e = tampered::<Csc<f32>>(&json, "\"values\":[1.0,", "\"values\":[");
    assert!(e.contains("values has length 4, expected 5"), "{e}");
}

#[test]
fn csr_json_still_validates() {
    let a = Csr::<f64, u64>::from_dense(
        &sample().iter().map(|&v| v as f64).collect::<Vec<_>>(),
        4,
        4,
        Select::NonZero,
    )
    .unwrap();
    let json = roundtrip(&a);
    let e = tampered::<Csr<f64, u64>>(&json, "\"col_idx\":[0,3,", "\"col_idx\":[0,4,");
    assert!(e.contains("row 0: column 4 \u{2265} ncols 4"), "{e}");
}

#[test]
fn coo_json() {
    let a = Coo::<f32>::try_new(3, 2, vec![2, 0, 2], vec![1, 0, 1], vec![1.0, 2.0, 3.0]).unwrap();
    let json = roundtrip(&a);
    let e = tampered::<Coo<f32>>(&json, "\"rows\":[2,", "\"rows\":[3,");
    assert!(e.contains("entry 0: row 3 \u{2265} nrows 3"), "{e}");
    let e = tampered::<Coo<f32>>(&json, "\"cols\":[1,0,1]", "\"cols\":[1,0]");
    assert!(e.contains("cols has length 2, expected 3"), "{e}");
}

#[test]
fn bsr_json() {
    let a = Bsr::<f32>::from_dense(&sample(), 4, 4, (2, 2), 0.0).unwrap();
    let json = roundtrip(&a);
    let e = tampered::<Bsr<f32>>(&json, "\"block_shape\":[2,2]", "\"block_shape\":[3,2]");
    assert!(e.contains("does not divide"), "{e}");
    let e = tampered::<Bsr<f32>>(&json, "\"block_col_idx\":[0,1,", "\"block_col_idx\":[0,2,");
    assert!(
        e.contains("block row 0: column 2 \u{2265} block columns 2"),
        "{e}"
    );
    let e = tampered::<Bsr<f32>>(&json, "\"values\":[1.0,", "\"values\":[");
    assert!(e.contains("values has length"), "{e}");
}

#[test]
fn nm_json() {
    let a = NM::from_dense(&sample(), 4, 4, 2, 4).unwrap();
    let json = roundtrip(&a);
    // offsets of row 0 are [0, 3]
    let e = tampered::<NM<f32>>(&json, "\"offsets\":[0,3,", "\"offsets\":[3,0,");
    assert!(
        e.contains("row 0, group 0 (columns 0..4): offsets not strictly increasing (3 then 0)"),
        "{e}"
    );
    let e = tampered::<NM<f32>>(&json, "\"offsets\":[0,3,", "\"offsets\":[0,4,");
    assert!(e.contains("offset 4 \u{2265} M = 4"), "{e}");
    let e = tampered::<NM<f32>>(&json, "\"n\":2", "\"n\":4");
    assert!(e.contains("N:M = 4:4"), "{e}");
}

#[test]
fn mask_json() {
    let mut m = Mask::new(3, 70).unwrap();
    m.set(2, 69, true);
    m.set(0, 1, true);
    let json = roundtrip(&m);
    // row 2's last word holds bit 5 (column 69); set a bit beyond ncols
    let e = tampered::<Mask>(&json, "32]", "96]");
    assert!(e.contains("bits set beyond ncols 70"), "{e}");
    let e = tampered::<Mask>(&json, "\"nrows\":3", "\"nrows\":4");
    assert!(e.contains("words has length 6, expected 8"), "{e}");
}
