//! Sparse distillation on the tiny-BERT fixture: the dense fixture teaches a magnitude-pruned
//! copy of itself. Fast: no download.

mod common;

use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::tensor::{Device, Tensor};
use common::{tiny_dir, tiny_texts};
use safetensors::SafeTensors;
use sparsekit_formats::Mask;
use sparsekit_models::distill::{
    distill, mean_cosine, DistillConfig, DistillEvent, DistillLoss, Student,
};
use sparsekit_models::save::save_model_dir;
use sparsekit_models::tokenize::Truncation;
use sparsekit_models::{ModelError, Projection, SentenceEncoder};
use sparsekit_prune::oneshot::{magnitude, SparsityTarget};

/// Writes a copy of the fixture with every projection magnitude-pruned to `sparsity` (per
/// output row) into `dst`.
fn pruned_tiny(dst: &Path, sparsity: f64) {
    let enc = SentenceEncoder::load(&tiny_dir(), &Device::flex()).unwrap();
    let model = enc
        .model
        .map_projections(&mut |_, p| {
            let (o, i) = p.shape();
            let w = p.weight_values()?;
            let pruned = magnitude(&w, o, i, SparsityTarget::Unstructured(sparsity)).unwrap();
            p.with_weight(&pruned.weights)
        })
        .unwrap();
    save_model_dir(&tiny_dir(), dst, &model, &[]).unwrap();
}

/// A temporary directory holding a `sparsity`-pruned copy of the fixture (`pruned/`), the dense
/// fixture on Flex (the teacher) and the pruned one on Flex with autodiff (the student).
fn setup(sparsity: f64) -> (tempfile::TempDir, PathBuf, SentenceEncoder, SentenceEncoder) {
    let tmp = tempfile::tempdir().unwrap();
    let pruned_dir = tmp.path().join("pruned");
    pruned_tiny(&pruned_dir, sparsity);
    let device = Device::flex();
    let teacher = SentenceEncoder::load(&tiny_dir(), &device).unwrap();
    let student = SentenceEncoder::load(&pruned_dir, &device.autodiff()).unwrap();
    (tmp, pruned_dir, teacher, student)
}

/// Seeded sentences over the fixture's vocabulary.
fn texts(n: usize, seed: u64) -> Vec<String> {
    let words = [
        "the", "cat", "sat", "on", "mat", "a", "dog", "sparse", "network", "networks", "keep",
        "only", "weights", "that", "matter", "and", "drop", "rest", "of", "them", "hello", "world",
        "data", "is", "small", "quietly", "42", ",", ".",
    ];
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    (0..n)
        .map(|_| {
            let len = 2 + next() % 14;
            (0..len)
                .map(|_| words[next() % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn masks(enc: &SentenceEncoder) -> Vec<(String, Mask)> {
    let mut out = Vec::new();
    enc.model.visit_projections(&mut |path, p| {
        out.push((path.to_string(), p.nonzero_mask().unwrap()));
    });
    out
}

fn tensors(path: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut v: Vec<(String, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.data().to_vec()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn config() -> DistillConfig {
    DistillConfig {
        steps: 40,
        batch_size: 8,
        lr: 3e-3,
        eval_every: 10,
        valid_texts: 64,
        ..DistillConfig::default()
    }
}

#[test]
fn distillation_recovers_a_pruned_tiny_bert_and_keeps_its_mask() {
    let (tmp, pruned_dir, teacher, student) = setup(0.7);
    let device = Device::flex();
    let train = texts(400, 1);
    let mut valid = tiny_texts();
    valid.extend(texts(59, 2));

    let mut steps = 0;
    let mut evals = 0;
    let out = distill(
        &teacher,
        &student,
        &train,
        &valid,
        &config(),
        &mut |e| match e {
            DistillEvent::Step { .. } => steps += 1,
            DistillEvent::Eval(_) => evals += 1,
        },
    )
    .unwrap();
    let r = &out.report;
    assert_eq!((steps, evals), (40, 5));
    assert_eq!(r.losses.len(), 40);
    assert_eq!(
        r.evals.iter().map(|e| e.step).collect::<Vec<_>>(),
        [0, 10, 20, 30, 40]
    );
    assert_eq!(r.sparse_projections.len(), 12);
    assert!(r.frozen_projections.is_empty());
    let first: f64 = r.losses[..5].iter().sum::<f64>() / 5.0;
    let last: f64 = r.losses[35..].iter().sum::<f64>() / 5.0;
    assert!(last < 0.7 * first, "loss {first} → {last}");
    let (before, after) = (r.cosine_before().unwrap(), r.cosine_after().unwrap());
    assert!(
        after > before + 0.2 * (1.0 - before),
        "cosine {before} → {after}"
    );

    // Written back: same tensor names, the mask exactly, frozen tensors byte for byte.
    let out_dir = tmp.path().join("distilled");
    save_model_dir(&pruned_dir, &out_dir, &out.model, &[]).unwrap();
    let reloaded = SentenceEncoder::load(&out_dir, &device).unwrap();
    assert_eq!(masks(&reloaded), masks(&student));
    let a = tensors(&pruned_dir.join("model.safetensors"));
    let b = tensors(&out_dir.join("model.safetensors"));
    assert_eq!(
        a.iter().map(|t| &t.0).collect::<Vec<_>>(),
        b.iter().map(|t| &t.0).collect::<Vec<_>>()
    );
    let mut changed = 0;
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        let projection_weight = name.ends_with(".weight")
            && !name.contains("LayerNorm")
            && (name.contains(".attention.") || name.contains("dense"));
        if projection_weight {
            changed += usize::from(x != y);
        } else {
            assert_eq!(x, y, "{name} is frozen but changed");
        }
    }
    assert_eq!(changed, 12);
    for f in [
        "tokenizer.json",
        "modules.json",
        "1_Pooling/config.json",
        "config.json",
    ] {
        assert!(out_dir.join(f).is_file(), "{f}");
    }

    // The reloaded model embeds as the trained student did.
    let refs: Vec<&str> = valid.iter().map(String::as_str).collect();
    let got = reloaded.embed(&refs, 16).unwrap();
    let teacher_emb = teacher.embed(&refs, 16).unwrap();
    let reloaded_cos = mean_cosine(&got, &teacher_emb, teacher.dim()).unwrap();
    assert!(
        (reloaded_cos - after).abs() < 1e-3,
        "reloaded {reloaded_cos} vs trained {after}"
    );
}

#[test]
fn distillation_is_deterministic() {
    let (_tmp, _, teacher, student) = setup(0.5);
    let train = texts(100, 3);
    let valid = tiny_texts();
    let cfg = DistillConfig {
        steps: 6,
        loss: DistillLoss::Mse,
        ..config()
    };
    let run = || {
        distill(&teacher, &student, &train, &valid, &cfg, &mut |_| {})
            .unwrap()
            .report
    };
    let (a, b) = (run(), run());
    assert_eq!(a.losses, b.losses);
    assert_eq!(a.evals, b.evals);
    let other = distill(
        &teacher,
        &student,
        &train,
        &valid,
        &DistillConfig {
            seed: 1,
            ..cfg.clone()
        },
        &mut |_| {},
    )
    .unwrap()
    .report;
    assert_ne!(a.losses, other.losses, "the seed orders the texts");
}

/// The values of the sparse projection at `path`, on the host.
fn values(student: &Student, path: &str) -> Vec<f32> {
    let mut out = None;
    student.model.visit_projections(&mut |p, proj| {
        if let (true, Projection::Sparse(l)) = (p == path, proj) {
            out = Some(
                l.values
                    .val()
                    .inner()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap(),
            );
        }
    });
    out.expect("a sparse projection")
}

/// A copy of `student` whose value `k` of projection `path` is shifted by `delta`.
fn shifted(student: &Student, path: &str, k: usize, delta: f32) -> Student {
    let mut s = student.clone();
    s.model = s
        .model
        .map_projections(&mut |p, proj| match (p == path, proj) {
            (true, Projection::Sparse(mut l)) => {
                let mut v = l
                    .values
                    .val()
                    .inner()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap();
                v[k] += delta;
                let t = Tensor::<1>::from_floats(v.as_slice(), student.device());
                l.values = Param::from_tensor(t);
                Ok(Projection::Sparse(l))
            }
            (_, other) => Ok(other),
        })
        .unwrap();
    s
}

#[test]
fn cosine_loss_gradient_matches_finite_differences() {
    let (_tmp, _, teacher, student) = setup(0.7);
    let student = Student::new(&student).unwrap();
    let texts = tiny_texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let batch = teacher
        .tokenizer
        .encode(&refs, 0, Truncation::Truncate)
        .unwrap();
    let target = teacher.embed_encoded(&batch).unwrap();
    for (path, kind) in [
        ("encoder.layer.0.attention.self.query", DistillLoss::Cosine),
        ("encoder.layer.1.output.dense", DistillLoss::Cosine),
        ("encoder.layer.0.intermediate.dense", DistillLoss::Mse),
    ] {
        let loss = student.loss(&batch, &target, kind).unwrap();
        let grads = loss.backward();
        let mut grad = None;
        student.model.visit_projections(&mut |p, proj| {
            if let (true, Projection::Sparse(l)) = (p == path, proj) {
                grad = l.values.val().grad(&grads);
            }
        });
        let grad = grad
            .expect("the sparse values have a gradient")
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(grad.len(), values(&student, path).len());
        // The largest component, against a central difference.
        let k = (0..grad.len())
            .max_by(|&a, &b| grad[a].abs().total_cmp(&grad[b].abs()))
            .unwrap();
        let eps = 1e-2f32;
        let at = |d: f32| -> f64 {
            shifted(&student, path, k, d)
                .loss(&batch, &target, kind)
                .unwrap()
                .inner()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()[0] as f64
        };
        let fd = (at(eps) - at(-eps)) / (2.0 * eps as f64);
        let g = grad[k] as f64;
        assert!(
            (fd - g).abs() <= 0.05 * g.abs() + 1e-5,
            "{path} {kind}: analytic {g}, finite difference {fd}"
        );
    }
}

#[test]
fn only_the_sparse_values_train() {
    let (_tmp, _, _, enc) = setup(0.7);
    let student = Student::new(&enc).unwrap();
    let mut nnz = 0;
    enc.model.visit_projections(&mut |_, p| {
        nnz += p.nonzero_mask().unwrap().count_ones();
    });
    assert_eq!(student.trainable(), nnz);
    let batch = enc
        .tokenizer
        .encode(&["the cat sat", "a dog"], 0, Truncation::Truncate)
        .unwrap();
    let target = vec![0.5f32; 2 * enc.dim()];
    let grads = student
        .loss(&batch, &target, DistillLoss::Cosine)
        .unwrap()
        .backward();
    let mut with_grad = 0;
    student.model.visit_projections(&mut |_, p| {
        let Projection::Sparse(l) = p else {
            panic!("every projection is sparse")
        };
        with_grad += usize::from(l.values.val().grad(&grads).is_some());
        let b = l.bias.as_ref().expect("a bias");
        assert!(b.val().grad(&grads).is_none(), "biases are frozen");
    });
    assert_eq!(with_grad, 12);
    let ln = &student.model.layers[0].attention_norm;
    assert!(
        ln.gamma.val().grad(&grads).is_none(),
        "LayerNorms are frozen"
    );
    let word = &student.model.embeddings.word;
    assert!(
        word.weight.val().grad(&grads).is_none(),
        "embeddings are frozen"
    );
}

#[test]
fn bad_input_is_a_typed_error() {
    let (tmp, pruned_dir, teacher, student) = setup(0.7);
    let device = Device::flex();
    let train = texts(20, 4);
    let valid = tiny_texts();
    let run = |t: &SentenceEncoder, s: &SentenceEncoder, train: &[String], cfg: &DistillConfig| {
        distill(t, s, train, &valid, cfg, &mut |_| {}).map(|_| ())
    };
    let invalid = |r: Result<(), ModelError>, needle: &str| match r {
        Err(ModelError::Invalid(m)) => assert!(m.contains(needle), "{m}"),
        other => panic!("expected Invalid({needle}), got {other:?}"),
    };
    let cfg = config();
    for (bad, needle) in [
        (
            DistillConfig {
                steps: 0,
                ..cfg.clone()
            },
            "steps",
        ),
        (
            DistillConfig {
                batch_size: 0,
                ..cfg.clone()
            },
            "batch",
        ),
        (
            DistillConfig {
                lr: f64::NAN,
                ..cfg.clone()
            },
            "learning rate",
        ),
        (
            DistillConfig {
                lr: -1.0,
                ..cfg.clone()
            },
            "learning rate",
        ),
        (
            DistillConfig {
                max_tokens: 1,
                ..cfg.clone()
            },
            "tokens",
        ),
        (
            DistillConfig {
                valid_texts: 0,
                ..cfg.clone()
            },
            "validation",
        ),
    ] {
        invalid(run(&teacher, &student, &train, &bad), needle);
    }
    invalid(run(&teacher, &student, &[], &cfg), "no training text");
    match run(&teacher, &student, &["ok".into(), "  ".into()], &cfg) {
        Err(ModelError::Text { index: 1, .. }) => {}
        other => panic!("expected Text(1), got {other:?}"),
    }
    // A dense student has nothing to train; a student on a plain device cannot train.
    let dense = SentenceEncoder::load(&tiny_dir(), &device.clone().autodiff()).unwrap();
    invalid(run(&teacher, &dense, &train, &cfg), "no pruned projection");
    let plain = SentenceEncoder::load(&pruned_dir, &device).unwrap();
    invalid(run(&teacher, &plain, &train, &cfg), "autodiff");
    // A teacher of another configuration.
    let other_dir = tmp.path().join("other");
    save_model_dir(&tiny_dir(), &other_dir, &teacher.model, &[]).unwrap();
    let cfg_path = other_dir.join("config.json");
    let json = std::fs::read_to_string(&cfg_path).unwrap();
    std::fs::write(&cfg_path, json.replace("1e-12", "1e-05")).unwrap();
    let other = SentenceEncoder::load(&other_dir, &device).unwrap();
    invalid(run(&other, &student, &train, &cfg), "configuration");
    // Missing directories fail at loading, naming the path.
    match SentenceEncoder::load(&tmp.path().join("nope"), &device) {
        Err(ModelError::MissingFile { path, .. }) => assert!(path.ends_with("nope")),
        other => panic!("expected MissingFile, got {other:?}"),
    }
    // A target of the wrong width.
    let s = Student::new(&student).unwrap();
    let batch = student
        .tokenizer
        .encode(&["a dog"], 0, Truncation::Truncate)
        .unwrap();
    assert!(matches!(
        s.loss(&batch, &[0.0; 3], DistillLoss::Cosine),
        Err(ModelError::Invalid(_))
    ));
}
