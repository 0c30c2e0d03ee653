//! One row of the sparse normalisers: forward (threshold search on the candidates), backward and
//! the α-gradient. The public entry points in [`super`] check shapes and run these over rows.

/// The map of one row: the exact sparsemax / 1.5-entmax or α-entmax by root finding.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RowMap {
    Sparsemax,
    Entmax15,
    Bisect { alpha: f64 },
}

impl RowMap {
    /// `α − 1`: the scale applied to the logits (`p = relu((α−1)z − τ)^{1/(α−1)}`).
    fn scale(self) -> f64 {
        match self {
            RowMap::Sparsemax => 1.0,
            RowMap::Entmax15 => 0.5,
            RowMap::Bisect { alpha } => alpha - 1.0,
        }
    }
}

/// Lanes of the O(n) passes: plain chunked loops that LLVM vectorises (max, compares, sqrt).
const L: usize = 16;

/// Row maximum ignoring NaN, and whether the row holds a NaN.
#[inline]
pub(crate) fn row_max(z: &[f32]) -> (f32, bool) {
    let mut m = [f32::NEG_INFINITY; L];
    let mut nan = [0u32; L];
    let chunks = z.chunks_exact(L);
    let tail = chunks.remainder();
    for c in chunks {
        for l in 0..L {
            let v = c[l];
            m[l] = if v > m[l] { v } else { m[l] };
            nan[l] |= v.is_nan() as u32;
        }
    }
    let mut mx = f32::NEG_INFINITY;
    let mut any_nan = false;
    for l in 0..L {
        mx = if m[l] > mx { m[l] } else { mx };
        any_nan |= nan[l] != 0;
    }
    for &v in tail {
        mx = if v > mx { v } else { mx };
        any_nan |= v.is_nan();
    }
    (mx, any_nan)
}

/// Scratch reused across the rows of one thread.
#[derive(Default)]
pub(crate) struct RowScratch {
    /// `(column, (α−1)(z − max))` of the candidates.
    cand: Vec<(u32, f64)>,
    /// Working values of the threshold search.
    vals: Vec<f64>,
}

/// `p = map(z)` for one row. A row holding NaN or `+∞` becomes all NaN; a row without a finite
/// entry (empty, or every entry `−∞`) becomes all zeros.
pub(crate) fn forward_row(map: RowMap, z: &[f32], p: &mut [f32], s: &mut RowScratch) {
    let (m, nan) = row_max(z);
    if nan || m == f32::INFINITY {
        p.fill(f32::NAN);
        return;
    }
    if m == f32::NEG_INFINITY {
        p.fill(0.0);
        return;
    }
    let scale = map.scale();
    let mf = m as f64;
    // τ* ≥ −1 on the shifted scale (the largest entry has p ≤ 1), so only entries with
    // (α−1)(z − max) > −1 can be in the support. The f32 cut is lowered by a few ulps so that
    // rounding never drops a candidate; the exact test is the f64 one below.
    let cut = mf - 1.0 / scale;
    let cut_f = (cut - cut.abs() * 8.0 * f32::EPSILON as f64) as f32;
    s.cand.clear();
    for (j, &v) in z.iter().enumerate() {
        if v > cut_f {
            let x = scale * (v as f64 - mf);
            if x > -1.0 {
                s.cand.push((j as u32, x));
            }
        }
    }
    p.fill(0.0);
    match map {
        RowMap::Sparsemax => {
            let tau = sparsemax_tau(&s.cand, &mut s.vals);
            for &(j, x) in &s.cand {
                let d = x - tau;
                if d > 0.0 {
                    p[j as usize] = d as f32;
                }
            }
        }
        RowMap::Entmax15 => {
            let tau = entmax15_tau(&s.cand, &mut s.vals);
            for &(j, x) in &s.cand {
                let d = x - tau;
                if d > 0.0 {
                    p[j as usize] = (d * d) as f32;
                }
            }
        }
        RowMap::Bisect { alpha } => {
            let r = 1.0 / (alpha - 1.0);
            let tau = bisect_tau(&s.cand, r);
            // ensure_sum_one, as the reference package does.
            s.vals.clear();
            let mut sum = 0.0f64;
            for &(_, x) in &s.cand {
                let d = x - tau;
                let v = if d > 0.0 { d.powf(r) } else { 0.0 };
                sum += v;
                s.vals.push(v);
            }
            for (&(j, _), &v) in s.cand.iter().zip(&s.vals) {
                if v > 0.0 {
                    p[j as usize] = (v / sum) as f32;
                }
            }
        }
    }
}

/// Michelot's projection on the simplex restricted to the candidates: `τ = (Σ_S x − 1)/|S|`,
/// drop `x ≤ τ`, repeat until `S` is stable. Exact (each step keeps the true support, and the
/// final `τ` is the sparsemax threshold); at most `|S|` steps, usually 2–4.
fn sparsemax_tau(cand: &[(u32, f64)], vals: &mut Vec<f64>) -> f64 {
    vals.clear();
    vals.extend(cand.iter().map(|&(_, x)| x));
    loop {
        let k = vals.len();
        let tau = (vals.iter().sum::<f64>() - 1.0) / k as f64;
        vals.retain(|&x| x > tau);
        if vals.len() == k {
            return tau;
        }
    }
}

/// `τ` of 1.5-entmax on a given support (the package's sorted formula evaluated on `S`):
/// `τ = mean − sqrt(max(0, (1 − |S|·(mean_sq − mean²))/|S|))`, and whether `delta` was clamped.
fn entmax15_tau_on(vals: &[f64]) -> (f64, bool) {
    let k = vals.len() as f64;
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in vals {
        s1 += x;
        s2 += x * x;
    }
    let mean = s1 / k;
    let ss = k * (s2 / k - mean * mean);
    let delta = (1.0 - ss) / k;
    (mean - delta.max(0.0).sqrt(), delta < 0.0)
}

/// 1.5-entmax threshold on the candidates: the Michelot-style iteration with the closed-form
/// quadratic root, then a check that the result satisfies the optimality conditions (no dropped
/// candidate above `τ`, no clamped root); should the check fail, the package's sorted formula over
/// the candidates decides. Either way the returned `τ` is exact.
fn entmax15_tau(cand: &[(u32, f64)], vals: &mut Vec<f64>) -> f64 {
    vals.clear();
    vals.extend(cand.iter().map(|&(_, x)| x));
    let (tau, clamped) = loop {
        let k = vals.len();
        let (tau, clamped) = entmax15_tau_on(vals);
        vals.retain(|&x| x > tau);
        if vals.len() == k || vals.is_empty() {
            break (tau, clamped);
        }
    };
    let support = cand.iter().filter(|&&(_, x)| x > tau).count();
    if !clamped && support == vals.len() && !vals.is_empty() {
        return tau;
    }
    entmax15_tau_sorted(cand, vals)
}

/// The package's formula on the sorted candidates (the fallback of [`entmax15_tau`]).
fn entmax15_tau_sorted(cand: &[(u32, f64)], vals: &mut Vec<f64>) -> f64 {
    vals.clear();
    vals.extend(cand.iter().map(|&(_, x)| x));
    vals.sort_unstable_by(|a, b| b.total_cmp(a));
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut best = f64::NAN;
    for (i, &x) in vals.iter().enumerate() {
        let k = (i + 1) as f64;
        s1 += x;
        s2 += x * x;
        let mean = s1 / k;
        let delta = (1.0 - k * (s2 / k - mean * mean)) / k;
        let tau = mean - delta.max(0.0).sqrt();
        if tau <= x {
            best = tau;
        }
    }
    best
}

/// α-entmax threshold on the candidates (`r = 1/(α−1)`): the root of
/// `f(τ) = Σ (x − τ)₊^r − 1` in the bracket `[−1, −k^{−(α−1)}]` (`k` candidates; `f ≥ 0` at the
/// left end, `≤ 0` at the right), by Newton steps safeguarded with bisection (a step leaving the
/// bracket is replaced by the midpoint). Stops when the bracket stops shrinking, the step is below
/// 1e-15, or after 200 steps (bisection alone reaches f64 resolution in 53). f64 throughout.
fn bisect_tau(cand: &[(u32, f64)], r: f64) -> f64 {
    let k = cand.len() as f64;
    let mut lo = -1.0f64;
    let mut hi = -(1.0 / k).powf(1.0 / r);
    if hi <= lo {
        return lo;
    }
    let mut tau = lo;
    for _ in 0..200 {
        let (mut f, mut df) = (-1.0f64, 0.0f64);
        for &(_, x) in cand {
            let d = x - tau;
            if d > 0.0 {
                let v = d.powf(r);
                f += v;
                df -= r * v / d;
            }
        }
        if f == 0.0 {
            return tau;
        }
        if f > 0.0 {
            lo = tau;
        } else {
            hi = tau;
        }
        let mut next = if df < 0.0 { tau - f / df } else { f64::NAN };
        if !(next > lo && next < hi) {
            next = 0.5 * (lo + hi);
        }
        if next <= lo || next >= hi || (next - tau).abs() <= 1e-15 {
            return next.clamp(lo, hi);
        }
        tau = next;
    }
    tau
}

/// `g = 1/g''(p)` on the support: `1` (sparsemax), `√p` (1.5-entmax), `p^{2−α}`; 0 off it.
#[inline]
fn gppr(map: RowMap, p: f32) -> f64 {
    if p > 0.0 {
        match map {
            RowMap::Sparsemax => 1.0,
            RowMap::Entmax15 => (p as f64).sqrt(),
            RowMap::Bisect { alpha } => (p as f64).powf(2.0 - alpha),
        }
    } else {
        0.0
    }
}

/// `dz = g⊙dp − (Σ g·dp / Σ g)·g` with `g` from [`gppr`]; zeros where the row has no support
/// (fully masked). Off the support `dz = 0` whatever `dp` holds (even ±∞). The support is small,
/// so the branches are predictable and `g` (a `sqrt` or `powf`) is evaluated on it only; measured
/// faster than a branch-free chunked loop over the whole row.
pub(crate) fn backward_row(map: RowMap, p: &[f32], dp: &[f32], dz: &mut [f32]) {
    let (mut s_gd, mut s_g) = (0.0f64, 0.0f64);
    for (&a, &b) in p.iter().zip(dp) {
        if a > 0.0 {
            let gl = gppr(map, a);
            s_gd += gl * b as f64;
            s_g += gl;
        }
    }
    if s_g == 0.0 {
        dz.fill(0.0);
        return;
    }
    let q = s_gd / s_g;
    for ((o, &a), &b) in dz.iter_mut().zip(p).zip(dp) {
        *o = if a > 0.0 {
            (gppr(map, a) * (b as f64 - q)) as f32
        } else {
            0.0
        };
    }
}

/// `∂L/∂α` of one α-entmax row (the formula of the package's `EntmaxBisectFunction.backward`):
/// with `g = p^{2−α}`, `ŷ = g/Σg`, `S = p·ln p`, `H = ΣS`:
/// `Σ dp·(p − ŷ)/(α−1)² − Σ dp·(S − ŷ·H)/(α−1)`. 0 for a row without support.
pub(crate) fn alpha_grad_row(alpha: f64, p: &[f32], dp: &[f32]) -> f64 {
    let (mut sg, mut ent) = (0.0f64, 0.0f64);
    for &a in p {
        if a > 0.0 {
            let a = a as f64;
            sg += a.powf(2.0 - alpha);
            ent += a * a.ln();
        }
    }
    if sg == 0.0 {
        return 0.0;
    }
    let am1 = alpha - 1.0;
    let mut acc = 0.0f64;
    for (&a, &b) in p.iter().zip(dp) {
        if a > 0.0 {
            let a = a as f64;
            let ys = a.powf(2.0 - alpha) / sg;
            let s = a * a.ln();
            acc += b as f64 * ((a - ys) / (am1 * am1) - (s - ys * ent) / am1);
        }
    }
    acc
}
