//! SciPy `.npz` sparse archives (skeleton).
use std::io::{Read, Seek, Write};
use std::path::Path;

use super::SparseMatrix;
use crate::error::Result;
use crate::{Scalar, SpIndex};

/// Summary of an `.npz` sparse archive, read without loading the arrays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpzInfo {
    pub format: String,
    pub shape: (usize, usize),
    pub nnz: usize,
    pub value_dtype: String,
    pub index_dtype: String,
    pub block_shape: Option<(usize, usize)>,
}

/// Width of the index arrays written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IndexWidth {
    #[default]
    Auto,
    I32,
    I64,
}

/// Options of [`write`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NpzOptions {
    pub index: IndexWidth,
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

pub fn read<T: Scalar, I: SpIndex>(r: impl Read + Seek) -> Result<SparseMatrix<T, I>> {
    let _ = r;
    todo!()
}
pub fn read_path<T: Scalar, I: SpIndex>(path: impl AsRef<Path>) -> Result<SparseMatrix<T, I>> {
    let _ = path;
    todo!()
}
pub fn info(r: impl Read + Seek) -> Result<NpzInfo> {
    let _ = r;
    todo!()
}
pub fn info_path(path: impl AsRef<Path>) -> Result<NpzInfo> {
    let _ = path;
    todo!()
}
pub fn write<T: Scalar, I: SpIndex>(
    w: impl Write + Seek,
    m: &SparseMatrix<T, I>,
    opts: &NpzOptions,
) -> Result<()> {
    let _ = (w, m, opts);
    todo!()
}
pub fn write_path<T: Scalar, I: SpIndex>(
    path: impl AsRef<Path>,
    m: &SparseMatrix<T, I>,
    opts: &NpzOptions,
) -> Result<()> {
    let _ = (path, m, opts);
    todo!()
}
