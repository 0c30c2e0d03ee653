//! Calibrated one-shot pruning of the tiny BERT fixture: every method and target keeps the
//! counts and patterns it promises, only the selected projections change, the calibration
//! inputs of each layer come from the model whose earlier layers are already pruned, the
//! allocations keep their totals, and the written directory keeps names and dtypes.

mod common;

use std::collections::BTreeMap;

use burn::tensor::Device;
use common::{tiny_dir, tiny_texts};
use safetensors::{Dtype, SafeTensors};
use sparsekit_formats::io::safetensors::{float_bytes, floats};
use sparsekit_formats::sparsity::{is_nm, keep_count};
use sparsekit_formats::Mask;
use sparsekit_models::bert::Bert;
use sparsekit_models::prune::{prune_one_shot, Allocation, Method, OneShotConfig, Target};
use sparsekit_models::save::save_model_dir;
use sparsekit_models::tokenize::Truncation;
use sparsekit_models::{SentenceEncoder, Site};
use sparsekit_prune::oneshot::{wanda, SparsityTarget};
use sparsekit_prune::owl::OwlConfig;

const METHODS: [Method; 4] = [
    Method::Magnitude,
    Method::Wanda,
    Method::SparseGpt,
    Method::Dsnot,
];

fn load() -> SentenceEncoder {
    SentenceEncoder::load(&tiny_dir(), &Device::flex()).unwrap()
}

/// Every projection's weight (`[out, in]`) by HF path.
fn weights<A: sparsekit_models::bert::AttentionModule>(
    m: &Bert<A>,
) -> BTreeMap<String, (Vec<f32>, usize, usize)> {
    let mut out = BTreeMap::new();
    m.visit_projections(&mut |path, p| {
        let (o, i) = p.shape();
        out.insert(path.to_string(), (p.weight_values().unwrap(), o, i));
    });
    out
}

fn prune(
    method: Method,
    target: Target,
    allocation: Allocation,
) -> (SentenceEncoder, sparsekit_models::prune::PruneReport) {
    let mut enc = load();
    let texts = tiny_texts();
    let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    let config = OneShotConfig::new(method, target).with_allocation(allocation);
    let report = prune_one_shot(&mut enc, &refs, &config, &mut |_, _| {}).unwrap();
    (enc, report)
}

#[test]
fn every_method_keeps_its_counts_and_patterns() {
    let dense = weights(&load().model);
    for method in METHODS {
        for target in [
            Target::Sparsity(0.5),
            Target::Sparsity(0.7),
            Target::NM { n: 2, m: 4 },
        ] {
            let (enc, report) = prune(method, target, Allocation::Uniform);
            let pruned = weights(&enc.model);
            assert_eq!(report.tensors.len(), 12, "{method:?}");
            for (path, (w, o, i)) in &pruned {
                let (w0, _, _) = &dense[path];
                let keep: Vec<bool> = w.iter().map(|v| *v != 0.0).collect();
                let mask = Mask::from_bools(&keep, *o, *i).unwrap();
                match target {
                    Target::Sparsity(s) => {
                        for r in 0..*o {
                            let kept = keep[r * i..(r + 1) * i].iter().filter(|k| **k).count();
                            if method == Method::SparseGpt {
                                // The reference's block-joint selection: counts vary per row.
                                continue;
                            }
                            assert_eq!(
                                kept,
                                keep_count(*i, s).unwrap(),
                                "{method:?} {path} row {r}"
                            );
                        }
                        let zeros = keep.iter().filter(|k| !**k).count();
                        let want = *o * *i
                            - if method == Method::SparseGpt {
                                // Per block of 128 ≥ i columns: one joint count over the matrix.
                                keep_count(*o * *i, s).unwrap()
                            } else {
                                *o * keep_count(*i, s).unwrap()
                            };
                        assert_eq!(zeros, want, "{method:?} {path}");
                    }
                    Target::NM { n, m } => assert!(is_nm(&mask, n, m), "{method:?} {path}"),
                }
                // Survivors keep their dense value except under SparseGPT's reconstruction.
                if method != Method::SparseGpt {
                    for (a, b) in w.iter().zip(w0) {
                        assert!(*a == 0.0 || a == b, "{method:?} {path}");
                    }
                } else {
                    assert!(
                        w.iter().zip(w0).any(|(a, b)| *a != 0.0 && a != b),
                        "{path}: no reconstruction"
                    );
                }
            }
            let want = match target {
                Target::Sparsity(s) => s,
                Target::NM { n, m } => 1.0 - n as f64 / m as f64,
            };
            assert!(
                (report.sparsity - want).abs() < 0.02,
                "{method:?} {target}: {}",
                report.sparsity
            );
        }
    }
}

#[test]
fn only_selected_projections_change_and_the_rest_of_the_model_stays() {
    let base = load();
    let mut enc = load();
    let texts = tiny_texts();
    let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    let mut config = OneShotConfig::new(Method::Wanda, Target::Sparsity(0.5));
    config.include = "encoder.layer.1.**".into();
    config.exclude = Some("**.attention.self.*.weight".into());
    let report = prune_one_shot(&mut enc, &refs, &config, &mut |_, _| {}).unwrap();
    let names: Vec<&str> = report.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "encoder.layer.1.attention.output.dense.weight",
            "encoder.layer.1.intermediate.dense.weight",
            "encoder.layer.1.output.dense.weight"
        ]
    );
    let (a, b) = (weights(&base.model), weights(&enc.model));
    for (path, (w, _, _)) in &a {
        let changed = &b[path].0 != w;
        assert_eq!(
            changed,
            names.contains(&format!("{path}.weight").as_str()),
            "{path}"
        );
    }
    // Biases, LayerNorms and embeddings are untouched.
    let emb = |e: &SentenceEncoder| {
        e.model
            .embeddings
            .word
            .weight
            .val()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap()
    };
    assert_eq!(emb(&base), emb(&enc));
    let bias = |e: &SentenceEncoder| {
        e.model.layers[1]
            .ffn
            .output
            .bias()
            .unwrap()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap()
    };
    assert_eq!(bias(&base), bias(&enc));
}

/// The calibration inputs of layer ℓ come from the model whose layers < ℓ are pruned: Wanda's
/// mask of every projection, recomputed here from activations captured on such a model, is
/// the one chosen.
#[test]
fn calibration_is_sequential() {
    let base = load();
    let (enc, _) = prune(Method::Wanda, Target::Sparsity(0.5), Allocation::Uniform);
    let texts = tiny_texts();
    let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    let batch = enc
        .tokenizer
        .encode(&refs, 0, Truncation::Truncate)
        .unwrap();
    let (ids, pad) = batch.to_device(enc.device());
    let dense = weights(&base.model);
    let pruned = weights(&enc.model);
    let mut agree = (0usize, 0usize);
    for l in 0..enc.model.depth() {
        // Layers < l pruned, layer l dense.
        let mut probe = enc.model.clone();
        probe.layers[l] = base.model.layers[l].clone();
        let sites: Vec<(usize, Site)> = [Site::ResidPre, Site::ResidMid, Site::MlpHidden]
            .map(|s| (l, s))
            .to_vec();
        let (_, caps) = probe
            .forward_capture(ids.clone(), pad.clone(), &sites)
            .unwrap();
        let rows = |t: burn::tensor::Tensor<3>| {
            let [_, s, w] = t.dims();
            let v = t.into_data().try_into_vec::<f32>().unwrap();
            let mut out = Vec::new();
            for (b, &len) in batch.lengths.iter().enumerate() {
                out.extend_from_slice(&v[b * s * w..(b * s + len) * w]);
            }
            (out, w)
        };
        let pre = caps.get(l, Site::ResidPre).unwrap().clone();
        let ctx = probe.layers[l].attention.context(pre.clone(), &pad);
        let inputs = [
            ("attention.self.query", rows(pre.clone())),
            ("attention.self.key", rows(pre.clone())),
            ("attention.self.value", rows(pre)),
            ("attention.output.dense", rows(ctx)),
            (
                "intermediate.dense",
                rows(caps.get(l, Site::ResidMid).unwrap().clone()),
            ),
            (
                "output.dense",
                rows(caps.get(l, Site::MlpHidden).unwrap().clone()),
            ),
        ];
        for (name, (x, d)) in inputs {
            let path = format!("encoder.layer.{l}.{name}");
            let n = x.len() / d;
            let norms = sparsekit_prune::oneshot::input_norms(&x, n, d).unwrap();
            let (w, o, i) = &dense[&path];
            let want = wanda(w, *o, *i, &norms, SparsityTarget::Unstructured(0.5)).unwrap();
            for (a, b) in want.weights.iter().zip(&pruned[&path].0) {
                agree.1 += 1;
                if (*a == 0.0) == (*b == 0.0) {
                    agree.0 += 1;
                }
            }
        }
    }
    // Summation order differs (per-batch norms here, batched rows there): a near-tie may flip.
    let frac = agree.0 as f64 / agree.1 as f64;
    assert!(frac > 0.995, "masks agree on {frac}");
}

#[test]
fn allocations_keep_their_totals() {
    let total = |r: &sparsekit_models::prune::PruneReport| {
        let (z, n) = r.tensors.iter().fold((0.0, 0usize), |(z, n), t| {
            let k = t.shape[0] * t.shape[1];
            (z + t.sparsity * k as f64, n + k)
        });
        (z.round() as usize, n)
    };
    // Global: one magnitude threshold; each projection then keeps its count per output row,
    // so the total is the exact global count up to half a weight per row.
    let (_, r) = prune(Method::Magnitude, Target::Sparsity(0.6), Allocation::Global);
    let (z, n) = total(&r);
    let rows: usize = r.tensors.iter().map(|t| t.shape[0]).sum();
    let exact = keep_count(n, 0.6).unwrap() as f64;
    assert!(
        ((n - z) as f64 - exact).abs() <= rows as f64 / 2.0,
        "{} vs {exact}",
        n - z
    );
    assert!(
        r.tensors.iter().any(|t| (t.sparsity - 0.6).abs() > 0.01),
        "global gave every tensor the target"
    );
    // ERK: the square attention matrices have the larger (n_in + n_out)/(n_in·n_out), so they
    // are kept denser than the FFN ones.
    let (_, r) = prune(Method::Wanda, Target::Sparsity(0.6), Allocation::Erk);
    let q = r
        .tensors
        .iter()
        .find(|t| t.name.ends_with("layer.0.attention.self.query.weight"))
        .unwrap();
    let f = r
        .tensors
        .iter()
        .find(|t| t.name.ends_with("layer.0.intermediate.dense.weight"))
        .unwrap();
    assert!(q.target_sparsity < f.target_sparsity);
    // OWL: per-layer sparsities average the target and span 2λ (two layers: ±λ), shared by a
    // layer's tensors.
    let cfg = OwlConfig {
        lambda: 0.1,
        m: 3.0,
    };
    for method in [Method::Wanda, Method::SparseGpt] {
        let (_, r) = prune(method, Target::Sparsity(0.6), Allocation::Owl(cfg));
        assert_eq!(r.layer_sparsities.len(), 2);
        assert_eq!(r.outlier_ratios.len(), 2);
        let mean = r.layer_sparsities.iter().sum::<f64>() / 2.0;
        assert!((mean - 0.6).abs() < 1e-12);
        assert!(r
            .layer_sparsities
            .iter()
            .all(|s| (s - 0.6).abs() <= 0.1 + 1e-12));
        for t in &r.tensors {
            let l: usize = t.name.split('.').nth(2).unwrap().parse().unwrap();
            assert_eq!(t.target_sparsity, r.layer_sparsities[l]);
        }
    }
}

#[test]
fn bad_requests_are_typed_errors() {
    let texts = tiny_texts();
    let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    let run = |config: OneShotConfig, texts: &[&str]| {
        let mut enc = load();
        prune_one_shot(&mut enc, texts, &config, &mut |_, _| {})
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let nm = Target::NM { n: 2, m: 4 };
    assert!(run(
        OneShotConfig::new(Method::Wanda, nm).with_allocation(Allocation::Global),
        &refs
    )
    .contains("uniform"));
    assert!(run(
        OneShotConfig::new(Method::Wanda, Target::Sparsity(1.5)),
        &refs
    )
    .contains("1.5"));
    assert!(run(
        OneShotConfig::new(Method::Wanda, Target::NM { n: 5, m: 4 }),
        &refs
    )
    .contains("invalid"));
    assert!(run(
        OneShotConfig::new(Method::Wanda, Target::Sparsity(0.5)),
        &[]
    )
    .contains("at least one text"));
    assert!(run(
        OneShotConfig::new(Method::Wanda, Target::Sparsity(0.5)),
        &["ok", " "]
    )
    .contains("empty"));
    let mut none = OneShotConfig::new(Method::Magnitude, Target::Sparsity(0.5));
    none.include = "embeddings.**".into();
    assert!(run(none, &refs).contains("no projection"));
    let mut short = OneShotConfig::new(Method::Wanda, Target::Sparsity(0.5));
    short.calibration.max_tokens = 1;
    assert!(run(short, &refs).contains("special tokens"));
    let bad_owl = OneShotConfig::new(Method::Wanda, Target::Sparsity(0.5)).with_allocation(
        Allocation::Owl(OwlConfig {
            lambda: 2.0,
            m: 5.0,
        }),
    );
    assert!(run(bad_owl, &refs).contains("lambda"));
    // Magnitude needs no text at all.
    let mut enc = load();
    prune_one_shot(
        &mut enc,
        &[],
        &OneShotConfig::new(Method::Magnitude, nm),
        &mut |_, _| {},
    )
    .unwrap();
}

/// The written directory: same files, same tensor names, shapes and dtypes (an F16 copy of
/// the fixture stays F16), pruned weights exactly 0, and it loads back to the same embeddings.
#[test]
fn saved_directory_keeps_names_and_dtypes() {
    let tmp = tempfile::tempdir().unwrap();
    // An F16 copy of the fixture.
    let half_dir = tmp.path().join("half");
    std::fs::create_dir_all(half_dir.join("1_Pooling")).unwrap();
    for entry in walk(&tiny_dir()) {
        let rel = entry.strip_prefix(tiny_dir()).unwrap();
        std::fs::copy(&entry, half_dir.join(rel)).unwrap();
    }
    let bytes = std::fs::read(tiny_dir().join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let converted: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| match t.dtype() {
            Dtype::F32 => {
                let v = floats::<f32>(t.dtype(), t.data(), &n).unwrap();
                (
                    n.clone(),
                    Dtype::F16,
                    t.shape().to_vec(),
                    float_bytes(Dtype::F16, &v, &n).unwrap(),
                )
            }
            d => (n.clone(), d, t.shape().to_vec(), t.data().to_vec()),
        })
        .collect();
    let views: Vec<_> = converted
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    std::fs::write(
        half_dir.join("model.safetensors"),
        safetensors::tensor::serialize(views, &None).unwrap(),
    )
    .unwrap();

    for (src, dtype) in [(tiny_dir(), Dtype::F32), (half_dir.clone(), Dtype::F16)] {
        let mut enc = SentenceEncoder::load(&src, &Device::flex()).unwrap();
        let texts = tiny_texts();
        let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
        let config = OneShotConfig::new(Method::SparseGpt, Target::NM { n: 2, m: 4 });
        prune_one_shot(&mut enc, &refs, &config, &mut |_, _| {}).unwrap();
        let out = tmp.path().join(format!("out-{dtype:?}"));
        let saved =
            save_model_dir(&src, &out, &enc.model, &[("sparsity.json", b"{}".to_vec())]).unwrap();
        assert_eq!(saved.rewritten.len(), 24); // 12 weights + 12 biases
        assert!(saved.skipped.is_empty());
        // Same files (plus sparsity.json).
        let rel = |d: &std::path::Path| {
            let mut v: Vec<_> = walk(d)
                .into_iter()
                .map(|p| p.strip_prefix(d).unwrap().to_path_buf())
                .collect();
            v.sort();
            v
        };
        let mut want = rel(&src);
        want.push("sparsity.json".into());
        want.sort();
        assert_eq!(rel(&out), want);
        // Same names, shapes, dtypes; pruned weights exactly 0 and 2:4.
        let a = std::fs::read(src.join("model.safetensors")).unwrap();
        let b = std::fs::read(out.join("model.safetensors")).unwrap();
        let (a, b) = (
            SafeTensors::deserialize(&a).unwrap(),
            SafeTensors::deserialize(&b).unwrap(),
        );
        let mut na: Vec<_> = a.names().into_iter().cloned().collect();
        let mut nb: Vec<_> = b.names().into_iter().cloned().collect();
        na.sort();
        nb.sort();
        assert_eq!(na, nb);
        for n in &na {
            let (ta, tb) = (a.tensor(n).unwrap(), b.tensor(n).unwrap());
            assert_eq!((ta.dtype(), ta.shape()), (tb.dtype(), tb.shape()), "{n}");
            if n.starts_with("embeddings.") || n.contains("LayerNorm") {
                assert_eq!(ta.data(), tb.data(), "{n} changed");
            }
            if n.ends_with(".weight")
                && (n.contains(".attention.") || n.contains("dense"))
                && !n.contains("LayerNorm")
            {
                assert_eq!(tb.dtype(), dtype);
                let v = floats::<f32>(tb.dtype(), tb.data(), n).unwrap();
                let keep: Vec<bool> = v.iter().map(|x| *x != 0.0).collect();
                let s = tb.shape();
                assert!(
                    is_nm(&Mask::from_bools(&keep, s[0], s[1]).unwrap(), 2, 4),
                    "{n}"
                );
                // Zeros are +0.0 bit patterns.
                assert!(v.iter().all(|x| *x != 0.0 || x.to_bits() == 0));
            }
        }
        // Loads back to the embeddings of the pruned model (up to the dtype's rounding).
        let back = SentenceEncoder::load(&out, &Device::flex()).unwrap();
        let (e1, e2) = (enc.embed(&refs, 2).unwrap(), back.embed(&refs, 2).unwrap());
        let tol = if dtype == Dtype::F32 { 1e-6 } else { 1e-2 };
        let max = e1
            .iter()
            .zip(&e2)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(max <= tol, "{dtype:?}: max |Δ| {max}");
    }
    // The output cannot be the input.
    let enc = load();
    assert!(save_model_dir(&tiny_dir(), &tiny_dir(), &enc.model, &[]).is_err());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
