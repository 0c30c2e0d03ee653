//! Arbitrary bytes into the `.npy` reader: it must return `Ok` or `Err`, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sparsekit_formats::io::npy;

fuzz_target!(|data: &[u8]| {
    // Raw array (any dtype), then every typed view of it the npz reader uses.
    if let Ok(arr) = npy::read_array_from_bytes(data) {
        let _ = arr.to_usize_vec("shape");
        let _ = arr.to_index_vec::<u32>("indices");
        let _ = arr.to_index_vec::<u64>("indices");
        let _ = arr.to_scalar_vec::<f32>("data");
        let _ = arr.to_scalar_vec::<f64>("data");
        let _ = arr.to_string_scalar("format");
    }
    // Dense 2-D helpers, with the length known and unknown (streaming).
    let _ = npy::read_npy_dense_from_bytes::<f32>(data);
    let _ = npy::read_npy_dense_from::<f64, _>(data, None);
});
