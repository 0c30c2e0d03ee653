//! Training, sparse in every step ([`Trainer`]).
//!
//! One step on a batch of `n` tokens:
//! 1. **encode**: the dense product `x·W_encᵀ` fused with the per-token selection (TopK: the
//!    kernels crate's fused top-k; the others: dense pre-activations 256 tokens at a time) — never
//!    a `[batch, d_sae]` matrix in memory;
//! 2. **decode** by gather-sum of the active decoder rows (no dense `code·W_dec` product);
//! 3. **backward**: per active entry, `∂L/∂a = ∂L/∂x̂ · W_dec[j]`; decoder and encoder gradients
//!    only on the rows of latents that fired (or got an AuxK gradient), accumulated latent by
//!    latent (one thread per row: bit-identical for any thread count);
//! 4. **Adam** (dense or lazy), decoder rows renormalised, dead-latent counters updated.
//!
//! Losses (each as its reference implementation computes it):
//! - TopK / BatchTopK: `FVU = Σ‖x̂−x‖² / Σ‖x−x̄‖²` plus `α·AuxK` (sparsify; Gao et al. 2024);
//! - ReLU: `mean ‖x̂−x‖² + λ·mean Σ_j a_j‖W_dec[j]‖` (SAELens' standard SAE);
//! - JumpReLU: `mean ‖x̂−x‖² + λ·mean ‖a‖₀`, with the rectangle-kernel straight-through estimator
//!   for the threshold, trained in log space (Rajamanoharan et al. 2024b; SAELens);
//! - Gated: `mean ‖x̂−x‖² + λ·mean Σ_j ReLU(π_gate)_j‖W_dec[j]‖ + mean ‖x̂_aux−x‖²`, where
//!   `x̂_aux` decodes `ReLU(π_gate)` through a frozen decoder (Rajamanoharan et al. 2024a).

pub mod adam;
pub mod checkpoint;
pub mod config;
pub mod init;

use rayon::prelude::*;

pub use adam::{AdamConfig, Moments};
pub use config::{KAnneal, Optimizer, TrainConfig};
pub use init::BDecInit;

use crate::code::{axpy, dot, gather_sum, SparseCode};
use crate::config::{Architecture, Normalization};
use crate::encoder::{pack, resolve, Encoder};
use crate::error::{Result, SaeError};
use crate::forward::{forward, Mode};
use crate::normalize::{encoder_input, estimate_norm_scale, normalize};
use crate::params::SaeParams;
use sparsekit_kernels::sae::PackedEncoder;
use sparsekit_kernels::MatRef;

/// What one step measured (on the batch, in the normalised space).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepStats {
    /// Optimizer steps done, this one included.
    pub step: u64,
    /// Tokens seen, this batch included.
    pub tokens: u64,
    /// Total loss.
    pub loss: f64,
    /// Fraction of variance unexplained on this batch.
    pub fvu: f64,
    /// Mean active latents per token.
    pub l0: f64,
    /// Fraction of latents dead (no firing for `dead_after_tokens` tokens).
    pub dead_fraction: f64,
    /// AuxK loss (TopK, BatchTopK; 0 when no latent is dead).
    pub aux_loss: f64,
    /// `k` used this step (TopK, BatchTopK).
    pub k: usize,
    /// Learning rate used this step.
    pub lr: f32,
}

/// All mutable training state — what a checkpoint holds.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainState {
    /// The weights.
    pub params: SaeParams,
    /// Optimizer steps done.
    pub step: u64,
    /// Tokens seen.
    pub tokens: u64,
    /// Adam moments, in the order of [`PARAM_NAMES`] (absent arrays are empty).
    pub moments: Vec<Moments>,
    /// Per latent, tokens since it last fired.
    pub tokens_since_fired: Vec<u64>,
    /// Per latent, tokens on which it fired (feature density = this / tokens).
    pub fire_count: Vec<u64>,
}

/// Names of the trained arrays, in [`TrainState::moments`] order.
pub const PARAM_NAMES: [&str; 7] = [
    "w_enc",
    "b_enc",
    "w_dec",
    "b_dec",
    "log_threshold",
    "r_mag",
    "b_mag",
];

/// Trains one SAE.
#[derive(Clone, Debug)]
pub struct Trainer {
    config: TrainConfig,
    state: TrainState,
    g_enc: Vec<f32>,
    g_dec: Vec<f32>,
    /// `w_enc` packed for the kernels; `None` when stale (rebuilt before the next forward).
    packed: Option<PackedEncoder>,
}

/// Per-entry gradient bookkeeping: (token, latent, activation, ∂L/∂pre, source: 0 main, 1 aux,
/// L1 weight).
struct GradEntry {
    token: u32,
    latent: u32,
    act: f32,
    dpre: f32,
    aux: bool,
    l1: f32,
}

impl Trainer {
    /// A trainer for freshly initialised weights (`SaeParams::init` with `config.seed`).
    pub fn new(sae: crate::config::SaeConfig, config: TrainConfig) -> Result<Self> {
        config.validate(&sae)?;
        let params = SaeParams::init(sae, config.seed, config.threshold_init)?;
        Self::from_params(params, config)
    }

    /// A trainer starting from given weights (fine-tuning; step 0: `b_dec` is re-initialised
    /// from the first batch unless `b_dec_init` is `Zeros`).
    pub fn from_params(params: SaeParams, config: TrainConfig) -> Result<Self> {
        params.validate()?;
        config.validate(&params.config)?;
        let (d, m) = (params.config.d_in, params.config.d_sae);
        let sizes = [
            m * d,
            m,
            m * d,
            d,
            params.threshold.as_ref().map_or(0, |t| t.len()),
            params.gated.as_ref().map_or(0, |g| g.r_mag.len()),
            params.gated.as_ref().map_or(0, |g| g.b_mag.len()),
        ];
        let state = TrainState {
            moments: sizes.iter().map(|&s| Moments::zeros(s)).collect(),
            tokens_since_fired: vec![0; m],
            fire_count: vec![0; m],
            step: 0,
            tokens: 0,
            params,
        };
        Self::from_state(state, config)
    }

    /// A trainer resuming from a checkpointed state (see [`checkpoint`]). Checks the weights,
    /// the configuration and that every moment and counter array has its parameter's length.
    pub fn from_state(state: TrainState, config: TrainConfig) -> Result<Self> {
        state.params.validate()?;
        config.validate(&state.params.config)?;
        let p = &state.params;
        let (d, m) = (p.config.d_in, p.config.d_sae);
        let sizes = [
            m * d,
            m,
            m * d,
            d,
            p.threshold.as_ref().map_or(0, |t| t.len()),
            p.gated.as_ref().map_or(0, |g| g.r_mag.len()),
            p.gated.as_ref().map_or(0, |g| g.b_mag.len()),
        ];
        let moments_ok = state.moments.len() == sizes.len()
            && state
                .moments
                .iter()
                .zip(&sizes)
                .all(|(mo, &s)| mo.m.len() == s && mo.v.len() == s);
        if !moments_ok || state.tokens_since_fired.len() != m || state.fire_count.len() != m {
            return Err(SaeError::Shape(
                "training state: moment or counter arrays do not match the weights".into(),
            ));
        }
        let n = m * d;
        Ok(Trainer {
            config,
            state,
            g_enc: vec![0.0; n],
            g_dec: vec![0.0; n],
            packed: None,
        })
    }

    /// The training state.
    pub fn state(&self) -> &TrainState {
        &self.state
    }

    /// The weights.
    pub fn params(&self) -> &SaeParams {
        &self.state.params
    }

    /// The weights, mutably (tests perturb them; a change between steps is a fine-tune).
    pub fn params_mut(&mut self) -> &mut SaeParams {
        self.packed = None;
        &mut self.state.params
    }

    /// Packs (or repacks) the encoder weights if they changed since the last pack.
    fn ensure_packed(&mut self) -> Result<()> {
        let p = &self.state.params;
        let (d, m) = (p.config.d_in, p.config.d_sae);
        match &mut self.packed {
            Some(_) => {}
            None => {
                let prec = resolve(self.config.precision, p.config.architecture);
                self.packed = Some(pack(&p.w_enc, d, m, prec)?);
            }
        }
        Ok(())
    }

    /// The kernel path of the encoder (`"amx-bf16"`, `"avx512-f32"`, …).
    pub fn encoder_path(&mut self) -> Result<&'static str> {
        self.ensure_packed()?;
        Ok(self.packed.as_ref().expect("packed").path_name())
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Per latent, log10 of its firing frequency so far (−∞ → −10 for latents that never
    /// fired, as SAELens' `sparsity.safetensors` clamps with 1e-10).
    pub fn log_feature_density(&self) -> Vec<f32> {
        let t = self.state.tokens.max(1) as f64;
        self.state
            .fire_count
            .iter()
            .map(|&c| ((c as f64 / t).max(1e-10)).log10() as f32)
            .collect()
    }

    /// Latents dead now (no firing in `dead_after_tokens` tokens).
    pub fn dead_mask(&self) -> Vec<bool> {
        self.state
            .tokens_since_fired
            .iter()
            .map(|&t| t > self.config.dead_after_tokens)
            .collect()
    }

    /// `k` at the current token count (annealed when configured).
    pub fn current_k(&self) -> usize {
        let k = self.state.params.config.k.unwrap_or(0);
        match self.config.k_anneal {
            Some(ka) if ka.tokens > 0 && self.state.tokens < ka.tokens => {
                let f = self.state.tokens as f64 / ka.tokens as f64;
                (ka.start as f64 - (ka.start - k) as f64 * f).round() as usize
            }
            _ => k,
        }
    }

    /// The loss and its gradient with respect to every trained array on `x`, without changing
    /// anything (no step, no first-batch initialisation; the current `k` and dead latents
    /// apply). What [`Trainer::step`] feeds to Adam, before the decoder-parallel component is
    /// removed when decoder rows are kept at unit norm. For inspection and tests.
    pub fn gradients(&mut self, x: &[f32]) -> Result<Gradients> {
        let cfg = self.state.params.config.clone();
        let d = cfg.d_in;
        if x.is_empty() || x.len() % d != 0 {
            return Err(SaeError::Shape(format!(
                "a batch of {} values is not a non-empty multiple of d_in = {d}",
                x.len()
            )));
        }
        let mut xn = x.to_vec();
        normalize(&cfg, &mut xn);
        let x_in = encoder_input(&cfg, &self.state.params.b_dec, &xn);
        let keep = self.config.normalize_decoder;
        self.config.normalize_decoder = Some(false);
        let pass = self.pass(&xn, &x_in);
        self.config.normalize_decoder = keep;
        let pass = pass?;
        let w_enc = self.g_enc.clone();
        let w_dec = self.g_dec.clone();
        for &j in &pass.active {
            let r = j as usize * d..(j as usize + 1) * d;
            self.g_enc[r.clone()].fill(0.0);
            self.g_dec[r].fill(0.0);
        }
        Ok(Gradients {
            loss: pass.loss,
            w_enc,
            b_enc: pass.g_benc,
            w_dec,
            b_dec: pass.g_bdec,
            log_threshold: pass.g_theta,
            r_mag: pass.g_rmag,
            b_mag: pass.g_bmag,
        })
    }

    /// One optimizer step on `x` (`n × d_in`, row-major, raw activations).
    pub fn step(&mut self, x: &[f32]) -> Result<StepStats> {
        let cfg = self.state.params.config.clone();
        let (d, m) = (cfg.d_in, cfg.d_sae);
        if x.is_empty() || x.len() % d != 0 {
            return Err(SaeError::Shape(format!(
                "a batch of {} values is not a non-empty multiple of d_in = {d}",
                x.len()
            )));
        }
        if let Some(p) = x.iter().position(|v| !v.is_finite()) {
            return Err(SaeError::Shape(format!("input value {p} is {}", x[p])));
        }
        let n = x.len() / d;
        let arch = cfg.architecture;
        let first = self.state.step == 0;

        // Normalise (loss and code live in the normalised space).
        let mut xn = x.to_vec();
        if first
            && cfg.normalize_activations == Normalization::ExpectedAverageOnlyIn
            && cfg.norm_scale.is_none()
        {
            self.state.params.config.norm_scale = estimate_norm_scale(x, d);
        }
        normalize(&self.state.params.config, &mut xn);
        if first {
            match self.config.b_dec_init {
                BDecInit::Zeros => {}
                BDecInit::Mean => self.state.params.b_dec = init::mean(&xn, d),
                BDecInit::GeometricMedian => {
                    self.state.params.b_dec = init::geometric_median(&xn, d, 100, 1e-6)
                }
            }
        }
        let x_in = encoder_input(&cfg, &self.state.params.b_dec, &xn);
        let Pass {
            loss,
            fvu,
            aux_loss,
            k,
            code,
            active,
            g_benc,
            g_bdec,
            g_theta,
            g_rmag,
            g_bmag,
        } = self.pass(&xn, &x_in)?;
        let normalize_dec = self.config.normalizes_decoder(arch);

        // Adam.
        let t = self.state.step + 1;
        let base_lr = self.config.lr_for(m);
        let lr = if self.config.lr_warmup_steps > 0 && t <= self.config.lr_warmup_steps {
            base_lr * t as f32 / self.config.lr_warmup_steps as f32
        } else {
            base_lr
        };
        let ac = self.config.adam;
        let st = &mut self.state;
        let (mo, rest) = st.moments.split_at_mut(4);
        let (mo_enc, mo_rest) = mo.split_at_mut(1);
        let (mo_benc, mo_rest) = mo_rest.split_at_mut(1);
        let (mo_dec, mo_bdec) = mo_rest.split_at_mut(1);
        match self.config.optimizer {
            Optimizer::Adam => {
                adam::step_dense(
                    &ac,
                    lr,
                    t,
                    &mut st.params.w_enc,
                    &self.g_enc,
                    &mut mo_enc[0],
                );
                adam::step_dense(
                    &ac,
                    lr,
                    t,
                    &mut st.params.w_dec,
                    &self.g_dec,
                    &mut mo_dec[0],
                );
            }
            Optimizer::LazyAdam => {
                adam::step_rows(
                    &ac,
                    lr,
                    t,
                    &mut st.params.w_enc,
                    &self.g_enc,
                    &mut mo_enc[0],
                    &active,
                    d,
                );
                adam::step_rows(
                    &ac,
                    lr,
                    t,
                    &mut st.params.w_dec,
                    &self.g_dec,
                    &mut mo_dec[0],
                    &active,
                    d,
                );
            }
        }
        adam::step_dense(&ac, lr, t, &mut st.params.b_enc, &g_benc, &mut mo_benc[0]);
        adam::step_dense(&ac, lr, t, &mut st.params.b_dec, &g_bdec, &mut mo_bdec[0]);
        if arch == Architecture::JumpRelu {
            let theta = st.params.threshold.as_mut().expect("threshold");
            let mut log_t: Vec<f32> = theta.iter().map(|v| v.ln()).collect();
            adam::step_dense(&ac, lr, t, &mut log_t, &g_theta, &mut rest[0]);
            theta.iter_mut().zip(&log_t).for_each(|(v, l)| *v = l.exp());
        }
        if let Some(g) = st.params.gated.as_mut() {
            let (r0, r1) = rest.split_at_mut(2);
            adam::step_dense(&ac, lr, t, &mut g.r_mag, &g_rmag, &mut r0[1]);
            adam::step_dense(&ac, lr, t, &mut g.b_mag, &g_bmag, &mut r1[0]);
        }
        // The encoder moved: repack it for the next forward.
        if let Some(pk) = self.packed.as_mut() {
            pk.repack(MatRef::new(&st.params.w_enc, m, d)?)?;
        }
        // Zero the touched gradient rows for the next step.
        for &j in &active {
            let r = j as usize * d..(j as usize + 1) * d;
            self.g_enc[r.clone()].fill(0.0);
            self.g_dec[r].fill(0.0);
        }
        if normalize_dec {
            match self.config.optimizer {
                // Dense Adam moves every row (momentum); lazy Adam only the active ones.
                Optimizer::Adam => st.params.w_dec.par_chunks_mut(d).for_each(unit_norm),
                Optimizer::LazyAdam => {
                    for &j in &active {
                        unit_norm(&mut st.params.w_dec[j as usize * d..(j as usize + 1) * d]);
                    }
                }
            }
        }

        // Firing statistics.
        let mut fired = vec![false; m];
        for (&j, &a) in code.indices.iter().zip(&code.values) {
            if a > 0.0 {
                if !fired[j as usize] {
                    fired[j as usize] = true;
                }
                st.fire_count[j as usize] += 1;
            }
        }
        for (c, &f) in st.tokens_since_fired.iter_mut().zip(&fired) {
            *c = if f { 0 } else { c.saturating_add(n as u64) };
        }
        if arch == Architecture::BatchTopK {
            let min_pos = code
                .values
                .iter()
                .copied()
                .filter(|&v| v > 0.0)
                .fold(f32::INFINITY, f32::min);
            if min_pos.is_finite() {
                let th = st.params.threshold.as_mut().expect("threshold");
                let beta = self.config.threshold_beta;
                let cur = if st.step == 0 {
                    min_pos
                } else {
                    beta * th[0] + (1.0 - beta) * min_pos
                };
                th.iter_mut().for_each(|v| *v = cur);
            }
        }
        st.step = t;
        st.tokens += n as u64;
        let l0 = code.values.iter().filter(|&&v| v > 0.0).count() as f64 / n as f64;
        let dead_now = st
            .tokens_since_fired
            .iter()
            .filter(|&&c| c > self.config.dead_after_tokens)
            .count();
        Ok(StepStats {
            step: t,
            tokens: st.tokens,
            loss,
            fvu,
            l0,
            dead_fraction: dead_now as f64 / m as f64,
            aux_loss,
            k,
            lr,
        })
    }

    /// Forward and backward on a prepared batch (`xn` normalised, `x_in` the encoder's input):
    /// row gradients land in `g_enc` / `g_dec`, the rest is returned.
    fn pass(&mut self, xn: &[f32], x_in: &[f32]) -> Result<Pass> {
        let k = self.current_k();
        let dead_mask = self.dead_mask();
        self.ensure_packed()?;
        let Trainer {
            config,
            state,
            g_enc,
            g_dec,
            packed,
        } = self;
        let packed = packed.as_ref().expect("packed above");
        let p = &state.params;
        let cfg = &p.config;
        let (d, m) = (cfg.d_in, cfg.d_sae);
        let n = xn.len() / d;
        let arch = cfg.architecture;
        // Forward.
        let fwd = forward(
            p,
            packed,
            x_in,
            Mode::Train {
                k,
                bandwidth: config.bandwidth,
            },
        )?;
        let code = &fwd.code;
        let mut x_hat = vec![0.0f32; n * d];
        gather_sum(code, &p.w_dec, d, Some(&p.b_dec), &mut x_hat);
        // Residual e = x̂ − x and the total variance of the batch.
        let e: Vec<f32> = x_hat.iter().zip(xn).map(|(a, b)| a - b).collect();
        let mu = init::mean(xn, d);
        let tv: f64 = xn
            .chunks(d)
            .map(|r| {
                r.iter()
                    .zip(&mu)
                    .map(|(a, b)| ((a - b) as f64).powi(2))
                    .sum::<f64>()
            })
            .sum();
        let sse: f64 = e.iter().map(|v| (*v as f64).powi(2)).sum();
        let fvu = if tv > 0.0 { sse / tv } else { f64::NAN };
        let uses_fvu = arch.uses_k();
        let rec_scale = if uses_fvu {
            (1.0 / tv.max(1e-30)) as f32
        } else {
            1.0 / n as f32
        };
        let mut loss = sse * rec_scale as f64;
        // ∂L/∂x̂ = 2·scale·e.
        let g_xhat: Vec<f32> = e.iter().map(|v| 2.0 * rec_scale * v).collect();

        // Decoder norms where a penalty uses them.
        let lambda = config.l1_coefficient;
        let dec_norms: Vec<f32> = if matches!(arch, Architecture::Relu | Architecture::Gated) {
            p.w_dec.par_chunks(d).map(|r| dot(r, r).sqrt()).collect()
        } else {
            Vec::new()
        };

        // Per-entry gradients of the main code.
        let mut entries: Vec<GradEntry> = Vec::with_capacity(code.nnz());
        let mut g_theta = vec![0.0f32; p.threshold.as_ref().map_or(0, |t| t.len())];
        let mut g_rmag = vec![0.0f32; if arch == Architecture::Gated { m } else { 0 }];
        let mut g_bmag = g_rmag.clone();
        let mut g_bgate = vec![0.0f32; m];
        let da: Vec<f32> = (0..n)
            .into_par_iter()
            .flat_map_iter(|i| {
                let (idx, _) = code.row(i);
                let gi = &g_xhat[i * d..(i + 1) * d];
                idx.iter()
                    .map(move |&j| dot(gi, &p.w_dec[j as usize * d..(j as usize + 1) * d]))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut l1_total = 0.0f64;
        // Gated: the auxiliary reconstruction through a frozen decoder, from ReLU(π_gate).
        let gate_res: Vec<f32> = if arch == Architecture::Gated {
            let gate_code = SparseCode {
                d_sae: m,
                row_ptr: code.row_ptr.clone(),
                indices: code.indices.clone(),
                values: fwd.pre.clone(),
            };
            let mut xa = vec![0.0f32; n * d];
            gather_sum(&gate_code, &p.w_dec, d, Some(&p.b_dec), &mut xa);
            let r: Vec<f32> = xa.iter().zip(xn).map(|(a, b)| a - b).collect();
            loss += r.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / n as f64;
            r
        } else {
            Vec::new()
        };
        // `e_` indexes the code and the per-entry arrays (`da`, `fwd.pre`, `fwd.mag_pre`).
        #[allow(clippy::needless_range_loop)]
        for i in 0..n {
            for e_ in code.row_ptr[i]..code.row_ptr[i + 1] {
                let j = code.indices[e_] as usize;
                let a = code.values[e_];
                let pre = fwd.pre[e_];
                let mut ent = GradEntry {
                    token: i as u32,
                    latent: j as u32,
                    act: a,
                    dpre: da[e_],
                    aux: false,
                    l1: 0.0,
                };
                match arch {
                    Architecture::Relu => {
                        let w = lambda * dec_norms[j] / n as f32;
                        ent.dpre += w;
                        ent.l1 = a;
                        l1_total += (a * dec_norms[j]) as f64;
                    }
                    Architecture::Gated => {
                        let g = p.gated.as_ref().expect("gated");
                        let scale = g.r_mag[j].exp();
                        let s = pre - p.b_enc[j];
                        let dmag = if fwd.mag_pre[e_] > 0.0 { da[e_] } else { 0.0 };
                        g_rmag[j] += dmag * scale * s;
                        g_bmag[j] += dmag;
                        let res = &gate_res[i * d..(i + 1) * d];
                        let dgate = lambda * dec_norms[j] / n as f32
                            + 2.0 / n as f32 * dot(res, &p.w_dec[j * d..(j + 1) * d]);
                        g_bgate[j] += dgate;
                        ent.dpre = dmag * scale + dgate;
                        ent.l1 = pre;
                        l1_total += (pre * dec_norms[j]) as f64;
                    }
                    _ => {}
                }
                entries.push(ent);
            }
        }
        if matches!(arch, Architecture::Relu | Architecture::Gated) {
            loss += lambda as f64 * l1_total / n as f64;
        }
        // JumpReLU: straight-through threshold gradient and the L0 penalty.
        if arch == Architecture::JumpRelu {
            let theta = p.threshold.as_ref().expect("jumprelu threshold");
            let eps = config.bandwidth;
            let l0c = config.l0_coefficient;
            loss += l0c as f64 * code.l0();
            for &(i, j, _) in &fwd.window {
                let (i, j) = (i as usize, j as usize);
                let da_w = dot(&g_xhat[i * d..(i + 1) * d], &p.w_dec[j * d..(j + 1) * d]);
                g_theta[j] += -(theta[j] / eps) * da_w - l0c / (n as f32 * eps);
            }
            // Train log θ: ∂L/∂logθ = θ·∂L/∂θ.
            g_theta.iter_mut().zip(theta).for_each(|(g, t)| *g *= t);
        }

        // AuxK on dead latents.
        let dead: Vec<u32> = dead_mask
            .iter()
            .enumerate()
            .filter(|(_, &dd)| dd)
            .map(|(j, _)| j as u32)
            .collect();
        let mut aux_loss = 0.0f64;
        let mut g_aux: Vec<f32> = Vec::new();
        let alpha = config.aux_coefficient;
        if arch.uses_k() && alpha > 0.0 && !dead.is_empty() {
            let kmax = config.aux_k_for(d);
            let k_aux = kmax.min(dead.len());
            let scale = (dead.len() as f32 / kmax as f32).min(1.0);
            let mut w_sub = Vec::with_capacity(dead.len() * d);
            let mut b_sub = Vec::with_capacity(dead.len());
            for &j in &dead {
                w_sub.extend_from_slice(p.enc_row(j as usize));
                b_sub.push(p.b_enc[j as usize]);
            }
            let sub_packed = pack(&w_sub, d, dead.len(), packed.precision())?;
            let sub = Encoder {
                packed: &sub_packed,
                b: &b_sub,
            };
            let (mut vals, mut idx) = (vec![0.0; n * k_aux], vec![0u32; n * k_aux]);
            sub.pre_topk(x_in, k_aux, &mut vals, &mut idx)?;
            let mut aux_code = SparseCode::new(m);
            for i in 0..n {
                aux_code.push_row(
                    (i * k_aux..(i + 1) * k_aux)
                        .filter(|&t| vals[t] > 0.0)
                        .map(|t| (dead[idx[t] as usize], vals[t])),
                );
            }
            let mut e_hat = vec![0.0f32; n * d];
            gather_sum(&aux_code, &p.w_dec, d, None, &mut e_hat);
            // Target: the residual x − x̂ = −e (detached).
            let diff: Vec<f32> = e_hat.iter().zip(&e).map(|(a, r)| a + r).collect();
            let s2: f64 = diff.iter().map(|v| (*v as f64).powi(2)).sum();
            aux_loss = scale as f64 * s2 / tv.max(1e-30);
            loss += alpha as f64 * aux_loss;
            let c = 2.0 * alpha * scale / tv.max(1e-30) as f32;
            g_aux = diff.iter().map(|v| c * v).collect();
            for i in 0..n {
                let gi = &g_aux[i * d..(i + 1) * d];
                let (idx, val) = aux_code.row(i);
                for (&j, &a) in idx.iter().zip(val) {
                    entries.push(GradEntry {
                        token: i as u32,
                        latent: j,
                        act: a,
                        dpre: dot(gi, &p.w_dec[j as usize * d..(j as usize + 1) * d]),
                        aux: true,
                        l1: 0.0,
                    });
                }
            }
        }
        if !loss.is_finite() {
            return Err(SaeError::Diverged {
                step: state.step + 1,
                detail: format!("loss {loss} (fvu {fvu}, aux {aux_loss})"),
            });
        }

        // Group entries by latent (counting sort; token order kept) and accumulate row
        // gradients, one thread per latent.
        let mut ptr = vec![0usize; m + 1];
        for en in &entries {
            ptr[en.latent as usize + 1] += 1;
        }
        for j in 0..m {
            ptr[j + 1] += ptr[j];
        }
        let mut order = vec![0u32; entries.len()];
        {
            let mut next = ptr.clone();
            for (t, en) in entries.iter().enumerate() {
                order[next[en.latent as usize]] = t as u32;
                next[en.latent as usize] += 1;
            }
        }
        let active: Vec<u32> = (0..m)
            .filter(|&j| ptr[j + 1] > ptr[j])
            .map(|j| j as u32)
            .collect();
        let gated_or_relu = matches!(arch, Architecture::Relu | Architecture::Gated);
        let normalize_dec = config.normalizes_decoder(arch);
        // (Σ dpre, for b_enc and the b_dec-through-input term) per active latent.
        let sums: Vec<(u32, f32)> = {
            let g_enc_rows = RowsMut::new(g_enc, d);
            let g_dec_rows = RowsMut::new(g_dec, d);
            active
                .par_iter()
                .with_min_len(8)
                .map(|&j| {
                    let j_ = j as usize;
                    // `active` holds distinct latents: each row goes to one task.
                    let (ge, gd) = (g_enc_rows.row(j_), g_dec_rows.row(j_));
                    let mut dsum = 0.0f32;
                    let mut l1w = 0.0f32;
                    for &t in &order[ptr[j_]..ptr[j_ + 1]] {
                        let en = &entries[t as usize];
                        let i = en.token as usize;
                        let src = if en.aux { &g_aux } else { &g_xhat };
                        axpy(en.act, &src[i * d..(i + 1) * d], gd);
                        axpy(en.dpre, &x_in[i * d..(i + 1) * d], ge);
                        dsum += en.dpre;
                        l1w += en.l1;
                    }
                    let dec = &p.w_dec[j_ * d..(j_ + 1) * d];
                    if gated_or_relu && l1w != 0.0 && dec_norms[j_] > 0.0 {
                        axpy(lambda * l1w / (n as f32 * dec_norms[j_]), dec, gd);
                    }
                    if normalize_dec {
                        // Remove the component parallel to the (unit) decoder row.
                        let c = dot(gd, dec);
                        axpy(-c, dec, gd);
                    }
                    (j, dsum)
                })
                .collect()
        };
        let mut g_benc = vec![0.0f32; m];
        let mut g_bdec = vec![0.0f32; d];
        for r in g_xhat.chunks(d) {
            g_bdec.iter_mut().zip(r).for_each(|(g, v)| *g += v);
        }
        for &(j, s) in &sums {
            let j_ = j as usize;
            g_benc[j_] = if arch == Architecture::Gated {
                g_bgate[j_]
            } else {
                s
            };
            if cfg.apply_b_dec_to_input {
                axpy(-s, p.enc_row(j_), &mut g_bdec);
            }
        }

        let code = fwd.code;
        Ok(Pass {
            loss,
            fvu,
            aux_loss,
            k,
            code,
            active,
            g_benc,
            g_bdec,
            g_theta,
            g_rmag,
            g_bmag,
        })
    }
}

/// The loss of a batch and its gradients ([`Trainer::gradients`]); arrays an architecture does
/// not have are empty. `log_threshold` is JumpReLU's straight-through gradient.
#[derive(Clone, Debug, PartialEq)]
pub struct Gradients {
    /// The loss.
    pub loss: f64,
    /// `[d_sae, d_in]`.
    pub w_enc: Vec<f32>,
    /// `d_sae` (Gated: the gate bias).
    pub b_enc: Vec<f32>,
    /// `[d_sae, d_in]`.
    pub w_dec: Vec<f32>,
    /// `d_in`.
    pub b_dec: Vec<f32>,
    /// JumpReLU: per latent, with respect to `log θ`.
    pub log_threshold: Vec<f32>,
    /// Gated.
    pub r_mag: Vec<f32>,
    /// Gated.
    pub b_mag: Vec<f32>,
}

/// The result of [`Trainer::pass`] besides the row gradients.
struct Pass {
    loss: f64,
    fvu: f64,
    aux_loss: f64,
    k: usize,
    code: SparseCode,
    active: Vec<u32>,
    g_benc: Vec<f32>,
    g_bdec: Vec<f32>,
    g_theta: Vec<f32>,
    g_rmag: Vec<f32>,
    g_bmag: Vec<f32>,
}

/// Scales a row to unit norm (rows of norm 0 stay 0).
fn unit_norm(r: &mut [f32]) {
    let n = dot(r, r).sqrt();
    if n > 0.0 {
        r.iter_mut().for_each(|v| *v /= n);
    }
}

/// Hands out disjoint mutable rows of one array to parallel tasks, each row to at most one task.
struct RowsMut<'a> {
    ptr: *mut f32,
    len: usize,
    d: usize,
    _borrow: std::marker::PhantomData<&'a mut [f32]>,
}

// SAFETY: `RowsMut` is a raw view of a `&mut [f32]` borrowed for its lifetime by `new`; tasks
// receive disjoint rows (see `row`), so sharing it across threads cannot alias a write.
unsafe impl Sync for RowsMut<'_> {}
// SAFETY: as for `Sync`: the view owns its exclusive borrow.
unsafe impl Send for RowsMut<'_> {}

impl<'a> RowsMut<'a> {
    fn new(v: &'a mut [f32], d: usize) -> Self {
        RowsMut {
            ptr: v.as_mut_ptr(),
            len: v.len(),
            d,
            _borrow: std::marker::PhantomData,
        }
    }

    /// Row `j`. Callers must request each row from at most one task at a time (the trainer
    /// iterates over distinct latents).
    #[allow(clippy::mut_from_ref)]
    fn row(&self, j: usize) -> &mut [f32] {
        assert!((j + 1) * self.d <= self.len, "row {j} out of bounds");
        // SAFETY: in bounds (asserted); rows are disjoint and each is handed to one task (the
        // latents of `active` are distinct), so no two live `&mut` overlap.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(j * self.d), self.d) }
    }
}
