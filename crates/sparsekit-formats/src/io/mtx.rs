//! Matrix Market files (skeleton).
use std::io::{BufRead, Write};
use std::path::Path;

use super::AsCoo;
use crate::error::Result;
use crate::{Coo, Scalar, SpIndex};

/// `coordinate` (sparse) or `array` (dense, column-major).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MtxFormat {
    Coordinate,
    Array,
}

/// The field of a Matrix Market file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MtxField {
    #[default]
    Real,
    Integer,
    Pattern,
}

/// The symmetry of a Matrix Market file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MtxSymmetry {
    #[default]
    General,
    Symmetric,
    SkewSymmetric,
}

/// The banner and size line of a Matrix Market file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MtxHeader {
    pub format: MtxFormat,
    pub field: MtxField,
    pub symmetry: MtxSymmetry,
    pub nrows: usize,
    pub ncols: usize,
    /// Entries the size line declares (for `array`: the number of values stored).
    pub nnz: usize,
}

/// Options of [`write`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MtxOptions {
    pub field: MtxField,
    pub symmetry: MtxSymmetry,
}

pub fn read<T: Scalar, I: SpIndex>(r: impl BufRead) -> Result<Coo<T, I>> {
    let _ = r;
    todo!()
}
pub fn read_path<T: Scalar, I: SpIndex>(path: impl AsRef<Path>) -> Result<Coo<T, I>> {
    let _ = path;
    todo!()
}
pub fn info(r: impl BufRead) -> Result<MtxHeader> {
    let _ = r;
    todo!()
}
pub fn info_path(path: impl AsRef<Path>) -> Result<MtxHeader> {
    let _ = path;
    todo!()
}
pub fn write<T: Scalar, I: SpIndex, M: AsCoo<T, I> + ?Sized>(
    w: impl Write,
    m: &M,
    opts: &MtxOptions,
) -> Result<()> {
    let _ = (w, m, opts);
    todo!()
}
pub fn write_path<T: Scalar, I: SpIndex, M: AsCoo<T, I> + ?Sized>(
    path: impl AsRef<Path>,
    m: &M,
    opts: &MtxOptions,
) -> Result<()> {
    let _ = (path, m, opts);
    todo!()
}
