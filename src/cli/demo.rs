//! `resloop demo`: every model in models/ through every shipped workflow — its
//! default scenario, its fact table, its shipped schedules side by side, and its
//! rescue combination as a scored checkerboard. Each step is printed as the command a
//! user would type, so the demo doubles as a tour.

use std::path::{Path, PathBuf};

use anyhow::Context;
use resloop::compile::compile_file;
use resloop::experiment::{run_simulate, SimulateRequest};
use resloop::facts::{self, Measure};

#[derive(clap::Args)]
pub struct Args {
    /// Folder of model files.
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// Output folder; each model writes into OUT/<model>/.
    #[arg(long, default_value = "out/demo")]
    out: PathBuf,
}

fn step(words: Vec<String>) -> anyhow::Result<()> {
    println!("\n$ resloop {}", words.join(" "));
    super::run_words(&words)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Shipped schedules of a model: `<models>/schedules/<model>_*.toml`.
fn schedules_of(models: &Path, name: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(models.join("schedules"))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&format!("{name}_")) && n.ends_with(".toml"))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A checkerboard around the model's first `combination` fact: its state, its two
/// drugs, each at 0 and 1/4, 1/2, 1 and 2 times the fact's dose.
fn checkerboard_words(
    facts_path: &Path,
    model: &Path,
    out: &Path,
) -> anyhow::Result<Option<Vec<String>>> {
    let file = facts::load(facts_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some((test, (da, dose_a), (db, doses_b))) =
        file.facts.iter().find_map(|f| match &f.measure {
            Measure::Combination { test, a, b, .. } => Some((test.clone(), *a, b.clone())),
            _ => None,
        })
    else {
        return Ok(None);
    };
    let ladder = |x: f64| {
        [0.0, 0.25, 0.5, 1.0, 2.0]
            .iter()
            .map(|f| format!("{}", f * x))
            .collect::<Vec<_>>()
            .join(",")
    };
    let m = &file.model;
    Ok(Some(vec![
        "checkerboard".into(),
        s(model),
        "--state".into(),
        test.state,
        "--drug-a".into(),
        m.drugs[da].name.clone(),
        "--doses-a".into(),
        ladder(dose_a),
        "--drug-b".into(),
        m.drugs[db].name.clone(),
        "--doses-b".into(),
        ladder(doses_b[doses_b.len() / 2]),
        "--out".into(),
        s(out),
    ]))
}

pub fn run(a: Args) -> anyhow::Result<()> {
    // The demo regenerates its own outputs: each of its run folders replaces the one
    // an earlier demo wrote (still only once the new one is complete).
    super::run_dir::set_overwrite(true);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&a.models)
        .with_context(|| format!("cannot read the models folder {}", a.models.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| resloop::model::is_model_file(p))
        .collect();
    files.sort();
    anyhow::ensure!(
        !files.is_empty(),
        "no model files (*.toml) in {}",
        a.models.display()
    );
    let start = std::time::Instant::now();
    for f in &files {
        let m = compile_file(f)?;
        let (days, doses, what) = match &m.scenario {
            Some(s) => (s.days, s.doses.clone(), s.description.clone()),
            None => (
                30.0,
                Vec::new(),
                "no drug (the model declares no scenario)".to_string(),
            ),
        };
        let out = a.out.join(&m.meta.name);
        println!("\n=== {} — {}", m.meta.name, m.meta.title);
        let mut req = SimulateRequest::new(f, days);
        req.doses = doses;
        let run = super::run_dir::begin(&out.join("scenario"))?;
        let (_, res) = run_simulate(&req, run.path())?;
        run.finish()?;
        let tl = &res.timeline;
        let total = tl.series(
            tl.column("total", "cells")
                .expect("every timeline has total cells"),
        );
        println!("default scenario: {days} days; {what}");
        println!(
            "  cells {:.3e} -> {:.3e} (nadir {:.3e}); outputs in {}",
            total[0],
            total[total.len() - 1],
            total.iter().copied().fold(f64::INFINITY, f64::min),
            out.join("scenario").display()
        );
        let fp = resloop::experiment::facts_path(f);
        if fp.is_file() {
            step(vec![
                "validate".into(),
                s(f),
                "--out".into(),
                s(&out.join("validate")),
            ])?;
        }
        let scheds = schedules_of(&a.models, &m.meta.name);
        if !scheds.is_empty() {
            let mut w = vec!["compare".into(), s(f)];
            w.extend(scheds.iter().map(|p| s(p)));
            w.extend(["--out".into(), s(&out.join("compare"))]);
            step(w)?;
        }
        if fp.is_file() {
            if let Some(w) = checkerboard_words(&fp, f, &out.join("checkerboard"))? {
                step(w)?;
            }
        }
    }
    println!("\n=== agent-based ensemble (models/minimal_loop.toml)");
    super::abm::demo(&a.out.join("abm"))?;
    println!("\n=== sweeps and sensitivity (models/sweeps/)");
    super::sweep::demo(&a.out.join("sweeps"))?;
    println!(
        "\ndemo finished in {:.2} s; outputs in {}",
        start.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}
