//! Arbitrary bytes as a Matrix Market file: `info` and `read` must return `Ok` or `Err`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sparsekit_formats::io::mtx;

fuzz_target!(|data: &[u8]| {
    let _ = mtx::info(data);
    if let Ok(coo) = mtx::read::<f32, u32>(data) {
        // to_csr is O(nnz + nrows + ncols) by design: a 40-byte file may declare a valid empty
        // 0 × 4e8 matrix (artifacts/mtx_read/oom-337f…), so convert only moderate shapes.
        if coo.nrows() + coo.ncols() <= 1 << 20 {
            let _ = coo.to_csr();
        }
    }
    let _ = mtx::read::<f64, u64>(data);
});
