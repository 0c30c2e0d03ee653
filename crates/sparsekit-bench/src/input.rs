//! Benchmark inputs: uniform random sparsity patterns with an exact number of non-zeros, and
//! random normal values (never zeros), from a seeded generator so runs are repeatable.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use sparsekit_formats::{Bsr, Csr, NM};

/// The number of non-zeros of an m×k matrix at `sparsity` (the vocabulary's
/// [`keep_count`](sparsekit_formats::sparsity::keep_count); a sparsity outside `[0, 1]` is a
/// bug in the bench's own matrix).
pub fn target_nnz(m: usize, k: usize, sparsity: f64) -> usize {
    sparsekit_formats::sparsity::keep_count(m * k, sparsity).expect("bench sparsity in [0, 1]")
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// `len` standard normal f32 values.
pub fn normal(rng: &mut StdRng, len: usize) -> Vec<f32> {
    (0..len)
        .map(|_| rng.sample::<f32, _>(StandardNormal))
        .collect()
}

/// A CSR m×k with exactly `nnz` entries whose positions are a uniformly random `nnz`-subset of
/// the m·k positions, and standard normal values. Uses a bitset of m·k bits (m·k/8 bytes), never
/// a dense m×k value matrix.
pub fn random_csr(rng: &mut StdRng, m: usize, k: usize, nnz: usize) -> Csr<f32> {
    let total = m * k;
    assert!(nnz <= total, "nnz {nnz} > {m}×{k}");
    let words = total.div_ceil(64);
    // Sample whichever of the set / unset positions is smaller, by rejection on the bitset.
    let invert = nnz > total / 2;
    let draws = if invert { total - nnz } else { nnz };
    let mut bits = vec![0u64; words];
    let mut placed = 0;
    while placed < draws {
        let p = rng.random_range(0..total);
        let (w, b) = (p / 64, p % 64);
        if bits[w] & (1 << b) == 0 {
            bits[w] |= 1 << b;
            placed += 1;
        }
    }
    if invert {
        for w in bits.iter_mut() {
            *w = !*w;
        }
        let tail = total & 63; // bits used in the last word (0: all 64)
        if tail != 0 {
            let last = words - 1;
            bits[last] &= (1u64 << tail) - 1;
        }
    }
    let mut row_ptr = Vec::with_capacity(m + 1);
    let mut col_idx = Vec::with_capacity(nnz);
    row_ptr.push(0u32);
    for i in 0..m {
        let (start, end) = (i * k, (i + 1) * k);
        let mut p = start;
        while p < end {
            let (w, b) = (p / 64, p % 64);
            let mut word = bits[w] >> b;
            let span = (64 - b).min(end - p);
            if span < 64 {
                word &= (1u64 << span) - 1;
            }
            while word != 0 {
                let t = word.trailing_zeros() as usize;
                col_idx.push((p + t - start) as u32);
                word &= word - 1;
            }
            p += span;
        }
        row_ptr.push(col_idx.len() as u32);
    }
    debug_assert_eq!(col_idx.len(), nnz);
    let values = normal(rng, nnz);
    Csr::try_new(m, k, row_ptr, col_idx, values).expect("generated CSR is canonical")
}

/// An m×k BSR with `r × c` blocks: exactly `round((1 - sparsity)·nblocks_total)` stored blocks
/// at uniformly random block positions (the block pattern is a [`random_csr`] over the block
/// grid), standard normal values in every stored block.
pub fn random_bsr(
    rng: &mut StdRng,
    m: usize,
    k: usize,
    (r, c): (usize, usize),
    sparsity: f64,
) -> Bsr<f32> {
    let (nbr, nbc) = (m / r, k / c);
    let blocks = random_csr(rng, nbr, nbc, target_nnz(nbr, nbc, sparsity));
    let (brp, bci) = (blocks.row_ptr().to_vec(), blocks.col_idx().to_vec());
    let values = normal(rng, bci.len() * r * c);
    Bsr::try_new(m, k, (r, c), brp, bci, values).expect("generated BSR is valid")
}

/// An m×k N:M matrix: in every group of `mm` columns of every row, `nn` uniformly random
/// positions with standard normal values.
pub fn random_nm(rng: &mut StdRng, m: usize, k: usize, nn: usize, mm: usize) -> NM<f32> {
    let groups = k / mm;
    let mut offsets = Vec::with_capacity(m * groups * nn);
    let mut pos: Vec<u8> = (0..mm as u8).collect();
    for _ in 0..m * groups {
        for t in 0..nn {
            let j = rng.random_range(t..mm);
            pos.swap(t, j);
        }
        let start = offsets.len();
        offsets.extend_from_slice(&pos[..nn]);
        offsets[start..].sort_unstable();
    }
    let values = normal(rng, offsets.len());
    NM::try_new(m, k, nn, mm, values, offsets).expect("generated N:M is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_nnz_on_both_sides_of_half_and_odd_sizes() {
        let mut r = rng(7);
        for (m, k, s) in [
            (37, 53, 0.9),
            (37, 53, 0.2),
            (1, 1, 0.0),
            (5, 7, 1.0),
            (64, 64, 0.5),
            (3, 100, 0.98),
        ] {
            let nnz = target_nnz(m, k, s);
            let a = random_csr(&mut r, m, k, nnz);
            assert_eq!(a.nnz(), nnz, "{m}×{k} at {s}");
            assert_eq!(a.shape(), (m, k));
            assert!(a.values().iter().all(|v| *v != 0.0 && v.is_finite()));
        }
    }

    #[test]
    fn target_nnz_rounds() {
        assert_eq!(target_nnz(4096, 4096, 0.9), 1677722);
        assert_eq!(target_nnz(10, 10, 0.0), 100);
        assert_eq!(target_nnz(10, 10, 1.0), 0);
    }
}
