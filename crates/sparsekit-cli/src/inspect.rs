//! `sparsekit inspect FILE [--json]`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use sparsekit_formats::io::{self, read_any, Data, DenseTensor, SparseMatrix};
use sparsekit_formats::{dense::Select, Csr, Scalar};

use crate::files::{self, Idx};
use crate::structure::{analyze, PatternReport};

#[derive(clap::Args)]
pub struct Args {
    /// A .npz, .mtx, .safetensors or dense .npy file.
    pub file: PathBuf,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The JSON document `inspect --json` prints.
#[derive(Debug, Serialize)]
pub struct Report {
    pub file: String,
    /// `"npz"`, `"mtx"`, `"safetensors"` or `"npy"`.
    pub kind: &'static str,
    pub matrices: Vec<Entry>,
}

/// One matrix or tensor.
#[derive(Debug, Serialize)]
pub struct Entry {
    pub name: String,
    /// `"csr"`, `"csc"`, `"coo"`, `"bsr"` or `"dense"`.
    pub format: String,
    /// Shape as stored (a tensor may have any rank).
    pub shape: Vec<usize>,
    /// Shape analysed: `[rows, cols]` (a tensor of rank ≠ 2 is seen as `prod(leading) × last`).
    pub matrix_shape: [usize; 2],
    pub dtype: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_dtype: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_shape: Option<[usize; 2]>,
    /// Values the file stores (COO duplicates and zeros inside BSR blocks included; for a dense
    /// tensor all its elements).
    pub stored: usize,
    /// Structure of the canonical pattern (exact non-zeros for dense data). `None` when the
    /// entry could not be analysed (see `error`).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub structure: Option<PatternReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub fn run(args: &Args) -> Result<()> {
    let path = &args.file;
    let report = inspect(path).with_context(|| files::reading(path))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
    }
    Ok(())
}

/// Reads `path` (any supported file) and analyses every matrix and tensor in it.
pub fn inspect(path: &Path) -> Result<Report> {
    let file = read_any::<f64, Idx>(path)?;
    let matrices = file.entries.into_iter().map(entry).collect::<Result<_>>()?;
    Ok(Report {
        file: path.display().to_string(),
        kind: file.kind.name(),
        matrices,
    })
}

fn entry(e: io::Entry<f64, Idx>) -> Result<Entry> {
    let mut out = Entry {
        name: e.name,
        format: e.format.into(),
        shape: Vec::new(),
        matrix_shape: [0, 0],
        dtype: e.dtype,
        index_dtype: e.index_dtype,
        block_shape: None,
        stored: 0,
        structure: None,
        error: None,
    };
    match e.data {
        Data::Sparse(m) => {
            let (r, c) = m.shape();
            (out.shape, out.matrix_shape, out.stored) = (vec![r, c], [r, c], m.nnz());
            if let SparseMatrix::Bsr(b) = &m {
                out.block_shape = Some([b.block_shape().0, b.block_shape().1]);
            }
            out.structure = Some(analyze(m.to_csr()?.pattern()));
        }
        Data::Dense(t) => {
            let (r, c) = t.matrix_shape();
            (out.shape, out.matrix_shape, out.stored) = (t.shape().to_vec(), [r, c], t.len());
            // Only the non-zero pattern matters: f32 is exact unless the tensor holds f64.
            let analysed = if e.exact_in_f32 {
                dense_pattern::<f32>(&t, r, c)
            } else {
                dense_pattern::<f64>(&t, r, c)
            };
            match analysed {
                Ok(s) => out.structure = Some(s),
                Err(err) => out.error = Some(format!("{err:#}")),
            }
        }
    }
    Ok(out)
}

/// The structure of a dense tensor's exact non-zeros.
fn dense_pattern<T: Scalar>(t: &DenseTensor, r: usize, c: usize) -> Result<PatternReport> {
    let csr = Csr::<T, Idx>::from_dense(&t.to_vec::<T>()?, r, c, Select::NonZero)?;
    Ok(analyze(csr.pattern()))
}

// ---------------------------------------------------------------------------------------------
// table output

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn percent(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

/// The aligned text table `inspect` prints by default.
pub fn table(report: &Report) -> String {
    let header = [
        "NAME",
        "FORMAT",
        "SHAPE",
        "DTYPE",
        "NNZ",
        "SPARSITY",
        "EMPTY ROWS",
        "2:4",
        "1:4",
        "4x4 BLOCKS",
        "BSR 4x4",
    ];
    // Right-aligned numeric columns.
    let right = [
        false, false, false, false, true, true, true, false, false, true, false,
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut notes = Vec::new();
    for e in &report.matrices {
        let shape = if e.shape.is_empty() {
            "scalar".to_string()
        } else {
            e.shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("x")
        };
        let format = match e.block_shape {
            Some([r, c]) => format!("{} {r}x{c}", e.format),
            None => e.format.clone(),
        };
        let dtype = match &e.index_dtype {
            Some(i) => format!("{}/{i}", e.dtype),
            None => e.dtype.clone(),
        };
        let mut row = vec![e.name.clone(), format, shape, dtype];
        match &e.structure {
            Some(s) => {
                let b = &s.blocks;
                row.extend([
                    thousands(s.nnz),
                    percent(s.sparsity),
                    thousands(s.empty_rows),
                    yes_no(s.nm_ok("2:4")).into(),
                    yes_no(s.nm_ok("1:4")).into(),
                    format!(
                        "{}/{} ({})",
                        thousands(b.nonempty),
                        thousands(b.total),
                        percent(b.nonempty_fraction)
                    ),
                    if !b.divisible {
                        "no (shape)".into()
                    } else {
                        format!("{} (fill {:.2})", yes_no(b.bsr_compact), b.fill)
                    },
                ]);
            }
            None => {
                row.extend(std::iter::repeat_n("-".to_string(), 7));
                if let Some(err) = &e.error {
                    notes.push(format!("{}: not analysed: {err}", e.name));
                }
            }
        }
        rows.push(row);
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let fmt_row = |cells: &[String]| {
        let mut line = String::new();
        for (k, cell) in cells.iter().enumerate() {
            if k > 0 {
                line.push_str("  ");
            }
            let pad = widths[k] - cell.chars().count();
            if right[k] {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                if k + 1 < cells.len() {
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
        }
        line.push('\n');
        line
    };
    let mut out = format!(
        "{} ({}, {} matri{})\n",
        report.file,
        report.kind,
        report.matrices.len(),
        if report.matrices.len() == 1 {
            "x"
        } else {
            "ces"
        }
    );
    out += &fmt_row(&header.map(String::from));
    for row in &rows {
        out += &fmt_row(row);
    }
    for n in notes {
        out += &format!("note: {n}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }
}
