//! [`SparseTensor`]: a CSR matrix whose arrays are burn tensors on any [`Device`].

use burn::backend::Dispatch;
use burn::tensor::{bf16, f16, DType, Device, Int, Tensor, TensorData};
use sparsekit_formats::{Bsr, Csr, CsrPattern, CsrPatternView, Scalar, NM};

use crate::backend::{CsrPatternPrimitive, CsrPrimitive, SparseBackend};
use crate::error::SparseError;
use crate::structure::Structure;

/// A sparse `rows × cols` matrix in CSR form on a burn [`Device`].
///
/// Invariants (always checked by every constructor): `row_ptr` has `rows + 1` non-decreasing
/// entries starting at 0 and ending at nnz; within each row the column indices are strictly
/// increasing and `< cols`; `values` has nnz entries. The pattern (`row_ptr`, `col_idx`) is Int
/// tensors and is never differentiated; `values` is a Float tensor and carries gradients when it
/// lives on an autodiff device.
#[derive(Clone, Debug)]
pub struct SparseTensor {
    row_ptr: Tensor<1, Int>,
    col_idx: Tensor<1, Int>,
    values: Tensor<1>,
    shape: [usize; 2],
    structure: Structure,
}

pub(crate) fn int_tensor(v: &[u32], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i32> = v.iter().map(|&i| i as i32).collect();
    let n = v.len();
    // i32 explicitly (not the device's default int dtype): the CPU kernels then borrow the
    // indices without conversion.
    Tensor::from_data(TensorData::new(v, [n]), (device, DType::I32))
}

fn host_u32(t: &Tensor<1, Int>) -> Vec<u32> {
    host_indices(t).expect("sparsekit-tensor: SparseTensor invariant broken")
}

/// Index tensor to host `u32`, rejecting negative or too large entries.
fn host_indices(t: &Tensor<1, Int>) -> Result<Vec<u32>, SparseError> {
    let v = t
        .clone()
        .into_data()
        .try_into_vec_as::<i64>()
        .map_err(|_| SparseError::Index)?;
    v.into_iter()
        .map(|i| u32::try_from(i).map_err(|_| SparseError::Index))
        .collect()
}

fn check_index_range(v: &[u32]) -> Result<(), SparseError> {
    if v.iter().any(|&i| i > i32::MAX as u32) {
        return Err(SparseError::TooLarge);
    }
    Ok(())
}

/// The dtype `device` stores a float tensor of `dtype` in: `dtype` itself where the device
/// supports it, else F32 (NdArray has no F16 / BF16: half values live there as f32 holding the
/// rounded values — "converted at the edge"). The one home of that rule.
pub fn storage_dtype(device: &Device, dtype: DType) -> DType {
    if device.supports_dtype(dtype) {
        dtype
    } else {
        DType::F32
    }
}

pub(crate) fn check_float_dtype(dtype: DType) -> Result<(), SparseError> {
    match dtype {
        DType::F32 | DType::F16 | DType::BF16 => Ok(()),
        other => Err(SparseError::Dtype(format!("{other:?}"))),
    }
}

/// `t` rounded to `dtype` (F32, F16 or BF16) and stored as [`storage_dtype`] says: a device cast
/// where the device has `dtype` (differentiable), else the values are rounded on the host and
/// stay F32 (not differentiable: the result is a new leaf). Other dtypes:
/// [`SparseError::Dtype`].
pub fn cast_float<const D: usize>(t: Tensor<D>, dtype: DType) -> Result<Tensor<D>, SparseError> {
    check_float_dtype(dtype)?;
    Ok(cast_checked(t, dtype))
}

/// [`cast_float`] after its dtype check.
pub(crate) fn cast_checked<const D: usize>(t: Tensor<D>, dtype: DType) -> Tensor<D> {
    let device = t.device();
    let storage = storage_dtype(&device, dtype);
    if storage == dtype {
        return if t.dtype() == dtype { t } else { t.cast(dtype) };
    }
    // The device lacks `dtype`: round through the host, keep F32.
    let t = if t.dtype() == DType::F32 {
        t
    } else {
        t.cast(DType::F32)
    };
    if dtype == DType::F32 {
        return t;
    }
    let data = t.into_data().convert_dtype(dtype).convert_dtype(DType::F32);
    Tensor::from_data(data, (&device, DType::F32))
}

impl SparseTensor {
    /// Uploads a host CSR matrix to `device`.
    pub fn from_csr(csr: &Csr<f32>, device: &Device) -> Result<Self, SparseError> {
        let values =
            Tensor::<1>::from_data(TensorData::new(csr.values().to_vec(), [csr.nnz()]), device);
        Self::from_pattern(csr.pattern(), values)
    }

    /// Uploads a host CSR matrix of any value type with values of `dtype` (F32, F16 or BF16;
    /// else [`SparseError::Dtype`]). Each value is rounded to `dtype` once (correctly, also from
    /// f64: [`Scalar::from_f64`]). On a device without `dtype` (NdArray has no half dtypes) the
    /// rounded values are stored as F32 ([`storage_dtype`]); the products then give the same
    /// numbers up to the rounding of half outputs.
    ///
    /// ```
    /// use burn::tensor::{DType, Device, Tensor};
    /// use sparsekit_formats::Csr;
    /// use sparsekit_tensor::{spmm_t, SparseTensor};
    /// let device = Device::flex();
    /// let w = Csr::<f32>::try_new(1, 2, vec![0, 2], vec![0, 1], vec![1.0, 1.0 / 3.0])?;
    /// let w = SparseTensor::from_csr_dtype(&w, DType::BF16, &device)?;
    /// assert_eq!(w.dtype(), DType::BF16);
    /// let x = Tensor::<2>::ones([1, 2], &device).cast(DType::BF16);
    /// let y = spmm_t(x, &w); // bf16 × bf16 → bf16 (the dense operand's dtype)
    /// assert_eq!(y.dtype(), DType::BF16);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_csr_dtype<T: Scalar>(
        csr: &Csr<T>,
        dtype: DType,
        device: &Device,
    ) -> Result<Self, SparseError> {
        check_float_dtype(dtype)?;
        let n = csr.nnz();
        let v = csr.values();
        let data = match dtype {
            DType::BF16 => TensorData::new(
                v.iter()
                    .map(|x| <bf16 as Scalar>::from_f64(x.to_f64()))
                    .collect(),
                [n],
            ),
            DType::F16 => TensorData::new(
                v.iter()
                    .map(|x| <f16 as Scalar>::from_f64(x.to_f64()))
                    .collect(),
                [n],
            ),
            _ => TensorData::new(v.iter().map(|x| x.to_f32()).collect(), [n]),
        };
        let storage = storage_dtype(device, dtype);
        let values = Tensor::<1>::from_data(data.convert_dtype(storage), (device, storage));
        Self::from_pattern(csr.pattern(), values)
    }

    /// The dtype of the values (F32, F16 or BF16 for tensors built here; see
    /// [`storage_dtype`] for devices without half dtypes).
    pub fn dtype(&self) -> DType {
        self.values.dtype()
    }

    /// The same matrix with its values rounded to `dtype` (F32, F16 or BF16; the pattern is
    /// shared). On a device with `dtype` this is a device cast, differentiable; on one without
    /// (NdArray and half dtypes) the values are rounded on the host and stay F32, detached
    /// ([`cast_float`]). Other dtypes: [`SparseError::Dtype`].
    pub fn cast(self, dtype: DType) -> Result<Self, SparseError> {
        Ok(SparseTensor {
            values: cast_float(self.values, dtype)?,
            ..self
        })
    }

    /// A pattern (uploaded to `values`' device) with the given values (length nnz).
    pub fn from_pattern(pattern: &CsrPattern, values: Tensor<1>) -> Result<Self, SparseError> {
        check_index_range(pattern.row_ptr())?;
        let nnz = pattern.nnz();
        let got = values.dims()[0];
        if got != nnz {
            return Err(SparseError::ValuesLength { expected: nnz, got });
        }
        let device = values.device();
        Ok(SparseTensor {
            row_ptr: int_tensor(pattern.row_ptr(), &device),
            col_idx: int_tensor(pattern.col_idx(), &device),
            values,
            shape: [pattern.nrows(), pattern.ncols()],
            structure: Structure::Unstructured,
        })
    }

    /// From raw tensors: `row_ptr` (`rows + 1`), `col_idx` (nnz), `values` (nnz). The pattern is
    /// read back and validated (O(rows + nnz)).
    pub fn from_parts(
        row_ptr: Tensor<1, Int>,
        col_idx: Tensor<1, Int>,
        values: Tensor<1>,
        shape: [usize; 2],
    ) -> Result<Self, SparseError> {
        let rp = host_indices(&row_ptr)?;
        let ci = host_indices(&col_idx)?;
        CsrPatternView::try_new(shape[0], shape[1], &rp, &ci)?;
        let got = values.dims()[0];
        if got != ci.len() {
            return Err(SparseError::ValuesLength {
                expected: ci.len(),
                got,
            });
        }
        Ok(SparseTensor {
            row_ptr,
            col_idx,
            values,
            shape,
            structure: Structure::Unstructured,
        })
    }

    /// Without checks, for values known to come from a valid pattern on the same device.
    pub(crate) fn from_parts_unchecked(
        row_ptr: Tensor<1, Int>,
        col_idx: Tensor<1, Int>,
        values: Tensor<1>,
        shape: [usize; 2],
    ) -> Self {
        SparseTensor {
            row_ptr,
            col_idx,
            values,
            shape,
            structure: Structure::Unstructured,
        }
    }

    /// Tags without checking, for patterns known to have the structure (a layer's own tag).
    pub(crate) fn with_structure_unchecked(self, structure: Structure) -> Self {
        SparseTensor { structure, ..self }
    }

    /// The entries of `dense` at `pattern` (differentiable with respect to `dense`).
    pub fn from_dense_pattern(dense: Tensor<2>, pattern: &CsrPattern) -> Result<Self, SparseError> {
        let [m, k] = dense.dims();
        if pattern.shape() != (m, k) {
            return Err(SparseError::Shape {
                expected: [m, k],
                got: [pattern.nrows(), pattern.ncols()],
            });
        }
        check_index_range(pattern.row_ptr())?;
        let device = dense.device();
        let row_ptr = int_tensor(pattern.row_ptr(), &device);
        let col_idx = int_tensor(pattern.col_idx(), &device);
        let p = CsrPatternPrimitive::<Dispatch> {
            row_ptr: row_ptr.clone().into_dispatch(),
            col_idx: col_idx.clone().into_dispatch(),
            cols: k,
            structure: Structure::Unstructured,
        };
        let values = Tensor::from_dispatch(<Dispatch as SparseBackend>::csr_gather(
            dense.into_dispatch(),
            p,
        ));
        Ok(SparseTensor {
            row_ptr,
            col_idx,
            values,
            shape: [m, k],
            structure: Structure::Unstructured,
        })
    }

    /// The entries of `dense` with `|x| > threshold` (NaN is never kept), differentiable with
    /// respect to `dense`.
    ///
    /// The pattern is built on `dense`'s device: per-row counts, a prefix sum into `row_ptr`,
    /// then the column indices (on wgpu: CubeCL kernels; see `backend/cube/select.rs`). The
    /// only read-back is the scalar nnz, needed to size `col_idx`.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use sparsekit_tensor::SparseTensor;
    /// let device = Device::flex();
    /// let x = Tensor::<2>::from_floats([[0.1, -2.0, 0.0], [3.0, 0.2, 5.0]], &device);
    /// let s = SparseTensor::from_dense_threshold(x, 1.0)?;
    /// assert_eq!(s.nnz(), 3);
    /// assert_eq!(s.to_csr().col_idx(), &[1, 0, 2]);
    /// # Ok::<(), sparsekit_tensor::SparseError>(())
    /// ```
    pub fn from_dense_threshold(dense: Tensor<2>, threshold: f32) -> Result<Self, SparseError> {
        let [m, k] = dense.dims();
        if k > i32::MAX as usize || m.saturating_mul(k) > i32::MAX as usize {
            return Err(SparseError::TooLarge);
        }
        let row_ptr =
            Tensor::<1, Int>::from_dispatch(<Dispatch as SparseBackend>::threshold_row_ptr(
                dense.clone().into_dispatch(),
                threshold,
            ));
        #[allow(clippy::single_range_in_vec_init)] // one range per dimension: [m..m+1]
        let last = row_ptr.clone().slice([m..m + 1]);
        let nnz = last
            .into_data()
            .try_into_vec_as::<i64>()
            .map_err(|_| SparseError::Index)?[0] as usize;
        let col_idx =
            Tensor::<1, Int>::from_dispatch(<Dispatch as SparseBackend>::threshold_col_idx(
                dense.clone().into_dispatch(),
                threshold,
                row_ptr.clone().into_dispatch(),
                nnz,
            ));
        Ok(Self::gather_at(dense, row_ptr, col_idx))
    }

    /// Per row of `dense`, the `k` entries of largest magnitude (ties to the lower column),
    /// differentiable with respect to `dense`; `k > cols` is [`SparseError::InvalidK`].
    ///
    /// The pattern is built on `dense`'s device (a row-wise top-k, indices sorted per row); no
    /// read-back. Every row has exactly `k` entries.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use sparsekit_tensor::SparseTensor;
    /// let device = Device::flex();
    /// let x = Tensor::<2>::from_floats([[0.1, -2.0, 0.5], [3.0, 0.2, 5.0]], &device);
    /// let s = SparseTensor::from_dense_topk_rows(x, 2)?;
    /// assert_eq!(s.to_csr().col_idx(), &[1, 2, 0, 2]);
    /// # Ok::<(), sparsekit_tensor::SparseError>(())
    /// ```
    pub fn from_dense_topk_rows(dense: Tensor<2>, k: usize) -> Result<Self, SparseError> {
        let [m, cols] = dense.dims();
        if k > cols {
            return Err(SparseError::InvalidK { k, cols });
        }
        if cols > i32::MAX as usize || m.saturating_mul(k) > i32::MAX as usize {
            return Err(SparseError::TooLarge);
        }
        let device = dense.device();
        let idx = Tensor::<2, Int>::from_dispatch(<Dispatch as SparseBackend>::topk_rows(
            dense.clone().into_dispatch(),
            k,
            true,
            true,
        ));
        // (burn's `reshape` reads a 0 as "keep this dimension", so empty results are built.)
        let col_idx = if m * k == 0 {
            int_tensor(&[], &device)
        } else {
            idx.reshape([m * k])
        };
        let rp: Vec<u32> = (0..=m).map(|i| (i * k) as u32).collect();
        let row_ptr = int_tensor(&rp, &device);
        Ok(Self::gather_at(dense, row_ptr, col_idx))
    }

    /// `dense` sampled at a pattern made on its device (known valid).
    fn gather_at(dense: Tensor<2>, row_ptr: Tensor<1, Int>, col_idx: Tensor<1, Int>) -> Self {
        let [m, k] = dense.dims();
        let p = CsrPatternPrimitive::<Dispatch> {
            row_ptr: row_ptr.clone().into_dispatch(),
            col_idx: col_idx.clone().into_dispatch(),
            cols: k,
            structure: Structure::Unstructured,
        };
        let values = Tensor::from_dispatch(<Dispatch as SparseBackend>::csr_gather(
            dense.into_dispatch(),
            p,
        ));
        SparseTensor {
            row_ptr,
            col_idx,
            values,
            shape: [m, k],
            structure: Structure::Unstructured,
        }
    }

    /// The `count` entries of `dense` of largest magnitude (ties broken by position; the pattern
    /// is computed on the host).
    pub fn from_dense_topk(dense: Tensor<2>, count: usize) -> Result<Self, SparseError> {
        let [m, k] = dense.dims();
        let host = dense
            .clone()
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("f32 data");
        let keep = topk_positions(&host, count);
        let pattern = pattern_where(m, k, |i, j| keep[i * k + j])?;
        Self::from_dense_pattern(dense, &pattern)
    }

    /// Shape `[rows, cols]`.
    pub fn shape(&self) -> [usize; 2] {
        self.shape
    }
    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.values.dims()[0]
    }
    /// The device of the values.
    pub fn device(&self) -> Device {
        self.values.device()
    }
    /// The stored values (nnz).
    pub fn values(&self) -> &Tensor<1> {
        &self.values
    }
    /// Row pointers (`rows + 1`).
    pub fn row_ptr(&self) -> &Tensor<1, Int> {
        &self.row_ptr
    }
    /// Column indices (nnz).
    pub fn col_idx(&self) -> &Tensor<1, Int> {
        &self.col_idx
    }
    /// The known [`Structure`] of the pattern (N:M, blocks, or none).
    pub fn structure(&self) -> Structure {
        self.structure
    }

    /// Tags the pattern with a [`Structure`] after checking it on the host (O(rows + nnz));
    /// the CPU backends then run the structured kernels for `spmm` / `spmm_t`
    /// (`nm_spmm(_t)`, `bsr_spmm(_t)`). Backward passes and the Cube backend use the CSR
    /// kernels either way.
    ///
    /// `NM { n, m }` accepts every pattern with **at most** `n` entries per group (the sparsity
    /// vocabulary's N:M rule) on a shape N:M storage takes (`cols % m == 0`): groups holding
    /// fewer are padded with explicit zeros at the lowest free offsets (the padding rule of
    /// [`NM`]), so the tensor may come back with more stored entries (O(nnz) host round trip).
    /// Every other structure is checked as stored ([`crate::structure::check_stored`]).
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use sparsekit_formats::{Csr, NM};
    /// use sparsekit_tensor::{spmm_t, SparseTensor, Structure};
    /// let device = Device::flex();
    /// // 2:4 along rows: keep the two largest of every group of four.
    /// let w = NM::<f32>::from_dense(&[1.0, 0.0, 3.0, 0.5, 0.0, 2.0, 0.0, 4.0], 2, 4, 2, 4)?;
    /// let w = SparseTensor::from_nm(&w, &device)?;
    /// assert_eq!(w.structure(), Structure::NM { n: 2, m: 4 });
    /// let y = spmm_t(Tensor::<2>::ones([1, 4], &device), &w);
    /// assert_eq!(y.into_data().to_vec::<f32>().unwrap(), vec![4.0, 6.0]);
    /// // A group holding one entry is padded to two.
    /// let one = Csr::<f32>::try_new(1, 4, vec![0, 1], vec![2], vec![3.0])?;
    /// let t = SparseTensor::from_csr(&one, &device)?.with_structure(Structure::NM { n: 2, m: 4 })?;
    /// assert_eq!(t.nnz(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_structure(self, structure: Structure) -> Result<Self, SparseError> {
        let rp = host_indices(&self.row_ptr)?;
        let ci = host_indices(&self.col_idx)?;
        if let Structure::NM { n, m } = structure {
            if crate::structure::check_nm_at_most(self.shape[1], n, m, &rp, &ci)? {
                let nm = NM::from_csr(&self.to_csr(), n, m)?;
                return Self::from_nm(&nm, &self.values.device());
            }
        }
        crate::structure::check_stored(structure, self.shape[0], self.shape[1], &rp, &ci)?;
        Ok(SparseTensor { structure, ..self })
    }

    /// Uploads an N:M matrix, tagged [`Structure::NM`]. Every slot is stored, padding zeros
    /// included, so the pattern keeps exactly `N` entries per group.
    pub fn from_nm(nm: &NM<f32>, device: &Device) -> Result<Self, SparseError> {
        let (rows, cols) = nm.shape();
        let (n, m) = (nm.n(), nm.m());
        let per_row = nm.groups_per_row() * n;
        let row_ptr: Vec<u32> = (0..=rows)
            .map(|i| u32::try_from(i * per_row).map_err(|_| SparseError::TooLarge))
            .collect::<Result<_, _>>()?;
        let col_idx: Vec<u32> = nm
            .offsets()
            .iter()
            .enumerate()
            .map(|(q, &o)| (((q % per_row.max(1)) / n) * m + o as usize) as u32)
            .collect();
        let pattern = CsrPattern::try_new(rows, cols, row_ptr, col_idx)?;
        let values = Tensor::<1>::from_data(
            TensorData::new(nm.values().to_vec(), [nm.values().len()]),
            device,
        );
        let t = Self::from_pattern(&pattern, values)?;
        Ok(SparseTensor {
            structure: Structure::NM { n, m },
            ..t
        })
    }

    /// Uploads a BSR matrix, tagged [`Structure::Block`]. Every entry of every stored block is
    /// kept (zeros included); on the device the matrix is CSR.
    pub fn from_bsr(bsr: &Bsr<f32>, device: &Device) -> Result<Self, SparseError> {
        let (r, c) = bsr.block_shape();
        let csr = bsr.to_csr_keep_zeros();
        let t = Self::from_csr(&csr, device)?;
        Ok(SparseTensor {
            structure: Structure::Block { rows: r, cols: c },
            ..t
        })
    }

    /// The same pattern with other values (length nnz, same device).
    pub fn with_values(&self, values: Tensor<1>) -> Self {
        assert_eq!(
            values.dims()[0],
            self.nnz(),
            "sparsekit-tensor: with_values: wrong length"
        );
        SparseTensor {
            values,
            ..self.clone()
        }
    }
    /// Moves the arrays to `device`.
    pub fn to_device(self, device: &Device) -> Self {
        SparseTensor {
            row_ptr: self.row_ptr.to_device(device),
            col_idx: self.col_idx.to_device(device),
            values: self.values.to_device(device),
            shape: self.shape,
            structure: self.structure,
        }
    }
    /// The pattern, read back to the host.
    pub fn pattern(&self) -> CsrPattern {
        CsrPattern::try_new(
            self.shape[0],
            self.shape[1],
            host_u32(&self.row_ptr),
            host_u32(&self.col_idx),
        )
        .expect("sparsekit-tensor: SparseTensor invariant broken")
    }
    /// The matrix with values of type `T`, read back to the host (exact from half values to
    /// f32 and wider; rounded once to `T` otherwise).
    pub fn to_csr_as<T: Scalar>(&self) -> Csr<T> {
        let values = self
            .values
            .clone()
            .into_data()
            .try_into_vec_as::<f64>()
            .expect("float data")
            .into_iter()
            .map(T::from_f64)
            .collect();
        Csr::from_pattern(std::sync::Arc::new(self.pattern()), values)
            .expect("sparsekit-tensor: invariant")
    }

    /// The matrix, read back to the host (f32 values; exact for half values).
    pub fn to_csr(&self) -> Csr<f32> {
        let values = self
            .values
            .clone()
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("f32 data");
        Csr::from_pattern(std::sync::Arc::new(self.pattern()), values)
            .expect("sparsekit-tensor: invariant")
    }

    pub(crate) fn primitive(&self) -> CsrPrimitive<Dispatch> {
        CsrPrimitive {
            row_ptr: self.row_ptr.clone().into_dispatch(),
            col_idx: self.col_idx.clone().into_dispatch(),
            values: self.values.clone().into_dispatch(),
            cols: self.shape[1],
            structure: self.structure,
        }
    }

    pub(crate) fn pattern_primitive(&self) -> CsrPatternPrimitive<Dispatch> {
        CsrPatternPrimitive {
            row_ptr: self.row_ptr.clone().into_dispatch(),
            col_idx: self.col_idx.clone().into_dispatch(),
            cols: self.shape[1],
            structure: self.structure,
        }
    }

    /// The dense matrix (differentiable with respect to the values).
    pub fn to_dense(&self) -> Tensor<2> {
        Tensor::from_dispatch(<Dispatch as SparseBackend>::csr_to_dense(self.primitive()))
    }

    /// `Aᵀ` (`cols × rows`). The pattern is transposed on the host; the values are permuted on
    /// the device (differentiable with respect to the values).
    pub fn transpose(&self) -> Self {
        let t = crate::backend::csr_transpose::<Dispatch>(self.primitive());
        SparseTensor {
            row_ptr: Tensor::from_dispatch(t.row_ptr),
            col_idx: Tensor::from_dispatch(t.col_idx),
            values: Tensor::from_dispatch(t.values),
            shape: [self.shape[1], self.shape[0]],
            structure: t.structure,
        }
    }

    /// `A·X` (see [`spmm`]).
    pub fn spmm(&self, x: Tensor<2>) -> Tensor<2> {
        spmm(self, x)
    }
}

/// `Y = A·X`: `A` sparse `m × k`, `X` dense `k × n`. Differentiable in `A`'s values
/// (`sddmm(dY, X)` at `A`'s pattern) and in `X` (`Aᵀ·dY`).
///
/// Dtypes: `A`'s values and `X` may each be F32, F16 or BF16; `Y` has `X`'s dtype (the rule of
/// [`crate::backend`]); gradients come back in their inputs' dtypes.
pub fn spmm(a: &SparseTensor, x: Tensor<2>) -> Tensor<2> {
    let [k, n] = x.dims();
    assert_eq!(
        k, a.shape[1],
        "sparsekit-tensor: spmm: A is {:?}, X is [{k}, {n}]",
        a.shape
    );
    Tensor::from_dispatch(<Dispatch as SparseBackend>::csr_spmm(
        a.primitive(),
        x.into_dispatch(),
    ))
}

/// `Y = X·Wᵀ` (the linear layer): `X` dense `b × k`, `W` sparse `m × k`, `Y` is `b × m`.
/// Differentiable in `X` (`dY·W`, sparse) and in `W`'s values (`sddmm(dY, X)` at `W`'s
/// pattern); no dense `m × k` gradient is formed. `Y` has `X`'s dtype (see [`spmm`]).
pub fn spmm_t(x: Tensor<2>, w: &SparseTensor) -> Tensor<2> {
    let [b, k] = x.dims();
    assert_eq!(
        k, w.shape[1],
        "sparsekit-tensor: spmm_t: X is [{b}, {k}], W is {:?}",
        w.shape
    );
    Tensor::from_dispatch(<Dispatch as SparseBackend>::csr_spmm_t(
        x.into_dispatch(),
        w.primitive(),
    ))
}

/// `(L·Rᵀ)` sampled at `pattern`'s pattern: `L` is `m × d`, `R` is `k × d`; returns a
/// [`SparseTensor`] with `pattern`'s pattern. Differentiable in `L` and `R`. The values have
/// `L`'s dtype (`R` is cast to it; see [`crate::backend`]).
pub fn sddmm(l: Tensor<2>, r: Tensor<2>, pattern: &SparseTensor) -> SparseTensor {
    let [m, d] = l.dims();
    let [k, dr] = r.dims();
    assert!(
        [m, k] == pattern.shape && d == dr,
        "sparsekit-tensor: sddmm: pattern {:?}, L [{m}, {d}], R [{k}, {dr}]",
        pattern.shape
    );
    let values = Tensor::from_dispatch(<Dispatch as SparseBackend>::csr_sddmm(
        l.into_dispatch(),
        r.into_dispatch(),
        pattern.pattern_primitive(),
    ));
    pattern.with_values(values)
}

fn pattern_where(
    m: usize,
    k: usize,
    keep: impl Fn(usize, usize) -> bool,
) -> Result<CsrPattern, SparseError> {
    let mut row_ptr = Vec::with_capacity(m + 1);
    let mut col_idx = Vec::new();
    row_ptr.push(0u32);
    for i in 0..m {
        for j in 0..k {
            if keep(i, j) {
                col_idx.push(j as u32);
            }
        }
        row_ptr.push(col_idx.len() as u32);
    }
    Ok(CsrPattern::try_new(m, k, row_ptr, col_idx)?)
}

/// `keep[p]` for the `count` largest `|x[p]|` (ties by position, NaN never kept first).
pub(crate) fn topk_positions(x: &[f32], count: usize) -> Vec<bool> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| {
        let (fa, fb) = (x[a].abs(), x[b].abs());
        fb.partial_cmp(&fa)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.cmp(&b))
    });
    let mut keep = vec![false; x.len()];
    for &p in idx.iter().take(count) {
        keep[p] = true;
    }
    keep
}
