//! `resloop abm MODEL [SCHEDULE] ...`: the agent-based engine on a model file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context;
use resloop::abm::run::{
    prepare, run_abm, simulate, write_outputs, AbmManifest, AbmRequest, AbmSettings,
};
use resloop::abm::{Ensemble, Progress};
use resloop::output::number::num;
use resloop::output::progress::Meter;

use super::common::say;

#[derive(clap::Args)]
pub struct Args {
    /// Model file (TOML).
    pub model: PathBuf,
    /// Therapy schedule file (TOML, docs/schedule-format.md).
    pub schedule: Option<PathBuf>,
    /// Cells at the start (default: the model's `initial_cells`).
    #[arg(long)]
    pub cells: Option<f64>,
    /// Independent replicates.
    #[arg(long, default_value_t = 8)]
    pub replicates: u64,
    /// Random seed: the output is a pure function of the inputs and the seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Worker threads (default: all cores). The output does not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Length of the run in days (default: the model's [scenario]; not with a
    /// schedule).
    #[arg(long)]
    pub days: Option<f64>,
    /// Repeated dosing, DRUG=AMOUNT@EVERY[xCOUNT] (default: the model's [scenario]
    /// doses), e.g. `tki=1uM@72h` or `tki=50mg/kg@24hx28`.
    #[arg(long = "dose", value_name = "DRUG=AMOUNT@EVERY[xCOUNT]")]
    pub doses: Vec<String>,
    /// No drug at all (ignore the model's scenario doses).
    #[arg(long)]
    pub drug_free: bool,
    #[command(flatten)]
    pub sets: super::common::Sets,
    /// Engine time step (e.g. 1h, 0.5h, 0.05d).
    #[arg(long, default_value = "1h")]
    pub dt: String,
    /// Integrator of each cell's loop: euler, heun (default) or rk4.
    #[arg(long, default_value = "heun")]
    pub integrator: String,
    /// Loop substeps per engine step.
    #[arg(long, default_value_t = 1)]
    pub substeps: u32,
    /// auto (hybrid without noise, per-cell with), per-cell, aggregated or hybrid.
    #[arg(long, default_value = "auto")]
    pub mode: String,
    /// Hybrid mode: clones above this many cells are kept as counts.
    #[arg(long)]
    pub lump_above: Option<u64>,
    /// Hybrid mode: counts below this many cells become individual cells again.
    #[arg(long)]
    pub expand_below: Option<u64>,
    /// Interval between timeline records and Muller-plot samples (default: 1d, or
    /// the schedule's readout interval).
    #[arg(long)]
    pub record_every: Option<String>,
    /// Times of single-cell snapshots, e.g. `--snapshot 0d --snapshot 30d`
    /// (default: start, middle and end).
    #[arg(long = "snapshot", value_name = "TIME")]
    pub snapshots: Vec<String>,
    /// Species whose single-cell distributions are plotted (default: all).
    #[arg(long = "species", value_name = "NAME")]
    pub species: Vec<String>,
    /// When a replicate counts as resistant: regrowth:FACTOR, cells:N or
    /// genotype:NAME[+NAME...]:FRACTION.
    #[arg(long, default_value = "regrowth:1.25")]
    pub resistance: String,
    /// Refuse populations of individual cells needing more memory than this (GB).
    #[arg(long, default_value_t = 4.0)]
    pub memory_gb: f64,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
}

fn request(a: &Args) -> anyhow::Result<AbmRequest> {
    let s = AbmSettings {
        model: a.model.clone(),
        schedule: a.schedule.clone(),
        cells: a.cells,
        replicates: a.replicates,
        seed: a.seed,
        threads: a.threads,
        days: a.days,
        doses: a.doses.clone(),
        drug_free: a.drug_free,
        sets: a.sets.sets.clone(),
        allow_out_of_bounds: a.sets.allow_out_of_bounds,
        dt: a.dt.clone(),
        integrator: a.integrator.clone(),
        substeps: a.substeps,
        mode: a.mode.clone(),
        lump_above: a.lump_above,
        expand_below: a.expand_below,
        record_every: a.record_every.clone(),
        snapshots: a.snapshots.clone(),
        species: a.species.clone(),
        resistance: a.resistance.clone(),
        memory_gb: a.memory_gb,
        plot: !super::common::get().no_plot,
    };
    Ok(s.request()?)
}

/// Progress over replicate-time: each record advances its replicate's share.
struct Bar {
    meter: Meter,
    /// Last recorded time of each replicate (f64 bits).
    last: Vec<AtomicU64>,
    t_end: f64,
}

impl Bar {
    /// Resolution of the meter per replicate.
    const TICKS: f64 = 1000.0;

    fn new(replicates: u64, t_end: f64) -> Bar {
        let meter = Meter::new(
            !super::common::get().quiet,
            &format!("{replicates} replicates"),
            replicates * Self::TICKS as u64,
            0,
        );
        Bar {
            meter,
            last: (0..replicates).map(|_| AtomicU64::new(0)).collect(),
            t_end: t_end.max(1e-12),
        }
    }

    fn advance(&self, replicate: u64, t: f64) {
        if let Some(slot) = self.last.get(replicate as usize) {
            let old = f64::from_bits(slot.swap(t.to_bits(), Ordering::Relaxed));
            let ticks = |x: f64| (x.clamp(0.0, self.t_end) / self.t_end * Self::TICKS) as u64;
            self.meter.inc(ticks(t).saturating_sub(ticks(old)));
        }
    }
}

impl Progress for Bar {
    fn record(&self, replicate: u64, t: f64, _population: u64) {
        self.advance(replicate, t);
    }
    fn replicate_done(&self, replicate: u64) {
        self.advance(replicate, self.t_end);
    }
}

fn report(manifest: &AbmManifest, ens: &Ensemble, out: &Path) {
    let m = &manifest.run;
    let s = &m.summary;
    let tu = &m.time_unit;
    let hours = if tu == "d" { 24.0 } else { 1.0 };
    say!(
        "{}: {} replicates x {} cells for {} days ({} steps of {} h, seed {}{})",
        manifest.inputs[0].name,
        s.replicates,
        m.initial_cells,
        num(m.days),
        (m.t_end / m.dt).ceil(),
        num(m.dt * hours),
        m.seed,
        m.schedule
            .as_ref()
            .map_or(String::new(), |x| format!(", schedule {}", x.name))
    );
    match s.median_time_to_resistance {
        Some(t) => say!(
            "  resistant: {} of {} (median time {:.1} {tu}); relapse from founder {}, \
             pre-existing {}, de novo {}",
            s.resistant,
            s.replicates,
            t,
            s.relapse_founder,
            s.relapse_pre_existing,
            s.relapse_de_novo
        ),
        None => say!("  resistant: 0 of {} ({})", s.replicates, m.resistance),
    }
    say!(
        "  extinct: {} of {}; median final population {:.3e}; P(resistant by end) {:.2}",
        s.extinct,
        s.replicates,
        s.median_final_cells,
        ens.probability_resistant_by(m.t_end)
    );
    say!(
        "  {:.3e} cell-steps, {:.3e} clone-steps as counts, {:.2} s",
        s.cell_steps as f64,
        s.lump_steps as f64,
        manifest.wall_seconds.unwrap_or(0.0)
    );
    say!(
        "wrote {} ({}, manifest.json)",
        out.display(),
        manifest.outputs.join(", ")
    );
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let req = request(&a)?;
    let context = || format!("resloop abm {}", a.model.display());
    let p = prepare(&req).with_context(context)?;
    let bar = Bar::new(req.replicates, p.config.t_end);
    let start = Instant::now();
    let ens = simulate(&p, &bar);
    bar.meter.finish();
    let ens = ens.with_context(context)?;
    let run = super::run_dir::begin(&a.out)?;
    let manifest = write_outputs(&req, &p, &ens, run.path(), start.elapsed().as_secs_f64())
        .with_context(context)?;
    super::common::finish(run, &super::common::title("Agent-based run of", &a.model))?;
    report(&manifest, &ens, &a.out);
    Ok(())
}

/// The agent-based part of `resloop demo`: a small ensemble of the teaching model
/// under its scenario (hybrid mode, so 10^6 cells and their rare mutants take
/// seconds), written to `out`.
pub fn demo(out: &Path) -> anyhow::Result<()> {
    let model = Path::new("models/minimal_loop.toml");
    let mut req = AbmRequest::new(model);
    req.replicates = 16;
    req.seed = 1;
    req.cells = Some(1_000_000);
    let run = super::run_dir::begin(out)?;
    let (manifest, ens) = run_abm(&req, run.path(), &resloop::abm::NoProgress)
        .with_context(|| format!("agent-based demo of {}", model.display()))?;
    super::common::finish(run, &super::common::title("Agent-based ensemble of", model))?;
    report(&manifest, &ens, out);
    Ok(())
}
