//! [`BlockLayout`]: which keys each query may attend to, stored block by block (the structure of
//! PyTorch FlexAttention's `BlockMask`): a CSR pattern over `q_blocks × k_blocks` tiles, each kept
//! tile either **full** (every query of the tile sees every key of the tile; no element mask is
//! read) or **partial** (a bit mask of `block_q × block_k` bits says which pairs are allowed).
//!
//! Invariants (always checked by [`BlockLayout::new`]; the builders produce them):
//! - `row_ptr` has `q_blocks + 1` non-decreasing entries from 0 to `col_idx.len()`;
//! - within a block row, `col_idx` is strictly increasing and `< k_blocks`;
//! - `tile_mask` has one entry per kept tile: [`FULL`] or the index of its mask in `masks`;
//!   every mask index is used exactly once, in increasing order of first use;
//! - `masks` holds `block_q · words_per_row` words per partial tile (`words_per_row =
//!   ceil(block_k / 64)`; bit `j % 64` of word `i · words_per_row + j / 64` allows query row `i`
//!   of the tile to see key column `j`), and bits of positions past `seq_q` / `seq_k` are zero.
//!
//! The last block row (column) is shorter when `seq_q` (`seq_k`) is not a multiple of the block
//! size; positions past the sequence never exist. A query row with no allowed key is legal: the
//! attention kernels define its output as zeros.

use crate::error::KernelError;

/// Marks a kept tile as full in [`BlockLayout::tile_masks`].
pub const FULL: u32 = u32::MAX;

/// How a tile is covered, returned by the block classifier of [`BlockLayout::from_fn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// No pair of the tile is allowed: the tile is skipped.
    Empty,
    /// Every in-range pair of the tile is allowed: no element mask.
    Full,
    /// Some pairs: the element predicate decides (a tile whose pairs all pass is stored as full,
    /// one whose pairs all fail is dropped).
    Partial,
}

/// A block-sparse attention layout (see the module docs for its invariants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockLayout {
    seq_q: usize,
    seq_k: usize,
    block_q: usize,
    block_k: usize,
    row_ptr: Vec<usize>,
    col_idx: Vec<u32>,
    tile_mask: Vec<u32>,
    masks: Vec<u64>,
}

fn layout_err(detail: String) -> KernelError {
    KernelError::Unsupported {
        op: "BlockLayout",
        detail,
    }
}

impl BlockLayout {
    /// Builds a layout from its parts, checking every invariant of the module docs.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        seq_q: usize,
        seq_k: usize,
        block_q: usize,
        block_k: usize,
        row_ptr: Vec<usize>,
        col_idx: Vec<u32>,
        tile_mask: Vec<u32>,
        masks: Vec<u64>,
    ) -> Result<Self, KernelError> {
        if block_q == 0 || block_k == 0 {
            return Err(layout_err(format!(
                "block sizes must be positive, got {block_q}×{block_k}"
            )));
        }
        let layout = BlockLayout {
            seq_q,
            seq_k,
            block_q,
            block_k,
            row_ptr,
            col_idx,
            tile_mask,
            masks,
        };
        layout.check()?;
        Ok(layout)
    }

    fn check(&self) -> Result<(), KernelError> {
        let (qb, kb) = (self.q_blocks(), self.k_blocks());
        if kb > u32::MAX as usize {
            return Err(layout_err(format!("{kb} key blocks do not fit in u32")));
        }
        if self.row_ptr.len() != qb + 1 {
            return Err(layout_err(format!(
                "row_ptr has {} entries, {} query blocks need {}",
                self.row_ptr.len(),
                qb,
                qb + 1
            )));
        }
        if self.row_ptr[0] != 0 || self.row_ptr[qb] != self.col_idx.len() {
            return Err(layout_err(format!(
                "row_ptr must run from 0 to {} (the kept tiles), got {}..{}",
                self.col_idx.len(),
                self.row_ptr[0],
                self.row_ptr[qb]
            )));
        }
        if self.tile_mask.len() != self.col_idx.len() {
            return Err(layout_err(format!(
                "tile_mask has {} entries for {} kept tiles",
                self.tile_mask.len(),
                self.col_idx.len()
            )));
        }
        for r in 0..qb {
            let (lo, hi) = (self.row_ptr[r], self.row_ptr[r + 1]);
            if lo > hi {
                return Err(layout_err(format!("row_ptr decreases at block row {r}")));
            }
            let mut prev: Option<u32> = None;
            for &c in &self.col_idx[lo..hi] {
                if c as usize >= kb {
                    return Err(layout_err(format!(
                        "block row {r}: key block {c} out of range (k_blocks = {kb})"
                    )));
                }
                if prev.is_some_and(|p| c <= p) {
                    return Err(layout_err(format!(
                        "block row {r}: key blocks not strictly increasing at {c}"
                    )));
                }
                prev = Some(c);
            }
        }
        let words = self.mask_words();
        let mut next = 0u32;
        for (t, &m) in self.tile_mask.iter().enumerate() {
            if m == FULL {
                continue;
            }
            if m != next {
                return Err(layout_err(format!(
                    "tile {t}: mask index {m}, expected {next} (masks are used once, in order)"
                )));
            }
            next += 1;
        }
        let need = next as usize * words;
        if self.masks.len() != need {
            return Err(layout_err(format!(
                "masks has {} words, {} partial tiles need {need}",
                self.masks.len(),
                next
            )));
        }
        // Bits past the sequence ends must be clear (so that counts and equality are canonical).
        for r in 0..qb {
            for t in self.row_ptr[r]..self.row_ptr[r + 1] {
                let Some(mask) = self.tile_bits(t) else {
                    continue;
                };
                let c = self.col_idx[t] as usize;
                let rows = self.rows_in(r);
                let cols = self.cols_in(c);
                for i in 0..self.block_q {
                    for j in 0..self.block_k {
                        let set = mask[i * self.words_per_row() + j / 64] >> (j % 64) & 1 == 1;
                        if set && (i >= rows || j >= cols) {
                            return Err(layout_err(format!(
                                "tile ({r}, {c}): bit ({i}, {j}) lies past the sequence end"
                            )));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Every pair allowed: all tiles full.
    pub fn full(
        seq_q: usize,
        seq_k: usize,
        block_q: usize,
        block_k: usize,
    ) -> Result<Self, KernelError> {
        Self::from_fn(
            seq_q,
            seq_k,
            block_q,
            block_k,
            |_, _| Coverage::Full,
            |_, _| true,
        )
    }

    /// Full tiles where `keep[qb · k_blocks + kb]` is true (`keep` has `q_blocks · k_blocks`
    /// entries, row-major).
    pub fn from_block_mask(
        seq_q: usize,
        seq_k: usize,
        block_q: usize,
        block_k: usize,
        keep: &[bool],
    ) -> Result<Self, KernelError> {
        if block_q == 0 || block_k == 0 {
            return Err(layout_err(format!(
                "block sizes must be positive, got {block_q}×{block_k}"
            )));
        }
        let (qb, kb) = (seq_q.div_ceil(block_q), seq_k.div_ceil(block_k));
        if keep.len() != qb * kb {
            return Err(layout_err(format!(
                "block mask has {} entries, {qb}×{kb} tiles need {}",
                keep.len(),
                qb * kb
            )));
        }
        Self::from_fn(
            seq_q,
            seq_k,
            block_q,
            block_k,
            |r, c| {
                if keep[r * kb + c] {
                    Coverage::Full
                } else {
                    Coverage::Empty
                }
            },
            |_, _| true,
        )
    }

    /// Builds a layout from a tile classifier `block(qb, kb)` and, for tiles it calls
    /// [`Coverage::Partial`], an element predicate `allow(i, j)` on absolute query / key
    /// positions. Partial tiles whose in-range pairs all pass become full; those with none are
    /// dropped. The classifier must be conservative: a tile it calls `Empty` or `Full` is taken
    /// as such without asking `allow`.
    pub fn from_fn(
        seq_q: usize,
        seq_k: usize,
        block_q: usize,
        block_k: usize,
        block: impl Fn(usize, usize) -> Coverage,
        allow: impl Fn(usize, usize) -> bool,
    ) -> Result<Self, KernelError> {
        if block_q == 0 || block_k == 0 {
            return Err(layout_err(format!(
                "block sizes must be positive, got {block_q}×{block_k}"
            )));
        }
        let (qb, kb) = (seq_q.div_ceil(block_q), seq_k.div_ceil(block_k));
        if kb > u32::MAX as usize {
            return Err(layout_err(format!("{kb} key blocks do not fit in u32")));
        }
        let words = block_k.div_ceil(64);
        let mut row_ptr = Vec::with_capacity(qb + 1);
        row_ptr.push(0);
        let (mut col_idx, mut tile_mask, mut masks) = (Vec::new(), Vec::new(), Vec::new());
        let mut tile = vec![0u64; block_q * words];
        for r in 0..qb {
            let rows = (seq_q - r * block_q).min(block_q);
            for c in 0..kb {
                let cols = (seq_k - c * block_k).min(block_k);
                match block(r, c) {
                    Coverage::Empty => continue,
                    Coverage::Full => {
                        col_idx.push(c as u32);
                        tile_mask.push(FULL);
                    }
                    Coverage::Partial => {
                        tile.fill(0);
                        let mut count = 0usize;
                        for i in 0..rows {
                            for j in 0..cols {
                                if allow(r * block_q + i, c * block_k + j) {
                                    tile[i * words + j / 64] |= 1u64 << (j % 64);
                                    count += 1;
                                }
                            }
                        }
                        if count == 0 {
                            continue;
                        }
                        col_idx.push(c as u32);
                        if count == rows * cols {
                            tile_mask.push(FULL);
                        } else {
                            tile_mask.push((masks.len() / (block_q * words)) as u32);
                            masks.extend_from_slice(&tile);
                        }
                    }
                }
            }
            row_ptr.push(col_idx.len());
        }
        Ok(BlockLayout {
            seq_q,
            seq_k,
            block_q,
            block_k,
            row_ptr,
            col_idx,
            tile_mask,
            masks,
        })
    }

    /// Query positions.
    pub fn seq_q(&self) -> usize {
        self.seq_q
    }
    /// Key positions.
    pub fn seq_k(&self) -> usize {
        self.seq_k
    }
    /// Queries per tile.
    pub fn block_q(&self) -> usize {
        self.block_q
    }
    /// Keys per tile.
    pub fn block_k(&self) -> usize {
        self.block_k
    }
    /// Tile rows: `ceil(seq_q / block_q)`.
    pub fn q_blocks(&self) -> usize {
        self.seq_q.div_ceil(self.block_q)
    }
    /// Tile columns: `ceil(seq_k / block_k)`.
    pub fn k_blocks(&self) -> usize {
        self.seq_k.div_ceil(self.block_k)
    }
    /// 64-bit words per tile row of a partial tile's mask.
    pub fn words_per_row(&self) -> usize {
        self.block_k.div_ceil(64)
    }
    fn mask_words(&self) -> usize {
        self.block_q * self.words_per_row()
    }
    /// Queries in tile row `r` (the last one may be short).
    pub fn rows_in(&self, r: usize) -> usize {
        (self.seq_q - r * self.block_q).min(self.block_q)
    }
    /// Keys in tile column `c` (the last one may be short).
    pub fn cols_in(&self, c: usize) -> usize {
        (self.seq_k - c * self.block_k).min(self.block_k)
    }
    /// Tile-row pointers (`q_blocks + 1`).
    pub fn row_ptr(&self) -> &[usize] {
        &self.row_ptr
    }
    /// Key-block index of each kept tile.
    pub fn col_idx(&self) -> &[u32] {
        &self.col_idx
    }
    /// Per kept tile: [`FULL`] or its mask index.
    pub fn tile_masks(&self) -> &[u32] {
        &self.tile_mask
    }
    /// All partial tiles' bit masks, concatenated.
    pub fn masks(&self) -> &[u64] {
        &self.masks
    }
    /// Kept tiles.
    pub fn kept_tiles(&self) -> usize {
        self.col_idx.len()
    }
    /// Fraction of the `q_blocks · k_blocks` tiles that are kept (the work a block kernel does).
    pub fn tile_density(&self) -> f64 {
        let all = self.q_blocks() * self.k_blocks();
        if all == 0 {
            0.0
        } else {
            self.kept_tiles() as f64 / all as f64
        }
    }
    /// The element mask of kept tile `t` (`block_q · words_per_row` words), or `None` when full.
    pub fn tile_bits(&self, t: usize) -> Option<&[u64]> {
        let m = self.tile_mask[t];
        if m == FULL {
            return None;
        }
        let w = self.mask_words();
        Some(&self.masks[m as usize * w..(m as usize + 1) * w])
    }
    /// Whether query `i` may attend key `j` (`false` outside the sequences).
    pub fn allows(&self, i: usize, j: usize) -> bool {
        if i >= self.seq_q || j >= self.seq_k {
            return false;
        }
        let (r, c) = (i / self.block_q, j / self.block_k);
        let row = &self.col_idx[self.row_ptr[r]..self.row_ptr[r + 1]];
        let Ok(pos) = row.binary_search(&(c as u32)) else {
            return false;
        };
        match self.tile_bits(self.row_ptr[r] + pos) {
            None => true,
            Some(bits) => {
                let (a, b) = (i % self.block_q, j % self.block_k);
                bits[a * self.words_per_row() + b / 64] >> (b % 64) & 1 == 1
            }
        }
    }
    /// Allowed `(query, key)` pairs.
    pub fn allowed_pairs(&self) -> usize {
        let mut n = 0;
        for r in 0..self.q_blocks() {
            for t in self.row_ptr[r]..self.row_ptr[r + 1] {
                n += match self.tile_bits(t) {
                    None => self.rows_in(r) * self.cols_in(self.col_idx[t] as usize),
                    Some(bits) => bits.iter().map(|w| w.count_ones() as usize).sum(),
                };
            }
        }
        n
    }
    /// The dense `seq_q × seq_k` mask, row-major (tests and references; `O(L²)` memory).
    pub fn to_dense_mask(&self) -> Vec<bool> {
        let mut out = vec![false; self.seq_q * self.seq_k];
        for r in 0..self.q_blocks() {
            for t in self.row_ptr[r]..self.row_ptr[r + 1] {
                let c = self.col_idx[t] as usize;
                let bits = self.tile_bits(t);
                for i in 0..self.rows_in(r) {
                    for j in 0..self.cols_in(c) {
                        let ok = bits.is_none_or(|b| {
                            b[i * self.words_per_row() + j / 64] >> (j % 64) & 1 == 1
                        });
                        if ok {
                            out[(r * self.block_q + i) * self.seq_k + c * self.block_k + j] = true;
                        }
                    }
                }
            }
        }
        out
    }
    /// The kept tiles by key block (for backward passes that own a key block): for tile column
    /// `c`, `(ptr[c]..ptr[c+1])` indexes `(query block, kept-tile index)` pairs in increasing
    /// query-block order.
    pub fn by_key_block(&self) -> (Vec<usize>, Vec<(u32, u32)>) {
        let kb = self.k_blocks();
        let mut ptr = vec![0usize; kb + 1];
        for &c in &self.col_idx {
            ptr[c as usize + 1] += 1;
        }
        for c in 0..kb {
            ptr[c + 1] += ptr[c];
        }
        let mut next = ptr.clone();
        let mut out = vec![(0u32, 0u32); self.col_idx.len()];
        for r in 0..self.q_blocks() {
            for t in self.row_ptr[r]..self.row_ptr[r + 1] {
                let c = self.col_idx[t] as usize;
                out[next[c]] = (r as u32, t as u32);
                next[c] += 1;
            }
        }
        (ptr, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn causal(seq: usize, b: usize) -> BlockLayout {
        BlockLayout::from_fn(
            seq,
            seq,
            b,
            b,
            |r, c| match c.cmp(&r) {
                std::cmp::Ordering::Less => Coverage::Full,
                std::cmp::Ordering::Equal => Coverage::Partial,
                std::cmp::Ordering::Greater => Coverage::Empty,
            },
            |i, j| j <= i,
        )
        .unwrap()
    }

    #[test]
    fn causal_matches_its_predicate_on_ragged_sizes() {
        for (seq, b) in [(0, 4), (1, 4), (7, 4), (8, 4), (130, 64), (65, 64), (5, 1)] {
            let l = causal(seq, b);
            let dense = l.to_dense_mask();
            for i in 0..seq {
                for j in 0..seq {
                    assert_eq!(dense[i * seq + j], j <= i, "seq {seq} b {b} ({i},{j})");
                    assert_eq!(l.allows(i, j), j <= i);
                }
            }
            assert_eq!(l.allowed_pairs(), seq * (seq + 1) / 2);
            // A rebuild from the parts passes the checks.
            let again = BlockLayout::new(
                seq,
                seq,
                b,
                b,
                l.row_ptr().to_vec(),
                l.col_idx().to_vec(),
                l.tile_masks().to_vec(),
                l.masks().to_vec(),
            )
            .unwrap();
            assert_eq!(again, l);
        }
    }

    #[test]
    fn partial_tiles_collapse_to_full_or_empty() {
        let l = BlockLayout::from_fn(8, 8, 4, 4, |_, _| Coverage::Partial, |i, _| i < 4).unwrap();
        // Tile row 0 is full twice, tile row 1 is dropped.
        assert_eq!(l.row_ptr(), &[0, 2, 2]);
        assert_eq!(l.tile_masks(), &[FULL, FULL]);
        assert!(l.masks().is_empty());
    }

    #[test]
    fn block_mask_and_key_major_view() {
        let keep = [true, false, true, false, true, true];
        let l = BlockLayout::from_block_mask(5, 9, 3, 3, &keep).unwrap();
        assert_eq!(l.q_blocks(), 2);
        assert_eq!(l.k_blocks(), 3);
        assert_eq!(l.kept_tiles(), 4);
        assert!((l.tile_density() - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(l.allowed_pairs(), 3 * 3 + 3 * 3 + 2 * 3 + 2 * 3);
        let (ptr, pairs) = l.by_key_block();
        assert_eq!(ptr, vec![0, 1, 2, 4]);
        assert_eq!(pairs, vec![(0, 0), (1, 2), (0, 1), (1, 3)]);
        assert!(BlockLayout::from_block_mask(5, 9, 3, 3, &keep[..5]).is_err());
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn new_rejects_broken_parts() {
        let ok = causal(8, 4);
        let parts = |f: &dyn Fn(&mut (Vec<usize>, Vec<u32>, Vec<u32>, Vec<u64>))| {
            let mut p = (
                ok.row_ptr().to_vec(),
                ok.col_idx().to_vec(),
                ok.tile_masks().to_vec(),
                ok.masks().to_vec(),
            );
            f(&mut p);
            BlockLayout::new(8, 8, 4, 4, p.0, p.1, p.2, p.3)
        };
        assert!(parts(&|_| {}).is_ok());
        assert!(parts(&|p| p.0.push(3)).is_err());
        assert!(parts(&|p| p.1[0] = 5).is_err());
        assert!(parts(&|p| p.2.pop().map(|_| ()).unwrap()).is_err());
        assert!(parts(&|p| p.3.push(0)).is_err());
        assert!(parts(&|p| p.2[0] = 7).is_err());
        assert!(BlockLayout::new(8, 8, 0, 4, vec![], vec![], vec![], vec![]).is_err());
        // A bit past the sequence end.
        let l = causal(6, 4);
        let mut masks = l.masks().to_vec();
        masks[l.masks().len() - 1] |= 1 << 3;
        assert!(BlockLayout::new(
            6,
            6,
            4,
            4,
            l.row_ptr().to_vec(),
            l.col_idx().to_vec(),
            l.tile_masks().to_vec(),
            masks
        )
        .is_err());
    }
}
