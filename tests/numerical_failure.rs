//! Numerical failures are errors that say when and what.

mod common;

use std::path::Path;

use common::*;
use resloop::compile::{compile_str, BoundModel};
use resloop::engine::ode::{simulate, Method, OdeOptions, SimError, SolverErrorKind};

fn failing(rate: &str) -> SimError {
    let m = compile_str(
        Path::new("f.toml"),
        &(header("hours")
            + &format!(
                r#"
[species.X]
initial = 1.0
unit = "a.u."
description = "x"
rate = "{rate}"
[fate]
division = "0"
death = "0"
"#
            )),
    )
    .unwrap();
    let b = BoundModel::new(&m, &m.param_values()).unwrap();
    simulate(&m, &b, &[], &OdeOptions::new(10.0)).unwrap_err()
}

#[test]
fn negative_species_reports_crossing_time() {
    // X = 1 - 2t crosses zero at t = 0.5.
    let SimError::Solver(e) = failing("-2") else {
        panic!()
    };
    assert!(
        matches!(e.kind, SolverErrorKind::Negative { ref variable, .. } if variable.starts_with("X"))
    );
    assert!((e.time - 0.5).abs() < 1e-3, "reported at t = {}", e.time);
    assert!(e.to_string().contains("went negative"));
}

#[test]
fn nan_is_reported_with_time() {
    // X grows at rate 1 from 1, so sqrt(2 - X) is NaN once t > 1.
    let SimError::Solver(e) = failing("sqrt(2 - X) / sqrt(2 - X)") else {
        panic!()
    };
    assert!(
        matches!(
            e.kind,
            SolverErrorKind::NonFinite { .. } | SolverErrorKind::StepSizeUnderflow { .. }
        ),
        "{e}"
    );
    assert!(e.time > 0.9 && e.time < 1.1, "reported at t = {}", e.time);
}

#[test]
fn bad_settings_are_rejected() {
    let m = model(&(header("hours") + "[fate]\ndivision = \"0\"\ndeath = \"0\"\n"));
    let b = BoundModel::new(&m, &[]).unwrap();
    let mut o = OdeOptions::new(-1.0);
    assert!(matches!(
        simulate(&m, &b, &[], &o),
        Err(SimError::Settings(_))
    ));
    o.t_end = 1.0;
    o.rtol = 0.0;
    o.method = Method::Rosenbrock23;
    assert!(matches!(
        simulate(&m, &b, &[], &o),
        Err(SimError::Settings(_))
    ));
}

#[test]
fn a_stalled_explicit_method_names_the_variable_and_suggests_a_stiff_one() {
    // X relaxes to 1 at 1e9 per hour and the run asks for 10 hours: dopri5's stability
    // limit holds its step near 3e-9 h, so it runs out of steps.
    let m = compile_str(
        Path::new("f.toml"),
        &(header("hours")
            + r#"
[species.X]
initial = 2.0
unit = "a.u."
description = "x"
rate = "-1e9 * (X - 1)"
[species.Y]
initial = 1.0
unit = "a.u."
description = "y"
rate = "0.1 * Y"
[fate]
division = "0"
death = "0"
"#),
    )
    .unwrap();
    let b = BoundModel::new(&m, &m.param_values()).unwrap();
    let mut o = OdeOptions::new(10.0);
    o.method = Method::Dopri5;
    let e = simulate(&m, &b, &[], &o).unwrap_err();
    let SimError::Solver(s) = &e else {
        panic!("{e}")
    };
    assert!(
        matches!(s.kind, SolverErrorKind::TooManySteps { limit: Some(ref l), .. } if l.variable.starts_with('X')),
        "{e}"
    );
    let text = e.to_string();
    assert!(text.contains("--method auto"), "{text}");
    // The default method solves it.
    o.method = Method::default();
    simulate(&m, &b, &[], &o).unwrap();
}
