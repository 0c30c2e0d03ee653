//! The dense half of every SAE: pre-activations `x·W_encᵀ + b_enc`, either for a chunk of tokens
//! (`pre_dense`) or fused with a per-token top-k (`pre_topk`). This is the one place the trainer
//! and inference reach the kernels crate's SAE encoder.

use rayon::prelude::*;

use crate::code::dot;

/// Rows of tokens whose dense pre-activations are held at once (memory: `CHUNK × d_sae` floats,
/// 25 MB at d_sae = 24576) — never the whole `[batch, d_sae]` matrix.
pub(crate) const CHUNK: usize = 256;

/// The encoder weights as the kernels use them.
pub(crate) struct Encoder<'a> {
    pub w: &'a [f32],
    pub b: &'a [f32],
    pub d_in: usize,
    pub d_sae: usize,
}

impl Encoder<'_> {
    /// `out[i, j] = x_i·w_j + b_j` for the `n` rows of `x` (`out`: `n × d_sae`).
    pub fn pre_dense(&self, x: &[f32], out: &mut [f32]) {
        let (d, m) = (self.d_in, self.d_sae);
        out.par_chunks_mut(m)
            .zip(x.par_chunks(d))
            .for_each(|(o, xi)| {
                for (j, oj) in o.iter_mut().enumerate() {
                    *oj = dot(xi, &self.w[j * d..(j + 1) * d]) + self.b[j];
                }
            });
    }

    /// Per row of `x`, the `k` largest pre-activations (values descending, ties to the lower
    /// latent): `values`, `indices` are `n × k`.
    pub fn pre_topk(&self, x: &[f32], k: usize, values: &mut [f32], indices: &mut [u32]) {
        let (d, m) = (self.d_in, self.d_sae);
        let n = x.len() / d.max(1);
        let mut buf = vec![0.0f32; CHUNK.min(n.max(1)) * m];
        for c0 in (0..n).step_by(CHUNK) {
            let rows = CHUNK.min(n - c0);
            let b = &mut buf[..rows * m];
            self.pre_dense(&x[c0 * d..(c0 + rows) * d], b);
            let view = sparsekit_kernels::MatRef::new(b, rows, m).expect("chunk shape");
            sparsekit_kernels::topk_rows(
                view,
                k,
                &mut values[c0 * k..(c0 + rows) * k],
                &mut indices[c0 * k..(c0 + rows) * k],
            )
            .expect("top-k shape");
        }
    }
}
