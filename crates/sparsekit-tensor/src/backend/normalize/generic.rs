//! The sparse normalisers written with backend ops (any backend; used by Cube, i.e. wgpu and
//! CUDA).
//!
//! **Forward.** On the shifted scale `z' = (α−1)(z − max z)` the threshold lies in `[−1, 0]`
//! (`Σp ≥ 1` at `τ = −1`, since the maximum alone gives 1; `Σp = 0` at `τ = 0`). [`BISECTION`]
//! halvings of that bracket (the bracket is the same for every row, so each step is a scalar
//! `dm`; after ~30 halvings f32 no longer moves `τ`) keep the largest `τ_lo` with `Σp ≥ 1`. Then
//! - sparsemax and 1.5-entmax: the support is `{z' > τ_lo}` and the threshold is recomputed
//!   exactly from its count, sum and sum of squares (sparsemax `τ = (Σz' − 1)/k`; 1.5-entmax
//!   `τ = mean − sqrt(max(0, (1 − (Σz'² − (Σz')²/k))/k))`, the package's formula);
//! - general α: `p = relu(z' − τ_lo)^{1/(α−1)}`, then `p /= Σp` (the package's `ensure_sum_one`).
//!
//! `−∞` entries stay `−∞` in `z'` (the row maximum is clamped to a finite value so that a fully
//! masked row gives `−∞ − max = −∞`, not NaN), so they get 0; every division is by a
//! denominator clamped away from zero, so a row without support gives zeros.
//!
//! **Backward.** The closed forms: `g = p^{2−α}` on the support (`[p > 0]` for sparsemax, `√p`
//! for 1.5-entmax), `dz = g⊙dp − (Σg·dp/Σg)·g`; `∂L/∂α` as the package's
//! `EntmaxBisectFunction.backward` (see [`alpha_grad`]).
//!
//! Cost: `O(BISECTION · rows · n)` elementwise work in ~8 kernel launches per halving. A fused
//! CubeCL kernel (one workgroup per row) is the speed follow-up.

use burn::backend::tensor::{BoolTensor, FloatTensor};
use burn::backend::{Backend, TensorMetadata};
use burn::tensor::{BoolDType, FloatDType, Shape};
use burn_backend::get_or_init_device_settings;

use super::Normalizer;

/// Halvings of the `[−1, 0]` threshold bracket.
pub const BISECTION: usize = 40;

const TINY: f32 = f32::MIN_POSITIVE;

/// α as a scalar (from the [`Normalizer`]) or one per row (`[rows, 1]`).
enum Alpha<B: Backend> {
    Scalar(f32),
    Rows(FloatTensor<B>),
}

impl<B: Backend> Alpha<B> {
    fn of(kind: Normalizer, alpha: Option<FloatTensor<B>>) -> Self {
        match alpha {
            Some(a) => Alpha::Rows(a),
            None => Alpha::Scalar(kind.alpha()),
        }
    }
    /// `x · (α − 1)`.
    fn mul_am1(&self, x: FloatTensor<B>) -> FloatTensor<B> {
        match self {
            Alpha::Scalar(a) => B::float_mul_scalar(x, (a - 1.0).into()),
            Alpha::Rows(a) => B::float_mul(x, B::float_sub_scalar(a.clone(), 1.0f32.into())),
        }
    }
    /// `x / (α − 1)`.
    fn div_am1(&self, x: FloatTensor<B>) -> FloatTensor<B> {
        match self {
            Alpha::Scalar(a) => B::float_div_scalar(x, (a - 1.0).into()),
            Alpha::Rows(a) => B::float_div(x, B::float_sub_scalar(a.clone(), 1.0f32.into())),
        }
    }
    /// `x^e` elementwise for `x > 0` (0 where `x ≤ 0`), with `e = f(α)` per row or scalar.
    fn pow_pos(
        &self,
        x: FloatTensor<B>,
        e: impl Fn(f32) -> f32,
        et: impl Fn(FloatTensor<B>) -> FloatTensor<B>,
    ) -> FloatTensor<B> {
        let off = B::float_lower_equal_elem(x.clone(), 0.0f32.into(), bool_dtype::<B>(&x));
        let xc = B::float_clamp_min(x, TINY.into());
        let y = match self {
            Alpha::Scalar(a) => B::float_powf_scalar(xc, e(*a).into()),
            Alpha::Rows(a) => {
                let shape = xc.shape();
                let ex = B::float_expand(et(a.clone()), shape);
                B::float_powf(xc, ex)
            }
        };
        B::float_mask_fill(y, off, 0.0f32.into())
    }
}

fn bool_dtype<B: Backend>(t: &FloatTensor<B>) -> BoolDType {
    get_or_init_device_settings::<B>(&t.device()).bool_dtype
}

fn float_dtype<B: Backend>(t: &FloatTensor<B>) -> FloatDType {
    FloatDType::from(t.dtype())
}

fn dims<B: Backend>(t: &FloatTensor<B>, what: &str) -> (usize, usize) {
    let s = t.shape();
    assert_eq!(
        s.num_dims(),
        2,
        "sparsekit-tensor: normalize: {what} must be 2-D, got {s:?}"
    );
    (s[0], s[1])
}

fn zeros<B: Backend>(like: &FloatTensor<B>, shape: [usize; 2]) -> FloatTensor<B> {
    B::float_zeros(
        Shape::from(shape.to_vec()),
        &like.device(),
        float_dtype::<B>(like),
    )
}

fn row_sum<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    B::float_sum_dim(x, 1)
}

fn to_float<B: Backend>(m: BoolTensor<B>, like: &FloatTensor<B>) -> FloatTensor<B> {
    B::bool_into_float(m, float_dtype::<B>(like))
}

/// `relu(x)^{1/(α−1)}` (exact for sparsemax and 1.5-entmax).
fn p_of<B: Backend>(kind: Normalizer, alpha: &Alpha<B>, x: FloatTensor<B>) -> FloatTensor<B> {
    match (kind, alpha) {
        (Normalizer::Sparsemax, Alpha::Scalar(_)) => B::float_clamp_min(x, 0.0f32.into()),
        (Normalizer::Entmax15, Alpha::Scalar(_)) => {
            let r = B::float_clamp_min(x, 0.0f32.into());
            B::float_mul(r.clone(), r)
        }
        _ => alpha.pow_pos(
            x,
            |a| 1.0 / (a - 1.0),
            |a| B::float_recip(B::float_sub_scalar(a, 1.0f32.into())),
        ),
    }
}

/// `p = map(z)` row-wise.
pub(crate) fn forward<B: Backend>(
    z: FloatTensor<B>,
    kind: Normalizer,
    alpha: Option<FloatTensor<B>>,
) -> FloatTensor<B> {
    let (r, n) = dims::<B>(&z, "z");
    if r * n == 0 {
        return zeros::<B>(&z, [r, n]);
    }
    let alpha = Alpha::<B>::of(kind, alpha);
    // Clamped so that a fully masked row gives −∞ − max = −∞ (not NaN).
    let max = B::float_clamp_min(B::float_max_dim(z.clone(), 1), f32::MIN.into());
    let zs = alpha.mul_am1(B::float_sub(z, max));
    let mut lo = B::float_full(
        Shape::from(vec![r, 1]),
        (-1.0f32).into(),
        &zs.device(),
        float_dtype::<B>(&zs),
    );
    let mut dm = 1.0f32;
    for _ in 0..BISECTION {
        dm /= 2.0;
        let tm = B::float_add_scalar(lo.clone(), dm.into());
        let p = p_of::<B>(kind, &alpha, B::float_sub(zs.clone(), tm));
        let f = B::float_sub_scalar(row_sum::<B>(p), 1.0f32.into());
        let up = to_float::<B>(
            B::float_greater_equal_elem(f.clone(), 0.0f32.into(), bool_dtype::<B>(&f)),
            &f,
        );
        lo = B::float_add(lo, B::float_mul_scalar(up, dm.into()));
    }
    match (kind, &alpha) {
        (Normalizer::Sparsemax | Normalizer::Entmax15, Alpha::Scalar(_)) => {
            let lo = B::float_expand(lo, zs.shape());
            let off = B::float_lower_equal(zs.clone(), lo, bool_dtype::<B>(&zs));
            let on = to_float::<B>(B::bool_not(off.clone()), &zs);
            let k = B::float_clamp_min(row_sum::<B>(on), 1.0f32.into());
            let zin = B::float_mask_fill(zs.clone(), off, 0.0f32.into());
            let s1 = row_sum::<B>(zin.clone());
            let tau = if kind == Normalizer::Sparsemax {
                B::float_div(B::float_sub_scalar(s1, 1.0f32.into()), k)
            } else {
                let s2 = row_sum::<B>(B::float_mul(zin.clone(), zin));
                let mean = B::float_div(s1.clone(), k.clone());
                // ss = Σz'² − (Σz')²/k; delta = (1 − ss)/k.
                let ss = B::float_sub(s2, B::float_mul(mean.clone(), s1));
                let delta = B::float_div(B::float_neg(B::float_sub_scalar(ss, 1.0f32.into())), k);
                B::float_sub(
                    mean,
                    B::float_sqrt(B::float_clamp_min(delta, 0.0f32.into())),
                )
            };
            p_of::<B>(kind, &alpha, B::float_sub(zs, tau))
        }
        _ => {
            let p = p_of::<B>(kind, &alpha, B::float_sub(zs, lo));
            let s = B::float_clamp_min(row_sum::<B>(p.clone()), TINY.into());
            B::float_div(p, s)
        }
    }
}

/// `g = p^{2−α}` on the support, 0 off it.
fn gppr<B: Backend>(kind: Normalizer, alpha: &Alpha<B>, p: FloatTensor<B>) -> FloatTensor<B> {
    match (kind, alpha) {
        (Normalizer::Sparsemax, Alpha::Scalar(_)) => {
            let on = B::float_greater_elem(p.clone(), 0.0f32.into(), bool_dtype::<B>(&p));
            to_float::<B>(on, &p)
        }
        (Normalizer::Entmax15, Alpha::Scalar(_)) => {
            B::float_sqrt(B::float_clamp_min(p, 0.0f32.into()))
        }
        _ => alpha.pow_pos(
            p,
            |a| 2.0 - a,
            |a| B::float_neg(B::float_sub_scalar(a, 2.0f32.into())),
        ),
    }
}

/// `dz = g⊙dp − (Σg·dp/Σg)·g`.
pub(crate) fn backward<B: Backend>(
    p: FloatTensor<B>,
    dp: FloatTensor<B>,
    kind: Normalizer,
    alpha: Option<FloatTensor<B>>,
) -> FloatTensor<B> {
    let (r, n) = dims::<B>(&p, "p");
    if r * n == 0 {
        return zeros::<B>(&p, [r, n]);
    }
    let alpha = Alpha::<B>::of(kind, alpha);
    let g = gppr::<B>(kind, &alpha, p);
    let gdp = B::float_mul(g.clone(), dp);
    let sg = B::float_clamp_min(row_sum::<B>(g.clone()), TINY.into());
    let q = B::float_div(row_sum::<B>(gdp.clone()), sg);
    B::float_sub(gdp, B::float_mul(g, q))
}

/// `∂L/∂α` per row: with `ŷ = g/Σg`, `S = p·ln p`, `H = ΣS`,
/// `dα = Σ dp·(p − ŷ)/(α−1)² − Σ dp·(S − ŷ·H)/(α−1)`; 0 for a row without support.
pub(crate) fn alpha_grad<B: Backend>(
    p: FloatTensor<B>,
    dp: FloatTensor<B>,
    alpha: FloatTensor<B>,
) -> FloatTensor<B> {
    let (r, n) = dims::<B>(&p, "p");
    if r * n == 0 {
        return zeros::<B>(&p, [r, 1]);
    }
    let alpha = Alpha::<B>::Rows(alpha);
    // `kind` only matters for the scalar fast paths; α is per row here.
    let g = gppr::<B>(Normalizer::Entmax { alpha: 0.0 }, &alpha, p.clone());
    let sg = B::float_clamp_min(row_sum::<B>(g.clone()), TINY.into());
    let ys = B::float_div(g, sg);
    let off = B::float_lower_equal_elem(p.clone(), 0.0f32.into(), bool_dtype::<B>(&p));
    let s = B::float_mul(
        p.clone(),
        B::float_log(B::float_clamp_min(p.clone(), TINY.into())),
    );
    let s = B::float_mask_fill(s, off, 0.0f32.into());
    let h = row_sum::<B>(s.clone());
    let t1 = row_sum::<B>(B::float_mul(dp.clone(), B::float_sub(p, ys.clone())));
    let t2 = row_sum::<B>(B::float_mul(dp, B::float_sub(s, B::float_mul(ys, h))));
    B::float_sub(alpha.div_am1(alpha.div_am1(t1)), alpha.div_am1(t2))
}
