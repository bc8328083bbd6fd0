//! The growth phase before treatment (`grow_from`): mutants present at t = 0 arise
//! during it at random, each replicate its own (Luria and Delbruck 1943).

mod common;

use resloop::engine::EngineKind;
use resloop::schedule::Schedule;
use resloop::therapy::{self, TherapyOptions, TherapyResult};

const SCHEDULE: &str = r#"
[schedule]
name = "grow_then_look"
setting = "in_vitro"
duration = "1h"
readout_every = "1h"
grow_from = 1
"#;

fn mutants_at_start(r: &TherapyResult) -> f64 {
    let tl = &r.timeline;
    tl.get(0, tl.column("mutant", "cells").unwrap())
}

#[test]
fn mutants_at_the_start_follow_luria_delbruck() {
    let m = common::birth_death(1.0, 0.0, 1.5e-4, 1.0, 0.0, 16384.0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(&path, SCHEDULE).unwrap();
    let s = Schedule::load(&path, &m).unwrap();
    let opts = TherapyOptions {
        engine: EngineKind::Hybrid,
        seed: 11,
        ..TherapyOptions::default()
    };
    let n = 4000;
    let runs = therapy::run_replicates(&m, &s, &opts, n).unwrap();
    let counts: Vec<f64> = runs.iter().map(mutants_at_start).collect();
    // Whole cells below the hybrid's promotion threshold (a jackpot clone of 1,000 or
    // more follows the ODE), and the population at the requested size.
    assert!(counts.iter().all(|&c| c >= 1000.0 || c.fract() == 0.0));
    for r in &runs {
        let tl = &r.timeline;
        let total = tl.get(0, tl.column("total", "cells").unwrap());
        let mutants = tl.get(0, tl.column("mutant", "cells").unwrap());
        assert!(
            (16384.0..16386.0).contains(&total),
            "{total} cells at t = 0 ({mutants} mutants)"
        );
    }
    // P(no mutant) = e^-m with m = u (N - 1) mutations in N - 1 divisions.
    let p = (-1.5e-4f64 * 16383.0).exp();
    let k = counts.iter().filter(|&&c| c == 0.0).count() as f64 / n as f64;
    let se = (p * (1.0 - p) / n as f64).sqrt();
    assert!(
        (k - p).abs() <= 2.0 * se,
        "P(no mutant) {k} vs {p} (2 SE {})",
        2.0 * se
    );
    // Replicates differ (each its own draw), and the draw is reproducible.
    assert!(counts.iter().any(|&c| c != counts[0]));
    let again = therapy::run_replicates(&m, &s, &opts, 3).unwrap();
    for (a, b) in again.iter().zip(&runs) {
        assert_eq!(mutants_at_start(a), mutants_at_start(b));
    }
    // The mean field grows the expected number instead: u N ln N-like, not a draw.
    let mf = therapy::run(&m, &s, &TherapyOptions::default()).unwrap();
    let expected = mutants_at_start(&mf);
    assert!(expected > 0.0 && expected.fract() != 0.0);
}

#[test]
fn a_growth_phase_must_start_below_the_initial_cells() {
    let m = common::birth_death(1.0, 0.0, 1.5e-4, 1.0, 0.0, 16384.0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(&path, SCHEDULE.replace("grow_from = 1", "grow_from = 1e9")).unwrap();
    let e = Schedule::load(&path, &m).unwrap_err().to_string();
    assert!(
        e.contains("schedule.grow_from") && e.contains("up to the initial cells"),
        "{e}"
    );
}
