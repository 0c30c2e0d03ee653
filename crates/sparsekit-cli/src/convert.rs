//! `sparsekit convert IN OUT`: between `.npz` (csr/csc/coo/bsr), `.mtx` and dense `.npy`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use sparsekit_formats::io::{mtx, npy, npz, read_any, Data, DenseTensor, FileKind, SparseMatrix};
use sparsekit_formats::{dense::Select, Bsr, Csr, Scalar};

use crate::files::{self, Idx};

#[derive(clap::Args)]
pub struct Args {
    /// Input file (.npz, .mtx or dense .npy).
    pub input: PathBuf,
    /// Output file (.npz, .mtx or dense .npy); overwritten if it exists.
    pub output: PathBuf,
    /// Sparse format of an .npz output [default: the input's format for .npz input, else csr].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Block shape for --format bsr, as RxC.
    #[arg(long, value_parser = parse_block, default_value = "4x4")]
    pub block: (usize, usize),
    /// Index width of an .npz output: i32, i64, or auto (i32 when everything fits).
    #[arg(long, value_enum, default_value_t = Index::Auto)]
    pub index: Index,
    /// Value type of the output [default: f64 if the input holds f64 (or is .mtx text), else f32].
    #[arg(long, value_enum)]
    pub dtype: Option<Dtype>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Csr,
    Csc,
    Coo,
    Bsr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Index {
    I32,
    I64,
    Auto,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Dtype {
    F32,
    F64,
}

pub fn parse_block(s: &str) -> std::result::Result<(usize, usize), String> {
    let (r, c) = s
        .split_once(['x', 'X', '×'])
        .ok_or_else(|| format!("'{s}': expected RxC, e.g. 4x4"))?;
    let parse = |t: &str| {
        t.trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("'{s}': block sides must be positive integers"))
    };
    Ok((parse(r)?, parse(c)?))
}

/// The one matrix of an input file, sparse or dense.
enum Matrix<T: Scalar> {
    Sparse(SparseMatrix<T, Idx>),
    Dense {
        values: Vec<T>,
        nrows: usize,
        ncols: usize,
    },
}

impl<T: Scalar> Matrix<T> {
    fn shape(&self) -> (usize, usize) {
        match self {
            Matrix::Sparse(m) => m.shape(),
            Matrix::Dense { nrows, ncols, .. } => (*nrows, *ncols),
        }
    }
}

pub fn run(args: &Args) -> Result<()> {
    let (inp, out) = (&args.input, &args.output);
    let okind = FileKind::from_extension(out).with_context(|| out.display().to_string())?;
    // Refused before reading what may be a whole checkpoint.
    let by_name = FileKind::from_extension(inp).ok();
    if by_name == Some(FileKind::Safetensors) || okind == FileKind::Safetensors {
        bail!(SAFETENSORS);
    }
    if args.format.is_some() && okind != FileKind::Npz {
        bail!(
            "--format applies to .npz output only ({} is {})",
            out.display(),
            okind.name()
        );
    }
    match args.dtype {
        Some(Dtype::F32) => write(args, read::<f32>(inp)?, okind),
        Some(Dtype::F64) => write(args, read::<f64>(inp)?, okind),
        // The input's precision: f64 only when f32 could not hold its values exactly.
        None => {
            let (m, exact_in_f32) = read_entry::<f64>(inp)?;
            match m {
                Data::Sparse(m) if exact_in_f32 => {
                    write(args, Matrix::Sparse(m.cast::<f32>()), okind)
                }
                Data::Dense(t) if exact_in_f32 => write(args, dense::<f32>(inp, &t)?, okind),
                Data::Sparse(m) => write(args, Matrix::Sparse(m), okind),
                Data::Dense(t) => write(args, dense::<f64>(inp, &t)?, okind),
            }
        }
    }
}

const SAFETENSORS: &str =
    "convert handles .npz, .mtx and .npy; .safetensors is supported by inspect only";

/// The one matrix or array of `inp`, and whether f32 holds its values exactly.
fn read_entry<T: Scalar>(inp: &Path) -> Result<(Data<T, Idx>, bool)> {
    let file = read_any::<T, Idx>(inp).with_context(|| files::reading(inp))?;
    if file.kind == FileKind::Safetensors {
        bail!(SAFETENSORS);
    }
    let Some(e) = file.entries.into_iter().next() else {
        bail!("{}: no matrix in the file", inp.display());
    };
    Ok((e.data, e.exact_in_f32))
}

fn read<T: Scalar>(inp: &Path) -> Result<Matrix<T>> {
    match read_entry::<T>(inp)?.0 {
        Data::Sparse(m) => Ok(Matrix::Sparse(m)),
        Data::Dense(t) => dense(inp, &t),
    }
}

/// A dense array of rank ≤ 2 as a matrix (`[n]` is one row).
fn dense<T: Scalar>(inp: &Path, t: &DenseTensor) -> Result<Matrix<T>> {
    let matrix = || -> Result<Matrix<T>> {
        if t.shape().len() > 2 {
            bail!(
                "{}-D array (shape {:?}); only 1-D and 2-D arrays convert to a matrix",
                t.shape().len(),
                t.shape()
            );
        }
        let (nrows, ncols) = t.matrix_shape();
        Ok(Matrix::Dense {
            values: t.to_vec::<T>()?,
            nrows,
            ncols,
        })
    };
    matrix().with_context(|| files::reading(inp))
}

fn write<T: Scalar>(args: &Args, m: Matrix<T>, okind: FileKind) -> Result<()> {
    let out = &args.output;
    write_as(args, m, okind).with_context(|| files::writing(out))
}

fn write_as<T: Scalar>(args: &Args, m: Matrix<T>, okind: FileKind) -> Result<()> {
    let out = &args.output;
    match okind {
        FileKind::Npy => {
            let (nrows, ncols) = m.shape();
            let values = match m {
                Matrix::Dense { values, .. } => values,
                Matrix::Sparse(m) => {
                    nrows.checked_mul(ncols).with_context(|| {
                        format!("dense {nrows}x{ncols} array does not fit in memory")
                    })?;
                    m.to_dense()
                }
            };
            npy::write_npy_dense(out, &values, nrows, ncols)?;
        }
        FileKind::Mtx => {
            let m = to_sparse(m, None)?;
            mtx::write_path(out, &m, &mtx::MtxOptions::default())?;
        }
        FileKind::Npz => {
            let m = to_sparse(m, Some((args.format, args.block)))?;
            let opts = npz::NpzOptions {
                index: match args.index {
                    Index::I32 => npz::IndexWidth::I32,
                    Index::I64 => npz::IndexWidth::I64,
                    Index::Auto => npz::IndexWidth::Auto,
                },
                ..npz::NpzOptions::default()
            };
            npz::write_path(out, &m, &opts)?;
        }
        FileKind::Safetensors => bail!(SAFETENSORS),
    }
    Ok(())
}

/// The matrix as a sparse matrix in the requested format (`None`: keep a sparse input's format,
/// CSR for a dense input). Dense inputs keep their exact non-zeros.
fn to_sparse<T: Scalar>(
    m: Matrix<T>,
    target: Option<(Option<Format>, (usize, usize))>,
) -> Result<SparseMatrix<T, Idx>> {
    let m = match m {
        Matrix::Sparse(m) => m,
        Matrix::Dense {
            values,
            nrows,
            ncols,
        } => SparseMatrix::Csr(Csr::<T, Idx>::from_dense(
            &values,
            nrows,
            ncols,
            Select::NonZero,
        )?),
    };
    let Some((Some(format), block)) = target else {
        return Ok(m);
    };
    Ok(match (format, m) {
        (Format::Csr, m @ SparseMatrix::Csr(_))
        | (Format::Csc, m @ SparseMatrix::Csc(_))
        | (Format::Coo, m @ SparseMatrix::Coo(_)) => m,
        (Format::Bsr, SparseMatrix::Bsr(b)) if b.block_shape() == block => SparseMatrix::Bsr(b),
        (Format::Csr, m) => SparseMatrix::Csr(m.to_csr()?),
        (Format::Csc, m) => SparseMatrix::Csc(m.to_csr()?.to_csc()),
        (Format::Coo, m) => SparseMatrix::Coo(m.to_csr()?.to_coo()),
        (Format::Bsr, m) => SparseMatrix::Bsr(Bsr::from_csr(&m.to_csr()?, block)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_parsing() {
        assert_eq!(parse_block("4x4"), Ok((4, 4)));
        assert_eq!(parse_block("2X8"), Ok((2, 8)));
        assert!(parse_block("4").is_err());
        assert!(parse_block("0x4").is_err());
    }
}
