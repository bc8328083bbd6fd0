//! `resloop story STORY.toml --out DIR`: the teaching figure of a model (drug alone
//! against drug + loop breaker), from a story file.

use std::path::PathBuf;

use anyhow::Context;
use resloop::report::story;
use resloop::therapy::TherapyOptions;

use super::common::say;

#[derive(clap::Args)]
pub struct Args {
    /// Story file (`models/stories/<model>.toml`): the model, the schedule of the drug
    /// alone, the schedule with the loop breaker, the key species.
    pub story: PathBuf,
    /// Engine: hybrid (default for a model with genotypes), mean-field or agent-based.
    #[arg(long, value_name = "ENGINE")]
    pub engine: Option<String>,
    /// Seed of a stochastic engine.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let s = story::load(&a.story)?;
    let opts = TherapyOptions {
        engine: resloop::engine::EngineKind::chosen(a.engine.as_deref(), &s.model)
            .map_err(anyhow::Error::msg)?,
        seed: a.seed,
        ..TherapyOptions::default()
    };
    let run = super::run_dir::begin(&a.out)?;
    let line = story::write(&s, &opts, run.path())
        .with_context(|| format!("story {}", a.story.display()))?;
    super::common::finish(run, &s.spec.title)?;
    say!("{line}");
    say!(
        "wrote {} (story.png, story.svg, story.csv, manifest.json)",
        a.out.display()
    );
    Ok(())
}
