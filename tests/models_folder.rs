//! Every model shipped in models/ loads, checks without warnings, and simulates its
//! default scenario (or 30 drug-free days) with every solver.

use std::path::Path;

use resloop::compile::{compile_file, BoundModel};
use resloop::engine::ode::{simulate, Method, OdeOptions};

#[test]
fn every_model_loads_and_simulates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !resloop::model::is_model_file(&path) {
            continue;
        }
        n += 1;
        let m = compile_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            m.warnings.is_empty(),
            "{}: {:?}",
            path.display(),
            m.warnings
        );
        let days = m.scenario.as_ref().map_or(30.0, |s| s.days);
        let t_end = days * 24.0 / m.meta.time_unit.hours();
        let doses: Vec<_> = m
            .scenario
            .iter()
            .flat_map(|s| s.doses.iter())
            .flat_map(|d| d.events(t_end).unwrap())
            .collect();
        let b = BoundModel::new(&m, &m.param_values()).unwrap();
        for method in Method::ALL {
            let mut o = OdeOptions::new(t_end);
            o.method = method;
            let r = simulate(&m, &b, &doses, &o)
                .unwrap_or_else(|e| panic!("{} ({method:?}): {e}", path.display()));
            assert!(r.timeline.values.iter().all(|v| v.is_finite()));
        }
    }
    assert!(n >= 1, "no models found in {}", dir.display());
}
