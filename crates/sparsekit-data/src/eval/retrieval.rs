//! Exact-search retrieval: MRR@k and recall@k of paired embeddings.
//!
//! Query `i`'s only relevant document is document `i` (e.g. the embedding of a package's
//! synopsis as the query and of its long description as the document). Documents are ranked by
//! cosine similarity to the query (a zero vector has cosine 0 with everything), exhaustively.
//!
//! **Ties**: a document whose score equals the relevant document's ranks before it only when its
//! index is lower. So the rank of the relevant document `i` is
//! `1 + #{j : s_ij > s_ii} + #{j < i : s_ij = s_ii}`.
//!
//! **Method**: the vectors are normalized once (f64 norms) into f32 unit vectors padded to a
//! multiple of 8; the score matrix is computed in f32 by a register-blocked kernel (4 queries × 2
//! documents × 8 lanes, AVX2 when the CPU has it, the same operations in the same order
//! otherwise, so results do not depend on the CPU), in parallel over blocks of queries (rayon)
//! and tiles of documents that stay in cache. Scores are compared with the relevant document's
//! exact f64 cosine ([`cosine_f64`]); a score within the f32 error bound of it is recomputed
//! exactly in f64 before comparing, so ranks are those of an exact f64 search, ties included.
//! 6 000 × 6 000 × 384 takes about 2.5 s on two (shared) cores.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::DataError;

/// MRR@k and recall@k over `n` queries.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetrievalScores {
    /// Number of queries (= documents).
    pub n: usize,
    /// The cut-off.
    pub k: usize,
    /// Mean reciprocal rank of the relevant document, counting 0 when its rank exceeds `k`.
    pub mrr: f64,
    /// Fraction of queries whose relevant document ranks within the first `k`.
    pub recall: f64,
}

/// The exact score: cosine similarity in f64 (sequential sums), 0 when either vector is zero.
pub fn cosine_f64(a: &[f32], b: &[f32]) -> f64 {
    let (mut d, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        d += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        d / (na.sqrt() * nb.sqrt())
    }
}

/// Lanes of the kernel's accumulators.
const L: usize = 8;
/// Queries per register block.
const R: usize = 4;
/// Documents per register block.
const C: usize = 2;
/// Queries per parallel task.
const QB: usize = 32;
/// Documents per cache tile.
const DT: usize = 256;

/// Unit vectors (f32, from f64 norms), each padded to `p` (a multiple of [`L`]) with zeros; rows
/// padded to a multiple of `rows_to`.
fn normalized(x: &[f32], dim: usize, p: usize, rows_to: usize) -> Vec<f32> {
    let n = x.len() / dim;
    let rows = n.div_ceil(rows_to) * rows_to;
    let mut out = vec![0f32; rows * p];
    out.par_chunks_mut(p)
        .zip(x.par_chunks(dim))
        .for_each(|(o, v)| {
            let nn: f64 = v.iter().map(|&a| a as f64 * a as f64).sum::<f64>().sqrt();
            if nn > 0.0 {
                for (o, &a) in o.iter_mut().zip(v) {
                    *o = (a as f64 / nn) as f32;
                }
            }
        });
    out
}

/// Dot products of `R` queries (rows of `q`, stride `p`) with `C` documents (rows of `d`).
#[inline(always)]
fn kernel(q: &[f32], d: &[f32], p: usize) -> [[f32; C]; R] {
    let mut acc = [[[0f32; L]; C]; R];
    let qs: [&[f32]; R] = std::array::from_fn(|r| &q[r * p..(r + 1) * p]);
    let ds: [&[f32]; C] = std::array::from_fn(|c| &d[c * p..(c + 1) * p]);
    for k in (0..p).step_by(L) {
        let dv: [[f32; L]; C] = std::array::from_fn(|c| ds[c][k..k + L].try_into().unwrap());
        for r in 0..R {
            let qv: [f32; L] = qs[r][k..k + L].try_into().unwrap();
            for c in 0..C {
                for l in 0..L {
                    acc[r][c][l] += qv[l] * dv[c][l];
                }
            }
        }
    }
    std::array::from_fn(|r| {
        std::array::from_fn(|c| {
            let a = &acc[r][c];
            ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
        })
    })
}

/// Scores of a block of queries (`qrows` rows of `q`, a multiple of `R`) against all `drows`
/// document rows (a multiple of `C`), into `out` (`qrows × drows`).
#[inline(always)]
fn block_scores_generic(
    q: &[f32],
    d: &[f32],
    p: usize,
    qrows: usize,
    drows: usize,
    out: &mut [f32],
) {
    for t0 in (0..drows).step_by(DT) {
        let t1 = (t0 + DT).min(drows);
        for r0 in (0..qrows).step_by(R) {
            let qb = &q[r0 * p..(r0 + R) * p];
            for c0 in (t0..t1).step_by(C) {
                let s = kernel(qb, &d[c0 * p..(c0 + C) * p], p);
                for (r, row) in s.iter().enumerate() {
                    out[(r0 + r) * drows + c0..(r0 + r) * drows + c0 + C].copy_from_slice(row);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block_scores_avx2(
    q: &[f32],
    d: &[f32],
    p: usize,
    qrows: usize,
    drows: usize,
    out: &mut [f32],
) {
    block_scores_generic(q, d, p, qrows, drows, out)
}

fn block_scores(q: &[f32], d: &[f32], p: usize, qrows: usize, drows: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { block_scores_avx2(q, d, p, qrows, drows, out) };
        return;
    }
    block_scores_generic(q, d, p, qrows, drows, out)
}

fn check(name: &str, x: &[f32], dim: usize) -> Result<usize, DataError> {
    if x.len() % dim != 0 {
        return Err(DataError::Invalid(format!(
            "{name}: length {} is not a multiple of dim {dim}",
            x.len()
        )));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(DataError::Invalid(format!(
            "{name}: non-finite value {} at row {}, column {}",
            x[i],
            i / dim,
            i % dim
        )));
    }
    Ok(x.len() / dim)
}

/// Rank of each relevant document, capped at `cap + 1` (any rank above `cap` reads `cap + 1`).
fn relevant_ranks(queries: &[f32], docs: &[f32], dim: usize, cap: usize) -> Vec<usize> {
    let n = queries.len() / dim;
    let p = dim.div_ceil(L) * L;
    let qn = normalized(queries, dim, p, QB);
    let dn = normalized(docs, dim, p, C);
    let drows = dn.len() / p;
    // Bound on |f32 score − exact cosine| for unit vectors: a few ulps per summand chain.
    let tol = (dim as f64 + 16.0) * f32::EPSILON as f64;
    let mut ranks = vec![0usize; n];
    ranks.par_chunks_mut(QB).enumerate().for_each(|(b, ranks)| {
        let q0 = b * QB;
        let mut s = vec![0f32; QB * drows];
        block_scores(&qn[q0 * p..(q0 + QB) * p], &dn, p, QB, drows, &mut s);
        for (r, rank) in ranks.iter_mut().enumerate() {
            let i = q0 + r;
            let qi = &queries[i * dim..(i + 1) * dim];
            let exact = |j: usize| cosine_f64(qi, &docs[j * dim..(j + 1) * dim]);
            let sii = exact(i);
            let row = &s[r * drows..r * drows + n];
            let mut better = 0usize;
            for (j, &a) in row.iter().enumerate() {
                if j == i {
                    continue;
                }
                let a = a as f64;
                let beats = if a > sii + tol {
                    true
                } else if a < sii - tol {
                    false
                } else {
                    let e = exact(j);
                    e > sii || (e == sii && j < i)
                };
                if beats {
                    better += 1;
                    if better >= cap {
                        break;
                    }
                }
            }
            *rank = better + 1;
        }
    });
    ranks
}

/// MRR@k and recall@k of exact cosine search where query `i`'s only relevant document is
/// document `i` (row-major `n × dim` matrices; ties as in the module doc).
///
/// Errors ([`DataError::Invalid`]): `dim == 0`, `k == 0`, a length that is not a multiple of
/// `dim`, different numbers of queries and documents, no queries, a non-finite value.
pub fn retrieval(
    queries: &[f32],
    docs: &[f32],
    dim: usize,
    k: usize,
) -> Result<RetrievalScores, DataError> {
    if dim == 0 {
        return Err(DataError::Invalid("retrieval: dim is 0".into()));
    }
    if k == 0 {
        return Err(DataError::Invalid("retrieval: k is 0".into()));
    }
    let nq = check("retrieval queries", queries, dim)?;
    let nd = check("retrieval documents", docs, dim)?;
    if nq != nd {
        return Err(DataError::Invalid(format!(
            "retrieval: {nq} queries but {nd} documents (document i is query i's answer)"
        )));
    }
    if nq == 0 {
        return Err(DataError::Invalid("retrieval: no queries".into()));
    }
    let ranks = relevant_ranks(queries, docs, dim, k);
    let (mut rr, mut hits) = (0f64, 0usize);
    for &r in &ranks {
        if r <= k {
            rr += 1.0 / r as f64;
            hits += 1;
        }
    }
    Ok(RetrievalScores {
        n: nq,
        k,
        mrr: rr / nq as f64,
        recall: hits as f64 / nq as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The AVX2 build of the block kernel (the only `unsafe` here) against its scalar twin and
    /// an f64 reference, on padded widths (multiples of 8, as `retrieval` pads them) and
    /// document counts across the tile.
    #[test]
    fn avx2_block_scores_match_the_scalar_twin() {
        let mut rng = StdRng::seed_from_u64(7);
        for (p, qrows, drows) in [
            (8, R, C),
            (16, 2 * R, 3 * C),
            (40, R, DT + C),
            (384, 3 * R, 5 * C),
        ] {
            let q: Vec<f32> = (0..qrows * p).map(|_| rng.random::<f32>() - 0.5).collect();
            let d: Vec<f32> = (0..drows * p).map(|_| rng.random::<f32>() - 0.5).collect();
            let mut scalar = vec![f32::NAN; qrows * drows];
            block_scores_generic(&q, &d, p, qrows, drows, &mut scalar);
            for i in 0..qrows {
                for j in 0..drows {
                    let exact: f64 = (0..p)
                        .map(|k| q[i * p + k] as f64 * d[j * p + k] as f64)
                        .sum();
                    let got = scalar[i * drows + j] as f64;
                    assert!(
                        (got - exact).abs() <= 1e-5 * (p as f64).sqrt(),
                        "p {p}: {got} vs {exact}"
                    );
                }
            }
            let mut fast = vec![f32::NAN; qrows * drows];
            block_scores(&q, &d, p, qrows, drows, &mut fast);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is present (checked just above).
                unsafe { block_scores_avx2(&q, &d, p, qrows, drows, &mut fast) };
            }
            for (a, b) in fast.iter().zip(&scalar) {
                assert!(
                    (a - b).abs() <= 1e-6 * (p as f32).sqrt(),
                    "p {p}: {a} vs {b}"
                );
            }
        }
    }

    /// Brute force: every score exact in f64, rank by the tie rule.
    fn reference_ranks(q: &[f32], d: &[f32], dim: usize) -> Vec<usize> {
        let n = q.len() / dim;
        (0..n)
            .map(|i| {
                let qi = &q[i * dim..(i + 1) * dim];
                let s: Vec<f64> = (0..n)
                    .map(|j| cosine_f64(qi, &d[j * dim..(j + 1) * dim]))
                    .collect();
                1 + (0..n)
                    .filter(|&j| j != i && (s[j] > s[i] || (s[j] == s[i] && j < i)))
                    .count()
            })
            .collect()
    }

    fn reference(q: &[f32], d: &[f32], dim: usize, k: usize) -> RetrievalScores {
        let ranks = reference_ranks(q, d, dim);
        let n = ranks.len();
        RetrievalScores {
            n,
            k,
            mrr: ranks
                .iter()
                .filter(|&&r| r <= k)
                .map(|&r| 1.0 / r as f64)
                .sum::<f64>()
                / n as f64,
            recall: ranks.iter().filter(|&&r| r <= k).count() as f64 / n as f64,
        }
    }

    /// Random pairs (document = query + noise) with exact duplicates, scaled copies (by 2: the
    /// same cosine exactly), zero vectors and small-integer vectors (many ties).
    fn data(rng: &mut StdRng, n: usize, dim: usize, noise: f32) -> (Vec<f32>, Vec<f32>) {
        let mut q = vec![0f32; n * dim];
        let mut d = vec![0f32; n * dim];
        for i in 0..n {
            let kind = rng.random_range(0..10);
            for c in 0..dim {
                let v = if kind == 0 {
                    rng.random_range(-1i32..=1) as f32
                } else {
                    rng.random::<f32>() - 0.5
                };
                q[i * dim + c] = v;
                d[i * dim + c] = if kind == 0 {
                    v
                } else {
                    v + noise * (rng.random::<f32>() - 0.5)
                };
            }
            if kind == 1 && i > 0 {
                // Duplicate an earlier document; or a scaled copy.
                let j = rng.random_range(0..i);
                let s = if rng.random::<bool>() { 1.0 } else { 2.0 };
                for c in 0..dim {
                    d[i * dim + c] = s * d[j * dim + c];
                }
            }
            if kind == 2 {
                d[i * dim..(i + 1) * dim].fill(0.0);
            }
            if kind == 3 {
                q[i * dim..(i + 1) * dim].fill(0.0);
            }
        }
        (q, d)
    }

    #[test]
    fn matches_brute_force() {
        let mut rng = StdRng::seed_from_u64(7);
        for &(n, dim, noise) in &[
            (1, 3, 0.1),
            (5, 1, 0.5),
            (37, 7, 1.0),
            (70, 16, 2.0),
            (130, 33, 0.8),
            (90, 384, 4.0),
        ] {
            let (q, d) = data(&mut rng, n, dim, noise);
            let want = reference_ranks(&q, &d, dim);
            assert_eq!(relevant_ranks(&q, &d, dim, n), want, "n {n} dim {dim}");
            for k in [1, 3, 10, n] {
                let got = retrieval(&q, &d, dim, k).unwrap();
                let r = reference(&q, &d, dim, k);
                assert_eq!(got.n, r.n);
                assert!((got.mrr - r.mrr).abs() < 1e-12, "{got:?} {r:?}");
                assert!((got.recall - r.recall).abs() < 1e-12, "{got:?} {r:?}");
            }
        }
    }

    #[test]
    fn ties_rank_by_index() {
        // All documents identical: query i's document has i documents before it.
        let q = vec![1.0f32, 0.0, 1.0, 0.0, 1.0, 0.0];
        let d = vec![0.0f32, 2.0, 0.0, 2.0, 0.0, 2.0];
        assert_eq!(relevant_ranks(&q, &d, 2, 3), vec![1, 2, 3]);
        let s = retrieval(&q, &d, 2, 2).unwrap();
        assert!((s.mrr - (1.0 + 0.5) / 3.0).abs() < 1e-15);
        assert!((s.recall - 2.0 / 3.0).abs() < 1e-15);
        // Perfect retrieval.
        let e = vec![1.0f32, 0.0, 0.0, 1.0];
        let s = retrieval(&e, &e, 2, 1).unwrap();
        assert_eq!((s.mrr, s.recall), (1.0, 1.0));
    }

    #[test]
    fn errors() {
        let v = vec![0.5f32; 6];
        assert!(retrieval(&v, &v, 0, 1).is_err());
        assert!(retrieval(&v, &v, 4, 1).is_err());
        assert!(retrieval(&v, &v, 3, 0).is_err());
        assert!(retrieval(&v, &v[..3], 3, 1).is_err());
        assert!(retrieval(&[], &[], 3, 1).is_err());
        let mut w = v.clone();
        w[4] = f32::NAN;
        assert!(retrieval(&v, &w, 3, 1).is_err());
    }

    #[test]
    fn large_is_fast() {
        let (n, dim) = (6000, 384);
        let mut rng = StdRng::seed_from_u64(1);
        let q: Vec<f32> = (0..n * dim).map(|_| rng.random::<f32>() - 0.5).collect();
        let d: Vec<f32> = q
            .iter()
            .map(|&v| v + 1.5 * (rng.random::<f32>() - 0.5))
            .collect();
        let t = std::time::Instant::now();
        let s = retrieval(&q, &d, dim, 10).unwrap();
        let secs = t.elapsed().as_secs_f64();
        eprintln!("retrieval {n} x {n} x {dim}: {secs:.2} s, {s:?}");
        assert!(s.recall > 0.0 && s.recall <= 1.0);
        // Its time is printed, not asserted: speed belongs to benchmarks, not tests.
    }
}
