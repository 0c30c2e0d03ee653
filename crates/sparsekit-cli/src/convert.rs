//! `sparsekit convert IN OUT`: between `.npz` (csr/csc/coo/bsr), `.mtx` and dense `.npy`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use sparsekit_formats::io::{mtx, npy, npz, SparseMatrix};
use sparsekit_formats::{dense::Select, Bsr, Csr, Scalar};

use crate::files::{self, Idx, Kind, Loaded, Precision};

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

pub fn run(args: &Args) -> Result<()> {
    let (inp, out) = (&args.input, &args.output);
    let ikind = Kind::of(inp)?;
    let okind = Kind::of(out)?;
    if ikind == Kind::Safetensors || okind == Kind::Safetensors {
        bail!("convert handles .npz, .mtx and .npy; .safetensors is supported by inspect only");
    }
    if args.format.is_some() && okind != Kind::Npz {
        bail!(
            "--format applies to .npz output only ({} is {})",
            out.display(),
            okind.name()
        );
    }
    files::check_readable(inp)?;
    let precision = match args.dtype {
        Some(Dtype::F32) => Precision::F32,
        Some(Dtype::F64) => Precision::F64,
        None => files::precision(inp, ikind).with_context(|| files::reading(inp))?,
    };
    match precision {
        Precision::F32 => convert_as::<f32>(args, ikind, okind),
        Precision::F64 => convert_as::<f64>(args, ikind, okind),
    }
}

fn convert_as<T: Scalar>(args: &Args, ikind: Kind, okind: Kind) -> Result<()> {
    let (inp, out) = (&args.input, &args.output);
    let loaded = files::load::<T>(inp, ikind).with_context(|| files::reading(inp))?;
    write(args, loaded, okind, out).with_context(|| files::writing(out))
}

fn write<T: Scalar>(args: &Args, loaded: Loaded<T>, okind: Kind, out: &Path) -> Result<()> {
    match okind {
        Kind::Npy => {
            let (nrows, ncols) = loaded.shape();
            let values = match loaded {
                Loaded::Dense { values, .. } => values,
                Loaded::Sparse(m) => {
                    nrows.checked_mul(ncols).with_context(|| {
                        format!("dense {nrows}x{ncols} array does not fit in memory")
                    })?;
                    m.to_dense()
                }
            };
            npy::write_npy_dense(out, &values, nrows, ncols)?;
        }
        Kind::Mtx => {
            let m = to_sparse(loaded, None)?;
            mtx::write_path(out, &m, &mtx::MtxOptions::default())?;
        }
        Kind::Npz => {
            let m = to_sparse(loaded, Some((args.format, args.block)))?;
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
        Kind::Safetensors => unreachable!("rejected in run"),
    }
    Ok(())
}

/// The matrix as a sparse matrix in the requested format (`None`: keep a sparse input's format,
/// CSR for a dense input). Dense inputs keep their exact non-zeros.
fn to_sparse<T: Scalar>(
    loaded: Loaded<T>,
    target: Option<(Option<Format>, (usize, usize))>,
) -> Result<SparseMatrix<T, Idx>> {
    let m = match loaded {
        Loaded::Sparse(m) => m,
        Loaded::Dense {
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
