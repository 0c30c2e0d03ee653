//! `sparsekit convert IN OUT`: between `.npz` (csr/csc/coo/bsr), `.mtx`, dense `.npy` and sparse
//! `.safetensors`, in f32, f64, f16 or bf16.
//!
//! Value types: f16 and bf16 outputs round every value once, to nearest even, from the input's
//! exact value (read as f64, which holds every f16/bf16/f32/f64 value and every integer up to
//! 2⁵³; `.mtx` text is first read as the nearest f64, so a decimal within 2⁻⁵³ of a half-way
//! point can round the other way). Overflow to ±inf and underflow to 0 are counted in a one-line
//! warning; a value that became 0 stays stored (an explicit zero), so the pattern never changes.
//!
//! Where half precision can go: `.safetensors` holds F16 and BF16; a dense `.npy` holds f16
//! (NumPy's float16); an f16 `.mtx` holds each value's exact decimal (its shortest f64 form), so
//! any reader gets the f16 values exactly. `.npz` refuses both — SciPy's sparse matrices have no
//! float16 (`scipy.sparse.load_npz` rejects a float16 archive) and NumPy has no bfloat16 — and
//! bf16 is refused for `.npy` and `.mtx` too (Matrix Market text records no value type); the
//! error suggests `.safetensors`. Without `--dtype`, a half-precision input keeps its type where
//! the output holds it and becomes f32 (exactly) elsewhere.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use half::{bf16, f16};
use sparsekit_formats::io::safetensors as st;
use sparsekit_formats::io::{
    mtx, npy, npz, read_any, Data, DenseTensor, Entry, FileKind, SparseMatrix,
};
use sparsekit_formats::{dense::Select, Bsr, Csr, Scalar};

use crate::files::{self, Idx};

/// The matrix name of a `.safetensors` output when neither `--name` nor the input gives one.
pub const DEFAULT_NAME: &str = "w";

#[derive(clap::Args)]
pub struct Args {
    /// Input file: .npz, .mtx, dense .npy, or .safetensors holding a sparse matrix (as
    /// sparsekit writes them: NAME.data, NAME.indices, … and sparsekit metadata; dense
    /// checkpoint tensors are not read).
    pub input: PathBuf,
    /// Output file (.npz, .mtx, dense .npy or sparse .safetensors); overwritten if it exists.
    pub output: PathBuf,
    /// Sparse format of an .npz or .safetensors output [default: the input's (coo for .mtx),
    /// csr for a dense input].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Block shape for --format bsr, as RxC.
    #[arg(long, value_parser = parse_block, default_value = "4x4")]
    pub block: (usize, usize),
    /// Index width of an .npz output: i32, i64, or auto (i32 when everything fits). A
    /// .safetensors output always chooses as auto does.
    #[arg(long, value_enum, default_value_t = Index::Auto)]
    pub index: Index,
    /// Value type of the output [default: the input's — f16/bf16 stay where the output holds
    /// them, else become f32 exactly; f64 for f64 or .mtx text; else f32].
    ///
    /// f16 and bf16 round each value once, to nearest even, from its exact value. Values
    /// beyond the range become ±inf and tiny ones 0 — kept as explicit zeros, the sparsity
    /// pattern does not change — and one warning line on stderr counts them; no value is
    /// refused. Outputs: .safetensors holds f16 and bf16; .npy and .mtx (exact decimals) hold
    /// f16; .npz holds neither (SciPy's sparse matrices have no float16, NumPy no bfloat16).
    #[arg(long, value_enum)]
    pub dtype: Option<Dtype>,
    /// The sparse matrix to read from a .safetensors input holding several, and the name of
    /// the matrix in a .safetensors output (arrays NAME.data, NAME.indices, …) [default: the
    /// input's matrix name, else "w"].
    #[arg(long)]
    pub name: Option<String>,
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
    F16,
    Bf16,
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

    fn values(&self) -> &[T] {
        match self {
            Matrix::Sparse(SparseMatrix::Csr(a)) => a.values(),
            Matrix::Sparse(SparseMatrix::Csc(a)) => a.values(),
            Matrix::Sparse(SparseMatrix::Coo(a)) => a.values(),
            Matrix::Sparse(SparseMatrix::Bsr(a)) => a.values(),
            Matrix::Dense { values, .. } => values,
        }
    }

    fn cast<U: Scalar>(&self) -> Matrix<U> {
        match self {
            Matrix::Sparse(m) => Matrix::Sparse(m.cast()),
            Matrix::Dense {
                values,
                nrows,
                ncols,
            } => Matrix::Dense {
                values: values.iter().map(|v| U::from_f64(v.to_f64())).collect(),
                nrows: *nrows,
                ncols: *ncols,
            },
        }
    }
}

/// The matrix read from the input, and what decides the default value type.
struct Input<T: Scalar> {
    matrix: Matrix<T>,
    /// f32 holds every stored value exactly.
    exact_in_f32: bool,
    /// The file stores f16 (`Some(Dtype::F16)`) or bf16 values.
    half: Option<Dtype>,
    /// The matrix's name in a .safetensors input.
    name: Option<String>,
}

pub fn run(args: &Args) -> Result<()> {
    let (inp, out) = (&args.input, &args.output);
    let okind = FileKind::from_extension(out).with_context(|| out.display().to_string())?;
    if args.format.is_some() && !matches!(okind, FileKind::Npz | FileKind::Safetensors) {
        bail!(
            "--format applies to .npz and .safetensors output only ({} is {})",
            out.display(),
            okind.name()
        );
    }
    if let Some(dtype) = args.dtype.filter(|&d| !holds(okind, d)) {
        let (name, why, instead) = match dtype {
            Dtype::Bf16 => (
                "bf16",
                "NumPy (.npz, .npy) has no bfloat16 and Matrix Market text (.mtx) does not \
                 record it",
                "--dtype f16 or f32",
            ),
            _ => (
                "f16",
                "SciPy's sparse matrices have no float16 (scipy.sparse.load_npz refuses it)",
                "a dense .npy, or --dtype f32",
            ),
        };
        bail!(
            "--dtype {name} cannot be written to {}: {why}; write a .safetensors file instead \
             (sparsekit convert {} {}.safetensors --dtype {name}), or use {instead}",
            out.display(),
            inp.display(),
            out.with_extension("").display()
        );
    }
    if args.name.as_deref() == Some("") {
        bail!("--name must not be empty");
    }
    match args.dtype {
        Some(Dtype::F32) => finish::<f32, f32>(args, read::<f32>(args, okind)?, okind),
        Some(Dtype::F64) => finish::<f64, f64>(args, read::<f64>(args, okind)?, okind),
        Some(Dtype::F16) => finish::<f64, f16>(args, read::<f64>(args, okind)?, okind),
        Some(Dtype::Bf16) => finish::<f64, bf16>(args, read::<f64>(args, okind)?, okind),
        // The input's precision: f16 / bf16 where the output holds it, f64 only when f32
        // could not hold the values exactly.
        None => {
            let input = read::<f64>(args, okind)?;
            match (input.half.filter(|&d| holds(okind, d)), input.exact_in_f32) {
                (Some(Dtype::F16), _) => finish::<f64, f16>(args, input, okind),
                (Some(Dtype::Bf16), _) => finish::<f64, bf16>(args, input, okind),
                (_, true) => finish::<f64, f32>(args, input, okind),
                (_, false) => finish::<f64, f64>(args, input, okind),
            }
        }
    }
}

/// Whether an output of kind `okind` can store values of type `dtype`.
fn holds(okind: FileKind, dtype: Dtype) -> bool {
    match dtype {
        Dtype::F32 | Dtype::F64 => true,
        Dtype::F16 => okind != FileKind::Npz,
        Dtype::Bf16 => okind == FileKind::Safetensors,
    }
}

/// The one matrix of `inp` (for .safetensors: the one sparse matrix, or --name's).
fn read<T: Scalar>(args: &Args, okind: FileKind) -> Result<Input<T>> {
    let inp = &args.input;
    let file = read_any::<T, Idx>(inp).with_context(|| files::reading(inp))?;
    let safetensors = file.kind == FileKind::Safetensors;
    if args.name.is_some() && !safetensors && okind != FileKind::Safetensors {
        bail!("--name applies to .safetensors input or output only");
    }
    let e = if safetensors {
        pick(file.entries, args.name.as_deref()).with_context(|| files::reading(inp))?
    } else {
        let Some(e) = file.entries.into_iter().next() else {
            bail!("{}: no matrix in the file", inp.display());
        };
        e
    };
    let half = match e.dtype.as_str() {
        "float16" | "F16" => Some(Dtype::F16),
        "BF16" => Some(Dtype::Bf16),
        _ => None,
    };
    let matrix = match e.data {
        Data::Sparse(m) => Matrix::Sparse(m),
        Data::Dense(t) => dense(inp, &t)?,
    };
    Ok(Input {
        matrix,
        exact_in_f32: e.exact_in_f32,
        half,
        name: safetensors.then_some(e.name),
    })
}

/// The sparse matrix of a .safetensors file that convert reads: `name`, else the only one.
fn pick<T: Scalar>(entries: Vec<Entry<T, Idx>>, name: Option<&str>) -> Result<Entry<T, Idx>> {
    let (mut sparse, dense): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|e| matches!(e.data, Data::Sparse(_)));
    let list = |v: &[Entry<T, Idx>]| {
        let shown: Vec<&str> = v.iter().take(8).map(|e| e.name.as_str()).collect();
        format!(
            "{}{}",
            shown.join(", "),
            if v.len() > 8 { ", …" } else { "" }
        )
    };
    if let Some(n) = name {
        if let Some(i) = sparse.iter().position(|e| e.name == n) {
            return Ok(sparse.swap_remove(i));
        }
        if dense.iter().any(|e| e.name == n) {
            bail!(
                "'{n}' is a dense tensor; convert reads sparse matrices from .safetensors (as \
                 sparsekit writes them), not dense checkpoint tensors"
            );
        }
        if sparse.is_empty() {
            bail!("no sparse matrix named '{n}': the file holds no sparse matrix");
        }
        bail!(
            "no sparse matrix named '{n}' (the file's sparse matrices: {})",
            list(&sparse)
        );
    }
    match sparse.len() {
        1 => Ok(sparse.remove(0)),
        0 => bail!(
            "no sparse matrix in the file ({} dense tensors): convert reads sparse matrices \
             stored as sparsekit writes them (NAME.data, NAME.indices, … with sparsekit \
             metadata), not dense checkpoints (see `sparsekit inspect`, `sparsekit prune`)",
            dense.len()
        ),
        n => bail!(
            "the file holds {n} sparse matrices ({}); pick one with --name",
            list(&sparse)
        ),
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

/// Values that a conversion to a narrower type turned into ±inf or 0.
#[derive(Debug, Default, PartialEq, Eq)]
struct Lost {
    /// Finite non-zero input values.
    nonzero: usize,
    overflow: usize,
    underflow: usize,
}

impl Lost {
    fn count<S: Scalar, U: Scalar>(from: &[S], to: &[U]) -> Lost {
        let mut lost = Lost::default();
        for (a, b) in from.iter().zip(to) {
            let a = a.to_f64();
            if a == 0.0 || !a.is_finite() {
                continue;
            }
            lost.nonzero += 1;
            let b = b.to_f64();
            if b.is_infinite() {
                lost.overflow += 1;
            } else if b == 0.0 {
                lost.underflow += 1;
            }
        }
        lost
    }

    /// The warning line, when something was lost.
    fn warning(&self, dtype: &str) -> Option<String> {
        (self.overflow + self.underflow > 0).then(|| {
            format!(
                "warning: converting to {dtype}: {} of {} non-zero values overflowed to ±inf, \
                 {} underflowed to 0 (kept as explicit zeros)",
                self.overflow, self.nonzero, self.underflow
            )
        })
    }
}

/// Shapes `input` for the output kind in the input's precision `S`, rounds it once to `T`
/// (warning about overflow and underflow), and writes it.
fn finish<S: Scalar, T: Scalar>(args: &Args, input: Input<S>, okind: FileKind) -> Result<()> {
    let out = &args.output;
    let name = args
        .name
        .clone()
        .or(input.name)
        .unwrap_or_else(|| DEFAULT_NAME.to_string());
    let m = prepare(args, input.matrix, okind).with_context(|| files::writing(out))?;
    let narrowed = m.cast::<T>();
    if let Some(w) = Lost::count(m.values(), narrowed.values()).warning(T::NAME) {
        eprintln!("{w}");
    }
    drop(m);
    write_as(args, narrowed, okind, &name).with_context(|| files::writing(out))
}

/// The matrix in the shape the output stores: dense for .npy, else sparse in the requested
/// format (so that duplicates are summed and blocks formed before any rounding).
fn prepare<T: Scalar>(args: &Args, m: Matrix<T>, okind: FileKind) -> Result<Matrix<T>> {
    Ok(match okind {
        FileKind::Npy => match m {
            Matrix::Sparse(m) => {
                let (nrows, ncols) = m.shape();
                nrows.checked_mul(ncols).with_context(|| {
                    format!("dense {nrows}x{ncols} array does not fit in memory")
                })?;
                Matrix::Dense {
                    values: m.to_dense(),
                    nrows,
                    ncols,
                }
            }
            m => m,
        },
        FileKind::Mtx => Matrix::Sparse(to_sparse(m, None)?),
        FileKind::Npz | FileKind::Safetensors => {
            Matrix::Sparse(to_sparse(m, Some((args.format, args.block)))?)
        }
    })
}

fn write_as<T: Scalar>(args: &Args, m: Matrix<T>, okind: FileKind, name: &str) -> Result<()> {
    let out = &args.output;
    match okind {
        FileKind::Npy => {
            let (nrows, ncols) = m.shape();
            let values = match m {
                Matrix::Dense { values, .. } => values,
                Matrix::Sparse(m) => m.to_dense(),
            };
            npy::write_npy_dense(out, &values, nrows, ncols)?;
        }
        FileKind::Mtx => {
            let m = to_sparse(m, None)?;
            let opts = mtx::MtxOptions::default();
            if T::NAME == "f32" || T::NAME == "f64" {
                mtx::write_path(out, &m, &opts)?;
            } else {
                // Half values as their exact decimals (f64's shortest form; f64 holds them).
                mtx::write_path(out, &m.cast::<f64>(), &opts)?;
            }
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
        FileKind::Safetensors => {
            let m = to_sparse(m, Some((args.format, args.block)))?;
            let bytes = st::write_sparse(&[(name, &m)])?;
            std::fs::write(out, bytes)?;
        }
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
