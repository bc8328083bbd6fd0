use std::path::{Path, PathBuf};

use anyhow::Context;
use resloop::compile::{compile_file, CompiledModel};
use resloop::experiment::{run_therapy, TherapySettings};
use resloop::schedule::Schedule;
use resloop::therapy::{self, output::write_run, TherapyOptions, TherapyResult};

use super::common::say;

/// Run settings shared by `therapy` and `compare`.
#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub sets: super::common::Sets,
    /// Integrator: auto (default: dopri5, switching to rodas5p or bdf when stiff),
    /// dopri5, rodas5p, radau5, bdf, rodas4, rosenbrock23, ode-solvers-dopri5.
    #[arg(long, default_value = "auto")]
    pub method: String,
    /// Relative tolerance of the integrator (error per step relative to each value).
    #[arg(long, default_value_t = 1e-6)]
    pub rtol: f64,
    /// Absolute tolerance of the integrator (in each variable's unit; matters near zero).
    #[arg(long, default_value_t = 1e-9)]
    pub atol: f64,
    #[command(flatten)]
    pub engine: super::common::Engine,
    /// Start from a state of a fact file (its parameters, with --set on top, and its
    /// population; e.g. `resistant`): `--state NAME`, with `--facts FILE` (default:
    /// the model's own fact file). The schedule's `equilibrate` still runs from it.
    #[arg(long, value_name = "NAME")]
    pub state: Option<String>,
    /// Fact file of `--state` (default: `models/x.facts.toml` for `models/x.toml`).
    #[arg(long, value_name = "FILE", requires = "state")]
    pub facts: Option<PathBuf>,
}

impl RunArgs {
    pub fn settings(&self) -> TherapySettings {
        TherapySettings {
            sets: self.sets.sets.clone(),
            allow_out_of_bounds: self.sets.allow_out_of_bounds,
            start: self
                .state
                .clone()
                .map(|state| resloop::experiment::FactState {
                    facts: self.facts.clone(),
                    state,
                }),
            method: self.method.clone(),
            rtol: self.rtol,
            atol: self.atol,
            engine: self.engine.engine.clone(),
            replicates: self.engine.replicates,
            seed: self.engine.seed,
        }
    }

    pub fn options(&self, model: &mut CompiledModel) -> anyhow::Result<TherapyOptions> {
        Ok(self.settings().options(model)?)
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Model file (TOML).
    pub model: PathBuf,
    /// Schedule file (TOML, see docs/schedule-format.md).
    pub schedule: PathBuf,
    #[command(flatten)]
    pub run: RunArgs,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
}

/// Load a schedule for `model`, printing its warnings.
pub fn load_schedule(path: &Path, model: &CompiledModel) -> anyhow::Result<Schedule> {
    let s = Schedule::load(path, model)?;
    for w in &s.warnings {
        eprintln!("warning: {w}");
    }
    Ok(s)
}

/// One line about a finished run.
pub fn report(s: &Schedule, r: &TherapyResult) -> String {
    let m = &r.summary;
    let res = &m.story;
    let engine = if m.engine.is_stochastic() {
        format!("{} replicate {}", m.engine.label(), m.replicate)
    } else {
        format!("{}, expected values", m.engine.label())
    };
    format!(
        "{} [{engine}]: {} days ({:?}): {res}; cells {:.3e} -> {:.3e}, {} passages, {} IC50 \
         readouts; {} steps, {} assay wells, {:.1} ms",
        s.name,
        resloop::output::number::sig(m.end_days, 4),
        m.stop_reason,
        r.timeline.values.first().map_or(f64::NAN, |_| {
            let c = r.timeline.column("total", "cells").unwrap_or(0);
            r.timeline.get(0, c)
        }),
        m.final_cells,
        m.passages,
        r.ic50.len(),
        r.stats.accepted,
        r.assay_wells,
        r.wall_seconds * 1e3
    )
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let run = super::run_dir::begin(&a.out)?;
    let mut model = compile_file(&a.model)?;
    let opts = a.run.options(&mut model)?;
    let schedule = load_schedule(&a.schedule, &model)?;
    let results = run_therapy(&model, &schedule, &opts, a.run.engine.replicates)?;
    let result = &results[0];
    for w in result
        .warnings
        .iter()
        .filter(|w| !schedule.warnings.contains(w))
    {
        eprintln!("warning: {w}");
    }
    let outputs = write_run(
        run.path(),
        &model,
        &schedule,
        &opts,
        &results,
        !super::common::get().no_plot,
    )
    .with_context(|| format!("writing {}", a.out.display()))?;
    super::common::finish(
        run,
        &format!(
            "{} under {}",
            super::common::title("Therapy of", &a.model),
            schedule.name
        ),
    )?;
    say!("{}", report(&schedule, result));
    if results.len() > 1 {
        let e = therapy::EnsembleSummary::of(&results);
        say!("  {} replicates: {}", e.replicates, e.story());
        let q = |v: Option<f64>| v.map_or("not reached".to_string(), |d| format!("day {d:.1}"));
        say!(
            "  time to resistance (Kaplan-Meier): median {}, quartiles {} .. {}; {} censored",
            q(e.resistance.median_days),
            q(e.resistance.q25_days),
            q(e.resistance.q75_days),
            e.resistance.censored
        );
    }
    for e in result
        .events
        .iter()
        .filter(|e| matches!(e.kind, therapy::EventKind::Resistance(_)))
    {
        say!(
            "  {} at day {}: {}",
            e.kind.label(),
            resloop::output::number::sig(e.time * schedule.hours_per_unit / 24.0, 4),
            e.detail
        );
    }
    say!("wrote {} ({})", a.out.display(), outputs.join(", "));
    Ok(())
}
