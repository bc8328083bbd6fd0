//! `resloop validate [MODEL...]`: run the models' fact files and print the table.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use resloop::facts::{self, Role, Table, Tally};

#[derive(clap::Args)]
pub struct Args {
    /// Model files (`models/x.toml`, whose facts are `models/x.facts.toml`) or fact
    /// files; default: every `*.facts.toml` in `models/`.
    models: Vec<PathBuf>,
    /// Only facts whose id contains this text.
    #[arg(long)]
    only: Option<String>,
    /// Engine of the facts' schedules: mean-field (default: facts compare expected
    /// behaviour with the studies) or hybrid (replicate 0 of --seed).
    #[arg(long, default_value = "mean-field")]
    engine: String,
    /// Seed of a stochastic engine.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory for validate.csv.
    #[arg(long, default_value = "out/validate")]
    out: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let files: Vec<PathBuf> = if a.models.is_empty() {
        facts::fact_files(Path::new("models")).context("cannot list models/")?
    } else {
        a.models.clone()
    };
    if files.is_empty() {
        bail!("no fact files found (expected models/*.facts.toml)");
    }
    let rows = resloop::experiment::validate(&files, a.only.as_deref(), &a.engine, a.seed)?;
    let mut problems = 0;
    for (model, outcomes) in &rows {
        println!("{}\n", Table { model, outcomes });
        problems += outcomes.iter().filter(|o| o.status.is_problem()).count();
    }
    println!("summary (pass rate by role)");
    for (model, outcomes) in &rows {
        println!(
            "  {model:<20}  calibration {:<18}  prediction {}",
            Tally::of_role(outcomes, Role::Calibration).rate(),
            Tally::of_role(outcomes, Role::Prediction).rate()
        );
    }
    let run = super::run_dir::begin(&a.out)?;
    let csv = run.path().join("validate.csv");
    facts::write_csv(&csv, &rows).with_context(|| format!("cannot write {}", csv.display()))?;
    run.finish()?;
    println!("wrote {}", a.out.join("validate.csv").display());
    if problems > 0 {
        bail!("{problems} fact(s) disagree with their declaration: failures not marked `known_failure`, or known failures that now pass");
    }
    Ok(())
}
