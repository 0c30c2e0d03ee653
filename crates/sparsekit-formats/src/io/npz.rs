//! SciPy `.npz` sparse archives: what `scipy.sparse.save_npz` writes and `load_npz` reads.
//!
//! An archive is a zip (deflate-compressed or stored) of `.npy` members:
//!
//! | format        | members                                                            |
//! |---------------|--------------------------------------------------------------------|
//! | `csr`, `csc`  | `indptr`, `indices`, `data` (1-D)                                  |
//! | `bsr`         | `indptr`, `indices` (over blocks), `data` of shape `(nblocks, r, c)` |
//! | `coo`         | `row`, `col`, `data` — or `coords` of shape `(2, nnz)`             |
//!
//! plus `format` (a 0-d `|S3` byte string), `shape` (int64, `(2,)`) and, from newer SciPy, a
//! `_is_array` flag (ignored). Index arrays may be int32 or int64 (any integer type is accepted);
//! `data` may be float16/32/64, any integer type or bool, and is converted to the value type `T`.
//!
//! Reading validates everything: non-canonical CSR/CSC (unsorted or duplicated indices, which
//! SciPy allows) is canonicalised (sorted, duplicates summed: what SciPy's `sum_duplicates` does),
//! and the same for BSR blocks; out-of-range, negative or inconsistent indices and shapes are typed
//! [`FormatError`]s. Allocations are bounded by the bytes of the members actually present, never
//! by a declared shape.
//!
//! Writing produces what `save_npz` produces: int32 indices when they fit
//! ([`IndexWidth::Auto`]), deflate by default. `bf16` values are written as float32 (NumPy has no
//! bfloat16; the conversion is exact, and reading back into `bf16` restores the same values).
//! `f16` values are written as float16 (`<f2`): `np.load` reads the arrays, but
//! `scipy.sparse.load_npz` refuses them (SciPy's sparse matrices have no float16; SciPy 1.16
//! raises "scipy.sparse does not support dtype float16"), so cast to f32 for SciPy.
//!
//! ```
//! use sparsekit_formats::{io::{npz, SparseMatrix}, Csr};
//! let a = Csr::<f32>::try_new(2, 3, vec![0, 1, 3], vec![2, 0, 1], vec![1.5, -2.0, 0.25])?;
//! let mut file = std::io::Cursor::new(Vec::new());
//! npz::write(&mut file, &SparseMatrix::from(a.clone()), &npz::NpzOptions::default())?;
//!
//! let info = npz::info(&mut file)?;
//! assert_eq!((info.format.as_str(), info.shape, info.nnz), ("csr", (2, 3), 3));
//! assert_eq!((info.value_dtype.as_str(), info.index_dtype.as_str()), ("<f4", "<i4"));
//!
//! let back: SparseMatrix<f32> = npz::read(&mut file)?;
//! assert_eq!(back, SparseMatrix::Csr(a));
//! # Ok::<(), sparsekit_formats::FormatError>(())
//! ```

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::Path;

use zip::result::ZipError;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::npy::{self, NpyArray, NpyDtype, NpyHeader};
use super::SparseMatrix;
use crate::error::{checked_size, FormatError, Result};
use crate::{Bsr, Coo, Csc, Csr, Scalar, SpIndex};

const KIND: &str = "npz";

/// Summary of an `.npz` sparse archive, read from the small members and the array headers only
/// (the index and value arrays are not loaded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpzInfo {
    /// `"csr"`, `"csc"`, `"coo"` or `"bsr"`.
    pub format: String,
    /// `(nrows, ncols)` from the `shape` member.
    pub shape: (usize, usize),
    /// Stored values, as SciPy's `nnz` counts them (duplicates and BSR block zeros included).
    pub nnz: usize,
    /// NumPy `descr` of `data`, e.g. `"<f4"`.
    pub value_dtype: String,
    /// NumPy `descr` of the index arrays, e.g. `"<i4"`.
    pub index_dtype: String,
    /// `(r, c)` for BSR.
    pub block_shape: Option<(usize, usize)>,
}

/// Width of the index arrays written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IndexWidth {
    /// int32 when every index, pointer and dimension fits (SciPy's choice), else int64.
    #[default]
    Auto,
    /// int32; an error when something does not fit.
    I32,
    /// int64.
    I64,
}

/// Options of [`write()`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NpzOptions {
    /// Integer width of the index arrays written (`indptr`/`indices` or `row`/`col`).
    pub index: IndexWidth,
    /// Deflate (`save_npz(..., compressed=True)`, the default) or store.
    pub compressed: bool,
}

impl Default for NpzOptions {
    fn default() -> Self {
        NpzOptions {
            index: IndexWidth::Auto,
            compressed: true,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// reading

fn zip_err(e: ZipError) -> FormatError {
    match e {
        ZipError::Io(e) if e.kind() != std::io::ErrorKind::UnexpectedEof => FormatError::Io(e),
        ZipError::Io(_) => FormatError::malformed(KIND, "truncated zip archive"),
        e => FormatError::malformed(KIND, format!("not a valid zip archive: {e}")),
    }
}

/// Prefixes an npy error with the member it came from.
fn in_member(name: &str, e: FormatError) -> FormatError {
    match e {
        FormatError::Malformed { message, .. } => {
            FormatError::malformed(KIND, format!("member '{name}.npy': {message}"))
        }
        FormatError::Unsupported { message, .. } => {
            FormatError::unsupported(KIND, format!("member '{name}.npy': {message}"))
        }
        e => e,
    }
}

struct Archive<R: Read + Seek> {
    zip: ZipArchive<R>,
}

impl<R: Read + Seek> Archive<R> {
    fn open(r: R) -> Result<Self> {
        Ok(Archive {
            zip: ZipArchive::new(r).map_err(zip_err)?,
        })
    }

    fn has(&self, name: &str) -> bool {
        self.zip.index_for_name(&format!("{name}.npy")).is_some()
    }

    fn array(&mut self, name: &str) -> Result<NpyArray> {
        let mut f = self.member(name)?;
        let size = f.size();
        npy::read_array_from(&mut f, Some(size)).map_err(|e| in_member(name, e))
    }

    fn header(&mut self, name: &str) -> Result<NpyHeader> {
        let mut f = self.member(name)?;
        npy::read_header(&mut f)
            .map(|(h, _)| h)
            .map_err(|e| in_member(name, e))
    }

    fn member(&mut self, name: &str) -> Result<zip::read::ZipFile<'_, R>> {
        match self.zip.by_name(&format!("{name}.npy")) {
            Ok(f) => Ok(f),
            Err(ZipError::FileNotFound) => Err(FormatError::malformed(
                KIND,
                format!(
                    "archive has no '{name}.npy' member (not written by scipy.sparse.save_npz?)"
                ),
            )),
            Err(e) => Err(zip_err(e)),
        }
    }

    fn format(&mut self) -> Result<String> {
        let f = self.array("format")?.to_string_scalar("format")?;
        match f.as_str() {
            "csr" | "csc" | "coo" | "bsr" => Ok(f),
            "dia" | "lil" | "dok" => Err(FormatError::unsupported(
                KIND,
                format!("sparse format '{f}'; convert with .tocsr() before save_npz"),
            )),
            _ => Err(FormatError::malformed(
                KIND,
                format!("unknown format '{f}'"),
            )),
        }
    }

    fn shape(&mut self) -> Result<(usize, usize)> {
        let s = self.array("shape")?;
        let v = s.to_usize_vec("shape").map_err(|e| in_member("shape", e))?;
        match v[..] {
            [m, n] => Ok((m, n)),
            _ => Err(FormatError::malformed(
                KIND,
                format!(
                    "shape holds {} values, expected 2 (only 2-D matrices)",
                    v.len()
                ),
            )),
        }
    }
}

fn descr(h: &NpyHeader) -> String {
    let order = match h.dtype.itemsize() {
        _ if matches!(
            h.dtype,
            NpyDtype::Bytes(_) | NpyDtype::Bool | NpyDtype::I8 | NpyDtype::U8
        ) =>
        {
            '|'
        }
        _ if h.little_endian => '<',
        _ => '>',
    };
    let code = match h.dtype {
        NpyDtype::Bool => "b1".to_string(),
        NpyDtype::I8 => "i1".into(),
        NpyDtype::I16 => "i2".into(),
        NpyDtype::I32 => "i4".into(),
        NpyDtype::I64 => "i8".into(),
        NpyDtype::U8 => "u1".into(),
        NpyDtype::U16 => "u2".into(),
        NpyDtype::U32 => "u4".into(),
        NpyDtype::U64 => "u8".into(),
        NpyDtype::F16 => "f2".into(),
        NpyDtype::F32 => "f4".into(),
        NpyDtype::F64 => "f8".into(),
        NpyDtype::Bytes(n) => format!("S{n}"),
        NpyDtype::Unicode(n) => format!("U{n}"),
    };
    format!("{order}{code}")
}

fn one_d(a: &NpyArray, name: &str) -> Result<usize> {
    match a.header.shape[..] {
        [n] => Ok(n),
        _ => Err(FormatError::malformed(
            KIND,
            format!(
                "member '{name}.npy' has shape {:?}, expected 1-D",
                a.header.shape
            ),
        )),
    }
}

fn index_vec<I: SpIndex>(a: &NpyArray, what: &'static str) -> Result<Vec<I>> {
    one_d(a, what)?;
    a.to_index_vec::<I>(what).map_err(|e| in_member(what, e))
}

fn values<T: Scalar>(a: &NpyArray) -> Result<Vec<T>> {
    if a.header.fortran_order && a.header.shape.len() > 1 {
        return Err(FormatError::unsupported(
            KIND,
            "member 'data.npy' is Fortran-ordered",
        ));
    }
    a.to_scalar_vec::<T>("data")
        .map_err(|e| in_member("data", e))
}

/// Reads a sparse matrix from a SciPy `.npz` archive (see the module docs).
pub fn read<T: Scalar, I: SpIndex>(r: impl Read + Seek) -> Result<SparseMatrix<T, I>> {
    let mut ar = Archive::open(r)?;
    let format = ar.format()?;
    let (nrows, ncols) = ar.shape()?;
    // Checked before anything of the declared size exists: every later allocation is bounded by
    // the bytes of the members.
    crate::compressed::check_dims::<I>(nrows, ncols, "npz shape")?;
    match format.as_str() {
        "csr" | "csc" => {
            let indptr = index_vec::<I>(&ar.array("indptr")?, "indptr")?;
            let indices = index_vec::<I>(&ar.array("indices")?, "indices")?;
            let data_a = ar.array("data")?;
            one_d(&data_a, "data")?;
            let data = values::<T>(&data_a)?;
            if format == "csr" {
                Ok(Csr::try_from_unsorted(nrows, ncols, indptr, indices, data)?.into())
            } else {
                Ok(Csc::try_from_unsorted(nrows, ncols, indptr, indices, data)?.into())
            }
        }
        "coo" => {
            let (row, col) = if ar.has("row") || !ar.has("coords") {
                (
                    index_vec::<I>(&ar.array("row")?, "row")?,
                    index_vec::<I>(&ar.array("col")?, "col")?,
                )
            } else {
                let c = ar.array("coords")?;
                let n = match c.header.shape[..] {
                    [2, n] if !c.header.fortran_order => n,
                    _ => {
                        return Err(FormatError::malformed(
                            KIND,
                            format!(
                                "member 'coords.npy' has shape {:?}, expected (2, nnz) in C order",
                                c.header.shape
                            ),
                        ))
                    }
                };
                let mut all = c
                    .to_index_vec::<I>("coords")
                    .map_err(|e| in_member("coords", e))?;
                let col = all.split_off(n);
                (all, col)
            };
            let data_a = ar.array("data")?;
            one_d(&data_a, "data")?;
            let data = values::<T>(&data_a)?;
            Ok(Coo::try_new(nrows, ncols, row, col, data)?.into())
        }
        _ => {
            // bsr
            let indptr = index_vec::<I>(&ar.array("indptr")?, "indptr")?;
            let indices = index_vec::<I>(&ar.array("indices")?, "indices")?;
            let data_a = ar.array("data")?;
            let (nb, r, c) = match data_a.header.shape[..] {
                [nb, r, c] => (nb, r, c),
                _ => {
                    return Err(FormatError::malformed(
                        KIND,
                        format!(
                            "bsr member 'data.npy' has shape {:?}, expected (nblocks, r, c)",
                            data_a.header.shape
                        ),
                    ))
                }
            };
            if nb != indices.len() {
                return Err(FormatError::len("bsr data blocks", indices.len(), nb));
            }
            let data = values::<T>(&data_a)?;
            bsr_from_unsorted(nrows, ncols, (r, c), indptr, indices, data).map(Into::into)
        }
    }
}

/// [`Bsr::try_new`], canonicalising unsorted / duplicated block columns first (blocks summed).
pub(crate) fn bsr_from_unsorted<T: Scalar, I: SpIndex>(
    nrows: usize,
    ncols: usize,
    bs: (usize, usize),
    indptr: Vec<I>,
    indices: Vec<I>,
    data: Vec<T>,
) -> Result<Bsr<T, I>> {
    match crate::BsrView::try_new(nrows, ncols, bs, &indptr, &indices, &data) {
        Ok(_) => return Bsr::try_new(nrows, ncols, bs, indptr, indices, data),
        Err(FormatError::NotCanonical { .. }) => {}
        Err(e) => return Err(e),
    }
    // Shape and block shape were valid (NotCanonical comes after them). Check the pointer array
    // and every block column, and the data length, before touching the blocks.
    let (nbrows, nbcols) = (nrows / bs.0, ncols / bs.1);
    crate::compressed::check_unsorted(crate::compressed::BSR, nbrows, nbcols, &indptr, &indices)?;
    let blen = checked_size(bs.0, bs.1, "BSR block")?;
    let expected = checked_size(indices.len(), blen, "BSR values")?;
    if data.len() != expected {
        return Err(FormatError::len("values", expected, data.len()));
    }
    let mut ptr = Vec::with_capacity(indptr.len());
    let mut idx: Vec<I> = Vec::with_capacity(indices.len());
    let mut vals: Vec<T> = Vec::with_capacity(data.len());
    ptr.push(I::default());
    for bi in 0..nbrows {
        let (s, e) = (indptr[bi].index(), indptr[bi + 1].index());
        let mut order: Vec<usize> = (s..e).collect();
        order.sort_by_key(|&p| indices[p]);
        let row_start = idx.len();
        for p in order {
            let block = &data[p * blen..(p + 1) * blen];
            if idx.len() > row_start && idx.last() == Some(&indices[p]) {
                let at = vals.len() - blen;
                for (acc, &v) in vals[at..].iter_mut().zip(block) {
                    *acc = acc.add(v);
                }
            } else {
                idx.push(indices[p]);
                vals.extend_from_slice(block);
            }
        }
        ptr.push(I::try_from_usize(idx.len(), "indptr")?);
    }
    Bsr::try_new(nrows, ncols, bs, ptr, idx, vals)
}

/// Reads a `.npz` file; see [`read()`].
pub fn read_path<T: Scalar, I: SpIndex>(path: impl AsRef<Path>) -> Result<SparseMatrix<T, I>> {
    read(BufReader::new(File::open(path)?))
}

/// Format, shape, nnz and dtypes of a `.npz` archive without loading its arrays.
pub fn info(r: impl Read + Seek) -> Result<NpzInfo> {
    let mut ar = Archive::open(r)?;
    let format = ar.format()?;
    let shape = ar.shape()?;
    let data = ar.header("data")?;
    let idx_name = match format.as_str() {
        "coo" if !ar.has("row") && ar.has("coords") => "coords",
        "coo" => "row",
        _ => "indices",
    };
    let idx = ar.header(idx_name)?;
    let nnz = data.len()?;
    let block_shape = match (format.as_str(), &data.shape[..]) {
        ("bsr", &[_, r, c]) => Some((r, c)),
        ("bsr", s) => {
            return Err(FormatError::malformed(
                KIND,
                format!("bsr member 'data.npy' has shape {s:?}, expected (nblocks, r, c)"),
            ))
        }
        _ => None,
    };
    Ok(NpzInfo {
        format,
        shape,
        nnz,
        value_dtype: descr(&data),
        index_dtype: descr(&idx),
        block_shape,
    })
}

/// [`info()`] of a file.
pub fn info_path(path: impl AsRef<Path>) -> Result<NpzInfo> {
    info(BufReader::new(File::open(path)?))
}

// ---------------------------------------------------------------------------------------------
// writing

fn fits_i32(v: usize) -> bool {
    v <= i32::MAX as usize
}

/// Writes `m` as a SciPy `.npz` archive (see the module docs).
pub fn write<T: Scalar, I: SpIndex>(
    w: impl Write + Seek,
    m: &SparseMatrix<T, I>,
    opts: &NpzOptions,
) -> Result<()> {
    let (nrows, ncols) = m.shape();
    let max_index = nrows.max(ncols).max(m.nnz());
    let wide = match opts.index {
        IndexWidth::I64 => true,
        IndexWidth::Auto => !fits_i32(max_index),
        IndexWidth::I32 => {
            if !fits_i32(max_index) {
                return Err(FormatError::IndexTypeOverflow {
                    what: "largest index, dimension or nnz",
                    value: max_index as u128,
                    index_type: "int32",
                });
            }
            false
        }
    };
    let mut z = ZipWriter::new(w);
    let mut out = Members {
        z: &mut z,
        compressed: opts.compressed,
        wide,
    };
    match m {
        SparseMatrix::Csr(a) => {
            out.ints("indices", a.col_idx())?;
            out.ints("indptr", a.row_ptr())?;
        }
        SparseMatrix::Csc(a) => {
            out.ints("indices", a.row_idx())?;
            out.ints("indptr", a.col_ptr())?;
        }
        SparseMatrix::Bsr(a) => {
            out.ints("indices", a.block_col_idx())?;
            out.ints("indptr", a.block_row_ptr())?;
        }
        SparseMatrix::Coo(a) => {
            out.ints("row", a.rows())?;
            out.ints("col", a.cols())?;
        }
    }
    out.start("format", 128)?;
    npy::write_bytes_scalar(out.z, m.format_name())?;
    out.start("shape", 144)?;
    npy::write_ints(out.z, &[2], [nrows, ncols].into_iter(), true)?;
    match m {
        SparseMatrix::Csr(a) => out.values(&[a.nnz()], a.values())?,
        SparseMatrix::Csc(a) => out.values(&[a.nnz()], a.values())?,
        SparseMatrix::Coo(a) => out.values(&[a.nnz()], a.values())?,
        SparseMatrix::Bsr(a) => {
            let (r, c) = a.block_shape();
            out.values(&[a.nblocks(), r, c], a.values())?
        }
    }
    let mut w = z.finish().map_err(zip_err)?;
    w.flush()?;
    Ok(())
}

struct Members<'a, W: Write + Seek> {
    z: &'a mut ZipWriter<W>,
    compressed: bool,
    wide: bool,
}

impl<W: Write + Seek> Members<'_, W> {
    fn start(&mut self, name: &str, bytes: usize) -> Result<()> {
        let method = if self.compressed {
            CompressionMethod::Deflated
        } else {
            CompressionMethod::Stored
        };
        let o = SimpleFileOptions::default()
            .compression_method(method)
            .large_file(bytes as u64 >= u32::MAX as u64 - 4096);
        self.z.start_file(format!("{name}.npy"), o).map_err(zip_err)
    }
    fn ints<I: SpIndex>(&mut self, name: &str, v: &[I]) -> Result<()> {
        self.start(name, v.len().saturating_mul(8))?;
        npy::write_ints(self.z, &[v.len()], v.iter().map(|i| i.index()), self.wide)
    }
    fn values<T: Scalar>(&mut self, shape: &[usize], v: &[T]) -> Result<()> {
        self.start("data", v.len().saturating_mul(8))?;
        if T::NAME == "bf16" {
            let f: Vec<f32> = v.iter().map(|x| x.to_f32()).collect();
            npy::write_scalars(self.z, shape, &f)
        } else {
            npy::write_scalars(self.z, shape, v)
        }
    }
}

/// Writes a `.npz` file; see [`write()`].
pub fn write_path<T: Scalar, I: SpIndex>(
    path: impl AsRef<Path>,
    m: &SparseMatrix<T, I>,
    opts: &NpzOptions,
) -> Result<()> {
    let f = BufWriter::new(File::create(path)?);
    write(f, m, opts)
}
