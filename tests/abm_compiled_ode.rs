//! With noise off and a fate map linear in the loop species, the agent-based engine's
//! ensemble mean on a compiled model file matches the ODE engine on the same file.
//!
//! Why it must: with no noise every cell of a genotype carries the same deterministic
//! loop state x(t), so each genotype's cell count is a linear birth-death(-mutation)
//! process with time-varying hazards b(x(t)), d(x(t)), whose mean obeys exactly the
//! population ODE `dN/dt = b N (1 - u) - d N (+ u b N_parent)`. The mutant genotype
//! here overrides only a fate parameter, so its cells share the parental loop state
//! and the ODE's representative mutant cell is exact too.
//!
//! Tolerance: 4 standard errors of the mean (from the sample). The engine's
//! discretisation bias is far below that: hazards follow the trapezoid rule and the
//! loop Heun's method (both second order), so at dt = 0.25 h, where the hazards change
//! by < 0.3% per step, the relative bias is ~1e-5. Per-cell and hybrid (counts for
//! clones above 500 cells, exact in distribution) are both checked; the hybrid run,
//! being cheap, with 10x the replicates.

use std::path::{Path, PathBuf};

use resloop::abm::run::{prepare, simulate as run_abm_ensemble, AbmRequest, Mode};
use resloop::abm::NoProgress;
use resloop::compile::{compile_str, BoundModel};
use resloop::engine::ode::{simulate, OdeOptions};
use resloop::pkpd::parse_dose_spec;

const MODEL: &str = include_str!("data/linear_fate.toml");

/// The ABM ensemble runs as `resloop abm` runs it: the dose list through the therapy
/// driver on the agent-based engine.
#[test]
fn ensemble_mean_matches_ode() {
    let model = compile_str(Path::new("linear_fate.toml"), MODEL).unwrap();
    let bound = BoundModel::new(&model, &model.param_values()).unwrap();
    let t_end = 96.0;
    let n0 = 2000u64;
    let doses = parse_dose_spec(&model, "tki=1uM@30h", t_end).unwrap();

    let mut ode = OdeOptions::new(t_end);
    ode.initial_cells = Some(n0 as f64);
    ode.rtol = 1e-9;
    ode.atol = 1e-9;
    let res = simulate(&model, &bound, &doses, &ode).unwrap();
    let y = &res.final_state;
    let (ode_par, ode_res) = (y[2], y[5]);
    let (ode_x, ode_y) = (y[0], y[1]);

    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/linear_fate.toml");
    for (name, mode, reps) in [
        ("per-cell", Mode::PerCell, 300),
        (
            "hybrid",
            Mode::Hybrid {
                lump_above: 500,
                expand_below: 100,
            },
            3000,
        ),
    ] {
        let mut req = AbmRequest::new(&file);
        req.cells = Some(n0);
        req.replicates = reps;
        req.seed = 5;
        req.days = Some(t_end / 24.0);
        req.doses = vec!["tki=1uM@30h".into()];
        req.dt = "0.25h".into();
        req.mode = mode;
        req.record_every = Some("24h".into());
        req.plot = false;
        let p = prepare(&req).unwrap();
        let ens = run_abm_ensemble(&p, &NoProgress).unwrap();
        let check = |what: &str, xs: Vec<f64>, want: f64| {
            let n = xs.len() as f64;
            let m = xs.iter().sum::<f64>() / n;
            let var = xs.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
            let se = (var / n).sqrt();
            assert!(
                (m - want).abs() < 4.0 * se,
                "{name}, {what}: ABM mean {m} vs ODE {want} (se {se})"
            );
        };
        let s = &ens.summaries;
        check(
            "parental cells",
            s.iter().map(|s| s.final_by_genotype[0] as f64).collect(),
            ode_par,
        );
        check(
            "resistant cells",
            s.iter().map(|s| s.final_by_genotype[1] as f64).collect(),
            ode_res,
        );
        // The loop itself is deterministic here: every replicate's mean state equals
        // the ODE's to the integrator's accuracy (f32 storage, Heun at 0.25 h).
        for r in &ens.replicates {
            let last = r.timeline.last().unwrap();
            for (k, want) in [(0, ode_x), (1, ode_y)] {
                let got = last.species_mean[k];
                assert!(
                    (got - want).abs() < 2e-4,
                    "{name}: species {k} {got} vs {want}"
                );
            }
        }
    }
    // The drug did something: the population fell below where it would be untreated.
    assert!(ode_par < n0 as f64 * (0.036f64 * t_end).exp() * 0.5);
}
