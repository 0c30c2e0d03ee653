//! Per-query top-k: each query keeps its `k` largest scores, exactly, computed one query block at
//! a time (a `block × seq_k` score buffer, never `seq_q × seq_k`).

use std::ops::Range;

use sparsekit_formats::sparsity::{top_k, Score};
use sparsekit_kernels::attention::{BlockLayout, Coverage};

use crate::error::{AttnError, Result};

/// Per-head rows on the host: `data` is `[heads, seq, dim]`, row-major (one head's queries or
/// keys after the projection, e.g. a `[1, heads, seq, dim]` tensor's data).
#[derive(Debug, Clone, Copy)]
pub struct Heads<'a> {
    data: &'a [f32],
    heads: usize,
    seq: usize,
    dim: usize,
}

impl<'a> Heads<'a> {
    /// Checks that `data` holds `heads · seq · dim` values.
    pub fn new(data: &'a [f32], heads: usize, seq: usize, dim: usize) -> Result<Self> {
        let expected = heads
            .checked_mul(seq)
            .and_then(|n| n.checked_mul(dim))
            .unwrap_or(usize::MAX);
        if data.len() != expected {
            return Err(AttnError::Shape {
                what: "heads [heads, seq, dim]",
                expected,
                got: data.len(),
            });
        }
        Ok(Heads {
            data,
            heads,
            seq,
            dim,
        })
    }
    /// Heads.
    pub fn heads(&self) -> usize {
        self.heads
    }
    /// Positions per head.
    pub fn seq(&self) -> usize {
        self.seq
    }
    /// Width of a row.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Row `i` of head `h`.
    pub fn row(&self, h: usize, i: usize) -> &'a [f32] {
        let o = (h * self.seq + i) * self.dim;
        &self.data[o..o + self.dim]
    }
}

/// `Σ a·b` accumulated in `f64` (the ranking is then exact for the `f32` inputs up to `f64`
/// rounding, and identical to an `f64` reference with the same summation order).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// Checks that queries and keys have the same heads and width.
pub(crate) fn check_pair(q: &Heads<'_>, k: &Heads<'_>) -> Result<()> {
    if q.heads != k.heads || q.dim != k.dim {
        return Err(AttnError::Shape {
            what: "keys (heads · dim must match the queries')",
            expected: q.heads * q.dim,
            got: k.heads * k.dim,
        });
    }
    Ok(())
}

/// A layout in which query `i` sees exactly the keys `kept[i]` (each sorted increasing).
pub(crate) fn layout_from_rows(
    seq_k: usize,
    block: usize,
    kept: &[Vec<u32>],
    kept_blocks: impl Fn(usize) -> Vec<u32>,
    allow: impl Fn(usize, usize) -> bool,
) -> Result<BlockLayout> {
    let seq_q = kept.len();
    let (qb, kb) = (seq_q.div_ceil(block), seq_k.div_ceil(block));
    let mut touched = vec![false; qb * kb];
    for i in 0..seq_q {
        for c in kept_blocks(i) {
            touched[(i / block) * kb + c as usize] = true;
        }
    }
    Ok(BlockLayout::from_fn(
        seq_q,
        seq_k,
        block,
        block,
        |r, c| {
            if touched[r * kb + c] {
                Coverage::Partial
            } else {
                Coverage::Empty
            }
        },
        allow,
    )?)
}

/// The layout in which each of `seq_q` queries keeps its `k` best keys among `seq_k`, by the
/// ranking of [`sparsekit_formats::sparsity`] (NaN above every number, ties to the lower key
/// index). `scores(rows, out)` fills `out` (`rows.len() × seq_k`, row-major) with the scores of
/// the queries `rows`; it is called once per query block, in order.
///
/// Errors: a zero block, `k` outside `1..=seq_k`.
///
/// ```
/// use sparsekit_attn::pattern::top_k_layout;
/// // Query i prefers keys close to 2·i.
/// let l = top_k_layout(3, 6, 2, 4, |rows, out: &mut [f64]| {
///     for (r, i) in rows.enumerate() {
///         for j in 0..6 {
///             out[r * 6 + j] = -((j as f64) - 2.0 * i as f64).abs();
///         }
///     }
/// })?;
/// assert!(l.allows(2, 4) && l.allows(2, 3) && !l.allows(2, 5)); // tie 3 vs 5: lower index
/// # Ok::<(), sparsekit_attn::AttnError>(())
/// ```
pub fn top_k_layout<S: Score + Default>(
    seq_q: usize,
    seq_k: usize,
    k: usize,
    block: usize,
    mut scores: impl FnMut(Range<usize>, &mut [S]),
) -> Result<BlockLayout> {
    if block == 0 {
        return Err(AttnError::ZeroBlock);
    }
    if k == 0 || k > seq_k {
        return Err(AttnError::InvalidK {
            what: "top-k keys",
            k,
            available: seq_k,
        });
    }
    let mut kept: Vec<Vec<u32>> = Vec::with_capacity(seq_q);
    let mut buf = vec![S::default(); block * seq_k];
    for i0 in (0..seq_q).step_by(block) {
        let i1 = (i0 + block).min(seq_q);
        let out = &mut buf[..(i1 - i0) * seq_k];
        scores(i0..i1, out);
        for row in out.chunks_exact(seq_k) {
            kept.push(top_k(row, k).into_iter().map(|j| j as u32).collect());
        }
    }
    let kept_ref = &kept;
    layout_from_rows(
        seq_k,
        block,
        kept_ref,
        |i| {
            let mut b: Vec<u32> = kept_ref[i].iter().map(|&j| j / block as u32).collect();
            b.dedup();
            b
        },
        |i, j| kept_ref[i].binary_search(&(j as u32)).is_ok(),
    )
}

/// One layout per head: query `i` of head `h` keeps the `k` keys `j` with the largest `q_i · k_j`
/// (accumulated in `f64`; ranking as in [`top_k_layout`]). The positive scale `1/√d` of attention
/// does not change the ranking and is left out.
///
/// Errors: queries and keys with different heads or widths, a zero block, `k` outside
/// `1..=seq_k`.
pub fn top_k_layouts(
    queries: Heads<'_>,
    keys: Heads<'_>,
    k: usize,
    block: usize,
) -> Result<Vec<BlockLayout>> {
    check_pair(&queries, &keys)?;
    let seq_k = keys.seq;
    (0..queries.heads)
        .map(|h| {
            top_k_layout(queries.seq, seq_k, k, block, |rows, out: &mut [f64]| {
                for (r, i) in rows.enumerate() {
                    let q = queries.row(h, i);
                    for (j, o) in out[r * seq_k..(r + 1) * seq_k].iter_mut().enumerate() {
                        *o = dot(q, keys.row(h, j));
                    }
                }
            })
        })
        .collect()
}
