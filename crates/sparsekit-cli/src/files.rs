//! File kinds (by extension) and loading a whole matrix in a chosen value type.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::{bail, Context, Result};
use sparsekit_formats::io::{mtx, npy, npz, SparseMatrix};
use sparsekit_formats::Scalar;

/// The index type the CLI reads with: u64 so that no file is too big for it.
pub type Idx = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Npz,
    Mtx,
    Safetensors,
    Npy,
}

impl Kind {
    pub fn of(path: &Path) -> Result<Kind> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .unwrap_or_default();
        Ok(match ext.as_str() {
            "npz" => Kind::Npz,
            "mtx" => Kind::Mtx,
            "safetensors" => Kind::Safetensors,
            "npy" => Kind::Npy,
            "" => bail!(
                "{}: no file extension; expected .npz, .mtx, .safetensors or .npy",
                path.display()
            ),
            other => bail!(
                "{}: unknown extension '.{other}'; expected .npz, .mtx, .safetensors or .npy",
                path.display()
            ),
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Kind::Npz => "npz",
            Kind::Mtx => "mtx",
            Kind::Safetensors => "safetensors",
            Kind::Npy => "npy",
        }
    }
}

/// Value precision of a file: f64 only when the file holds f64 (or text that may need it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    F32,
    F64,
}

/// A matrix read from a file: sparse, or a dense row-major array.
pub enum Loaded<T: Scalar> {
    Sparse(SparseMatrix<T, Idx>),
    Dense {
        values: Vec<T>,
        nrows: usize,
        ncols: usize,
    },
}

impl<T: Scalar> Loaded<T> {
    pub fn shape(&self) -> (usize, usize) {
        match self {
            Loaded::Sparse(m) => m.shape(),
            Loaded::Dense { nrows, ncols, .. } => (*nrows, *ncols),
        }
    }
}

/// The `.npy` header of a file.
pub fn npy_header(path: &Path) -> Result<npy::NpyHeader> {
    let mut r = BufReader::new(File::open(path)?);
    Ok(npy::read_header(&mut r)?.0)
}

/// The value precision `convert` keeps for an input file.
pub fn precision(path: &Path, kind: Kind) -> Result<Precision> {
    Ok(match kind {
        Kind::Npz => match dtype_name(&npz::info_path(path)?.value_dtype).as_str() {
            "float64" | "int64" | "uint64" | "int32" | "uint32" => Precision::F64,
            _ => Precision::F32,
        },
        Kind::Npy => match npy_header(path)?.dtype {
            npy::NpyDtype::F64 => Precision::F64,
            _ => Precision::F32,
        },
        // Text: decimal values are only lossless in f64.
        Kind::Mtx => Precision::F64,
        Kind::Safetensors => Precision::F32,
    })
}

/// NumPy's name for a `descr` such as `"<f4"` (`"float32"`); unknown ones are returned as given.
pub fn dtype_name(descr: &str) -> String {
    let code = descr.trim_start_matches(['<', '>', '|', '=']);
    match code {
        "f2" => "float16",
        "f4" => "float32",
        "f8" => "float64",
        "i1" => "int8",
        "i2" => "int16",
        "i4" => "int32",
        "i8" => "int64",
        "u1" => "uint8",
        "u2" => "uint16",
        "u4" => "uint32",
        "u8" => "uint64",
        "b1" | "?" => "bool",
        _ => return descr.to_string(),
    }
    .to_string()
}

/// Reads the one matrix of an `.npz`, `.mtx` or `.npy` file.
pub fn load<T: Scalar>(path: &Path, kind: Kind) -> Result<Loaded<T>> {
    Ok(match kind {
        Kind::Npz => Loaded::Sparse(npz::read_path::<T, Idx>(path)?),
        Kind::Mtx => Loaded::Sparse(SparseMatrix::Coo(mtx::read_path::<T, Idx>(path)?)),
        Kind::Npy => {
            let (values, nrows, ncols) = npy::read_npy_dense::<T>(path)?;
            Loaded::Dense {
                values,
                nrows,
                ncols,
            }
        }
        Kind::Safetensors => {
            bail!("convert does not handle .safetensors (it may hold many tensors); use inspect")
        }
    })
}

/// Context line for errors about reading a file.
pub fn reading(path: &Path) -> String {
    format!("reading {}", path.display())
}

/// Context line for errors about writing a file.
pub fn writing(path: &Path) -> String {
    format!("writing {}", path.display())
}

/// Fails early, with the OS message, when a path cannot be opened.
pub fn check_readable(path: &Path) -> Result<()> {
    File::open(path).map(drop).with_context(|| reading(path))
}
