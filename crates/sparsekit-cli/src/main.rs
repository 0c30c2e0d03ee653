//! `sparsekit`: inspect, convert and prune sparse matrix files (SciPy `.npz`, Matrix Market `.mtx`,
//! `.safetensors`, dense NumPy `.npy`), fetch real models and data, and (feature `models`, on by
//! default) embed, evaluate and capture activations with all-MiniLM-L6-v2 on burn. Files are read
//! with `sparsekit_formats::io::read_any`; without the `models` feature no command needs burn.
//!
//! Errors print one line on stderr (`error: reading a.npz: …`) and exit with status 1; usage
//! errors exit with status 2 (clap's convention).

#[cfg(feature = "models")]
mod activations;
mod convert;
#[cfg(feature = "models")]
mod distill;
#[cfg(feature = "models")]
mod embed;
#[cfg(feature = "models")]
mod eval;
mod fetch;
mod files;
mod inspect;
#[cfg(feature = "models")]
mod model_args;
mod normalize;
mod progress;
mod prune;
#[cfg(feature = "models")]
mod prune_model;
mod sae;
mod structure;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sparsekit",
    version,
    about = "Inspect, convert and prune sparse matrix files; fetch, run and evaluate real models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Shape, dtype, nnz, sparsity and structure (2:4, 1:4, 4×4 blocks, empty rows) of every
    /// matrix or tensor in a .npz, .mtx, .safetensors or .npy file.
    Inspect(inspect::Args),
    /// Convert between .npz (csr/csc/coo/bsr), .mtx, dense .npy and sparse .safetensors, in
    /// f32, f64, f16 or bf16 (the input's type from its extension and content, the output's
    /// from its extension).
    Convert(convert::Args),
    /// Prune a .safetensors checkpoint (magnitude or random; unstructured, N:M or blocks;
    /// uniform, global or ERK allocation), or, with --model, a sentence-transformers model
    /// directory with calibration (magnitude, Wanda, SparseGPT, DSnoT; OWL).
    Prune(prune::Args),
    /// Fetch a model or data set into the cache (or --dir), checked; does nothing when it is
    /// already there.
    Fetch(fetch::Args),
    /// Sentence embeddings of a text file (one text per line) with a sentence-transformers
    /// model directory, as a float32 .npy [n, dim].
    #[cfg(feature = "models")]
    Embed(embed::Args),
    /// Evaluate a sentence encoder on the Debian corpus (retrieval, section probe); prints
    /// one JSON object.
    #[cfg(feature = "models")]
    Eval(eval::Args),
    /// Capture one layer's activations at one site for every token of a text file into
    /// safetensors shards.
    #[cfg(feature = "models")]
    Activations(activations::Args),
    /// Recover a pruned model by sparse distillation from the dense one (only the non-zero
    /// weights train, the pattern stays) on the Debian corpus; writes a model directory.
    #[cfg(feature = "models")]
    Distill(distill::Args),
    /// Sparsemax, 1.5-entmax or α-entmax of a dense .npy array along one dimension (and its
    /// input gradient for a given output gradient).
    Normalize(normalize::Args),
    /// Sparse autoencoders: train on activation shards, evaluate (SAELens / sparsify formats).
    #[command(subcommand)]
    Sae(sae::Command),
}

fn main() -> ExitCode {
    // A panic is a bug, but the user still gets one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error (a sparsekit bug, please report it): {msg}{at}");
    }));
    let cli = Cli::parse();
    let result = std::panic::catch_unwind(|| match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Convert(args) => convert::run(&args),
        Command::Prune(args) => prune::run(&args),
        Command::Fetch(args) => fetch::run(&args),
        #[cfg(feature = "models")]
        Command::Embed(args) => embed::run(&args),
        #[cfg(feature = "models")]
        Command::Eval(args) => eval::run(&args),
        #[cfg(feature = "models")]
        Command::Activations(args) => activations::run(&args),
        #[cfg(feature = "models")]
        Command::Distill(args) => distill::run(&args),
        Command::Normalize(args) => normalize::run(&args),
        Command::Sae(cmd) => sae::run(&cmd),
    });
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {}", message(&e));
            ExitCode::from(1)
        }
        Err(_) => ExitCode::from(1),
    }
}

/// The context chain on one line ("reading a.npz: malformed npz file: …"), skipping a cause
/// that its parent's message already includes (I/O errors print their source).
fn message(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if parts.last().is_some_and(|p| p.contains(&s)) {
            continue;
        }
        parts.push(s);
    }
    // Reader messages are single lines already; make sure of it.
    parts
        .join(": ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
