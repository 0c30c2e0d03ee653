//! Row-major dense views with an explicit row stride: [`MatRef`] and [`MatMut`].
//!
//! Invariants (always checked by the constructors): `row_stride >= ncols`, and when the view is
//! not empty (`nrows > 0 && ncols > 0`) the buffer holds at least
//! `(nrows - 1) * row_stride + ncols` elements. Kernels index without bounds checks on the
//! strength of them.

use crate::error::KernelError;

fn check_len(
    what: &'static str,
    len: usize,
    nrows: usize,
    ncols: usize,
    row_stride: usize,
) -> Result<(), KernelError> {
    if row_stride < ncols {
        return Err(KernelError::InvalidStride { ncols, row_stride });
    }
    if nrows == 0 || ncols == 0 {
        return Ok(());
    }
    let needed = (nrows - 1)
        .checked_mul(row_stride)
        .and_then(|v| v.checked_add(ncols))
        .ok_or(KernelError::SizeOverflow {
            nrows,
            ncols,
            row_stride,
        })?;
    if len < needed {
        return Err(KernelError::BufferTooShort {
            what,
            needed,
            got: len,
        });
    }
    Ok(())
}

/// A borrowed row-major `nrows × ncols` matrix; row `i` starts at `i * row_stride`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    data: &'a [T],
    nrows: usize,
    ncols: usize,
    row_stride: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// A contiguous view (`row_stride = ncols`).
    ///
    /// ```
    /// use sparsekit_kernels::MatRef;
    /// let m = MatRef::new(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3)?;
    /// assert_eq!(m.row(1), &[4.0, 5.0, 6.0]);
    /// assert!(MatRef::new(&[1.0f32; 5], 2, 3).is_err());
    /// # Ok::<(), sparsekit_kernels::KernelError>(())
    /// ```
    pub fn new(data: &'a [T], nrows: usize, ncols: usize) -> Result<Self, KernelError> {
        Self::with_stride(data, nrows, ncols, ncols)
    }
    /// A strided view: row `i` is `data[i * row_stride .. i * row_stride + ncols]`.
    pub fn with_stride(
        data: &'a [T],
        nrows: usize,
        ncols: usize,
        row_stride: usize,
    ) -> Result<Self, KernelError> {
        check_len("MatRef", data.len(), nrows, ncols, row_stride)?;
        Ok(MatRef {
            data,
            nrows,
            ncols,
            row_stride,
        })
    }
    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.nrows
    }
    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.ncols
    }
    /// Elements from the start of one row to the start of the next (`≥ ncols`).
    pub fn row_stride(&self) -> usize {
        self.row_stride
    }
    /// Row `i`. Panics if `i >= nrows`.
    pub fn row(&self, i: usize) -> &'a [T] {
        assert!(
            i < self.nrows,
            "row {i} out of range for {} rows",
            self.nrows
        );
        &self.data[i * self.row_stride..i * self.row_stride + self.ncols]
    }
    /// The underlying buffer.
    pub fn data(&self) -> &'a [T] {
        self.data
    }
    pub(crate) fn as_ptr(&self) -> *const T {
        self.data.as_ptr()
    }
    /// `true` when `nrows == 0 || ncols == 0`.
    pub fn is_empty(&self) -> bool {
        self.nrows == 0 || self.ncols == 0
    }
}

/// A mutable row-major `nrows × ncols` matrix; row `i` starts at `i * row_stride`.
#[derive(Debug)]
pub struct MatMut<'a, T> {
    data: &'a mut [T],
    nrows: usize,
    ncols: usize,
    row_stride: usize,
}

impl<'a, T> MatMut<'a, T> {
    /// A contiguous view (`row_stride = ncols`).
    pub fn new(data: &'a mut [T], nrows: usize, ncols: usize) -> Result<Self, KernelError> {
        Self::with_stride(data, nrows, ncols, ncols)
    }
    /// A strided view: row `i` is `data[i * row_stride .. i * row_stride + ncols]`.
    pub fn with_stride(
        data: &'a mut [T],
        nrows: usize,
        ncols: usize,
        row_stride: usize,
    ) -> Result<Self, KernelError> {
        check_len("MatMut", data.len(), nrows, ncols, row_stride)?;
        Ok(MatMut {
            data,
            nrows,
            ncols,
            row_stride,
        })
    }
    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.nrows
    }
    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.ncols
    }
    /// Elements from the start of one row to the start of the next (`≥ ncols`).
    pub fn row_stride(&self) -> usize {
        self.row_stride
    }
    /// Row `i`. Panics if `i >= nrows`.
    pub fn row(&self, i: usize) -> &[T] {
        assert!(
            i < self.nrows,
            "row {i} out of range for {} rows",
            self.nrows
        );
        &self.data[i * self.row_stride..i * self.row_stride + self.ncols]
    }
    /// Row `i`, mutable. Panics if `i >= nrows`.
    pub fn row_mut(&mut self, i: usize) -> &mut [T] {
        assert!(
            i < self.nrows,
            "row {i} out of range for {} rows",
            self.nrows
        );
        &mut self.data[i * self.row_stride..i * self.row_stride + self.ncols]
    }
    /// A read-only view of the same data.
    pub fn as_ref(&self) -> MatRef<'_, T> {
        MatRef {
            data: self.data,
            nrows: self.nrows,
            ncols: self.ncols,
            row_stride: self.row_stride,
        }
    }
    /// A shorter-lived mutable view of the same data.
    pub fn rb_mut(&mut self) -> MatMut<'_, T> {
        MatMut {
            data: self.data,
            nrows: self.nrows,
            ncols: self.ncols,
            row_stride: self.row_stride,
        }
    }
    /// The underlying buffer.
    pub fn data_mut(&mut self) -> &mut [T] {
        self.data
    }
    pub(crate) fn as_mut_ptr(&mut self) -> *mut T {
        self.data.as_mut_ptr()
    }
    /// `true` when `nrows == 0 || ncols == 0`.
    pub fn is_empty(&self) -> bool {
        self.nrows == 0 || self.ncols == 0
    }
}
