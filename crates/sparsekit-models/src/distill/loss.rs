//! The distillation losses between student and teacher sentence embeddings, and the validation
//! metric (mean cosine).

use std::fmt;
use std::str::FromStr;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use sparsekit_data::eval::retrieval::cosine_f64;

use crate::sentence::l2_normalize;

/// How far the student's embeddings are from the teacher's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DistillLoss {
    /// `1 − cos(s, t)`, averaged over the batch (scale-free: only directions matter, as in
    /// cosine retrieval).
    #[default]
    Cosine,
    /// Mean squared error over every coordinate of the (normalised, when the model normalises)
    /// embeddings.
    Mse,
}

impl DistillLoss {
    /// The name (`cosine`, `mse`).
    pub fn name(self) -> &'static str {
        match self {
            DistillLoss::Cosine => "cosine",
            DistillLoss::Mse => "mse",
        }
    }
}

impl fmt::Display for DistillLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DistillLoss {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cosine" => Ok(DistillLoss::Cosine),
            "mse" => Ok(DistillLoss::Mse),
            _ => Err(format!("unknown loss {s:?} (expected cosine or mse)")),
        }
    }
}

/// The loss between `student` and `teacher` embeddings (both `[n, dim]`), a one-element tensor.
pub fn embedding_loss(student: Tensor<2>, teacher: Tensor<2>, kind: DistillLoss) -> Tensor<1> {
    match kind {
        DistillLoss::Cosine => {
            let cos = (l2_normalize(student) * l2_normalize(teacher)).sum_dim(1);
            cos.mean().neg().add_scalar(1.0)
        }
        DistillLoss::Mse => (student - teacher).powf_scalar(2.0).mean(),
    }
}

/// Mean over rows of the cosine between rows of `a` and `b` (row-major, `dim` wide, same
/// length; [`cosine_f64`]: a zero row has cosine 0). `None` when the lengths differ or hold no
/// row.
pub fn mean_cosine(a: &[f32], b: &[f32], dim: usize) -> Option<f64> {
    if dim == 0 || a.len() != b.len() || a.is_empty() || a.len() % dim != 0 {
        return None;
    }
    let total: f64 = a
        .chunks(dim)
        .zip(b.chunks(dim))
        .map(|(x, y)| cosine_f64(x, y))
        .sum();
    Some(total / (a.len() / dim) as f64)
}
