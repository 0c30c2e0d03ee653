//! `Scalar::from_f64` for f16 and bf16 is one correct rounding (to nearest, ties to even) of the
//! f64, checked against an independent reference: every finite half value in order, and the
//! midpoint of each neighbouring pair (exact in f64) decides. The inputs are the hard ones —
//! every tie, a tie ± one f64 ulp, ± far below f32's precision (where rounding through f32, or
//! ignoring the low 32 bits of the f64, goes wrong), the overflow threshold, the subnormals —
//! plus random f64 values.

use half::{bf16, f16};
use rand::{Rng, SeedableRng};
use sparsekit_formats::Scalar;

/// Every positive finite value of a 16-bit float type, in increasing order (as f64, exactly),
/// with its bits.
fn positive_values<T: Scalar>(from_bits: impl Fn(u16) -> T) -> Vec<(f64, u16)> {
    (0u16..0x8000)
        .map(|b| (from_bits(b).to_f64(), b))
        .take_while(|(v, _)| v.is_finite())
        .collect()
}

/// The reference: the bits of `v` rounded to nearest even among `vals` (positive, increasing),
/// ±inf (`inf_bits`) at or beyond the overflow threshold `max + ulp/2`.
fn reference(vals: &[(f64, u16)], inf_bits: u16, v: f64) -> u16 {
    assert!(!v.is_nan());
    let sign = if v.is_sign_negative() { 0x8000 } else { 0 };
    let a = v.abs();
    let (max, max_bits) = *vals.last().unwrap();
    let threshold = max + (max - vals[vals.len() - 2].0) / 2.0;
    if a >= threshold {
        return sign | inf_bits;
    }
    if a >= max {
        return sign | max_bits;
    }
    // vals[i].0 <= a < vals[i + 1].0
    let i = vals.partition_point(|&(x, _)| x <= a) - 1;
    let ((lo, lb), (hi, hb)) = (vals[i], vals[i + 1]);
    let mid = (lo + hi) / 2.0; // exact: both have ≤ 11 significant bits
    let bits = if a < mid || (a == mid && lb & 1 == 0) {
        lb
    } else {
        hb
    };
    sign | bits
}

/// One f64 ulp up / down (finite, non-zero, positive `x`).
fn next_up(x: f64) -> f64 {
    f64::from_bits(x.to_bits() + 1)
}
fn next_down(x: f64) -> f64 {
    f64::from_bits(x.to_bits() - 1)
}

/// The inputs where `convert` disagrees with the reference (at most 10, described), and how many
/// inputs were checked.
fn mismatches<T: Scalar>(
    from_bits: impl Fn(u16) -> T + Copy,
    to_bits: impl Fn(T) -> u16,
    convert: impl Fn(f64) -> T,
) -> (Vec<String>, usize) {
    let vals = positive_values(from_bits);
    let inf_bits = (0u16..0x8000)
        .find(|&b| from_bits(b).to_f64() == f64::INFINITY)
        .unwrap();
    let mut inputs: Vec<f64> = Vec::new();
    for w in vals.windows(2) {
        let (lo, hi) = (w[0].0, w[1].0);
        let mid = (lo + hi) / 2.0;
        for d in [
            0.0,
            1e-6,
            1e-9,
            2f64.powi(-30),
            2f64.powi(-40),
            2f64.powi(-50),
        ] {
            let delta = (hi - lo) * d;
            inputs.extend([mid + delta, mid - delta]);
        }
        inputs.extend([next_up(mid), next_down(mid), lo, next_up(lo), next_down(hi)]);
    }
    let (max, before) = (vals[vals.len() - 1].0, vals[vals.len() - 2].0);
    let threshold = max + (max - before) / 2.0;
    inputs.extend([
        threshold,
        next_down(threshold),
        next_up(threshold),
        1e300,
        f64::MAX,
    ]);
    inputs.extend([f64::MIN_POSITIVE, 5e-324, 1e-300]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..200_000 {
        // Random bits over the whole range, and random values near 1.
        inputs.push(f64::from_bits(rng.random::<u64>() >> 1));
        inputs.push(rng.random::<f64>() * 4.0);
    }
    let mut wrong = Vec::new();
    for &a in &inputs {
        if a.is_nan() {
            continue;
        }
        for v in [a, -a] {
            let got = to_bits(convert(v));
            let want = reference(&vals, inf_bits, v);
            if got != want && wrong.len() < 10 {
                wrong.push(format!("{v:e}: got {got:#06x}, want {want:#06x}"));
            }
        }
    }
    (wrong, inputs.len() * 2)
}

fn check<T: Scalar>(
    name: &str,
    from_bits: impl Fn(u16) -> T + Copy,
    to_bits: impl Fn(T) -> u16 + Copy,
) {
    let (wrong, n) = mismatches(from_bits, to_bits, T::from_f64);
    assert!(
        wrong.is_empty(),
        "{name}: {n} inputs checked, wrong: {wrong:#?}"
    );
    let inf_bits = (0u16..0x8000)
        .find(|&b| from_bits(b).to_f64() == f64::INFINITY)
        .unwrap();
    // Zeros keep their sign, infinities stay, NaN stays NaN.
    assert_eq!(to_bits(T::from_f64(0.0)), 0);
    assert_eq!(to_bits(T::from_f64(-0.0)), 0x8000);
    assert_eq!(to_bits(T::from_f64(f64::INFINITY)), inf_bits);
    assert_eq!(to_bits(T::from_f64(f64::NEG_INFINITY)), 0x8000 | inf_bits);
    assert!(T::from_f64(f64::NAN).to_f64().is_nan());
}

/// The reference has teeth: rounding twice (through f32) disagrees with it somewhere.
#[test]
fn rounding_through_f32_is_caught() {
    let (wrong, _) = mismatches(f16::from_bits, f16::to_bits, |v| f16::from_f32(v as f32));
    assert!(!wrong.is_empty());
    let (wrong, _) = mismatches(bf16::from_bits, bf16::to_bits, |v| bf16::from_f32(v as f32));
    assert!(!wrong.is_empty());
}

#[test]
fn f16_from_f64_is_one_correct_rounding() {
    check("f16", f16::from_bits, f16::to_bits);
}

#[test]
fn bf16_from_f64_is_one_correct_rounding() {
    check("bf16", bf16::from_bits, bf16::to_bits);
}

/// The two cases the module docs name: just above a tie, the excess far below f32's precision.
#[test]
fn ties_with_sticky_bits_round_up() {
    let f16_case = 1.0 + 2f64.powi(-11) + 2f64.powi(-40);
    assert_eq!(<f16 as Scalar>::from_f64(f16_case).to_bits(), 0x3C01);
    let bf16_case = 1.0 + 2f64.powi(-8) + 2f64.powi(-40);
    assert_eq!(<bf16 as Scalar>::from_f64(bf16_case).to_bits(), 0x3F81);
    // Exact ties go to even.
    assert_eq!(
        <f16 as Scalar>::from_f64(1.0 + 2f64.powi(-11)).to_bits(),
        0x3C00
    );
    assert_eq!(
        <bf16 as Scalar>::from_f64(1.0 + 2f64.powi(-8)).to_bits(),
        0x3F80
    );
}
