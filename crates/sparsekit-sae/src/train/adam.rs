//! Adam (Kingma & Ba 2015) exactly as `torch.optim.Adam` computes it, dense or lazy.
//!
//! Lazy ("sparse") Adam updates the moments and values of only the rows that received a
//! gradient this step — TensorFlow's `LazyAdam`; bias correction uses the global step. Rows of
//! latents that did not fire keep their moments instead of decaying them, so the two differ
//! only for rows skipped in some steps (measured in the crate README).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Adam's constants.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// β₁ (default 0.9).
    pub beta1: f32,
    /// β₂ (default 0.999).
    pub beta2: f32,
    /// ε (default 1e-8).
    pub eps: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// The moments of one parameter array.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Moments {
    /// First moment.
    pub m: Vec<f32>,
    /// Second moment.
    pub v: Vec<f32>,
}

impl Moments {
    /// Zero moments for `len` values.
    pub fn zeros(len: usize) -> Self {
        Moments {
            m: vec![0.0; len],
            v: vec![0.0; len],
        }
    }
}

/// Per-element update shared by the dense and lazy paths (`t` ≥ 1).
#[inline(always)]
fn update(c: &AdamConfig, lr: f32, t: u64, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    let bc1 = 1.0 - c.beta1.powi(t.min(i32::MAX as u64) as i32);
    let bc2 = (1.0 - c.beta2.powi(t.min(i32::MAX as u64) as i32)).sqrt();
    let step = lr / bc1;
    for i in 0..p.len() {
        let gi = g[i];
        m[i] = c.beta1 * m[i] + (1.0 - c.beta1) * gi;
        v[i] = c.beta2 * v[i] + (1.0 - c.beta2) * gi * gi;
        p[i] -= step * m[i] / (v[i].sqrt() / bc2 + c.eps);
    }
}

/// One dense Adam step at step number `t` (1-based) over every value.
pub(crate) fn step_dense(
    c: &AdamConfig,
    lr: f32,
    t: u64,
    p: &mut [f32],
    g: &[f32],
    s: &mut Moments,
) {
    const BLOCK: usize = 1 << 14;
    p.par_chunks_mut(BLOCK)
        .zip(g.par_chunks(BLOCK))
        .zip(s.m.par_chunks_mut(BLOCK).zip(s.v.par_chunks_mut(BLOCK)))
        .for_each(|((p, g), (m, v))| update(c, lr, t, p, g, m, v));
}

/// One lazy Adam step over the listed rows (each `d` values) only.
#[allow(clippy::too_many_arguments)] // the dense step's arguments plus the rows and their width
pub(crate) fn step_rows(
    c: &AdamConfig,
    lr: f32,
    t: u64,
    p: &mut [f32],
    g: &[f32],
    s: &mut Moments,
    rows: &[u32],
    d: usize,
) {
    // Rows are distinct, so the row slices are disjoint: split with a sorted walk.
    let mut sorted = rows.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut jobs = Vec::with_capacity(sorted.len());
    let (mut prest, mut mrest, mut vrest) = (&mut p[..], &mut s.m[..], &mut s.v[..]);
    let mut base = 0usize;
    for &r in &sorted {
        let off = r as usize * d - base;
        let (_, pt) = std::mem::take(&mut prest).split_at_mut(off);
        let (_, mt) = std::mem::take(&mut mrest).split_at_mut(off);
        let (_, vt) = std::mem::take(&mut vrest).split_at_mut(off);
        let (pr, pt) = pt.split_at_mut(d);
        let (mr, mt) = mt.split_at_mut(d);
        let (vr, vt) = vt.split_at_mut(d);
        jobs.push((r as usize, pr, mr, vr));
        prest = pt;
        mrest = mt;
        vrest = vt;
        base = (r as usize + 1) * d;
    }
    jobs.into_par_iter()
        .with_min_len(64)
        .for_each(|(r, p, m, v)| update(c, lr, t, p, &g[r * d..(r + 1) * d], m, v));
}
