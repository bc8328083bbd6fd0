//! Resistance rules: the in vivo regrowth (nadir) rule on a constructed timeline and
//! in a run with a known regrowth time, arms that start on resistance, and stopping
//! at the first event.

mod common;

use std::path::Path;

use common::{header, model};
use resloop::compile::CompiledModel;
use resloop::schedule::Schedule;
use resloop::therapy::rules::first_regrowth;
use resloop::therapy::{self, EventKind, ResistanceRule, StopReason, TherapyOptions};

fn schedule(m: &CompiledModel, text: &str) -> Schedule {
    Schedule::parse(Path::new("s.toml"), text, m).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn nadir_rule_fires_at_the_right_time_on_a_constructed_timeline() {
    // Readouts every 0.5 d of a tumour shrinking as e^{-0.4 t} to day 6, then
    // regrowing as e^{0.15 (t - 6)}: 25% above the nadir at 6 + ln(1.25) / 0.15.
    let times: Vec<f64> = (0..=60).map(|k| 0.5 * k as f64).collect();
    let v: Vec<f64> = times
        .iter()
        .map(|&t| {
            200.0
                * if t <= 6.0 {
                    (-0.4 * t).exp()
                } else {
                    (-2.4f64).exp() * (0.15 * (t - 6.0)).exp()
                }
        })
        .collect();
    let r = first_regrowth(&times, &v, 0.25).expect("the tumour regrows");
    let want = 6.0 + 1.25f64.ln() / 0.15;
    assert!((r.time - want).abs() < 1e-9, "{} vs {want}", r.time);
    assert_eq!(r.nadir_time, 6.0);
    assert!((r.nadir - 200.0 * (-2.4f64).exp()).abs() < 1e-12);
    assert_eq!(r.detected_at, 7.5, "first readout above 1.25 x nadir");
    // 50% needs longer; a tumour that never regrows never fires.
    let r50 = first_regrowth(&times, &v, 0.5).unwrap();
    assert!((r50.time - (6.0 + 1.5f64.ln() / 0.15)).abs() < 1e-9);
    let shrinking: Vec<f64> = times.iter().map(|&t| (-0.1 * t).exp()).collect();
    assert!(first_regrowth(&times, &shrinking, 0.25).is_none());
}

/// Net growth -0.3 / day until day 5, +0.2 / day after (a steep ramp over the last
/// 0.001 day); two drugs with in vivo PK and no effect (the regrowth rule counts
/// from the first dose, so the schedules give a sham drug from day 0).
fn regrowing_model() -> CompiledModel {
    model(
        &(header("days")
            + r#"
[species.X]
initial = 1.0
unit = "1"
description = "inert"
rate = "0"
[drugs.rescue]
unit = "ug/ml"
description = "second drug"
[drugs.rescue.in_vivo]
half_life = 0.5
volume = 1.0
[drugs.sham]
unit = "ug/ml"
description = "no effect"
[drugs.sham.in_vivo]
half_life = 0.5
volume = 1.0
[fate]
division = "0.5"
death = "0.3 + 0.5 * max(0, min(1, (5 - t) * 1000))"
initial_cells = 1e8
"#),
    )
}

const IN_VIVO: &str = r#"
[schedule]
name = "xenograft"
setting = "in_vivo"
duration = "12d"
readout_every = "1d"
[tumour]
cell_volume = 2e-6
[[drug]]
name = "sham"
dose = "1 mg/kg"
days = "weekly"
"#;

#[test]
fn regrowth_event_of_a_run_is_the_analytic_crossing() {
    let m = regrowing_model();
    let s = schedule(&m, IN_VIVO);
    let opts = TherapyOptions {
        rtol: 1e-10,
        atol: 1e-6,
        ..TherapyOptions::default()
    };
    let r = therapy::run(&m, &s, &opts).unwrap();
    let t = r
        .resistance_time(ResistanceRule::Regrowth)
        .expect("regrowth event");
    // The nadir readout is day 5; from there V = V(5) e^{0.2 (t - 5)} exactly.
    let want = 5.0 + 1.25f64.ln() / 0.2;
    assert!((t - want).abs() < 1e-6, "{t} vs {want}");
    assert_eq!(r.summary.time_to_resistance, Some(t));
    let v0 = 1e8 * 2e-6;
    let nadir = r.summary.nadir_volume.unwrap();
    assert!(
        (nadir / (v0 * (-1.5f64).exp()) - 1.0).abs() < 1e-3,
        "{nadir}"
    );
    let vol = r
        .timeline
        .series(r.timeline.column("total", "tumour_volume").unwrap());
    let cells = r
        .timeline
        .series(r.timeline.column("total", "cells").unwrap());
    for (v, n) in vol.iter().zip(&cells) {
        assert!(
            (v - n * 2e-6).abs() <= 1e-12 * v,
            "volume = cells x cell volume"
        );
    }
}

#[test]
fn an_arm_can_start_on_resistance_and_a_run_can_stop_on_it() {
    let m = regrowing_model();
    // The rescue drug joins at the first resistance event, seen at the day-7 readout.
    let s = schedule(
        &m,
        &(IN_VIVO.to_string()
            + r#"
[[drug]]
name = "rescue"
start = "on_resistance"
dose = "5 mg/kg"
days = "daily"
"#),
    );
    let r = therapy::run(&m, &s, &TherapyOptions::default()).unwrap();
    let start = r
        .events
        .iter()
        .find(|e| e.kind == EventKind::ArmStart)
        .expect("arm start");
    assert_eq!(start.time, 7.0, "started when the event was seen");
    let boluses: Vec<f64> = r
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Bolus && e.drug.as_deref() == Some("rescue"))
        .map(|e| e.time)
        .collect();
    assert_eq!(boluses, vec![7.0, 8.0, 9.0, 10.0, 11.0]);
    let exposure = r
        .timeline
        .series(r.timeline.column("exposure", "rescue").unwrap());
    assert_eq!(exposure[6], 0.0);
    assert!(
        (exposure[7] - 5.0).abs() < 1e-12,
        "5 mg/kg into 1 L/kg right after the bolus"
    );

    // Stopping at the first event: the run ends at the readout that saw it.
    let s = schedule(
        &m,
        &(IN_VIVO.to_string() + "[stop]\non_resistance = true\n"),
    );
    let r = therapy::run(&m, &s, &TherapyOptions::default()).unwrap();
    assert_eq!(r.summary.stop_reason, StopReason::OnResistance);
    assert_eq!(r.final_time, 7.0);
    assert_eq!(*r.timeline.times.last().unwrap(), 7.0);
    assert!(r.events.iter().any(|e| e.kind == EventKind::Stop));
}
