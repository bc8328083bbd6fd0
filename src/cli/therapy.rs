use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use resloop::compile::{compile_file, CompiledModel};
use resloop::engine::ode::Method;
use resloop::engine::EngineKind;
use resloop::experiment::apply_sets_checked;
use resloop::schedule::Schedule;
use resloop::therapy::{self, output::write_run, TherapyOptions, TherapyResult};

use super::common::say;

/// Run settings shared by `therapy` and `compare`.
#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub sets: super::common::Sets,
    /// Integrator: auto (default: dopri5, switching to rodas5p when stiff), dopri5,
    /// rodas5p, rodas4, rosenbrock23, ode-solvers-dopri5.
    #[arg(long, default_value = "auto")]
    pub method: String,
    /// Relative tolerance of the integrator (error per step relative to each value).
    #[arg(long, default_value_t = 1e-6)]
    pub rtol: f64,
    /// Absolute tolerance of the integrator (in each variable's unit; matters near zero).
    #[arg(long, default_value_t = 1e-9)]
    pub atol: f64,
    /// Engine: hybrid (default for a model with genotypes: small clones as exact random
    /// births, deaths and mutant arrivals, large ones as ODEs), mean-field (the ODE
    /// alone: counts are expected values; default for a model with one genotype), or
    /// agent-based (every cell, 1 h steps; clones above 10^4 cells as counts when the
    /// model has no cell-to-cell noise).
    #[arg(long, value_name = "ENGINE")]
    pub engine: Option<String>,
    /// Replicates of a stochastic engine (run in parallel; ignored by mean-field).
    #[arg(long, default_value_t = 1)]
    pub replicates: u64,
    /// Seed of a stochastic engine: replicate r is a pure function of (inputs, seed, r).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl RunArgs {
    pub fn options(&self, model: &CompiledModel) -> anyhow::Result<TherapyOptions> {
        let method = Method::parse(&self.method)
            .ok_or_else(|| anyhow!("--method `{}`: expected {}", self.method, Method::EXPECTED))?;
        resloop::limits::check_tolerances(self.rtol, self.atol)?;
        let engine = engine_for(self.engine.as_deref(), model)?;
        if self.replicates == 0 {
            bail!("--replicates must be at least 1");
        }
        Ok(TherapyOptions {
            params: Some(apply_sets_checked(
                model,
                &self.sets.sets,
                self.sets.allow_out_of_bounds,
            )?),
            method,
            rtol: self.rtol,
            atol: self.atol,
            engine,
            seed: self.seed,
            ..TherapyOptions::default()
        })
    }
}

/// Refuse, before running, replicates whose timelines would exceed the output cap
/// (`--limit output_mb=...`): the estimate is one run's readouts times replicates.
pub fn check_output_size(
    model: &CompiledModel,
    schedules: &[&Schedule],
    opts: &TherapyOptions,
    replicates: u64,
) -> anyhow::Result<()> {
    let reps = if opts.engine.is_stochastic() {
        replicates.max(1)
    } else {
        1
    };
    let mb: f64 = schedules
        .iter()
        .map(|s| {
            let readouts = (s.duration / s.readout_every).ceil() as usize;
            resloop::experiment::timeline_mb(model, readouts) * reps as f64
        })
        .sum();
    resloop::limits::check(resloop::limits::Limit::OutputMb, mb)?;
    Ok(())
}

/// The engine named by `--engine`, or the default: hybrid for a model with
/// genotypes (mutants arise and die out as whole cells), mean-field otherwise.
pub fn engine_for(name: Option<&str>, model: &CompiledModel) -> anyhow::Result<EngineKind> {
    match name {
        None => Ok(if model.genotypes.len() > 1 {
            EngineKind::Hybrid
        } else {
            EngineKind::MeanField
        }),
        Some(n) => match EngineKind::parse(n) {
            Some(k) => Ok(k),
            None => bail!("--engine `{n}`: expected one of {}", EngineKind::NAMES),
        },
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
    let model = compile_file(&a.model)?;
    let opts = a.run.options(&model)?;
    let schedule = load_schedule(&a.schedule, &model)?;
    check_output_size(&model, &[&schedule], &opts, a.run.replicates)?;
    let results = therapy::run_replicates(&model, &schedule, &opts, a.run.replicates)?;
    let result = &results[0];
    for w in result
        .warnings
        .iter()
        .filter(|w| !schedule.warnings.contains(w))
    {
        eprintln!("warning: {w}");
    }
    for r in &results {
        resloop::output::timeline::check_timeline(&r.timeline)?;
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
