//! Sparse-autoencoder (SAE) encoder: `pre[i, j] = x_i · w_j + b_j` for a dense latent-major
//! weight `W` (`[d_sae, d_in]`, row-major), as a dense product ([`encode_dense`]) or fused with a
//! per-row top-k ([`encode_topk`]) that never materialises the `n × d_sae` pre-activations.
//!
//! # Layout and loop order
//!
//! [`PackedEncoder`] holds `W` in panels of [`NR`] = 32 latents: panel `q` is `d_in × 32`
//! (k-major), so one microkernel step loads two 16-lane vectors of `W` and broadcasts one value
//! of `x` per row. Rows of `x` are packed per task into panels of [`MR`] = 8 rows. Each rayon
//! task owns a block of [`MB`] rows (AMX: 512) and walks the latents in blocks of [`NB`]; the
//! block's `MB × NB` tile (512 KiB) lives in L2, the `KC × 32` weight micro-panel in L1
//! (`KC ≤ 256`). The `8 × 32` microkernel keeps 16 zmm accumulators (16 FMAs per 2 loads + 8
//! broadcasts). The AVX2 kernel (`"avx2-f32"`) reads the same panels as two halves of 16
//! latents and packs `x` in panels of 6 rows: a `6 × 16` tile keeps 12 ymm accumulators (12 FMAs
//! per 2 loads + 6 broadcasts, 15 of the 16 ymm registers). The AMX kernel computes `32 × 32` blocks as 2 × 2 tiles of `16 × 16` f32
//! (`tdpbf16ps` over 16 bf16 pairs per step), the whole depth in the tile registers. The
//! epilogue (bias, and for top-k a 16-lane compare against the row's current threshold) reads
//! each tile once; only candidates that beat the threshold reach the scalar merge.
//!
//! # Why hand-written and not the `gemm` crate
//!
//! `gemm` 0.19 (in the lock file through burn-flex) reaches ~112 GFLOP/s on a similar f32
//! shape on this 2-core Xeon. It is not used here because (1) it re-packs `W` on every call,
//! while the encoder packs `W` once per optimizer step ([`PackedEncoder::repack`]) and reuses it
//! for the whole batch; (2) the fused top-k needs the product in small tiles merged on the fly,
//! and calling `gemm` per `MB × NB` tile would re-pack each `W` block `n / MB` times; (3) the
//! bf16 path (`vdpbf16ps`) and AMX share this panel layout and `gemm` has no bf16 kernel. The
//! hand-written f32 kernel's numbers are in `docs/kernels.md` ("SAE encoder"), measured by
//! `examples/sae_encode.rs`.
//!
//! # Numerics
//!
//! - **F32** (`"avx512-f32"`, `"avx2-f32"` and their scalar twin `"scalar"`): every `pre[i, j]`
//!   is one sequential chain of fused multiply-adds over `p = 0..d_in` starting from `0`, then
//!   `+ b_j`. The AVX-512 and AVX2 kernels and the scalar twin (`f32::mul_add`) are therefore
//!   **bit-identical**, and so are all thread counts.
//! - **Bf16** (`"avx512-bf16"`, `"amx-bf16"`, scalar twin `"scalar-bf16"`): `x` and `W` are
//!   rounded to bf16 (round to nearest even, 8 significant bits, unit roundoff `u = 2⁻⁸`) and the
//!   products are accumulated in f32 (`vdpbf16ps`: per pair, odd element first, denormals
//!   flushed). Bound against the exact product:
//!   `|pre_bf16 − x·w| ≤ (2⁻⁷ + 2⁻¹⁶ + d_in·2⁻²⁴)·Σ_p |x_p||w_p| + 2⁻²⁴|pre|` (plus
//!   `d_in·2⁻¹²⁶·(‖x‖+‖w‖)` from flushed denormals). [`encode_dense`] with Bf16 returns these
//!   approximate values.
//! - [`encode_topk`] with **Bf16 is exact**: it keeps the top `k' = min(d_sae, 2k + 16)`
//!   candidates per row by the bf16 product, then recomputes in f32 — from the row-major f32 copy
//!   of `W` that a Bf16 [`PackedEncoder`] keeps, with the F32 path's fma chain, so the values are
//!   bit-identical to it — those candidates whose bf16 value is within `2E` (+ rounding slack) of
//!   the `k`-th bf16 value, `E` a per-row bound on `|bf16 − f32|` (Cauchy–Schwarz on the bf16
//!   residuals of `x` and `W`: `‖x̃‖·max_j‖w_j − w̃_j‖ + ‖x − x̃‖·max_j‖w_j‖` + summation terms;
//!   see `rerank_exact`). If a candidate falls outside that window, no latent outside the
//!   recomputed set can enter the exact top-k (certificate); else all `k'` are recomputed and the
//!   exact `k`-th value must beat the `k'`-th bf16 value by `E`; otherwise (or with NaN / Inf) the
//!   row is recomputed in full in f32 ([`bf16_fallback_rows`] counts such rows). So Bf16
//!   `encode_topk` returns exactly what F32 `encode_topk` returns. On random data no row falls
//!   back; near-duplicate latents (differing by < ~2⁻⁸ relative) make rows fall back and cost
//!   ~`d_sae·d_in` gathered f32 FMAs each.
//! - Top-k order is [`crate::topk_rows`]'s: values descending by the sparsity vocabulary's
//!   `rank_key` / `total_cmp` (NaN largest, `-0.0 == +0.0`), ties to the lower index.

mod kernels;

use rayon::prelude::*;
use sparsekit_formats::sparsity::rank_key;

use crate::dense::{MatMut, MatRef};
use crate::error::KernelError;

/// Latents per weight panel (two 16-lane vectors; four 8-lane vectors for AVX2).
pub const NR: usize = 32;
/// Rows per packed `x` panel (AVX-512 microkernel height; the AVX2 kernel uses 6).
pub const MR: usize = 8;
/// Rows per rayon task.
pub const MB: usize = 256;
/// Latents per tile (the `MB × NB` f32 tile is 512 KiB, in L2).
pub const NB: usize = 512;

/// Arithmetic of the encoder's dense product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncoderPrecision {
    /// f32 inputs and weights, f32 fused multiply-adds.
    F32,
    /// bf16-rounded inputs and weights, f32 accumulation (see the module doc for the bound).
    Bf16,
}

/// Which kernel a [`PackedEncoder`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncoderPath {
    /// Portable scalar twin of the F32 path (bit-identical to `Avx512F32`).
    Scalar,
    /// Portable scalar twin of the bf16 path (`vdpbf16ps` semantics, without denormal flushing).
    ScalarBf16,
    /// AVX2 + FMA f32 microkernel (`6 × 16` register tile over the same 32-latent panels;
    /// bit-identical to `Scalar` and `Avx512F32`).
    Avx2F32,
    /// AVX-512F f32 microkernel.
    Avx512F32,
    /// AVX-512 BF16 (`vdpbf16ps`) microkernel.
    Avx512Bf16,
    /// AMX tiles (`tdpbf16ps`, 2 × 2 tiles of 16 × 16), AVX-512 for the rest.
    AmxBf16,
}

impl EncoderPath {
    /// `"scalar"`, `"scalar-bf16"`, `"avx2-f32"`, `"avx512-f32"`, `"avx512-bf16"`,
    /// `"amx-bf16"`.
    pub fn name(self) -> &'static str {
        match self {
            EncoderPath::Scalar => "scalar",
            EncoderPath::Avx2F32 => "avx2-f32",
            EncoderPath::ScalarBf16 => "scalar-bf16",
            EncoderPath::Avx512F32 => "avx512-f32",
            EncoderPath::Avx512Bf16 => "avx512-bf16",
            EncoderPath::AmxBf16 => "amx-bf16",
        }
    }
    /// The precision this path computes in.
    pub fn precision(self) -> EncoderPrecision {
        match self {
            EncoderPath::Scalar | EncoderPath::Avx2F32 | EncoderPath::Avx512F32 => {
                EncoderPrecision::F32
            }
            EncoderPath::ScalarBf16 | EncoderPath::Avx512Bf16 | EncoderPath::AmxBf16 => {
                EncoderPrecision::Bf16
            }
        }
    }
    /// Whether this CPU can run the path (scalar paths always can).
    pub fn is_available(self) -> bool {
        match self {
            EncoderPath::Scalar | EncoderPath::ScalarBf16 => true,
            EncoderPath::Avx2F32 => kernels::has_avx2_fma(),
            EncoderPath::Avx512F32 => kernels::has_avx512f(),
            EncoderPath::Avx512Bf16 => kernels::has_avx512bf16(),
            EncoderPath::AmxBf16 => kernels::has_amx_bf16(),
        }
    }
    /// Every available path of `precision`, scalar twin first.
    pub fn available(precision: EncoderPrecision) -> Vec<EncoderPath> {
        let all: &[EncoderPath] = match precision {
            EncoderPrecision::F32 => &[
                EncoderPath::Scalar,
                EncoderPath::Avx2F32,
                EncoderPath::Avx512F32,
            ],
            EncoderPrecision::Bf16 => &[
                EncoderPath::ScalarBf16,
                EncoderPath::Avx512Bf16,
                EncoderPath::AmxBf16,
            ],
        };
        all.iter().copied().filter(|p| p.is_available()).collect()
    }
    /// The fastest available path of `precision`, following [`crate::Isa::detect`] (so
    /// `SPARSEKIT_ISA` applies). F32: `Avx512F32` when detect() is `Avx512`, else `Avx2F32`
    /// when it is `Avx2` (CPUs without AVX-512, AMD CPUs, where detect() prefers 256-bit code,
    /// and `SPARSEKIT_ISA=avx2`), else `Scalar`. Bf16: AMX, else AVX-512 BF16, both only when
    /// detect() is `Avx512` (else the scalar twin `ScalarBf16`). AMX needs the CPU flags
    /// (CPUID) and the kernel's permission (`arch_prctl(ARCH_REQ_XCOMP_PERM)`); a refusal falls
    /// back to AVX-512 BF16.
    pub fn best(precision: EncoderPrecision) -> EncoderPath {
        let isa = crate::Isa::detect();
        let simd = isa == crate::Isa::Avx512;
        let avx2 = matches!(isa, crate::Isa::Avx2 | crate::Isa::Avx512);
        match precision {
            EncoderPrecision::F32 if simd && EncoderPath::Avx512F32.is_available() => {
                EncoderPath::Avx512F32
            }
            EncoderPrecision::F32 if avx2 && EncoderPath::Avx2F32.is_available() => {
                EncoderPath::Avx2F32
            }
            EncoderPrecision::F32 => EncoderPath::Scalar,
            EncoderPrecision::Bf16 if simd && EncoderPath::AmxBf16.is_available() => {
                EncoderPath::AmxBf16
            }
            EncoderPrecision::Bf16 if simd && EncoderPath::Avx512Bf16.is_available() => {
                EncoderPath::Avx512Bf16
            }
            EncoderPrecision::Bf16 => EncoderPath::ScalarBf16,
        }
    }
}

/// A prepared copy of the encoder weight `W` (`[d_sae, d_in]`) for [`encode_dense`] and
/// [`encode_topk`].
///
/// F32: the weights in panels of [`NR`] latents (`d_in × 32`, k-major). Bf16: the bf16-rounded
/// weights as pairs (`(w[j,2p], w[j,2p+1])` in one u32, low half first), in panels of 32 latents
/// × `d_in/2` pairs (`d_in` padded to a multiple of 32 with zeros) — the `vdpbf16ps` operand
/// layout, which is also AMX's VNNI `B`-tile layout (two 16-column tiles at byte offsets 0 and
/// 64, row stride 128) — plus a plain row-major f32 copy of `W` for the exact re-ranking of
/// [`encode_topk`] (so a Bf16 encoder holds 6 bytes per weight).
#[derive(Clone, Debug)]
pub struct PackedEncoder {
    precision: EncoderPrecision,
    path: EncoderPath,
    d_in: usize,
    d_sae: usize,
    /// F32: panels `[d_sae/32][d_in][32]`. Bf16: row-major `[d_sae][d_in]` copy.
    wf: Vec<f32>,
    /// Bf16 only: pair panels `[d_sae/32][dp][32]`.
    wb: Vec<u32>,
    /// `max_j ‖w_j‖₂`; Bf16 only.
    w_norm_max: f64,
    /// `max_j ‖w_j − bf16(w_j)‖₂`; Bf16 only.
    wr_norm_max: f64,
}

/// Rows per task: [`MB`] (AMX: `2·MB`, fewer passes over the streamed weights, which bound it),
/// or `SPARSEKIT_SAE_MB` (a multiple of 32, for tuning probes). Results do not depend on it.
fn row_block(enc: &PackedEncoder) -> usize {
    static MBV: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    let env = *MBV.get_or_init(|| {
        std::env::var("SPARSEKIT_SAE_MB")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&v| v > 0 && v % 32 == 0)
    });
    env.unwrap_or(if enc.path == EncoderPath::AmxBf16 {
        2 * MB
    } else {
        MB
    })
}

/// Number of 32-latent panels.
fn panels(d_sae: usize) -> usize {
    d_sae.div_ceil(NR)
}

/// `d_in` padded for bf16 pairs (multiple of 32 elements = 16 pairs, one AMX tile row).
fn d_in_pairs(d_in: usize) -> usize {
    d_in.div_ceil(32) * 16
}

/// f32 → bf16 bits, round to nearest even; NaN stays NaN (quieted).
#[inline(always)]
pub(crate) fn bf16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        ((b >> 16) | 0x40) as u16
    } else {
        (b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16) as u16
    }
}

/// `x` rounded to bf16, as f32.
#[inline(always)]
#[cfg(test)]
pub(crate) fn bf16_round(x: f32) -> f32 {
    f32::from_bits((bf16_bits(x) as u32) << 16)
}

impl PackedEncoder {
    /// Packs `w` (`[d_sae, d_in]`) for the fastest available path of `precision`
    /// ([`EncoderPath::best`]).
    pub fn new(w: MatRef<'_, f32>, precision: EncoderPrecision) -> Result<Self, KernelError> {
        Self::with_path(w, EncoderPath::best(precision))
    }

    /// Packs `w` for an explicit `path` (tests and benches). `Unsupported` when this CPU cannot
    /// run it.
    pub fn with_path(w: MatRef<'_, f32>, path: EncoderPath) -> Result<Self, KernelError> {
        if !path.is_available() {
            return Err(KernelError::Unsupported {
                op: "PackedEncoder",
                detail: format!("path {} is not available on this CPU", path.name()),
            });
        }
        if w.nrows() > u32::MAX as usize {
            return Err(KernelError::Unsupported {
                op: "PackedEncoder",
                detail: format!("d_sae = {} does not fit u32 indices", w.nrows()),
            });
        }
        let mut e = PackedEncoder {
            precision: path.precision(),
            path,
            d_in: w.ncols(),
            d_sae: w.nrows(),
            wf: Vec::new(),
            wb: Vec::new(),
            w_norm_max: 0.0,
            wr_norm_max: 0.0,
        };
        let np = panels(e.d_sae);
        e.wf = match e.precision {
            EncoderPrecision::F32 => vec![0.0; np * NR * e.d_in],
            EncoderPrecision::Bf16 => vec![0.0; e.d_sae * e.d_in],
        };
        if e.precision == EncoderPrecision::Bf16 {
            e.wb = vec![0; np * NR * d_in_pairs(e.d_in)];
        }
        e.repack(w)?;
        Ok(e)
    }

    /// Re-packs new weights of the same shape (after an optimizer step). One pass over `w`,
    /// parallel over panels; no allocation.
    pub fn repack(&mut self, w: MatRef<'_, f32>) -> Result<(), KernelError> {
        if w.nrows() != self.d_sae || w.ncols() != self.d_in {
            return Err(KernelError::shape(
                "PackedEncoder::repack",
                format!(
                    "packed for W {}×{} but got {}×{}",
                    self.d_sae,
                    self.d_in,
                    w.nrows(),
                    w.ncols()
                ),
            ));
        }
        let (d_in, d_sae) = (self.d_in, self.d_sae);
        if d_in == 0 || d_sae == 0 {
            self.w_norm_max = 0.0;
            self.wr_norm_max = 0.0;
            return Ok(());
        }
        let pf = NR * d_in;
        let norm = if self.precision == EncoderPrecision::F32 {
            self.wf.par_chunks_mut(pf).enumerate().for_each(|(q, fp)| {
                for l in 0..NR {
                    let j = q * NR + l;
                    if j >= d_sae {
                        for p in 0..d_in {
                            fp[p * NR + l] = 0.0;
                        }
                    } else {
                        for (p, &v) in w.row(j).iter().enumerate() {
                            fp[p * NR + l] = v;
                        }
                    }
                }
            });
            (0.0, 0.0)
        } else {
            let dp = d_in_pairs(d_in);
            self.wf
                .par_chunks_mut(pf)
                .zip(self.wb.par_chunks_mut(NR * dp))
                .enumerate()
                .map(|(q, (fr, bp))| {
                    let (mut nmax, mut rmax) = (0.0f64, 0.0f64);
                    for l in 0..NR {
                        let j = q * NR + l;
                        if j >= d_sae {
                            for pp in 0..dp {
                                bp[pp * NR + l] = 0;
                            }
                            continue;
                        }
                        let row = w.row(j);
                        fr[l * d_in..(l + 1) * d_in].copy_from_slice(row);
                        // Norms: f32 partial sums over 16 lanes would round; f64 per element is
                        // exact enough (the certificate adds a 1 % margin).
                        let (mut s, mut sr) = (0.0f64, 0.0f64);
                        let mut put = |pp: usize, a: f32, b: f32| {
                            let (ba, bb) = (bf16_bits(a), bf16_bits(b));
                            bp[pp * NR + l] = ba as u32 | (bb as u32) << 16;
                            let ra = a as f64 - f32::from_bits((ba as u32) << 16) as f64;
                            let rb = b as f64 - f32::from_bits((bb as u32) << 16) as f64;
                            s += (a as f64) * (a as f64) + (b as f64) * (b as f64);
                            sr += ra * ra + rb * rb;
                        };
                        let half = d_in / 2;
                        for (pp, ab) in row.chunks_exact(2).enumerate() {
                            put(pp, ab[0], ab[1]);
                        }
                        if d_in % 2 == 1 {
                            put(half, row[d_in - 1], 0.0);
                        }
                        for pp in d_in.div_ceil(2)..dp {
                            bp[pp * NR + l] = 0;
                        }
                        nmax = nmax.max(s);
                        rmax = rmax.max(sr);
                    }
                    (nmax, rmax)
                })
                .reduce(|| (0.0, 0.0), |a, b| (a.0.max(b.0), a.1.max(b.1)))
        };
        self.w_norm_max = norm.0.sqrt();
        self.wr_norm_max = norm.1.sqrt();
        Ok(())
    }

    /// The precision of the product.
    pub fn precision(&self) -> EncoderPrecision {
        self.precision
    }
    /// The kernel this encoder runs.
    pub fn path(&self) -> EncoderPath {
        self.path
    }
    /// The kernel's name ([`EncoderPath::name`]).
    pub fn path_name(&self) -> &'static str {
        self.path.name()
    }
    /// Input width.
    pub fn d_in(&self) -> usize {
        self.d_in
    }
    /// Number of latents.
    pub fn d_sae(&self) -> usize {
        self.d_sae
    }
    /// `W[j, p]` in f32 (from the packed or row-major copy).
    #[inline(always)]
    fn wf_at(&self, j: usize, p: usize) -> f32 {
        match self.precision {
            EncoderPrecision::F32 => self.wf[(j / NR) * NR * self.d_in + p * NR + j % NR],
            EncoderPrecision::Bf16 => self.wf[j * self.d_in + p],
        }
    }
}

fn check_common(
    op: &'static str,
    x: &MatRef<'_, f32>,
    enc: &PackedEncoder,
    bias: &[f32],
) -> Result<(), KernelError> {
    if x.ncols() != enc.d_in {
        return Err(KernelError::shape(
            op,
            format!(
                "X is {}×{} but W is {}×{}",
                x.nrows(),
                x.ncols(),
                enc.d_sae,
                enc.d_in
            ),
        ));
    }
    if bias.len() != enc.d_sae {
        return Err(KernelError::shape(
            op,
            format!(
                "W is {}×{} but bias has {} elements",
                enc.d_sae,
                enc.d_in,
                bias.len()
            ),
        ));
    }
    Ok(())
}

/// `out[i, j] = x_i · w_j + b_j` (`out` is `n × d_sae`; pass chunks of rows for big batches).
/// With Bf16, `x` and `W` are rounded to bf16 and accumulated in f32 (bound in the module doc).
pub fn encode_dense(
    x: MatRef<'_, f32>,
    enc: &PackedEncoder,
    bias: &[f32],
    mut out: MatMut<'_, f32>,
) -> Result<(), KernelError> {
    const OP: &str = "encode_dense";
    check_common(OP, &x, enc, bias)?;
    if out.nrows() != x.nrows() || out.ncols() != enc.d_sae {
        return Err(KernelError::shape(
            OP,
            format!(
                "X has {} rows and W {} latents but out is {}×{}",
                x.nrows(),
                enc.d_sae,
                out.nrows(),
                out.ncols()
            ),
        ));
    }
    let n = x.nrows();
    if n == 0 || enc.d_sae == 0 {
        return Ok(());
    }
    let stride = out.row_stride();
    let d_sae = enc.d_sae;
    let mb = row_block(enc);
    let data = out.data_mut();
    let blocks: Vec<(usize, &mut [f32])> = data
        .chunks_mut(mb * stride)
        .take(n.div_ceil(mb))
        .enumerate()
        .collect();
    let work = |(b, chunk): (usize, &mut [f32])| {
        let r0 = b * mb;
        let rows = mb.min(n - r0);
        let mut t = kernels::Task::new(enc, &x, r0, rows);
        let epi = kernels::epilogue(enc);
        t.for_each_tile(enc, |i, j0, vals| {
            let o = &mut chunk[i * stride + j0..i * stride + j0 + vals.len()];
            kernels::add_bias(epi, o, vals, &bias[j0..]);
        });
        let _ = d_sae;
    };
    if n > mb && rayon::current_num_threads() > 1 {
        blocks.into_par_iter().with_max_len(1).for_each(work);
    } else {
        blocks.into_iter().for_each(work);
    }
    Ok(())
}

/// Fused `encode_dense` + per-row top-k: per row of `x`, the `k` largest pre-activations
/// `x_i · w_j + b_j` in [`crate::topk_rows`] order (descending, NaN largest, ties to the lower
/// index), `values` / `indices` `n × k` row-major (overwritten). Never allocates `n × d_sae`.
///
/// With Bf16 the result is still exact: identical to the F32 path (module doc: candidates on the
/// bf16 product, exact f32 re-ranking from the f32 weights [`PackedEncoder`] keeps, a certificate
/// per row, full f32 recomputation of a row whose certificate fails).
pub fn encode_topk(
    x: MatRef<'_, f32>,
    enc: &PackedEncoder,
    bias: &[f32],
    k: usize,
    values: &mut [f32],
    indices: &mut [u32],
) -> Result<(), KernelError> {
    const OP: &str = "encode_topk";
    check_common(OP, &x, enc, bias)?;
    if k > enc.d_sae {
        return Err(KernelError::InvalidK {
            op: OP,
            k,
            ncols: enc.d_sae,
        });
    }
    let n = x.nrows();
    let need = n * k;
    if values.len() != need || indices.len() != need {
        return Err(KernelError::shape(
            OP,
            format!(
                "X has {n} rows and k = {k} but values / indices have {} / {} elements (need {need})",
                values.len(),
                indices.len()
            ),
        ));
    }
    if n == 0 || k == 0 {
        return Ok(());
    }
    let d_sae = enc.d_sae;
    let bf16 = enc.precision == EncoderPrecision::Bf16;
    // Candidates kept per row on the (possibly approximate) product.
    let kc = if bf16 { d_sae.min(2 * k + 16) } else { k };
    let mb = row_block(enc);
    type Block<'b> = (usize, (&'b mut [f32], &'b mut [u32]));
    let blocks: Vec<Block<'_>> = values
        .chunks_mut(mb * k)
        .zip(indices.chunks_mut(mb * k))
        .enumerate()
        .collect();
    let work = |(b, (vo, io)): (usize, (&mut [f32], &mut [u32]))| {
        let r0 = b * mb;
        let rows = mb.min(n - r0);
        let mut bufs: Vec<TopBuf> = (0..rows).map(|_| TopBuf::new(kc)).collect();
        let mut t = kernels::Task::new(enc, &x, r0, rows);
        let epi = kernels::epilogue(enc);
        t.for_each_tile(enc, |i, j0, vals| {
            let bias = &bias[j0..j0 + vals.len()];
            if epi == kernels::Epilogue::Scalar {
                bufs[i].push_block(j0, vals, Some(bias));
            } else {
                bufs[i].push_block_simd(epi, j0, vals, bias);
            }
        });
        let mut fails = Vec::new();
        for (i, buf) in bufs.iter_mut().enumerate() {
            buf.finish();
            let (v, ix) = (&mut vo[i * k..(i + 1) * k], &mut io[i * k..(i + 1) * k]);
            if bf16 {
                if !rerank_exact(enc, x.row(r0 + i), bias, buf, k, v, ix) {
                    fails.push(i);
                }
            } else {
                v.copy_from_slice(&buf.vals[..k]);
                ix.copy_from_slice(&buf.idx[..k]);
            }
        }
        if !fails.is_empty() {
            FALLBACKS.fetch_add(fails.len() as u64, std::sync::atomic::Ordering::Relaxed);
            fallback_rows(enc, &x, r0, &fails, bias, k, vo, io);
        }
    };
    if n > mb && rayon::current_num_threads() > 1 {
        blocks.into_par_iter().with_max_len(1).for_each(work);
    } else {
        blocks.into_iter().for_each(work);
    }
    Ok(())
}

/// A row's running top-`cap`: an unsorted buffer of up to `2·cap` candidates; when it fills,
/// a selection (`select_nth_unstable`) keeps the best `cap` and their worst becomes the entry
/// threshold (amortised O(1) per accepted element). [`TopBuf::finish`] sorts best first into
/// `keys` (`rank_key`s), `vals` (raw values), `idx`.
struct TopBuf {
    cap: usize,
    ent: Vec<(f32, u32, f32)>,
    /// `(key, index)` an element must beat (strictly, by [`better`]) to enter; `None` until the
    /// first compaction.
    thr: Option<(f32, u32)>,
    keys: Vec<f32>,
    vals: Vec<f32>,
    idx: Vec<u32>,
}

/// `(ka, ia)` ranks before `(kb, ib)`: larger key, then lower index.
#[inline(always)]
fn better(ka: f32, ia: u32, kb: f32, ib: u32) -> bool {
    match ka.total_cmp(&kb) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => ia < ib,
    }
}

/// Best-first order on `(key, index, value)` entries.
fn rank_order(a: &(f32, u32, f32), b: &(f32, u32, f32)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

impl TopBuf {
    fn new(cap: usize) -> Self {
        TopBuf {
            cap,
            ent: Vec::with_capacity(2 * cap),
            thr: None,
            keys: Vec::new(),
            vals: Vec::new(),
            idx: Vec::new(),
        }
    }

    /// The key below-or-equal to which a value can be skipped without a call to `insert`
    /// (NaN while there is no threshold: `!(v <= NaN)` lets everything through).
    #[inline(always)]
    fn skip_key(&self) -> f32 {
        self.thr.map_or(f32::NAN, |t| t.0)
    }

    #[inline]
    fn insert(&mut self, v: f32, j: u32) {
        if self.cap == 0 {
            return;
        }
        let kv = rank_key(v);
        if let Some((tk, ti)) = self.thr {
            if !better(kv, j, tk, ti) {
                return;
            }
        }
        self.ent.push((kv, j, v));
        if self.ent.len() == 2 * self.cap {
            self.ent.select_nth_unstable_by(self.cap - 1, rank_order);
            self.ent.truncate(self.cap);
            let w = self.ent[self.cap - 1];
            // `select_nth` puts the cap-th best at cap - 1 and only better ones before it.
            self.thr = Some((w.0, w.1));
        }
    }

    /// Merges `pre[j0 + c] = acc[c] + bias[c]` (`acc[c]` itself without a bias). Columns arrive
    /// in increasing index order, so a value whose key is `≤` the threshold key never enters.
    #[inline]
    fn push_block(&mut self, j0: usize, acc: &[f32], bias: Option<&[f32]>) {
        for (c, &a) in acc.iter().enumerate() {
            let v = match bias {
                Some(b) => a + b[c],
                None => a,
            };
            // `v <= key` is false for NaN (and for a NaN key), which take the exact test.
            if v <= self.skip_key() {
                continue;
            }
            self.insert(v, (j0 + c) as u32);
        }
    }

    /// [`TopBuf::push_block`] with the bias by 16-lane (AVX-512) or 8-lane (AVX2) compares
    /// against the threshold key (same decisions, same values); `epi` from
    /// [`kernels::epilogue`] of the encoder.
    fn push_block_simd(&mut self, epi: kernels::Epilogue, j0: usize, acc: &[f32], bias: &[f32]) {
        let thr = self.skip_key();
        kernels::scan_above(epi, acc, bias, thr, |c, v| {
            self.insert(v, (j0 + c) as u32);
            self.skip_key()
        });
    }

    /// Sorts the best `min(cap, seen)` entries best first into `keys`, `vals`, `idx`.
    fn finish(&mut self) {
        self.ent.sort_unstable_by(rank_order);
        self.ent.truncate(self.cap);
        self.keys = self.ent.iter().map(|e| e.0).collect();
        self.idx = self.ent.iter().map(|e| e.1).collect();
        self.vals = self.ent.iter().map(|e| e.2).collect();
    }
}

/// Exact f32 pre-activation of one row at latent `j` (the F32 path's fma chain, then `+ b_j`).
fn exact_one(enc: &PackedEncoder, xr: &[f32], bias: &[f32], j: usize) -> f32 {
    let mut acc = 0.0f32;
    for (p, &xv) in xr.iter().enumerate() {
        acc = kernels::fma_f32(xv, enc.wf_at(j, p), acc);
    }
    acc + bias[j]
}

/// Bf16 top-k for one row: exact values of the candidates and the certificate. Returns `false`
/// (outputs untouched) when the certificate fails; the caller then recomputes the row in f32.
///
/// `buf` holds the best `k'` latents by the bf16 product, sorted. Bound `E` on
/// `|pre_bf16 − pre_f32|` before the bias: with `x = x̃ + x_r`, `w = w̃ + w_r` (bf16 parts and
/// exact residuals), `x·w = x̃·w̃ + x̃·w_r + x_r·w`, so by Cauchy–Schwarz
/// `|x·w − x̃·w̃| ≤ ‖x̃‖·max‖w_r‖ + ‖x_r‖·max‖w‖`; both f32 sums add at most
/// `γ_d·Σ|·||·| ≤ d·2⁻²³·‖x‖·max‖w‖` (×1.02); flushed denormals add `d·2⁻¹²⁴·(1 + ‖x‖ + max‖w‖)`;
/// all ×1.01 for the f64 norms. The bias additions round by `≤ 2⁻²⁴` relative on each side.
///
/// Let `b_k` be the `k`-th bf16 value and `cut = b_k − 2E − 2⁻¹⁸(|b_k| + E)`. The top `k` by bf16
/// have exact values `≥ b_k − E − …`, so the exact `k`-th best `t` of any superset of them is
/// too; a latent with bf16 value `< cut` has exact value `< t`. So only the `m` candidates with
/// bf16 value `≥ cut` are recomputed (exactly, the F32 chain), and the result is exact when
/// some candidate falls below `cut` (every non-candidate is below it too). Else all `k'` are
/// recomputed and the result is exact when `t > v' + E` (+ slack), `v'` the `k'`-th bf16 value.
/// Else (or with a NaN / Inf) the certificate fails.
fn rerank_exact(
    enc: &PackedEncoder,
    xr: &[f32],
    bias: &[f32],
    buf: &TopBuf,
    k: usize,
    vo: &mut [f32],
    io: &mut [u32],
) -> bool {
    let kc = buf.keys.len();
    // `m` candidates to recompute; `check`: the exact `k`-th value must still beat the `k'`-th
    // bf16 value `v'` by `E` (when the window reaches past the candidates).
    let (m, check) = if kc == enc.d_sae {
        (kc, None) // every latent is a candidate: nothing to certify
    } else {
        let bk = buf.vals[k - 1] as f64;
        let (mut xn2, mut xb2, mut xr2) = (0.0f64, 0.0f64, 0.0f64);
        for &v in xr {
            let vb = f32::from_bits((bf16_bits(v) as u32) << 16) as f64;
            let v = v as f64;
            xn2 += v * v;
            xb2 += vb * vb;
            xr2 += (v - vb) * (v - vb);
        }
        let (xn, xb, xres) = (xn2.sqrt(), xb2.sqrt(), xr2.sqrt());
        let d = enc.d_in as f64;
        let wm = enc.w_norm_max;
        let e = (xb * enc.wr_norm_max
            + xres * wm
            + 1.02 * d * 2f64.powi(-23) * xn.max(xb) * wm * (1.0 + 2f64.powi(-8))
            + d * 2f64.powi(-124) * (1.0 + xn.max(xb) + wm))
            * 1.01;
        let cut = bk - 2.0 * e - 2f64.powi(-18) * (bk.abs() + e);
        if !(buf.vals[0].is_finite() && cut.is_finite()) {
            return false;
        }
        match (k..kc).find(|&c| (buf.vals[c] as f64) < cut) {
            Some(m) => (m, None),
            None => (kc, Some(e)),
        }
    };
    let mut ex = vec![0.0f32; m];
    kernels::exact_values(enc, xr, bias, &buf.idx[..m], &mut ex);
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_unstable_by(|&a, &b| {
        rank_key(ex[b])
            .total_cmp(&rank_key(ex[a]))
            .then(buf.idx[a].cmp(&buf.idx[b]))
    });
    if let Some(e) = check {
        // Every non-candidate has bf16 value `≤ v'`, so exact value `≤ v' + E` (+ bias rounding).
        let t = ex[order[k - 1]] as f64;
        let vp = buf.vals[kc - 1] as f64;
        let ok =
            t.is_finite() && vp.is_finite() && t > vp + e + 2f64.powi(-20) * (t.abs() + vp.abs());
        if !ok {
            return false;
        }
    }
    for (s, &o) in order.iter().take(k).enumerate() {
        vo[s] = ex[o];
        io[s] = buf.idx[o];
    }
    true
}

/// Rows of `x` (task-local indices `fails`, task rows start at `r0`) recomputed exactly in f32
/// (the F32 path's fma chains, from the row-major f32 copy), top-k into `vo` / `io`.
#[allow(clippy::too_many_arguments)]
fn fallback_rows(
    enc: &PackedEncoder,
    x: &MatRef<'_, f32>,
    r0: usize,
    fails: &[usize],
    bias: &[f32],
    k: usize,
    vo: &mut [f32],
    io: &mut [u32],
) {
    let all: Vec<u32> = (0..enc.d_sae as u32).collect();
    let mut row = vec![0.0f32; enc.d_sae];
    for &i in fails {
        kernels::exact_values(enc, x.row(r0 + i), bias, &all, &mut row);
        let mut buf = TopBuf::new(k);
        buf.push_block(0, &row, None);
        buf.finish();
        vo[i * k..(i + 1) * k].copy_from_slice(&buf.vals);
        io[i * k..(i + 1) * k].copy_from_slice(&buf.idx);
    }
}

/// Rows whose Bf16 certificate failed, summed over all calls (diagnostics for tests / probes).
pub fn bf16_fallback_rows() -> u64 {
    FALLBACKS.load(std::sync::atomic::Ordering::Relaxed)
}

static FALLBACKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounding() {
        assert_eq!(bf16_round(1.0), 1.0);
        assert_eq!(bf16_round(1.0 + 2f32.powi(-9)), 1.0); // tie to even
        assert_eq!(bf16_round(1.0 + 3.0 * 2f32.powi(-9)), 1.0 + 2f32.powi(-7));
        assert!(bf16_round(f32::NAN).is_nan());
        assert_eq!(bf16_round(f32::MAX), f32::INFINITY);
        assert_eq!(bf16_round(-0.0).to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn topbuf_order() {
        let mut b = TopBuf::new(3);
        b.push_block(0, &[1.0, 3.0, 3.0, f32::NAN, -0.0, 0.0], None);
        b.finish();
        assert_eq!(b.idx, vec![3, 1, 2]);
        // Many compactions, ties and signed zeros against the sorted reference.
        let v: Vec<f32> = (0..1000)
            .map(|i| ((i * 7919) % 97) as f32 - 48.0)
            .map(|v| if v == 0.0 { -0.0 } else { v })
            .collect();
        for cap in [1, 2, 5, 33, 1000] {
            let mut b = TopBuf::new(cap);
            b.push_block(0, &v[..500], None);
            b.push_block(500, &v[500..], None);
            b.finish();
            let mut want: Vec<(f32, u32, f32)> = v
                .iter()
                .enumerate()
                .map(|(j, &x)| (rank_key(x), j as u32, x))
                .collect();
            want.sort_by(rank_order);
            let wi: Vec<u32> = want.iter().take(cap).map(|e| e.1).collect();
            assert_eq!(b.idx, wi, "cap {cap}");
        }
    }
}
