//! `resloop checkerboard MODEL ...`: a simulated two-drug viability checkerboard on a
//! population state, written as a plate CSV (the lab-data format) and scored.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use resloop::assay::{checkerboard, AssaySettings};
use resloop::compile::{compile_file, BoundModel, CompiledModel};
use resloop::engine::ode::OdeRun;
use resloop::facts::{self, Runner};
use resloop::pkpd::{parse_amount, DoseKind};
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
    /// Synergy methods to score the plate with (`none` to only write the plate).
    #[arg(long, default_value = "all")]
    methods: String,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
}

fn doses(model: &CompiledModel, drug: usize, list: &str, flag: &str) -> anyhow::Result<Vec<f64>> {
    let unit = model.drugs[drug].unit.symbol();
    let mut v = Vec::new();
    for item in list.split(',') {
        let item = item.trim();
        let text = if item
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_digit() || c == '.')
        {
            format!("{item}{unit}")
        } else {
            item.to_string()
        };
        match parse_amount(model, drug, &text).map_err(|m| anyhow!("{flag} `{item}`: {m}"))? {
            DoseKind::SetConcentration { value } => v.push(value),
            DoseKind::Bolus { .. } => {
                bail!("{flag} `{item}`: a checkerboard takes concentrations, not mg/kg")
            }
        }
    }
    Ok(v)
}

/// The state to test and the model bound as that state was made.
fn state(
    model_path: &Path,
    model: &CompiledModel,
    name: &str,
) -> anyhow::Result<(Vec<f64>, BoundModel)> {
    if name == "initial" {
        let b = BoundModel::new(model, &model.param_values()).map_err(|e| anyhow!("{e}"))?;
        let y = OdeRun::initial_state(model, &b, model.initial_cells);
        return Ok((y, b));
    }
    let fp = super::validate::facts_path(model_path);
    if !fp.is_file() {
        bail!(
            "--state {name}: the model has no fact file ({}) declaring states; use --state initial",
            fp.display()
        );
    }
    let file = facts::load(&fp).map_err(|e| anyhow!("{e}"))?;
    let mut runner = Runner::new(&file);
    let s = runner
        .state_named(name)
        .map_err(|e| anyhow!("--state: {e}"))?
        .clone();
    let b = runner.bound_for(&s).map_err(|e| anyhow!("{e}"))?;
    Ok((s.y, b))
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let model = compile_file(&a.model).map_err(|e| anyhow!("{e}"))?;
    let drug = |n: &str, flag: &str| {
        model.drug_index(n).ok_or_else(|| {
            anyhow!(
                "{flag} `{n}`: the model has no such drug; its drugs are: {}",
                model
                    .drugs
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    };
    let (da, db) = (drug(&a.drug_a, "--drug-a")?, drug(&a.drug_b, "--drug-b")?);
    let doses_a = doses(&model, da, &a.doses_a, "--doses-a")?;
    let doses_b = doses(&model, db, &a.doses_b, "--doses-b")?;
    if !(a.hours.is_finite() && a.hours > 0.0) {
        bail!("--hours must be positive, found {}", a.hours);
    }
    let methods = if a.methods == "none" {
        vec![]
    } else {
        Method::parse_list(&a.methods)?
    };
    let (y, bound) = state(&a.model, &model, &a.state)?;
    let mut settings = AssaySettings::standard(&model);
    settings.duration = a.hours / model.meta.time_unit.hours();
    settings.seeding = a.seeding;
    let background = vec![0.0; model.drugs.len()];
    let plate = checkerboard(
        &model,
        &bound,
        &y,
        &background,
        da,
        &doses_a,
        db,
        &doses_b,
        &settings,
    )?;
    let run = super::run_dir::begin(&a.out)?;
    let plate_path = run.path().join("plate.csv");
    plate
        .save_csv(&plate_path)
        .with_context(|| format!("cannot write {}", plate_path.display()))?;
    say!(
        "{} x {} checkerboard of {} and {} on `{}` cells ({} h): {}",
        doses_a.len(),
        doses_b.len(),
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
