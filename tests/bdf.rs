//! `--method bdf` (variable-order BDF/NDF): it reaches the Bari test set's published
//! solutions with an error that follows the tolerance, reproduces a dosed run (a
//! restart after every dose) of the stiff benchmark loop, reuses its Jacobian over
//! many steps, and reports a numerical failure with its time and variable.

mod common;

use std::path::Path;

use common::{il6_dosed, test_set_runs, worst_rel};
use resloop::compile::{compile_str, BoundModel};
use resloop::engine::ode::{simulate, Method, OdeOptions, SimError, SolverErrorKind};

/// Largest relative error against the published reference allowed at each rtol.
/// BDF controls the local error per step (not the global error) and its global
/// error is a few to 100 times the tolerance on these problems (ROBER's and
/// POLLU's long transients accumulate it); the bound is 300 times the tolerance,
/// and it must fall with the tolerance.
const SET_BOUNDS: [(f64, f64); 2] = [(1e-6, 3e-4), (1e-9, 3e-7)];

#[test]
fn bdf_reaches_the_published_solutions_of_the_test_set() {
    for (p, runs) in test_set_runs(Method::Bdf, &SET_BOUNDS) {
        let (loose, tight) = (runs[0], runs[1]);
        assert!(tight.accepted > loose.accepted, "{}: {runs:?}", p.name());
        // The Jacobian is reused over several steps.
        assert!(
            4 * tight.jacobian_evals < tight.accepted,
            "{}: {tight:?}",
            p.name()
        );
    }
}

/// Allowed worst relative error of the dosed run (every output time, every
/// column, dense output included) against Rodas5P at rtol 1e-11: 100 times the
/// tolerance.
const DOSED_BOUNDS: [(f64, f64); 2] = [(1e-6, 1e-4), (1e-9, 1e-7)];

#[test]
fn bdf_reproduces_a_dosed_run_with_restarts() {
    let reference = il6_dosed(Method::Rodas5p, 1e-11);
    for (rtol, bound) in DOSED_BOUNDS {
        let r = il6_dosed(Method::Bdf, rtol);
        assert_eq!(r.timeline.values.len(), reference.timeline.values.len());
        let e = worst_rel(&r.timeline.values, &reference.timeline.values);
        assert!(e < bound, "rtol {rtol:e}: error {e:e} >= {bound:e}");
        // One restart per dose, as for the one-step methods.
        let rodas = il6_dosed(Method::Rodas5p, rtol);
        assert_eq!(r.stats.restarts, rodas.stats.restarts);
        assert!(
            4 * r.stats.jacobian_evals < r.stats.accepted,
            "{:?}",
            r.stats
        );
    }
}

/// A species driven below zero is reported at the time its value crosses zero on
/// the dense output, naming the species.
#[test]
fn bdf_reports_a_failure_with_time_and_variable() {
    let m = compile_str(
        Path::new("f.toml"),
        &(common::header("hours")
            + r#"
[species.X]
initial = 1.0
unit = "a.u."
description = "x"
rate = "-2"
[fate]
division = "0"
death = "0"
"#),
    )
    .unwrap();
    let b = BoundModel::new(&m, &m.param_values()).unwrap();
    let mut o = OdeOptions::new(10.0);
    o.method = Method::Bdf;
    let SimError::Solver(e) = simulate(&m, &b, &[], &o).unwrap_err() else {
        panic!("not a solver error")
    };
    assert!(
        matches!(e.kind, SolverErrorKind::Negative { ref variable, .. } if variable.starts_with("X")),
        "{e}"
    );
    assert!((e.time - 0.5).abs() < 1e-3, "reported at t = {}", e.time);
}
