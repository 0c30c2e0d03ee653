//! The dense half of every SAE: pre-activations `x·W_encᵀ + b_enc`, either for a chunk of tokens
//! (`pre_dense`) or fused with a per-token top-k (`pre_topk`), through the kernels crate's SAE
//! encoder (`sparsekit_kernels::sae`: AVX-512 f32, bf16 on AMX tiles, exact top-k in both). This
//! is the one place the trainer and inference reach it.

use sparsekit_kernels::sae::{
    encode_dense, encode_topk, EncoderPath, EncoderPrecision, PackedEncoder,
};
use sparsekit_kernels::{MatMut, MatRef};

use crate::config::{Architecture, Precision};
use crate::error::Result;

/// Rows of tokens whose dense pre-activations are held at once (memory: `CHUNK × d_sae` floats,
/// 25 MB at d_sae = 24576) — never the whole `[batch, d_sae]` matrix.
pub(crate) const CHUNK: usize = 256;

/// The kernel precision for `arch` under `p`. `Auto`: bf16 on AMX tiles for TopK and BatchTopK
/// (their top-k is exact either way: the kernel re-ranks its bf16 candidates in f32), f32
/// otherwise (dense thresholds would see the bf16 rounding).
pub(crate) fn resolve(p: Precision, arch: Architecture) -> EncoderPrecision {
    match p {
        Precision::F32 => EncoderPrecision::F32,
        Precision::Bf16 => EncoderPrecision::Bf16,
        Precision::Auto => {
            if arch.uses_k() && EncoderPath::best(EncoderPrecision::Bf16) == EncoderPath::AmxBf16 {
                EncoderPrecision::Bf16
            } else {
                EncoderPrecision::F32
            }
        }
    }
}

/// Packs `w` (`[d_sae, d_in]`).
pub(crate) fn pack(
    w: &[f32],
    d_in: usize,
    d_sae: usize,
    precision: EncoderPrecision,
) -> Result<PackedEncoder> {
    Ok(PackedEncoder::new(MatRef::new(w, d_sae, d_in)?, precision)?)
}

/// A packed encoder with its bias.
pub(crate) struct Encoder<'a> {
    pub packed: &'a PackedEncoder,
    pub b: &'a [f32],
}

impl Encoder<'_> {
    pub fn d_in(&self) -> usize {
        self.packed.d_in()
    }

    pub fn d_sae(&self) -> usize {
        self.packed.d_sae()
    }

    /// `out[i, j] = x_i·w_j + b_j` for the `n` rows of `x` (`out`: `n × d_sae`). Bf16 encoders
    /// return bf16-product values (see the kernels crate's bound).
    pub fn pre_dense(&self, x: &[f32], out: &mut [f32]) -> Result<()> {
        let (d, m) = (self.d_in(), self.d_sae());
        let n = x.len() / d.max(1);
        encode_dense(
            MatRef::new(x, n, d)?,
            self.packed,
            self.b,
            MatMut::new(out, n, m)?,
        )?;
        Ok(())
    }

    /// Per row of `x`, the `k` largest pre-activations, exactly (values descending, ties to the
    /// lower latent): `values`, `indices` are `n × k`.
    pub fn pre_topk(
        &self,
        x: &[f32],
        k: usize,
        values: &mut [f32],
        indices: &mut [u32],
    ) -> Result<()> {
        let d = self.d_in();
        let n = x.len() / d.max(1);
        encode_topk(
            MatRef::new(x, n, d)?,
            self.packed,
            self.b,
            k,
            values,
            indices,
        )?;
        Ok(())
    }
}
