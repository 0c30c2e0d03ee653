//! Pattern analysis: how sparse a matrix is and which hardware-friendly structures it already
//! has (N:M along rows, 4×4 blocks, empty rows). Everything here looks at the *stored* pattern of
//! a canonical CSR matrix (explicit zeros count as stored; dense inputs are turned into their
//! exact non-zeros first). O(nnz + nrows + ncols). The rules (what N:M means, what N:M storage
//! needs) are the sparsity vocabulary's (`sparsekit_formats::sparsity`); this module only reports
//! them (its [`PatternReport`] is a report, not a structure type).

use serde::Serialize;
use sparsekit_formats::{satisfies_nm, CsrPattern, SpIndex};

/// Side of the square blocks checked for BSR suitability.
pub const BLOCK: usize = 4;
/// A BSR 4×4 layout counts as compact when it stores at most this many values per non-zero.
pub const BSR_MAX_OVERHEAD: f64 = 1.25;

/// N:M structure along rows.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct NmReport {
    /// `"2:4"`, `"1:4"`.
    pub pattern: String,
    /// Every group of M consecutive columns in every row holds at most N stored entries (and
    /// `ncols % M == 0`).
    pub satisfied: bool,
}

/// 4×4 block statistics. Edge blocks of a shape that is not a multiple of 4 are partial; they
/// count as blocks but BSR itself needs `shape % 4 == 0` (`divisible`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BlockReport {
    pub block: [usize; 2],
    /// Blocks holding at least one stored entry.
    pub nonempty: usize,
    /// All blocks of the grid (`ceil(nrows/4) · ceil(ncols/4)`).
    pub total: usize,
    /// `nonempty / total` (0 for an empty grid).
    pub nonempty_fraction: f64,
    /// Values a BSR 4×4 matrix would store: `nonempty · 16`.
    pub bsr_stored_values: usize,
    /// `nnz / bsr_stored_values`: how full the stored blocks are (1 = perfectly blocked).
    pub fill: f64,
    /// Whether both dimensions are multiples of 4 (BSR 4×4 possible without padding).
    pub divisible: bool,
    /// `divisible`, `nnz > 0` and `bsr_stored_values ≤ 1.25 · nnz`: BSR 4×4 costs about nnz.
    pub bsr_compact: bool,
}

/// Everything `inspect` reports about one pattern.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PatternReport {
    pub nnz: usize,
    /// `nnz / (nrows · ncols)` (0 for an empty shape).
    pub density: f64,
    /// `1 − density`.
    pub sparsity: f64,
    pub empty_rows: usize,
    pub nm: Vec<NmReport>,
    pub blocks: BlockReport,
}

impl PatternReport {
    /// Whether the N:M pattern `"n:m"` is satisfied (false if it was not checked).
    pub fn nm_ok(&self, pattern: &str) -> bool {
        self.nm.iter().any(|r| r.pattern == pattern && r.satisfied)
    }
}

/// Analyses a canonical CSR pattern.
pub fn analyze<I: SpIndex>(p: &CsrPattern<I>) -> PatternReport {
    let (nrows, ncols) = p.shape();
    let nnz = p.nnz();
    let cells = nrows as f64 * ncols as f64;
    let density = if cells > 0.0 { nnz as f64 / cells } else { 0.0 };
    let empty_rows = p.row_ptr().windows(2).filter(|w| w[0] == w[1]).count();
    let nm = [(2, 4), (1, 4)]
        .into_iter()
        .map(|(n, m)| NmReport {
            pattern: format!("{n}:{m}"),
            satisfied: satisfies_nm(p, n, m),
        })
        .collect();
    PatternReport {
        nnz,
        density,
        sparsity: if cells > 0.0 { 1.0 - density } else { 0.0 },
        empty_rows,
        nm,
        blocks: blocks(p, BLOCK),
    }
}

/// Counts the non-empty `b × b` blocks: per block row, the sorted distinct block columns of its
/// entries. Memory is O(largest block row's nnz), never O(ncols): a file may declare 4·10⁸
/// columns and hold nothing.
fn blocks<I: SpIndex>(p: &CsrPattern<I>, b: usize) -> BlockReport {
    let (nrows, ncols) = p.shape();
    let (nbr, nbc) = (nrows.div_ceil(b), ncols.div_ceil(b));
    let mut cols = Vec::new();
    let mut nonempty = 0usize;
    for bi in 0..nbr {
        cols.clear();
        for i in bi * b..((bi + 1) * b).min(nrows) {
            cols.extend(p.row(i).iter().map(|j| j.index() / b));
        }
        cols.sort_unstable();
        cols.dedup();
        nonempty += cols.len();
    }
    let total = nbr.saturating_mul(nbc);
    let stored = nonempty.saturating_mul(b * b);
    let nnz = p.nnz();
    let divisible = nrows % b == 0 && ncols % b == 0;
    BlockReport {
        block: [b, b],
        nonempty,
        total,
        nonempty_fraction: if total > 0 {
            nonempty as f64 / total as f64
        } else {
            0.0
        },
        bsr_stored_values: stored,
        fill: if stored > 0 {
            nnz as f64 / stored as f64
        } else {
            0.0
        },
        divisible,
        bsr_compact: divisible && nnz > 0 && stored as f64 <= BSR_MAX_OVERHEAD * nnz as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_four_and_blocks() {
        // 4×8: rows 0..3 have 2 entries in each group of 4 within block column 0 only.
        let p =
            CsrPattern::<u32>::try_new(4, 8, vec![0, 2, 4, 4, 6], vec![0, 1, 2, 3, 0, 3]).unwrap();
        let s = analyze(&p);
        assert_eq!(s.nnz, 6);
        assert_eq!(s.empty_rows, 1);
        assert!(s.nm_ok("2:4"));
        assert!(!s.nm_ok("1:4"));
        assert_eq!((s.blocks.nonempty, s.blocks.total), (1, 2));
        assert_eq!(s.blocks.bsr_stored_values, 16);
        assert!(!s.blocks.bsr_compact);
        assert!((s.sparsity - (1.0 - 6.0 / 32.0)).abs() < 1e-12);
    }

    #[test]
    fn partial_edge_blocks_and_empty_shape() {
        let p = CsrPattern::<u32>::try_new(5, 5, vec![0, 0, 0, 0, 0, 1], vec![4]).unwrap();
        let s = analyze(&p);
        assert_eq!((s.blocks.nonempty, s.blocks.total), (1, 4));
        assert!(!s.blocks.divisible);
        assert!(!s.nm_ok("2:4")); // 5 % 4 != 0
        let e = CsrPattern::<u32>::empty(0, 0).unwrap();
        let s = analyze(&e);
        assert_eq!((s.nnz, s.blocks.total, s.sparsity), (0, 0, 0.0));
    }
}
