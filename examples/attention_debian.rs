//! A small transformer encoder trained from scratch to classify Debian package descriptions by
//! section, with softmax, sparsemax, entmax-1.5 and learned-α entmax attention (issue 17), and a
//! long-input run: sliding window + global tokens against full attention.
//!
//! ```text
//! cargo run --release --all-features --example attention_debian -- \
//!     --epochs 3 --train-limit 4000 --test-limit 1000 --long --out target/attention-debian
//! ```
//!
//! - **Data**: `sparsekit fetch debian-text` (the corpus) and `sparsekit fetch minilm` (only its
//!   `tokenizer.json` and `config.json` are used: token ids, vocabulary size, pad id). Text of a
//!   record: synopsis + long description (`sparsekit_models::eval::section_text`). Labels: the
//!   `--sections` most frequent sections of the train split
//!   ([`SectionLabels`](sparsekit_data::debian::SectionLabels)); records of other sections are
//!   dropped from train and test. The first `--train-limit` / `--test-limit` records (corpus
//!   order) of the train / test splits are used.
//! - **Model**: token embedding + learned positions, `--layers` pre-norm blocks (attention + GELU
//!   FFN of width 4·d, LayerNorm), final LayerNorm, mean pooling over non-padding tokens, a
//!   linear head; cross-entropy, Adam. Seeded; the same batch order for every run.
//! - **Per run**: test accuracy (micro; macro = mean per-section recall), the fraction of
//!   exact-zero attention weights on the test set (non-padding query/key pairs, all heads and
//!   layers), the learned α per head and layer, seconds per training epoch.
//! - **Long run** (`--long`): per section, test and train descriptions concatenated into
//!   documents of `--long-len` tokens; full attention against a sliding window of
//!   `--long-window` tokens plus `--long-global` global tokens at the start.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::module::{Module, ModuleDisplay};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{
    Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig,
};
use burn::tensor::activation::gelu;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use burn_optim::{AdamConfig, GradientsParams};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;
use sparsekit_attn::stats::ZeroCount;
use sparsekit_attn::{
    Normalizer, Pattern, SparseMultiHeadAttention, SparseMultiHeadAttentionConfig,
};
use sparsekit_data::debian::{self, Record, SectionLabels, Split};
use sparsekit_data::eval::classification::Accuracy;
use sparsekit_models::bert::BertConfig;
use sparsekit_models::eval::section_text;
use sparsekit_models::sentence::{pool, Pooling};
use sparsekit_models::tokenize::{Encoded, TextTokenizer, Truncation};

#[derive(Parser, Debug)]
#[command(about = "Sparse attention (softmax, sparsemax, entmax) on Debian section classification")]
struct Args {
    /// Training epochs per normaliser.
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// First N train-split records of the kept sections (0 = all).
    #[arg(long, default_value_t = 4000)]
    train_limit: usize,
    /// First N test-split records of the kept sections (0 = all).
    #[arg(long, default_value_t = 1000)]
    test_limit: usize,
    /// Longest input in tokens (special tokens included).
    #[arg(long, default_value_t = 64)]
    max_len: usize,
    /// Model width.
    #[arg(long, default_value_t = 64)]
    d_model: usize,
    /// Attention heads.
    #[arg(long, default_value_t = 4)]
    heads: usize,
    /// Encoder blocks.
    #[arg(long, default_value_t = 2)]
    layers: usize,
    /// Sections kept as classes (the most frequent in the train split).
    #[arg(long, default_value_t = 20)]
    sections: usize,
    /// Texts per batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Comma-separated: softmax, sparsemax, entmax15, entmax-learned.
    #[arg(long, default_value = "softmax,sparsemax,entmax15,entmax-learned")]
    normalizers: String,
    /// Also run the long-input comparison (sliding window + global tokens vs full attention).
    #[arg(long)]
    long: bool,
    /// Long run: document length in tokens.
    #[arg(long, default_value_t = 1024)]
    long_len: usize,
    /// Long run: sliding-window width: query `i` sees key `j` when `|i − j| < W`
    /// (sparsekit-attn's `SlidingWindow { width: W }`).
    #[arg(long, default_value_t = 64)]
    long_window: usize,
    /// Long run: global tokens at the start of each document.
    #[arg(long, default_value_t = 1)]
    long_global: usize,
    /// Block (tile) size of the long run's attention pattern (sparsekit-attn's block-sparse op).
    #[arg(long, default_value_t = 64)]
    block: usize,
    /// Long run: sections kept (the most frequent of the short run's).
    #[arg(long, default_value_t = 4)]
    long_sections: usize,
    /// Long run: training documents per section.
    #[arg(long, default_value_t = 40)]
    long_train: usize,
    /// Long run: test documents per section.
    #[arg(long, default_value_t = 10)]
    long_test: usize,
    /// Long run: epochs.
    #[arg(long, default_value_t = 2)]
    long_epochs: usize,
    /// Long run: documents per batch.
    #[arg(long, default_value_t = 4)]
    long_batch: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Write results.md and results.json into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
}

// -------------------------------------------------------------------------------------------
// Attention: the one place where the attention implementation is chosen.

/// The attention normaliser of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Norm {
    Softmax,
    Sparsemax,
    Entmax15,
    EntmaxLearned,
}

impl Norm {
    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "softmax" => Norm::Softmax,
            "sparsemax" => Norm::Sparsemax,
            "entmax15" => Norm::Entmax15,
            "entmax-learned" => Norm::EntmaxLearned,
            o => bail!("unknown normaliser {o:?} (softmax, sparsemax, entmax15, entmax-learned)"),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Norm::Softmax => "softmax",
            Norm::Sparsemax => "sparsemax",
            Norm::Entmax15 => "entmax-1.5",
            Norm::EntmaxLearned => "entmax, learned α (init 1.5)",
        }
    }
}

/// What an attention block of the model is: normaliser and, for the long run, a local pattern.
#[derive(Debug, Clone, Copy)]
struct AttnSpec {
    norm: Norm,
    /// `(window, global)`: a sliding window of `window` tokens plus `global` tokens at the start
    /// that attend and are attended everywhere; `None` = full attention.
    local: Option<(usize, usize)>,
}

/// A self-attention block: output `[b, s, d]` (after the output projection) and, when asked,
/// the attention probabilities `[b, h, s, s]`.
trait Attention: Module + ModuleDisplay + std::fmt::Debug {
    fn forward(
        &self,
        x: Tensor<3>,
        pad: &Tensor<2, Bool>,
        weights: bool,
    ) -> (Tensor<3>, Option<Tensor<4>>);
    /// α per head (entmax); empty when the normaliser has no α.
    fn alphas(&self) -> Vec<f32>;
    /// How the block computes attention (for the tables).
    fn kind(&self) -> &'static str;
}

/// The attention the example trains with.
type Attn = SparseMultiHeadAttention;

fn build_attention(
    spec: AttnSpec,
    d: usize,
    heads: usize,
    block: usize,
    device: &Device,
) -> Result<Attn> {
    let normalizer = match spec.norm {
        Norm::Softmax => Normalizer::Softmax,
        Norm::Sparsemax => Normalizer::Sparsemax,
        Norm::Entmax15 => Normalizer::Entmax15,
        Norm::EntmaxLearned => Normalizer::EntmaxLearned { init_alpha: 1.5 },
    };
    let pattern = spec.local.map(|(width, global)| {
        Pattern::union([
            Pattern::SlidingWindow {
                width,
                causal: false,
            },
            Pattern::Global {
                tokens: (0..global).collect(),
            },
        ])
    });
    Ok(SparseMultiHeadAttentionConfig::new(d, heads)
        .with_dropout(0.0)
        .with_normalizer(normalizer)
        .with_pattern(pattern)
        .with_block(block)
        .try_init(device)?)
}

impl Attention for SparseMultiHeadAttention {
    fn forward(
        &self,
        x: Tensor<3>,
        pad: &Tensor<2, Bool>,
        weights: bool,
    ) -> (Tensor<3>, Option<Tensor<4>>) {
        let w = weights.then(|| self.attention_weights(x.clone(), x.clone(), Some(pad.clone())));
        (self.forward_self(x, Some(pad.clone())), w)
    }

    fn alphas(&self) -> Vec<f32> {
        self.alpha
            .as_ref()
            .and_then(|a| a.alpha().try_into_vec_as::<f32>().ok())
            .unwrap_or_default()
    }

    fn kind(&self) -> &'static str {
        if self.pattern.is_some() {
            "block-sparse"
        } else {
            "dense"
        }
    }
}

// -------------------------------------------------------------------------------------------
// Model

#[derive(Module, Debug)]
struct Block<A: Attention> {
    ln_attn: LayerNorm,
    attn: A,
    ln_ff: LayerNorm,
    ff_in: Linear,
    ff_out: Linear,
}

#[derive(Module, Debug)]
struct Classifier<A: Attention> {
    tokens: Embedding,
    positions: Embedding,
    blocks: Vec<Block<A>>,
    ln: LayerNorm,
    head: Linear,
}

struct ModelShape {
    vocab: usize,
    block: usize,
    max_len: usize,
    d: usize,
    heads: usize,
    layers: usize,
    classes: usize,
}

fn build_model(m: &ModelShape, spec: AttnSpec, device: &Device) -> Result<Classifier<Attn>> {
    let emb = |n| {
        EmbeddingConfig::new(n, m.d)
            .with_initializer(Initializer::Normal {
                mean: 0.0,
                std: 0.02,
            })
            .init(device)
    };
    let blocks = (0..m.layers)
        .map(|_| {
            Ok(Block {
                ln_attn: LayerNormConfig::new(m.d).init(device),
                attn: build_attention(spec, m.d, m.heads, m.block, device)?,
                ln_ff: LayerNormConfig::new(m.d).init(device),
                ff_in: LinearConfig::new(m.d, 4 * m.d).init(device),
                ff_out: LinearConfig::new(4 * m.d, m.d).init(device),
            })
        })
        .collect::<Result<_>>()?;
    Ok(Classifier {
        tokens: emb(m.vocab),
        positions: emb(m.max_len),
        blocks,
        ln: LayerNormConfig::new(m.d).init(device),
        head: LinearConfig::new(m.d, m.classes).init(device),
    })
}

impl<A: Attention> Classifier<A> {
    /// Logits `[b, classes]` and, with `weights`, each block's attention probabilities.
    fn forward(
        &self,
        ids: Tensor<2, Int>,
        pad: Tensor<2, Bool>,
        weights: bool,
    ) -> (Tensor<2>, Vec<Tensor<4>>) {
        let [_, s] = ids.dims();
        let device = ids.device();
        let pos = Tensor::<1, Int>::arange(0..s as i64, &device).reshape([1, s]);
        let mut x = self.tokens.forward(ids) + self.positions.forward(pos);
        let mut all = Vec::new();
        for blk in &self.blocks {
            let (a, w) = blk
                .attn
                .forward(blk.ln_attn.forward(x.clone()), &pad, weights);
            all.extend(w);
            x = x + a;
            let f = blk
                .ff_out
                .forward(gelu(blk.ff_in.forward(blk.ln_ff.forward(x.clone()))));
            x = x + f;
        }
        let pooled = pool(self.ln.forward(x), pad, Pooling::Mean);
        (self.head.forward(pooled), all)
    }

    fn alphas(&self) -> Vec<Vec<f32>> {
        self.blocks.iter().map(|b| b.attn.alphas()).collect()
    }
}

// -------------------------------------------------------------------------------------------
// Data

/// Tokenised texts with their labels.
struct Texts {
    enc: Encoded,
    labels: Vec<usize>,
}

impl Texts {
    fn new(tok: &TextTokenizer, texts: &[String], labels: Vec<usize>) -> Result<Self> {
        let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
        let enc = tok.encode(&refs, 0, Truncation::Truncate)?;
        Ok(Texts { enc, labels })
    }

    fn len(&self) -> usize {
        self.labels.len()
    }

    fn tokens(&self) -> usize {
        self.enc.lengths.iter().sum()
    }

    /// Ids, padding mask and labels of `rows` on `device`, padded to the longest of them.
    fn batch(
        &self,
        rows: &[usize],
        pad_id: u32,
        device: &Device,
    ) -> (Tensor<2, Int>, Tensor<2, Bool>, Tensor<1, Int>) {
        let e = self.enc.select(rows, pad_id);
        let (ids, pad) = e.to_device(device);
        let y: Vec<i64> = rows.iter().map(|&r| self.labels[r] as i64).collect();
        let y = Tensor::from_data(TensorData::new(y, [rows.len()]), device);
        (ids, pad, y)
    }
}

/// Per label `< classes` (others dropped), documents of at least `min_words` words: the
/// section's records (seeded order) concatenated; at most `per_class` documents per label,
/// labels interleaved.
fn long_documents(
    pairs: &[(&Record, usize)],
    classes: usize,
    per_class: usize,
    min_words: usize,
    seed: u64,
) -> (Vec<String>, Vec<usize>) {
    let mut by_class: Vec<Vec<&Record>> = vec![Vec::new(); classes];
    for &(r, l) in pairs.iter().filter(|&&(_, l)| l < classes) {
        by_class[l].push(r);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut docs: Vec<Vec<String>> = Vec::new();
    for recs in &mut by_class {
        recs.shuffle(&mut rng);
        let mut out = Vec::new();
        let (mut cur, mut words) = (String::new(), 0usize);
        for r in recs.iter() {
            if out.len() == per_class {
                break;
            }
            let t = section_text(r);
            words += t.split_whitespace().count();
            cur.push_str(&t);
            cur.push('\n');
            if words >= min_words {
                out.push(std::mem::take(&mut cur));
                words = 0;
            }
        }
        docs.push(out);
    }
    let (mut texts, mut labels) = (Vec::new(), Vec::new());
    for i in 0..per_class {
        for (l, d) in docs.iter().enumerate() {
            if let Some(t) = d.get(i) {
                texts.push(t.clone());
                labels.push(l);
            }
        }
    }
    (texts, labels)
}

// -------------------------------------------------------------------------------------------
// Training and evaluation

struct Train<'a> {
    name: String,
    epochs: usize,
    batch: usize,
    lr: f64,
    seed: u64,
    pad_id: u32,
    data: &'a Texts,
}

/// Trains in place; returns seconds per epoch and the last epoch's mean loss.
fn train<A: Attention>(
    mut model: Classifier<A>,
    t: &Train<'_>,
    ad: &Device,
) -> (Classifier<A>, Vec<f64>, f64) {
    let loss_fn = CrossEntropyLossConfig::new().init(ad);
    let mut optim = AdamConfig::new().init();
    let mut order: Vec<usize> = (0..t.data.len()).collect();
    // The same shuffles for every run: seeded per run, not per model.
    let mut rng = StdRng::seed_from_u64(t.seed);
    let (mut times, mut last) = (Vec::new(), f64::NAN);
    for epoch in 0..t.epochs {
        order.shuffle(&mut rng);
        let steps = order.len().div_ceil(t.batch);
        let bar = ProgressBar::new(steps as u64).with_style(
            ProgressStyle::with_template(
                "{prefix:>28} {msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(t.name.clone());
        bar.set_message(format!("epoch {}/{}", epoch + 1, t.epochs));
        let start = Instant::now();
        let (mut sum, mut n) = (0.0f64, 0usize);
        for chunk in order.chunks(t.batch) {
            let (ids, pad, y) = t.data.batch(chunk, t.pad_id, ad);
            let (logits, _) = model.forward(ids, pad, false);
            let loss = loss_fn.forward(logits, y);
            let l = loss.clone().into_scalar::<f32>() as f64;
            sum += l * chunk.len() as f64;
            n += chunk.len();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(t.lr, model, grads);
            bar.set_message(format!(
                "epoch {}/{} loss {:.4}",
                epoch + 1,
                t.epochs,
                sum / n as f64
            ));
            bar.inc(1);
        }
        let secs = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        last = sum / n.max(1) as f64;
        eprintln!(
            "{:>28} epoch {}/{} loss {last:.4} ({secs:.1} s)",
            t.name,
            epoch + 1,
            t.epochs
        );
        times.push(secs);
    }
    (model, times, last)
}

struct Scores {
    accuracy: Accuracy,
    zero_fraction: Option<f64>,
}

/// Test accuracy and (with `zeros`) the fraction of exact-zero attention weights.
fn evaluate<A: Attention>(
    model: &Classifier<A>,
    data: &Texts,
    classes: usize,
    batch: usize,
    pad_id: u32,
    zeros: bool,
    device: &Device,
) -> Result<Scores> {
    let model = model.valid();
    let (mut pred, mut z) = (Vec::new(), ZeroCount::default());
    let rows: Vec<usize> = (0..data.len()).collect();
    for chunk in rows.chunks(batch) {
        let (ids, pad, _) = data.batch(chunk, pad_id, device);
        let (logits, ws) = model.forward(ids, pad.clone(), zeros);
        let p = logits
            .argmax(1)
            .try_into_vec_as::<i64>()
            .map_err(|e| anyhow::anyhow!("reading predictions: {e:?}"))?;
        pred.extend(p.into_iter().map(|x| x as usize));
        for w in ws {
            z += ZeroCount::of(w, Some(pad.clone()))?;
        }
    }
    Ok(Scores {
        accuracy: Accuracy::of(&pred, &data.labels, classes)?,
        zero_fraction: zeros.then(|| z.fraction()),
    })
}

// -------------------------------------------------------------------------------------------
// Results

#[derive(Serialize)]
struct NormRow {
    normalizer: Norm,
    attention: &'static str,
    accuracy_micro: f64,
    accuracy_macro: f64,
    exact_zero_fraction: f64,
    /// Per layer, per head.
    alphas: Vec<Vec<f32>>,
    seconds_per_epoch: f64,
    final_train_loss: f64,
}

#[derive(Serialize)]
struct LongRow {
    attention: String,
    kind: &'static str,
    len: usize,
    accuracy_micro: f64,
    accuracy_macro: f64,
    seconds_per_epoch: f64,
    train_tokens_per_second: f64,
}

#[derive(Serialize)]
struct Setup {
    command: String,
    sections: Vec<String>,
    train: usize,
    test: usize,
    train_tokens: usize,
    max_len: usize,
    d_model: usize,
    heads: usize,
    layers: usize,
    epochs: usize,
    batch: usize,
    lr: f64,
    seed: u64,
    long_epochs: usize,
    long_batch: usize,
    long_train_docs: usize,
    long_test_docs: usize,
    long_sections: Vec<String>,
}

#[derive(Serialize)]
struct Results {
    setup: Setup,
    runs: Vec<NormRow>,
    long: Vec<LongRow>,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn alphas_cell(a: &[Vec<f32>]) -> String {
    if a.iter().all(|l| l.is_empty()) {
        return "–".into();
    }
    a.iter()
        .enumerate()
        .map(|(i, l)| {
            let hs: Vec<String> = l.iter().map(|x| format!("{x:.2}")).collect();
            format!("L{}: {}", i + 1, hs.join(" "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn markdown(r: &Results) -> String {
    let s = &r.setup;
    let mut out = format!(
        "`{}`\n\n{} sections (top by train count: {}), {} train / {} test descriptions, \
         ≤ {} tokens, d = {}, {} heads, {} layers, {} epochs, batch {}, Adam lr {}, seed {}.\n\n",
        s.command,
        s.sections.len(),
        s.sections.join(", "),
        s.train,
        s.test,
        s.max_len,
        s.d_model,
        s.heads,
        s.layers,
        s.epochs,
        s.batch,
        s.lr,
        s.seed
    );
    out.push_str(
        "| normaliser | attention | test acc. (micro) | test acc. (macro) | exact-zero weights | α per head (final) | s / epoch | train loss |\n\
         |---|---|---:|---:|---:|---|---:|---:|\n",
    );
    for x in &r.runs {
        out.push_str(&format!(
            "| {} | {} | {:.2} % | {:.2} % | {:.1} % | {} | {:.1} | {:.3} |\n",
            x.normalizer_name(),
            x.attention,
            100.0 * x.accuracy_micro,
            100.0 * x.accuracy_macro,
            100.0 * x.exact_zero_fraction,
            alphas_cell(&x.alphas),
            x.seconds_per_epoch,
            x.final_train_loss
        ));
    }
    if !r.long.is_empty() {
        out.push_str(&format!(
            "\nLong inputs: {} sections ({}), {} train / {} test documents (descriptions of \
             one section concatenated), {} tokens each, {} epochs, batch {}.\n\n\
             | attention | kind | length | test acc. (micro) | test acc. (macro) | s / epoch | train tokens / s |\n\
             |---|---|---:|---:|---:|---:|---:|\n",
            s.long_sections.len(),
            s.long_sections.join(", "),
            s.long_train_docs,
            s.long_test_docs,
            r.long.first().map_or(0, |l| l.len),
            s.long_epochs,
            s.long_batch
        ));
        for x in &r.long {
            out.push_str(&format!(
                "| {} | {} | {} | {:.2} % | {:.2} % | {:.1} | {:.0} |\n",
                x.attention,
                x.kind,
                x.len,
                100.0 * x.accuracy_micro,
                100.0 * x.accuracy_macro,
                x.seconds_per_epoch,
                x.train_tokens_per_second
            ));
        }
    }
    out
}

impl NormRow {
    fn normalizer_name(&self) -> &'static str {
        self.normalizer.name()
    }
}

// -------------------------------------------------------------------------------------------

fn limit<T>(mut v: Vec<T>, n: usize) -> Vec<T> {
    if n > 0 {
        v.truncate(n);
    }
    v
}

fn run(args: &Args) -> Result<()> {
    let norms: Vec<Norm> = args
        .normalizers
        .split(',')
        .map(|s| Norm::parse(s.trim()))
        .collect::<Result<_>>()?;
    if args.d_model % args.heads != 0 {
        bail!(
            "--d-model {} is not a multiple of --heads {}",
            args.d_model,
            args.heads
        );
    }
    // Refuse an unavailable normaliser before any training.
    for &norm in &norms {
        build_attention(
            AttnSpec { norm, local: None },
            args.d_model,
            args.heads,
            args.block,
            &Device::flex(),
        )?;
    }
    let corpus = debian::default_dir().join(debian::FILE_NAME);
    let records = debian::read_corpus(&corpus)
        .with_context(|| format!("reading {} (sparsekit fetch debian-text)", corpus.display()))?;
    let model_dir = sparsekit_data::fetch::default_dir(&sparsekit_data::fetch::MINILM);
    let config = BertConfig::from_hf_json(&model_dir.join("config.json"))
        .with_context(|| format!("{} (sparsekit fetch minilm)", model_dir.display()))?;
    let pad_id = config.pad_token_id as u32;
    let tokenizer = TextTokenizer::from_file(
        &model_dir.join("tokenizer.json"),
        args.max_len,
        pad_id,
        config.vocab_size,
    )
    .with_context(|| format!("{} (sparsekit fetch minilm)", model_dir.display()))?;

    let labels = SectionLabels::top(&records, args.sections, 1);
    let classes = labels.len();
    let train_pairs = labels.select(&records, Split::Train);
    let test_pairs = labels.select(&records, Split::Test);
    let texts = |p: &[(&Record, usize)]| -> (Vec<String>, Vec<usize>) {
        (
            p.iter().map(|(r, _)| section_text(r)).collect(),
            p.iter().map(|&(_, l)| l).collect(),
        )
    };
    let (tr_x, tr_y) = texts(&limit(train_pairs.clone(), args.train_limit));
    let (te_x, te_y) = texts(&limit(test_pairs.clone(), args.test_limit));
    let train_set = Texts::new(&tokenizer, &tr_x, tr_y)?;
    let test_set = Texts::new(&tokenizer, &te_x, te_y)?;
    eprintln!(
        "{classes} sections ({}), {} train / {} test descriptions, {} train tokens",
        labels.names().join(", "),
        train_set.len(),
        test_set.len(),
        train_set.tokens()
    );

    let device = Device::flex();
    let ad = device.clone().autodiff();
    let shape = ModelShape {
        vocab: config.vocab_size,
        block: args.block,
        max_len: args.max_len,
        d: args.d_model,
        heads: args.heads,
        layers: args.layers,
        classes,
    };
    let mut runs = Vec::new();
    for &norm in &norms {
        ad.seed(args.seed);
        let model = build_model(&shape, AttnSpec { norm, local: None }, &ad)?;
        let attention = model.blocks[0].attn.kind();
        let t = Train {
            name: norm.name().to_string(),
            epochs: args.epochs,
            batch: args.batch,
            lr: args.lr,
            seed: args.seed,
            pad_id,
            data: &train_set,
        };
        let (model, times, loss) = train(model, &t, &ad);
        let s = evaluate(&model, &test_set, classes, 64, pad_id, true, &device)?;
        let row = NormRow {
            normalizer: norm,
            attention,
            accuracy_micro: s.accuracy.micro,
            accuracy_macro: s.accuracy.macro_,
            exact_zero_fraction: s.zero_fraction.unwrap_or(0.0),
            alphas: model.alphas(),
            seconds_per_epoch: mean(&times),
            final_train_loss: loss,
        };
        eprintln!(
            "{:>28} test acc {:.2} % (macro {:.2} %), exact zeros {:.1} %",
            norm.name(),
            100.0 * row.accuracy_micro,
            100.0 * row.accuracy_macro,
            100.0 * row.exact_zero_fraction
        );
        runs.push(row);
    }

    let mut long = Vec::new();
    let (mut long_train_docs, mut long_test_docs) = (0, 0);
    let mut long_sections = Vec::new();
    if args.long {
        let long_tok = tokenizer.with_max_len(args.long_len)?;
        let lclasses = args.long_sections.min(classes);
        // Labels are numbered by decreasing frequency: the first `lclasses` are the top sections.
        let (lx, ly) = long_documents(
            &train_pairs,
            lclasses,
            args.long_train,
            args.long_len,
            args.seed,
        );
        let (tx, ty) = long_documents(
            &test_pairs,
            lclasses,
            args.long_test,
            args.long_len,
            args.seed,
        );
        let ltrain = Texts::new(&long_tok, &lx, ly)?;
        let ltest = Texts::new(&long_tok, &tx, ty)?;
        (long_train_docs, long_test_docs) = (ltrain.len(), ltest.len());
        long_sections = labels.names()[..lclasses].to_vec();
        eprintln!(
            "long inputs: {} train / {} test documents, {} train tokens (≤ {} each)",
            ltrain.len(),
            ltest.len(),
            ltrain.tokens(),
            args.long_len
        );
        let lshape = ModelShape {
            max_len: args.long_len,
            classes: lclasses,
            ..shape
        };
        for local in [None, Some((args.long_window, args.long_global))] {
            ad.seed(args.seed);
            let spec = AttnSpec {
                norm: Norm::Softmax,
                local,
            };
            let model = build_model(&lshape, spec, &ad)?;
            let kind = model.blocks[0].attn.kind();
            let name = match local {
                None => "full".to_string(),
                Some((w, g)) => format!("window {w} + {g} global"),
            };
            let t = Train {
                name: format!("long: {name}"),
                epochs: args.long_epochs,
                batch: args.long_batch,
                lr: args.lr,
                seed: args.seed,
                pad_id,
                data: &ltrain,
            };
            let (model, times, _) = train(model, &t, &ad);
            let s = evaluate(
                &model,
                &ltest,
                lclasses,
                args.long_batch,
                pad_id,
                false,
                &device,
            )?;
            let secs = mean(&times);
            long.push(LongRow {
                attention: name,
                kind,
                len: args.long_len,
                accuracy_micro: s.accuracy.micro,
                accuracy_macro: s.accuracy.macro_,
                seconds_per_epoch: secs,
                train_tokens_per_second: ltrain.tokens() as f64 / secs,
            });
        }
    }

    let results = Results {
        setup: Setup {
            command: std::env::args().collect::<Vec<_>>().join(" "),
            sections: labels.names().to_vec(),
            train: train_set.len(),
            test: test_set.len(),
            train_tokens: train_set.tokens(),
            max_len: args.max_len,
            d_model: args.d_model,
            heads: args.heads,
            layers: args.layers,
            epochs: args.epochs,
            batch: args.batch,
            lr: args.lr,
            seed: args.seed,
            long_epochs: args.long_epochs,
            long_batch: args.long_batch,
            long_train_docs,
            long_test_docs,
            long_sections,
        },
        runs,
        long,
    };
    let md = markdown(&results);
    println!("{md}");
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(dir.join("results.md"), &md)?;
        std::fs::write(
            dir.join("results.json"),
            serde_json::to_string_pretty(&results)?,
        )?;
        eprintln!("wrote {}/results.{{md,json}}", dir.display());
    }
    Ok(())
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
