//! Arbitrary bytes as a SciPy `.npz` archive: `info` and `read` must return `Ok` or `Err`.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use sparsekit_formats::io::npz;

fuzz_target!(|data: &[u8]| {
    let _ = npz::info(Cursor::new(data));
    if let Ok(m) = npz::read::<f32, u32>(Cursor::new(data)) {
        // Whatever was accepted is a valid matrix: these must not panic either.
        let _ = (m.shape(), m.nnz(), m.format_name());
        if m.shape().0 + m.shape().1 <= 1 << 20 {
            let _ = m.to_csr();
        }
    }
});
