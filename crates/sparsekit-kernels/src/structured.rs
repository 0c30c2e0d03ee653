//! Structured-sparsity kernels over [`BsrView`] (dense `r × c` blocks) and [`NMView`] (N:M along
//! rows): [`bsr_spmm`], [`bsr_spmm_t`], [`nm_spmm`], [`nm_spmm_t`] and the N:M weight gradient
//! [`nm_sddmm`]. The cores live in `blocked.rs` (BSR / N:M `RowSource`s of the CSR driver and
//! their buffered schedules); this module checks shapes and dispatches.
//!
//! Like the CSR kernels: shape errors are [`KernelError`]s (never panics), results do not depend
//! on the rayon thread count, values may be `f32`, `f64`, `f16` or `bf16` (arithmetic is f32).

use sparsekit_formats::{BsrView, CsrPatternView, NMView, Scalar, SpIndex};

use crate::blocked::{run_bsr, run_nm};
use crate::bsr_amx::{amx_bsr_fits, bsr_spmm_bf16_amx};
use crate::dense::{MatMut, MatRef};
use crate::element::{self, with_f32_out, with_f32_slice, Element};
use crate::error::KernelError;
use crate::scratch::for_transposed_chunks;
use crate::shape::{check_linear_grad, check_spmm, check_spmm_t};
use crate::simd::Isa;
use crate::spmm::Out;

/// `Y = A·X` for a BSR matrix `A` (m × k, `r × c` blocks), dense `X` (k × n) and `Y` (m × n,
/// overwritten).
///
/// Blocks of 8 or more rows use a buffered block-row schedule (each `X` vector loaded once per
/// block and reused by all `r` rows); smaller blocks use the register-blocked row driver.
///
/// ```
/// use sparsekit_formats::Bsr;
/// use sparsekit_kernels::{bsr_spmm, MatMut, MatRef};
/// // 2×4 matrix, one 2×2 block at block column 0: [[1, 2, 0, 0], [3, 4, 0, 0]]
/// let a = Bsr::<f32>::try_new(2, 4, (2, 2), vec![0, 1], vec![0], vec![1.0, 2.0, 3.0, 4.0])?;
/// let x = [1.0f32, 2.0, 3.0, 4.0]; // 4×1
/// let mut y = [0.0f32; 2];
/// bsr_spmm(a.view(), MatRef::new(&x, 4, 1)?, MatMut::new(&mut y, 2, 1)?)?;
/// assert_eq!(y, [5.0, 11.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn bsr_spmm<T: Scalar, I: SpIndex, X: Element, Y: Element>(
    a: BsrView<'_, T, I>,
    x: MatRef<'_, X>,
    y: MatMut<'_, Y>,
) -> Result<(), KernelError> {
    bsr_spmm_isa(Isa::detect(), a, x, y)
}

/// [`bsr_spmm`] on an explicit instruction set.
pub fn bsr_spmm_isa<T: Scalar, I: SpIndex, X: Element, Y: Element>(
    isa: Isa,
    a: BsrView<'_, T, I>,
    x: MatRef<'_, X>,
    y: MatMut<'_, Y>,
) -> Result<(), KernelError> {
    let (m, k) = a.shape();
    let n = check_spmm("bsr_spmm", (m, k), &x, &y)?;
    with_f32_out(y, false, |mut y| {
        // bf16 values and a bf16 X with 16-aligned blocks run on AMX tiles where the CPU and
        // the OS allow it (`bsr_spmm_amx`; 4× the f32 kernel at 16×16, docs/kernels.md).
        if isa == Isa::Avx512 && T::NAME == "bf16" && element::kind::<X>() == element::Kind::Bf16 {
            let vals: &[half::bf16] = bytemuck::cast_slice(a.values());
            let xb = MatRef::with_stride(
                bytemuck::cast_slice::<X, half::bf16>(x.data()),
                x.nrows(),
                x.ncols(),
                x.row_stride(),
            )
            .expect("the same view, as bf16");
            // The view is validated on construction and the shapes are checked above: the
            // contract of `bsr_spmm_bf16_amx`.
            if bsr_spmm_bf16_amx(
                a.block_row_ptr(),
                a.block_col_idx(),
                vals,
                a.block_shape(),
                xb,
                y.rb_mut(),
            ) {
                return;
            }
        }
        let out = Out::rows(&mut y, 1.0, 0.0);
        // SAFETY: a `BsrView` is validated on construction (block row pointers monotone and ending
        // at nblocks, block columns < k / c, values = nblocks·r·c, m = nbrows·r); X has k rows and
        // n columns and Y is m × n (checked above).
        unsafe {
            run_bsr(
                isa,
                a.block_row_ptr(),
                a.block_col_idx(),
                a.values(),
                a.block_shape(),
                x,
                n,
                out,
            )
        };
    });
    Ok(())
}

/// Whether the Intel AMX bf16 path ([`bsr_spmm_amx`]) can run in this process: the CPU lists
/// AMX-TILE and AMX-BF16 and Linux granted the tile-data permission
/// (`arch_prctl(ARCH_REQ_XCOMP_PERM)`, asked once per process on the first call). Always false
/// off x86_64 Linux.
pub fn amx_available() -> bool {
    crate::amx::has_amx_bf16()
}

/// `Y = A·X` on Intel AMX (`tdpbf16ps`) for a BSR `A` (m × k) with **bf16 values** and `r × c`
/// blocks, `r` and `c` multiples of 16, a dense **bf16** `X` (k × n) and an f32 `Y` (m × n,
/// overwritten).
///
/// Products of two bf16 are exact in f32 and accumulate in f32:
/// `|y − y_exact| ≤ K·2⁻²⁴·Σ_j |a_ij·x_jc|` (first order; `K` = stored terms of the row). AMX
/// treats denormal inputs as zero and flushes denormal results. Bit-identical for any rayon
/// thread count.
///
/// Errors: [`KernelError::ShapeMismatch`] as [`bsr_spmm`]; [`KernelError::Unsupported`] when
/// the block shape is not a multiple of 16 × 16 or AMX is not usable ([`amx_available`]) — fall
/// back to [`bsr_spmm`] on f32 copies then.
///
/// ```
/// use half::bf16;
/// use sparsekit_formats::Bsr;
/// use sparsekit_kernels::{bsr_spmm_amx, KernelError, MatMut, MatRef};
/// // 16×32 matrix, one 16×16 identity block at block column 1.
/// let mut v = vec![bf16::ZERO; 256];
/// for i in 0..16 {
///     v[i * 16 + i] = bf16::ONE;
/// }
/// let a = Bsr::<bf16>::try_new(16, 32, (16, 16), vec![0, 1], vec![1], v)?;
/// let x: Vec<bf16> = (0..32).map(|i| bf16::from_f32(i as f32)).collect(); // 32×1
/// let mut y = vec![0.0f32; 16];
/// match bsr_spmm_amx(a.view(), MatRef::new(&x, 32, 1)?, MatMut::new(&mut y, 16, 1)?) {
///     Ok(()) => assert_eq!(y[3], 19.0), // row 3 picks X row 16 + 3
///     Err(KernelError::Unsupported { .. }) => {} // no AMX here: use bsr_spmm on f32 copies
///     Err(e) => return Err(e.into()),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn bsr_spmm_amx<I: SpIndex>(
    a: BsrView<'_, half::bf16, I>,
    x: MatRef<'_, half::bf16>,
    y: MatMut<'_, f32>,
) -> Result<(), KernelError> {
    const OP: &str = "bsr_spmm_amx";
    let (m, k) = a.shape();
    check_spmm(OP, (m, k), &x, &y)?;
    let (r, c) = a.block_shape();
    if !amx_bsr_fits(r, c) {
        return Err(KernelError::Unsupported {
            op: OP,
            detail: format!("block shape {r}×{c}: the AMX kernel needs r and c multiples of 16"),
        });
    }
    // The view is validated on construction and the shapes are checked above: the contract of
    // `bsr_spmm_bf16_amx`.
    if !bsr_spmm_bf16_amx(
        a.block_row_ptr(),
        a.block_col_idx(),
        a.values(),
        (r, c),
        x,
        y,
    ) {
        return Err(KernelError::Unsupported {
            op: OP,
            detail: "AMX bf16 is not usable in this process (CPU without AMX-TILE / AMX-BF16, \
                     tile-data permission refused, or not x86_64 Linux)"
                .into(),
        });
    }
    Ok(())
}

/// `Y = X·Wᵀ` for a BSR `W` (m × k, one row per output feature): `X` is batch × k, `Y` batch × m
/// (overwritten) — the forward of a block-sparse linear layer.
///
/// ```
/// use sparsekit_formats::Bsr;
/// use sparsekit_kernels::{bsr_spmm_t, MatMut, MatRef};
/// let w = Bsr::<f32>::try_new(2, 4, (2, 2), vec![0, 1], vec![1], vec![1.0, 2.0, 3.0, 4.0])?;
/// let x = [0.0f32, 0.0, 1.0, 1.0]; // batch 1 × 4
/// let mut y = [0.0f32; 2];
/// bsr_spmm_t(MatRef::new(&x, 1, 4)?, w.view(), None, MatMut::new(&mut y, 1, 2)?)?;
/// assert_eq!(y, [3.0, 7.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn bsr_spmm_t<T: Scalar, I: SpIndex, X: Element, Y: Element>(
    x: MatRef<'_, X>,
    w: BsrView<'_, T, I>,
    bias: Option<&[f32]>,
    y: MatMut<'_, Y>,
) -> Result<(), KernelError> {
    bsr_spmm_t_isa(Isa::detect(), x, w, bias, y)
}

/// [`bsr_spmm_t`] on an explicit instruction set.
pub fn bsr_spmm_t_isa<T: Scalar, I: SpIndex, X: Element, Y: Element>(
    isa: Isa,
    x: MatRef<'_, X>,
    w: BsrView<'_, T, I>,
    bias: Option<&[f32]>,
    y: MatMut<'_, Y>,
) -> Result<(), KernelError> {
    let (m, k) = w.shape();
    check_spmm_t("bsr_spmm_t", &x, (m, k), bias, &y)?;
    let nb = x.nrows();
    if nb == 0 || m == 0 {
        return Ok(());
    }
    with_f32_out(y, false, |mut y| {
        let out = Out::cols(&mut y, bias);
        for_transposed_chunks(isa, x, |xt, rows, t0| {
            // SAFETY: as in `bsr_spmm_isa`; Xᵀ is k × rows (a chunk of the batch starting at row
            // t0 < batch), Y is batch × m so output column i < m and row t0 + t < batch exist; the
            // bias (when given) has m elements (checked).
            unsafe {
                run_bsr(
                    isa,
                    w.block_row_ptr(),
                    w.block_col_idx(),
                    w.values(),
                    w.block_shape(),
                    xt,
                    rows,
                    out.batch_offset(t0),
                )
            };
        });
    });
    Ok(())
}

/// `Y = A·X` for an N:M matrix `A` (m × k; every group of `M` columns of a row stores `N`
/// values), dense `X` (k × n) and `Y` (m × n, overwritten).
///
/// ```
/// use sparsekit_formats::NM;
/// use sparsekit_kernels::{nm_spmm, MatMut, MatRef};
/// // 1×4 row [0, 2, 0, 3] at 2:4: values [2, 3] at offsets [1, 3].
/// let a = NM::<f32>::try_new(1, 4, 2, 4, vec![2.0, 3.0], vec![1, 3])?;
/// let x = [1.0f32, 1.0, 1.0, 2.0]; // 4×1
/// let mut y = [0.0f32; 1];
/// nm_spmm(a.view(), MatRef::new(&x, 4, 1)?, MatMut::new(&mut y, 1, 1)?)?;
/// assert_eq!(y, [8.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn nm_spmm<T: Scalar, X: Element, Y: Element>(
    a: NMView<'_, T>,
    x: MatRef<'_, X>,
    y: MatMut<'_, Y>,
) -> Result<(), KernelError> {
    nm_spmm_isa(Isa::detect(), a, x, y)
}

/// [`nm_spmm`] on an explicit instruction set.
pub fn nm_spmm_isa<T: Scalar, X: Element, Y: Element>(
    isa: Isa,
    a: NMView<'_, T>,
    x: MatRef<'_, X>,
    y: MatMut<'_, Y>,
) -> Result<(), KernelError> {
    let (m, k) = a.shape();
    let n = check_spmm("nm_spmm", (m, k), &x, &y)?;
    with_f32_out(y, false, |mut y| {
        let out = Out::rows(&mut y, 1.0, 0.0);
        // SAFETY: an `NMView` is validated on construction (values and offsets hold
        // m·(k / M)·N entries, offsets < M, k % M == 0); X has k rows and n columns, Y is m × n.
        unsafe { run_nm(isa, a.values(), a.offsets(), m, (a.n(), a.m()), x, n, out) };
    });
    Ok(())
}

/// `Y = X·Wᵀ + bias` for an N:M `W` (m × k): `X` batch × k, `Y` batch × m (overwritten) — the
/// forward of a 2:4 (or any N:M) sparse linear layer. `bias`, when given, has m elements.
///
/// ```
/// use sparsekit_formats::NM;
/// use sparsekit_kernels::{nm_spmm_t, MatMut, MatRef};
/// let w = NM::<f32>::try_new(1, 4, 2, 4, vec![2.0, 3.0], vec![1, 3])?;
/// let x = [1.0f32, 1.0, 1.0, 2.0, 0.0, 1.0, 0.0, 0.0]; // batch 2 × 4
/// let mut y = [0.0f32; 2];
/// nm_spmm_t(MatRef::new(&x, 2, 4)?, w.view(), Some(&[0.5]), MatMut::new(&mut y, 2, 1)?)?;
/// assert_eq!(y, [8.5, 2.5]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn nm_spmm_t<T: Scalar, X: Element, Y: Element>(
    x: MatRef<'_, X>,
    w: NMView<'_, T>,
    bias: Option<&[f32]>,
    y: MatMut<'_, Y>,
) -> Result<(), KernelError> {
    nm_spmm_t_isa(Isa::detect(), x, w, bias, y)
}

/// [`nm_spmm_t`] on an explicit instruction set.
pub fn nm_spmm_t_isa<T: Scalar, X: Element, Y: Element>(
    isa: Isa,
    x: MatRef<'_, X>,
    w: NMView<'_, T>,
    bias: Option<&[f32]>,
    y: MatMut<'_, Y>,
) -> Result<(), KernelError> {
    let (m, k) = w.shape();
    check_spmm_t("nm_spmm_t", &x, (m, k), bias, &y)?;
    let nb = x.nrows();
    if nb == 0 || m == 0 {
        return Ok(());
    }
    with_f32_out(y, false, |mut y| {
        let out = Out::cols(&mut y, bias);
        for_transposed_chunks(isa, x, |xt, rows, t0| {
            // SAFETY: as in `nm_spmm_isa`; Xᵀ is k × rows (the batch chunk from row t0 < batch), Y
            // is batch × m, bias has m elements.
            unsafe {
                run_nm(
                    isa,
                    w.values(),
                    w.offsets(),
                    m,
                    (w.n(), w.m()),
                    xt,
                    rows,
                    out.batch_offset(t0),
                )
            };
        });
    });
    Ok(())
}

/// The weight gradient of `Y = X·Wᵀ` for an N:M `W` (m × k), sampled at `W`'s N:M pattern:
/// `out[p] = Σ_b dY[b,i]·X[b,j]` for the `p`-th stored entry `(i, j)` of `W` (same layout as
/// `W.values()`, so `out` can be used directly as the values of an N:M gradient). `dY` is
/// batch × m, `X` batch × k; `out.len()` must equal `W.values().len()`.
///
/// ```
/// use sparsekit_formats::NM;
/// use sparsekit_kernels::{nm_sddmm, MatRef};
/// let w = NM::<f32>::try_new(1, 4, 2, 4, vec![2.0, 3.0], vec![1, 3])?;
/// let dy = [1.0f32, 2.0]; // batch 2 × 1
/// let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]; // batch 2 × 4
/// let mut dw = [0.0f32; 2];
/// nm_sddmm(MatRef::new(&dy, 2, 1)?, MatRef::new(&x, 2, 4)?, w.view(), &mut dw)?;
/// assert_eq!(dw, [2.0 + 12.0, 4.0 + 16.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn nm_sddmm<T: Scalar, X: Element, Y: Element>(
    dy: MatRef<'_, X>,
    x: MatRef<'_, X>,
    w: NMView<'_, T>,
    out: &mut [Y],
) -> Result<(), KernelError> {
    nm_sddmm_isa(Isa::detect(), dy, x, w, out)
}

/// [`nm_sddmm`] on an explicit instruction set.
pub fn nm_sddmm_isa<T: Scalar, X: Element, Y: Element>(
    isa: Isa,
    dy: MatRef<'_, X>,
    x: MatRef<'_, X>,
    w: NMView<'_, T>,
    out: &mut [Y],
) -> Result<(), KernelError> {
    const OP: &str = "nm_sddmm";
    let (m, k) = w.shape();
    check_linear_grad(OP, "W", (m, k), &dy, &x)?;
    let nnz = w.values().len();
    if out.len() != nnz {
        return Err(KernelError::shape(
            OP,
            format!("out has {} elements but W stores {nnz} values", out.len()),
        ));
    }
    if nnz == 0 {
        return Ok(());
    }
    // The N:M pattern as an implicit CSR pattern (row i = entries i·per_row ..), then the CSR
    // SDDMM core. u32 indices whenever they fit (always, in practice), u64 otherwise.
    with_f32_slice(out, |out| {
        if nnz <= u32::MAX as usize && k <= u32::MAX as usize {
            nm_sddmm_via::<u32, T, X>(isa, dy, x, w, out);
        } else {
            nm_sddmm_via::<u64, T, X>(isa, dy, x, w, out);
        }
    });
    Ok(())
}

fn nm_sddmm_via<I: SpIndex, T: Scalar, X: Element>(
    isa: Isa,
    dy: MatRef<'_, X>,
    x: MatRef<'_, X>,
    w: NMView<'_, T>,
    out: &mut [f32],
) {
    let (m, k) = w.shape();
    let (nn, mm) = (w.n(), w.m());
    let groups = w.groups_per_row();
    let per_row = groups * nn;
    let row_ptr: Vec<I> = (0..=m).map(|i| I::from_usize(i * per_row)).collect();
    let col_idx: Vec<I> = w
        .offsets()
        .iter()
        .enumerate()
        .map(|(p, &o)| I::from_usize((p % per_row) / nn * mm + o as usize))
        .collect();
    // SAFETY: row_ptr has m + 1 entries from 0 to m·per_row = nnz, non-decreasing; within a row
    // the columns g·M + off are strictly increasing (offsets strictly increase inside a group,
    // an `NMView` invariant, and groups are in order) and < groups·M = k; nnz and k fit in I
    // (checked by the caller).
    let pattern = unsafe { CsrPatternView::new_unchecked(m, k, &row_ptr, &col_idx) };
    crate::sddmm::sddmm_linear_unchecked(isa, dy, x, pattern, out);
}
