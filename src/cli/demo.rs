//! `resloop demo`: every model in models/ through every shipped workflow — its
//! default scenario, its fact table, its shipped schedules side by side, and its
//! rescue combination as a scored checkerboard. Each step is printed as the command a
//! user would type, so the demo doubles as a tour.

use std::path::{Path, PathBuf};

use anyhow::Context;
use resloop::compile::compile_file;
use resloop::experiment::{run_simulate, SimulateRequest};
use resloop::facts::{self, Measure};
use resloop::report::index::{write_index, Section};

use super::common::say;

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
    say!("\n$ resloop {}", words.join(" "));
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
    // The demo is for showing: every run folder gets its page, and `index.html`
    // links them all.
    super::common::set(super::common::Common {
        report: true,
        ..super::common::get()
    });
    let mut index: Vec<Section> = Vec::new();
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
        // The request runs the model's scenario doses (none without a scenario).
        let (days, what) = match &m.scenario {
            Some(s) => (s.days, s.description.clone()),
            None => (30.0, "no drug (the model declares no scenario)".to_string()),
        };
        let out = a.out.join(&m.meta.name);
        say!("\n=== {} — {}", m.meta.name, m.meta.title);
        let req = SimulateRequest::new(f, days);
        let run = super::run_dir::begin(&out.join("scenario"))?;
        let (_, runs) = run_simulate(&req, run.path())?;
        let res = &runs[0];
        super::common::finish(run, &format!("{} — default scenario", m.meta.name))?;
        let tl = &res.timeline;
        let total = tl.series(
            tl.column("total", "cells")
                .expect("every timeline has total cells"),
        );
        say!(
            "default scenario: {} days; {what}",
            resloop::output::number::num(days)
        );
        say!(
            "  cells {:.3e} -> {:.3e} (nadir {:.3e}); outputs in {}",
            total[0],
            total[total.len() - 1],
            total.iter().copied().fold(f64::INFINITY, f64::min),
            out.join("scenario").display()
        );
        let story = a
            .models
            .join("stories")
            .join(format!("{}.toml", m.meta.name));
        if story.is_file() {
            step(vec![
                "story".into(),
                s(&story),
                "--out".into(),
                s(&out.join("story")),
            ])?;
            step(vec![
                "live".into(),
                s(&story),
                "--out".into(),
                s(&out.join("live")),
            ])?;
        }
        let fp = resloop::experiment::facts_path(f);
        if fp.is_file() {
            step(vec![
                "validate".into(),
                s(f),
                "--out".into(),
                s(&out.join("validate")),
            ])?;
        }
        let page = |step: &str| {
            (
                step.to_string(),
                format!("{}/{step}/report.html", m.meta.name),
            )
        };
        index.push(Section {
            heading: format!("{} — {}", m.meta.name, m.meta.title),
            text: format!("default scenario: {}", what),
            links: ["story", "scenario", "validate", "compare", "checkerboard"]
                .into_iter()
                .map(page)
                .chain([(
                    "live page (sliders)".to_string(),
                    format!("{}/live/{}", m.meta.name, super::live::PAGE),
                )])
                .collect(),
        });
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
    say!("\n=== agent-based ensemble (models/minimal_loop.toml)");
    super::abm::demo(&a.out.join("abm"))?;
    say!("\n=== sweeps and sensitivity (models/sweeps/)");
    super::sweep::demo(&a.out.join("sweeps"))?;
    index.push(Section {
        heading: "Agent-based ensemble".into(),
        text: "16 replicates of 10^6 cells of models/minimal_loop.toml under its scenario".into(),
        links: vec![("abm".into(), "abm/report.html".into())],
    });
    index.push(Section {
        heading: "Sweeps and sensitivity".into(),
        text: "every sweep of models/sweeps/ with its sensitivity analysis".into(),
        links: sweep_pages(&a.out.join("sweeps")),
    });
    write_index(&a.out, "resloop demo", &index)?;
    say!("pages: {}", a.out.join("index.html").display());
    say!(
        "\ndemo finished in {:.2} s; outputs in {}",
        start.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}

/// Links to the page of every sweep folder under `dir` (relative to the demo's out).
fn sweep_pages(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("report.html").is_file())
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .map(|n| (n.clone(), format!("sweeps/{n}/report.html")))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
