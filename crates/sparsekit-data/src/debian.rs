//! TEMPORARY STUB (sparsekit-data's `debian` module is being written in another branch; on merge,
//! take theirs). Only the names that the CLI's `fetch debian-text` and `cargo xtask test` call.

use std::path::{Path, PathBuf};

use crate::DataError;

/// What [`fetch`] did (stub).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchReport {
    /// The corpus file.
    pub path: PathBuf,
    /// Number of records in it.
    pub records: usize,
    /// `true` when the corpus was already there and nothing was done.
    pub skipped_existing: bool,
}

/// The default directory of the corpus: `$SPARSEKIT_DEBIAN_TEXT`, else
/// `${XDG_CACHE_HOME:-~/.cache}/sparsekit/data/debian-text` (stub).
pub fn default_dir() -> PathBuf {
    match std::env::var_os("SPARSEKIT_DEBIAN_TEXT") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => crate::fetch::cache_dir().join("data").join("debian-text"),
    }
}

/// Builds the corpus in `dir` (stub: always an error).
pub fn fetch(dir: &Path) -> Result<FetchReport, DataError> {
    Err(DataError::Missing(format!(
        "the Debian corpus fetch is not implemented yet (stub), nothing written to {}",
        dir.display()
    )))
}
