//! One entry for files: [`read_any`] reads any supported file — SciPy `.npz`, Matrix Market
//! `.mtx`, NumPy `.npy`, `.safetensors` — and returns its matrices and tensors with their
//! metadata (names, shapes, dtypes as the file spells them, index dtype and sparse format).
//!
//! The type comes from the extension **and** the first bytes ([`FileKind::sniff`]):
//!
//! | extension | first bytes | result |
//! |-----------|-------------|--------|
//! | known     | agree, or not recognised | that type's reader (its typed error if the bytes are bad) |
//! | known     | another known type | [`FormatError::FileKindMismatch`] |
//! | unknown or none | a known type | that type (a checkpoint saved as `model.bin` reads) |
//! | unknown or none | not recognised | [`FormatError::UnknownFileKind`] |
//!
//! An empty file is [`FormatError::Malformed`] ("empty file"). Sparse matrices are decoded into
//! the caller's `T` / `I`; dense tensors keep their stored bytes and are decoded on demand
//! ([`DenseTensor::to_vec`]), so listing a large checkpoint costs its bytes once.
//!
//! ```
//! use sparsekit_formats::io::{npz, read_any, Data, FileKind, SparseMatrix};
//! use sparsekit_formats::Csr;
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("w.npz");
//! let a = Csr::<f32>::try_new(2, 3, vec![0, 1, 2], vec![2, 0], vec![1.5, -2.0])?;
//! npz::write_path(&path, &SparseMatrix::from(a.clone()), &npz::NpzOptions::default())?;
//!
//! let file = read_any::<f32, u32>(&path)?;
//! assert_eq!(file.kind, FileKind::Npz);
//! let e = &file.entries[0];
//! assert_eq!((e.format, e.dtype.as_str(), e.index_dtype.as_deref()), ("csr", "float32", Some("int32")));
//! assert!(matches!(&e.data, Data::Sparse(m) if *m == SparseMatrix::Csr(a)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use safetensors::tensor::{Dtype, SafeTensors};

use super::npy::{self, NpyArray, NpyDtype};
use super::{mtx, npz, safetensors as st, SparseMatrix};
use crate::error::{try_with_capacity, FormatError, Result};
use crate::{Scalar, SpIndex};

/// The supported file types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// SciPy `save_npz` archive (a zip of `.npy` members).
    Npz,
    /// Matrix Market text.
    Mtx,
    /// One NumPy array.
    Npy,
    /// safetensors checkpoint (dense tensors, and sparse matrices as named arrays).
    Safetensors,
}

impl FileKind {
    /// Every kind, in the order error messages list them.
    pub const ALL: [FileKind; 4] = [
        FileKind::Npz,
        FileKind::Mtx,
        FileKind::Safetensors,
        FileKind::Npy,
    ];

    /// `"npz"`, `"mtx"`, `"safetensors"` or `"npy"`: the extension, and the name in messages.
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Npz => "npz",
            FileKind::Mtx => "mtx",
            FileKind::Npy => "npy",
            FileKind::Safetensors => "safetensors",
        }
    }

    /// The kind a path's extension names (case-insensitive), or
    /// [`FormatError::UnknownFileKind`]. What a writer goes by.
    pub fn from_extension(path: impl AsRef<Path>) -> Result<FileKind> {
        let ext = path
            .as_ref()
            .extension()
            .map(|e| e.to_string_lossy().into_owned());
        let lower = ext.as_deref().map(str::to_ascii_lowercase);
        Self::ALL
            .into_iter()
            .find(|k| lower.as_deref() == Some(k.name()))
            .ok_or(FormatError::UnknownFileKind { extension: ext })
    }

    /// The kind the first bytes of a file show, if any: `\x93NUMPY` (npy), a zip local or
    /// end-of-directory header (npz), `%%MatrixMarket` (any case, as the reader accepts), or a
    /// safetensors header (an 8-byte little-endian length followed by `{`). 16 bytes suffice.
    pub fn sniff(prefix: &[u8]) -> Option<FileKind> {
        const MTX: &[u8] = b"%%matrixmarket";
        if prefix.starts_with(b"\x93NUMPY") {
            Some(FileKind::Npy)
        } else if prefix.starts_with(b"PK\x03\x04") || prefix.starts_with(b"PK\x05\x06") {
            Some(FileKind::Npz)
        } else if prefix.len() >= MTX.len() && prefix[..MTX.len()].eq_ignore_ascii_case(MTX) {
            Some(FileKind::Mtx)
        } else if prefix.len() > 8 && prefix[8] == b'{' {
            Some(FileKind::Safetensors)
        } else {
            None
        }
    }

    /// The kind of a file from its extension and its first bytes (the table in the module docs).
    pub fn detect(path: impl AsRef<Path>, prefix: &[u8]) -> Result<FileKind> {
        let sniffed = Self::sniff(prefix);
        match (Self::from_extension(path), sniffed) {
            (Ok(ext), Some(seen)) if ext != seen => Err(FormatError::FileKindMismatch {
                extension: ext.name(),
                detected: seen.name(),
            }),
            (Ok(ext), _) => Ok(ext),
            (Err(_), Some(seen)) => Ok(seen),
            (Err(e), None) => Err(e),
        }
    }
}

/// Everything [`read_any`] found in a file.
#[derive(Clone, Debug)]
pub struct AnyFile<T: Scalar = f64, I: SpIndex = u64> {
    /// The file's type.
    pub kind: FileKind,
    /// Its matrices and tensors: for `.npz` / `.mtx` / `.npy` one; for `.safetensors` the sparse
    /// matrices its metadata announces, then every other tensor, each group sorted by name.
    pub entries: Vec<Entry<T, I>>,
}

/// One matrix or tensor of a file, with its metadata.
#[derive(Clone, Debug)]
pub struct Entry<T: Scalar = f64, I: SpIndex = u64> {
    /// `"matrix"` (npz, mtx), `"array"` (npy), or the tensor / matrix name (safetensors).
    pub name: String,
    /// `"csr"`, `"csc"`, `"coo"`, `"bsr"`, `"array"` (a dense Matrix Market file, read as COO)
    /// or `"dense"`.
    pub format: &'static str,
    /// The value type as the file spells it: NumPy's name for npz / npy (`"float32"`),
    /// safetensors' for safetensors (`"BF16"`), `"<field> <symmetry>"` for Matrix Market
    /// (`"real general"`).
    pub dtype: String,
    /// The index arrays' type, same spelling (npz and safetensors sparse matrices only).
    pub index_dtype: Option<String>,
    /// Whether f32 holds every stored value exactly: false for f64, 32/64-bit integers and
    /// decimal text (Matrix Market).
    pub exact_in_f32: bool,
    /// The values.
    pub data: Data<T, I>,
}

/// The values of an [`Entry`].
#[derive(Clone, Debug)]
pub enum Data<T: Scalar = f64, I: SpIndex = u64> {
    /// A sparse matrix, validated and decoded.
    Sparse(SparseMatrix<T, I>),
    /// A dense tensor of any rank, decoded on demand.
    Dense(DenseTensor),
}

/// A dense tensor as stored in its file; [`to_vec`](Self::to_vec) decodes it.
#[derive(Clone, Debug)]
pub struct DenseTensor {
    shape: Vec<usize>,
    stored: Stored,
}

#[derive(Clone)]
enum Stored {
    Npy(NpyArray),
    /// A byte range of the shared file.
    Safetensors {
        dtype: Dtype,
        file: Arc<Vec<u8>>,
        range: Range<usize>,
        name: String,
    },
}

/// The dtype and where the bytes are, not the bytes (a file may be gigabytes).
impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stored::Npy(a) => f.debug_tuple("Npy").field(&a.header).finish(),
            Stored::Safetensors {
                dtype, range, name, ..
            } => f
                .debug_struct("Safetensors")
                .field("name", name)
                .field("dtype", dtype)
                .field("range", range)
                .finish(),
        }
    }
}

impl DenseTensor {
    /// The shape as stored (any rank; `[]` is a scalar).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements (the readers checked that it fits and that its bytes are present).
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tensor seen as a matrix: `[] → 1×1`, `[n] → 1×n`, `[a, …, y, z] → (a·…·y) × z`
    /// (PyTorch's `[out, in]` layout for weights).
    pub fn matrix_shape(&self) -> (usize, usize) {
        match self.shape[..] {
            [] => (1, 1),
            [n] => (1, n),
            [ref lead @ .., last] => (lead.iter().product(), last),
        }
    }

    /// The values in row-major (C) order, converted to `T`. Float tensors only (f16, bf16, f32,
    /// f64); other dtypes are [`FormatError::Unsupported`].
    pub fn to_vec<T: Scalar>(&self) -> Result<Vec<T>> {
        match &self.stored {
            Stored::Npy(a) if a.is_float() => a.to_scalar_vec("array"),
            Stored::Npy(a) => Err(FormatError::unsupported(
                "npy",
                format!("dtype {} (expected float16/32/64)", a.header.dtype.name()),
            )),
            Stored::Safetensors {
                dtype,
                file,
                range,
                name,
            } => st::floats(*dtype, &file[range.clone()], name),
        }
    }
}

/// Reads any supported file (see the module docs): its kind from the extension and the first
/// bytes, then every matrix and tensor it holds. Typed errors, never a panic.
pub fn read_any<T: Scalar, I: SpIndex>(path: impl AsRef<Path>) -> Result<AnyFile<T, I>> {
    let path = path.as_ref();
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let mut prefix = Vec::with_capacity(16);
    (&mut f).take(16).read_to_end(&mut prefix)?;
    let kind = FileKind::detect(path, &prefix)?;
    if len == 0 {
        return Err(FormatError::malformed(kind.name(), "empty file (0 bytes)"));
    }
    f.seek(SeekFrom::Start(0))?;
    let mut r = BufReader::new(f);
    let entries = match kind {
        FileKind::Npz => vec![npz_entry(&mut r)?],
        FileKind::Mtx => vec![mtx_entry(&mut r)?],
        FileKind::Npy => vec![npy_entry(r, len)?],
        FileKind::Safetensors => {
            let cap = usize::try_from(len).unwrap_or(usize::MAX);
            let mut bytes = try_with_capacity(cap, "safetensors file")?;
            r.read_to_end(&mut bytes)?;
            safetensors_entries(Arc::new(bytes))?
        }
    };
    Ok(AnyFile { kind, entries })
}

fn npz_entry<T: Scalar, I: SpIndex>(r: &mut BufReader<File>) -> Result<Entry<T, I>> {
    let info = npz::info(&mut *r)?;
    r.seek(SeekFrom::Start(0))?;
    let m = npz::read::<T, I>(&mut *r)?;
    let value = npy::parse_descr(&info.value_dtype).map(|(d, _)| d);
    let name =
        |descr: &str| npy::parse_descr(descr).map_or_else(|_| descr.to_string(), |(d, _)| d.name());
    Ok(Entry {
        name: "matrix".into(),
        format: m.format_name(),
        dtype: name(&info.value_dtype),
        index_dtype: Some(name(&info.index_dtype)),
        exact_in_f32: value.is_ok_and(NpyDtype::exact_in_f32),
        data: Data::Sparse(m),
    })
}

fn mtx_entry<T: Scalar, I: SpIndex>(r: &mut BufReader<File>) -> Result<Entry<T, I>> {
    let h = mtx::info(&mut *r)?;
    r.seek(SeekFrom::Start(0))?;
    let coo = mtx::read::<T, I>(&mut *r)?;
    Ok(Entry {
        name: "matrix".into(),
        format: match h.format {
            mtx::MtxFormat::Array => "array",
            mtx::MtxFormat::Coordinate => "coo",
        },
        dtype: format!("{:?} {:?}", h.field, h.symmetry).to_lowercase(),
        index_dtype: None,
        exact_in_f32: false,
        data: Data::Sparse(SparseMatrix::Coo(coo)),
    })
}

fn npy_entry<T: Scalar, I: SpIndex>(r: BufReader<File>, len: u64) -> Result<Entry<T, I>> {
    let a = npy::read_array_from(r, Some(len))?;
    let h = &a.header;
    if h.fortran_order && h.shape.iter().filter(|&&d| d > 1).count() > 1 {
        return Err(FormatError::unsupported(
            "npy",
            "Fortran-order array; save with np.ascontiguousarray first",
        ));
    }
    Ok(Entry {
        name: "array".into(),
        format: "dense",
        dtype: h.dtype.name(),
        index_dtype: None,
        exact_in_f32: h.dtype.exact_in_f32(),
        data: Data::Dense(DenseTensor {
            shape: h.shape.clone(),
            stored: Stored::Npy(a),
        }),
    })
}

/// safetensors' spelling of a dtype (`"F32"`, `"BF16"`, …).
fn st_dtype(d: Dtype) -> String {
    format!("{d:?}")
}

fn st_exact_in_f32(d: Dtype) -> bool {
    !matches!(
        d,
        Dtype::F64 | Dtype::I32 | Dtype::I64 | Dtype::U32 | Dtype::U64
    )
}

fn safetensors_entries<T: Scalar, I: SpIndex>(file: Arc<Vec<u8>>) -> Result<Vec<Entry<T, I>>> {
    let sparse = st::read_sparse::<T, I>(&file)?;
    let (header_len, meta) = SafeTensors::read_metadata(&file).map_err(st::st_err)?;
    let tensors = meta.tensors();
    let info = |name: &str| tensors.get(name).copied();
    let mut out = Vec::with_capacity(tensors.len());
    for (name, m) in sparse.iter().cloned() {
        let data = info(&format!("{name}.data"));
        let index = info(&format!("{name}.indices")).or_else(|| info(&format!("{name}.row")));
        out.push(Entry {
            format: m.format_name(),
            dtype: data.map_or_else(|| "?".into(), |t| st_dtype(t.dtype)),
            index_dtype: index.map(|t| st_dtype(t.dtype)),
            exact_in_f32: data.is_some_and(|t| st_exact_in_f32(t.dtype)),
            name,
            data: Data::Sparse(m),
        });
    }
    // The arrays of a stored sparse matrix (`w.data`, `w.indptr`, …) are reported with it.
    let is_component = |t: &str| {
        t.rsplit_once('.').is_some_and(|(base, part)| {
            st::COMPONENTS.contains(&part) && sparse.iter().any(|(n, _)| n == base)
        })
    };
    let mut dense: Vec<(&String, _)> = tensors.iter().filter(|(n, _)| !is_component(n)).collect();
    dense.sort_by(|a, b| a.0.cmp(b.0));
    let start = 8 + header_len;
    for (name, t) in dense {
        // `read_metadata` checked the offsets against the buffer.
        let range = start + t.data_offsets.0..start + t.data_offsets.1;
        out.push(Entry {
            name: name.clone(),
            format: "dense",
            dtype: st_dtype(t.dtype),
            index_dtype: None,
            exact_in_f32: st_exact_in_f32(t.dtype),
            data: Data::Dense(DenseTensor {
                shape: t.shape.clone(),
                stored: Stored::Safetensors {
                    dtype: t.dtype,
                    file: file.clone(),
                    range,
                    name: name.clone(),
                },
            }),
        });
    }
    Ok(out)
}
