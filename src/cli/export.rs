use std::path::PathBuf;

use anyhow::Context;
use resloop::experiment::{apply_sets_checked, scenario_plan};
use resloop::sbml::export::{export, Run};

use super::common::say;

/// The run is given as `simulate` takes it (`--days`, `--dose`, `--drug-free`,
/// `--set`, `--cells`, the model's `[scenario]` by default), so the export and
/// `resloop simulate --engine mean-field` with the same flags give the same
/// trajectory. Therapy schedules are not exported: their adaptive raises,
/// on-resistance arms, passaging and assays decide as the run goes.
#[derive(clap::Args)]
pub struct Args {
    /// Model file (TOML).
    pub model: PathBuf,
    /// SBML file to write (Level 3 Version 2).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub plan: super::common::Plan,
    #[command(flatten)]
    pub sets: super::common::Sets,
    /// Cells at the start (default: the model's `initial_cells`).
    #[arg(long)]
    pub cells: Option<f64>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let mut model = resloop::compile::compile_file(&a.model)?;
    // `--set` may change the model itself (a drug's half-life), before doses are read.
    let params = apply_sets_checked(&mut model, &a.sets.sets, a.sets.allow_out_of_bounds)?;
    // Days matter only to expand doses: a model without a scenario exports
    // without them when no dose is given.
    let (days, specs) =
        if a.plan.days.is_none() && model.scenario.is_none() && a.plan.doses.is_empty() {
            (None, Vec::new())
        } else {
            let (d, s) = scenario_plan(&model, a.plan.days, &a.plan.doses, a.plan.drug_free)?;
            (Some(d), s)
        };
    let mut run = Run::of(&model);
    run.params = params;
    if let Some(c) = a.cells {
        resloop::limits::check_positive("--cells", c)?;
        run.cells = c;
    }
    if let Some(days) = days {
        resloop::limits::check_positive("--days", days)?;
        let t_end = days * 24.0 / model.meta.time_unit.hours();
        for s in &specs {
            run.doses.extend(s.events(t_end)?);
        }
        run.given.push(("days", format!("{days}")));
    }
    if !specs.is_empty() {
        let texts: Vec<&str> = specs.iter().map(|s| s.text.as_str()).collect();
        run.given.push(("doses", texts.join(" ")));
    }
    if !a.sets.sets.is_empty() {
        run.given.push(("sets", a.sets.sets.join(" ")));
    }
    if model.has_cells {
        run.given.push(("cells", format!("{:?}", run.cells)));
    }
    let exported = export(&model, &run)?;
    resloop::output::atomic::write_atomic(&a.out, |w| w.write_all(exported.xml.as_bytes()))
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    say!(
        "wrote {}: SBML Level 3 Version 2 of {} ({} genotype(s), {} species, {} drug(s), {} dose(s){})",
        a.out.display(),
        model.meta.name,
        model.genotypes.len(),
        model.species.len(),
        model.drugs.len(),
        run.doses.len(),
        days.map_or(String::new(), |d| format!(" over {d} days"))
    );
    Ok(())
}
