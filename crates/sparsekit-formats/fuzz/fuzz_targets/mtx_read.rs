//! Arbitrary bytes as a Matrix Market file: `info` and `read` must return `Ok` or `Err`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sparsekit_formats::io::mtx;

fuzz_target!(|data: &[u8]| {
    let _ = mtx::info(data);
    if let Ok(coo) = mtx::read::<f32, u32>(data) {
        let _ = coo.to_csr();
    }
    let _ = mtx::read::<f64, u64>(data);
});
