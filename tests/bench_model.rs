//! The benchmark scenario's accuracy: at rtol 1e-6 the default solver's worst
//! relative error against an rtol 1e-10 solve must be <= 1e-5 (issue target), over
//! all species and cell counts at the 1001 output times.

use std::path::Path;

use resloop::compile::{compile_file, BoundModel};
use resloop::engine::ode::{simulate, Method, OdeOptions};
use resloop::pkpd::{DoseEvent, DoseKind};

fn run(method: Method, rtol: f64, atol: f64) -> Vec<f64> {
    let m =
        compile_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/hill10.toml")).unwrap();
    let b = BoundModel::new(&m, &m.param_values()).unwrap();
    let doses: Vec<DoseEvent> = (0..105)
        .map(|k| DoseEvent {
            time: 3.5 * k as f64,
            drug: 0,
            kind: DoseKind::Bolus { mg_per_kg: 50.0 },
        })
        .collect();
    let mut o = OdeOptions::new(365.0);
    o.n_out = 1000;
    o.method = method;
    o.rtol = rtol;
    o.atol = atol;
    simulate(&m, &b, &doses, &o).unwrap().timeline.values
}

fn worst_rel(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1e-6))
        .fold(0.0, f64::max)
}

#[test]
fn default_solver_meets_accuracy_target_on_bench_scenario() {
    let reference = run(Method::Dopri5, 1e-10, 1e-14);
    let fast = run(Method::Dopri5, 1e-6, 1e-9);
    let err = worst_rel(&fast, &reference);
    assert!(err <= 1e-5, "worst relative error {err:e} > 1e-5");
    // The stiff method agrees with the reference too (looser: second order).
    let stiff = run(Method::Rosenbrock23, 1e-6, 1e-9);
    let e2 = worst_rel(&stiff, &reference);
    assert!(e2 <= 1e-3, "rosenbrock23 worst relative error {e2:e}");
    eprintln!("dopri5 worst rel err {err:e}; rosenbrock23 {e2:e}");
}
