//! Matrix Market files (`.mtx`), as written by `scipy.io.mmwrite`, MATLAB/Octave and the
//! SuiteSparse Matrix Collection.
//!
//! Read: `coordinate` files with field `real` (or `double`), `integer` or `pattern` and symmetry
//! `general`, `symmetric`, `skew-symmetric` (and `hermitian`, which for real values is
//! `symmetric`), plus dense `array` files (`real`/`integer`; zeros are not stored). Indices go
//! from 1-based to 0-based; symmetric and skew-symmetric files are expanded to both triangles;
//! `pattern` entries get the value 1. Duplicate entries are kept in the returned [`Coo`] (they are
//! summed by every conversion, as SciPy does). `complex` files are [`FormatError::Unsupported`].
//!
//! Errors carry the 1-based line number ([`FormatError::Parse`]): `mtx line 7: row 12 > nrows 10`.
//! The declared entry count is checked against the entries present (both ways) and is never
//! trusted for preallocation beyond a fixed bound.
//!
//! Write: `coordinate` files, `real` / `integer` / `pattern`, `general` / `symmetric` /
//! `skew-symmetric` (only the lower triangle is written; the matrix must be (skew-)symmetric).
//! Real values are written with the shortest representation that reads back to the same value
//! (f32, f16 and bf16 matrices with f32's shortest form), so files round-trip exactly.
//!
//! ```
//! use sparsekit_formats::{io::mtx, Coo};
//! let text = "%%MatrixMarket matrix coordinate real symmetric\n% a comment\n3 3 2\n1 1 4.5\n3 1 0.1\n";
//! let a: Coo<f64> = mtx::read(text.as_bytes())?;
//! assert_eq!(a.to_dense(), vec![4.5, 0.0, 0.1, 0.0, 0.0, 0.0, 0.1, 0.0, 0.0]);
//!
//! let mut out = Vec::new();
//! let opts = mtx::MtxOptions { field: mtx::MtxField::Real, symmetry: mtx::MtxSymmetry::Symmetric };
//! mtx::write(&mut out, &a, &opts)?;
//! let back: Coo<f64> = mtx::read(&out[..])?;
//! assert_eq!(back.to_csr(), a.to_csr());
//!
//! let err = mtx::read::<f32, u32>("%%MatrixMarket matrix coordinate real general\n2 2 1\n3 1 1.0\n".as_bytes())
//!     .unwrap_err();
//! assert_eq!(err.to_string(), "mtx line 3: row 3 > nrows 2");
//! # Ok::<(), sparsekit_formats::FormatError>(())
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use super::AsCoo;
use crate::error::{FormatError, Result};
use crate::{Coo, Scalar, SpIndex};

const KIND: &str = "mtx";
/// Entries reserved up front at most, whatever the size line declares.
const PREALLOC_ENTRIES: usize = 1 << 16;

/// `coordinate` (sparse) or `array` (dense, column-major).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MtxFormat {
    /// `coordinate`: one `row col [value]` line per stored entry (1-based indices).
    Coordinate,
    /// `array`: every value of the (stored triangle of the) matrix, column-major.
    Array,
}

/// The field of a Matrix Market file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MtxField {
    /// Floating-point values.
    #[default]
    Real,
    /// Integer values.
    Integer,
    /// Structure only (every entry is 1); `coordinate` files only.
    Pattern,
}

/// The symmetry of a Matrix Market file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MtxSymmetry {
    /// No symmetry: every entry is stored.
    #[default]
    General,
    /// Only the lower triangle (with the diagonal) is stored; `a[j][i] = a[i][j]`.
    Symmetric,
    /// Only the strictly lower triangle is stored; `a[j][i] = -a[i][j]`, zero diagonal.
    SkewSymmetric,
}

impl MtxField {
    fn name(self) -> &'static str {
        match self {
            MtxField::Real => "real",
            MtxField::Integer => "integer",
            MtxField::Pattern => "pattern",
        }
    }
}

impl MtxSymmetry {
    fn name(self) -> &'static str {
        match self {
            MtxSymmetry::General => "general",
            MtxSymmetry::Symmetric => "symmetric",
            MtxSymmetry::SkewSymmetric => "skew-symmetric",
        }
    }
}

/// The banner and size line of a Matrix Market file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MtxHeader {
    /// `coordinate` or `array`.
    pub format: MtxFormat,
    /// Value field (real, integer or pattern).
    pub field: MtxField,
    /// Symmetry (general, symmetric or skew-symmetric).
    pub symmetry: MtxSymmetry,
    /// Number of rows the size line declares.
    pub nrows: usize,
    /// Number of columns the size line declares.
    pub ncols: usize,
    /// Entries the size line declares (for `array`: the number of values stored, e.g.
    /// `n(n+1)/2` for a symmetric one). Symmetric files expand to up to twice as many.
    pub nnz: usize,
}

/// Options of [`write()`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MtxOptions {
    /// Field to write: `Real` (shortest round-trip text), `Integer` (fails on a non-integer
    /// value) or `Pattern` (indices only).
    pub field: MtxField,
    /// Symmetry to write: anything but `General` writes only the lower triangle (strictly lower
    /// for skew-symmetric) and fails unless the matrix is square and has that symmetry.
    pub symmetry: MtxSymmetry,
}

// ---------------------------------------------------------------------------------------------
// reading

struct Lines<R> {
    r: R,
    line: usize,
    buf: String,
}

impl<R: BufRead> Lines<R> {
    /// Advances to the next line that is neither blank nor a `%` comment; `false` at end of
    /// file. The line is then [`Lines::text`].
    fn next_data(&mut self) -> Result<bool> {
        loop {
            self.buf.clear();
            let n = self.r.read_line(&mut self.buf).map_err(|e| {
                if e.kind() == std::io::ErrorKind::InvalidData {
                    FormatError::parse(KIND, self.line + 1, "not valid UTF-8 text")
                } else {
                    FormatError::Io(e)
                }
            })?;
            if n == 0 {
                return Ok(false);
            }
            self.line += 1;
            let t = self.buf.trim();
            if !t.is_empty() && !t.starts_with('%') {
                return Ok(true);
            }
        }
    }
    fn text(&self) -> &str {
        self.buf.trim()
    }
    fn err(&self, message: impl Into<String>) -> FormatError {
        FormatError::parse(KIND, self.line, message)
    }
}

fn parse_usize(tok: Option<&str>, what: &str, line: usize) -> Result<usize> {
    let t = tok.ok_or_else(|| FormatError::parse(KIND, line, format!("missing {what}")))?;
    t.parse::<usize>().map_err(|_| {
        FormatError::parse(
            KIND,
            line,
            format!("{what} '{t}' is not a non-negative integer"),
        )
    })
}

fn read_header_lines<R: BufRead>(lines: &mut Lines<R>) -> Result<MtxHeader> {
    lines.buf.clear();
    let n = lines.r.read_line(&mut lines.buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            FormatError::parse(KIND, 1, "not valid UTF-8 text")
        } else {
            FormatError::Io(e)
        }
    })?;
    lines.line = 1;
    if n == 0 {
        return Err(lines.err("empty file (expected a %%MatrixMarket banner)"));
    }
    let banner = lines.buf.trim().to_ascii_lowercase();
    let mut tok = banner.split_whitespace();
    if tok.next() != Some("%%matrixmarket") {
        return Err(
            lines.err("not a Matrix Market file: first line must start with %%MatrixMarket")
        );
    }
    let object = tok.next().unwrap_or("");
    if object != "matrix" {
        return Err(FormatError::unsupported(
            KIND,
            format!("line 1: object '{object}' (only 'matrix')"),
        ));
    }
    let format = match tok.next() {
        Some("coordinate") => MtxFormat::Coordinate,
        Some("array") => MtxFormat::Array,
        other => {
            return Err(lines.err(format!(
                "format '{}' (expected coordinate or array)",
                other.unwrap_or("")
            )))
        }
    };
    let field = match tok.next() {
        Some("real") | Some("double") => MtxField::Real,
        Some("integer") => MtxField::Integer,
        Some("pattern") if format == MtxFormat::Coordinate => MtxField::Pattern,
        Some("complex") => return Err(FormatError::unsupported(KIND, "line 1: complex values")),
        other => {
            return Err(lines.err(format!(
                "field '{}' (expected real, integer or pattern)",
                other.unwrap_or("")
            )))
        }
    };
    let symmetry = match tok.next() {
        Some("general") => MtxSymmetry::General,
        // For real values hermitian is symmetric.
        Some("symmetric") | Some("hermitian") => MtxSymmetry::Symmetric,
        Some("skew-symmetric") => MtxSymmetry::SkewSymmetric,
        other => {
            return Err(lines.err(format!(
                "symmetry '{}' (expected general, symmetric or skew-symmetric)",
                other.unwrap_or("")
            )))
        }
    };
    if !lines.next_data()? {
        return Err(FormatError::parse(
            KIND,
            lines.line + 1,
            "missing size line",
        ));
    }
    let size = lines.text().to_owned();
    let line = lines.line;
    let mut t = size.split_whitespace();
    let nrows = parse_usize(t.next(), "nrows", line)?;
    let ncols = parse_usize(t.next(), "ncols", line)?;
    let overflow = || FormatError::ShapeOverflow(format!("mtx size {nrows} \u{d7} {ncols}"));
    let nnz = match format {
        MtxFormat::Coordinate => parse_usize(t.next(), "entry count", line)?,
        MtxFormat::Array => match symmetry {
            MtxSymmetry::General => nrows.checked_mul(ncols).ok_or_else(overflow)?,
            MtxSymmetry::Symmetric => {
                nrows
                    .checked_mul(nrows.saturating_add(1))
                    .ok_or_else(overflow)?
                    / 2
            }
            MtxSymmetry::SkewSymmetric => {
                nrows
                    .checked_mul(nrows.saturating_sub(1))
                    .ok_or_else(overflow)?
                    / 2
            }
        },
    };
    if let Some(extra) = t.next() {
        return Err(FormatError::parse(
            KIND,
            line,
            format!("unexpected '{extra}' on the size line"),
        ));
    }
    if symmetry != MtxSymmetry::General && nrows != ncols {
        return Err(FormatError::parse(
            KIND,
            line,
            format!(
                "{} matrix must be square, is {nrows} \u{d7} {ncols}",
                symmetry.name()
            ),
        ));
    }
    Ok(MtxHeader {
        format,
        field,
        symmetry,
        nrows,
        ncols,
        nnz,
    })
}

/// Parses one value token into `T`: f64 matrices parse as f64, the others as f32 (so that the
/// shortest f32 form a writer produced maps back to exactly the same value).
fn parse_value<T: Scalar>(tok: &str, field: MtxField) -> Option<T> {
    if field == MtxField::Integer {
        if let Ok(i) = tok.parse::<i64>() {
            return Some(T::from_f64(i as f64));
        }
    }
    let parse = |s: &str| {
        if T::NAME == "f64" {
            s.parse::<f64>().ok().map(T::from_f64)
        } else {
            s.parse::<f32>().ok().map(T::from_f32)
        }
    };
    // Fortran writers use `D` exponents.
    parse(tok).or_else(|| parse(&tok.replace(['d', 'D'], "e")))
}

fn neg<T: Scalar>(v: T) -> T {
    T::from_f64(-v.to_f64())
}

/// Reads the banner and size line only.
pub fn info(r: impl BufRead) -> Result<MtxHeader> {
    let mut lines = Lines {
        r,
        line: 0,
        buf: String::new(),
    };
    read_header_lines(&mut lines)
}

/// [`info()`] of a file.
pub fn info_path(path: impl AsRef<Path>) -> Result<MtxHeader> {
    info(BufReader::new(File::open(path)?))
}

/// Reads a Matrix Market file into triplets (see the module docs).
pub fn read<T: Scalar, I: SpIndex>(r: impl BufRead) -> Result<Coo<T, I>> {
    let mut lines = Lines {
        r,
        line: 0,
        buf: String::new(),
    };
    let h = read_header_lines(&mut lines)?;
    crate::compressed::check_dims::<I>(h.nrows, h.ncols, "mtx shape")?;
    let mirror = h.symmetry != MtxSymmetry::General;
    let cap = h.nnz.min(PREALLOC_ENTRIES) * if mirror { 2 } else { 1 };
    let mut rows: Vec<I> = Vec::with_capacity(cap);
    let mut cols: Vec<I> = Vec::with_capacity(cap);
    let mut vals: Vec<T> = Vec::with_capacity(cap);
    let mut push = |i: usize, j: usize, v: T| {
        // i < nrows, j < ncols and both fit in I (check_dims above).
        rows.push(I::from_usize(i));
        cols.push(I::from_usize(j));
        vals.push(v);
        if mirror && i != j {
            rows.push(I::from_usize(j));
            cols.push(I::from_usize(i));
            vals.push(if h.symmetry == MtxSymmetry::SkewSymmetric {
                neg(v)
            } else {
                v
            });
        }
    };
    let ended = |k: usize, line: usize| {
        FormatError::parse(
            KIND,
            line + 1,
            format!("file ends after {k} of the {} declared entries", h.nnz),
        )
    };
    match h.format {
        MtxFormat::Coordinate => {
            for k in 0..h.nnz {
                if !lines.next_data()? {
                    return Err(ended(k, lines.line));
                }
                let l = lines.text();
                let mut t = l.split_whitespace();
                let (a, b, c) = (t.next(), t.next(), t.next());
                let extra = t.next();
                let line = lines.line;
                let i = parse_usize(a, "row", line)?;
                let j = parse_usize(b, "column", line)?;
                if i == 0 || j == 0 {
                    return Err(lines.err(format!(
                        "{} index 0 (Matrix Market indices start at 1)",
                        if i == 0 { "row" } else { "column" }
                    )));
                }
                if i > h.nrows {
                    return Err(lines.err(format!("row {i} > nrows {}", h.nrows)));
                }
                if j > h.ncols {
                    return Err(lines.err(format!("column {j} > ncols {}", h.ncols)));
                }
                let v = if h.field == MtxField::Pattern {
                    if let Some(x) = c {
                        return Err(lines.err(format!("unexpected value '{x}' in a pattern file")));
                    }
                    T::ONE
                } else {
                    let tok = c.ok_or_else(|| lines.err("missing value"))?;
                    if let Some(x) = extra {
                        return Err(lines.err(format!("unexpected '{x}' after the value")));
                    }
                    parse_value::<T>(tok, h.field)
                        .ok_or_else(|| lines.err(format!("value '{tok}' is not a number")))?
                };
                push(i - 1, j - 1, v);
            }
        }
        MtxFormat::Array => {
            // Column-major; (skew-)symmetric files store the lower triangle of each column.
            let (mut i, mut j) = (
                if h.symmetry == MtxSymmetry::SkewSymmetric {
                    1
                } else {
                    0
                },
                0,
            );
            for k in 0..h.nnz {
                if !lines.next_data()? {
                    return Err(ended(k, lines.line));
                }
                let l = lines.text();
                let tok = l.split_whitespace().next().unwrap_or("");
                let v = parse_value::<T>(tok, h.field)
                    .ok_or_else(|| lines.err(format!("value '{tok}' is not a number")))?;
                if !v.is_zero() {
                    push(i, j, v);
                }
                i += 1;
                if i == h.nrows {
                    j += 1;
                    i = match h.symmetry {
                        MtxSymmetry::General => 0,
                        MtxSymmetry::Symmetric => j,
                        MtxSymmetry::SkewSymmetric => j + 1,
                    };
                }
            }
        }
    }
    if lines.next_data()? {
        return Err(lines.err(format!(
            "more entries than the {} declared on the size line",
            h.nnz
        )));
    }
    Coo::try_new(h.nrows, h.ncols, rows, cols, vals)
}

/// Reads a Matrix Market file; see [`read()`].
pub fn read_path<T: Scalar, I: SpIndex>(path: impl AsRef<Path>) -> Result<Coo<T, I>> {
    read(BufReader::new(File::open(path)?))
}

// ---------------------------------------------------------------------------------------------
// writing

/// Shortest text that parses back to exactly `x` (f32 precision or f64 precision).
fn fmt_float(x: f64, as_f32: bool) -> String {
    let a = x.abs();
    let plain = a == 0.0 || !a.is_finite() || (1e-5..1e16).contains(&a);
    match (as_f32, plain) {
        (true, true) => format!("{}", x as f32),
        (true, false) => format!("{:e}", x as f32),
        (false, true) => format!("{x}"),
        (false, false) => format!("{x:e}"),
    }
}

/// Writes a `coordinate` Matrix Market file (see the module docs). `m` is a `&Coo`, `&Csr`,
/// `&Csc`, `&Bsr` or `&SparseMatrix`; entries are written in row-major order, duplicates summed.
pub fn write<T: Scalar, I: SpIndex, M: AsCoo<T, I> + ?Sized>(
    w: impl Write,
    m: &M,
    opts: &MtxOptions,
) -> Result<()> {
    let coo = m.as_coo();
    let (nrows, ncols) = coo.shape();
    let csr = coo.to_csr();
    let keep: Box<dyn Fn(usize, usize) -> bool> = match opts.symmetry {
        MtxSymmetry::General => Box::new(|_, _| true),
        sym => {
            if nrows != ncols {
                return Err(FormatError::InvalidArgument(format!(
                    "a {} matrix must be square, this one is {nrows} \u{d7} {ncols}",
                    sym.name()
                )));
            }
            let csc = coo.to_csc();
            let skew = sym == MtxSymmetry::SkewSymmetric;
            // A is symmetric iff its CSR and CSC arrays coincide (CSC of A = CSR of A^T).
            let same_pattern = csr.row_ptr() == csc.col_ptr() && csr.col_idx() == csc.row_idx();
            let mismatch = if !same_pattern {
                Some("its sparsity pattern is not symmetric".to_string())
            } else {
                let mut bad = None;
                'rows: for i in 0..nrows {
                    let (cj, cv) = csr.row(i);
                    let (_, tv) = csc.col(i);
                    for ((&j, &a), &b) in cj.iter().zip(cv).zip(tv) {
                        let j = j.index();
                        let ok = if skew {
                            if i == j {
                                a.is_zero()
                            } else {
                                a.to_f64() == -b.to_f64()
                            }
                        } else {
                            a == b
                        };
                        if !ok {
                            bad = Some(format!("a[{i}][{j}] = {:?} but a[{j}][{i}] = {:?}", a, b));
                            break 'rows;
                        }
                    }
                }
                bad
            };
            if let Some(why) = mismatch {
                return Err(FormatError::InvalidArgument(format!(
                    "matrix is not {}: {why}",
                    sym.name()
                )));
            }
            if skew {
                Box::new(|i, j| i > j)
            } else {
                Box::new(|i, j| i >= j)
            }
        }
    };
    let mut count = 0usize;
    for i in 0..nrows {
        count += csr.row(i).0.iter().filter(|j| keep(i, j.index())).count();
    }
    let mut w = BufWriter::new(w);
    writeln!(
        w,
        "%%MatrixMarket matrix coordinate {} {}",
        opts.field.name(),
        opts.symmetry.name()
    )?;
    writeln!(w, "% written by sparsekit")?;
    writeln!(w, "{nrows} {ncols} {count}")?;
    let as_f32 = T::NAME != "f64";
    for i in 0..nrows {
        let (cj, cv) = csr.row(i);
        for (&j, &v) in cj.iter().zip(cv) {
            let j = j.index();
            if !keep(i, j) {
                continue;
            }
            match opts.field {
                MtxField::Pattern => writeln!(w, "{} {}", i + 1, j + 1)?,
                MtxField::Real => {
                    writeln!(w, "{} {} {}", i + 1, j + 1, fmt_float(v.to_f64(), as_f32))?
                }
                MtxField::Integer => {
                    let x = v.to_f64();
                    if x.fract() != 0.0 || !x.is_finite() || x.abs() >= 9.2e18 {
                        return Err(FormatError::InvalidArgument(format!(
                            "a[{i}][{j}] = {x} is not an integer; write with MtxField::Real"
                        )));
                    }
                    writeln!(w, "{} {} {}", i + 1, j + 1, x as i64)?
                }
            }
        }
    }
    w.flush()?;
    Ok(())
}

/// Writes a Matrix Market file; see [`write()`].
pub fn write_path<T: Scalar, I: SpIndex, M: AsCoo<T, I> + ?Sized>(
    path: impl AsRef<Path>,
    m: &M,
    opts: &MtxOptions,
) -> Result<()> {
    write(File::create(path)?, m, opts)
}
