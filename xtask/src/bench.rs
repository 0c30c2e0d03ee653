//! `cargo xtask bench` (being written).

use anyhow::Result;

#[derive(clap::Args, Clone)]
pub struct BenchArgs {
    /// Run only the rows marked `q` in BENCH.md.
    #[arg(long)]
    pub quick: bool,
}

pub fn run(_args: &BenchArgs) -> Result<()> {
    anyhow::bail!("not yet implemented")
}
