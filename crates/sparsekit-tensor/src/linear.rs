//! [`SparseLinear`] (trainable non-zero values over a fixed CSR pattern) and [`MaskedLinear`]
//! (dense weights times a fixed mask).
//!
//! Orientation: both layers compute `Y = X·Wᵀ + b` with `W` of shape `d_output × d_input` (one row
//! per output feature, as the CSR pattern and the mask are stored). burn's `Linear` stores
//! `weight = Wᵀ` (`d_input × d_output`); the conversions transpose.

use burn::config::Config;
use burn::module::{Module, Param, ParamId};
use burn::nn::{Initializer, Linear};
use burn::tensor::{Bool, Device, Int, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sparsekit_formats::{CsrPattern, Mask};

use crate::error::SparseError;
use crate::structure::Structure;
use crate::tensor::{spmm_t, SparseTensor};
use sparsekit_formats::sparsity::{check_nm_storage, keep_count};

/// Configuration of a [`SparseLinear`] layer.
#[derive(Config, Debug)]
pub struct SparseLinearConfig {
    /// Input features.
    pub d_input: usize,
    /// Output features.
    pub d_output: usize,
    /// Fraction of zero weights, in `[0, 1]`; nnz =
    /// [`keep_count`](sparsekit_formats::sparsity::keep_count)`(d_output · d_input, sparsity)`,
    /// placed uniformly at random.
    #[config(default = 0.9)]
    pub sparsity: f64,
    /// Whether the layer has a bias.
    #[config(default = true)]
    pub bias: bool,
    /// Initializer of the non-zero values and the bias (fan-in `d_input`, fan-out `d_output`,
    /// as for a dense `Linear`).
    #[config(
        default = "Initializer::KaimingUniform{gain:1.0/num_traits::Float::sqrt(3.0), fan_out_only:false}"
    )]
    pub init: Initializer,
    /// Seed of the random pattern; `None` draws one from the thread RNG.
    #[config(default = "None")]
    pub seed: Option<u64>,
}

/// How many of `total` units `sparsity` keeps (the vocabulary's [`keep_count`]), as this crate's
/// error.
fn kept(total: usize, sparsity: f64) -> Result<usize, SparseError> {
    keep_count(total, sparsity).map_err(|_| SparseError::Sparsity(sparsity))
}

/// The RNG of `seed` (or a random seed).
fn rng_of(seed: Option<u64>) -> StdRng {
    StdRng::seed_from_u64(seed.unwrap_or_else(|| rand::rng().random()))
}

/// A uniformly random `rows × cols` pattern with [`keep_count`]`(rows · cols, sparsity)` entries.
pub fn random_pattern(
    rows: usize,
    cols: usize,
    sparsity: f64,
    seed: Option<u64>,
) -> Result<CsrPattern, SparseError> {
    let total = rows.checked_mul(cols).ok_or(SparseError::TooLarge)?;
    let nnz = kept(total, sparsity)?;
    let mut picked = rand::seq::index::sample(&mut rng_of(seed), total, nnz).into_vec();
    picked.sort_unstable();
    let mut row_ptr = vec![0u32; rows + 1];
    let mut col_idx = Vec::with_capacity(picked.len());
    for p in picked {
        row_ptr[p / cols + 1] += 1;
        col_idx.push((p % cols) as u32);
    }
    for i in 0..rows {
        row_ptr[i + 1] += row_ptr[i];
    }
    Ok(CsrPattern::try_new(rows, cols, row_ptr, col_idx)?)
}

fn int_param(v: &[u32], device: &Device) -> Param<Tensor<1, Int>> {
    Param::initialized(ParamId::new(), crate::tensor::int_tensor(v, device))
}

/// `Y = X·Wᵀ + b` with a sparse `W` (`d_output × d_input`, CSR).
///
/// The only trainable parameter besides the bias is `values` (1-D, length nnz): gradients,
/// optimizer state and updates are proportional to nnz. The pattern (`row_ptr`, `col_idx`) is
/// stored as Int parameters, which burn never differentiates and never updates, but saves and
/// loads with the rest of the record.
#[derive(Module, Debug)]
pub struct SparseLinear {
    /// The non-zero values of `W`, in CSR order.
    pub values: Param<Tensor<1>>,
    /// CSR row pointers of `W` (`d_output + 1`), non-trainable.
    pub row_ptr: Param<Tensor<1, Int>>,
    /// CSR column indices of `W` (nnz), non-trainable.
    pub col_idx: Param<Tensor<1, Int>>,
    /// Bias (`d_output`).
    pub bias: Option<Param<Tensor<1>>>,
    /// Input features.
    pub d_input: usize,
    /// Output features.
    pub d_output: usize,
    /// Known structure of the pattern (N:M, blocks): selects the structured CPU kernels. Not
    /// saved in the record: a record loads into a layer built with the same structure.
    #[module(skip)]
    pub structure: Structure,
}

impl SparseLinearConfig {
    /// A layer with a random pattern (see [`random_pattern`]) and values drawn from `init`.
    ///
    /// Panics if `sparsity` is not in `[0, 1]` (use [`SparseLinearConfig::try_init`] to get an
    /// error instead).
    pub fn init(&self, device: &Device) -> SparseLinear {
        self.try_init(device)
            .unwrap_or_else(|e| panic!("SparseLinearConfig::init: {e}"))
    }

    /// As [`init`](Self::init), returning an error for an invalid configuration.
    pub fn try_init(&self, device: &Device) -> Result<SparseLinear, SparseError> {
        let pattern = random_pattern(self.d_output, self.d_input, self.sparsity, self.seed)?;
        Ok(self.init_with_pattern(&pattern, device))
    }

    /// A layer over a given `d_output × d_input` pattern, values drawn from `init`.
    ///
    /// Panics if the pattern's shape is not `d_output × d_input` (use
    /// [`try_init_with_pattern`](Self::try_init_with_pattern) to get an error instead).
    pub fn init_with_pattern(&self, pattern: &CsrPattern, device: &Device) -> SparseLinear {
        self.try_init_with_pattern(pattern, device)
            .unwrap_or_else(|e| panic!("SparseLinearConfig::init_with_pattern: {e}"))
    }

    /// A layer whose non-zeros are the `true` entries of `mask` (`d_output × d_input`), values
    /// drawn from `init`.
    ///
    /// ```
    /// use burn::tensor::Device;
    /// use sparsekit_formats::Mask;
    /// use sparsekit_tensor::SparseLinearConfig;
    /// let mut mask = Mask::new(2, 3)?; // d_output × d_input
    /// mask.set(0, 1, true);
    /// mask.set(1, 2, true);
    /// let layer = SparseLinearConfig::new(3, 2).init_with_mask(&mask, &Device::flex())?;
    /// assert_eq!(layer.nnz(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn init_with_mask(
        &self,
        mask: &Mask,
        device: &Device,
    ) -> Result<SparseLinear, SparseError> {
        self.try_init_with_pattern(&mask.to_csr_pattern()?, device)
    }

    /// As [`init_with_pattern`](Self::init_with_pattern), returning
    /// [`SparseError::Shape`] when the pattern is not `d_output × d_input`.
    pub fn try_init_with_pattern(
        &self,
        pattern: &CsrPattern,
        device: &Device,
    ) -> Result<SparseLinear, SparseError> {
        check_shape(pattern.shape(), (self.d_output, self.d_input))?;
        let values = self.init.init_with(
            [pattern.nnz()],
            Some(self.d_input),
            Some(self.d_output),
            device,
        );
        let bias = self.bias.then(|| {
            self.init.init_with(
                [self.d_output],
                Some(self.d_input),
                Some(self.d_output),
                device,
            )
        });
        Ok(SparseLinear {
            values,
            row_ptr: int_param(pattern.row_ptr(), device),
            col_idx: int_param(pattern.col_idx(), device),
            bias,
            d_input: self.d_input,
            d_output: self.d_output,
            structure: Structure::Unstructured,
        })
    }

    /// A layer with a random pattern of the given [`Structure`]: N:M keeps `n` random columns
    /// of every group of `m` (the configured `sparsity` is ignored: it is `1 − n/m`); blocks
    /// keep `round((1 − sparsity) · blocks)` random aligned `r × c` blocks; unstructured is
    /// [`try_init`](Self::try_init).
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use sparsekit_tensor::{SparseLinearConfig, Structure};
    /// let device = Device::flex();
    /// let layer = SparseLinearConfig::new(8, 4)
    ///     .with_seed(Some(1))
    ///     .init_with_structure(Structure::NM { n: 2, m: 4 }, &device)?;
    /// assert_eq!(layer.nnz(), 16);
    /// let y = layer.forward(Tensor::<2>::ones([3, 8], &device));
    /// assert_eq!(y.dims(), [3, 4]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn init_with_structure(
        &self,
        structure: Structure,
        device: &Device,
    ) -> Result<SparseLinear, SparseError> {
        let pattern = random_structured_pattern(
            self.d_output,
            self.d_input,
            structure,
            self.sparsity,
            self.seed,
        )?;
        self.try_init_with_pattern(&pattern, device)?
            .with_structure(structure)
    }
}

/// A random `rows × cols` pattern with the given [`Structure`] (see
/// [`SparseLinearConfig::init_with_structure`]): N:M keeps `n` random columns of every group
/// (N:M storage shapes only); blocks, rows and columns keep [`keep_count`] random whole units
/// (blocks need a divisible shape).
pub fn random_structured_pattern(
    rows: usize,
    cols: usize,
    structure: Structure,
    sparsity: f64,
    seed: Option<u64>,
) -> Result<CsrPattern, SparseError> {
    let structure_error = |e: sparsekit_formats::FormatError| SparseError::Structure(e.to_string());
    structure.validate().map_err(structure_error)?;
    let (r, c) = match structure {
        Structure::Unstructured => return random_pattern(rows, cols, sparsity, seed),
        Structure::NM { n, m } => {
            check_nm_storage(cols, n, m).map_err(structure_error)?;
            let mut rng = rng_of(seed);
            let mut row_ptr = vec![0u32; rows + 1];
            let mut col_idx = Vec::new();
            for i in 0..rows {
                for g in 0..cols / m {
                    let mut pick = rand::seq::index::sample(&mut rng, m, n).into_vec();
                    pick.sort_unstable();
                    col_idx.extend(pick.into_iter().map(|o| (g * m + o) as u32));
                }
                row_ptr[i + 1] = col_idx.len() as u32;
            }
            return finish(rows, cols, row_ptr, col_idx);
        }
        Structure::Block { rows: r, cols: c } => (r, c),
        // Whole rows are 1 × cols blocks, whole columns rows × 1 blocks.
        Structure::Rows => (1, cols.max(1)),
        Structure::Columns => (rows.max(1), 1),
    };
    if rows % r != 0 || cols % c != 0 {
        return Err(SparseError::Structure(format!(
            "shape {rows}×{cols} is not a multiple of the block shape {r}×{c}"
        )));
    }
    let (br, bc) = (rows / r, cols / c);
    let total = br * bc;
    let keep = kept(total, sparsity)?;
    let mut picked = rand::seq::index::sample(&mut rng_of(seed), total, keep).into_vec();
    picked.sort_unstable();
    let mut row_ptr = vec![0u32; rows + 1];
    let mut col_idx = Vec::new();
    let mut start = 0;
    for bi in 0..br {
        let end = start + picked[start..].partition_point(|&p| p / bc == bi);
        for i in bi * r..bi * r + r {
            for &p in &picked[start..end] {
                let j0 = (p % bc) * c;
                col_idx.extend((j0..j0 + c).map(|j| j as u32));
            }
            row_ptr[i + 1] = col_idx.len() as u32;
        }
        start = end;
    }
    finish(rows, cols, row_ptr, col_idx)
}

fn finish(
    rows: usize,
    cols: usize,
    row_ptr: Vec<u32>,
    col_idx: Vec<u32>,
) -> Result<CsrPattern, SparseError> {
    if col_idx.len() > i32::MAX as usize {
        return Err(SparseError::TooLarge);
    }
    Ok(CsrPattern::try_new(rows, cols, row_ptr, col_idx)?)
}

fn check_shape(got: (usize, usize), expected: (usize, usize)) -> Result<(), SparseError> {
    if got == expected {
        Ok(())
    } else {
        Err(SparseError::Shape {
            expected: [expected.0, expected.1],
            got: [got.0, got.1],
        })
    }
}

/// The `d_output × d_input` shape of a dense `Linear` (whose weight is stored `d_input × d_output`).
fn linear_shape(linear: &Linear) -> (usize, usize) {
    let [d_input, d_output] = linear.weight.dims();
    (d_output, d_input)
}

impl SparseLinear {
    /// From a sparse weight `W` (`d_output × d_input`) and an optional bias.
    pub fn from_sparse(weight: &SparseTensor, bias: Option<Tensor<1>>) -> Self {
        let [d_output, d_input] = weight.shape();
        SparseLinear {
            values: Param::from_tensor(weight.values().clone().detach()),
            row_ptr: Param::initialized(ParamId::new(), weight.row_ptr().clone()),
            col_idx: Param::initialized(ParamId::new(), weight.col_idx().clone()),
            bias: bias.map(|b| Param::from_tensor(b.detach())),
            d_input,
            d_output,
            structure: weight.structure(),
        }
    }

    /// Tags the layer's pattern with a [`Structure`] after checking it (see
    /// [`SparseTensor::with_structure`]); a 2:4 or block layer then runs the structured CPU
    /// kernels in its forward pass. An N:M pattern with fewer than `n` entries in some groups is
    /// padded with explicit zeros: the layer then has more (new) trainable values, so tag a layer
    /// before building its optimizer.
    pub fn with_structure(self, structure: Structure) -> Result<Self, SparseError> {
        let weight = self.weight().with_structure(structure)?;
        if weight.nnz() != self.nnz() {
            let bias = self.bias.as_ref().map(|b| b.val());
            return Ok(SparseLinear::from_sparse(&weight, bias));
        }
        Ok(SparseLinear { structure, ..self })
    }

    /// The entries of a dense `Linear` kept by `mask` (`d_output × d_input`, i.e. the shape of
    /// `W`, the transpose of burn's `Linear::weight`). The bias is copied.
    ///
    /// ```
    /// use burn::nn::LinearConfig;
    /// use burn::tensor::Device;
    /// use sparsekit_formats::Mask;
    /// use sparsekit_tensor::SparseLinear;
    /// let device = Device::flex();
    /// let dense = LinearConfig::new(4, 3).init(&device); // 4 inputs, 3 outputs
    /// let mut mask = Mask::new(3, 4)?;
    /// mask.set(2, 0, true);
    /// let sparse = SparseLinear::from_linear(&dense, &mask)?;
    /// assert_eq!(sparse.nnz(), 1);
    /// assert_eq!(sparse.mask(), mask);
    /// // A mask of the wrong shape is an error, not a panic.
    /// assert!(SparseLinear::from_linear(&dense, &Mask::new(4, 3)?).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_linear(linear: &Linear, mask: &Mask) -> Result<Self, SparseError> {
        check_shape(mask.shape(), linear_shape(linear))?;
        Self::from_linear_pattern(linear, &mask.to_csr_pattern()?)
    }

    /// The entries of a dense `Linear` at `pattern` (`d_output × d_input`).
    pub fn from_linear_pattern(linear: &Linear, pattern: &CsrPattern) -> Result<Self, SparseError> {
        check_shape(pattern.shape(), linear_shape(linear))?;
        let w = linear.weight.val().detach().transpose();
        let w = SparseTensor::from_dense_pattern(w, pattern)?;
        Ok(Self::from_sparse(&w, linear.bias.as_ref().map(|b| b.val())))
    }

    /// The sparse weight `W` (`d_output × d_input`); its values are the trainable parameter.
    pub fn weight(&self) -> SparseTensor {
        SparseTensor::from_parts_unchecked(
            self.row_ptr.val(),
            self.col_idx.val(),
            self.values.val(),
            [self.d_output, self.d_input],
        )
        .with_structure_unchecked(self.structure)
    }

    /// The pattern of `W`, read back to the host.
    pub fn pattern(&self) -> CsrPattern {
        self.weight().pattern()
    }

    /// The pattern of `W` as a bit mask (`d_output × d_input`), read back to the host.
    pub fn mask(&self) -> Mask {
        Mask::from_pattern(&self.pattern()).expect("a valid pattern always gives a mask")
    }

    /// Number of stored weights.
    pub fn nnz(&self) -> usize {
        self.values.lazy_shape()[0]
    }

    /// `Y = X·Wᵀ + b` over the last dimension of `input` (`[..., d_input]` → `[..., d_output]`).
    /// `Y` has the input's dtype whatever the values' dtype (F32, F16 or BF16; see
    /// [`crate::params::cast_params`] to cast a layer); the bias is cast to it when it differs.
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let dims = input.dims();
        assert_eq!(
            dims[D - 1],
            self.d_input,
            "SparseLinear: input's last dimension must be d_input"
        );
        let batch: usize = dims[..D - 1].iter().product();
        let x = input.reshape([batch, self.d_input]);
        let mut y = spmm_t(x, &self.weight());
        if let Some(b) = &self.bias {
            // `y` has the input's dtype (the dtype rule of `crate::backend`); the bias joins it.
            let dtype = y.dtype();
            y = y + crate::backend::float_as_tensor(b.val(), dtype).unsqueeze::<2>();
        }
        let mut out = dims;
        out[D - 1] = self.d_output;
        y.reshape(out)
    }

    /// The dense equivalent (`weight = Wᵀ`, zeros off the pattern).
    pub fn to_linear(&self) -> Linear {
        let w = self.weight().to_dense().detach().transpose();
        Linear {
            weight: Param::from_tensor(w),
            bias: self
                .bias
                .as_ref()
                .map(|b| Param::from_tensor(b.val().detach())),
        }
    }

    /// The dense-weight, fixed-mask equivalent.
    pub fn to_masked(&self) -> MaskedLinear {
        let weight = self.weight();
        let ones = SparseTensor::from_parts_unchecked(
            weight.row_ptr().clone(),
            weight.col_idx().clone(),
            Tensor::ones([weight.nnz()], &weight.device()),
            weight.shape(),
        );
        let mask = ones.to_dense().detach().greater_elem(0.5);
        MaskedLinear {
            weight: Param::from_tensor(weight.to_dense().detach()),
            mask: Param::initialized(ParamId::new(), mask),
            bias: self
                .bias
                .as_ref()
                .map(|b| Param::from_tensor(b.val().detach())),
        }
    }
}

/// `Y = X·(W ∘ M)ᵀ + b`: a dense weight `W` (`d_output × d_input`) times a fixed boolean mask
/// `M` (same shape). The gradient of `W` is zero off the mask, so optimizers that map zero
/// gradients to zero updates (SGD, Adam without weight decay) never move masked weights.
#[derive(Module, Debug)]
pub struct MaskedLinear {
    /// Dense weight `W`, `d_output × d_input`.
    pub weight: Param<Tensor<2>>,
    /// The mask (`true` = kept), non-trainable.
    pub mask: Param<Tensor<2, Bool>>,
    /// Bias (`d_output`).
    pub bias: Option<Param<Tensor<1>>>,
}

impl MaskedLinear {
    /// From a dense `Linear` and a mask (`d_output × d_input`) of the kept weights; the dense
    /// weights off the mask are zeroed.
    pub fn from_linear(linear: &Linear, mask: &Mask) -> Result<Self, SparseError> {
        SparseLinear::from_linear(linear, mask).map(|s| s.to_masked())
    }

    /// From a dense `Linear` and a pattern (`d_output × d_input`) of the kept weights.
    pub fn from_linear_pattern(linear: &Linear, pattern: &CsrPattern) -> Result<Self, SparseError> {
        SparseLinear::from_linear_pattern(linear, pattern).map(|s| s.to_masked())
    }

    /// The mask as a bit mask (`d_output × d_input`), read back to the host.
    pub fn mask(&self) -> Mask {
        Mask::from_pattern(&self.pattern()).expect("a valid pattern always gives a mask")
    }

    /// The effective weight `W ∘ M`.
    pub fn masked_weight(&self) -> Tensor<2> {
        let w = self.weight.val();
        w.clone() * self.mask.val().float()
    }

    /// `Y = X·(W ∘ M)ᵀ + b` over the last dimension of `input`.
    pub fn forward<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        let w = self.masked_weight();
        burn::tensor::module::linear(input, w.transpose(), self.bias.as_ref().map(|b| b.val()))
    }

    /// The pattern of the mask, read back to the host.
    pub fn pattern(&self) -> CsrPattern {
        let [m, k] = self.mask.val().dims();
        let host = self
            .mask
            .val()
            .into_data()
            .try_into_vec_as::<bool>()
            .expect("bool data");
        let mut row_ptr = vec![0u32];
        let mut col_idx = Vec::new();
        for i in 0..m {
            for j in 0..k {
                if host[i * k + j] {
                    col_idx.push(j as u32);
                }
            }
            row_ptr.push(col_idx.len() as u32);
        }
        CsrPattern::try_new(m, k, row_ptr, col_idx).expect("a mask always gives a valid pattern")
    }

    /// The sparse equivalent (values of `W` at the mask).
    pub fn to_sparse(&self) -> SparseLinear {
        let w = SparseTensor::from_dense_pattern(self.weight.val().detach(), &self.pattern())
            .expect("mask and weight have the same shape");
        SparseLinear::from_sparse(&w, self.bias.as_ref().map(|b| b.val()))
    }

    /// The dense equivalent (`weight = (W ∘ M)ᵀ`).
    pub fn to_linear(&self) -> Linear {
        Linear {
            weight: Param::from_tensor(self.masked_weight().detach().transpose()),
            bias: self
                .bias
                .as_ref()
                .map(|b| Param::from_tensor(b.val().detach())),
        }
    }
}
