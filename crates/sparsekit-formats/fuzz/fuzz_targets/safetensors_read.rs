//! Arbitrary bytes as a `.safetensors` file: dense tensor info/values and the sparse matrices
//! stored in it must come back as `Ok` or `Err`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sparsekit_formats::io::safetensors;

fuzz_target!(|data: &[u8]| {
    if let Ok(infos) = safetensors::read_dense_info(data) {
        for info in infos.iter().take(8) {
            let _ = safetensors::read_dense_f32(data, &info.name);
        }
    }
    if let Ok(ms) = safetensors::read_sparse::<f32, u32>(data) {
        for (_, m) in &ms {
            if m.shape().0 + m.shape().1 <= 1 << 20 {
                let _ = m.to_csr();
            }
        }
    }
});
