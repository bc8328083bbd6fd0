//! The run options a library caller sets on a prepared simulation (`Prepared::options`)
//! reach the run: `simulate` goes through the therapy driver, which has its own
//! options, and a carrying capacity or negative tolerance set on the prepared run must
//! not be dropped on the way.

use std::path::Path;

use resloop::engine::EngineKind;
use resloop::experiment::{prepare, simulate_on, SimulateRequest};

fn prepared() -> resloop::experiment::Prepared {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/minimal_loop.toml");
    let mut req = SimulateRequest::new(&model, 60.0);
    req.drug_free = true;
    req.points = 60;
    req.engine = Some(EngineKind::MeanField);
    prepare(&req).unwrap_or_else(|e| panic!("{e}"))
}

fn final_total(p: &resloop::experiment::Prepared) -> f64 {
    let runs = simulate_on(p, EngineKind::MeanField, 1, 1).unwrap_or_else(|e| panic!("{e}"));
    let r = &runs[0];
    let col = r.timeline.column("total", "cells").unwrap();
    *r.timeline.series(col).last().unwrap()
}

#[test]
fn a_carrying_capacity_set_on_the_prepared_run_holds() {
    let mut p = prepared();
    let free = final_total(&p);
    // Drug-free for 60 days from 1e6 cells the model's capacity (1e9) is far away.
    assert!(free > 1e7, "drug-free growth: {free}");
    p.options.carrying_capacity = Some(2e6);
    let capped = final_total(&p);
    assert!(
        capped <= 2e6 * (1.0 + 1e-6) && capped > 1e6,
        "capacity 2e6: {capped} cells at day 60"
    );
}

#[test]
fn a_negative_tolerance_set_on_the_prepared_run_holds() {
    let mut p = prepared();
    // No count may go below -(-1): every state fails at once.
    p.options.negative_tolerance = Some(-1.0);
    let err = simulate_on(&p, EngineKind::MeanField, 1, 1).err();
    assert!(
        err.is_some(),
        "a tolerance no state meets must fail the run"
    );
}
