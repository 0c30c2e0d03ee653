//! From inputs to the sparse code, per architecture — the one home of each activation rule,
//! used by inference ([`crate::Sae`]) and by training ([`crate::train`]).

use rayon::prelude::*;

use sparsekit_kernels::sae::PackedEncoder;

use crate::code::SparseCode;
use crate::config::Architecture;
use crate::encoder::{Encoder, CHUNK};
use crate::error::Result;
use crate::params::SaeParams;

/// What the caller needs besides the code.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Mode {
    /// Only the code; BatchTopK uses its threshold.
    Inference,
    /// Training: `k` active latents per token (TopK; the mean for BatchTopK, selected over the
    /// batch); JumpReLU's window entries for the straight-through threshold gradient
    /// (`|pre − θ| < bandwidth / 2`); Gated entries kept even where the magnitude is 0.
    Train {
        /// Active latents per token (annealed by the trainer).
        k: usize,
        /// JumpReLU's rectangle-kernel bandwidth ε.
        bandwidth: f32,
    },
}

/// The code of a batch plus what the backward pass needs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Forward {
    /// Activations.
    pub code: SparseCode,
    /// Per code entry: the pre-activation (Gated: the gate pre-activation `π_gate`).
    pub pre: Vec<f32>,
    /// Gated, per code entry: the magnitude pre-activation `π_mag`.
    pub mag_pre: Vec<f32>,
    /// JumpReLU training: `(token, latent, pre)` with `|pre − θ| < ε/2`, tokens ascending.
    pub window: Vec<(u32, u32, f32)>,
}

/// One token's entries: (latent, activation, pre, mag_pre).
type Entries = Vec<(u32, f32, f32, f32)>;

/// The forward pass of `params` on `x_in` (`n × d_in`, already normalised and shifted by
/// `b_dec` where the configuration says so); `packed` is `params.w_enc` packed.
pub(crate) fn forward(
    params: &SaeParams,
    packed: &PackedEncoder,
    x_in: &[f32],
    mode: Mode,
) -> Result<Forward> {
    let cfg = &params.config;
    let (d, m) = (cfg.d_in, cfg.d_sae);
    debug_assert_eq!((packed.d_in(), packed.d_sae()), (d, m));
    let n = x_in.len() / d;
    let enc = Encoder {
        packed,
        b: &params.b_enc,
    };
    match (cfg.architecture, mode) {
        (Architecture::TopK, _) => {
            let k = match mode {
                Mode::Train { k, .. } => k,
                Mode::Inference => cfg.k.unwrap_or(1),
            }
            .min(m);
            let (mut vals, mut idx) = (vec![0.0; n * k], vec![0u32; n * k]);
            enc.pre_topk(x_in, k, &mut vals, &mut idx)?;
            let mut fwd = Forward {
                code: SparseCode::new(m),
                ..Forward::default()
            };
            for i in 0..n {
                for t in i * k..(i + 1) * k {
                    if vals[t] > 0.0 {
                        fwd.code.indices.push(idx[t]);
                        fwd.code.values.push(vals[t]);
                        fwd.pre.push(vals[t]);
                    }
                }
                fwd.code.row_ptr.push(fwd.code.indices.len());
            }
            Ok(fwd)
        }
        (Architecture::BatchTopK, Mode::Train { k, .. }) => batch_topk(&enc, x_in, n, k),
        (Architecture::BatchTopK | Architecture::JumpRelu, _) => {
            let theta = params.threshold.as_deref().expect("validated: threshold");
            let bandwidth = match mode {
                Mode::Train { bandwidth, .. } if cfg.architecture == Architecture::JumpRelu => {
                    Some(bandwidth)
                }
                _ => None,
            };
            let mut window = Vec::new();
            let fwd = dense_rule(&enc, x_in, n, |i, row, out| {
                for (j, &p) in row.iter().enumerate() {
                    let t = theta[j];
                    if p > t && p > 0.0 {
                        out.push((j as u32, p, p, 0.0));
                    }
                    if let Some(eps) = bandwidth {
                        if (p - t).abs() < eps / 2.0 {
                            // Marked by a NaN mag_pre; split out below.
                            out.push((j as u32, f32::NAN, p, f32::NAN));
                        }
                    }
                }
                let _ = i;
            })?;
            Ok(split_window(fwd, &mut window))
        }
        (Architecture::Relu, _) => dense_rule(&enc, x_in, n, |_, row, out| {
            for (j, &p) in row.iter().enumerate() {
                if p > 0.0 {
                    out.push((j as u32, p, p, 0.0));
                }
            }
        }),
        (Architecture::Gated, _) => {
            let g = params.gated.as_ref().expect("validated: gated");
            let keep_zero = matches!(mode, Mode::Train { .. });
            let scale: Vec<f32> = g.r_mag.iter().map(|r| r.exp()).collect();
            dense_rule(&enc, x_in, n, |_, row, out| {
                for (j, &gate) in row.iter().enumerate() {
                    if gate > 0.0 {
                        let s = gate - params.b_enc[j];
                        let mag = scale[j] * s + g.b_mag[j];
                        let a = mag.max(0.0);
                        if a > 0.0 || keep_zero {
                            out.push((j as u32, a, gate, mag));
                        }
                    }
                }
            })
        }
    }
}

/// Dense pre-activations chunk by chunk, `rule(token, row, entries)` picking each token's entries.
fn dense_rule(
    enc: &Encoder<'_>,
    x_in: &[f32],
    n: usize,
    rule: impl Fn(usize, &[f32], &mut Entries) + Sync,
) -> Result<Forward> {
    let (d, m) = (enc.d_in(), enc.d_sae());
    let mut fwd = Forward {
        code: SparseCode::new(m),
        ..Forward::default()
    };
    let mut buf = vec![0.0f32; CHUNK.min(n.max(1)) * m];
    for c0 in (0..n).step_by(CHUNK) {
        let rows = CHUNK.min(n - c0);
        let b = &mut buf[..rows * m];
        enc.pre_dense(&x_in[c0 * d..(c0 + rows) * d], b)?;
        let per_row: Vec<Entries> = b
            .par_chunks(m)
            .enumerate()
            .map(|(r, row)| {
                let mut out = Entries::new();
                rule(c0 + r, row, &mut out);
                out
            })
            .collect();
        for entries in per_row {
            for (j, a, p, q) in entries {
                fwd.code.indices.push(j);
                fwd.code.values.push(a);
                fwd.pre.push(p);
                fwd.mag_pre.push(q);
            }
            fwd.code.row_ptr.push(fwd.code.indices.len());
        }
    }
    Ok(fwd)
}

/// Moves the NaN-marked window entries of a JumpReLU forward into `window`.
fn split_window(fwd: Forward, window: &mut Vec<(u32, u32, f32)>) -> Forward {
    let mut out = Forward {
        code: SparseCode::new(fwd.code.d_sae),
        ..Forward::default()
    };
    for i in 0..fwd.code.rows() {
        for e in fwd.code.row_ptr[i]..fwd.code.row_ptr[i + 1] {
            if fwd.mag_pre[e].is_nan() {
                window.push((i as u32, fwd.code.indices[e], fwd.pre[e]));
            } else {
                out.code.indices.push(fwd.code.indices[e]);
                out.code.values.push(fwd.code.values[e]);
                out.pre.push(fwd.pre[e]);
            }
        }
        out.code.row_ptr.push(out.code.indices.len());
    }
    out.window = std::mem::take(window);
    out
}

/// BatchTopK's training selection: the `k·n` largest positive pre-activations over the batch,
/// exactly. Each token first offers its top `4k` candidates (the fused top-k); the batch
/// threshold τ is the `k·n`-th largest candidate; a token whose every candidate is ≥ τ may have
/// more entries above τ, so its full row is recomputed and offered, until no token is
/// saturated. Ties rank by (value, lower token, lower latent).
fn batch_topk(enc: &Encoder<'_>, x_in: &[f32], n: usize, k: usize) -> Result<Forward> {
    let (d, m) = (enc.d_in(), enc.d_sae());
    let cap = (4 * k).min(m);
    let budget = k * n;
    let (mut vals, mut idx) = (vec![0.0; n * cap], vec![0u32; n * cap]);
    enc.pre_topk(x_in, cap, &mut vals, &mut idx)?;
    // Candidates per token (positive only), descending.
    let mut cands: Vec<Vec<(f32, u32)>> = (0..n)
        .map(|i| {
            (i * cap..(i + 1) * cap)
                .filter(|&t| vals[t] > 0.0)
                .map(|t| (vals[t], idx[t]))
                .collect()
        })
        .collect();
    let mut full = vec![cap == m; n];
    let tau = loop {
        let mut all: Vec<f32> = cands.iter().flatten().map(|c| c.0).collect();
        let tau = if all.len() > budget {
            let (_, t, _) = all.select_nth_unstable_by(budget - 1, |a, b| b.total_cmp(a));
            *t
        } else {
            0.0
        };
        let saturated: Vec<usize> = (0..n)
            .filter(|&i| !full[i] && cands[i].len() == cap && cands[i][cap - 1].0 >= tau)
            .collect();
        if saturated.is_empty() {
            break tau;
        }
        // The whole row, exactly and in order: a top-k with k = d_sae.
        let (mut rv, mut ri) = (vec![0.0f32; m], vec![0u32; m]);
        for &i in &saturated {
            enc.pre_topk(&x_in[i * d..(i + 1) * d], m, &mut rv, &mut ri)?;
            cands[i] = rv
                .iter()
                .zip(&ri)
                .filter(|(&v, _)| v > 0.0)
                .map(|(&v, &j)| (v, j))
                .collect();
            full[i] = true;
        }
    };
    // Keep entries > τ, then entries == τ in (token, latent) order until the budget is used.
    let above: usize = cands.iter().flatten().filter(|c| c.0 > tau).count();
    let mut ties_left = budget.saturating_sub(above);
    let mut fwd = Forward {
        code: SparseCode::new(m),
        ..Forward::default()
    };
    for c in &mut cands {
        c.sort_by_key(|e| e.1);
        for &(v, j) in c.iter() {
            let keep = v > tau
                || (v == tau && tau > 0.0 && ties_left > 0 && {
                    ties_left -= 1;
                    true
                });
            if keep {
                fwd.code.indices.push(j);
                fwd.code.values.push(v);
                fwd.pre.push(v);
            }
        }
        fwd.code.row_ptr.push(fwd.code.indices.len());
    }
    Ok(fwd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SaeConfig;
    use crate::encoder::pack;
    use rand::{Rng, SeedableRng};
    use sparsekit_kernels::sae::EncoderPrecision;

    fn f32_pack(p: &SaeParams) -> PackedEncoder {
        pack(
            &p.w_enc,
            p.config.d_in,
            p.config.d_sae,
            EncoderPrecision::F32,
        )
        .unwrap()
    }

    /// The exact batch top-k: all positive pre-activations sorted by (value desc, token, latent),
    /// the first `k·n` kept — brute force in f64 on the same f32 pre-activations.
    fn brute(params: &SaeParams, x: &[f32], k: usize) -> Vec<(usize, u32)> {
        let (d, m) = (params.config.d_in, params.config.d_sae);
        let n = x.len() / d;
        let packed = f32_pack(params);
        let enc = Encoder {
            packed: &packed,
            b: &params.b_enc,
        };
        let mut pre = vec![0.0f32; n * m];
        enc.pre_dense(x, &mut pre).unwrap();
        let mut all: Vec<(f32, usize, u32)> = (0..n * m)
            .filter(|&t| pre[t] > 0.0)
            .map(|t| (pre[t], t / m, (t % m) as u32))
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        all.truncate(k * n);
        let mut out: Vec<(usize, u32)> = all.into_iter().map(|(_, i, j)| (i, j)).collect();
        out.sort();
        out
    }

    #[test]
    fn batch_topk_is_exact_including_saturated_tokens() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        for (d, m, n, k) in [(5, 40, 12, 2), (3, 16, 7, 3), (8, 64, 1, 5), (4, 9, 6, 3)] {
            let cfg = SaeConfig::new(Architecture::BatchTopK, d, m, Some(k));
            let mut p = SaeParams::init(cfg, 1, 0.001).unwrap();
            p.b_enc
                .iter_mut()
                .for_each(|b| *b = rng.random_range(-0.5..0.5));
            // A few tokens with a large norm take far more than their share (saturation).
            let x: Vec<f32> = (0..n * d)
                .map(|t| rng.random_range(-1.0f32..1.0) * if t / d % 4 == 0 { 8.0 } else { 1.0 })
                .collect();
            for precision in [EncoderPrecision::F32, EncoderPrecision::Bf16] {
                let packed = pack(&p.w_enc, d, m, precision).unwrap();
                let got = forward(
                    &p,
                    &packed,
                    &x,
                    Mode::Train {
                        k,
                        bandwidth: 0.001,
                    },
                )
                .unwrap();
                let mut pairs: Vec<(usize, u32)> = (0..n)
                    .flat_map(|i| {
                        got.code
                            .row(i)
                            .0
                            .iter()
                            .map(move |&j| (i, j))
                            .collect::<Vec<_>>()
                    })
                    .collect();
                pairs.sort();
                assert_eq!(
                    pairs,
                    brute(&p, &x, k),
                    "d {d} m {m} n {n} k {k} {precision:?}"
                );
            }
        }
    }

    #[test]
    fn topk_and_threshold_rules_match_a_dense_evaluation() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        let (d, m, n) = (6, 23, 9);
        let x: Vec<f32> = (0..n * d).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        for arch in [
            Architecture::TopK,
            Architecture::JumpRelu,
            Architecture::Relu,
        ] {
            let cfg = SaeConfig::new(arch, d, m, arch.uses_k().then_some(4));
            let mut p = SaeParams::init(cfg, 2, 0.05).unwrap();
            p.b_enc
                .iter_mut()
                .for_each(|b| *b = rng.random_range(-0.3..0.3));
            let packed = f32_pack(&p);
            let enc = Encoder {
                packed: &packed,
                b: &p.b_enc,
            };
            let mut pre = vec![0.0f32; n * m];
            enc.pre_dense(&x, &mut pre).unwrap();
            let code = forward(&p, &packed, &x, Mode::Inference)
                .unwrap()
                .code
                .to_dense();
            for i in 0..n {
                let row = &pre[i * m..(i + 1) * m];
                let mut expect = vec![0.0f32; m];
                match arch {
                    Architecture::TopK => {
                        let mut order: Vec<usize> = (0..m).collect();
                        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
                        for &j in &order[..4] {
                            expect[j] = row[j].max(0.0);
                        }
                    }
                    Architecture::JumpRelu => {
                        let th = p.threshold.as_ref().unwrap();
                        for j in 0..m {
                            if row[j] > th[j] && row[j] > 0.0 {
                                expect[j] = row[j];
                            }
                        }
                    }
                    _ => {
                        for j in 0..m {
                            expect[j] = row[j].max(0.0);
                        }
                    }
                }
                assert_eq!(&code[i * m..(i + 1) * m], &expect[..], "{arch} token {i}");
            }
        }
    }
}
