//! N:M semi-structured sparsity along rows: [`NM`] (owned), [`NMView`] (borrowed) and the
//! structure query [`satisfies_nm`]. In every row, each group of `M` consecutive columns keeps at
//! most `N` entries (2:4 is what sparse tensor cores accelerate; 1:4, 2:8, 4:8, … are allowed).

use serde::{Deserialize, Serialize};

use crate::csr::{Csr, CsrPattern};
use crate::error::{checked_size, try_vec, try_with_capacity, FormatError, Result};
use crate::index::SpIndex;
use crate::scalar::Scalar;
use crate::sparsity::{better, check_nm_storage, nm_violation, pattern_is_nm};

/// Largest supported group size `M` (offsets are stored in a `u8`, group masks in a `u16`).
pub use crate::sparsity::MAX_STORED_M as MAX_M;

/// Checks `n`, `m`, `ncols % m` and the shape; returns the packed length `nrows·(ncols/m)·n`.
fn check_shape(nrows: usize, ncols: usize, n: usize, m: usize) -> Result<usize> {
    check_nm_storage(ncols, n, m)?;
    checked_size(nrows, ncols, "N:M shape")?;
    // nrows·(ncols/m)·n ≤ nrows·ncols: cannot overflow once the shape fits.
    Ok(nrows * (ncols / m) * n)
}

/// Validates packed arrays; allocates nothing.
fn check_packed<T>(
    nrows: usize,
    ncols: usize,
    n: usize,
    m: usize,
    values: &[T],
    offsets: &[u8],
) -> Result<()> {
    let len = check_shape(nrows, ncols, n, m)?;
    if values.len() != len {
        return Err(FormatError::len("values", len, values.len()));
    }
    if offsets.len() != len {
        return Err(FormatError::len("offsets", len, offsets.len()));
    }
    let groups = ncols / m;
    for (gi, group) in offsets.chunks_exact(n.max(1)).enumerate() {
        let (i, g) = (gi / groups.max(1), gi % groups.max(1));
        for (s, &o) in group.iter().enumerate() {
            if o as usize >= m {
                return Err(FormatError::Structure(format!(
                    "row {i}, group {g} (columns {}..{}), slot {s}: offset {o} \u{2265} M = {m}",
                    g * m,
                    (g + 1) * m
                )));
            }
            if s > 0 && group[s - 1] >= o {
                return Err(FormatError::Structure(format!(
                    "row {i}, group {g} (columns {}..{}): offsets not strictly increasing ({} then {o})",
                    g * m,
                    (g + 1) * m,
                    group[s - 1]
                )));
            }
        }
    }
    Ok(())
}

/// An N:M semi-structured sparse matrix (along rows).
///
/// Storage: each row of `ncols` is cut into `ncols / M` groups of `M` consecutive columns; each
/// group has exactly `N` slots. `values` (length `nrows · (ncols/M) · N`) holds the slots
/// row-major, groups in order, slots in increasing column order; `offsets` (same length, `u8`)
/// holds each slot's column offset inside its group, so slot `s` of group `g` of row `i` is
/// entry `(i, g·M + offsets[k])` with `k = (i·(ncols/M) + g)·N + s`.
///
/// **Padding rule.** A group with fewer than `N` real entries fills its remaining slots with zero
/// values at the lowest offsets not used by a real entry (then all `N` offsets are sorted). The
/// constructors [`NM::from_dense`] and [`NM::from_csr`] always produce this form;
/// [`NM::try_new`] accepts any strictly increasing offsets. Because a padding slot is a zero
/// value, [`NM::to_csr`] keeps only non-zero values.
///
/// Invariants (always checked on construction from outside data, including deserialization):
/// - `1 ≤ N < M ≤ 16`, `ncols % M == 0`, `nrows * ncols` fits in `usize`;
/// - `values.len() == offsets.len() == nrows · (ncols/M) · N`;
/// - within each group, offsets are `< M` and strictly increasing.
///
/// ```
/// use sparsekit_formats::{NM, Csr};
/// // one row, 2:4, top-2 magnitudes per group of 4
/// let dense = [1.0f32, -5.0, 3.0, 0.5, 0.0, 0.0, 0.0, 2.0];
/// let a = NM::from_dense(&dense, 1, 8, 2, 4)?;
/// assert_eq!(a.values(), &[-5.0, 3.0, 0.0, 2.0]);
/// assert_eq!(a.offsets(), &[1, 2, 0, 3]); // second group padded at offset 0
/// assert_eq!(a.to_dense(), vec![0.0, -5.0, 3.0, 0.0, 0.0, 0.0, 0.0, 2.0]);
/// let csr: Csr<f32> = a.to_csr()?;
/// assert_eq!(csr.nnz(), 3); // the padding zero is dropped
/// # Ok::<(), sparsekit_formats::FormatError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    try_from = "RawNM<T>",
    bound(
        deserialize = "T: Scalar + Deserialize<'de>",
        serialize = "T: Scalar + Serialize"
    )
)]
pub struct NM<T: Scalar> {
    nrows: usize,
    ncols: usize,
    n: usize,
    m: usize,
    values: Vec<T>,
    offsets: Vec<u8>,
}

#[derive(Deserialize)]
struct RawNM<T> {
    nrows: usize,
    ncols: usize,
    n: usize,
    m: usize,
    values: Vec<T>,
    offsets: Vec<u8>,
}

impl<T: Scalar> TryFrom<RawNM<T>> for NM<T> {
    type Error = FormatError;
    fn try_from(r: RawNM<T>) -> Result<Self> {
        NM::try_new(r.nrows, r.ncols, r.n, r.m, r.values, r.offsets)
    }
}

/// Offsets of a group holding the real offsets in `real` (a bit set, at most `n` bits), padded
/// with the lowest unused offsets up to `n` slots, in increasing order. Writes into `out[..n]`.
/// Returns, for each slot, whether it is real.
#[inline]
fn padded_offsets(real: u16, n: usize, m: usize, out: &mut [u8]) {
    let mut pad = n - real.count_ones() as usize;
    let mut s = 0;
    for o in 0..m {
        let is_real = real & (1 << o) != 0;
        if is_real || pad > 0 {
            if !is_real {
                pad -= 1;
            }
            out[s] = o as u8;
            s += 1;
            if s == n {
                break;
            }
        }
    }
}

impl<T: Scalar> NM<T> {
    /// Validates packed arrays. Every invariant listed on the type is checked; O(len).
    ///
    /// ```
    /// use sparsekit_formats::NM;
    /// let err = NM::<f32>::try_new(1, 4, 2, 4, vec![1.0, 2.0], vec![2, 1]).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "structure: row 0, group 0 (columns 0..4): offsets not strictly increasing (2 then 1)"
    /// );
    /// ```
    pub fn try_new(
        nrows: usize,
        ncols: usize,
        n: usize,
        m: usize,
        values: Vec<T>,
        offsets: Vec<u8>,
    ) -> Result<Self> {
        check_packed(nrows, ncols, n, m, &values, &offsets)?;
        Ok(NM {
            nrows,
            ncols,
            n,
            m,
            values,
            offsets,
        })
    }

    /// Wraps packed arrays without checking.
    ///
    /// # Safety
    /// The caller guarantees every invariant listed on the type (kernels index without bounds
    /// checks on the strength of them).
    pub unsafe fn new_unchecked(
        nrows: usize,
        ncols: usize,
        n: usize,
        m: usize,
        values: Vec<T>,
        offsets: Vec<u8>,
    ) -> Self {
        debug_assert!(check_packed(nrows, ncols, n, m, &values, &offsets).is_ok());
        NM {
            nrows,
            ncols,
            n,
            m,
            values,
            offsets,
        }
    }

    /// Keeps, in every group of `m` columns of every row, the `n` entries of largest magnitude
    /// (ties go to the lower column; NaN counts as the largest magnitude). Groups with fewer
    /// than `n` non-zeros follow the padding rule. O(nrows · ncols · log m).
    ///
    /// Errors: `dense.len() != nrows · ncols`, invalid `n:m`, `ncols % m != 0`.
    pub fn from_dense(dense: &[T], nrows: usize, ncols: usize, n: usize, m: usize) -> Result<Self> {
        let len = check_shape(nrows, ncols, n, m)?;
        let total = nrows * ncols; // checked by check_shape
        if dense.len() != total {
            return Err(FormatError::len("dense", total, dense.len()));
        }
        let mut values = Vec::with_capacity(len);
        let mut offsets = Vec::with_capacity(len);
        let mut order = [0u8; MAX_M];
        for group in dense.chunks_exact(m) {
            for (o, slot) in order.iter_mut().enumerate().take(m) {
                *slot = o as u8;
            }
            let ord = &mut order[..m];
            ord.sort_by(|&a, &b| {
                let (ma, mb) = (group[a as usize].magnitude(), group[b as usize].magnitude());
                better((ma, a as usize), (mb, b as usize))
            });
            let keep = &mut ord[..n];
            keep.sort_unstable();
            for &o in keep.iter() {
                offsets.push(o);
                values.push(group[o as usize]);
            }
        }
        Ok(NM {
            nrows,
            ncols,
            n,
            m,
            values,
            offsets,
        })
    }

    /// Packs a CSR matrix that already has N:M structure: every group of `m` columns of every
    /// row holds at most `n` stored entries (explicit zeros count, as in [`satisfies_nm`]).
    /// Stored values are kept exactly; free slots follow the padding rule.
    /// O(nnz + nrows · ncols · n / m).
    ///
    /// ```
    /// use sparsekit_formats::{Csr, NM};
    /// let a = Csr::<f32>::try_new(1, 4, vec![0, 3], vec![0, 1, 3], vec![1.0, 2.0, 3.0])?;
    /// let err = NM::from_csr(&a, 2, 4).unwrap_err();
    /// assert_eq!(err.to_string(), "structure: row 0, group 0 (columns 0..4): 3 non-zeros > N = 2");
    /// # Ok::<(), sparsekit_formats::FormatError>(())
    /// ```
    pub fn from_csr<I: SpIndex>(a: &Csr<T, I>, n: usize, m: usize) -> Result<Self> {
        let (nrows, ncols) = a.shape();
        let len = check_shape(nrows, ncols, n, m)?;
        let groups = ncols / m;
        // Check the structure before allocating anything of the output's size.
        check_groups(a.pattern(), n, m)?;
        let mut values = try_vec(len, T::ZERO, "N:M values")?;
        let mut offsets = try_vec(len, 0u8, "N:M offsets")?;
        // Default: every group padded with offsets 0..n.
        for group in offsets.chunks_exact_mut(n) {
            for (s, o) in group.iter_mut().enumerate() {
                *o = s as u8;
            }
        }
        let (row_ptr, col_idx, vals) = (a.row_ptr(), a.col_idx(), a.values());
        for i in 0..nrows {
            let (mut p, e) = (row_ptr[i].index(), row_ptr[i + 1].index());
            while p < e {
                let g = col_idx[p].index() / m;
                let mut q = p;
                let mut real: u16 = 0;
                while q < e && col_idx[q].index() / m == g {
                    real |= 1 << (col_idx[q].index() % m);
                    q += 1;
                }
                let base = (i * groups + g) * n;
                let slots = &mut offsets[base..base + n];
                padded_offsets(real, n, m, slots);
                // Real entries and slots are both in increasing offset order.
                let mut r = p;
                for (s, &o) in slots.iter().enumerate() {
                    if r < q && col_idx[r].index() % m == o as usize {
                        values[base + s] = vals[r];
                        r += 1;
                    }
                }
                p = q;
            }
        }
        Ok(NM {
            nrows,
            ncols,
            n,
            m,
            values,
            offsets,
        })
    }

    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.nrows
    }
    /// Number of columns (a multiple of M).
    pub fn ncols(&self) -> usize {
        self.ncols
    }
    /// `(nrows, ncols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.nrows, self.ncols)
    }
    /// N: slots per group.
    pub fn n(&self) -> usize {
        self.n
    }
    /// M: group size in columns.
    pub fn m(&self) -> usize {
        self.m
    }
    /// Groups per row, `ncols / M`.
    pub fn groups_per_row(&self) -> usize {
        self.ncols / self.m
    }
    /// Packed values, `nrows · (ncols/M) · N` (padding zeros included).
    pub fn values(&self) -> &[T] {
        &self.values
    }
    /// Values may be changed freely: the structure stays valid.
    pub fn values_mut(&mut self) -> &mut [T] {
        &mut self.values
    }
    /// Per-slot offsets inside the group (`0..M`), same layout as [`NM::values`].
    pub fn offsets(&self) -> &[u8] {
        &self.offsets
    }
    /// Raw bytes of the values (zero-copy, native endianness).
    pub fn values_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.values)
    }
    /// `(nrows, ncols, n, m, values, offsets)`.
    pub fn into_parts(self) -> (usize, usize, usize, usize, Vec<T>, Vec<u8>) {
        (
            self.nrows,
            self.ncols,
            self.n,
            self.m,
            self.values,
            self.offsets,
        )
    }
    /// A borrowed view for kernels.
    pub fn view(&self) -> NMView<'_, T> {
        NMView {
            nrows: self.nrows,
            ncols: self.ncols,
            n: self.n,
            m: self.m,
            values: &self.values,
            offsets: &self.offsets,
        }
    }
    /// Dense row-major copy (`nrows * ncols` values).
    pub fn to_dense(&self) -> Vec<T> {
        self.view().to_dense()
    }
    /// CSR of the same matrix, keeping only **non-zero** values (padding and stored zeros are
    /// dropped). Errors only when `nrows`, `ncols` or the number of non-zeros does not fit in `I`.
    pub fn to_csr<I: SpIndex>(&self) -> Result<Csr<T, I>> {
        self.view().to_csr()
    }
}

/// A borrowed N:M matrix. Same invariants as [`NM`].
#[derive(Clone, Copy, Debug)]
pub struct NMView<'a, T: Scalar> {
    nrows: usize,
    ncols: usize,
    n: usize,
    m: usize,
    values: &'a [T],
    offsets: &'a [u8],
}

impl<'a, T: Scalar> NMView<'a, T> {
    /// Validates borrowed arrays (O(len)).
    pub fn try_new(
        nrows: usize,
        ncols: usize,
        n: usize,
        m: usize,
        values: &'a [T],
        offsets: &'a [u8],
    ) -> Result<Self> {
        check_packed(nrows, ncols, n, m, values, offsets)?;
        Ok(NMView {
            nrows,
            ncols,
            n,
            m,
            values,
            offsets,
        })
    }
    /// # Safety
    /// The arrays satisfy every invariant listed on [`NM`].
    pub unsafe fn new_unchecked(
        nrows: usize,
        ncols: usize,
        n: usize,
        m: usize,
        values: &'a [T],
        offsets: &'a [u8],
    ) -> Self {
        NMView {
            nrows,
            ncols,
            n,
            m,
            values,
            offsets,
        }
    }
    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.nrows
    }
    /// Number of columns (a multiple of M).
    pub fn ncols(&self) -> usize {
        self.ncols
    }
    /// `(nrows, ncols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.nrows, self.ncols)
    }
    /// N: slots per group.
    pub fn n(&self) -> usize {
        self.n
    }
    /// M: group size in columns.
    pub fn m(&self) -> usize {
        self.m
    }
    /// Groups per row, `ncols / M`.
    pub fn groups_per_row(&self) -> usize {
        self.ncols / self.m
    }
    /// Packed values, `nrows · (ncols/M) · N` (padding zeros included).
    pub fn values(&self) -> &'a [T] {
        self.values
    }
    /// Column offset of each slot inside its group, same length as `values`; `< M`, strictly increasing within a group.
    pub fn offsets(&self) -> &'a [u8] {
        self.offsets
    }
    /// Dense row-major copy.
    pub fn to_dense(&self) -> Vec<T> {
        let mut out = vec![T::ZERO; self.nrows * self.ncols];
        for (gi, (vals, offs)) in self
            .values
            .chunks_exact(self.n)
            .zip(self.offsets.chunks_exact(self.n))
            .enumerate()
        {
            // Groups are consecutive in row-major order, so group gi starts at gi·m.
            let base = gi * self.m;
            for (&v, &o) in vals.iter().zip(offs) {
                out[base + o as usize] = v;
            }
        }
        out
    }
    /// See [`NM::to_csr`].
    pub fn to_csr<I: SpIndex>(&self) -> Result<Csr<T, I>> {
        crate::compressed::check_dims::<I>(self.nrows, self.ncols, "CSR shape")?;
        let nnz = self.values.iter().filter(|v| !v.is_zero()).count();
        I::try_from_usize(nnz, "nnz")?;
        let mut row_ptr = try_with_capacity(self.nrows + 1, "row_ptr")?;
        let mut col_idx = Vec::with_capacity(nnz);
        let mut vals = Vec::with_capacity(nnz);
        row_ptr.push(I::default());
        let per_row = self.groups_per_row() * self.n;
        for i in 0..self.nrows {
            let (rv, ro) = (
                &self.values[i * per_row..(i + 1) * per_row],
                &self.offsets[i * per_row..(i + 1) * per_row],
            );
            for (k, (&v, &o)) in rv.iter().zip(ro).enumerate() {
                if !v.is_zero() {
                    col_idx.push(I::from_usize((k / self.n) * self.m + o as usize));
                    vals.push(v);
                }
            }
            row_ptr.push(I::from_usize(col_idx.len()));
        }
        // SAFETY: groups in order, offsets strictly increasing within a group ⇒ rows strictly
        // increasing; columns < ncols; dims and nnz fit I (checked above).
        Ok(unsafe { Csr::new_unchecked(self.nrows, self.ncols, row_ptr, col_idx, vals) })
    }
    /// Owned copy of the borrowed arrays.
    pub fn to_owned(&self) -> NM<T> {
        NM {
            nrows: self.nrows,
            ncols: self.ncols,
            n: self.n,
            m: self.m,
            values: self.values.to_vec(),
            offsets: self.offsets.to_vec(),
        }
    }
}

/// The first group of `pattern` holding more than `n` stored entries, as a
/// [`FormatError::Structure`]. Assumes valid `n`, `m` and `ncols % m == 0`.
fn check_groups<I: SpIndex>(pattern: &CsrPattern<I>, n: usize, m: usize) -> Result<()> {
    for i in 0..pattern.nrows() {
        if let Some((g, count)) = nm_violation(pattern.row(i).iter().map(|j| j.index()), n, m) {
            return Err(FormatError::Structure(format!(
                "row {i}, group {g} (columns {}..{}): {count} non-zeros > N = {n}",
                g * m,
                (g + 1) * m
            )));
        }
    }
    Ok(())
}

/// Whether `pattern` can be packed as [`NM`]: it has N:M structure by the
/// [vocabulary's rule](crate::sparsity#nm) ([`pattern_is_nm`]: at most `n` stored entries, explicit
/// zeros counted, in every group of `m` columns of every row) **and** N:M storage accepts the
/// shape ([`check_nm_storage`]: `1 ≤ n < m ≤ 16`, `ncols % m == 0`). Equivalent to
/// `NM::from_csr(a, n, m).is_ok()` for a matrix `a` with this pattern. O(nnz + nrows).
///
/// ```
/// use sparsekit_formats::{satisfies_nm, CsrPattern};
/// let p = CsrPattern::<u32>::try_new(1, 8, vec![0, 3], vec![0, 3, 5]).unwrap();
/// assert!(satisfies_nm(&p, 2, 4));
/// assert!(!satisfies_nm(&p, 1, 4));
/// assert!(!satisfies_nm(&p, 2, 3)); // 8 % 3 != 0
/// ```
pub fn satisfies_nm<I: SpIndex>(pattern: &CsrPattern<I>, n: usize, m: usize) -> bool {
    check_nm_storage(pattern.ncols(), n, m).is_ok() && pattern_is_nm(pattern.view(), n, m)
}
