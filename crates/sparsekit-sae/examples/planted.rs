//! Trains an SAE on a planted dictionary and reports how many planted features it recovers.
//!
//! `cargo run --release -p sparsekit-sae --example planted -- [topk|batchtopk] [tokens] [auxk on|off]`
//! (defaults: topk, 2M tokens, AuxK on). Environment knobs: `PLANTED_D` (256), `PLANTED_F`
//! (2048 features), `PLANTED_EXPANSION` (d_sae / features, 1), `PLANTED_LR` (1e-3),
//! `PLANTED_DEAD` (tokens before a latent counts as dead, 200000), `PLANTED_OPT=lazy` (lazy Adam). The goal: 2048 features in 256 dims, 8 active,
//! power-law frequencies: ≥ 90 % recovered at cosine ≥ 0.9, < 1 % dead latents with AuxK.

use std::time::Instant;

use sparsekit_sae::synthetic::PlantedDictionary;
use sparsekit_sae::train::{Optimizer, TrainConfig, Trainer};
use sparsekit_sae::{Architecture, SaeConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arch = args
        .get(1)
        .and_then(|a| Architecture::from_name(a))
        .unwrap_or(Architecture::TopK);
    let tokens: u64 = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let auxk = args.get(3).map(|a| a != "off").unwrap_or(true);
    let env = |k: &str, v: f64| {
        std::env::var(k)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(v)
    };
    let (d, features, active) = (
        env("PLANTED_D", 256.0) as usize,
        env("PLANTED_F", 2048.0) as usize,
        8,
    );
    let expansion = env("PLANTED_EXPANSION", 1.0);
    let planted = PlantedDictionary::new(d, features, active, 0.5, 0.01, 7).unwrap();
    let d_sae = (features as f64 * expansion) as usize;
    let sae = SaeConfig::new(arch, d, d_sae, Some(active));
    let cfg = TrainConfig {
        lr: Some(env("PLANTED_LR", 1e-3) as f32),
        aux_coefficient: if auxk { 1.0 / 32.0 } else { 0.0 },
        dead_after_tokens: env("PLANTED_DEAD", 200_000.0) as u64,
        seed: 1,
        optimizer: if std::env::var("PLANTED_OPT").is_ok_and(|v| v == "lazy") {
            Optimizer::LazyAdam
        } else {
            Optimizer::Adam
        },
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(sae, cfg).expect("config");
    let batch = 4096;
    let t0 = Instant::now();
    let steps = tokens.div_ceil(batch as u64);
    for s in 0..steps {
        let x = planted.sample(batch, 1000 + s);
        let st = trainer.step(&x).expect("step");
        if s % 50 == 0 || s + 1 == steps {
            println!(
                "step {:>5} tokens {:>9} fvu {:.4} l0 {:.2} dead {:.4} aux {:.4}",
                st.step, st.tokens, st.fvu, st.l0, st.dead_fraction, st.aux_loss
            );
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let rec = planted.recovery(&trainer.params().w_dec, 0.9);
    let dead = trainer.dead_mask().iter().filter(|&&b| b).count() as f64 / d_sae as f64;
    println!(
        "{{\"arch\":\"{arch}\",\"optimizer\":\"{:?}\",\"d_sae\":{d_sae},\"auxk\":{auxk},\"tokens\":{tokens},\"recovered_at_0.9\":{rec:.4},\"dead_fraction\":{dead:.4},\"seconds\":{secs:.1},\"tokens_per_s\":{:.0}}}",
        trainer.config().optimizer,
        tokens as f64 / secs
    );
}
