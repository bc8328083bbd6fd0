//! `resloop checkerboard MODEL ...`: a simulated two-drug viability checkerboard on a
//! population state, written as a plate CSV (the lab-data format) and scored.

use std::path::PathBuf;

use anyhow::Context;
use resloop::experiment::{simulate_checkerboard, CheckerboardRequest};
use resloop::synergy::{run_synergy, Method, SynergyOptions};

use super::common::say;

#[derive(clap::Args)]
pub struct Args {
    /// Model file (TOML).
    model: PathBuf,
    /// Drug A: a drug of the model (rows of the plate).
    #[arg(long)]
    drug_a: String,
    /// Comma-separated concentrations of drug A (0 included); a bare number is in the
    /// drug's unit, e.g. `0,0.1,0.3,1` or `0,100nM,300nM,1uM`.
    #[arg(long)]
    doses_a: String,
    /// Drug B: a drug of the model (columns of the plate).
    #[arg(long)]
    drug_b: String,
    /// Comma-separated concentrations of drug B, as for `--doses-a`.
    #[arg(long)]
    doses_b: String,
    /// Assay length in hours.
    #[arg(long, default_value_t = 72.0)]
    hours: f64,
    /// Cells seeded per well.
    #[arg(long, default_value_t = 3000.0)]
    seeding: f64,
    /// Population to test: `initial` (the model's initial state), a state of the
    /// model's fact file (e.g. `parental`, `resistant`; see docs/facts-format.md).
    #[arg(long, default_value = "parental")]
    state: String,
    /// Fact file whose `--state` is tested (default: the model's own,
    /// `models/x.facts.toml` for `models/x.toml`); it must describe the same model.
    #[arg(long, value_name = "FILE")]
    facts: Option<PathBuf>,
    /// Synergy methods to score the plate with (`none` to only write the plate).
    #[arg(long, default_value = "all")]
    methods: String,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let methods = if a.methods == "none" {
        vec![]
    } else {
        Method::parse_list(&a.methods)?
    };
    let req = CheckerboardRequest {
        model: a.model.clone(),
        drug_a: a.drug_a.clone(),
        doses_a: a.doses_a,
        drug_b: a.drug_b.clone(),
        doses_b: a.doses_b,
        hours: a.hours,
        seeding: a.seeding,
        state: a.state.clone(),
        facts: a.facts.clone(),
    };
    let (_, plate) = simulate_checkerboard(&req)?;
    let (na, nb) = (plate.doses_a().len(), plate.doses_b().len());
    let run = super::run_dir::begin(&a.out)?;
    let plate_path = run.path().join("plate.csv");
    plate
        .save_csv(&plate_path)
        .with_context(|| format!("cannot write {}", plate_path.display()))?;
    say!(
        "{} x {} checkerboard of {} and {} on `{}` cells ({} h): {}",
        na,
        nb,
        a.drug_a,
        a.drug_b,
        a.state,
        a.hours,
        a.out.join("plate.csv").display()
    );
    if !methods.is_empty() {
        let mut o = SynergyOptions::new(&plate_path);
        o.methods = methods;
        o.plots = !super::common::get().no_plot;
        for report in run_synergy(&o, run.path())? {
            super::synergy::print_table(&report);
        }
        say!("scores and plots in {}", a.out.display());
        // The scores name the plate they read: its final place, not the temporary one.
        super::run_dir::relocate(&run, "summary.json")?;
    }
    super::common::finish(run, &super::common::title("Checkerboard on", &a.model))?;
    Ok(())
}
