//! `resloop calibrate MODEL --params a,b --out DIR`: fit a model's `assumed`
//! parameters to its fact file and record how (issue #3, item 5).

use std::path::{Path, PathBuf};

use anyhow::bail;
use resloop::calibrate::{self, Settings, Space};
use resloop::facts;

use super::common::say;

#[derive(clap::Args)]
pub struct Args {
    /// The model file (its fact file is MODEL with `.facts.toml`, unless --facts).
    model: PathBuf,
    /// Parameters to calibrate, comma-separated; each must be `assumed` and have bounds.
    #[arg(long, value_delimiter = ',', required = true)]
    params: Vec<String>,
    /// The fact file to calibrate against (its `model` must be MODEL).
    #[arg(long)]
    facts: Option<PathBuf>,
    /// At most this many runs of the fact file.
    #[arg(long, default_value_t = 200)]
    max_evals: usize,
    /// Seeds the search's initial simplices (and a hybrid engine's runs).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Engine of the facts' schedules: mean-field (default) or hybrid (the same
    /// random numbers at every parameter set).
    #[arg(long, default_value = "mean-field")]
    engine: String,
    /// Output directory (calibration.csv, best.toml, manifest.json).
    #[arg(long)]
    out: PathBuf,
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if a.model.to_string_lossy().ends_with(".facts.toml") {
        bail!(
            "{} is a fact file; give the model file (and --facts FILE if the facts are elsewhere)",
            a.model.display()
        );
    }
    if !a.model.is_file() {
        bail!("no model file {}", a.model.display());
    }
    let facts_path = a
        .facts
        .clone()
        .unwrap_or_else(|| resloop::experiment::facts_path(&a.model));
    if !facts_path.is_file() {
        bail!("no fact file {} (give --facts FILE)", facts_path.display());
    }
    let all = facts::load(&facts_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    // Predictions are never fitted to: they are left out before anything runs.
    let file = all.calibration_targets();
    let left_out = all.facts.len() - file.facts.len();
    if left_out > 0 {
        say!("{left_out} prediction fact(s) left out: calibration never uses predictions");
    }
    if !same_file(&file.model_path, &a.model) {
        bail!(
            "{} is the fact file of {}, not of {}",
            facts_path.display(),
            file.model_path.display(),
            a.model.display()
        );
    }
    let params: Vec<String> = a
        .params
        .iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    let space = Space::new(&file.model, &a.model, &params)?;
    let outputs = ["calibration.csv", "best.toml", "manifest.json"].map(|n| a.out.join(n));
    if let Some(p) = outputs
        .iter()
        .find(|p| same_file(p, &a.model) || same_file(p, &facts_path))
    {
        bail!(
            "--out would overwrite {}; choose another directory",
            p.display()
        );
    }
    let engine = match resloop::engine::EngineKind::parse(&a.engine) {
        Some(
            k @ (resloop::engine::EngineKind::MeanField | resloop::engine::EngineKind::Hybrid),
        ) => k,
        _ => anyhow::bail!("--engine `{}`: expected mean-field or hybrid", a.engine),
    };
    let settings = Settings {
        max_evals: a.max_evals,
        seed: a.seed,
        engine,
    };
    say!(
        "calibrating {} against {} ({} scored facts): {} (budget {} evaluations, seed {})",
        file.model.meta.name,
        facts_path.display(),
        file.facts
            .iter()
            .filter(|f| f.known_failure.is_none())
            .count(),
        space
            .axes
            .iter()
            .map(|x| format!(
                "{} in [{}, {}]{}",
                x.name,
                x.lo,
                x.hi,
                if x.log { " (log)" } else { "" }
            ))
            .collect::<Vec<_>>()
            .join(", "),
        a.max_evals,
        a.seed
    );
    let names: Vec<String> = space.axes.iter().map(|x| x.name.clone()).collect();
    let mut report = |e: &calibrate::Evaluation| {
        let values: Vec<String> = names
            .iter()
            .zip(&e.values)
            .map(|(n, v)| format!("{n}={v:.6}"))
            .collect();
        say!(
            "  eval {:>4}: loss {:.6}, {}/{} facts pass  {}",
            e.number,
            e.score.loss,
            e.score.passing,
            e.score.scored,
            values.join(" ")
        );
    };
    let run = super::run_dir::begin(&a.out)?;
    let cal = calibrate::calibrate(&file, &space, settings, &mut report)?;
    let tmp = |p: &std::path::Path| run.path().join(p.file_name().unwrap_or_default());
    calibrate::write_evaluations(&tmp(&outputs[0]), &cal)?;
    calibrate::write_best(&tmp(&outputs[1]), &cal, &file)?;
    let mut manifest = calibrate::manifest(&cal, &file)?;
    manifest.outputs = outputs
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    calibrate::write_manifest(&tmp(&outputs[2]), &manifest)?;
    super::common::finish(run, &super::common::title("Calibration of", &a.model))?;

    let (start, best) = (cal.start(), cal.best());
    say!(
        "\nstopped: {}; {} evaluations in {:.1} s ({:.3} s each), {} restart(s)",
        cal.stop.describe(),
        cal.evaluations.len(),
        cal.seconds,
        cal.seconds / cal.evaluations.len() as f64,
        cal.restarts
    );
    say!(
        "start: loss {:.6}, {}/{} facts pass",
        start.score.loss,
        start.score.passing,
        start.score.scored
    );
    say!(
        "best:  loss {:.6}, {}/{} facts pass (evaluation {})",
        best.score.loss,
        best.score.passing,
        best.score.scored,
        best.number
    );
    for (x, v) in space.axes.iter().zip(&best.values) {
        say!("  {:<16} {:>12.6} (was {})", x.name, v, x.start);
    }
    say!(
        "\n{}",
        facts::Table {
            model: &file.model.meta.name,
            outcomes: &best.outcomes
        }
    );
    for p in &outputs {
        say!("wrote {}", p.display());
    }
    Ok(())
}
