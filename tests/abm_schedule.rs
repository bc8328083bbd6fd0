//! The agent-based engine under a schedule file: a fixed ladder with media changes
//! applies exactly the listed concentrations for exactly the listed durations, and
//! with noise off (and no passaging or rule that depends on a replicate's own growth)
//! the ensemble mean matches the ODE therapy driver on the same model and schedule.
//!
//! Why the means must agree: every cell of a genotype then carries the same
//! deterministic loop state, so cell counts are linear birth-death(-mutation)
//! processes whose means obey the population ODE (see `abm_compiled_ode.rs`); the
//! mutant genotype only changes a fate parameter, so its loop is the parental one.
//! Tolerance: 4 standard errors of the mean; the engine's second-order bias at
//! dt = 0.25 h is orders of magnitude smaller.

use resloop::abm::run::{prepare, simulate, AbmRequest, Mode};
use resloop::abm::LoopIntegration;
use resloop::compile::{compile_file, CompiledModel};
use resloop::schedule::Schedule;
use resloop::therapy::{self, TherapyOptions};

const MODEL: &str = include_str!("data/linear_fate.toml");

const SCHEDULE: &str = r#"
[schedule]
name = "ladder"
title = "Three-step ladder"
description = "test"
setting = "in_vitro"
duration = "4d"
readout_every = "12h"

[culture]
refresh_every = "24h"

[[drug]]
name = "tki"
ladder = [
  { concentration = "0.1 uM", duration = "1d" },
  { concentration = "0.5 uM", duration = "1d" },
  { concentration = "2 uM", duration = "1d" },
]
"#;

/// The test model and a schedule written to a temporary folder, and the ODE therapy
/// driver's final cells of each genotype on them.
struct Case {
    _dir: tempfile::TempDir,
    mpath: std::path::PathBuf,
    spath: std::path::PathBuf,
    model: CompiledModel,
    ode_cells: Vec<f64>,
}

fn ode_options() -> TherapyOptions {
    TherapyOptions {
        rtol: 1e-9,
        atol: 1e-9,
        ..TherapyOptions::default()
    }
}

fn case(schedule: &str) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let (mpath, spath) = (dir.path().join("m.toml"), dir.path().join("s.toml"));
    std::fs::write(&mpath, MODEL).unwrap();
    std::fs::write(&spath, schedule).unwrap();
    let model = compile_file(&mpath).unwrap();
    let schedule = Schedule::load(&spath, &model).unwrap();
    let ode = therapy::run(&model, &schedule, &ode_options()).unwrap();
    let stride = model.species.len() + 1;
    let ode_cells = (0..model.genotypes.len())
        .map(|g| ode.final_state[g * stride + stride - 1])
        .collect();
    Case {
        _dir: dir,
        mpath,
        spath,
        model,
        ode_cells,
    }
}

/// Mean and standard error of the mean.
fn mean_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let se = (xs.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
    (m, se)
}

#[test]
fn ladder_levels_and_mean_against_the_ode_driver() {
    let c = case(SCHEDULE);
    let (mpath, spath, ode_cells) = (&c.mpath, &c.spath, &c.ode_cells);

    let hybrid = Mode::Hybrid {
        lump_above: 500,
        expand_below: 100,
    };
    for (mode, reps) in [(Mode::PerCell, 300), (hybrid, 3000)] {
        let mut req = AbmRequest::new(mpath);
        req.schedule = Some(spath.clone());
        req.replicates = reps;
        req.seed = 9;
        req.dt = "0.25h".into();
        req.integration = LoopIntegration::default();
        req.mode = mode;
        req.plot = false;
        let p = prepare(&req).unwrap();
        let ens = simulate(&p, &resloop::abm::NoProgress).unwrap();

        // The ladder, read back at every readout (after the events there): 0.1 uM on
        // day 1, 0.5 on day 2, 2 from day 3 on (the last step is held).
        let want = |t: f64| match t {
            t if t < 24.0 => 0.1,
            t if t < 48.0 => 0.5,
            _ => 2.0,
        };
        for r in &ens.replicates {
            assert_eq!(r.doses.len(), 9, "readouts every 12 h over 4 days");
            for (t, d) in &r.doses {
                assert_eq!(d[0], want(*t), "{mode:?}: dose at t = {t}");
            }
        }
        for (g, &want) in ode_cells.iter().enumerate() {
            let xs: Vec<f64> = ens
                .summaries
                .iter()
                .map(|s| s.final_by_genotype[g] as f64)
                .collect();
            let (m, se) = mean_se(&xs);
            assert!(
                (m - want).abs() < 4.0 * se,
                "{mode:?}, genotype {g}: ABM mean {m} vs ODE therapy {want} (se {se})"
            );
        }
    }
    // The drug acted: fewer cells than untreated growth would give.
    assert!(ode_cells[0] < 1500.0 * (0.036f64 * 96.0).exp() * 0.5);
}

/// An in vivo schedule on the `abm` command: the founders are the injected cells that
/// take (each on its own), and nothing divides during the host's lag, so the ensemble
/// mean matches the ODE therapy driver on the same model and schedule.
#[test]
fn in_vivo_take_and_lag_on_the_abm_command_match_the_ode_driver() {
    const IN_VIVO: &str = r#"
[schedule]
name = "injection"
setting = "in_vivo"
duration = "3d"
readout_every = "12h"
initial_cells = 3000

[tumour]
take = 0.5
lag = "1d"
growth = 0.5
"#;
    let c = case(IN_VIVO);
    let want: f64 = c.ode_cells.iter().sum();

    let mut req = AbmRequest::new(&c.mpath);
    req.schedule = Some(c.spath.clone());
    req.replicates = 400;
    req.seed = 5;
    req.dt = "0.25h".into();
    req.mode = Mode::PerCell;
    req.plot = false;
    let p = prepare(&req).unwrap();
    let ens = simulate(&p, &resloop::abm::NoProgress).unwrap();
    let xs: Vec<f64> = ens
        .summaries
        .iter()
        .map(|s| s.final_by_genotype.iter().sum::<u64>() as f64)
        .collect();
    let (m, se) = mean_se(&xs);
    assert!(
        (m - want).abs() < 4.0 * se,
        "ABM mean {m} vs ODE therapy {want} (se {se})"
    );
    // The comparison tells takes apart: had every injected cell founded the tumour
    // (no crowding here, so counts are linear in the founders), the mean would double.
    let mut all = Schedule::load(&c.spath, &c.model).unwrap();
    all.host.take = 1.0;
    let all = therapy::run(&c.model, &all, &ode_options()).unwrap();
    let ratio = all.summary.final_cells / want;
    assert!((ratio - 2.0).abs() < 1e-6, "{ratio}");
    assert!(
        (2.0 * want - m).abs() > 20.0 * se,
        "{m} vs {want} (se {se})"
    );
}
