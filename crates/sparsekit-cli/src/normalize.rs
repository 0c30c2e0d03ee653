//! `sparsekit normalize`: sparsemax, 1.5-entmax or α-entmax of a dense `.npy` array along one
//! dimension, and optionally its input gradient for a given output gradient — the
//! `sparsekit_kernels::normalize` CPU kernels, no burn.
//!
//! Arrays of any rank, f32 or f64 (f16 and integer inputs are read as f32). The kernels compute
//! in f32 with f64 accumulation; an f64 input is rounded to f32 first and the result is written
//! back as f64 (so f64 files agree with an f64 computation to about 1e-7 when their values are
//! f32-representable). `−∞` entries are masks; a fully masked slice gives zeros.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args as ClapArgs, ValueEnum};
use sparsekit_formats::io::npy::{read_array_from, write_header, NpyArray, NpyDtype};
use sparsekit_kernels::{normalize, normalize_backward, MatMut, MatRef, Normalizer};

/// The normaliser, as named on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Map {
    /// Sparsemax (α = 2).
    Sparsemax,
    /// Exact 1.5-entmax.
    Entmax15,
    /// α-entmax by root finding; needs `--alpha`.
    Entmax,
}

#[derive(ClapArgs)]
pub struct Args {
    /// Which normaliser.
    #[arg(long = "fn", value_enum)]
    pub map: Map,
    /// α > 1 for `--fn entmax` (2 = sparsemax, 1.5 = 1.5-entmax).
    #[arg(long)]
    pub alpha: Option<f32>,
    /// The dimension to normalise along; negative counts from the end, as in NumPy.
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub dim: i64,
    /// Input logits, a float .npy array of any rank.
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the probabilities (.npy, the input's shape and float dtype).
    #[arg(long)]
    pub output: PathBuf,
    /// Gradient with respect to the output (.npy, the input's shape); needs --grad-input.
    #[arg(long, requires = "grad_input")]
    pub grad_output: Option<PathBuf>,
    /// Where to write the gradient with respect to the input; needs --grad-output.
    #[arg(long, requires = "grad_output")]
    pub grad_input: Option<PathBuf>,
}

/// A float array: shape, values as f32, and whether it was f64 on disk.
struct Array {
    shape: Vec<usize>,
    values: Vec<f32>,
    f64: bool,
}

fn read(path: &Path) -> Result<Array> {
    let f = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let len = f.metadata()?.len();
    let arr: NpyArray = read_array_from(BufReader::new(f), Some(len))
        .with_context(|| format!("reading {}", path.display()))?;
    if arr.header.fortran_order {
        bail!(
            "reading {}: Fortran-order arrays are not supported (save with np.ascontiguousarray)",
            path.display()
        );
    }
    if !arr.is_float() {
        bail!(
            "reading {}: dtype {} is not a float type",
            path.display(),
            arr.header.dtype.name()
        );
    }
    let values = arr
        .to_scalar_vec::<f32>("array")
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(Array {
        shape: arr.header.shape.clone(),
        values,
        f64: arr.header.dtype == NpyDtype::F64,
    })
}

fn write(path: &Path, shape: &[usize], values: &[f32], as_f64: bool) -> Result<()> {
    let go = || -> Result<()> {
        let mut w = BufWriter::new(File::create(path)?);
        if as_f64 {
            write_header(&mut w, "<f8", shape)?;
            for &v in values {
                w.write_all(&(v as f64).to_le_bytes())?;
            }
        } else {
            write_header(&mut w, "<f4", shape)?;
            for &v in values {
                w.write_all(&v.to_le_bytes())?;
            }
        }
        w.flush()?;
        Ok(())
    };
    go().with_context(|| format!("writing {}", path.display()))
}

/// `(outer, n, inner)` of `shape` split at `dim` (NumPy's negative indexing).
fn split(shape: &[usize], dim: i64) -> Result<(usize, usize, usize)> {
    let rank = shape.len() as i64;
    let d = if dim < 0 { dim + rank } else { dim };
    if rank == 0 || d < 0 || d >= rank {
        bail!("--dim {dim} is out of range for an array of shape {shape:?} (rank {rank})");
    }
    let d = d as usize;
    Ok((
        shape[..d].iter().product(),
        shape[d],
        shape[d + 1..].iter().product(),
    ))
}

/// Rows of length `n` (one per `(outer, inner)` pair) from a `[outer, n, inner]` array.
fn to_rows(v: &[f32], (outer, n, inner): (usize, usize, usize)) -> Vec<f32> {
    if inner == 1 {
        return v.to_vec();
    }
    let mut out = vec![0.0f32; v.len()];
    for o in 0..outer {
        for k in 0..inner {
            let row = (o * inner + k) * n;
            for j in 0..n {
                out[row + j] = v[(o * n + j) * inner + k];
            }
        }
    }
    out
}

/// The inverse of [`to_rows`].
fn from_rows(rows: &[f32], (outer, n, inner): (usize, usize, usize)) -> Vec<f32> {
    if inner == 1 {
        return rows.to_vec();
    }
    let mut out = vec![0.0f32; rows.len()];
    for o in 0..outer {
        for k in 0..inner {
            let row = (o * inner + k) * n;
            for j in 0..n {
                out[(o * n + j) * inner + k] = rows[row + j];
            }
        }
    }
    out
}

pub fn run(args: &Args) -> Result<()> {
    let f = match (args.map, args.alpha) {
        (Map::Sparsemax, None) => Normalizer::Sparsemax,
        (Map::Entmax15, None) => Normalizer::Entmax15,
        (Map::Entmax, Some(a)) => Normalizer::entmax(a)?,
        (Map::Entmax, None) => bail!("--fn entmax needs --alpha (a finite number > 1)"),
        (m, Some(_)) => bail!("--alpha is only for --fn entmax, not {m:?}"),
    };
    let x = read(&args.input)?;
    let dims = split(&x.shape, args.dim)?;
    let (outer, n, inner) = dims;
    let nrows = outer * inner;
    let z = to_rows(&x.values, dims);
    let mut p = vec![0.0f32; z.len()];
    normalize(
        f,
        MatRef::new(&z, nrows, n)?,
        MatMut::new(&mut p, nrows, n)?,
    )?;
    write(&args.output, &x.shape, &from_rows(&p, dims), x.f64)?;
    if let (Some(go), Some(gi)) = (&args.grad_output, &args.grad_input) {
        let g = read(go)?;
        if g.shape != x.shape {
            bail!(
                "--grad-output {} has shape {:?} but the input has shape {:?}",
                go.display(),
                g.shape,
                x.shape
            );
        }
        let dp = to_rows(&g.values, dims);
        let mut dz = vec![0.0f32; z.len()];
        normalize_backward(
            f,
            MatRef::new(&p, nrows, n)?,
            MatRef::new(&dp, nrows, n)?,
            MatMut::new(&mut dz, nrows, n)?,
        )?;
        write(gi, &x.shape, &from_rows(&dz, dims), x.f64)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_roundtrip_and_split() {
        let shape = [2usize, 3, 4];
        let v: Vec<f32> = (0..24).map(|i| i as f32).collect();
        let d = split(&shape, 1).unwrap();
        assert_eq!(d, (2, 3, 4));
        let r = to_rows(&v, d);
        // Row (o = 0, k = 1) holds x[0, :, 1] = 1, 5, 9.
        assert_eq!(&r[3..6], &[1.0, 5.0, 9.0]);
        assert_eq!(from_rows(&r, d), v);
        assert_eq!(split(&shape, -1).unwrap(), (6, 4, 1));
        assert_eq!(split(&shape, -3).unwrap(), (1, 2, 12));
        assert!(split(&shape, 3).is_err());
        assert!(split(&shape, -4).is_err());
        assert!(split(&[], -1).is_err());
    }
}
