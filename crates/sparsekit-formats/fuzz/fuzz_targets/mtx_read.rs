//! Arbitrary bytes as a Matrix Market file: `info` and `read` must return `Ok` or `Err`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sparsekit_formats::io::mtx;

fuzz_target!(|data: &[u8]| {
    let _ = mtx::info(data);
    if let Ok(coo) = mtx::read::<f32, u32>(data) {
        // to_csr allocates the row pointers (nrows + 1) by definition of CSR, so convert only
        // moderate row counts; the column count no longer matters (artifacts/mtx_read/oom-337f…
        // was a 0 × 4e8 matrix whose conversion used to allocate per column).
        if coo.nrows() <= 1 << 20 {
            let _ = coo.to_csr();
        }
    }
    let _ = mtx::read::<f64, u64>(data);
});
