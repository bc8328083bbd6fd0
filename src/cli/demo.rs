use std::path::PathBuf;

use anyhow::Context;
use resloop::compile::compile_file;
use resloop::experiment::{run_simulate, SimulateRequest};

#[derive(clap::Args)]
pub struct Args {
    /// Folder of model files.
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// Output folder; each model writes into OUT/<model>/.
    #[arg(long, default_value = "out/demo")]
    out: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<()> {
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
        let mut req = SimulateRequest::new(f, days);
        req.doses = doses;
        let out = a.out.join(&m.meta.name);
        let (_, res) = run_simulate(&req, &out)?;
        let tl = &res.timeline;
        let total = tl.series(
            tl.column("total", "cells")
                .expect("every timeline has total cells"),
        );
        println!("{} — {}", m.meta.name, m.meta.title);
        println!("  scenario: {days} days; {what}");
        println!(
            "  cells {:.3e} -> {:.3e} (nadir {:.3e}); {:.1} ms; outputs in {}",
            total[0],
            total[total.len() - 1],
            total.iter().copied().fold(f64::INFINITY, f64::min),
            res.wall_seconds * 1e3,
            out.display()
        );
    }
    println!("demo finished in {:.2} s", start.elapsed().as_secs_f64());
    Ok(())
}
