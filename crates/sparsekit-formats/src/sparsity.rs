//! The sparsity vocabulary: the rules every sparsekit crate shares, written once.
//!
//! | rule | here | used by |
//! |---|---|---|
//! | how many of `n` entries a sparsity `s` keeps | [`keep_count`] | pruning, DST, `SparseLinearConfig`, one-shot pruning, the CLI |
//! | how scores rank (NaN, ties) | [`Score`], [`better`], [`top_k`], [`rank_key`] | every top-k: [`crate::Select`], [`crate::NM::from_dense`], pruning masks, DST drop/grow, the kernels' row top-k |
//! | what N:M and block structure mean | [`Structure`], [`nm_violation`], [`satisfies`] | `NM`, `SparseTensor` tags, pruning, the CLI |
//! | scores → mask at a sparsity and structure | [`mask`] | pruning, the CLI |
//! | which storage runs a pruned weight fastest | [`inference_storage`] | sparse inference (`sparsekit-models`), the CLI's `inspect` |
//!
//! # Keep count
//!
//! A sparsity `s ∈ [0, 1]` over `n` entries keeps `round((1 − s) · n)` of them, rounding half
//! away from zero (`f64::round`), and prunes the rest. So `s = 0.5` keeps 3 of 5 and 2 of 4;
//! `s = 0` keeps all; `s = 1` keeps none; `n = 0` keeps 0. A NaN or out-of-range sparsity is an
//! error, never clamped.
//!
//! # Ranking
//!
//! Higher scores rank first. **NaN ranks above every number** (whatever its sign bit), so a top-k
//! keeps a NaN rather than silently dropping it — as `torch.topk` and NumPy's sort do. `-0.0` and
//! `+0.0` are equal. **Ties go to the lower index** (flat index, column within a row, block or
//! row number). This is a total order, so every selection is unique and deterministic.
//!
//! # N:M
//!
//! A row has N:M structure when every group of `m` consecutive columns, starting at column 0,
//! holds **at most** `n` kept (or stored) entries; explicit zeros count as stored. When `cols` is
//! not a multiple of `m`, the last group is shorter and holds at most `n` too — the N:M rule on
//! the row zero-padded to a multiple of `m`. Parameters: `m ≥ 1`, `0 ≤ n ≤ m`.
//!
//! Storage with exactly `n` slots per group (the [`crate::NM`] format, an N:M-tagged
//! `SparseTensor`) additionally needs `1 ≤ n < m ≤ 16` and `cols % m == 0`
//! ([`check_nm_storage`]); a group with fewer than `n` entries is filled with explicit zeros at the
//! lowest free offsets (the padding rule of [`crate::NM`]). So every N:M mask that satisfies the
//! rule can be stored once its shape is divisible.
//!
//! # Blocks, rows, columns
//!
//! `Block { rows: r, cols: c }` means the kept set is a union of whole `r × c` blocks aligned at
//! multiples of `(r, c)`; when the shape is not a multiple of the block, the edge blocks are
//! smaller and count as one block each. Block storage ([`crate::Bsr`], block-tagged tensors)
//! needs a divisible shape. `Rows` / `Columns`: whole rows (output neurons) or whole columns
//! (input channels) kept or pruned.
//!
//! # Storage for inference
//!
//! [`inference_storage`] picks how a pruned weight is stored for the forward pass `X·Wᵀ` on CPU:
//! N:M storage when the mask satisfies one of [`NM_KERNELS`] and fills it (a sparser mask would
//! be padded with explicit zeros: CSR then stores less), block storage (BSR) when the mask is
//! whole blocks of one of [`BLOCK_KERNELS`], else CSR — each only while the density is at most
//! the break-even of its kernel against dense GEMM ([`CSR_MAX_DENSITY`], [`NM_MAX_DENSITY`],
//! [`BLOCK_MAX_DENSITY`]); above it the weight stays dense. The break-evens are measured
//! (`docs/models.md`, "Sparse inference": MiniLM's shapes, a batch of transformer tokens, on a
//! 2-core AVX-512 Xeon against burn-flex's GEMM).
//!
//! Matrices are row-major `rows × cols` with **one row per output feature and one column per
//! input feature** (PyTorch's `[out, in]`), so N:M groups run along the inputs.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::csr::CsrPatternView;
use crate::error::{checked_size, FormatError, Result};
use crate::index::SpIndex;
use crate::mask::Mask;

/// Largest `m` of an N:M storage format (offsets are stored in a `u8`, group masks in a `u16`).
pub const MAX_STORED_M: usize = 16;

/// How the kept entries of a matrix are grouped (see the [module docs](self)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Structure {
    /// Any entries.
    #[default]
    Unstructured,
    /// At most `n` kept in each group of `m` consecutive columns of a row (`0 ≤ n ≤ m`, `m ≥ 1`).
    NM {
        /// Kept per group.
        n: usize,
        /// Group length.
        m: usize,
    },
    /// Whole aligned `rows × cols` blocks.
    Block {
        /// Block height.
        rows: usize,
        /// Block width.
        cols: usize,
    },
    /// Whole rows (output neurons).
    Rows,
    /// Whole columns (input channels).
    Columns,
}

impl Structure {
    /// Checks the parameters: `m ≥ 1` and `n ≤ m` for N:M, non-zero block sides.
    ///
    /// ```
    /// use sparsekit_formats::sparsity::Structure;
    /// assert!(Structure::NM { n: 2, m: 4 }.validate().is_ok());
    /// assert!(Structure::NM { n: 5, m: 4 }.validate().is_err());
    /// assert!(Structure::Block { rows: 0, cols: 4 }.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        match *self {
            Structure::NM { n, m } if m == 0 || n > m => Err(FormatError::InvalidArgument(
                format!("N:M needs 0 \u{2264} N \u{2264} M and M \u{2265} 1, got {n}:{m}"),
            )),
            Structure::Block { rows, cols } if rows == 0 || cols == 0 => Err(
                FormatError::InvalidArgument(format!("block size {rows}x{cols} has a zero side")),
            ),
            _ => Ok(()),
        }
    }

    /// The sparsity the structure itself fixes: `1 − n/m` for N:M, `None` otherwise.
    pub fn fixed_sparsity(&self) -> Option<f64> {
        match *self {
            Structure::NM { n, m } if m > 0 => Some(1.0 - n as f64 / m as f64),
            _ => None,
        }
    }

    /// The structure of the transposed matrix: blocks swap sides, rows and columns swap, and N:M
    /// (which runs along rows) is not kept.
    pub fn transposed(&self) -> Structure {
        match *self {
            Structure::Block { rows, cols } => Structure::Block {
                rows: cols,
                cols: rows,
            },
            Structure::Rows => Structure::Columns,
            Structure::Columns => Structure::Rows,
            _ => Structure::Unstructured,
        }
    }
}

impl fmt::Display for Structure {
    /// The same spelling [`FromStr`] reads: `unstructured`, `2:4`, `4x4`, `rows`, `columns`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Structure::Unstructured => f.write_str("unstructured"),
            Structure::NM { n, m } => write!(f, "{n}:{m}"),
            Structure::Block { rows, cols } => write!(f, "{rows}x{cols}"),
            Structure::Rows => f.write_str("rows"),
            Structure::Columns => f.write_str("columns"),
        }
    }
}

impl FromStr for Structure {
    type Err = FormatError;

    /// Parses `unstructured`, `N:M` (e.g. `2:4`), `RxC` (e.g. `4x4`, blocks), `rows`, `columns`,
    /// and validates the parameters.
    ///
    /// ```
    /// use sparsekit_formats::sparsity::Structure;
    /// assert_eq!("2:4".parse::<Structure>()?, Structure::NM { n: 2, m: 4 });
    /// assert_eq!("16x8".parse::<Structure>()?, Structure::Block { rows: 16, cols: 8 });
    /// assert!("4:2".parse::<Structure>().is_err());
    /// # Ok::<(), sparsekit_formats::FormatError>(())
    /// ```
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        let bad = || {
            FormatError::InvalidArgument(format!(
                "'{s}': expected unstructured, N:M (e.g. 2:4), RxC blocks (e.g. 4x4), rows or columns"
            ))
        };
        let pair = |sep: char| -> Result<Option<(usize, usize)>> {
            match t.split_once(sep) {
                None => Ok(None),
                Some((a, b)) => {
                    let a = a.trim().parse::<usize>().map_err(|_| bad())?;
                    let b = b.trim().parse::<usize>().map_err(|_| bad())?;
                    Ok(Some((a, b)))
                }
            }
        };
        let st = match t {
            "unstructured" => Structure::Unstructured,
            "rows" => Structure::Rows,
            "columns" => Structure::Columns,
            _ => {
                if let Some((n, m)) = pair(':')? {
                    Structure::NM { n, m }
                } else if let Some((rows, cols)) = pair('x')? {
                    Structure::Block { rows, cols }
                } else {
                    return Err(bad());
                }
            }
        };
        st.validate()?;
        Ok(st)
    }
}

/// Errors unless `sparsity` is a number in `[0, 1]`.
pub fn check_sparsity(sparsity: f64) -> Result<()> {
    if (0.0..=1.0).contains(&sparsity) {
        Ok(())
    } else {
        Err(FormatError::InvalidArgument(format!(
            "sparsity {sparsity} is not in [0, 1]"
        )))
    }
}

/// How many of `total` units a sparsity keeps: `round((1 − sparsity) · total)`, half away from
/// zero (see the [module docs](self#keep-count)).
///
/// ```
/// use sparsekit_formats::sparsity::keep_count;
/// assert_eq!(keep_count(5, 0.5)?, 3); // 2.5 rounds up
/// assert_eq!(keep_count(4, 0.5)?, 2);
/// assert_eq!(keep_count(10, 0.0)?, 10);
/// assert_eq!(keep_count(0, 0.3)?, 0);
/// assert!(keep_count(10, 1.5).is_err());
/// assert!(keep_count(10, f64::NAN).is_err());
/// # Ok::<(), sparsekit_formats::FormatError>(())
/// ```
pub fn keep_count(total: usize, sparsity: f64) -> Result<usize> {
    check_sparsity(sparsity)?;
    Ok((((1.0 - sparsity) * total as f64).round() as usize).min(total))
}

/// How many of `total` units a sparsity prunes: `total − keep_count(total, sparsity)`.
pub fn prune_count(total: usize, sparsity: f64) -> Result<usize> {
    Ok(total - keep_count(total, sparsity)?)
}

/// A score that can be ranked by the one rule of this module: NaN above every number, `-0.0 ==
/// +0.0`. Implemented for `f32` and `f64`.
pub trait Score: Copy {
    /// `self` compared with `other` by importance (`Greater`: `self` ranks higher).
    fn rank_cmp(self, other: Self) -> Ordering;
}

macro_rules! impl_score {
    ($t:ty) => {
        impl Score for $t {
            #[inline]
            fn rank_cmp(self, other: Self) -> Ordering {
                match (self.is_nan(), other.is_nan()) {
                    (false, false) => self.partial_cmp(&other).unwrap_or(Ordering::Equal),
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                }
            }
        }
    };
}
impl_score!(f32);
impl_score!(f64);

/// A key whose [`f32::total_cmp`] order is the ranking's order (for hot loops and GPU kernels
/// that compare raw floats or their bits): every NaN becomes the positive quiet NaN (above
/// `+∞`), `-0.0` becomes `+0.0`, everything else is itself.
///
/// ```
/// use sparsekit_formats::sparsity::rank_key;
/// let neg_nan = f32::from_bits(0xFFC0_0000);
/// assert_eq!(rank_key(neg_nan).total_cmp(&f32::INFINITY), std::cmp::Ordering::Greater);
/// assert_eq!(rank_key(-0.0).to_bits(), 0);
/// ```
#[inline(always)]
pub fn rank_key(s: f32) -> f32 {
    if s.is_nan() {
        f32::NAN
    } else if s == 0.0 {
        0.0
    } else {
        s
    }
}

/// The order "ranks first": `Less` when `a = (score, index)` comes before `b`, i.e. has the
/// higher score or, on a tie, the lower index. A total order on distinct indices.
///
/// ```
/// use sparsekit_formats::sparsity::better;
/// use std::cmp::Ordering;
/// assert_eq!(better((2.0f32, 5), (1.0, 0)), Ordering::Less);
/// assert_eq!(better((1.0f32, 0), (1.0, 3)), Ordering::Less); // tie: lower index first
/// assert_eq!(better((f32::NAN, 9), (f32::INFINITY, 0)), Ordering::Less); // NaN first
/// ```
#[inline]
pub fn better<S: Score>(a: (S, usize), b: (S, usize)) -> Ordering {
    b.0.rank_cmp(a.0).then(a.1.cmp(&b.1))
}

/// Moves the `k` best of `idx` (indices into `score`, by [`better`]) to the front, in no
/// particular order, and returns them. O(len) expected (selection, not a sort).
pub fn select_best<S: Score>(
    idx: &mut [usize],
    k: usize,
    score: impl Fn(usize) -> S,
) -> &mut [usize] {
    let k = k.min(idx.len());
    if k > 0 && k < idx.len() {
        idx.select_nth_unstable_by(k - 1, |&a, &b| better((score(a), a), (score(b), b)));
    }
    &mut idx[..k]
}

/// The indices of the `k` best scores (by [`better`]), in increasing index order. `k` larger
/// than `scores.len()` selects all. O(n + k log k).
///
/// ```
/// use sparsekit_formats::sparsity::top_k;
/// assert_eq!(top_k(&[0.5f32, 3.0, f32::NAN, 3.0, -1.0], 3), [1, 2, 3]);
/// assert_eq!(top_k(&[1.0f64, 1.0, 1.0], 2), [0, 1]);
/// ```
pub fn top_k<S: Score>(scores: &[S], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    let len = select_best(&mut idx, k, |i| scores[i]).len();
    idx.truncate(len);
    idx.sort_unstable();
    idx
}

fn check_scores(scores: &[f32], rows: usize, cols: usize) -> Result<()> {
    let n = checked_size(rows, cols, "score matrix")?;
    if n != scores.len() {
        return Err(FormatError::len("scores", n, scores.len()));
    }
    Ok(())
}

/// L2 norms of the scores of each unit (`unit(r, c)` numbers the units); NaN propagates, so a
/// unit holding a NaN score ranks first.
fn unit_norms(
    scores: &[f32],
    rows: usize,
    cols: usize,
    units: usize,
    unit: impl Fn(usize, usize) -> usize,
) -> Vec<f64> {
    let mut norms = vec![0f64; units];
    for r in 0..rows {
        for c in 0..cols {
            let s = scores[r * cols + c] as f64;
            norms[unit(r, c)] += s * s;
        }
    }
    norms.iter_mut().for_each(|x| *x = x.sqrt());
    norms
}

/// The mask of the entries a `rows × cols` score matrix keeps at `sparsity` under `structure`.
///
/// | structure | kept | unit score |
/// |---|---|---|
/// | `Unstructured` | the [`keep_count`]`(rows·cols, s)` best scores | the score |
/// | `NM { n, m }` | the best `min(n, len)` of every group of each row (`sparsity` ignored: the structure fixes it) | the score |
/// | `Block { rows: r, cols: c }` | the [`keep_count`]`(blocks, s)` best blocks (edge blocks included) | L2 norm of the block's scores |
/// | `Rows` / `Columns` | the [`keep_count`]`(rows or cols, s)` best rows / columns | L2 norm |
///
/// Ranking follows [`better`] (NaN first, ties to the lower index).
///
/// ```
/// use sparsekit_formats::sparsity::{mask, Structure};
/// let scores = [4.0, 1.0, 3.0, 2.0,
///               0.5, 0.1, 0.2, 0.9];
/// let m = mask(&scores, 2, 4, 0.5, Structure::Unstructured)?;
/// assert_eq!(m.to_bools(), [true, true, true, true, false, false, false, false]);
/// let m = mask(&scores, 2, 4, 0.0, Structure::NM { n: 1, m: 2 })?;
/// assert_eq!(m.to_bools(), [true, false, true, false, true, false, false, true]);
/// # Ok::<(), sparsekit_formats::FormatError>(())
/// ```
pub fn mask(
    scores: &[f32],
    rows: usize,
    cols: usize,
    sparsity: f64,
    structure: Structure,
) -> Result<Mask> {
    structure.validate()?;
    check_sparsity(sparsity)?;
    check_scores(scores, rows, cols)?;
    let mut out = Mask::new(rows, cols)?;
    match structure {
        Structure::Unstructured => {
            for i in top_k(scores, keep_count(scores.len(), sparsity)?) {
                out.set(i / cols, i % cols, true);
            }
        }
        Structure::NM { n, m } => {
            let mut group: Vec<usize> = Vec::with_capacity(m);
            for r in 0..rows {
                let row = &scores[r * cols..(r + 1) * cols];
                for start in (0..cols).step_by(m) {
                    group.clear();
                    group.extend(start..(start + m).min(cols));
                    for &j in select_best(&mut group, n, |j| row[j]).iter() {
                        out.set(r, j, true);
                    }
                }
            }
        }
        Structure::Block { rows: br, cols: bc } => {
            let nbc = cols.div_ceil(bc);
            let blocks = rows.div_ceil(br) * nbc;
            let norms = unit_norms(scores, rows, cols, blocks, |r, c| (r / br) * nbc + c / bc);
            for b in top_k(&norms, keep_count(blocks, sparsity)?) {
                let (r0, c0) = ((b / nbc) * br, (b % nbc) * bc);
                for r in r0..(r0 + br).min(rows) {
                    for c in c0..(c0 + bc).min(cols) {
                        out.set(r, c, true);
                    }
                }
            }
        }
        Structure::Rows => {
            let norms = unit_norms(scores, rows, cols, rows, |r, _| r);
            for r in top_k(&norms, keep_count(rows, sparsity)?) {
                (0..cols).for_each(|c| out.set(r, c, true));
            }
        }
        Structure::Columns => {
            let norms = unit_norms(scores, rows, cols, cols, |_, c| c);
            for c in top_k(&norms, keep_count(cols, sparsity)?) {
                (0..rows).for_each(|r| out.set(r, c, true));
            }
        }
    }
    Ok(out)
}

/// The first N:M violation of one row given its kept columns in increasing order: `(group,
/// count)` of the first group of `m` columns holding more than `n` of them. `None` when the
/// row is N:M (the [module rule](self#nm)). Assumes `m ≥ 1`.
pub fn nm_violation(
    sorted_cols: impl IntoIterator<Item = usize>,
    n: usize,
    m: usize,
) -> Option<(usize, usize)> {
    let mut current = (usize::MAX, 0usize);
    let mut bad: Option<(usize, usize)> = None;
    for j in sorted_cols {
        let g = j / m;
        if g != current.0 {
            if bad.is_some() {
                break;
            }
            current = (g, 0);
        }
        current.1 += 1;
        if current.1 > n {
            bad = Some(current);
        }
    }
    bad
}

/// Checks that an N:M matrix of `cols` columns can be stored with exactly `n` slots per group:
/// `1 ≤ n < m ≤ 16` and `cols % m == 0` (see the [module docs](self#nm)).
pub fn check_nm_storage(cols: usize, n: usize, m: usize) -> Result<()> {
    if n == 0 || n >= m || m > MAX_STORED_M {
        return Err(FormatError::InvalidArgument(format!(
            "N:M = {n}:{m}: need 1 \u{2264} N < M \u{2264} {MAX_STORED_M}"
        )));
    }
    if cols % m != 0 {
        return Err(FormatError::Structure(format!(
            "ncols {cols} is not a multiple of M = {m}"
        )));
    }
    Ok(())
}

/// Whether every row of the pattern is N:M (at most `n` stored entries in every group of `m`
/// columns; a short last group allowed). `m = 0` is never N:M. O(nnz).
pub fn pattern_is_nm<I: SpIndex>(pattern: CsrPatternView<'_, I>, n: usize, m: usize) -> bool {
    let (rp, ci) = (pattern.row_ptr(), pattern.col_idx());
    m > 0
        && rp.windows(2).all(|w| {
            let row = &ci[w[0].index()..w[1].index()];
            nm_violation(row.iter().map(|j| j.index()), n, m).is_none()
        })
}

/// Whether every group of `m` consecutive columns of every row (the last one possibly shorter)
/// has at most `n` kept entries. `m = 0` is never N:M.
///
/// ```
/// use sparsekit_formats::{sparsity::is_nm, Mask};
/// let m = Mask::from_bools(&[true, true, false, false, true, false], 1, 6)?;
/// assert!(is_nm(&m, 2, 4));
/// assert!(!is_nm(&m, 1, 4));
/// # Ok::<(), sparsekit_formats::FormatError>(())
/// ```
pub fn is_nm(mask: &Mask, n: usize, m: usize) -> bool {
    let (rows, cols) = mask.shape();
    m > 0 && (0..rows).all(|r| nm_violation((0..cols).filter(|&j| mask.get(r, j)), n, m).is_none())
}

/// Whether the mask is a union of whole aligned `br × bc` blocks (edge blocks included).
pub fn is_block(mask: &Mask, br: usize, bc: usize) -> bool {
    if br == 0 || bc == 0 {
        return false;
    }
    let (rows, cols) = mask.shape();
    (0..rows).all(|r| (0..cols).all(|c| mask.get(r, c) == mask.get(r - r % br, c - c % bc)))
}

/// Whether every row is all kept or all pruned.
pub fn is_rows(mask: &Mask) -> bool {
    let (rows, cols) = mask.shape();
    (0..rows).all(|r| {
        let k = mask.count_ones_row(r);
        k == 0 || k == cols
    })
}

/// Whether every column is all kept or all pruned.
pub fn is_columns(mask: &Mask) -> bool {
    let (rows, cols) = mask.shape();
    (0..cols).all(|c| (0..rows).all(|r| mask.get(r, c) == mask.get(0, c)))
}

/// Whether `mask` has the given structure (unstructured: always).
pub fn satisfies(mask: &Mask, structure: Structure) -> bool {
    match structure {
        Structure::Unstructured => true,
        Structure::NM { n, m } => is_nm(mask, n, m),
        Structure::Block { rows, cols } => is_block(mask, rows, cols),
        Structure::Rows => is_rows(mask),
        Structure::Columns => is_columns(mask),
    }
}

/// How a weight is stored for inference (see [`inference_storage`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Storage {
    /// Dense GEMM: the weight is too dense for a sparse kernel to beat it.
    Dense,
    /// The non-zeros only, run by the kernel of this structure: `Unstructured` = CSR, `NM` =
    /// N:M storage, `Block` = BSR.
    Sparse(Structure),
}

impl fmt::Display for Storage {
    /// `dense`, `csr`, `2:4` (N:M), `bsr16x16` (blocks).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Storage::Dense => f.write_str("dense"),
            Storage::Sparse(Structure::NM { n, m }) => write!(f, "{n}:{m}"),
            Storage::Sparse(Structure::Block { rows, cols }) => write!(f, "bsr{rows}x{cols}"),
            Storage::Sparse(_) => f.write_str("csr"),
        }
    }
}

/// The N:M patterns [`inference_storage`] stores as N:M, sparsest first (ties: the shorter
/// group first, whose slots are cheaper to decode).
pub const NM_KERNELS: [(usize, usize); 6] = [(1, 8), (1, 4), (2, 8), (2, 4), (4, 8), (3, 4)];

/// The block shapes [`inference_storage`] stores as BSR, largest first (the larger the block,
/// the more each gathered input row is reused).
pub const BLOCK_KERNELS: [(usize, usize); 3] = [(16, 16), (8, 8), (4, 4)];

/// Above this density (non-zeros / entries) an unstructured weight stays dense.
pub const CSR_MAX_DENSITY: f64 = 0.35;

/// Above this density (`n / m`) an N:M weight stays dense.
pub const NM_MAX_DENSITY: f64 = 0.5;

/// Above this density (kept blocks / blocks) a block-sparse weight stays dense.
pub const BLOCK_MAX_DENSITY: f64 = 0.5;

/// An N:M storage is used only when the mask fills at least this fraction of its `n` slots per
/// group (below, CSR stores fewer entries than the padded N:M storage).
pub const NM_MIN_FILL: f64 = 0.9;

/// Which storage runs the forward pass of a weight with this non-zero `mask` (`d_output ×
/// d_input`) fastest on CPU (the [module rule](self#storage-for-inference)): N:M, then blocks,
/// then CSR, each within its measured break-even density, else dense.
///
/// ```
/// use sparsekit_formats::sparsity::{inference_storage, mask, Storage, Structure};
/// let scores: Vec<f32> = (0..64 * 64).map(|i| ((i * 7919) % 1000) as f32).collect();
/// let two_four = mask(&scores, 64, 64, 0.0, Structure::NM { n: 2, m: 4 })?;
/// assert_eq!(inference_storage(&two_four), Storage::Sparse(Structure::NM { n: 2, m: 4 }));
/// let sparse = mask(&scores, 64, 64, 0.7, Structure::Unstructured)?;
/// assert_eq!(inference_storage(&sparse), Storage::Sparse(Structure::Unstructured));
/// let blocks = mask(&scores, 64, 64, 0.7, Structure::Block { rows: 16, cols: 16 })?;
/// assert_eq!(inference_storage(&blocks), Storage::Sparse(Structure::Block { rows: 16, cols: 16 }));
/// let mild = mask(&scores, 64, 64, 0.2, Structure::Unstructured)?;
/// assert_eq!(inference_storage(&mild), Storage::Dense);
/// # Ok::<(), sparsekit_formats::FormatError>(())
/// ```
pub fn inference_storage(mask: &Mask) -> Storage {
    let (rows, cols) = mask.shape();
    let total = rows * cols;
    let nnz = mask.count_ones();
    if total == 0 || nnz == total {
        return Storage::Dense;
    }
    let density = nnz as f64 / total as f64;
    for (n, m) in NM_KERNELS {
        let slots = n as f64 / m as f64;
        if check_nm_storage(cols, n, m).is_ok()
            && slots <= NM_MAX_DENSITY
            && density >= NM_MIN_FILL * slots
            && is_nm(mask, n, m)
        {
            return Storage::Sparse(Structure::NM { n, m });
        }
    }
    for (br, bc) in BLOCK_KERNELS {
        if rows % br == 0
            && cols % bc == 0
            && density <= BLOCK_MAX_DENSITY
            && is_block(mask, br, bc)
        {
            return Storage::Sparse(Structure::Block { rows: br, cols: bc });
        }
    }
    if density <= CSR_MAX_DENSITY {
        Storage::Sparse(Structure::Unstructured)
    } else {
        Storage::Dense
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_and_ties_rank_by_the_one_rule() {
        let neg_nan = f32::from_bits(f32::NAN.to_bits() | 0x8000_0000);
        assert!(neg_nan.is_nan());
        assert_eq!(neg_nan.rank_cmp(f32::INFINITY), Ordering::Greater);
        assert_eq!((-0.0f32).rank_cmp(0.0), Ordering::Equal);
        assert_eq!(top_k(&[0.0f32, -0.0, 0.0], 1), [0]);
        assert_eq!(top_k(&[1.0f32, neg_nan, 2.0], 1), [1]);
        assert_eq!(top_k(&[1.0f32; 4], 9), [0, 1, 2, 3]);
    }

    #[test]
    fn nm_violation_reports_the_first_bad_group() {
        assert_eq!(nm_violation([0, 1, 4, 5, 6], 2, 4), Some((1, 3)));
        assert_eq!(nm_violation([0, 1, 4, 5, 8], 2, 4), None);
        assert_eq!(nm_violation([8, 9], 2, 4), None); // short last group of a 10-column row
        assert_eq!(nm_violation([8, 9], 1, 4), Some((2, 2)));
    }

    #[test]
    fn structure_spelling_round_trips() {
        for s in [
            Structure::Unstructured,
            Structure::NM { n: 2, m: 4 },
            Structure::Block { rows: 4, cols: 8 },
            Structure::Rows,
            Structure::Columns,
        ] {
            assert_eq!(s.to_string().parse::<Structure>().unwrap(), s);
        }
        for bad in ["", "2:", "a:4", "0x4", "5:4", "4x", "rowz"] {
            assert!(bad.parse::<Structure>().is_err(), "{bad}");
        }
    }
}
