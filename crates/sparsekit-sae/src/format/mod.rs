//! SAE directories of the two common Python tools, read and written so that the tools themselves
//! load them:
//!
//! - [`saelens`]: SAELens (`sae_lens.SAE.load_from_disk` / `save_model`; format of
//!   `sae-lens` 6.54.12): `cfg.json`, `sae_weights.safetensors`, optional
//!   `sparsity.safetensors`.
//! - [`sparsify`]: EleutherAI sparsify (`sparsify.SparseCoder.load_from_disk` /
//!   `save_to_disk`; format of `eai-sparsify` 1.3.3): `cfg.json`, `sae.safetensors`; a training
//!   checkpoint holds one such directory per hookpoint.
//!
//! [`load_any`] tells them apart by the weights file. Both are read through the one float decoder
//! of the workspace (`sparsekit_formats::io::safetensors::floats`: F32, F16, BF16, F64) and
//! written as F32. Writes are atomic per file (a temporary file in the directory, renamed over
//! the target; a new directory is built under a temporary name and renamed into place), so a
//! reader never sees a half-written tensor file.
//!
//! `crates/sparsekit-sae/tests/format_python.rs` checks both directions against the real packages
//! (`scripts/sae_format_check.py`).

pub mod saelens;
pub mod sparsify;

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Result, SaeError};
use crate::params::SaeParams;

/// Free-form metadata of a saved SAE (SAELens' `cfg.json` `metadata` object: `hook_name`,
/// `model_name`, …).
pub type Metadata = serde_json::Map<String, serde_json::Value>;

/// Which tool's layout a directory has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatKind {
    /// SAELens: `cfg.json` + `sae_weights.safetensors`.
    SaeLens,
    /// EleutherAI sparsify: `cfg.json` + `sae.safetensors`.
    Sparsify,
}

/// Which format `dir` holds, from its files (see [`FormatKind`]). A sparsify checkpoint
/// directory (one subdirectory per hookpoint, no `cfg.json` of its own) is an error that names the
/// hookpoints to load instead ([`sparsify::hookpoints`]).
pub fn detect(dir: &Path) -> Result<FormatKind> {
    if !dir.is_dir() {
        return Err(SaeError::format(dir, "not a directory"));
    }
    let has = |f: &str| dir.join(f).is_file();
    let cfg = has("cfg.json");
    match (has(saelens::WEIGHTS_FILE), has(sparsify::WEIGHTS_FILE), cfg) {
        (true, true, _) => Err(SaeError::format(
            dir,
            format!(
                "holds both {} (SAELens) and {} (sparsify); load one format explicitly",
                saelens::WEIGHTS_FILE,
                sparsify::WEIGHTS_FILE
            ),
        )),
        (true, false, true) => Ok(FormatKind::SaeLens),
        (false, true, true) => Ok(FormatKind::Sparsify),
        (_, _, false) if has(saelens::WEIGHTS_FILE) || has(sparsify::WEIGHTS_FILE) => {
            Err(SaeError::format(dir, "has weights but no cfg.json"))
        }
        _ => {
            let hooks = sparsify::hookpoints(dir).unwrap_or_default();
            if hooks.is_empty() {
                Err(SaeError::format(
                    dir,
                    format!(
                        "neither an SAELens directory (cfg.json + {}) nor a sparsify one \
                         (cfg.json + {})",
                        saelens::WEIGHTS_FILE,
                        sparsify::WEIGHTS_FILE
                    ),
                ))
            } else {
                Err(SaeError::format(
                    dir,
                    format!(
                        "a sparsify checkpoint with one SAE per hookpoint; load one of its \
                         subdirectories: {}",
                        hooks.join(", ")
                    ),
                ))
            }
        }
    }
}

/// Loads an SAELens or a sparsify directory ([`detect`]).
pub fn load_any(dir: &Path) -> Result<SaeParams> {
    match detect(dir)? {
        FormatKind::SaeLens => saelens::load(dir),
        FormatKind::Sparsify => sparsify::load(dir),
    }
}

// ---------------------------------------------------------------------------------------------
// shared helpers

/// `cfg.json` of `dir` as a JSON object.
pub(crate) fn read_cfg(dir: &Path) -> Result<(PathBuf, Metadata)> {
    let path = dir.join("cfg.json");
    let text = fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            SaeError::format(&path, "missing")
        } else {
            SaeError::io(format!("reading {}", path.display()), e)
        }
    })?;
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(m)) => Ok((path, m)),
        Ok(_) => Err(SaeError::format(&path, "not a JSON object")),
        Err(e) => Err(SaeError::format(&path, format!("invalid JSON: {e}"))),
    }
}

/// The tensors of one safetensors file, read whole.
pub(crate) struct TensorFile {
    pub path: PathBuf,
    bytes: Vec<u8>,
}

impl TensorFile {
    pub fn open(path: PathBuf) -> Result<Self> {
        let bytes = fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                SaeError::format(&path, "missing")
            } else {
                SaeError::io(format!("reading {}", path.display()), e)
            }
        })?;
        // Validate the header once, here.
        SafeTensors::deserialize(&bytes)
            .map_err(|e| SaeError::format(&path, format!("not a safetensors file: {e:?}")))?;
        Ok(TensorFile { path, bytes })
    }

    fn st(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).expect("validated in open")
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.st().names().into_iter().cloned().collect();
        v.sort();
        v
    }

    pub fn has(&self, name: &str) -> bool {
        self.st().tensor(name).is_ok()
    }

    /// Tensor `name` as f32, which must have shape `shape` (the error names the tensor and both
    /// shapes).
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let st = self.st();
        let t = st.tensor(name).map_err(|_| {
            SaeError::format(
                &self.path,
                format!(
                    "no tensor '{name}' (the file has: {})",
                    self.names().join(", ")
                ),
            )
        })?;
        if t.shape() != shape {
            return Err(SaeError::format(
                &self.path,
                format!(
                    "tensor '{name}' has shape {:?}, expected {shape:?}",
                    t.shape()
                ),
            ));
        }
        sparsekit_formats::io::safetensors::floats::<f32>(t.dtype(), t.data(), name)
            .map_err(|e| SaeError::format(&self.path, e.to_string()))
    }

    /// Shape of tensor `name`, if present.
    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.st().tensor(name).ok().map(|t| t.shape().to_vec())
    }
}

/// F32 safetensors bytes of `tensors` (name, shape, values), with PyTorch's `format: pt`
/// metadata as `safetensors.torch.save_file` writes it.
pub(crate) fn f32_safetensors(tensors: &[(&str, Vec<usize>, &[f32])]) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(&str, TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| {
            TensorView::new(Dtype::F32, shape.clone(), b)
                .map(|v| (*name, v))
                .map_err(|e| SaeError::Shape(format!("tensor '{name}': {e:?}")))
        })
        .collect::<Result<_>>()?;
    let meta = Some(HashMap::from([("format".to_string(), "pt".to_string())]));
    safetensors::tensor::serialize(views, &meta)
        .map_err(|e| SaeError::Shape(format!("serialising safetensors: {e:?}")))
}

/// Row-major `[rows, cols]` → `[cols, rows]`.
pub(crate) fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    debug_assert_eq!(a.len(), rows * cols);
    let mut t = vec![0.0f32; a.len()];
    const B: usize = 64;
    for r0 in (0..rows).step_by(B) {
        for c0 in (0..cols).step_by(B) {
            for r in r0..(r0 + B).min(rows) {
                for c in c0..(c0 + B).min(cols) {
                    t[c * rows + r] = a[r * cols + c];
                }
            }
        }
    }
    t
}

/// Writes `files` (name, bytes) into `dir` atomically per file and removes `stale` files there.
///
/// A directory that does not exist yet is built under a temporary sibling name and renamed into
/// place, so it appears complete or not at all. In an existing directory each file is written
/// to a temporary name beside it, synced and renamed over the target, in the order given (put
/// `cfg.json` last: it is what makes a directory loadable).
pub(crate) fn write_dir(dir: &Path, files: &[(&str, Vec<u8>)], stale: &[&str]) -> Result<()> {
    let io = |what: String| move |e| SaeError::io(what, e);
    let unique = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let write_synced = |path: &Path, bytes: &[u8]| -> Result<()> {
        let mut f = fs::File::create(path).map_err(io(format!("creating {}", path.display())))?;
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .map_err(io(format!("writing {}", path.display())))
    };
    if dir.exists() {
        if !dir.is_dir() {
            return Err(SaeError::format(dir, "exists and is not a directory"));
        }
        for (name, bytes) in files {
            let tmp = dir.join(format!(".{name}.tmp-{unique}"));
            let target = dir.join(name);
            let r = write_synced(&tmp, bytes).and_then(|_| {
                fs::rename(&tmp, &target)
                    .map_err(io(format!("renaming {} into place", target.display())))
            });
            if r.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            r?;
        }
        for name in stale {
            let p = dir.join(name);
            if p.exists() {
                fs::remove_file(&p).map_err(io(format!("removing stale {}", p.display())))?;
            }
        }
        return Ok(());
    }
    let name = dir
        .file_name()
        .ok_or_else(|| SaeError::format(dir, "has no final component"))?
        .to_string_lossy()
        .into_owned();
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io(format!("creating {}", parent.display())))?;
    let tmp = parent.join(format!(".{name}.tmp-{unique}"));
    let r = (|| {
        fs::create_dir(&tmp).map_err(io(format!("creating {}", tmp.display())))?;
        for (f, bytes) in files {
            write_synced(&tmp.join(f), bytes)?;
        }
        fs::rename(&tmp, dir).map_err(io(format!("renaming {} into place", dir.display())))
    })();
    if r.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    r
}

/// `params` checked for saving.
pub(crate) fn checked(params: &SaeParams) -> Result<()> {
    params.validate()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_small() {
        let a: Vec<f32> = (0..6).map(|x| x as f32).collect();
        assert_eq!(transpose(&a, 2, 3), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        let big: Vec<f32> = (0..70 * 130).map(|x| x as f32).collect();
        assert_eq!(transpose(&transpose(&big, 70, 130), 130, 70), big);
    }
}
