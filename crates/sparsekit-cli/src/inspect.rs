//! `sparsekit inspect FILE [--json]`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use sparsekit_formats::io::{mtx, npz, safetensors, SparseMatrix};
use sparsekit_formats::{dense::Select, Csr};

use crate::files::{self, Idx, Kind, Loaded};
use crate::structure::{analyze, Structure};

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
    pub structure: Option<Structure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub fn run(args: &Args) -> Result<()> {
    let path = &args.file;
    let kind = Kind::of(path)?;
    let report = inspect(path, kind).with_context(|| files::reading(path))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
    }
    Ok(())
}

pub fn inspect(path: &Path, kind: Kind) -> Result<Report> {
    let matrices = match kind {
        Kind::Npz => {
            let info = npz::info_path(path)?;
            let m = npz::read_path::<f64, Idx>(path)?;
            vec![sparse_entry(
                "matrix".into(),
                &m,
                files::dtype_name(&info.value_dtype),
                Some(files::dtype_name(&info.index_dtype)),
            )?]
        }
        Kind::Mtx => {
            let h = mtx::info_path(path)?;
            let coo = mtx::read_path::<f64, Idx>(path)?;
            let dtype = format!(
                "{} {}",
                format!("{:?}", h.field).to_lowercase(),
                format!("{:?}", h.symmetry).to_lowercase()
            );
            let mut e = sparse_entry("matrix".into(), &SparseMatrix::Coo(coo), dtype, None)?;
            if h.format == mtx::MtxFormat::Array {
                e.format = "array".into();
            }
            vec![e]
        }
        Kind::Npy => {
            let h = files::npy_header(path)?;
            let Loaded::Dense {
                values,
                nrows,
                ncols,
            } = files::load::<f64>(path, kind)?
            else {
                unreachable!("npy is dense")
            };
            let csr = Csr::<f64, Idx>::from_dense(&values, nrows, ncols, Select::NonZero)?;
            vec![Entry {
                name: "array".into(),
                format: "dense".into(),
                shape: h.shape,
                matrix_shape: [nrows, ncols],
                dtype: h.dtype.name(),
                index_dtype: None,
                block_shape: None,
                stored: values.len(),
                structure: Some(analyze(csr.pattern())),
                error: None,
            }]
        }
        Kind::Safetensors => safetensors_entries(path)?,
    };
    Ok(Report {
        file: path.display().to_string(),
        kind: kind.name(),
        matrices,
    })
}

fn sparse_entry(
    name: String,
    m: &SparseMatrix<f64, Idx>,
    dtype: String,
    index_dtype: Option<String>,
) -> Result<Entry> {
    let (r, c) = m.shape();
    let csr = m.to_csr()?;
    Ok(Entry {
        name,
        format: m.format_name().into(),
        shape: vec![r, c],
        matrix_shape: [r, c],
        dtype,
        index_dtype,
        block_shape: match m {
            SparseMatrix::Bsr(b) => Some([b.block_shape().0, b.block_shape().1]),
            _ => None,
        },
        stored: m.nnz(),
        structure: Some(analyze(csr.pattern())),
        error: None,
    })
}

/// A tensor of any rank as a matrix: `[] → 1×1`, `[n] → 1×n`, `[a, …, z] → (a·…) × z`.
fn as_matrix(shape: &[usize]) -> Option<(usize, usize)> {
    match shape {
        [] => Some((1, 1)),
        [n] => Some((1, *n)),
        [lead @ .., last] => {
            let rows = lead.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?;
            rows.checked_mul(*last)?;
            Some((rows, *last))
        }
    }
}

fn safetensors_entries(path: &Path) -> Result<Vec<Entry>> {
    let bytes = std::fs::read(path)?;
    let infos = safetensors::read_dense_info(&bytes)?;
    let sparse = safetensors::read_sparse::<f64, Idx>(&bytes)?;
    let dtype_of = |t: String| infos.iter().find(|i| i.name == t).map(|i| i.dtype.clone());
    let mut out = Vec::new();
    for (name, m) in &sparse {
        let dtype = dtype_of(format!("{name}.data")).unwrap_or_else(|| "?".into());
        let index = dtype_of(format!("{name}.indices")).or_else(|| dtype_of(format!("{name}.row")));
        out.push(sparse_entry(name.clone(), m, dtype, index)?);
    }
    // The arrays of a stored sparse matrix (`w.data`, `w.indptr`, …) are reported with it.
    const PARTS: [&str; 7] = [
        "indptr",
        "indices",
        "row",
        "col",
        "data",
        "shape",
        "blocksize",
    ];
    let is_component = |t: &str| {
        t.rsplit_once('.').is_some_and(|(base, part)| {
            PARTS.contains(&part) && sparse.iter().any(|(n, _)| n == base)
        })
    };
    for info in infos.iter().filter(|i| !is_component(&i.name)) {
        let (nrows, ncols) = as_matrix(&info.shape).unwrap_or((0, 0));
        let mut e = Entry {
            name: info.name.clone(),
            format: "dense".into(),
            shape: info.shape.clone(),
            matrix_shape: [nrows, ncols],
            dtype: info.dtype.clone(),
            index_dtype: None,
            block_shape: None,
            stored: info.shape.iter().product(),
            structure: None,
            error: None,
        };
        let analysed = safetensors::read_dense_f32(&bytes, &info.name)
            .map_err(anyhow::Error::from)
            .and_then(|(_, values)| {
                Ok(Csr::<f32, Idx>::from_dense(
                    &values,
                    nrows,
                    ncols,
                    Select::NonZero,
                )?)
            });
        match analysed {
            Ok(csr) => e.structure = Some(analyze(csr.pattern())),
            Err(err) => e.error = Some(format!("{err:#}")),
        }
        out.push(e);
    }
    Ok(out)
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
        assert_eq!(as_matrix(&[2, 3, 4]), Some((6, 4)));
        assert_eq!(as_matrix(&[5]), Some((1, 5)));
        assert_eq!(as_matrix(&[]), Some((1, 1)));
    }
}
