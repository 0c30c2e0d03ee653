//! `sparsekit sae train` and `sparsekit sae eval`: sparse autoencoders on activation shards
//! (sparsekit-sae does the work; this is argument parsing and printing).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};
use sparsekit_sae::run::{train_on_shards, RunConfig};
use sparsekit_sae::train::{BDecInit, KAnneal, Optimizer, TrainConfig};
use sparsekit_sae::{Architecture, Normalization, SaeConfig};

#[derive(Subcommand)]
pub enum Command {
    /// Train an SAE on activation shards (`sparsekit activations` output); saves a SAELens
    /// directory, a checkpoint and a metrics log (JSON lines) in --output.
    Train(TrainArgs),
    /// Evaluate an SAE directory (SAELens or sparsify) on activation shards; prints one JSON
    /// object (fvu, l0, dead_fraction, feature-density histogram, and with --model the
    /// downstream effect of splicing it into the model).
    Eval(EvalArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Arch {
    Topk,
    Batchtopk,
    Jumprelu,
    Relu,
    Gated,
}

impl From<Arch> for Architecture {
    fn from(a: Arch) -> Self {
        match a {
            Arch::Topk => Architecture::TopK,
            Arch::Batchtopk => Architecture::BatchTopK,
            Arch::Jumprelu => Architecture::JumpRelu,
            Arch::Relu => Architecture::Relu,
            Arch::Gated => Architecture::Gated,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InputScaling {
    None,
    ExpectedAverageOnlyIn,
    ConstantNormRescale,
    LayerNorm,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Opt {
    /// torch.optim.Adam: every value every step.
    Adam,
    /// Only the rows of latents that fired.
    LazyAdam,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BDec {
    Zeros,
    Mean,
    GeometricMedian,
}

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Shard directory written by `sparsekit activations`.
    #[arg(long)]
    pub activations: PathBuf,
    /// Output directory.
    #[arg(long)]
    pub output: PathBuf,
    #[arg(long, value_enum, default_value_t = Arch::Topk)]
    pub arch: Arch,
    /// Active latents per token (topk, batchtopk).
    #[arg(long, default_value_t = 32)]
    pub k: usize,
    /// d_sae = expansion × d_in (ignored with --d-sae).
    #[arg(long, default_value_t = 32)]
    pub expansion: usize,
    /// Number of latents.
    #[arg(long)]
    pub d_sae: Option<usize>,
    /// Tokens per step.
    #[arg(long, default_value_t = 4096)]
    pub batch: usize,
    /// Tokens to train on.
    #[arg(long)]
    pub tokens: u64,
    /// Learning rate [default: 2e-4 / sqrt(d_sae / 16384)].
    #[arg(long)]
    pub lr: Option<f32>,
    /// Linear learning-rate warm-up steps.
    #[arg(long, default_value_t = 0)]
    pub lr_warmup_steps: u64,
    #[arg(long, value_enum, default_value_t = Opt::Adam)]
    pub optimizer: Opt,
    /// AuxK coefficient (0: off).
    #[arg(long, default_value_t = 1.0 / 32.0)]
    pub aux_coefficient: f32,
    /// AuxK's dead latents per token [default: d_in / 2].
    #[arg(long)]
    pub aux_k: Option<usize>,
    /// Tokens without firing after which a latent is dead.
    #[arg(long, default_value_t = 10_000_000)]
    pub dead_after: u64,
    /// k annealing: start at this k and reach --k after --k-anneal-tokens tokens.
    #[arg(long, requires = "k_anneal_tokens")]
    pub k_start: Option<usize>,
    #[arg(long, requires = "k_start")]
    pub k_anneal_tokens: Option<u64>,
    /// L1 coefficient (relu, gated).
    #[arg(long, default_value_t = 1.0)]
    pub l1_coefficient: f32,
    /// L0 coefficient (jumprelu).
    #[arg(long, default_value_t = 1.0)]
    pub l0_coefficient: f32,
    /// JumpReLU straight-through bandwidth.
    #[arg(long, default_value_t = 0.001)]
    pub bandwidth: f32,
    /// JumpReLU initial threshold.
    #[arg(long, default_value_t = 0.001)]
    pub threshold_init: f32,
    /// Input normalisation (SAELens' names).
    #[arg(long, value_enum, default_value_t = InputScaling::None)]
    pub normalize: InputScaling,
    #[arg(long, value_enum, default_value_t = BDec::GeometricMedian)]
    pub b_dec_init: BDec,
    /// Don't subtract b_dec from the input before encoding.
    #[arg(long)]
    pub no_b_dec_on_input: bool,
    /// Rows in the shuffle buffer.
    #[arg(long, default_value_t = 65536)]
    pub shuffle_buffer: usize,
    /// Seed of the weights and the data order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Steps between checkpoints (0: only at the end).
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: u64,
    /// Steps between metrics-log lines.
    #[arg(long, default_value_t = 1)]
    pub log_every: u64,
    /// Continue from --output/checkpoint (bit-for-bit the same as an uninterrupted run).
    #[arg(long)]
    pub resume: bool,
    /// Training device: `cpu` (the fused SIMD + rayon trainer).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

#[derive(clap::Args)]
pub struct EvalArgs {
    /// SAE directory (SAELens or EleutherAI sparsify).
    #[arg(long)]
    pub sae: PathBuf,
    /// Shard directory.
    #[arg(long)]
    pub activations: PathBuf,
    /// Evaluate at most this many tokens.
    #[arg(long)]
    pub max_tokens: Option<u64>,
    /// Tokens per evaluated batch (--batch is the model's texts per forward pass).
    #[arg(long, default_value_t = 4096)]
    pub token_batch: usize,
    /// Splice the SAE into this layer of the model (needs --model or the fetched MiniLM).
    #[arg(long, requires = "site")]
    pub layer: Option<usize>,
    /// The site of --layer (resid_pre, attn_out, resid_mid, mlp_hidden, mlp_out, resid_post).
    #[arg(long, requires = "layer")]
    pub site: Option<String>,
    /// Debian records of the test split for the downstream evaluation.
    #[arg(long)]
    pub limit: Option<usize>,
    /// The corpus [default: where `sparsekit fetch debian-text` writes it].
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    #[cfg(feature = "models")]
    #[command(flatten)]
    pub model: crate::model_args::ModelArgs,
}

pub fn run(cmd: &Command) -> Result<()> {
    match cmd {
        Command::Train(a) => train(a),
        Command::Eval(a) => eval(a),
    }
}

fn train(a: &TrainArgs) -> Result<()> {
    if !a.device.eq_ignore_ascii_case("cpu") {
        bail!(
            "--device {}: SAE training runs on the CPU kernels (--device cpu); evaluate on any device with `sae eval`",
            a.device
        );
    }
    let reader = sparsekit_data::shards::ShardReader::open(&a.activations)
        .with_context(|| format!("opening the activations {}", a.activations.display()))?;
    let d_in = reader.manifest().d;
    let arch: Architecture = a.arch.into();
    let d_sae = a.d_sae.unwrap_or(a.expansion * d_in);
    let mut sae = SaeConfig::new(arch, d_in, d_sae, arch.uses_k().then_some(a.k));
    sae.apply_b_dec_to_input = !a.no_b_dec_on_input;
    sae.normalize_activations = match a.normalize {
        InputScaling::None => Normalization::None,
        InputScaling::ExpectedAverageOnlyIn => Normalization::ExpectedAverageOnlyIn,
        InputScaling::ConstantNormRescale => Normalization::ConstantNormRescale,
        InputScaling::LayerNorm => Normalization::LayerNorm,
    };
    let cfg = TrainConfig {
        lr: a.lr,
        lr_warmup_steps: a.lr_warmup_steps,
        optimizer: match a.optimizer {
            Opt::Adam => Optimizer::Adam,
            Opt::LazyAdam => Optimizer::LazyAdam,
        },
        b_dec_init: match a.b_dec_init {
            BDec::Zeros => BDecInit::Zeros,
            BDec::Mean => BDecInit::Mean,
            BDec::GeometricMedian => BDecInit::GeometricMedian,
        },
        k_anneal: a
            .k_start
            .zip(a.k_anneal_tokens)
            .map(|(start, tokens)| KAnneal { start, tokens }),
        aux_k: a.aux_k,
        aux_coefficient: a.aux_coefficient,
        dead_after_tokens: a.dead_after,
        l1_coefficient: a.l1_coefficient,
        l0_coefficient: a.l0_coefficient,
        bandwidth: a.bandwidth,
        threshold_init: a.threshold_init,
        seed: a.seed,
        ..TrainConfig::default()
    };
    let run = RunConfig {
        activations: a.activations.clone(),
        batch: a.batch,
        tokens: a.tokens,
        shuffle_buffer: a.shuffle_buffer,
        data_seed: a.seed,
        checkpoint_every: a.checkpoint_every,
        log_every: a.log_every,
    };
    let steps = a.tokens.div_ceil(a.batch.max(1) as u64);
    let bar = crate::progress::bar(Some(steps), "steps");
    let (trainer, report) = train_on_shards(&run, sae, cfg, &a.output, a.resume, |st, tps| {
        bar.set_position(st.step);
        bar.set_message(format!(
            "L0 {:.1} FVU {:.4} dead {:.2}% aux {:.4} {:.0} tokens/s",
            st.l0,
            st.fvu,
            100.0 * st.dead_fraction,
            st.aux_loss,
            tps
        ));
    })?;
    bar.finish_and_clear();
    let p = trainer.params();
    let summary = serde_json::json!({
        "output": a.output,
        "architecture": p.config.architecture.name(),
        "d_in": p.config.d_in,
        "d_sae": p.config.d_sae,
        "steps": trainer.state().step,
        "tokens": trainer.state().tokens,
        "last": report.last,
        "seconds": report.seconds,
        "tokens_per_s": report.tokens_per_s,
    });
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

fn eval(a: &EvalArgs) -> Result<()> {
    let params = sparsekit_sae::format::load_any(&a.sae)
        .with_context(|| format!("loading the SAE {}", a.sae.display()))?;
    let sae = Arc::new(sparsekit_sae::Sae::new(params)?);
    let report =
        sparsekit_sae::eval::evaluate_shards(&sae, &a.activations, a.token_batch, a.max_tokens)?;
    // Mutated only by the `models` part (the MiniLM splice columns).
    #[cfg_attr(not(feature = "models"), allow(unused_mut))]
    let mut json = serde_json::to_value(&report)?;
    #[cfg(not(feature = "models"))]
    if a.layer.is_some() {
        bail!(
            "--layer/--site need the model: this sparsekit was built without the `models` feature"
        );
    }
    #[cfg(feature = "models")]
    if let (Some(layer), Some(site)) = (a.layer, &a.site) {
        let site: sparsekit_models::Site = site.parse().map_err(anyhow::Error::msg)?;
        let corpus = a
            .corpus
            .clone()
            .unwrap_or_else(|| sparsekit_data::debian::default_dir().join("descriptions.jsonl"));
        let records = sparsekit_data::debian::read_corpus(&corpus).with_context(|| {
            format!(
                "reading the corpus {} (`sparsekit fetch debian-text` writes it)",
                corpus.display()
            )
        })?;
        let encoder = a.model.load()?;
        let splice = sparsekit_sae::splice::sae_splice(&encoder, sae.clone(), layer, site)?;
        let down =
            sparsekit_sae::splice::downstream(&encoder, splice, &records, a.limit, a.model.batch)?;
        json["downstream"] = serde_json::to_value(&down)?;
        json["layer"] = layer.into();
        json["site"] = site.name().into();
    }
    println!("{}", serde_json::to_string(&json)?);
    Ok(())
}
