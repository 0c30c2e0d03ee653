//! Lottery tickets: the masks plus the rewind-point weights, saved as safetensors.
//!
//! File layout, for each pruned parameter at `path`:
//!
//! | tensor | dtype | shape | meaning |
//! |---|---|---|---|
//! | `{path}.mask` | U8 (0/1) | `[d_output, d_input]` | kept weights, output × input |
//! | `{path}.init` | F32 | the parameter's own shape | weights at the rewind point |
//!
//! and `__metadata__` = `{"format": "sparsekit:ticket", "{path}": "input_major" | "output_major"}`
//! (`input_major`: the parameter is stored `[d_input, d_output]` like burn's `Linear`, so its
//! mask is the transpose of its storage).
//!
//! ```
//! use sparsekit_formats::Mask;
//! use sparsekit_prune::ticket::{Ticket, TicketLayer};
//! let t = Ticket { layers: vec![TicketLayer {
//!     path: "l1.weight".into(), dims: vec![3, 2], input_major: true,
//!     mask: Mask::from_bools(&[true, false, false, true, true, true], 2, 3)?,
//!     init: vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
//! }]};
//! let bytes = t.to_safetensors()?;
//! assert_eq!(Ticket::from_safetensors(&bytes)?, t);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;

use burn::module::Module;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use sparsekit_formats::Mask;

use sparsekit_tensor::params::{self, Layout, ParamReader};

use crate::error::{PruneError, Result};

/// One parameter of a ticket.
#[derive(Clone, Debug, PartialEq)]
pub struct TicketLayer {
    /// Parameter path.
    pub path: String,
    /// The parameter's shape.
    pub dims: Vec<usize>,
    /// Stored `[d_input, d_output]` (burn's `Linear`).
    pub input_major: bool,
    /// Kept weights, output × input.
    pub mask: Mask,
    /// Weights at the rewind point, in the parameter's storage order.
    pub init: Vec<f32>,
}

impl TicketLayer {
    /// How the parameter's storage maps to its output × input mask.
    pub fn layout(&self) -> Layout {
        if self.input_major {
            Layout::InputMajor
        } else {
            Layout::OutputMajor
        }
    }
}

/// Masks and rewind-point weights of every pruned parameter.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Ticket {
    /// In the pruner's order.
    pub layers: Vec<TicketLayer>,
}

fn st_err(e: safetensors::SafeTensorError) -> PruneError {
    PruneError::InvalidArgument(format!("safetensors: {e:?}"))
}

impl Ticket {
    /// The ticket on a model of the same architecture (e.g. freshly initialized, or loaded from
    /// [`Ticket::from_safetensors`]): every listed parameter becomes `init ⊙ mask`, the
    /// rewind-point weights with the pruned ones zeroed, ready to retrain (keep the masks with a
    /// [`Pruner`](crate::Pruner) whose schedule holds them, or train truly sparse via
    /// `SparseLinear::from_linear` with [`TicketLayer::mask`]). Parameters the ticket does not
    /// list are left as they are.
    ///
    /// Errors with [`PruneError::Shape`] when a listed path is not a float parameter of `model`
    /// or its shape, mask or values disagree; the model is then not touched.
    pub fn apply<M: Module>(&self, model: M) -> Result<M> {
        let dims: HashMap<String, Vec<usize>> = ParamReader::detached()
            .min_rank(2)
            .read(&model)
            .into_iter()
            .map(|p| (p.path, p.dims))
            .collect();
        let mut floats = HashMap::new();
        for l in &self.layers {
            let seen = dims.get(&l.path).ok_or_else(|| {
                PruneError::Shape(format!("{}: no such 2-D float parameter", l.path))
            })?;
            let layout = l.layout();
            let (rows, cols) = layout.rows_cols(&l.dims);
            if *seen != l.dims
                || l.init.len() != rows * cols
                || (l.mask.nrows(), l.mask.ncols()) != (rows, cols)
            {
                return Err(PruneError::Shape(format!(
                    "{}: the model has shape {:?}; the ticket {:?} with a {}×{} mask and {} values",
                    l.path,
                    seen,
                    l.dims,
                    l.mask.nrows(),
                    l.mask.ncols(),
                    l.init.len()
                )));
            }
            let keep: Vec<f32> = l.mask.to_bools().iter().map(|&k| k as u8 as f32).collect();
            let keep = layout.to_storage(&l.dims, &keep);
            let v = l.init.iter().zip(&keep).map(|(w, k)| w * k).collect();
            floats.insert(l.path.clone(), v);
        }
        Ok(params::write_params(model, floats)?)
    }

    /// The safetensors bytes (see the [module docs](self)).
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), "sparsekit:ticket".to_string());
        let mut arrays: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        for l in &self.layers {
            if l.init.len() != l.dims.iter().product::<usize>()
                || l.mask.nrows() * l.mask.ncols() != l.init.len()
            {
                return Err(PruneError::Shape(format!(
                    "{}: {} weights, shape {:?}, mask {:?}",
                    l.path,
                    l.init.len(),
                    l.dims,
                    l.mask.shape()
                )));
            }
            meta.insert(
                l.path.clone(),
                if l.input_major {
                    "input_major"
                } else {
                    "output_major"
                }
                .to_string(),
            );
            let m: Vec<u8> = l.mask.to_bools().into_iter().map(u8::from).collect();
            arrays.push((
                format!("{}.mask", l.path),
                Dtype::U8,
                vec![l.mask.nrows(), l.mask.ncols()],
                m,
            ));
            let w: Vec<u8> = l.init.iter().flat_map(|v| v.to_le_bytes()).collect();
            arrays.push((format!("{}.init", l.path), Dtype::F32, l.dims.clone(), w));
        }
        let views = arrays
            .iter()
            .map(|(n, d, s, b)| {
                TensorView::new(*d, s.clone(), b)
                    .map(|v| (n.clone(), v))
                    .map_err(st_err)
            })
            .collect::<Result<Vec<_>>>()?;
        safetensors::tensor::serialize(views, &Some(meta)).map_err(st_err)
    }

    /// Reads a ticket written by [`to_safetensors`](Self::to_safetensors), validating it.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self> {
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(st_err)?;
        let st = SafeTensors::deserialize(bytes).map_err(st_err)?;
        let meta = header.metadata().clone().unwrap_or_default();
        if meta.get("format").map(String::as_str) != Some("sparsekit:ticket") {
            return Err(PruneError::InvalidArgument(
                "not a sparsekit ticket (no format=sparsekit:ticket metadata)".into(),
            ));
        }
        let mut layers = Vec::new();
        for (path, kind) in &meta {
            if path == "format" {
                continue;
            }
            let m = st.tensor(&format!("{path}.mask")).map_err(st_err)?;
            let w = st.tensor(&format!("{path}.init")).map_err(st_err)?;
            if m.dtype() != Dtype::U8 || m.shape().len() != 2 || w.dtype() != Dtype::F32 {
                return Err(PruneError::InvalidArgument(format!(
                    "{path}: expected a 2-D U8 mask and F32 weights"
                )));
            }
            let bools: Vec<bool> = m.data().iter().map(|&b| b != 0).collect();
            let mask = Mask::from_bools(&bools, m.shape()[0], m.shape()[1])?;
            let init: Vec<f32> = w
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            if init.len() != bools.len() {
                return Err(PruneError::Shape(format!(
                    "{path}: {} weights for a {:?} mask",
                    init.len(),
                    mask.shape()
                )));
            }
            layers.push(TicketLayer {
                path: path.clone(),
                dims: w.shape().to_vec(),
                input_major: kind == "input_major",
                mask,
                init,
            });
        }
        // A HashMap has no order: the pruner's order is not recorded, so sort by path.
        layers.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Self { layers })
    }
}
