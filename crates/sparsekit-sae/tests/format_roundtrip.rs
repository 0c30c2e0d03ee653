//! Rust-only round trips and error cases of the SAELens and sparsify formats (no Python; the
//! real packages are checked in format_python.rs).

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use common::{assert_close, inputs, random_params};
use safetensors::tensor::{Dtype, TensorView};
use serde_json::json;
use sparsekit_sae::format::{self, saelens, sparsify, FormatKind, Metadata};
use sparsekit_sae::{reference, Architecture, Normalization, SaeError};

fn msg(e: SaeError) -> String {
    e.to_string()
}

#[test]
fn saelens_roundtrip_every_architecture() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, arch) in Architecture::ALL.into_iter().enumerate() {
        let mut p = random_params(arch, 12, 20, i as u64);
        p.config.apply_b_dec_to_input = i % 2 == 0;
        p.config.normalize_activations = [
            Normalization::None,
            Normalization::ConstantNormRescale,
            Normalization::LayerNorm,
            Normalization::None,
            Normalization::ExpectedAverageOnlyIn,
        ][i];
        let dir = tmp.path().join(arch.name());
        let sparsity: Vec<f32> = (0..20).map(|j| -(j as f32) / 7.0).collect();
        let mut meta = Metadata::new();
        meta.insert("hook_name".into(), json!("blocks.3.hook_resid_post"));
        saelens::save(&dir, &p, Some(&sparsity), Some(&meta)).unwrap();
        assert_eq!(format::detect(&dir).unwrap(), FormatKind::SaeLens);
        let back = saelens::load_full(&dir).unwrap();
        assert_eq!(back.params, p, "{arch}");
        assert_eq!(format::load_any(&dir).unwrap(), p);
        assert_eq!(back.sparsity.as_deref(), Some(&sparsity[..]));
        assert_eq!(
            back.metadata["hook_name"],
            json!("blocks.3.hook_resid_post")
        );
        assert_eq!(
            back.metadata["sae_lens_version"],
            json!(saelens::SAE_LENS_VERSION)
        );
        let cfg: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join("cfg.json")).unwrap()).unwrap();
        let want_arch = match arch {
            Architecture::Relu => "standard",
            Architecture::TopK => "topk",
            Architecture::JumpRelu | Architecture::BatchTopK => "jumprelu",
            Architecture::Gated => "gated",
        };
        assert_eq!(cfg["architecture"], json!(want_arch));
        // no temporary leftovers
        let names: Vec<String> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    }
}

#[test]
fn expected_average_scale_is_folded_on_save() {
    let tmp = tempfile::tempdir().unwrap();
    let x = inputs(7, 10, 3);
    for arch in Architecture::ALL {
        let mut p = random_params(arch, 10, 16, 9);
        p.config.normalize_activations = Normalization::ExpectedAverageOnlyIn;
        p.config.norm_scale = Some(0.37);
        let dir = tmp.path().join(arch.name());
        saelens::save(&dir, &p, None, None).unwrap();
        let back = saelens::load_full(&dir).unwrap();
        assert_eq!(
            back.params.config.normalize_activations,
            Normalization::None
        );
        assert_eq!(back.params.config.norm_scale, None);
        assert_eq!(back.metadata["sparsekit_folded_norm_scale"], json!(0.37f32));
        let want = reference::forward(&p, &x, 7);
        assert_close(
            &reference::forward(&back.params, &x, 7),
            &want,
            1e-5,
            arch.name(),
        );
        assert_close(
            &reference::encode(&back.params, &x, 7),
            &reference::encode(&p, &x, 7),
            1e-5,
            arch.name(),
        );
    }
}

#[test]
fn overwrite_replaces_files_and_drops_stale_sparsity() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path(); // exists already (and is empty)
    let p = random_params(Architecture::TopK, 6, 9, 1);
    saelens::save(dir, &p, Some(&[0.0; 9]), None).unwrap();
    assert!(dir.join(saelens::SPARSITY_FILE).is_file());
    let q = random_params(Architecture::Relu, 6, 9, 2);
    saelens::save(dir, &q, None, None).unwrap();
    assert!(!dir.join(saelens::SPARSITY_FILE).exists());
    assert_eq!(saelens::load(dir).unwrap(), q);
    let left: Vec<_> = fs::read_dir(dir).unwrap().collect();
    assert_eq!(left.len(), 2, "cfg.json and the weights only");
}

#[test]
fn sparsify_roundtrip_and_folds() {
    let tmp = tempfile::tempdir().unwrap();
    let p = random_params(Architecture::TopK, 12, 30, 4);
    let dir = tmp.path().join("sp");
    sparsify::save(&dir, &p).unwrap();
    assert_eq!(format::detect(&dir).unwrap(), FormatKind::Sparsify);
    assert_eq!(sparsify::load(&dir).unwrap(), p);
    assert_eq!(format::load_any(&dir).unwrap(), p);

    // apply_b_dec_to_input = false and a scale are folded: same function, standard layout.
    let x = inputs(9, 12, 5);
    let mut q = p.clone();
    q.config.apply_b_dec_to_input = false;
    q.config.normalize_activations = Normalization::ExpectedAverageOnlyIn;
    q.config.norm_scale = Some(2.5);
    let dir2 = tmp.path().join("sp2");
    sparsify::save(&dir2, &q).unwrap();
    let back = sparsify::load(&dir2).unwrap();
    assert!(back.config.apply_b_dec_to_input);
    assert_eq!(back.config.normalize_activations, Normalization::None);
    assert_close(
        &reference::forward(&back, &x, 9),
        &reference::forward(&q, &x, 9),
        1e-5,
        "folded sparsify",
    );
}

#[test]
fn sparsify_refuses_what_it_cannot_store() {
    let tmp = tempfile::tempdir().unwrap();
    for arch in [
        Architecture::Relu,
        Architecture::JumpRelu,
        Architecture::BatchTopK,
        Architecture::Gated,
    ] {
        let p = random_params(arch, 4, 8, 0);
        let e = sparsify::save(&tmp.path().join("x"), &p).unwrap_err();
        assert!(matches!(e, SaeError::Config(_)), "{e}");
        assert!(msg(e).contains(arch.name()));
    }
    let mut p = random_params(Architecture::TopK, 4, 8, 0);
    p.config.normalize_activations = Normalization::LayerNorm;
    let e = sparsify::save(&tmp.path().join("x"), &p).unwrap_err();
    assert!(msg(e).contains("layer_norm"));
    assert!(!tmp.path().join("x").exists());
}

#[test]
fn sparsify_checkpoint_of_hookpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let mut want = vec![];
    for (i, h) in ["layers.10", "layers.2", "embed_tokens"].iter().enumerate() {
        let p = random_params(Architecture::TopK, 5, 10, i as u64);
        sparsify::save(&tmp.path().join(h), &p).unwrap();
        want.push((h.to_string(), p));
    }
    fs::create_dir(tmp.path().join("optimizer_state")).unwrap();
    fs::write(tmp.path().join("config.json"), "{}").unwrap();
    let hooks = sparsify::hookpoints(tmp.path()).unwrap();
    assert_eq!(hooks, ["embed_tokens", "layers.2", "layers.10"]);
    let all = sparsify::load_many(tmp.path()).unwrap();
    assert_eq!(all.len(), 3);
    for (h, p) in &want {
        assert_eq!(&all.iter().find(|(n, _)| n == h).unwrap().1, p);
    }
    let e = msg(format::load_any(tmp.path()).unwrap_err());
    assert!(e.contains("layers.2") && e.contains("hookpoint"), "{e}");
}

/// Writes a safetensors file of (name, dtype, shape, little-endian bytes).
fn write_st(path: &Path, tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) {
    let views: Vec<(&str, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| (*n, TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let bytes = safetensors::tensor::serialize(views, &None::<HashMap<String, String>>).unwrap();
    fs::write(path, bytes).unwrap();
}

#[test]
fn half_and_double_weights_load() {
    let tmp = tempfile::tempdir().unwrap();
    let p = random_params(Architecture::JumpRelu, 6, 8, 11);
    saelens::save(tmp.path(), &p, None, None).unwrap();
    // Rewrite the weights as BF16 (W_enc), F16 (W_dec, threshold) and F64 (biases).
    let wt = {
        let mut t = vec![0.0f32; 48];
        for j in 0..8 {
            for i in 0..6 {
                t[i * 8 + j] = p.w_enc[j * 6 + i];
            }
        }
        t
    };
    let bf = |v: &[f32]| -> Vec<u8> {
        v.iter()
            .flat_map(|&x| half::bf16::from_f32(x).to_bits().to_le_bytes())
            .collect()
    };
    let f16 = |v: &[f32]| -> Vec<u8> {
        v.iter()
            .flat_map(|&x| half::f16::from_f32(x).to_bits().to_le_bytes())
            .collect()
    };
    let f64b =
        |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|&x| (x as f64).to_le_bytes()).collect() };
    let th = p.threshold.clone().unwrap();
    write_st(
        &tmp.path().join(saelens::WEIGHTS_FILE),
        &[
            ("W_enc", Dtype::BF16, vec![6, 8], bf(&wt)),
            ("W_dec", Dtype::F16, vec![8, 6], f16(&p.w_dec)),
            ("b_enc", Dtype::F64, vec![8], f64b(&p.b_enc)),
            ("b_dec", Dtype::F64, vec![6], f64b(&p.b_dec)),
            ("threshold", Dtype::F16, vec![8], f16(&th)),
        ],
    );
    let back = saelens::load(tmp.path()).unwrap();
    assert_eq!(back.b_enc, p.b_enc);
    assert_eq!(back.b_dec, p.b_dec);
    for (a, b) in back.w_enc.iter().zip(&p.w_enc) {
        assert_eq!(*a, half::bf16::from_f32(*b).to_f32());
    }
    for (a, b) in back.w_dec.iter().zip(&p.w_dec) {
        assert_eq!(*a, half::f16::from_f32(*b).to_f32());
    }
}

#[test]
fn errors_name_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();

    // not a directory / empty directory
    let e = msg(format::load_any(&root.join("nope")).unwrap_err());
    assert!(e.contains("not a directory"), "{e}");
    let e = msg(format::load_any(root).unwrap_err());
    assert!(e.contains("neither an SAELens directory"), "{e}");
    let e = msg(saelens::load(root).unwrap_err());
    assert!(e.contains("cfg.json") && e.contains("missing"), "{e}");

    let p = random_params(Architecture::Gated, 4, 6, 0);
    let dir = root.join("g");
    saelens::save(&dir, &p, None, None).unwrap();
    let st = dir.join(saelens::WEIGHTS_FILE);
    let bytes = fs::read(&st).unwrap();

    // missing weights file
    fs::remove_file(&st).unwrap();
    let e = saelens::load(&dir).unwrap_err();
    assert!(matches!(e, SaeError::Format { .. }));
    assert!(msg(e).contains("sae_weights.safetensors: missing"));
    // weights but no cfg
    fs::write(&st, &bytes).unwrap();
    fs::rename(dir.join("cfg.json"), dir.join("cfg.bak")).unwrap();
    let e = msg(format::load_any(&dir).unwrap_err());
    assert!(e.contains("no cfg.json"), "{e}");
    fs::rename(dir.join("cfg.bak"), dir.join("cfg.json")).unwrap();

    // missing tensor: named, with what the file has
    write_st(
        &st,
        &[
            ("W_enc", Dtype::F32, vec![4, 6], vec![0; 96]),
            ("W_dec", Dtype::F32, vec![6, 4], vec![0; 96]),
            ("b_dec", Dtype::F32, vec![4], vec![0; 16]),
            ("b_gate", Dtype::F32, vec![6], vec![0; 24]),
            ("b_mag", Dtype::F32, vec![6], vec![0; 24]),
        ],
    );
    let e = msg(saelens::load(&dir).unwrap_err());
    assert!(
        e.contains("no tensor 'r_mag'") && e.contains("b_mag"),
        "{e}"
    );
    // wrong shape: names the tensor and both shapes
    write_st(&st, &[("W_enc", Dtype::F32, vec![6, 4], vec![0; 96])]);
    let e = msg(saelens::load(&dir).unwrap_err());
    assert!(
        e.contains("'W_enc' has shape [6, 4], expected [4, 6]"),
        "{e}"
    );
    // integer weights
    write_st(&st, &[("W_enc", Dtype::I32, vec![4, 6], vec![0; 96])]);
    let e = msg(saelens::load(&dir).unwrap_err());
    assert!(e.contains("W_enc") && e.contains("I32"), "{e}");
    // not safetensors at all
    fs::write(&st, b"garbage").unwrap();
    let e = msg(saelens::load(&dir).unwrap_err());
    assert!(e.contains("not a safetensors file"), "{e}");
    fs::write(&st, &bytes).unwrap();

    // unsupported architecture / normalisation / bad JSON
    let cfg_path = dir.join("cfg.json");
    let cfg: serde_json::Value = serde_json::from_slice(&fs::read(&cfg_path).unwrap()).unwrap();
    let with = |k: &str, v: serde_json::Value| {
        let mut c = cfg.clone();
        c[k] = v;
        fs::write(&cfg_path, serde_json::to_vec(&c).unwrap()).unwrap();
    };
    with("architecture", json!("matching_pursuit"));
    let e = msg(saelens::load(&dir).unwrap_err());
    assert!(
        e.contains("architecture 'matching_pursuit' is not supported"),
        "{e}"
    );
    with("normalize_activations", json!("whiten_somehow"));
    let e = msg(saelens::load(&dir).unwrap_err());
    assert!(e.contains("unknown normalize_activations"), "{e}");
    with("d_sae", json!(7));
    let e = msg(saelens::load(&dir).unwrap_err());
    assert!(
        e.contains("'W_enc' has shape [4, 6], expected [4, 7]"),
        "{e}"
    );
    fs::write(&cfg_path, "{ not json").unwrap();
    let e = msg(saelens::load(&dir).unwrap_err());
    assert!(e.contains("invalid JSON"), "{e}");

    // both formats in one directory
    let both = root.join("both");
    saelens::save(
        &both,
        &random_params(Architecture::TopK, 4, 6, 0),
        None,
        None,
    )
    .unwrap();
    fs::write(both.join(sparsify::WEIGHTS_FILE), b"").unwrap();
    let e = msg(format::load_any(&both).unwrap_err());
    assert!(e.contains("both"), "{e}");

    // sparsify: groupmax, skip connections
    let sp = root.join("sp");
    sparsify::save(&sp, &random_params(Architecture::TopK, 4, 6, 0)).unwrap();
    let cfg: serde_json::Value =
        serde_json::from_slice(&fs::read(sp.join("cfg.json")).unwrap()).unwrap();
    for (k, v, want) in [
        ("activation", json!("groupmax"), "groupmax"),
        ("skip_connection", json!(true), "skip_connection"),
    ] {
        let mut c = cfg.clone();
        c[k] = v;
        fs::write(sp.join("cfg.json"), serde_json::to_vec(&c).unwrap()).unwrap();
        let e = msg(sparsify::load(&sp).unwrap_err());
        assert!(e.contains(want), "{e}");
    }

    // saving checks the parameters and sparsity length
    let mut bad = random_params(Architecture::Relu, 4, 6, 0);
    bad.b_dec.pop();
    assert!(saelens::save(&root.join("bad"), &bad, None, None).is_err());
    let ok = random_params(Architecture::Relu, 4, 6, 0);
    let e = msg(saelens::save(&root.join("bad"), &ok, Some(&[0.0; 5]), None).unwrap_err());
    assert!(e.contains("sparsity has 5 values"), "{e}");
    assert!(!root.join("bad").exists());
}
