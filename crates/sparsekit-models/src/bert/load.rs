//! Filling the encoder from a Hugging Face `model.safetensors`.
//!
//! Read with the `safetensors` crate: names are Hugging Face's (`embeddings.word_embeddings.weight`,
//! `encoder.layer.N.attention.self.query.weight`, …), optionally under a `bert.` prefix (task
//! heads' checkpoints); F32, F16, BF16 and F64 tensors load as f32 (sparsekit-formats' one float
//! decoder). Linear weights are stored
//! `[out, in]` by PyTorch and `[in, out]` by burn's `Linear`: they are transposed on the host
//! while loading. Tensors the encoder does not use (`pooler.*`, `embeddings.position_ids`, task
//! heads) are ignored; a missing tensor or a wrong shape is a typed error.

use std::path::Path;

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::SafeTensors;
use sparsekit_formats::io::safetensors::floats;

use super::attention::SelfAttention;
use super::embeddings::BertEmbeddings;
use super::layer::{BertLayer, FeedForward};
use super::model::Bert;
use super::BertConfig;
use crate::projection::Projection;
use crate::ModelError;

/// Loads the encoder of `config` from the safetensors file at `path` onto `device`.
pub fn load(
    config: &BertConfig,
    path: &Path,
    device: &Device,
) -> Result<Bert<SelfAttention>, ModelError> {
    let bytes = std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ModelError::MissingFile {
                path: path.to_path_buf(),
                hint: "the model directory needs its model.safetensors".into(),
            }
        } else {
            ModelError::io(format!("reading {}", path.display()), e)
        }
    })?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| ModelError::Checkpoint {
        path: path.to_path_buf(),
        message: format!("not a safetensors file: {e}"),
    })?;
    config.validate().map_err(ModelError::Invalid)?;
    let r = Reader::new(&st, path, device);
    let d = config.hidden_size;
    let f = config.intermediate_size;
    let embeddings = BertEmbeddings {
        word: r.embedding("embeddings.word_embeddings", config.vocab_size, d)?,
        position: r.embedding(
            "embeddings.position_embeddings",
            config.max_position_embeddings,
            d,
        )?,
        token_type: r.embedding(
            "embeddings.token_type_embeddings",
            config.type_vocab_size,
            d,
        )?,
        norm: r.layer_norm("embeddings.LayerNorm", d, config.layer_norm_eps)?,
    };
    let layers = (0..config.num_hidden_layers)
        .map(|i| {
            let p = format!("encoder.layer.{i}");
            Ok(BertLayer {
                attention: SelfAttention {
                    query: r.linear(&format!("{p}.attention.self.query"), d, d)?,
                    key: r.linear(&format!("{p}.attention.self.key"), d, d)?,
                    value: r.linear(&format!("{p}.attention.self.value"), d, d)?,
                    output: r.linear(&format!("{p}.attention.output.dense"), d, d)?,
                    num_heads: config.num_attention_heads,
                },
                attention_norm: r.layer_norm(
                    &format!("{p}.attention.output.LayerNorm"),
                    d,
                    config.layer_norm_eps,
                )?,
                ffn: FeedForward {
                    intermediate: r.linear(&format!("{p}.intermediate.dense"), f, d)?,
                    output: r.linear(&format!("{p}.output.dense"), d, f)?,
                },
                output_norm: r.layer_norm(
                    &format!("{p}.output.LayerNorm"),
                    d,
                    config.layer_norm_eps,
                )?,
            })
        })
        .collect::<Result<_, ModelError>>()?;
    Ok(Bert { embeddings, layers })
}

/// Reads named tensors of one checkpoint, with the prefix the checkpoint uses.
struct Reader<'a> {
    st: &'a SafeTensors<'a>,
    path: &'a Path,
    prefix: &'static str,
    device: &'a Device,
}

impl<'a> Reader<'a> {
    fn new(st: &'a SafeTensors<'a>, path: &'a Path, device: &'a Device) -> Self {
        let has = |n: &str| st.tensor(n).is_ok();
        let prefix = if !has("embeddings.word_embeddings.weight")
            && has("bert.embeddings.word_embeddings.weight")
        {
            "bert."
        } else {
            ""
        };
        Reader {
            st,
            path,
            prefix,
            device,
        }
    }

    fn err(&self, message: String) -> ModelError {
        ModelError::Checkpoint {
            path: self.path.to_path_buf(),
            message,
        }
    }

    /// The tensor `name` as f32 values, checked to have `shape`.
    fn values(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ModelError> {
        let full = format!("{}{name}", self.prefix);
        let t = self
            .st
            .tensor(&full)
            .map_err(|_| self.err(format!("tensor {full:?} is missing")))?;
        if t.shape() != shape {
            return Err(self.err(format!(
                "tensor {full:?} has shape {:?}, the config needs {shape:?}",
                t.shape()
            )));
        }
        let v = floats::<f32>(t.dtype(), t.data(), &full)
            .map_err(|e| self.err(format!("{e} (F32, F16, BF16 and F64 load as f32)")))?;
        Ok(v)
    }

    fn tensor1(&self, name: &str, n: usize) -> Result<Param<Tensor<1>>, ModelError> {
        let v = self.values(name, &[n])?;
        Ok(Param::from_tensor(Tensor::from_data(
            TensorData::new(v, [n]),
            self.device,
        )))
    }

    fn tensor2(&self, name: &str, rows: usize, cols: usize) -> Result<Tensor<2>, ModelError> {
        let v = self.values(name, &[rows, cols])?;
        Ok(Tensor::from_data(
            TensorData::new(v, [rows, cols]),
            self.device,
        ))
    }

    fn embedding(&self, name: &str, n: usize, d: usize) -> Result<Embedding, ModelError> {
        Ok(Embedding {
            weight: Param::from_tensor(self.tensor2(&format!("{name}.weight"), n, d)?),
        })
    }

    fn layer_norm(&self, name: &str, d: usize, eps: f64) -> Result<LayerNorm, ModelError> {
        let mut ln = LayerNormConfig::new(d).with_epsilon(eps).init(self.device);
        ln.gamma = self.tensor1(&format!("{name}.weight"), d)?;
        ln.beta = Some(self.tensor1(&format!("{name}.bias"), d)?);
        Ok(ln)
    }

    /// A PyTorch `Linear` (`weight [out, in]`, `bias [out]`) as burn's (`[in, out]`).
    fn linear(&self, name: &str, out: usize, inp: usize) -> Result<Projection, ModelError> {
        let w = self.values(&format!("{name}.weight"), &[out, inp])?;
        let mut t = vec![0.0f32; w.len()];
        for o in 0..out {
            for i in 0..inp {
                t[i * out + o] = w[o * inp + i];
            }
        }
        let weight = Tensor::from_data(TensorData::new(t, [inp, out]), self.device);
        Ok(Projection::Dense(Linear {
            weight: Param::from_tensor(weight),
            bias: Some(self.tensor1(&format!("{name}.bias"), out)?),
        }))
    }
}
