//! [`Mask`]: a bit-packed boolean matrix, what pruning criteria produce and what dense → sparse
//! conversions (`Select::Mask`) consume.

use serde::{Deserialize, Serialize};

use crate::compressed;
use crate::csr::CsrPattern;
use crate::error::{checked_size, try_vec, try_with_capacity, FormatError, Result};
use crate::index::SpIndex;

/// A boolean `nrows × ncols` matrix packed 64 entries per `u64` word.
///
/// Layout: row-major, **each row starts on a new word**: row `i` occupies
/// `words[i·wpr .. (i+1)·wpr]` with `wpr = ceil(ncols / 64)` ([`Mask::words_per_row`]), and entry
/// `(i, j)` is bit `j % 64` (least significant first) of word `i·wpr + j / 64`. Row-aligned words
/// make row operations (counting, CSR extraction, row-wise top-k) word-parallel.
///
/// Invariants (always checked on construction from outside data, including deserialization):
/// - `words.len() == nrows · wpr`, and `nrows * ncols` fits in `usize`;
/// - the unused high bits of each row's last word are zero (so [`Mask::count_ones`] and equality
///   are exact).
///
/// ```
/// use sparsekit_formats::{Mask, CsrPattern};
/// let mut m = Mask::new(2, 3)?;
/// m.set(0, 2, true);
/// m.set(1, 0, true);
/// assert!(m.get(0, 2) && !m.get(0, 0));
/// assert_eq!(m.count_ones(), 2);
/// let p: CsrPattern<u32> = m.to_csr_pattern()?;
/// assert_eq!(p.col_idx(), &[2, 0]);
/// assert_eq!(Mask::from_pattern(&p)?, m);
/// assert_eq!(m.not().count_ones(), 4);
/// # Ok::<(), sparsekit_formats::FormatError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawMask")]
pub struct Mask {
    nrows: usize,
    ncols: usize,
    words: Vec<u64>,
}

#[derive(Deserialize)]
struct RawMask {
    nrows: usize,
    ncols: usize,
    words: Vec<u64>,
}

impl TryFrom<RawMask> for Mask {
    type Error = FormatError;
    fn try_from(r: RawMask) -> Result<Self> {
        Mask::try_new(r.nrows, r.ncols, r.words)
    }
}

/// Words per row for `ncols` columns.
#[inline]
fn wpr(ncols: usize) -> usize {
    ncols.div_ceil(64)
}

/// Bits in use in the last word of a row (all 64 when `ncols % 64 == 0`).
#[inline]
fn tail_mask(ncols: usize) -> u64 {
    match ncols % 64 {
        0 => u64::MAX,
        r => (1u64 << r) - 1,
    }
}

impl Mask {
    /// An all-false `nrows × ncols` mask. Errors if the shape overflows or cannot be allocated.
    pub fn new(nrows: usize, ncols: usize) -> Result<Self> {
        checked_size(nrows, ncols, "mask shape")?;
        let len = nrows * wpr(ncols); // ≤ nrows·ncols
        Ok(Mask {
            nrows,
            ncols,
            words: try_vec(len, 0u64, "mask words")?,
        })
    }

    /// An all-true `nrows × ncols` mask.
    pub fn ones(nrows: usize, ncols: usize) -> Result<Self> {
        Ok(Mask::new(nrows, ncols)?.not())
    }

    /// Validates packed words (length and zero padding bits). O(words).
    pub fn try_new(nrows: usize, ncols: usize, words: Vec<u64>) -> Result<Self> {
        checked_size(nrows, ncols, "mask shape")?;
        let w = wpr(ncols);
        let len = nrows * w;
        if words.len() != len {
            return Err(FormatError::len("words", len, words.len()));
        }
        if w > 0 {
            let tail = tail_mask(ncols);
            for i in 0..nrows {
                let last = words[i * w + w - 1];
                if last & !tail != 0 {
                    return Err(FormatError::Structure(format!(
                        "mask row {i}: bits set beyond ncols {ncols} in its last word"
                    )));
                }
            }
        }
        Ok(Mask {
            nrows,
            ncols,
            words,
        })
    }

    /// Packs a row-major boolean slice of length `nrows · ncols`.
    pub fn from_bools(bools: &[bool], nrows: usize, ncols: usize) -> Result<Self> {
        let total = checked_size(nrows, ncols, "mask shape")?;
        if bools.len() != total {
            return Err(FormatError::len("bools", total, bools.len()));
        }
        let w = wpr(ncols);
        let mut words = vec![0u64; nrows * w];
        if ncols > 0 {
            for (i, row) in bools.chunks_exact(ncols).enumerate() {
                for (j, &b) in row.iter().enumerate() {
                    words[i * w + j / 64] |= (b as u64) << (j % 64);
                }
            }
        }
        Ok(Mask {
            nrows,
            ncols,
            words,
        })
    }

    /// The mask of stored entries of a CSR pattern. O(nrows · ncols / 64 + nnz).
    pub fn from_pattern<I: SpIndex>(pattern: &CsrPattern<I>) -> Result<Self> {
        let mut m = Mask::new(pattern.nrows(), pattern.ncols())?;
        let w = m.words_per_row();
        for i in 0..pattern.nrows() {
            for &j in pattern.row(i) {
                let j = j.index();
                m.words[i * w + j / 64] |= 1 << (j % 64);
            }
        }
        Ok(m)
    }

    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.nrows
    }
    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.ncols
    }
    /// `(nrows, ncols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.nrows, self.ncols)
    }
    /// `ceil(ncols / 64)`.
    pub fn words_per_row(&self) -> usize {
        wpr(self.ncols)
    }
    /// The packed words (layout on the type).
    pub fn words(&self) -> &[u64] {
        &self.words
    }
    /// The words of row `i`. Panics if `i >= nrows`.
    pub fn row_words(&self, i: usize) -> &[u64] {
        let w = self.words_per_row();
        &self.words[i * w..(i + 1) * w]
    }
    /// Raw bytes of the words (zero-copy, native endianness).
    pub fn words_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.words)
    }
    /// `(nrows, ncols, words)`.
    pub fn into_parts(self) -> (usize, usize, Vec<u64>) {
        (self.nrows, self.ncols, self.words)
    }

    #[inline]
    fn locate(&self, i: usize, j: usize) -> (usize, u64) {
        assert!(
            i < self.nrows && j < self.ncols,
            "mask index ({i}, {j}) out of bounds for shape {}\u{d7}{}",
            self.nrows,
            self.ncols
        );
        (i * self.words_per_row() + j / 64, 1u64 << (j % 64))
    }
    /// Entry `(i, j)`. Panics if out of bounds (like slice indexing).
    pub fn get(&self, i: usize, j: usize) -> bool {
        let (w, b) = self.locate(i, j);
        self.words[w] & b != 0
    }
    /// Sets entry `(i, j)`. Panics if out of bounds (like slice indexing).
    pub fn set(&mut self, i: usize, j: usize, value: bool) {
        let (w, b) = self.locate(i, j);
        if value {
            self.words[w] |= b;
        } else {
            self.words[w] &= !b;
        }
    }
    /// Number of `true` entries.
    pub fn count_ones(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }
    /// Number of `true` entries in row `i`. Panics if `i >= nrows`.
    pub fn count_ones_row(&self, i: usize) -> usize {
        self.row_words(i)
            .iter()
            .map(|w| w.count_ones() as usize)
            .sum()
    }
    /// Fraction of `true` entries (0.0 for a zero-size mask).
    pub fn density(&self) -> f64 {
        let total = self.nrows as f64 * self.ncols as f64;
        if total == 0.0 {
            0.0
        } else {
            self.count_ones() as f64 / total
        }
    }
    /// Row-major booleans (`nrows · ncols`).
    pub fn to_bools(&self) -> Vec<bool> {
        let w = self.words_per_row();
        let mut out = Vec::with_capacity(self.nrows * self.ncols);
        for i in 0..self.nrows {
            for j in 0..self.ncols {
                out.push(self.words[i * w + j / 64] >> (j % 64) & 1 == 1);
            }
        }
        out
    }
    /// The CSR pattern of the `true` entries. Errors when `nrows`, `ncols` or the count does not
    /// fit in `I`. O(nrows · ncols / 64 + count).
    pub fn to_csr_pattern<I: SpIndex>(&self) -> Result<CsrPattern<I>> {
        compressed::check_dims::<I>(self.nrows, self.ncols, "CSR shape")?;
        let nnz = self.count_ones();
        I::try_from_usize(nnz, "nnz")?;
        let w = self.words_per_row();
        let mut row_ptr = try_with_capacity(self.nrows + 1, "row_ptr")?;
        let mut col_idx = Vec::with_capacity(nnz);
        row_ptr.push(I::default());
        for i in 0..self.nrows {
            for (k, &word) in self.words[i * w..(i + 1) * w].iter().enumerate() {
                let mut bits = word;
                while bits != 0 {
                    let t = bits.trailing_zeros() as usize;
                    col_idx.push(I::from_usize(k * 64 + t));
                    bits &= bits - 1;
                }
            }
            row_ptr.push(I::from_usize(col_idx.len()));
        }
        // SAFETY: bits visited in increasing column order, below ncols (tail bits are zero);
        // dims and nnz fit I (checked above).
        Ok(unsafe { CsrPattern::new_unchecked(self.nrows, self.ncols, row_ptr, col_idx) })
    }

    fn zip(&self, other: &Mask, f: impl Fn(u64, u64) -> u64) -> Result<Mask> {
        if self.shape() != other.shape() {
            return Err(FormatError::ShapeMismatch {
                left: self.shape(),
                right: other.shape(),
            });
        }
        let words = self
            .words
            .iter()
            .zip(&other.words)
            .map(|(&a, &b)| f(a, b))
            .collect();
        Ok(Mask {
            nrows: self.nrows,
            ncols: self.ncols,
            words,
        })
    }
    /// Entry-wise AND. Errors on a shape mismatch.
    pub fn and(&self, other: &Mask) -> Result<Mask> {
        self.zip(other, |a, b| a & b)
    }
    /// Entry-wise OR. Errors on a shape mismatch.
    pub fn or(&self, other: &Mask) -> Result<Mask> {
        self.zip(other, |a, b| a | b)
    }
    /// Entry-wise XOR. Errors on a shape mismatch.
    pub fn xor(&self, other: &Mask) -> Result<Mask> {
        self.zip(other, |a, b| a ^ b)
    }
    /// `self AND NOT other` (entries set here but not there). Errors on a shape mismatch.
    pub fn and_not(&self, other: &Mask) -> Result<Mask> {
        self.zip(other, |a, b| a & !b)
    }
    /// Entry-wise NOT (padding bits stay zero).
    pub fn not(&self) -> Mask {
        let w = self.words_per_row();
        let tail = tail_mask(self.ncols);
        let mut words: Vec<u64> = self.words.iter().map(|&a| !a).collect();
        if w > 0 {
            for i in 0..self.nrows {
                words[i * w + w - 1] &= tail;
            }
        }
        Mask {
            nrows: self.nrows,
            ncols: self.ncols,
            words,
        }
    }
}
