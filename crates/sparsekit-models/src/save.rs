//! Writing a model directory back: a copy of a sentence-transformers directory whose
//! `model.safetensors` holds the weights of a (pruned, distilled, …) [`Bert`].
//!
//! The output loads unchanged in sentence-transformers and in [`SentenceEncoder::load`]: every
//! tensor keeps its name (with the checkpoint's `bert.` prefix, if any), shape, dtype (F16/BF16
//! checkpoints stay half; pruned weights are exactly 0 in every dtype) and order; tensors the
//! encoder does not hold (`pooler.*`, `embeddings.position_ids`, task heads) and the file's
//! `__metadata__` are copied byte for byte. Only the projections' weights and biases are
//! rewritten. Every other file of the directory (tokenizer, configs, `1_Pooling/`, README) is
//! copied; weight files in other formats (`pytorch_model.bin`, `*.onnx`, `*.h5`, `*.msgpack`,
//! `onnx/`, `openvino/`) are **not** copied — they would still hold the old weights — and are
//! listed in [`SavedModel::skipped`].
//!
//! [`SentenceEncoder::load`]: crate::SentenceEncoder::load

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{SafeTensors, TensorView};
use sparsekit_formats::io::safetensors::float_bytes;

use crate::bert::{AttentionModule, Bert};
use crate::ModelError;

/// The weights file of a model directory.
pub const WEIGHTS: &str = "model.safetensors";

/// What [`save_model_dir`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SavedModel {
    /// Tensors rewritten from the model (full names, as in the file).
    pub rewritten: Vec<String>,
    /// Files and directories of the source left out (other weight formats), relative paths.
    pub skipped: Vec<PathBuf>,
}

/// Is this (relative) path a weight file in a format other than safetensors?
fn other_weights(rel: &Path) -> bool {
    let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let top = rel
        .components()
        .next()
        .and_then(|c| c.as_os_str().to_str())
        .unwrap_or("");
    matches!(top, "onnx" | "openvino")
        || [".bin", ".onnx", ".h5", ".msgpack", ".ot", ".pt", ".pth"]
            .iter()
            .any(|ext| name.ends_with(ext))
}

fn copy_tree(
    src: &Path,
    dst: &Path,
    rel: &Path,
    skipped: &mut Vec<PathBuf>,
) -> Result<(), ModelError> {
    let dir = src.join(rel);
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| ModelError::io(format!("reading {}", dir.display()), e))?;
    let mut entries: Vec<_> = entries
        .collect::<Result<_, _>>()
        .map_err(|e| ModelError::io(format!("reading {}", dir.display()), e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let r = rel.join(entry.file_name());
        if r == Path::new(WEIGHTS) {
            continue;
        }
        if other_weights(&r) {
            skipped.push(r);
            continue;
        }
        let from = src.join(&r);
        let to = dst.join(&r);
        let kind = entry
            .file_type()
            .map_err(|e| ModelError::io(format!("reading {}", from.display()), e))?;
        if kind.is_dir() {
            std::fs::create_dir_all(&to)
                .map_err(|e| ModelError::io(format!("creating {}", to.display()), e))?;
            copy_tree(src, dst, &r, skipped)?;
        } else {
            std::fs::copy(&from, &to).map_err(|e| {
                ModelError::io(format!("copying {} to {}", from.display(), to.display()), e)
            })?;
        }
    }
    Ok(())
}

/// Writes `dst` as a copy of the model directory `src` with the projection weights and biases
/// of `model` (see the [module docs](self) for what is kept). `dst` is created if needed; it
/// must not be `src`. `extra` files (name, contents) are written into `dst` last, e.g.
/// `sparsity.json`.
///
/// Errors: `src` lacks `model.safetensors` or a projection tensor, a shape differs from the
/// model's, a tensor is not a float tensor, or I/O fails.
pub fn save_model_dir<A: AttentionModule>(
    src: &Path,
    dst: &Path,
    model: &Bert<A>,
    extra: &[(&str, Vec<u8>)],
) -> Result<SavedModel, ModelError> {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same(src, dst) {
        return Err(ModelError::Invalid(format!(
            "the output directory {} is the model directory itself",
            dst.display()
        )));
    }
    let weights_path = src.join(WEIGHTS);
    let bytes = std::fs::read(&weights_path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ModelError::MissingFile {
                path: weights_path.clone(),
                hint: "the model directory needs its model.safetensors".into(),
            }
        } else {
            ModelError::io(format!("reading {}", weights_path.display()), e)
        }
    })?;
    let ckpt_err = |message: String| ModelError::Checkpoint {
        path: weights_path.clone(),
        message,
    };
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| ckpt_err(format!("not a safetensors file: {e}")))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| ckpt_err(format!("not a safetensors file: {e}")))?;
    let prefix = if st.tensor("embeddings.word_embeddings.weight").is_err()
        && st.tensor("bert.embeddings.word_embeddings.weight").is_ok()
    {
        "bert."
    } else {
        ""
    };

    // New contents of the projections' tensors, encoded in each tensor's own dtype.
    let mut new: HashMap<String, Vec<u8>> = HashMap::new();
    let mut failure: Option<ModelError> = None;
    model.visit_projections(&mut |path, p| {
        if failure.is_some() {
            return;
        }
        let mut one = || -> Result<(), ModelError> {
            let (o, i) = p.shape();
            let mut parts = vec![(
                format!("{prefix}{path}.weight"),
                vec![o, i],
                p.weight_values()?,
            )];
            if let Some(b) = p.bias() {
                let b = b
                    .into_data()
                    .try_into_vec::<f32>()
                    .map_err(|e| ModelError::Invalid(format!("reading a bias back: {e:?}")))?;
                parts.push((format!("{prefix}{path}.bias"), vec![o], b));
            }
            for (name, shape, values) in parts {
                let t = st
                    .tensor(&name)
                    .map_err(|_| ckpt_err(format!("tensor {name:?} is missing")))?;
                if t.shape() != shape.as_slice() {
                    return Err(ckpt_err(format!(
                        "tensor {name:?} has shape {:?}, the model's is {shape:?}",
                        t.shape()
                    )));
                }
                let data =
                    float_bytes(t.dtype(), &values, &name).map_err(|e| ckpt_err(e.to_string()))?;
                new.insert(name, data);
            }
            Ok(())
        };
        if let Err(e) = one() {
            failure = Some(e);
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }

    let mut names: Vec<String> = st.names().into_iter().cloned().collect();
    // The file's own order (by offset), so the output is laid out like the input.
    names.sort_by_key(|n| header.tensors().get(n).map(|i| i.data_offsets.0));
    let mut tensors = Vec::with_capacity(names.len());
    for name in &names {
        let t = st
            .tensor(name)
            .map_err(|e| ckpt_err(format!("{name}: {e}")))?;
        let data: &[u8] = new.get(name).map_or(t.data(), |d| d.as_slice());
        let view = TensorView::new(t.dtype(), t.shape().to_vec(), data)
            .map_err(|e| ckpt_err(format!("{name}: {e}")))?;
        tensors.push((name.clone(), view));
    }
    let out = safetensors::tensor::serialize(tensors, &header.metadata().clone())
        .map_err(|e| ckpt_err(format!("serializing: {e}")))?;

    std::fs::create_dir_all(dst)
        .map_err(|e| ModelError::io(format!("creating {}", dst.display()), e))?;
    let mut saved = SavedModel::default();
    copy_tree(src, dst, Path::new(""), &mut saved.skipped)?;
    let target = dst.join(WEIGHTS);
    std::fs::write(&target, out)
        .map_err(|e| ModelError::io(format!("writing {}", target.display()), e))?;
    for (name, contents) in extra {
        let p = dst.join(name);
        std::fs::write(&p, contents)
            .map_err(|e| ModelError::io(format!("writing {}", p.display()), e))?;
    }
    let mut rewritten: Vec<String> = new.into_keys().collect();
    rewritten.sort();
    saved.rewritten = rewritten;
    Ok(saved)
}
