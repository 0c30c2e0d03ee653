//! The SAELens and sparsify formats against the real packages (`sae-lens` 6.54.12,
//! `eai-sparsify` 1.3.3, pinned in scripts/python-requirements.txt) through
//! scripts/sae_format_check.py:
//!
//! - Rust writes (every architecture, several conventions) → the package loads, encodes and
//!   decodes → equal to [`sparsekit_sae::reference`];
//! - the package creates and saves a random SAE (through its training classes, as after
//!   training; also its training checkpoints) → Rust loads → the reference forward equals the
//!   package's outputs.
//!
//! The package runs in float64 for the tight comparisons (1e-9 relative to `1 + |value|`: the
//! weights are the same f32 numbers on both sides, so only summation order differs) and in
//! float32 for the brief's 1e-5.
//!
//! Needs `$SPARSEKIT_PYTHON` with sae_lens and sparsify (`scripts/python-env.sh`); without it the
//! tests fail under SPARSEKIT_REQUIRE_ENV / CI and are skipped otherwise (`sparsekit_testenv`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_close, inputs, random_params};
use serde_json::json;
use sparsekit_formats::io::npy::{read_npy_dense, write_npy_dense};
use sparsekit_sae::format::{self, saelens, sparsify, FormatKind};
use sparsekit_sae::{reference, Architecture, Normalization, SaeParams};

const N: usize = 16;
const D_IN: usize = 24;
const D_SAE: usize = 40;
const TIGHT: f64 = 1e-9;
const F32_TOL: f64 = 1e-5;

fn python() -> Option<PathBuf> {
    sparsekit_testenv::python(&["numpy", "torch", "sae_lens", "sparsify"])
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/sae_format_check.py")
}

/// Runs the script's `many` with `jobs` (argument lists).
fn many(py: &Path, work: &Path, jobs: &[Vec<String>]) {
    let spec = work.join(format!("jobs-{}.json", jobs.len()));
    std::fs::write(&spec, serde_json::to_vec(jobs).unwrap()).unwrap();
    let out = Command::new(py)
        .arg(script())
        .arg("many")
        .arg(&spec)
        .output()
        .expect("run scripts/sae_format_check.py");
    assert!(
        out.status.success(),
        "sae_format_check.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Warnings of the packages (shown with --nocapture).
    let err = String::from_utf8_lossy(&out.stderr);
    if !err.trim().is_empty() {
        eprintln!("sae_format_check.py stderr:\n{err}");
    }
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn run_job(format: &str, dir: &Path, x: &Path, out: &Path, dtype: &str) -> Vec<String> {
    [
        "run",
        "--format",
        format,
        "--dir",
        &s(dir),
        "--input",
        &s(x),
        "--out",
        &s(out),
        "--dtype",
        dtype,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

/// (code n × d_sae, recon n × d_in) that the script wrote to `out`.
fn outputs(out: &Path, d_sae: usize) -> (Vec<f64>, Vec<f64>) {
    let (code, n, m) = read_npy_dense::<f64>(out.join("code.npy")).unwrap();
    assert_eq!((n, m), (N, d_sae), "code shape");
    let (recon, n, d) = read_npy_dense::<f64>(out.join("recon.npy")).unwrap();
    assert_eq!((n, d), (N, D_IN), "recon shape");
    (code, recon)
}

fn class(out: &Path) -> String {
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("info.json")).unwrap()).unwrap();
    info["class"].as_str().unwrap().to_string()
}

/// The `sparsity.safetensors` values SAELens' side read, if the directory had one.
fn info_sparsity(out: &Path) -> Option<Vec<f64>> {
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("info.json")).unwrap()).unwrap();
    info.get("sparsity").map(|v| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    })
}

/// Checks the package's outputs in `out` against the reference of `p` on `x`.
#[track_caller]
fn check(p: &SaeParams, x: &[f32], out: &Path, tol: f64, what: &str) {
    let (code, recon) = outputs(out, p.config.d_sae);
    assert_close(
        &code,
        &reference::encode(p, x, N),
        tol,
        &format!("{what}: code"),
    );
    assert_close(
        &recon,
        &reference::forward(p, x, N),
        tol,
        &format!("{what}: recon"),
    );
    // decode of the code alone agrees where it does not need the input's statistics
    if matches!(
        p.config.normalize_activations,
        Normalization::None | Normalization::ExpectedAverageOnlyIn
    ) {
        assert_close(
            &recon,
            &reference::decode(p, &code, N),
            tol,
            &format!("{what}: decode"),
        );
    }
    let nnz = code.iter().filter(|&&v| v != 0.0).count();
    assert!(
        nnz > 0 && nnz < code.len(),
        "{what}: a trivial code ({nnz} nonzeros)"
    );
}

#[test]
fn rust_saved_saelens_matches_python() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let x = inputs(N, D_IN, 42);
    let xp = work.join("x.npy");
    write_npy_dense(&xp, &x, N, D_IN).unwrap();

    use Architecture::*;
    use Normalization as Nm;
    let cases: Vec<(Architecture, bool, Normalization, Option<f32>)> = vec![
        (Relu, true, Nm::None, None),
        (Relu, false, Nm::ConstantNormRescale, None),
        (TopK, true, Nm::None, None),
        (TopK, false, Nm::LayerNorm, None),
        // a power of two: the fold on save is exact, so the tight tolerance holds
        (JumpRelu, true, Nm::ExpectedAverageOnlyIn, Some(4.0)),
        (JumpRelu, false, Nm::ExpectedAverageOnlyIn, None),
        (BatchTopK, true, Nm::None, None),
        (BatchTopK, false, Nm::ConstantNormRescale, None),
        (Gated, true, Nm::None, None),
        (Gated, false, Nm::ConstantNormRescale, None),
        (Gated, true, Nm::LayerNorm, None),
    ];
    let mut jobs = vec![];
    let mut saved = vec![];
    for (i, &(arch, b_dec_in, norm, scale)) in cases.iter().enumerate() {
        let mut p = random_params(arch, D_IN, D_SAE, 100 + i as u64);
        p.config.apply_b_dec_to_input = b_dec_in;
        p.config.normalize_activations = norm;
        p.config.norm_scale = scale;
        let dir = work.join(format!("sae{i}"));
        let sparsity: Vec<f32> = (0..D_SAE).map(|j| -0.1 * j as f32 - 0.5).collect();
        saelens::save(&dir, &p, (i % 2 == 0).then_some(&sparsity[..]), None).unwrap();
        for dtype in ["float64", "float32"] {
            jobs.push(run_job(
                "saelens",
                &dir,
                &xp,
                &work.join(format!("out{i}-{dtype}")),
                dtype,
            ));
        }
        saved.push(p);
    }
    many(&py, work, &jobs);
    for (i, p) in saved.iter().enumerate() {
        let what = format!("case {i} {:?}", cases[i]);
        check(p, &x, &work.join(format!("out{i}-float64")), TIGHT, &what);
        check(p, &x, &work.join(format!("out{i}-float32")), F32_TOL, &what);
        let want_class = match p.config.architecture {
            Relu => "StandardSAE",
            TopK => "TopKSAE",
            JumpRelu | BatchTopK => "JumpReLUSAE",
            Gated => "GatedSAE",
        };
        assert_eq!(
            class(&work.join(format!("out{i}-float64"))),
            want_class,
            "{what}"
        );
        let sp = info_sparsity(&work.join(format!("out{i}-float64")));
        if i % 2 == 0 {
            let want: Vec<f64> = (0..D_SAE).map(|j| (-0.1 * j as f32 - 0.5) as f64).collect();
            assert_close(&sp.expect("sparsity written"), &want, 1e-12, &what);
        } else {
            assert!(sp.is_none(), "{what}: no sparsity file");
        }
    }
}

#[test]
fn python_created_saelens_loads_in_rust() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    // (SAELens architecture, normalize_activations, apply_b_dec_to_input, our architecture)
    let cases = [
        ("standard", "none", true, Architecture::Relu),
        (
            "standard",
            "expected_average_only_in",
            true,
            Architecture::Relu,
        ),
        ("topk", "none", true, Architecture::TopK),
        ("topk", "layer_norm", false, Architecture::TopK),
        ("jumprelu", "none", false, Architecture::JumpRelu),
        (
            "jumprelu",
            "constant_norm_rescale",
            true,
            Architecture::JumpRelu,
        ),
        ("gated", "none", true, Architecture::Gated),
        ("gated", "constant_norm_rescale", false, Architecture::Gated),
        ("batchtopk", "none", true, Architecture::BatchTopK),
    ];
    // Half-precision files too (JumpReLU keeps its threshold in f32 even then).
    let save_dtype = |i: usize| match i {
        4 => "bfloat16",
        6 => "float16",
        _ => "float32",
    };
    let mut jobs = vec![];
    for (i, (arch, norm, b_dec_in, _)) in cases.iter().enumerate() {
        let mut j: Vec<String> = [
            "create",
            "--format",
            "saelens",
            "--arch",
            arch,
            "--normalize",
            norm,
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        j.extend([
            "--dir".into(),
            s(&work.join(format!("sae{i}"))),
            "--training-dir".into(),
            s(&work.join(format!("train{i}"))),
            "--d-in".into(),
            D_IN.to_string(),
            "--d-sae".into(),
            D_SAE.to_string(),
            "--k".into(),
            "6".into(),
            "--seed".into(),
            i.to_string(),
        ]);
        if !b_dec_in {
            j.push("--no-apply-b-dec".into());
        }
        j.extend(["--save-dtype".into(), save_dtype(i).into()]);
        jobs.push(j);
    }
    many(&py, work, &jobs);

    let x = inputs(N, D_IN, 7);
    let xp = work.join("x.npy");
    write_npy_dense(&xp, &x, N, D_IN).unwrap();
    let runs: Vec<Vec<String>> = (0..cases.len())
        .flat_map(|i| {
            let dir = work.join(format!("sae{i}"));
            [
                run_job(
                    "saelens",
                    &dir,
                    &xp,
                    &work.join(format!("out{i}-float64")),
                    "float64",
                ),
                run_job(
                    "saelens",
                    &dir,
                    &xp,
                    &work.join(format!("out{i}-float32")),
                    "float32",
                ),
            ]
        })
        .collect();
    many(&py, work, &runs);

    for (i, &(arch, norm, b_dec_in, ours)) in cases.iter().enumerate() {
        let what = format!("SAELens-created {arch} ({norm}, apply_b_dec_to_input {b_dec_in})");
        let dir = work.join(format!("sae{i}"));
        assert_eq!(format::detect(&dir).unwrap(), FormatKind::SaeLens);
        let full = saelens::load_full(&dir).unwrap();
        let p = &full.params;
        assert_eq!(p.config.architecture, ours, "{what}");
        assert_eq!(p.config.apply_b_dec_to_input, b_dec_in, "{what}");
        assert_eq!(p.config.normalize_activations.name(), norm, "{what}");
        if ours.uses_k() {
            assert_eq!(p.config.k, Some(6), "{what}");
        }
        if ours == Architecture::BatchTopK {
            assert!(
                p.threshold.as_ref().unwrap().iter().all(|&t| t == 0.15),
                "{what}"
            );
        }
        assert_eq!(full.sparsity.as_ref().map(Vec::len), Some(D_SAE), "{what}");
        assert_close(
            &common::f64s(full.sparsity.as_ref().unwrap()),
            &info_sparsity(&work.join(format!("out{i}-float64"))).unwrap(),
            1e-12,
            &format!("{what}: sparsity"),
        );
        // Re-saved by Rust with its sparsity and metadata: the same directory, details kept.
        let again = work.join(format!("again{i}"));
        saelens::save(&again, p, full.sparsity.as_deref(), Some(&full.metadata)).unwrap();
        let back = saelens::load_full(&again).unwrap();
        assert_eq!(back, full, "{what}: re-saved");
        assert_eq!(
            full.metadata["hook_name"],
            json!("blocks.0.hook_resid_post")
        );
        // SAELens saves a trained TopK SAE with its decoder norms folded *and*
        // rescale_acts_by_decoder_norm still true (norms ≈ 1, not exactly): loading folds them
        // again in f32, which changes the weights by rounding only.
        let tol = if arch == "topk" { F32_TOL } else { TIGHT };
        check(p, &x, &work.join(format!("out{i}-float64")), tol, &what);
        check(p, &x, &work.join(format!("out{i}-float32")), F32_TOL, &what);

        // The training checkpoint (decoder norms not yet folded for topk / batchtopk, the
        // batchtopk threshold a scalar buffer) loads as the same function.
        let t = saelens::load(&work.join(format!("train{i}"))).unwrap();
        assert_eq!(t.config, p.config, "{what}: training checkpoint config");
        let what = format!("{what}, training checkpoint");
        check(
            &t,
            &x,
            &work.join(format!("out{i}-float64")),
            F32_TOL,
            &what,
        );
        assert_close(
            &common::f64s(&t.w_dec),
            &common::f64s(&p.w_dec),
            1e-6,
            &what,
        );
    }
}

#[test]
fn sparsify_both_directions() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let x = inputs(N, D_IN, 3);
    let xp = work.join("x.npy");
    write_npy_dense(&xp, &x, N, D_IN).unwrap();

    // Rust → sparsify: plain, and with apply_b_dec_to_input = false folded into the bias.
    let p = random_params(Architecture::TopK, D_IN, D_SAE, 5);
    sparsify::save(&work.join("rust"), &p).unwrap();
    let mut q = random_params(Architecture::TopK, D_IN, D_SAE, 6);
    q.config.apply_b_dec_to_input = false;
    sparsify::save(&work.join("rust-nobdec"), &q).unwrap();

    // sparsify → Rust: a checkpoint with two hookpoints.
    let ckpt = work.join("ckpt");
    let create = |hook: &str, seed: u64| -> Vec<String> {
        [
            "create",
            "--format",
            "sparsify",
            "--dir",
            &s(&ckpt.join(hook)),
            "--d-in",
            &D_IN.to_string(),
            "--d-sae",
            &D_SAE.to_string(),
            "--k",
            "7",
            "--seed",
            &seed.to_string(),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    many(&py, work, &[create("layers.10", 1), create("layers.2", 2)]);

    let mut runs = vec![
        run_job(
            "sparsify",
            &work.join("rust"),
            &xp,
            &work.join("o-rust-64"),
            "float64",
        ),
        run_job(
            "sparsify",
            &work.join("rust"),
            &xp,
            &work.join("o-rust-32"),
            "float32",
        ),
        run_job(
            "sparsify",
            &work.join("rust-nobdec"),
            &xp,
            &work.join("o-nob"),
            "float64",
        ),
    ];
    for h in ["layers.2", "layers.10"] {
        runs.push(run_job(
            "sparsify",
            &ckpt.join(h),
            &xp,
            &work.join(format!("o-{h}")),
            "float64",
        ));
    }
    many(&py, work, &runs);

    check(
        &p,
        &x,
        &work.join("o-rust-64"),
        TIGHT,
        "Rust → sparsify (f64)",
    );
    check(
        &p,
        &x,
        &work.join("o-rust-32"),
        F32_TOL,
        "Rust → sparsify (f32)",
    );
    check(
        &q,
        &x,
        &work.join("o-nob"),
        F32_TOL,
        "Rust → sparsify, b_dec folded",
    );
    assert_eq!(class(&work.join("o-rust-64")), "SparseCoder");

    assert_eq!(
        sparsify::hookpoints(&ckpt).unwrap(),
        ["layers.2", "layers.10"]
    );
    let all = sparsify::load_many(&ckpt).unwrap();
    for (h, loaded) in &all {
        assert_eq!(format::load_any(&ckpt.join(h)).unwrap(), *loaded);
        assert_eq!(loaded.config.k, Some(7));
        check(
            loaded,
            &x,
            &work.join(format!("o-{h}")),
            TIGHT,
            &format!("sparsify {h} → Rust"),
        );
    }
    assert!(format::load_any(&ckpt).is_err());
}
