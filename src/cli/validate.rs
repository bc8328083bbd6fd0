//! `resloop validate [MODEL...]`: run the models' fact files and print the table.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use resloop::facts::{self, Role, Runner, Table, Tally};

use super::common::say;

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

/// The fact file of a model file (or the fact file itself).
pub fn facts_path(p: &Path) -> PathBuf {
    let s = p.to_string_lossy();
    if s.ends_with(".facts.toml") {
        return p.to_path_buf();
    }
    p.with_extension("facts.toml")
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let files: Vec<PathBuf> = if a.models.is_empty() {
        facts::fact_files(Path::new("models")).context("cannot list models/")?
    } else {
        a.models.iter().map(|p| facts_path(p)).collect()
    };
    if files.is_empty() {
        bail!("no fact files found (expected models/*.facts.toml)");
    }
    let engine = match resloop::engine::EngineKind::parse(&a.engine) {
        Some(resloop::engine::EngineKind::AgentBased) | None => {
            bail!("--engine `{}`: expected mean-field or hybrid", a.engine)
        }
        Some(k) => k,
    };
    let mut loaded = Vec::new();
    let mut ids = Vec::new();
    for path in &files {
        let mut file = facts::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
        ids.extend(file.facts.iter().map(|f| f.id.clone()));
        if let Some(only) = &a.only {
            file.facts.retain(|f| f.id.contains(only.as_str()));
        }
        loaded.push(file);
    }
    if let Some(only) = &a.only {
        if loaded.iter().all(|f| f.facts.is_empty()) {
            let shown = ids.iter().take(12).cloned().collect::<Vec<_>>().join(", ");
            let more = ids.len().saturating_sub(12);
            bail!(
                "--only `{only}`: no fact id contains it; the facts are: {shown}{}",
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
        }
    }
    let mut rows = Vec::new();
    let mut problems = 0;
    for file in &loaded {
        let mut runner = Runner::new(file).with_engine(engine, a.seed);
        let outcomes = runner.run_all();
        say!(
            "{}\n",
            Table {
                model: &file.model.meta.name,
                outcomes: &outcomes
            }
        );
        problems += outcomes.iter().filter(|o| o.status.is_problem()).count();
        rows.push((file.model.meta.name.clone(), outcomes));
    }
    say!("summary (pass rate by role)");
    for (model, outcomes) in &rows {
        say!(
            "  {model:<20}  calibration {:<18}  prediction {}",
            Tally::of_role(outcomes, Role::Calibration).rate(),
            Tally::of_role(outcomes, Role::Prediction).rate()
        );
    }
    let run = super::run_dir::begin(&a.out)?;
    let csv = run.path().join("validate.csv");
    facts::write_csv(&csv, &rows).with_context(|| format!("cannot write {}", csv.display()))?;
    super::common::finish(run, "Fact validation")?;
    say!("wrote {}", a.out.join("validate.csv").display());
    if problems > 0 {
        bail!("{problems} fact(s) disagree with their declaration: failures not marked `known_failure`, or known failures that now pass");
    }
    Ok(())
}
