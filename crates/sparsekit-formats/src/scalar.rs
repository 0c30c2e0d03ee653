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
    /// `v` rounded to this type.
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
                <$t>::from_f64(v)
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
