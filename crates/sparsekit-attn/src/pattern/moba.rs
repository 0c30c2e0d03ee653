//! MoBA (Mixture of Block Attention, Lu et al. 2025): each query keeps the key blocks whose
//! mean-pooled key best matches it, its own block always.

use sparsekit_formats::sparsity::top_k;
use sparsekit_kernels::attention::BlockLayout;

use super::topk::{check_pair, layout_from_rows, Heads};
use crate::error::{AttnError, Result};

/// One layout per head, MoBA's gating: the keys are cut into blocks of `block` positions (the
/// last one shorter when `seq` is not a multiple), each represented by the mean of its keys;
/// query `i` keeps `k` key blocks — its own block `i / block` always, plus the `k − 1` others
/// with the largest `q_i · mean(K_block)` (accumulated in `f64`; NaN first, ties to the lower
/// block). With `causal`, only blocks at or before the own block are candidates (fewer than `k`
/// may then be kept) and, inside the kept blocks, only keys `j ≤ i`.
///
/// MoBA is self-attention: queries and keys have the same length. Errors: different shapes, a
/// zero block, `k` outside `1..=ceil(seq / block)`.
///
/// ```
/// use sparsekit_attn::pattern::{moba_layouts, Heads};
/// let (seq, d) = (8, 2);
/// // Keys point along x in the first half, along y in the second; every query along y.
/// let k: Vec<f32> = (0..seq).flat_map(|j| if j < 4 { [1.0, 0.0] } else { [0.0, 1.0] }).collect();
/// let q: Vec<f32> = (0..seq).flat_map(|_| [0.0, 1.0]).collect();
/// let (q, k) = (Heads::new(&q, 1, seq, d)?, Heads::new(&k, 1, seq, d)?);
/// let l = &moba_layouts(q, k, 1, 2, false)?[0];
/// assert!(l.allows(0, 1) && !l.allows(0, 2)); // k = 1: the own block only
/// let l = &moba_layouts(q, k, 2, 2, false)?[0];
/// assert!(l.allows(0, 4) && !l.allows(0, 2)); // own block + the best other (a y block)
/// # Ok::<(), sparsekit_attn::AttnError>(())
/// ```
pub fn moba_layouts(
    queries: Heads<'_>,
    keys: Heads<'_>,
    k: usize,
    block: usize,
    causal: bool,
) -> Result<Vec<BlockLayout>> {
    check_pair(&queries, &keys)?;
    if queries.seq() != keys.seq() {
        return Err(AttnError::Shape {
            what: "MoBA keys (self-attention: as many as queries)",
            expected: queries.seq(),
            got: keys.seq(),
        });
    }
    if block == 0 {
        return Err(AttnError::ZeroBlock);
    }
    let (seq, d) = (keys.seq(), keys.dim());
    let kb = seq.div_ceil(block);
    if k == 0 || k > kb {
        return Err(AttnError::InvalidK {
            what: "MoBA key blocks",
            k,
            available: kb,
        });
    }
    (0..queries.heads())
        .map(|h| {
            // Mean-pooled keys per block.
            let mut pooled = vec![0f64; kb * d];
            for c in 0..kb {
                let (j0, j1) = (c * block, ((c + 1) * block).min(seq));
                let mut acc = vec![0f64; d];
                for j in j0..j1 {
                    for (a, &x) in acc.iter_mut().zip(keys.row(h, j)) {
                        *a += x as f64;
                    }
                }
                for (p, a) in pooled[c * d..(c + 1) * d].iter_mut().zip(acc) {
                    *p = a / (j1 - j0) as f64;
                }
            }
            let mut kept_blocks: Vec<Vec<u32>> = Vec::with_capacity(seq);
            let mut scores = Vec::with_capacity(kb);
            let mut others = Vec::with_capacity(kb);
            for i in 0..seq {
                let own = i / block;
                let q = queries.row(h, i);
                let end = if causal { own } else { kb };
                others.clear();
                scores.clear();
                for c in (0..end).filter(|&c| c != own) {
                    others.push(c);
                    scores.push(
                        q.iter()
                            .zip(&pooled[c * d..(c + 1) * d])
                            .map(|(&x, &p)| x as f64 * p)
                            .sum::<f64>(),
                    );
                }
                let mut sel: Vec<u32> = top_k(&scores, k - 1)
                    .into_iter()
                    .map(|x| others[x] as u32)
                    .collect();
                sel.push(own as u32);
                sel.sort_unstable();
                kept_blocks.push(sel);
            }
            let kb_ref = &kept_blocks;
            layout_from_rows(
                seq,
                block,
                kb_ref,
                |i| kb_ref[i].clone(),
                |i, j| {
                    (!causal || j <= i) && kb_ref[i].binary_search(&((j / block) as u32)).is_ok()
                },
            )
        })
        .collect()
}
