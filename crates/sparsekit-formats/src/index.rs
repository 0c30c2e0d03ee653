//! Index types for compressed formats: `u32` (default, half the memory traffic) and `u64`
//! (matrices with more than 2³²−1 rows, columns or stored entries).

use std::fmt::Debug;

use crate::error::{FormatError, Result};

/// An unsigned integer type used for row pointers and column indices.
///
/// Implemented for `u32` and `u64`. `usize` conversions are checked where data enters
/// ([`SpIndex::try_from_usize`]); inside validated structures [`SpIndex::index`] is a plain cast.
pub trait SpIndex:
    Copy + Ord + Eq + std::hash::Hash + Debug + Default + Send + Sync + bytemuck::Pod + 'static
{
    /// Type name used in error messages.
    const NAME: &'static str;
    /// Largest value representable, as usize saturating on 32-bit targets.
    const MAX_USIZE: usize;
    /// The value as usize (lossless on 64-bit targets for u64; validated structures never hold
    /// values above `usize::MAX`).
    fn index(self) -> usize;
    /// `n` in this type, or `None` when it does not fit.
    fn from_usize_checked(n: usize) -> Option<Self>;
    /// `n` in this type, or a [`FormatError::IndexTypeOverflow`] naming `what`.
    fn try_from_usize(n: usize, what: &'static str) -> Result<Self> {
        Self::from_usize_checked(n).ok_or(FormatError::IndexTypeOverflow {
            what,
            value: n as u128,
            index_type: Self::NAME,
        })
    }
    /// `n` in this type. Panics if out of range: only for values already known to fit.
    fn from_usize(n: usize) -> Self {
        Self::from_usize_checked(n).expect("index known to fit")
    }
}

impl SpIndex for u32 {
    const NAME: &'static str = "u32";
    const MAX_USIZE: usize = u32::MAX as usize;
    #[inline(always)]
    fn index(self) -> usize {
        self as usize
    }
    #[inline(always)]
    fn from_usize_checked(n: usize) -> Option<Self> {
        u32::try_from(n).ok()
    }
}

impl SpIndex for u64 {
    const NAME: &'static str = "u64";
    const MAX_USIZE: usize = if usize::BITS >= 64 {
        usize::MAX
    } else {
        u64::MAX as usize
    };
    #[inline(always)]
    fn index(self) -> usize {
        self as usize
    }
    #[inline(always)]
    fn from_usize_checked(n: usize) -> Option<Self> {
        u64::try_from(n).ok()
    }
}
