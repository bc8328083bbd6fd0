use std::path::PathBuf;

use anyhow::anyhow;
use resloop::engine::ode::Method;
use resloop::engine::EngineKind;
use resloop::experiment::{run_simulate, SimulateRequest};

use super::common::say;

#[derive(clap::Args)]
pub struct Args {
    /// Model file (TOML).
    pub model: PathBuf,
    #[command(flatten)]
    pub plan: super::common::Plan,
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
    /// Number of output intervals.
    #[arg(long, default_value_t = 400)]
    pub points: usize,
    /// Cells at the start (default: the model's `initial_cells`).
    #[arg(long)]
    pub cells: Option<f64>,
    #[command(flatten)]
    pub engine: super::common::Engine,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let method = Method::parse(&a.method)
        .ok_or_else(|| anyhow!("--method `{}`: expected {}", a.method, Method::EXPECTED))?;
    let engine = a
        .engine
        .engine
        .as_deref()
        .map(EngineKind::named)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let scenario_doses = a.plan.doses.is_empty() && !a.plan.drug_free;
    let req = SimulateRequest {
        model: a.model,
        days: a.plan.days,
        doses: a.plan.doses,
        drug_free: a.plan.drug_free,
        sets: a.sets.sets,
        allow_out_of_bounds: a.sets.allow_out_of_bounds,
        method,
        rtol: a.rtol,
        atol: a.atol,
        points: a.points,
        cells: a.cells,
        plot: !super::common::get().no_plot,
        engine,
        replicates: a.engine.replicates,
        seed: a.engine.seed,
    };
    let run = super::run_dir::begin(&a.out)?;
    let (manifest, runs) = run_simulate(&req, run.path())?;
    super::common::finish(run, &super::common::title("Simulation of", &req.model))?;
    let days = manifest.run.days;
    if scenario_doses {
        let specs: Vec<&str> = manifest
            .run
            .dose_specs
            .iter()
            .map(|d| d.text.as_str())
            .collect();
        say!(
            "doses: {} (the model's [scenario]; --drug-free for none)",
            if specs.is_empty() {
                "none".to_string()
            } else {
                specs.join(", ")
            }
        );
    }
    let cells = |r: &resloop::engine::ode::SimResult| {
        let tl = &r.timeline;
        tl.column("total", "cells").map(|c| tl.series(c))
    };
    if let Some(total) = cells(&runs[0]) {
        let res = &runs[0];
        // The agent-based engine integrates each cell's loop itself: no ODE solver work.
        let work = if res.stats.rhs_evals > 0 {
            format!(
                "{} steps, {} rhs evaluations, ",
                res.stats.accepted, res.stats.rhs_evals
            )
        } else {
            String::new()
        };
        say!(
            "{} [{}{}]: {} days, cells {:.3e} -> {:.3e} (min {:.3e}); {work}{:.1} ms",
            manifest.inputs[0].name,
            manifest.run.engine.label(),
            if runs.len() > 1 { ", replicate 0" } else { "" },
            resloop::output::number::num(days),
            total[0],
            total[total.len() - 1],
            total.iter().copied().fold(f64::INFINITY, f64::min),
            res.wall_seconds * 1e3
        );
    }
    if runs.len() > 1 {
        let mut finals: Vec<f64> = runs
            .iter()
            .filter_map(|r| cells(r).and_then(|c| c.last().copied()))
            .collect();
        finals.sort_by(f64::total_cmp);
        if let (Some(lo), Some(hi)) = (finals.first(), finals.last()) {
            say!(
                "  {} replicates (seed {}): final cells median {:.3e} (range {lo:.3e} .. {hi:.3e}); \
                 extinct in {}; {:.2} s in all",
                runs.len(),
                req.seed,
                resloop::abm::ensemble::quantile(&finals, 0.5),
                finals.iter().filter(|&&c| c == 0.0).count(),
                manifest.wall_seconds.unwrap_or(0.0)
            );
        }
    }
    say!(
        "wrote {} ({})",
        a.out.display(),
        manifest.outputs.join(", ") + ", manifest.json"
    );
    Ok(())
}
