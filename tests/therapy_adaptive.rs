//! The adaptive escalation rule and the simulated assays inside therapy runs, on
//! models whose answers are known: a population whose growth under drug recovers at
//! a known time, and a drug with a known 72 h Hill response.

mod common;

use std::path::Path;

use common::{header, model};
use resloop::compile::CompiledModel;
use resloop::schedule::Schedule;
use resloop::therapy::{self, EventKind, ResistanceRule, TherapyOptions};

fn schedule(m: &CompiledModel, text: &str) -> Schedule {
    Schedule::parse(Path::new("s.toml"), text, m).unwrap_or_else(|e| panic!("{e}"))
}

/// Untreated net growth 0.5 / day. Until day T = 10 the drug adds death
/// `kill * E(C)` (E = C / (C + 1 nM)); from day 10 on the cells ignore it (they have
/// "recovered"). The step at T is a steep ramp over the last 0.001 day.
fn recovering_model() -> CompiledModel {
    model(
        &(header("days")
            + r#"
[species.X]
initial = 1.0
unit = "1"
description = "inert"
rate = "0"
[parameters.kill]
value = 1.1
unit = "1/d"
provenance = "assumed"
note = "test"
[drugs.d]
unit = "nM"
description = "test drug"
[drugs.d.effects.block]
ic50 = 1.0
hill = 1.0
description = "fraction of targets hit"
[fate]
division = "0.7"
death = "0.2 + kill * block * max(0, min(1, (10 - t) * 1000))"
initial_cells = 1e6
"#),
    )
}

#[test]
fn adaptive_rule_raises_the_dose_only_after_growth_recovers() {
    let m = recovering_model();
    // Start at 1 nM (E = 1/2: net growth 0.5 - 0.55 = -0.05 / day before day 10).
    // Growth over the 4-day window reaches 0.8 x 0.5 when
    // 0.5 - 0.55 (14 - t) / 4 >= 0.4, i.e. t >= 13.27: the first daily check after
    // that is day 14; then every min_hold = 4 days (growth is 0.5 / day) up to the
    // cap of 8 nM. Passages at 2e6 cells 1:4 start after day 12 and must not look
    // like death to the rule.
    let s = schedule(
        &m,
        r#"
[schedule]
name = "adaptive"
setting = "in_vitro"
duration = "30d"
readout_every = "12h"
[culture]
refresh_every = "24h"
confluence_cap = 2e6
split = 4
[[drug]]
name = "d"
[drug.adaptive]
start = "1 nM"
factor = 2.0
recovery = 0.8
window = "4d"
cap = "8 nM"
check_every = "1d"
"#,
    );
    let opts = TherapyOptions {
        rtol: 1e-9,
        atol: 1e-9,
        ..TherapyOptions::default()
    };
    let r = therapy::run(&m, &s, &opts).unwrap_or_else(|e| panic!("{e}"));
    assert!((r.summary.untreated_growth_rate - 0.5).abs() < 1e-12);
    let changes: Vec<(f64, f64)> = r
        .events
        .iter()
        .filter(|e| e.kind == EventKind::DoseChange)
        .map(|e| (e.time, e.value))
        .collect();
    assert_eq!(
        changes,
        vec![(0.0, 1.0), (14.0, 2.0), (18.0, 4.0), (22.0, 8.0)],
        "dose changes"
    );
    assert!(
        r.summary.passages > 0,
        "the test needs passages during the windows"
    );
    assert!(
        r.events
            .iter()
            .any(|e| e.kind == EventKind::Passage && e.time > 12.0 && e.time <= 14.0),
        "a passage inside the first growth window"
    );
}

/// Viability after 72 h of drug `d` alone is exactly 1 - 0.999999 hill(C, 2 uM, 1.5)
/// (the death rate integrates to -ln(1 - block)); the IC50 is 2 uM and the IC30 is
/// known. The model's second drug is never given here.
fn known_hill_model() -> CompiledModel {
    model(include_str!("data/known_hill.toml"))
}

#[test]
fn ic50_readouts_and_the_icxx_start_recover_a_known_hill_response() {
    let m = known_hill_model();
    let s = schedule(
        &m,
        r#"
[schedule]
name = "assay"
setting = "in_vitro"
duration = "2w"
ic50_every = "1w"
ic50_range = ["10 nM", "300 uM"]
ic50_points = 14
[[drug]]
name = "d"
[drug.adaptive]
start = "IC30"
factor = 2.0
recovery = 0.8
window = "3d"
cap = "100 uM"
"#,
    );
    let r = therapy::run(&m, &s, &TherapyOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.ic50.len(), 3, "readouts at 0, 1 and 2 weeks");
    assert!(
        (r.ic50[0].top_dose - 300.0).abs() < 1e-9,
        "the schedule's range"
    );
    assert_eq!(
        r.assay_wells,
        4 * 15,
        "ICxx start + 3 readouts, 14 doses + control each"
    );
    let i0 = r.ic50[0].ic50.expect("IC50 inside the tested range");
    assert!(
        (i0 / 2.0 - 1.0).abs() < 0.01,
        "IC50 {i0}, want 2 uM within 1%"
    );
    assert_eq!(r.summary.ic50_initial, Some(i0));
    // IC30: viability 0.7 = 1 - 0.999999 b  ->  C = 2 (b / (1 - b))^(1/1.5).
    let b: f64 = 0.3 / 0.999999;
    let ic30 = 2.0 * (b / (1.0 - b)).powf(1.0 / 1.5);
    let start = r
        .events
        .iter()
        .find(|e| e.kind == EventKind::DoseChange)
        .expect("the adaptive arm starts");
    assert_eq!(start.time, 0.0);
    assert!(
        (start.value / ic30 - 1.0).abs() < 0.01,
        "IC30 start {}, want {ic30}",
        start.value
    );
    // The loop has no memory: the IC50 does not move, so the fold rule stays quiet.
    for x in &r.ic50 {
        assert!((x.fold.unwrap() - 1.0).abs() < 1e-6, "{:?}", x.fold);
    }
    assert_eq!(r.resistance_time(ResistanceRule::Ic50Fold), None);
    assert!(r.assay_wells > 0);
}
