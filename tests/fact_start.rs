//! Runs that start from a state of a fact file (`therapy --facts FILE --state NAME`,
//! `checkerboard --facts FILE --state NAME`): the state's population and parameters
//! are the run's start, and a fact file of another model is refused.

use std::path::{Path, PathBuf};

use resloop::compile::compile_file;
use resloop::experiment::{FactState, TherapySettings};
use resloop::schedule::Schedule;
use resloop::therapy;

#[test]
fn therapy_starts_from_a_fact_state() {
    let m = compile_file(Path::new("models/minimal_loop.toml")).unwrap();
    let start = FactState {
        facts: Some(PathBuf::from("models/minimal_loop.facts.toml")),
        state: "parental".into(),
    };
    let point = start.start_point(&m).unwrap();
    let settings = TherapySettings {
        start: Some(start),
        engine: Some("mean-field".into()),
        ..TherapySettings::default()
    };
    let opts = settings.options(&mut m.clone()).unwrap();
    assert_eq!(opts.initial_state.as_deref(), Some(&point.state[..]));
    // A drug-free day from the state: the first readout is the state itself.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(
        &path,
        "[schedule]\nname = \"day\"\nsetting = \"in_vitro\"\nduration = \"1d\"\nreadout_every = \"1d\"\n",
    )
    .unwrap();
    let s = Schedule::load(&path, &m).unwrap();
    let r = therapy::run(&m, &s, &opts).unwrap();
    let stride = m.species.len() + 1;
    let cells: f64 = point
        .state
        .chunks_exact(stride)
        .map(|c| c[stride - 1])
        .sum();
    let tl = &r.timeline;
    let first = tl.get(0, tl.column("total", "cells").unwrap());
    assert!((first / cells - 1.0).abs() < 1e-12, "{first} vs {cells}");
}

#[test]
fn a_fact_file_of_another_model_is_refused() {
    let m = compile_file(Path::new("models/minimal_loop.toml")).unwrap();
    let e = FactState {
        facts: Some(PathBuf::from("models/mir150_itgb3_fak.facts.toml")),
        state: "parental".into(),
    }
    .start_point(&m)
    .unwrap_err()
    .to_string();
    assert!(e.contains("its states are of"), "{e}");
    let e = FactState {
        facts: None,
        state: "nope".into(),
    }
    .start_point(&m)
    .unwrap_err()
    .to_string();
    assert!(e.contains("nope"), "{e}");
}
