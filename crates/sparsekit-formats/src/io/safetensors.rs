//! safetensors files: dense tensors of any checkpoint, and sparse matrices as named arrays.
//!
//! # Dense tensors
//!
//! [`read_dense_info`] lists every tensor (name, dtype, shape) of a checkpoint (PyTorch,
//! Hugging Face, …); [`read_dense_f32`] reads one tensor as `f32`, converting from F32, F16, BF16
//! or F64 (each conversion exact except F64 → f32 rounding).
//!
//! # Sparse matrices: the convention
//!
//! [`write_sparse`] stores each matrix named `w` as plain dense arrays that any safetensors
//! reader understands:
//!
//! | tensor         | dtype                  | shape                    | meaning                          |
//! |----------------|------------------------|--------------------------|----------------------------------|
//! | `w.indptr`     | I32 or I64             | `[nrows + 1]` (csc: `ncols + 1`; bsr: `nrows / r + 1`) | pointer array |
//! | `w.indices`    | I32 or I64             | `[nnz]` (bsr: `[nblocks]`) | column (csc: row; bsr: block column) indices |
//! | `w.row`, `w.col` | I32 or I64           | `[nnz]`                  | coo only, instead of indptr/indices |
//! | `w.data`       | F32, F64, F16 or BF16  | `[nnz]` (bsr: `[nblocks, r, c]`) | values                     |
//! | `w.shape`      | I64                    | `[2]`                    | `(nrows, ncols)`                 |
//! | `w.blocksize`  | I64                    | `[2]`                    | bsr only: `(r, c)`               |
//!
//! and the file's `__metadata__` maps `"w"` to `"sparsekit:csr"` (or `csc`, `coo`, `bsr`).
//! Indices are I32 when every index, dimension and nnz fits (as SciPy chooses), else I64; values
//! keep their dtype. The arrays are exactly SciPy's, so in Python:
//!
//! ```python
//! from safetensors.numpy import load_file
//! import scipy.sparse as sp
//! t = load_file("model.safetensors")
//! w = sp.csr_matrix((t["w.data"], t["w.indices"], t["w.indptr"]), shape=tuple(t["w.shape"]))
//! # csc: sp.csc_matrix(...) the same way; coo: sp.coo_matrix((t["w.data"], (t["w.row"], t["w.col"])), shape=...)
//! # bsr: sp.bsr_matrix((t["w.data"], t["w.indices"], t["w.indptr"]), shape=..., blocksize=tuple(t["w.blocksize"]))
//! ```
//!
//! (and with PyTorch: `torch.sparse_csr_tensor(indptr, indices, data, size=shape)` on the
//! `safetensors.torch.load_file` tensors). [`read_sparse`] reads back every matrix the metadata
//! announces, validating it like any other input (unsorted indices are canonicalised,
//! out-of-range ones are errors); other tensors in the file are ignored.
//!
//! ```
//! use sparsekit_formats::{io::{safetensors as st, SparseMatrix}, Csr};
//! let w = SparseMatrix::from(Csr::<f32>::try_new(2, 3, vec![0, 1, 2], vec![2, 0], vec![0.5, -1.0])?);
//! let bytes = st::write_sparse(&[("layer0.w", &w)])?;
//!
//! let names: Vec<String> = st::read_dense_info(&bytes)?.into_iter().map(|t| t.name).collect();
//! assert_eq!(names, ["layer0.w.data", "layer0.w.indices", "layer0.w.indptr", "layer0.w.shape"]);
//! assert_eq!(st::read_dense_f32(&bytes, "layer0.w.data")?, (vec![2], vec![0.5, -1.0]));
//!
//! let back = st::read_sparse::<f32, u32>(&bytes)?;
//! assert_eq!(back, vec![("layer0.w".to_string(), w)]);
//! # Ok::<(), sparsekit_formats::FormatError>(())
//! ```

use std::collections::HashMap;

use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors, TensorView};

use super::SparseMatrix;
use crate::error::{FormatError, Result};
use crate::{Coo, Csc, Csr, Scalar, SpIndex};

const KIND: &str = "safetensors";
const META_PREFIX: &str = "sparsekit:";
/// The array suffixes of a stored sparse matrix `w` (`w.indptr`, …): see the module docs.
pub(crate) const COMPONENTS: [&str; 7] = [
    "indptr",
    "indices",
    "row",
    "col",
    "data",
    "shape",
    "blocksize",
];

/// Name, dtype (safetensors spelling: `"F32"`, `"BF16"`, `"I64"`, …) and shape of one tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// Tensor name, as stored in the header.
    pub name: String,
    /// Element type, safetensors spelling (`"F32"`, `"BF16"`, `"I64"`, …).
    pub dtype: String,
    /// Size of each dimension; empty for a scalar.
    pub shape: Vec<usize>,
}

pub(crate) fn st_err(e: SafeTensorError) -> FormatError {
    match e {
        SafeTensorError::IoError(e) => FormatError::Io(e),
        e => FormatError::malformed(KIND, format!("{e:?}")),
    }
}

fn open(bytes: &[u8]) -> Result<SafeTensors<'_>> {
    SafeTensors::deserialize(bytes).map_err(st_err)
}

fn tensor<'a>(st: &SafeTensors<'a>, name: &str) -> Result<TensorView<'a>> {
    st.tensor(name).map_err(|e| match e {
        SafeTensorError::TensorNotFound(_) => {
            let mut names: Vec<&String> = st.names();
            names.sort();
            let shown: Vec<&str> = names.iter().take(8).map(|s| s.as_str()).collect();
            FormatError::InvalidArgument(format!(
                "no tensor named '{name}' (the file has {} tensors: {}{})",
                names.len(),
                shown.join(", "),
                if names.len() > 8 { ", …" } else { "" }
            ))
        }
        e => st_err(e),
    })
}

/// Every tensor of a safetensors file, sorted by name.
pub fn read_dense_info(bytes: &[u8]) -> Result<Vec<TensorInfo>> {
    let st = open(bytes)?;
    let mut v: Vec<TensorInfo> = st
        .tensors()
        .into_iter()
        .map(|(name, t)| TensorInfo {
            name,
            dtype: format!("{:?}", t.dtype()),
            shape: t.shape().to_vec(),
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(v)
}

fn le_chunks<const N: usize>(d: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    d.chunks_exact(N).map(|c| {
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        a
    })
}

/// Float tensor data (little-endian, as stored) converted to `T` (F32, F16, BF16, F64); `name`
/// names the tensor in the error for any other dtype. The one decoder of float tensors (the
/// model loaders use it on tensors they already hold).
pub fn floats<T: Scalar>(dtype: Dtype, d: &[u8], name: &str) -> Result<Vec<T>> {
    Ok(match dtype {
        Dtype::F32 => le_chunks::<4>(d)
            .map(|b| T::from_f32(f32::from_le_bytes(b)))
            .collect(),
        Dtype::F64 => le_chunks::<8>(d)
            .map(|b| T::from_f64(f64::from_le_bytes(b)))
            .collect(),
        Dtype::F16 => le_chunks::<2>(d)
            .map(|b| T::from_f32(half::f16::from_bits(u16::from_le_bytes(b)).to_f32()))
            .collect(),
        Dtype::BF16 => le_chunks::<2>(d)
            .map(|b| T::from_f32(half::bf16::from_bits(u16::from_le_bytes(b)).to_f32()))
            .collect(),
        other => {
            return Err(FormatError::unsupported(
                KIND,
                format!("tensor '{name}' has dtype {other:?}, expected F32, F16, BF16 or F64"),
            ))
        }
    })
}

/// The inverse of [`floats`]: `values` encoded as little-endian `dtype` data (F32, F16, BF16 or
/// F64; F16/BF16 round to nearest even, so 0.0 stays exactly 0). The one encoder of float
/// tensors (writers that keep a checkpoint's dtype use it); `name` names the tensor in the error
/// for any other dtype.
///
/// ```
/// use safetensors::Dtype;
/// use sparsekit_formats::io::safetensors::{float_bytes, floats};
/// let v = [1.5f32, 0.0, -2.25];
/// for dtype in [Dtype::F32, Dtype::F16, Dtype::BF16, Dtype::F64] {
///     let bytes = float_bytes(dtype, &v, "w")?;
///     assert_eq!(floats::<f32>(dtype, &bytes, "w")?, v);
/// }
/// assert!(float_bytes(Dtype::I32, &v, "w").is_err());
/// # Ok::<(), sparsekit_formats::FormatError>(())
/// ```
pub fn float_bytes(dtype: Dtype, values: &[f32], name: &str) -> Result<Vec<u8>> {
    Ok(match dtype {
        Dtype::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Dtype::F64 => values
            .iter()
            .flat_map(|&v| (v as f64).to_le_bytes())
            .collect(),
        Dtype::F16 => values
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect(),
        Dtype::BF16 => values
            .iter()
            .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
            .collect(),
        other => {
            return Err(FormatError::unsupported(
                KIND,
                format!("tensor '{name}' has dtype {other:?}, expected F32, F16, BF16 or F64"),
            ))
        }
    })
}

/// One tensor as `(shape, values)` in f32, converted from F32, F16, BF16 or F64.
pub fn read_dense_f32(bytes: &[u8], name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
    let st = open(bytes)?;
    let t = tensor(&st, name)?;
    Ok((
        t.shape().to_vec(),
        floats::<f32>(t.dtype(), t.data(), name)?,
    ))
}

// ---------------------------------------------------------------------------------------------
// sparse

fn value_dtype<T: Scalar>() -> Result<Dtype> {
    match T::NAME {
        "f32" => Ok(Dtype::F32),
        "f64" => Ok(Dtype::F64),
        "f16" => Ok(Dtype::F16),
        "bf16" => Ok(Dtype::BF16),
        other => Err(FormatError::unsupported(
            KIND,
            format!("value type {other}"),
        )),
    }
}

fn scalars_le<T: Scalar>(v: &[T]) -> Vec<u8> {
    let b: &[u8] = bytemuck::cast_slice(v);
    if cfg!(target_endian = "little") {
        b.to_vec()
    } else {
        let n = std::mem::size_of::<T>();
        b.chunks_exact(n)
            .flat_map(|c| c.iter().rev().copied())
            .collect()
    }
}

fn ints_le(v: impl Iterator<Item = usize>, wide: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for x in v {
        if wide {
            out.extend_from_slice(&(x as i64).to_le_bytes());
        } else {
            out.extend_from_slice(&(x as i32).to_le_bytes());
        }
    }
    out
}

struct Owned {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

/// Serialises sparse matrices as named arrays (see the module docs for the convention).
pub fn write_sparse<T: Scalar, I: SpIndex>(
    named: &[(&str, &SparseMatrix<T, I>)],
) -> Result<Vec<u8>> {
    let vdt = value_dtype::<T>()?;
    let mut arrays: Vec<Owned> = Vec::new();
    let mut meta: HashMap<String, String> = HashMap::new();
    for (name, m) in named {
        if meta
            .insert(
                name.to_string(),
                format!("{META_PREFIX}{}", m.format_name()),
            )
            .is_some()
        {
            return Err(FormatError::InvalidArgument(format!(
                "two matrices named '{name}'"
            )));
        }
        let (nrows, ncols) = m.shape();
        let wide = nrows.max(ncols).max(m.nnz()) > i32::MAX as usize;
        let idt = if wide { Dtype::I64 } else { Dtype::I32 };
        let mut push = |suffix: &str, dtype: Dtype, shape: Vec<usize>, data: Vec<u8>| {
            arrays.push(Owned {
                name: format!("{name}.{suffix}"),
                dtype,
                shape,
                data,
            })
        };
        let ints = |v: &[I]| ints_le(v.iter().map(|i| i.index()), wide);
        match m {
            SparseMatrix::Csr(a) => {
                push("indptr", idt, vec![a.row_ptr().len()], ints(a.row_ptr()));
                push("indices", idt, vec![a.nnz()], ints(a.col_idx()));
                push("data", vdt, vec![a.nnz()], scalars_le(a.values()));
            }
            SparseMatrix::Csc(a) => {
                push("indptr", idt, vec![a.col_ptr().len()], ints(a.col_ptr()));
                push("indices", idt, vec![a.nnz()], ints(a.row_idx()));
                push("data", vdt, vec![a.nnz()], scalars_le(a.values()));
            }
            SparseMatrix::Coo(a) => {
                push("row", idt, vec![a.nnz()], ints(a.rows()));
                push("col", idt, vec![a.nnz()], ints(a.cols()));
                push("data", vdt, vec![a.nnz()], scalars_le(a.values()));
            }
            SparseMatrix::Bsr(a) => {
                let (r, c) = a.block_shape();
                let p = a.block_row_ptr();
                push("indptr", idt, vec![p.len()], ints(p));
                push("indices", idt, vec![a.nblocks()], ints(a.block_col_idx()));
                push("data", vdt, vec![a.nblocks(), r, c], scalars_le(a.values()));
                push(
                    "blocksize",
                    Dtype::I64,
                    vec![2],
                    ints_le([r, c].into_iter(), true),
                );
            }
        }
        push(
            "shape",
            Dtype::I64,
            vec![2],
            ints_le([nrows, ncols].into_iter(), true),
        );
    }
    let mut seen = std::collections::HashSet::new();
    for a in &arrays {
        if !seen.insert(a.name.as_str()) {
            return Err(FormatError::InvalidArgument(format!(
                "tensor name '{}' would be written twice (matrix names clash)",
                a.name
            )));
        }
    }
    let views = arrays
        .iter()
        .map(|a| {
            TensorView::new(a.dtype, a.shape.clone(), &a.data)
                .map(|v| (a.name.clone(), v))
                .map_err(st_err)
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::tensor::serialize(views, &Some(meta)).map_err(st_err)
}

fn index_array<I: SpIndex>(st: &SafeTensors<'_>, name: &str, what: &'static str) -> Result<Vec<I>> {
    let t = tensor(st, name)?;
    if t.shape().len() != 1 {
        return Err(FormatError::malformed(
            KIND,
            format!("tensor '{name}' has shape {:?}, expected 1-D", t.shape()),
        ));
    }
    let conv = |(position, v)| super::index_from_file(what, position, v);
    let d = t.data();
    match t.dtype() {
        Dtype::I32 => le_chunks::<4>(d)
            .map(|b| i32::from_le_bytes(b) as i128)
            .enumerate()
            .map(conv)
            .collect(),
        Dtype::I64 => le_chunks::<8>(d)
            .map(|b| i64::from_le_bytes(b) as i128)
            .enumerate()
            .map(conv)
            .collect(),
        Dtype::U32 => le_chunks::<4>(d)
            .map(|b| u32::from_le_bytes(b) as i128)
            .enumerate()
            .map(conv)
            .collect(),
        Dtype::U64 => le_chunks::<8>(d)
            .map(|b| u64::from_le_bytes(b) as i128)
            .enumerate()
            .map(conv)
            .collect(),
        other => Err(FormatError::unsupported(
            KIND,
            format!("tensor '{name}' has dtype {other:?}, expected I32, I64, U32 or U64"),
        )),
    }
}

fn pair(st: &SafeTensors<'_>, name: &str) -> Result<(usize, usize)> {
    let v = index_array::<u64>(st, name, "shape")?;
    match v[..] {
        [a, b] => {
            let conv = |x: u64| {
                usize::try_from(x)
                    .map_err(|_| FormatError::ShapeOverflow(format!("{name} holds {x}, too large")))
            };
            Ok((conv(a)?, conv(b)?))
        }
        _ => Err(FormatError::malformed(
            KIND,
            format!("tensor '{name}' holds {} values, expected 2", v.len()),
        )),
    }
}

/// Reads every sparse matrix announced in the file's metadata (see the module docs), sorted by
/// name. Values are converted to `T` from F32, F16, BF16 or F64.
pub fn read_sparse<T: Scalar, I: SpIndex>(
    bytes: &[u8],
) -> Result<Vec<(String, SparseMatrix<T, I>)>> {
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(st_err)?;
    let st = open(bytes)?;
    let mut entries: Vec<(String, String)> = meta
        .metadata()
        .as_ref()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    v.strip_prefix(META_PREFIX)
                        .map(|f| (k.clone(), f.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    let mut out = Vec::with_capacity(entries.len());
    for (name, format) in entries {
        let (nrows, ncols) = pair(&st, &format!("{name}.shape"))?;
        crate::compressed::check_dims::<I>(nrows, ncols, "safetensors matrix shape")?;
        let data_name = format!("{name}.data");
        let data_t = tensor(&st, &data_name)?;
        let data = floats::<T>(data_t.dtype(), data_t.data(), &data_name)?;
        let m: SparseMatrix<T, I> = match format.as_str() {
            "csr" | "csc" | "bsr" => {
                let indptr = index_array::<I>(&st, &format!("{name}.indptr"), "indptr")?;
                let indices = index_array::<I>(&st, &format!("{name}.indices"), "indices")?;
                match format.as_str() {
                    "csr" => {
                        if data_t.shape().len() != 1 {
                            return Err(FormatError::malformed(
                                KIND,
                                format!("tensor '{data_name}' must be 1-D"),
                            ));
                        }
                        Csr::try_from_unsorted(nrows, ncols, indptr, indices, data)?.into()
                    }
                    "csc" => {
                        if data_t.shape().len() != 1 {
                            return Err(FormatError::malformed(
                                KIND,
                                format!("tensor '{data_name}' must be 1-D"),
                            ));
                        }
                        Csc::try_from_unsorted(nrows, ncols, indptr, indices, data)?.into()
                    }
                    _ => {
                        let bs = pair(&st, &format!("{name}.blocksize"))?;
                        if data_t.shape() != [indices.len(), bs.0, bs.1] {
                            return Err(FormatError::malformed(
                                KIND,
                                format!(
                                    "tensor '{data_name}' has shape {:?}, expected [{}, {}, {}]",
                                    data_t.shape(),
                                    indices.len(),
                                    bs.0,
                                    bs.1
                                ),
                            ));
                        }
                        super::npz::bsr_from_unsorted(nrows, ncols, bs, indptr, indices, data)?
                            .into()
                    }
                }
            }
            "coo" => {
                let row = index_array::<I>(&st, &format!("{name}.row"), "row")?;
                let col = index_array::<I>(&st, &format!("{name}.col"), "col")?;
                Coo::try_new(nrows, ncols, row, col, data)?.into()
            }
            other => {
                return Err(FormatError::unsupported(
                    KIND,
                    format!("matrix '{name}' has format '{other}'"),
                ))
            }
        };
        out.push((name, m));
    }
    Ok(out)
}
