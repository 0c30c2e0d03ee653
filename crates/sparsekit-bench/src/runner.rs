//! Runs the cases of the matrix: the sparsekit kernel and burn's dense baseline on the same
//! inputs, their timed samples interleaved, one [`Row`] per (case, device).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use burn::tensor::{DType, Device, DeviceKind, Tensor, TensorData};
use half::{bf16, f16};
use sparsekit_formats::{Bsr, Csr, Scalar, NM};
use sparsekit_kernels::{Element, MatMut, MatRef};

use crate::input;
use crate::matrix::{Case, Format, Precision, Suite};
use crate::row::{Line, Row};
use crate::timing::{measure_interleaved, Stats, Timing};

/// A burn device that the dense baselines run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenseDevice {
    Flex,
    NdArray,
}

impl DenseDevice {
    pub fn name(self) -> &'static str {
        match self {
            DenseDevice::Flex => "flex",
            DenseDevice::NdArray => "ndarray",
        }
    }

    #[allow(deprecated)] // burn-ndarray is deprecated upstream but still supported by sparsekit
    pub(crate) fn device(self) -> Device {
        match self {
            DenseDevice::Flex => Device::flex(),
            DenseDevice::NdArray => Device::ndarray(),
        }
    }
}

/// A wgpu adapter that the CSR suites (spmm, spmm_t, sddmm) run on: the sparsekit-tensor Cube
/// kernels against burn's dense `matmul` on the same device.
#[derive(Clone, Debug)]
pub struct GpuDevice {
    /// burn's selector for this adapter (kind + ordinal within its kind).
    pub kind: DeviceKind,
    /// The adapter name (the row's device is `wgpu:<name>`).
    pub name: String,
    /// A software rasterizer (lavapipe, llvmpipe, ...): correctness only.
    pub software: bool,
}

impl GpuDevice {
    pub fn label(&self) -> String {
        format!("wgpu:{}", self.name)
    }
    pub(crate) fn device(&self) -> Device {
        Device::wgpu(self.kind.clone())
    }
}

/// Every wgpu adapter the machine probe finds, with burn's selector for it.
fn wgpu_adapters() -> Vec<GpuDevice> {
    let mut seen: Vec<(String, usize)> = Vec::new();
    crate::machine::adapters(Duration::from_secs(20))
        .into_iter()
        .map(|a| {
            // Ordinal of this adapter among the adapters of its kind.
            let ordinal = seen.iter().filter(|(k, _)| *k == a.kind).count();
            seen.push((a.kind.clone(), ordinal));
            let kind = match a.kind.as_str() {
                "discrete_gpu" => DeviceKind::DiscreteGpu(ordinal),
                "integrated_gpu" => DeviceKind::IntegratedGpu(ordinal),
                "virtual_gpu" => DeviceKind::VirtualGpu(ordinal),
                "cpu" => DeviceKind::Cpu,
                _ => DeviceKind::DefaultDevice,
            };
            GpuDevice {
                kind,
                software: a.is_software(),
                name: a.name,
            }
        })
        .collect()
}

/// Parses `--devices`: returns the CPU devices to pair with, the wgpu adapters (`wgpu`: every
/// adapter found), plus notes for devices that have no rows.
pub fn parse_devices(list: &str) -> Result<(Vec<DenseDevice>, Vec<GpuDevice>, Vec<String>)> {
    let mut devices = Vec::new();
    let mut gpus = Vec::new();
    let mut notes = Vec::new();
    for d in list.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        match d {
            "flex" => devices.push(DenseDevice::Flex),
            "ndarray" => devices.push(DenseDevice::NdArray),
            "wgpu" => {
                let found = wgpu_adapters();
                if found.is_empty() {
                    notes.push("device wgpu: no wgpu adapter found; no rows".into());
                }
                for g in &found {
                    notes.push(format!(
                        "device {}: every suite (no heap-memory columns for its train rows){}",
                        g.label(),
                        if g.software {
                            "; a software adapter: its rows prove correctness, not speed"
                        } else {
                            ""
                        }
                    ));
                }
                gpus.extend(found);
            }
            d if d.starts_with("cuda") => notes.push(format!(
                "device {d}: the runner has no CUDA device yet; no rows"
            )),
            other => bail!("unknown device `{other}` (known: flex, ndarray, wgpu)"),
        }
    }
    devices.dedup();
    Ok((devices, gpus, notes))
}

#[derive(Clone, Debug)]
pub struct RunConfig {
    pub timing: Timing,
    pub devices: Vec<DenseDevice>,
    /// wgpu adapters for the CSR suites (not the train suite).
    pub gpus: Vec<GpuDevice>,
    pub seed: u64,
}

impl RunConfig {
    pub fn timing_for(samples: usize) -> Timing {
        Timing {
            samples,
            warmup_calls: 2.min(samples),
            warmup_time: Duration::from_millis(200),
        }
    }
}

/// The sparse operand of a case in its storage format.
enum Sparse {
    Csr(Csr<f32>),
    Bsr(Bsr<f32>),
    Nm(NM<f32>),
}

impl Sparse {
    fn to_dense(&self) -> Vec<f32> {
        match self {
            Sparse::Csr(a) => a.to_dense(),
            Sparse::Bsr(a) => a.to_dense(),
            Sparse::Nm(a) => a.to_dense(),
        }
    }
    /// Stored values (BSR: every entry of every stored block).
    fn nnz(&self) -> usize {
        match self {
            Sparse::Csr(a) => a.nnz(),
            Sparse::Bsr(a) => a.values().len(),
            Sparse::Nm(a) => a.values().len(),
        }
    }
}

/// Host-side inputs of one case.
struct Inputs {
    /// The sparse operand: A (spmm), W (spmm_t), or the pattern carrier of dW (sddmm).
    a: Sparse,
    /// spmm: X k×n. spmm_t / sddmm: X n×k.
    x: Vec<f32>,
    /// sddmm: dY n×m.
    dy: Vec<f32>,
    /// Half-precision cases: `a` and `x` rounded to the case's type (what the kernel reads; the
    /// dense baseline gets the same f32 data, rounded by burn to the same type).
    half: Option<HalfInputs>,
}

/// The operands of a half-precision spmm case.
enum HalfInputs {
    Bf16(HalfSparse<bf16>, Vec<bf16>),
    F16(HalfSparse<f16>, Vec<f16>),
}

/// The sparse operand of a half-precision case (csr and bsr are timed in half precision).
enum HalfSparse<H: Scalar> {
    Csr(Csr<H>),
    Bsr(Bsr<H>),
}

impl HalfInputs {
    fn new(a: &Sparse, x: &[f32], dtype: Precision) -> Option<Self> {
        fn conv<H: Scalar>(a: &Sparse, x: &[f32]) -> Option<(HalfSparse<H>, Vec<H>)> {
            let a = match a {
                Sparse::Csr(a) => HalfSparse::Csr(a.cast::<H>()),
                Sparse::Bsr(a) => HalfSparse::Bsr(a.cast::<H>()),
                Sparse::Nm(_) => return None,
            };
            Some((a, x.iter().map(|&v| H::from_f32(v)).collect()))
        }
        match dtype {
            Precision::F32 => None,
            Precision::Bf16 => conv::<bf16>(a, x).map(|(a, x)| HalfInputs::Bf16(a, x)),
            Precision::F16 => conv::<f16>(a, x).map(|(a, x)| HalfInputs::F16(a, x)),
        }
    }
}

/// The output buffer of a case: f32, or the half type of a half-precision case (the kernels
/// accumulate in f32 and round once).
enum OutBuf {
    F32(Vec<f32>),
    Bf16(Vec<bf16>),
    F16(Vec<f16>),
}

impl OutBuf {
    fn new(dtype: Precision, len: usize) -> Self {
        match dtype {
            Precision::F32 => OutBuf::F32(vec![0.0; len]),
            Precision::Bf16 => OutBuf::Bf16(vec![bf16::ZERO; len]),
            Precision::F16 => OutBuf::F16(vec![f16::ZERO; len]),
        }
    }
    fn like(&self) -> Self {
        match self {
            OutBuf::F32(v) => OutBuf::F32(vec![0.0; v.len()]),
            OutBuf::Bf16(v) => OutBuf::Bf16(vec![bf16::ZERO; v.len()]),
            OutBuf::F16(v) => OutBuf::F16(vec![f16::ZERO; v.len()]),
        }
    }
    fn to_f32(&self) -> Vec<f32> {
        match self {
            OutBuf::F32(v) => v.clone(),
            OutBuf::Bf16(v) => v.iter().map(|h| h.to_f32()).collect(),
            OutBuf::F16(v) => v.iter().map(|h| h.to_f32()).collect(),
        }
    }
}

fn make_inputs(case: &Case, seed: u64) -> Inputs {
    let s = case.shape;
    // A distinct, repeatable stream per case.
    let fmix = match case.format {
        Format::Csr => 0u64,
        Format::Bsr(r, c) => 0x1000 + (r * 64 + c) as u64,
        Format::Nm(n, m) => 0x2000 + (n * 64 + m) as u64,
    };
    let mix = ((s.m as u64) << 40)
        ^ ((s.k as u64) << 20)
        ^ (s.n as u64)
        ^ (((case.sparsity * 1e6) as u64) << 7)
        ^ fmix.rotate_left(29);
    let mut rng = input::rng(seed ^ mix.rotate_left(case.suite as u32 * 11));
    let a = match case.format {
        Format::Csr => {
            let nnz = input::target_nnz(s.m, s.k, case.sparsity);
            Sparse::Csr(input::random_csr(&mut rng, s.m, s.k, nnz))
        }
        Format::Bsr(r, c) => {
            Sparse::Bsr(input::random_bsr(&mut rng, s.m, s.k, (r, c), case.sparsity))
        }
        Format::Nm(n, m) => Sparse::Nm(input::random_nm(&mut rng, s.m, s.k, n, m)),
    };
    let x = input::normal(&mut rng, s.k * s.n);
    let dy = if case.suite == Suite::Sddmm {
        input::normal(&mut rng, s.n * s.m)
    } else {
        Vec::new()
    };
    let half = HalfInputs::new(&a, &x, case.dtype);
    Inputs { a, x, dy, half }
}

/// `Y = A·X` in half precision (values and `X` of type `H`, output `H`).
fn half_spmm<H: Scalar + Element>(
    case: &Case,
    a: &HalfSparse<H>,
    x: &[H],
    out: &mut [H],
) -> Result<(), sparsekit_kernels::KernelError> {
    let s = case.shape;
    let (x, y) = (MatRef::new(x, s.k, s.n)?, MatMut::new(out, s.m, s.n)?);
    match a {
        HalfSparse::Csr(a) => sparsekit_kernels::spmm(a.view(), x, y),
        HalfSparse::Bsr(a) => sparsekit_kernels::bsr_spmm(a.view(), x, y),
    }
}

/// The sparse kernel of `case` on `inp`, writing into `out`.
fn sparse_call(case: &Case, inp: &Inputs, out: &mut OutBuf) -> Result<()> {
    let s = case.shape;
    let what = || {
        format!(
            "{} {} {}",
            case.suite,
            case.format.name(),
            case.dtype.name()
        )
    };
    let out = match (out, &inp.half) {
        (OutBuf::F32(out), None) => out,
        (OutBuf::Bf16(out), Some(HalfInputs::Bf16(a, x))) if case.suite == Suite::Spmm => {
            return half_spmm(case, a, x, out).map_err(|e| anyhow!("{}: {e}", what()));
        }
        (OutBuf::F16(out), Some(HalfInputs::F16(a, x))) if case.suite == Suite::Spmm => {
            return half_spmm(case, a, x, out).map_err(|e| anyhow!("{}: {e}", what()));
        }
        _ => bail!(
            "{}: half precision is wired into the runner for spmm csr / bsr only",
            what()
        ),
    };
    let r = match (case.suite, &inp.a) {
        (Suite::Spmm, Sparse::Csr(a)) => sparsekit_kernels::spmm(
            a.view(),
            MatRef::new(&inp.x, s.k, s.n)?,
            MatMut::new(out, s.m, s.n)?,
        ),
        (Suite::Spmm, Sparse::Bsr(a)) => sparsekit_kernels::bsr_spmm(
            a.view(),
            MatRef::new(&inp.x, s.k, s.n)?,
            MatMut::new(out, s.m, s.n)?,
        ),
        (Suite::Spmm, Sparse::Nm(a)) => sparsekit_kernels::nm_spmm(
            a.view(),
            MatRef::new(&inp.x, s.k, s.n)?,
            MatMut::new(out, s.m, s.n)?,
        ),
        (Suite::SpmmT, Sparse::Csr(a)) => sparsekit_kernels::spmm_t(
            MatRef::new(&inp.x, s.n, s.k)?,
            a.view(),
            MatMut::new(out, s.n, s.m)?,
        ),
        (Suite::SpmmT, Sparse::Bsr(a)) => sparsekit_kernels::bsr_spmm_t(
            MatRef::new(&inp.x, s.n, s.k)?,
            a.view(),
            None,
            MatMut::new(out, s.n, s.m)?,
        ),
        (Suite::SpmmT, Sparse::Nm(a)) => sparsekit_kernels::nm_spmm_t(
            MatRef::new(&inp.x, s.n, s.k)?,
            a.view(),
            None,
            MatMut::new(out, s.n, s.m)?,
        ),
        (Suite::Sddmm, Sparse::Csr(a)) => sparsekit_kernels::sddmm_linear(
            MatRef::new(&inp.dy, s.n, s.m)?,
            MatRef::new(&inp.x, s.n, s.k)?,
            a.pattern().view(),
            out,
        ),
        (Suite::Sddmm, _) => bail!("sddmm: only csr is wired into the runner"),
    };
    r.map_err(|e| anyhow!("{} {}: {e}", case.suite, case.format.name()))
}

fn sparse_out_len(case: &Case, inp: &Inputs) -> usize {
    let s = case.shape;
    match case.suite {
        Suite::Spmm | Suite::SpmmT => s.m * s.n,
        Suite::Sddmm => inp.a.nnz(),
    }
}

fn tensor(data: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    tensor_as(data, rows, cols, device, DType::F32)
}

/// [`tensor`] in `dtype` (burn rounds the f32 data to nearest even, as the half inputs were).
fn tensor_as(data: Vec<f32>, rows: usize, cols: usize, device: &Device, dtype: DType) -> Tensor<2> {
    Tensor::<2>::from_data(TensorData::new(data, [rows, cols]), (device, dtype))
}

/// The burn dtype of a case's dense baseline.
fn burn_dtype(p: Precision) -> DType {
    match p {
        Precision::F32 => DType::F32,
        Precision::Bf16 => DType::BF16,
        Precision::F16 => DType::F16,
    }
}

/// The dense tensors of the baseline, created once outside the timed loop.
struct DenseOperands {
    lhs: Tensor<2>,
    rhs: Tensor<2>,
}

/// `rows × cols` row-major `data`, transposed (cols × rows, row-major).
fn transposed(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; data.len()];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = data[i * cols + j];
        }
    }
    t
}

/// The dense product `lhs · rhs` of the baseline. Both operands are contiguous in the layout
/// burn's `matmul` takes without a transpose (Wᵀ and dYᵀ are materialized here, before timing,
/// as a dense `Linear` stores its weight), so the baseline is burn's best case.
fn dense_operands(case: &Case, inp: &Inputs, device: &Device) -> DenseOperands {
    let s = case.shape;
    let (lhs, rhs) = match case.suite {
        // Y = A·X: A m×k (the sparse matrix densified), X k×n.
        Suite::Spmm => {
            let dt = burn_dtype(case.dtype);
            (
                tensor_as(inp.a.to_dense(), s.m, s.k, device, dt),
                tensor_as(inp.x.clone(), s.k, s.n, device, dt),
            )
        }
        // Y = X·Wᵀ: X n×k, Wᵀ k×m.
        Suite::SpmmT => (
            tensor(inp.x.clone(), s.n, s.k, device),
            tensor(transposed(&inp.a.to_dense(), s.m, s.k), s.k, s.m, device),
        ),
        // dW = dYᵀ·X: dYᵀ m×n, X n×k (the dense weight gradient of a linear layer).
        Suite::Sddmm => (
            tensor(transposed(&inp.dy, s.n, s.m), s.m, s.n, device),
            tensor(inp.x.clone(), s.n, s.k, device),
        ),
    };
    DenseOperands { lhs, rhs }
}

fn dense_call(ops: &DenseOperands) -> Tensor<2> {
    ops.lhs.clone().matmul(ops.rhs.clone())
}

fn sync(device: &Device) -> Result<()> {
    device
        .sync()
        .map_err(|e| anyhow!("device sync failed: {e}"))
}

/// `max |sparse - dense| / max(max |dense|, tiny)` over the entries the sparse op computes.
fn compare(case: &Case, inp: &Inputs, sparse: &[f32], dense: &[f32]) -> f64 {
    let scale = dense
        .iter()
        .fold(0f64, |a, v| a.max(v.abs() as f64))
        .max(f64::MIN_POSITIVE);
    let err = match case.suite {
        Suite::Spmm | Suite::SpmmT => sparse
            .iter()
            .zip(dense)
            .fold(0f64, |a, (s, d)| a.max((*s as f64 - *d as f64).abs())),
        Suite::Sddmm => {
            let k = case.shape.k;
            let Sparse::Csr(a) = &inp.a else {
                return f64::NAN;
            };
            let mut e = 0f64;
            for i in 0..case.shape.m {
                let (cols, _) = a.row(i);
                let start = a.row_ptr()[i] as usize;
                for (p, &j) in cols.iter().enumerate() {
                    e = e.max((sparse[start + p] as f64 - dense[i * k + j as usize] as f64).abs());
                }
            }
            e
        }
    };
    err / scale
}

/// Times the sparse kernel and the dense baseline, samples interleaved; returns their stats and
/// both results (read back once, before timing) for the correctness check.
fn time_pair(
    case: &Case,
    inp: &Inputs,
    out: &mut OutBuf,
    ops: &DenseOperands,
    device: &Device,
    timing: &Timing,
) -> Result<(Stats, Stats, Vec<f32>)> {
    sparse_call(case, inp, out)?; // surface shape errors before timing
    let dense_y = dense_call(ops)
        .into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| anyhow!("dense result readback: {e:?}"))?;
    sync(device)?;
    let mut scratch = out.like();
    let (sparse, dense) = measure_interleaved(
        timing,
        || sparse_call(case, inp, &mut scratch).expect("kernel accepted these inputs a moment ago"),
        || {
            let y = dense_call(ops);
            // Synchronize while `y` is alive, so lazy backends cannot skip the work.
            sync(device).expect("device sync");
            drop(std::hint::black_box(y));
        },
    );
    Ok((sparse, dense, dense_y))
}

/// Measures `case` on every CPU device of `cfg`, calling `emit` with each row (or a note when
/// the case fails: a kernel error or panic never aborts the whole run).
pub fn run_case_cpu(case: &Case, cfg: &RunConfig, emit: &mut dyn FnMut(Line)) {
    let inp = make_inputs(case, cfg.seed);
    let mut out = OutBuf::new(case.dtype, sparse_out_len(case, &inp));
    for &dev in &cfg.devices {
        if case.dtype != Precision::F32 && dev == DenseDevice::NdArray {
            emit(Line::Note {
                note: format!(
                    "{} {} {} s={} {} on ndarray: no rows (burn's ndarray backend has no f16 / \
                     bf16 tensors for the dense baseline)",
                    case.suite,
                    case.format.name(),
                    case.shape,
                    case.sparsity,
                    case.dtype.name()
                ),
            });
            continue;
        }
        let result = catch_unwind(AssertUnwindSafe(|| {
            measure_pair(case, &inp, &mut out, dev, cfg)
        }));
        let line = match result {
            Ok(Ok(row)) => Line::Row(Box::new(row)),
            Ok(Err(e)) => Line::Note {
                note: format!(
                    "{} {} {} s={} on {}: failed: {e:#}",
                    case.suite,
                    case.format.name(),
                    case.shape,
                    case.sparsity,
                    dev.name()
                ),
            },
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                Line::Note {
                    note: format!(
                        "{} {} {} s={} on {}: panicked: {msg}",
                        case.suite,
                        case.format.name(),
                        case.shape,
                        case.sparsity,
                        dev.name()
                    ),
                }
            }
        };
        emit(line);
    }
}

/// Measures `case` on every wgpu adapter of `cfg` (as [`run_case_cpu`]). Run these after every
/// CPU row: once a software adapter (lavapipe) has run, its worker threads keep competing for
/// the cores and the CPU rows measured after it come out up to 1.5× slower.
pub fn run_case_gpu(case: &Case, cfg: &RunConfig, emit: &mut dyn FnMut(Line)) {
    if cfg.gpus.is_empty() {
        return;
    }
    if case.dtype != Precision::F32 {
        emit(Line::Note {
            note: format!(
                "{} {} {} s={} {}: half precision is timed on the CPU kernels only (the GPU ops \
                 convert half operands to f32 at the edge)",
                case.suite,
                case.format.name(),
                case.shape,
                case.sparsity,
                case.dtype.name()
            ),
        });
        return;
    }
    let inp = make_inputs(case, cfg.seed);
    for gpu in &cfg.gpus {
        let what = || {
            format!(
                "{} {} {} s={} on {}",
                case.suite,
                case.format.name(),
                case.shape,
                case.sparsity,
                gpu.label()
            )
        };
        let result = catch_unwind(AssertUnwindSafe(|| measure_gpu(case, &inp, gpu, cfg)));
        emit(match result {
            Ok(Ok(row)) => Line::Row(Box::new(row)),
            Ok(Err(e)) => Line::Note {
                note: format!("{}: {e:#}", what()),
            },
            Err(p) => Line::Note {
                note: format!(
                    "{}: panicked: {}",
                    what(),
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default()
                ),
            },
        });
    }
}

/// The sparsekit-tensor op of `case` on a wgpu device, and the dense baseline on
/// the same device; both synchronized before the clock is read.
fn measure_gpu(case: &Case, inp: &Inputs, gpu: &GpuDevice, cfg: &RunConfig) -> Result<Row> {
    use sparsekit_tensor::{sddmm, spmm, spmm_t, SparseTensor};
    let device = gpu.device();
    let s = case.shape;
    // BSR and N:M upload as tagged CSR: the Cube backend runs its block kernel on BSR and the
    // (balanced) CSR row split on N:M.
    let w = match &inp.a {
        Sparse::Csr(a) => SparseTensor::from_csr(a, &device),
        Sparse::Bsr(b) => SparseTensor::from_bsr(b, &device),
        Sparse::Nm(a) => SparseTensor::from_nm(a, &device),
    }
    .map_err(|e| anyhow!("upload: {e}"))?;
    let ops = dense_operands(case, inp, &device);
    let (x, dy) = match case.suite {
        Suite::Spmm => (tensor(inp.x.clone(), s.k, s.n, &device), None),
        Suite::SpmmT => (tensor(inp.x.clone(), s.n, s.k, &device), None),
        Suite::Sddmm => (
            tensor(inp.x.clone(), s.n, s.k, &device),
            Some(tensor(inp.dy.clone(), s.n, s.m, &device)),
        ),
    };
    // The sparse op: Y (spmm, spmm_t) or the nnz values of dW = dYᵀ·X at W's pattern (sddmm,
    // on transposed views: no copies).
    let sparse = || -> Tensor<1> {
        match case.suite {
            Suite::Spmm => spmm(&w, x.clone()).reshape([s.m * s.n]),
            Suite::SpmmT => spmm_t(x.clone(), &w).reshape([s.n * s.m]),
            Suite::Sddmm => sddmm(
                dy.clone().expect("sddmm has dY").transpose(),
                x.clone().transpose(),
                &w,
            )
            .values()
            .clone(),
        }
    };
    sync(&device).context("uploading the operands")?;
    let sparse_y = sparse()
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow!("sparse result readback: {e:?}"))?;
    let dense_y = dense_call(&ops)
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow!("dense result readback: {e:?}"))?;
    let max_rel_err = compare(case, inp, &sparse_y, &dense_y);
    let (sp, de) = measure_interleaved(
        &cfg.timing,
        || {
            let y = sparse();
            sync(&device).expect("device sync");
            drop(std::hint::black_box(y));
        },
        || {
            let y = dense_call(&ops);
            sync(&device).expect("device sync");
            drop(std::hint::black_box(y));
        },
    );
    let nnz = inp.a.nnz();
    Ok(Row {
        suite: case.suite.name().into(),
        op: case.suite.op().into(),
        format: case.format.name().into(),
        dtype: "f32".into(),
        device: gpu.label(),
        shape: s,
        sparsity: case.sparsity,
        nnz,
        samples: sp.samples,
        median_s: sp.median_s,
        min_s: sp.min_s,
        max_s: sp.max_s,
        baseline: "dense_matmul".into(),
        baseline_median_s: de.median_s,
        speedup_vs_dense: de.median_s / sp.median_s,
        gflops_effective: 2.0 * nnz as f64 * s.n as f64 / sp.median_s / 1e9,
        software_adapter: Some(gpu.software),
        max_rel_err: Some(max_rel_err),
        extra: Default::default(),
    })
}

fn measure_pair(
    case: &Case,
    inp: &Inputs,
    out: &mut OutBuf,
    dev: DenseDevice,
    cfg: &RunConfig,
) -> Result<Row> {
    let device = dev.device();
    let ops = dense_operands(case, inp, &device);
    sync(&device).context("creating the dense operands")?;
    let (sparse, dense, dense_y) = time_pair(case, inp, out, &ops, &device, &cfg.timing)?;
    let max_rel_err = compare(case, inp, &out.to_f32(), &dense_y);
    let nnz = inp.a.nnz();
    let n = case.shape.n;
    Ok(Row {
        suite: case.suite.name().into(),
        op: case.suite.op().into(),
        format: case.format.name().into(),
        dtype: case.dtype.name().into(),
        device: dev.name().into(),
        shape: case.shape,
        sparsity: case.sparsity,
        nnz,
        samples: sparse.samples,
        median_s: sparse.median_s,
        min_s: sparse.min_s,
        max_s: sparse.max_s,
        baseline: "dense_matmul".into(),
        baseline_median_s: dense.median_s,
        speedup_vs_dense: dense.median_s / sparse.median_s,
        gflops_effective: 2.0 * nnz as f64 * n as f64 / sparse.median_s / 1e9,
        software_adapter: None,
        max_rel_err: Some(max_rel_err),
        extra: Default::default(),
    })
}
