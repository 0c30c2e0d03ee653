//! Value types: `f32`, `f64`, `half::f16`, `half::bf16`.

use std::fmt::Debug;

/// A stored value type. Arithmetic in kernels happens in f32 (or f64 for references); this
/// trait only moves values in and out.
pub trait Scalar:
    Copy + PartialEq + PartialOrd + Debug + Default + Send + Sync + bytemuck::Pod + 'static
{
    /// Type name as in NumPy / safetensors (`"f32"`, `"f16"`, …).
    const NAME: &'static str;
    /// Zero.
    const ZERO: Self;
    /// One.
    const ONE: Self;
    /// The value as f64 (exact for every implementing type).
    fn to_f64(self) -> f64;
    /// `v` rounded to this type: to nearest, ties to even, in one correct rounding for every
    /// type (for f16 and bf16 too, see [`round_to_odd_f32`]; `half`'s own `from_f64` is not:
    /// it rounds through f32 on x86 with F16C and ignores the low 32 bits of the f64 elsewhere).
    fn from_f64(v: f64) -> Self;
    /// The value as f32 (rounded for f64).
    fn to_f32(self) -> f32;
    /// `v` rounded to this type.
    fn from_f32(v: f32) -> Self;
    /// Sum in this type (used to merge duplicate entries).
    fn add(self, other: Self) -> Self;
    /// |self| as f64 (for magnitude thresholds and top-k).
    fn magnitude(self) -> f64 {
        self.to_f64().abs()
    }
    /// Whether the value equals zero (true for both +0 and −0; false for NaN).
    fn is_zero(self) -> bool {
        self.to_f64() == 0.0
    }
}

macro_rules! impl_native {
    ($t:ty, $name:expr) => {
        impl Scalar for $t {
            const NAME: &'static str = $name;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f32(self) -> f32 {
                self as f32
            }
            #[inline(always)]
            fn from_f32(v: f32) -> Self {
                v as $t
            }
            #[inline(always)]
            fn add(self, other: Self) -> Self {
                self + other
            }
        }
    };
}
impl_native!(f32, "f32");
impl_native!(f64, "f64");

/// `v` rounded to f32 *to odd*: exact when f32 holds `v`, else whichever of the two f32
/// neighbours of `v` has an odd last significand bit (beyond f32's range: ±`f32::MAX`; below
/// it: ± the smallest subnormal). NaN stays NaN.
///
/// Rounding to odd keeps the information that `v` was not exact, so rounding the result once
/// more, to nearest even into a format at least two bits narrower (f16: 11 bits, bf16: 8, both
/// with exponent ranges inside f32's), gives exactly the correctly rounded `v` (Boldo &
/// Melquiond, "Emulation of FMA and correctly rounded sums: proved algorithms using rounding to
/// odd", IEEE TC 2008). Plain `v as f32` would round twice: 1 + 2⁻¹¹ + 2⁻⁴⁰ goes to
/// 1 + 2⁻¹¹ in f32, a tie that f16 then rounds down to 1, not up to 1 + 2⁻¹⁰.
///
/// ```
/// use sparsekit_formats::{scalar::round_to_odd_f32, Scalar};
/// let v = 1.0 + 2f64.powi(-11) + 2f64.powi(-40);
/// assert_eq!(round_to_odd_f32(v), 1.0 + 2f32.powi(-11) + 2f32.powi(-23));
/// assert_eq!(<half::f16 as Scalar>::from_f64(v).to_f64(), 1.0 + 2f64.powi(-10));
/// assert_eq!(round_to_odd_f32(1e300), f32::MAX);
/// assert_eq!(round_to_odd_f32(0.5), 0.5);
/// ```
pub fn round_to_odd_f32(v: f64) -> f32 {
    let f = v as f32; // to nearest even: one of the two neighbours
    if f as f64 == v || v.is_nan() {
        return f;
    }
    let bits = f.to_bits();
    if bits & 1 == 1 {
        return f;
    }
    // The other neighbour: one step of the magnitude towards `v` (sign-magnitude bits; f = ±inf
    // steps down to ±MAX, f = ±0 up to ± the smallest subnormal).
    let f_bits = if (f as f64).abs() > v.abs() {
        bits - 1
    } else {
        bits + 1
    };
    f32::from_bits(f_bits)
}

macro_rules! impl_half {
    ($t:ty, $name:expr) => {
        impl Scalar for $t {
            const NAME: &'static str = $name;
            const ZERO: Self = <$t>::ZERO;
            const ONE: Self = <$t>::ONE;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self.to_f64()
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                // Round to odd to f32 (24 bits ≥ 11 + 2 and 8 + 2), then to nearest even: one
                // correct rounding of `v` (half's f32 conversions are correctly rounded).
                <$t>::from_f32(round_to_odd_f32(v))
            }
            #[inline(always)]
            fn to_f32(self) -> f32 {
                self.to_f32()
            }
            #[inline(always)]
            fn from_f32(v: f32) -> Self {
                <$t>::from_f32(v)
            }
            #[inline(always)]
            fn add(self, other: Self) -> Self {
                <$t>::from_f32(self.to_f32() + other.to_f32())
            }
        }
    };
}
impl_half!(half::f16, "f16");
impl_half!(half::bf16, "bf16");
