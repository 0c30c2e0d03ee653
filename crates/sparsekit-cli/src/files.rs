//! What the commands share about files: the index type they read with and the context lines of
//! their errors. Reading itself is one call, [`sparsekit_formats::io::read_any`].

use std::path::Path;

/// The index type the CLI reads with: u64 so that no file is too big for it.
pub type Idx = u64;

/// Context line for errors about reading a file.
pub fn reading(path: &Path) -> String {
    format!("reading {}", path.display())
}

/// Context line for errors about writing a file.
pub fn writing(path: &Path) -> String {
    format!("writing {}", path.display())
}
