//! `--method radau5` (Radau IIA, order 5): it reaches the Bari test set's published
//! solutions with an error that follows the tolerance, and it reproduces a dosed
//! run (a restart after every dose) of the stiff benchmark loop as the Rosenbrock
//! methods do, while reusing its Jacobian over many steps.

use std::path::Path;

use resloop::compile::{compile_file, BoundModel};
use resloop::engine::ode::testset::TestProblem;
use resloop::engine::ode::{simulate, Method, OdeOptions, SimResult};
use resloop::pkpd::{DoseEvent, DoseKind};

/// Largest relative error against the published reference allowed at each rtol:
/// the same bounds `engine::ode::testset`'s test holds the Rosenbrock methods to.
const SET_BOUNDS: [(f64, f64); 2] = [(1e-6, 1e-5), (1e-9, 2e-8)];

#[test]
fn radau5_reaches_the_published_solutions_of_the_test_set() {
    for p in TestProblem::ALL {
        let mut steps = Vec::new();
        for (rtol, bound) in SET_BOUNDS {
            let mut s = Method::Radau5.solver(rtol, p.atol(rtol));
            let (mut t, mut y, mut sys) = (0.0, p.initial(), p);
            s.advance(&mut sys, &mut t, &mut y, p.t_end(), &[], &mut |_, _| {})
                .unwrap_or_else(|e| panic!("{} rtol {rtol:e}: {e}", p.name()));
            let e = p.max_relative_error(&y);
            assert!(
                e < bound,
                "{} rtol {rtol:e}: error {e:e} >= {bound:e}",
                p.name()
            );
            steps.push(s.stats().accepted);
        }
        assert!(steps[1] > steps[0], "{}: {steps:?}", p.name());
    }
}

/// The stiff loop with doses (`benches/il6_loop.toml`): 60 days, a bolus every 3.5
/// days, 200 output intervals.
fn il6_dosed(method: Method, rtol: f64) -> SimResult {
    let m =
        compile_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/il6_loop.toml")).unwrap();
    let b = BoundModel::new(&m, &m.param_values()).unwrap();
    let doses: Vec<DoseEvent> = (0..18)
        .map(|k| DoseEvent {
            time: 3.5 * k as f64,
            drug: 0,
            kind: DoseKind::Bolus {
                mg_per_kg: 1.0 + 0.1 * k as f64,
            },
        })
        .collect();
    let mut o = OdeOptions::new(60.0);
    o.n_out = 200;
    o.method = method;
    o.rtol = rtol;
    o.atol = 1e-12;
    simulate(&m, &b, &doses, &o).unwrap_or_else(|e| panic!("{}: {e}", method.label()))
}

/// Largest relative error over entries of the reference at least 1e-12 in size.
fn worst_rel(got: &[f64], want: &[f64]) -> f64 {
    got.iter()
        .zip(want)
        .filter(|(_, w)| w.abs() >= 1e-12)
        .map(|(g, w)| ((g - w) / w).abs())
        .fold(0.0, f64::max)
}

/// Allowed worst relative error of the dosed run at rtol 1e-6 and 1e-9 against
/// Rodas5P at rtol 1e-11 (every output time, every column): ten times the
/// tolerance radau5 meets internally, `0.1 rtol^(2/3)` (2.2e-6 and 1e-7), as
/// Hairer's RADAU5 does.
const DOSED_BOUNDS: [(f64, f64); 2] = [(1e-6, 2.2e-5), (1e-9, 1e-6)];

#[test]
fn radau5_reproduces_a_dosed_run_with_restarts() {
    let reference = il6_dosed(Method::Rodas5p, 1e-11);
    for (rtol, bound) in DOSED_BOUNDS {
        let r = il6_dosed(Method::Radau5, rtol);
        assert_eq!(r.timeline.values.len(), reference.timeline.values.len());
        let e = worst_rel(&r.timeline.values, &reference.timeline.values);
        assert!(e < bound, "rtol {rtol:e}: error {e:e} >= {bound:e}");
        // The existing methods' run at the same rtol agrees with it as well.
        let rodas = il6_dosed(Method::Rodas5p, rtol);
        let apart = worst_rel(&r.timeline.values, &rodas.timeline.values);
        assert!(
            apart < bound,
            "rtol {rtol:e}: radau5 and rodas5p {apart:e} apart"
        );
        // One restart per dose, and the Jacobian kept over several steps.
        assert_eq!(r.stats.restarts, rodas.stats.restarts);
        assert!(
            2 * r.stats.jacobian_evals < r.stats.accepted,
            "{:?}",
            r.stats
        );
    }
}
