//! Groups of a parameter (seen as a matrix) for group lasso and group soft thresholding.

use burn::config::Config;
use burn::tensor::{Tensor, TensorData};

use crate::error::{RegError, Result as Res};

/// How the entries of a parameter, seen as the matrix `[dims[0], product of the other dims]`
/// (see [`ParamEntry`](crate::ParamEntry)), are grouped.
///
/// For burn's `Linear` (weight `[d_input, d_output]`), [`Groups::Columns`] makes one group per
/// **output neuron** (all its incoming weights) and [`Groups::Rows`] one group per input feature.
#[derive(Config, Debug, PartialEq)]
pub enum Groups {
    /// One group per row.
    Rows,
    /// One group per column.
    Columns,
    /// Non-overlapping `rows × cols` tiles; the shape must be a multiple of the tile.
    Blocks {
        /// Tile height.
        rows: usize,
        /// Tile width.
        cols: usize,
    },
    /// Arbitrary groups of flat (row-major) indices into the matrix. Entries in no group are not
    /// penalized. Penalties allow overlapping groups; proximal operators need disjoint ones.
    Custom {
        /// The groups; none may be empty.
        groups: Vec<Vec<usize>>,
    },
}

/// The per-group multipliers `c_g` of `Σ_g c_g ‖w_g‖₂`.
#[derive(Config, Debug, PartialEq)]
pub enum GroupWeights {
    /// `c_g = √|g|` (Yuan & Lin 2006), the default.
    SqrtSize,
    /// `c_g = 1`.
    Uniform,
    /// Given multipliers, one per group (≥ 0).
    Custom {
        /// One weight per group, in the groups' order.
        weights: Vec<f64>,
    },
}

/// Group structure resolved for one parameter shape.
pub(crate) struct Resolved {
    pub n_groups: usize,
    pub sizes: Vec<usize>,
}

fn bad(path: &str, shape: [usize; 2], reason: String) -> RegError {
    RegError::Groups {
        path: path.to_string(),
        shape,
        reason,
    }
}

impl Groups {
    /// Checks that the groups fit a parameter of 2-D shape `shape` (and, with `disjoint`, that
    /// custom groups do not overlap).
    pub(crate) fn resolve(&self, path: &str, shape: [usize; 2], disjoint: bool) -> Res<Resolved> {
        let [r, c] = shape;
        Ok(match self {
            Groups::Rows => Resolved {
                n_groups: r,
                sizes: vec![c; r],
            },
            Groups::Columns => Resolved {
                n_groups: c,
                sizes: vec![r; c],
            },
            Groups::Blocks { rows, cols } => {
                if *rows == 0 || *cols == 0 || r % rows != 0 || c % cols != 0 {
                    return Err(bad(
                        path,
                        shape,
                        format!("{rows} × {cols} blocks do not tile the matrix"),
                    ));
                }
                let g = (r / rows) * (c / cols);
                Resolved {
                    n_groups: g,
                    sizes: vec![rows * cols; g],
                }
            }
            Groups::Custom { groups } => {
                let n = r * c;
                let mut seen = vec![false; n];
                for (k, g) in groups.iter().enumerate() {
                    if g.is_empty() {
                        return Err(bad(path, shape, format!("group {k} is empty")));
                    }
                    for &i in g {
                        if i >= n {
                            return Err(bad(path, shape, format!("group {k} has index {i} ≥ {n}")));
                        }
                        if disjoint && seen[i] {
                            return Err(bad(
                                path,
                                shape,
                                format!("index {i} is in two groups (prox needs disjoint groups)"),
                            ));
                        }
                        seen[i] = true;
                    }
                }
                Resolved {
                    n_groups: groups.len(),
                    sizes: groups.iter().map(Vec::len).collect(),
                }
            }
        })
    }

    /// One-hot `[r·c, g]` membership matrix of custom groups.
    fn membership(groups: &[Vec<usize>], n: usize, like: &Tensor<2>) -> Tensor<2> {
        let g = groups.len();
        let mut m = vec![0.0f32; n * g];
        for (k, grp) in groups.iter().enumerate() {
            for &i in grp {
                m[i * g + k] = 1.0;
            }
        }
        Tensor::from_data(TensorData::new(m, [n, g]), &like.device())
    }

    /// `‖w_g‖₂²` for every group, `[g]` (differentiable). Call [`resolve`](Self::resolve) first.
    pub(crate) fn sq_norms(&self, w: &Tensor<2>, res: &Resolved) -> Tensor<1> {
        let [r, c] = w.dims();
        let sq = w.clone().square();
        match self {
            Groups::Rows => sq.sum_dim(1).reshape([r]),
            Groups::Columns => sq.sum_dim(0).reshape([c]),
            Groups::Blocks { rows, cols } => sq
                .reshape([r / rows, *rows, c / cols, *cols])
                .sum_dim(3)
                .sum_dim(1)
                .reshape([res.n_groups]),
            Groups::Custom { groups } => sq
                .reshape([1, r * c])
                .matmul(Self::membership(groups, r * c, w))
                .reshape([res.n_groups]),
        }
    }

    /// `w` with every entry of group g multiplied by `factor[g]` (entries in no group × 1).
    /// Custom groups must be disjoint.
    pub(crate) fn scale(&self, w: Tensor<2>, factor: Tensor<1>, res: &Resolved) -> Tensor<2> {
        let [r, c] = w.dims();
        match self {
            Groups::Rows => w * factor.reshape([r, 1]),
            Groups::Columns => w * factor.reshape([1, c]),
            Groups::Blocks { rows, cols } => {
                let (br, bc) = (r / rows, c / cols);
                (w.reshape([br, *rows, bc, *cols]) * factor.reshape([br, 1, bc, 1])).reshape([r, c])
            }
            Groups::Custom { groups } => {
                let m = Self::membership(groups, r * c, &w);
                let per = (factor.reshape([1, res.n_groups]) - 1.0).matmul(m.transpose()) + 1.0;
                w * per.reshape([r, c])
            }
        }
    }
}

impl GroupWeights {
    pub(crate) fn validate(&self) -> Res<()> {
        if let GroupWeights::Custom { weights } = self {
            for &w in weights {
                crate::error::check("group weight", w, w >= 0.0, "≥ 0 and finite")?;
            }
        }
        Ok(())
    }

    /// The multipliers `[g]` on `like`'s device.
    pub(crate) fn tensor(
        &self,
        path: &str,
        shape: [usize; 2],
        res: &Resolved,
        like: &Tensor<2>,
    ) -> Res<Tensor<1>> {
        let v: Vec<f32> = match self {
            GroupWeights::SqrtSize => res.sizes.iter().map(|&s| (s as f32).sqrt()).collect(),
            GroupWeights::Uniform => vec![1.0; res.n_groups],
            GroupWeights::Custom { weights } => {
                if weights.len() != res.n_groups {
                    return Err(bad(
                        path,
                        shape,
                        format!(
                            "{} group weights for {} groups",
                            weights.len(),
                            res.n_groups
                        ),
                    ));
                }
                weights.iter().map(|&w| w as f32).collect()
            }
        };
        let n = v.len();
        Ok(Tensor::from_data(TensorData::new(v, [n]), &like.device()))
    }
}
