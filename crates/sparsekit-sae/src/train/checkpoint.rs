//! Atomic training checkpoints: everything [`Trainer`](super::Trainer) needs to continue
//! bit-for-bit — weights, Adam moments, firing counters, step and token counts, and the
//! configurations — in one directory: `state.safetensors` (arrays; counters as U64) and
//! `state.json`. Written into a temporary sibling directory and renamed into place, so a crash
//! leaves the previous checkpoint intact.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};

use super::adam::Moments;
use super::config::TrainConfig;
use super::{TrainState, Trainer, PARAM_NAMES};
use crate::config::SaeConfig;
use crate::error::{Result, SaeError};
use crate::params::{GatedParams, SaeParams};

const ARRAYS: &str = "state.safetensors";
const META: &str = "state.json";

#[derive(Serialize, Deserialize)]
struct Meta {
    format: String,
    sae: SaeConfig,
    train: TrainConfig,
    step: u64,
    tokens: u64,
    /// Anything the caller wants back on resume (the CLI keeps its arguments here).
    extra: serde_json::Value,
}

const FORMAT: &str = "sparsekit-sae-checkpoint-v1";

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn u64_bytes(v: &[u64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes `trainer`'s state to `dir` atomically (replacing an older checkpoint there).
pub fn save(dir: &Path, trainer: &Trainer, extra: serde_json::Value) -> Result<()> {
    let st = trainer.state();
    let p = &st.params;
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut put = |name: &str, v: &[f32]| {
        if !v.is_empty() {
            owned.push((name.to_string(), Dtype::F32, vec![v.len()], f32_bytes(v)));
        }
    };
    put("w_enc", &p.w_enc);
    put("b_enc", &p.b_enc);
    put("w_dec", &p.w_dec);
    put("b_dec", &p.b_dec);
    if let Some(t) = &p.threshold {
        put("threshold", t);
    }
    if let Some(g) = &p.gated {
        put("r_mag", &g.r_mag);
        put("b_mag", &g.b_mag);
    }
    for (name, m) in PARAM_NAMES.iter().zip(&st.moments) {
        put(&format!("adam.m.{name}"), &m.m);
        put(&format!("adam.v.{name}"), &m.v);
    }
    let m = p.config.d_sae;
    owned.push((
        "tokens_since_fired".into(),
        Dtype::U64,
        vec![m],
        u64_bytes(&st.tokens_since_fired),
    ));
    owned.push((
        "fire_count".into(),
        Dtype::U64,
        vec![m],
        u64_bytes(&st.fire_count),
    ));
    let views: Vec<(String, TensorView<'_>)> = owned
        .iter()
        .map(|(n, dt, sh, b)| {
            TensorView::new(*dt, sh.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| SaeError::format(dir, format!("tensor {n}: {e}")))
        })
        .collect::<Result<_>>()?;
    let bytes = safetensors::serialize(views, &None::<HashMap<String, String>>)
        .map_err(|e| SaeError::format(dir, format!("serialising: {e}")))?;
    let meta = Meta {
        format: FORMAT.into(),
        sae: p.config.clone(),
        train: trainer.config().clone(),
        step: st.step,
        tokens: st.tokens,
        extra,
    };
    let json = serde_json::to_string_pretty(&meta).expect("checkpoint metadata serialises");

    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent)
        .map_err(|e| SaeError::io(format!("creating {}", parent.display()), e))?;
    let name = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checkpoint".into());
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(|e| SaeError::io(format!("creating {}", tmp.display()), e))?;
    fs::write(tmp.join(ARRAYS), bytes)
        .map_err(|e| SaeError::io(format!("writing {}", tmp.join(ARRAYS).display()), e))?;
    fs::write(tmp.join(META), json)
        .map_err(|e| SaeError::io(format!("writing {}", tmp.join(META).display()), e))?;
    if dir.exists() {
        let _ = fs::remove_dir_all(&old);
        fs::rename(dir, &old)
            .map_err(|e| SaeError::io(format!("moving {} aside", dir.display()), e))?;
    }
    fs::rename(&tmp, dir)
        .map_err(|e| SaeError::io(format!("renaming into {}", dir.display()), e))?;
    let _ = fs::remove_dir_all(&old);
    Ok(())
}

/// Reads a checkpoint written by [`save`]: the trainer (ready to continue) and the caller's
/// `extra` value.
pub fn load(dir: &Path) -> Result<(Trainer, serde_json::Value)> {
    let meta_path = dir.join(META);
    let text = fs::read_to_string(&meta_path)
        .map_err(|e| SaeError::io(format!("reading {}", meta_path.display()), e))?;
    let meta: Meta = serde_json::from_str(&text)
        .map_err(|e| SaeError::format(&meta_path, format!("malformed: {e}")))?;
    if meta.format != FORMAT {
        return Err(SaeError::format(
            &meta_path,
            format!("format {:?}, expected {FORMAT:?}", meta.format),
        ));
    }
    let arr_path = dir.join(ARRAYS);
    let bytes = fs::read(&arr_path)
        .map_err(|e| SaeError::io(format!("reading {}", arr_path.display()), e))?;
    let st =
        SafeTensors::deserialize(&bytes).map_err(|e| SaeError::format(&arr_path, e.to_string()))?;
    let (d, m) = (meta.sae.d_in, meta.sae.d_sae);
    let get_f32 = |name: &str, len: usize| -> Result<Vec<f32>> {
        let t = st
            .tensor(name)
            .map_err(|_| SaeError::format(&arr_path, format!("no tensor {name:?}")))?;
        if t.dtype() != Dtype::F32 || t.shape() != [len] {
            return Err(SaeError::format(
                &arr_path,
                format!(
                    "tensor {name:?} is {:?} {:?}, expected F32 [{len}]",
                    t.dtype(),
                    t.shape()
                ),
            ));
        }
        Ok(t.data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect())
    };
    let get_u64 = |name: &str| -> Result<Vec<u64>> {
        let t = st
            .tensor(name)
            .map_err(|_| SaeError::format(&arr_path, format!("no tensor {name:?}")))?;
        if t.dtype() != Dtype::U64 || t.shape() != [m] {
            return Err(SaeError::format(
                &arr_path,
                format!(
                    "tensor {name:?} is {:?} {:?}, expected U64 [{m}]",
                    t.dtype(),
                    t.shape()
                ),
            ));
        }
        Ok(t.data()
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
            .collect())
    };
    let arch = meta.sae.architecture;
    let has_threshold = matches!(
        arch,
        crate::Architecture::JumpRelu | crate::Architecture::BatchTopK
    );
    let gated = arch == crate::Architecture::Gated;
    let params = SaeParams {
        w_enc: get_f32("w_enc", m * d)?,
        b_enc: get_f32("b_enc", m)?,
        w_dec: get_f32("w_dec", m * d)?,
        b_dec: get_f32("b_dec", d)?,
        threshold: if has_threshold {
            Some(get_f32("threshold", m)?)
        } else {
            None
        },
        gated: if gated {
            Some(GatedParams {
                r_mag: get_f32("r_mag", m)?,
                b_mag: get_f32("b_mag", m)?,
            })
        } else {
            None
        },
        config: meta.sae.clone(),
    };
    params
        .validate()
        .map_err(|e| SaeError::format(dir, e.to_string()))?;
    let sizes = [
        m * d,
        m,
        m * d,
        d,
        if has_threshold { m } else { 0 },
        if gated { m } else { 0 },
        if gated { m } else { 0 },
    ];
    let mut moments = Vec::new();
    for (name, &len) in PARAM_NAMES.iter().zip(&sizes) {
        moments.push(if len == 0 {
            Moments::default()
        } else {
            Moments {
                m: get_f32(&format!("adam.m.{name}"), len)?,
                v: get_f32(&format!("adam.v.{name}"), len)?,
            }
        });
    }
    let state = TrainState {
        params,
        step: meta.step,
        tokens: meta.tokens,
        moments,
        tokens_since_fired: get_u64("tokens_since_fired")?,
        fire_count: get_u64("fire_count")?,
    };
    let trainer =
        Trainer::from_state(state, meta.train).map_err(|e| SaeError::format(dir, e.to_string()))?;
    Ok((trainer, meta.extra))
}
