//! Attention patterns: which keys each query may attend to, compiled to a
//! [`BlockLayout`](sparsekit_kernels::attention::BlockLayout) of kept tiles (burn-free).
//!
//! - [`Pattern`] (serde) describes the data-independent patterns — full, causal, sliding window,
//!   dilated window, global tokens, BigBird, an explicit block mask — and their unions and
//!   intersections; [`Pattern::layout`] compiles one for a sequence length and a block size.
//! - [`top_k_layouts`] / [`top_k_layout`] (each query keeps its `k` best keys, exact) and
//!   [`moba_layouts`] (MoBA's top-k key blocks) depend on the queries and keys and give one
//!   layout per head.
//!
//! A layout is a plain value: compute it once per head and sequence length, clone it freely.
//! Positions are 0-based; `i` is a query position, `j` a key position. "Causal" means `j ≤ i`
//! (aligned at the start of both sequences).
//!
//! ```
//! use sparsekit_attn::pattern::Pattern;
//! // Longformer-style: a causal window of 3 keys, plus token 0 global.
//! let p = Pattern::union([
//!     Pattern::SlidingWindow { width: 3, causal: true },
//!     Pattern::Global { tokens: vec![0] },
//! ])
//! .and_causal();
//! let layout = p.layout(10, 10, 4)?;
//! assert!(layout.allows(9, 7) && !layout.allows(9, 6) && layout.allows(9, 0));
//! assert!(!layout.allows(0, 1)); // causal also for the global token
//! # Ok::<(), sparsekit_attn::AttnError>(())
//! ```

mod moba;
mod topk;

pub use moba::moba_layouts;
pub use topk::{top_k_layout, top_k_layouts, Heads};

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use sparsekit_kernels::attention::{BlockLayout, Coverage};

use crate::error::{AttnError, Result};

/// A data-independent attention pattern (see the module docs for the conventions).
///
/// | variant | query `i` may attend key `j` when |
/// |---|---|
/// | `Full` | always |
/// | `Causal` | `j ≤ i` |
/// | `SlidingWindow { width: w, causal: false }` | `|i − j| < w` |
/// | `SlidingWindow { width: w, causal: true }` | `0 ≤ i − j < w` (`w` keys, itself included) |
/// | `Dilated { width: w, dilation: d, causal }` | `i − j` a multiple of `d` with `|i − j| < w·d` (and `j ≤ i` when causal): `w` keys on each side, `d` apart |
/// | `Global { tokens }` | `i` or `j` is one of `tokens` |
/// | `BigBird { window, global, random, seed }` | block-level (block size of [`layout`](Pattern::layout)): query block `r`, key block `c` with `|r − c| ≤ window`, or `r < global` or `c < global`, or `c` among the `random` key blocks drawn for `r` |
/// | `BlockMask { q_blocks, k_blocks, keep }` | `keep[(i / block) · k_blocks + j / block]` |
/// | `Union(ps)` | any of `ps` allows |
/// | `Intersection(ps)` | all of `ps` allow |
///
/// BigBird's random blocks: for each non-global query block in increasing order, `random` key
/// blocks are drawn uniformly without replacement (all of them when fewer are left) among those
/// that neither the window nor the global blocks keep, from `StdRng::seed_from_u64(seed)`; the
/// same seed, sequence lengths and block size give the same layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// Every pair.
    Full,
    /// `j ≤ i`.
    Causal,
    /// A band of keys around each query.
    SlidingWindow {
        /// Keys on each allowed side, the query's own position included (≥ 1).
        width: usize,
        /// Only keys at or before the query.
        causal: bool,
    },
    /// A band of keys `dilation` apart.
    Dilated {
        /// Keys on each allowed side, the query's own position included (≥ 1).
        width: usize,
        /// Distance between two attended keys (≥ 1; 1 is a sliding window).
        dilation: usize,
        /// Only keys at or before the query.
        causal: bool,
    },
    /// Global tokens: they attend to every key and every query attends to them.
    Global {
        /// Their positions (a position past a sequence has no effect on it).
        tokens: Vec<usize>,
    },
    /// BigBird (Zaheer et al. 2020, ITC): block window, global blocks, random blocks.
    BigBird {
        /// Neighbouring key blocks on each side of the query block.
        window: usize,
        /// The first `global` query and key blocks are global.
        global: usize,
        /// Random key blocks per (non-global) query block.
        random: usize,
        /// Seed of the random blocks.
        seed: u64,
    },
    /// An explicit mask of kept tiles, row-major `q_blocks × k_blocks`.
    BlockMask {
        /// Query blocks (`ceil(seq_q / block)`).
        q_blocks: usize,
        /// Key blocks (`ceil(seq_k / block)`).
        k_blocks: usize,
        /// Kept tiles.
        keep: Vec<bool>,
    },
    /// Pairs any of the patterns allows (at least one pattern).
    Union(Vec<Pattern>),
    /// Pairs all of the patterns allow (at least one pattern).
    Intersection(Vec<Pattern>),
}

/// The geometry of one tile: block indices and the half-open position ranges it covers.
#[derive(Debug, Clone, Copy)]
struct Tile {
    r: usize,
    c: usize,
    i0: usize,
    i1: usize,
    j0: usize,
    j1: usize,
}

type Classifier = Box<dyn Fn(Tile) -> Coverage>;
type Predicate = Box<dyn Fn(usize, usize) -> bool>;

/// A compiled pattern: a conservative tile classifier and the exact element predicate.
struct Rule {
    block: Classifier,
    allow: Predicate,
}

fn invalid(pattern: &'static str, detail: impl Into<String>) -> AttnError {
    AttnError::InvalidPattern {
        pattern,
        detail: detail.into(),
    }
}

/// Coverage of a tile by the band `lo ≤ i − j ≤ hi`.
fn band(t: Tile, lo: i64, hi: i64) -> Coverage {
    let dmin = t.i0 as i64 - (t.j1 as i64 - 1);
    let dmax = t.i1 as i64 - 1 - t.j0 as i64;
    if dmax < lo || dmin > hi {
        Coverage::Empty
    } else if lo <= dmin && dmax <= hi {
        Coverage::Full
    } else {
        Coverage::Partial
    }
}

/// A rule from a kept-tile grid (`q_blocks × k_blocks`, row-major).
fn grid_rule(grid: Vec<bool>, kb: usize, bq: usize, bk: usize) -> Rule {
    let grid = std::rc::Rc::new(grid);
    let g = grid.clone();
    Rule {
        block: Box::new(move |t| {
            if g[t.r * kb + t.c] {
                Coverage::Full
            } else {
                Coverage::Empty
            }
        }),
        allow: Box::new(move |i, j| grid[(i / bq) * kb + j / bk]),
    }
}

struct Geometry {
    seq_q: usize,
    seq_k: usize,
    bq: usize,
    bk: usize,
}

impl Geometry {
    fn q_blocks(&self) -> usize {
        self.seq_q.div_ceil(self.bq)
    }
    fn k_blocks(&self) -> usize {
        self.seq_k.div_ceil(self.bk)
    }
}

impl Pattern {
    /// The union of `patterns`.
    pub fn union(patterns: impl IntoIterator<Item = Pattern>) -> Pattern {
        Pattern::Union(patterns.into_iter().collect())
    }

    /// The intersection of `patterns`.
    pub fn intersection(patterns: impl IntoIterator<Item = Pattern>) -> Pattern {
        Pattern::Intersection(patterns.into_iter().collect())
    }

    /// This pattern restricted to `j ≤ i` (its intersection with [`Pattern::Causal`]).
    pub fn and_causal(self) -> Pattern {
        Pattern::Intersection(vec![self, Pattern::Causal])
    }

    /// Checks the parameters that do not depend on the sequence (window and dilation ≥ 1,
    /// compositions of at least one pattern, a block mask of `q_blocks · k_blocks` entries).
    pub fn validate(&self) -> Result<()> {
        match self {
            Pattern::Full | Pattern::Causal | Pattern::Global { .. } | Pattern::BigBird { .. } => {
                Ok(())
            }
            Pattern::SlidingWindow { width, .. } => {
                if *width == 0 {
                    return Err(invalid("sliding_window", "width must be at least 1"));
                }
                Ok(())
            }
            Pattern::Dilated {
                width, dilation, ..
            } => {
                if *width == 0 {
                    return Err(invalid("dilated", "width must be at least 1"));
                }
                if *dilation == 0 {
                    return Err(invalid("dilated", "dilation must be at least 1"));
                }
                Ok(())
            }
            Pattern::BlockMask {
                q_blocks,
                k_blocks,
                keep,
            } => {
                if q_blocks.checked_mul(*k_blocks) != Some(keep.len()) {
                    return Err(AttnError::Shape {
                        what: "block mask",
                        expected: q_blocks.saturating_mul(*k_blocks),
                        got: keep.len(),
                    });
                }
                Ok(())
            }
            Pattern::Union(ps) | Pattern::Intersection(ps) => {
                if ps.is_empty() {
                    return Err(invalid("composition", "needs at least one pattern"));
                }
                ps.iter().try_for_each(Pattern::validate)
            }
        }
    }

    /// The layout of this pattern for `seq_q` queries and `seq_k` keys in `block × block`
    /// tiles. Errors: a zero block, an invalid parameter (see [`validate`](Self::validate)), a
    /// block mask whose grid is not
    /// `ceil(seq_q / block) × ceil(seq_k / block)`.
    pub fn layout(&self, seq_q: usize, seq_k: usize, block: usize) -> Result<BlockLayout> {
        if block == 0 {
            return Err(AttnError::ZeroBlock);
        }
        self.validate()?;
        let g = Geometry {
            seq_q,
            seq_k,
            bq: block,
            bk: block,
        };
        let rule = self.compile(&g)?;
        let (qb, kb) = (g.q_blocks(), g.k_blocks());
        let tile = |r: usize, c: usize| Tile {
            r,
            c,
            i0: r * block,
            i1: ((r + 1) * block).min(seq_q),
            j0: c * block,
            j1: ((c + 1) * block).min(seq_k),
        };
        debug_assert!(qb * block >= seq_q && kb * block >= seq_k);
        Ok(BlockLayout::from_fn(
            seq_q,
            seq_k,
            block,
            block,
            |r, c| (rule.block)(tile(r, c)),
            |i, j| (rule.allow)(i, j),
        )?)
    }

    fn compile(&self, g: &Geometry) -> Result<Rule> {
        Ok(match self {
            Pattern::Full => Rule {
                block: Box::new(|_| Coverage::Full),
                allow: Box::new(|_, _| true),
            },
            Pattern::Causal => Rule {
                block: Box::new(|t| band(t, 0, i64::MAX)),
                allow: Box::new(|i, j| j <= i),
            },
            Pattern::SlidingWindow { width, causal } => {
                let w = *width as i64;
                let lo = if *causal { 0 } else { -(w - 1) };
                let hi = w - 1;
                Rule {
                    block: Box::new(move |t| band(t, lo, hi)),
                    allow: Box::new(move |i, j| {
                        let d = i as i64 - j as i64;
                        lo <= d && d <= hi
                    }),
                }
            }
            Pattern::Dilated {
                width,
                dilation,
                causal,
            } => {
                let (w, dil) = (*width as i64, *dilation as i64);
                let hi = (w - 1) * dil;
                let lo = if *causal { 0 } else { -hi };
                Rule {
                    block: Box::new(move |t| match band(t, lo, hi) {
                        Coverage::Full if dil == 1 => Coverage::Full,
                        Coverage::Empty => Coverage::Empty,
                        _ => Coverage::Partial,
                    }),
                    allow: Box::new(move |i, j| {
                        let d = i as i64 - j as i64;
                        lo <= d && d <= hi && d % dil == 0
                    }),
                }
            }
            Pattern::Global { tokens } => {
                // A token past a sequence does not act on it (patterns are reused across lengths).
                let n = g.seq_q.max(g.seq_k);
                let mut is_global = vec![false; n];
                for &t in tokens.iter().filter(|&&t| t < n) {
                    is_global[t] = true;
                }
                // prefix[p] = global tokens before position p.
                let mut prefix = vec![0usize; n + 1];
                for p in 0..n {
                    prefix[p + 1] = prefix[p] + is_global[p] as usize;
                }
                let is_global = std::rc::Rc::new(is_global);
                let ig = is_global.clone();
                Rule {
                    block: Box::new(move |t| {
                        if prefix[t.i1] > prefix[t.i0] || prefix[t.j1] > prefix[t.j0] {
                            Coverage::Partial
                        } else {
                            Coverage::Empty
                        }
                    }),
                    allow: Box::new(move |i, j| ig[i] || ig[j]),
                }
            }
            Pattern::BigBird {
                window,
                global,
                random,
                seed,
            } => {
                let grid =
                    big_bird_grid(g.q_blocks(), g.k_blocks(), *window, *global, *random, *seed);
                grid_rule(grid, g.k_blocks(), g.bq, g.bk)
            }
            Pattern::BlockMask {
                q_blocks,
                k_blocks,
                keep,
            } => {
                if (*q_blocks, *k_blocks) != (g.q_blocks(), g.k_blocks()) {
                    return Err(invalid(
                        "block_mask",
                        format!(
                            "a {q_blocks}×{k_blocks} block mask for a {}×{} tile grid",
                            g.q_blocks(),
                            g.k_blocks()
                        ),
                    ));
                }
                grid_rule(keep.clone(), g.k_blocks(), g.bq, g.bk)
            }
            Pattern::Union(ps) | Pattern::Intersection(ps) => {
                let rules = ps
                    .iter()
                    .map(|p| p.compile(g))
                    .collect::<Result<Vec<_>>>()?;
                combine(rules, matches!(self, Pattern::Union(_)))
            }
        })
    }
}

/// The union (`any`) or the intersection of `rules`. A union tile is full as soon as one rule
/// covers it fully and empty when all are empty; an intersection tile is empty as soon as one
/// rule leaves it empty and full when all cover it fully; partial otherwise.
fn combine(rules: Vec<Rule>, any: bool) -> Rule {
    // The coverage that decides at once, and the one that needs all rules to agree.
    let (decisive, unanimous) = if any {
        (Coverage::Full, Coverage::Empty)
    } else {
        (Coverage::Empty, Coverage::Full)
    };
    let rules = std::rc::Rc::new(rules);
    let rs = rules.clone();
    Rule {
        block: Box::new(move |t| {
            let mut all = true;
            for r in rs.iter() {
                let c = (r.block)(t);
                if c == decisive {
                    return decisive;
                }
                all &= c == unanimous;
            }
            if all {
                unanimous
            } else {
                Coverage::Partial
            }
        }),
        allow: Box::new(move |i, j| {
            if any {
                rules.iter().any(|r| (r.allow)(i, j))
            } else {
                rules.iter().all(|r| (r.allow)(i, j))
            }
        }),
    }
}

/// BigBird's kept-tile grid (see [`Pattern::BigBird`]).
fn big_bird_grid(
    qb: usize,
    kb: usize,
    window: usize,
    global: usize,
    random: usize,
    seed: u64,
) -> Vec<bool> {
    let mut grid = vec![false; qb * kb];
    let mut rng = StdRng::seed_from_u64(seed);
    for r in 0..qb {
        let row = &mut grid[r * kb..(r + 1) * kb];
        if r < global {
            row.fill(true);
            continue;
        }
        for (c, keep) in row.iter_mut().enumerate() {
            *keep = c < global || r.abs_diff(c) <= window;
        }
        let candidates: Vec<usize> = (0..kb).filter(|&c| !row[c]).collect();
        let n = random.min(candidates.len());
        for pick in rand::seq::index::sample(&mut rng, candidates.len(), n) {
            row[candidates[pick]] = true;
        }
    }
    grid
}
