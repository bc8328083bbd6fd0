//! A fast subset of the SBML Test Suite (every 5th semantic case): each case must
//! pass or be refused as unsupported, never give wrong numbers or an error, both
//! imported and after a round trip through `export` and `import` again. The
//! suite is not part of the repository; the test reads `$SBML_TEST_SUITE` or
//! `../shared/sbml-test-suite` and skips with a note when neither exists. The whole
//! suite runs with `cargo run --release --example sbml_suite` (docs/sbml.md).

use std::path::PathBuf;

use resloop::sbml::suite::{list_cases, run_case_with, Outcome};

fn suite_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SBML_TEST_SUITE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/sbml-test-suite")
        });
    dir.is_dir().then_some(dir)
}

#[test]
fn every_fifth_case_passes_or_is_refused_also_after_a_round_trip() {
    let Some(dir) = suite_dir() else {
        eprintln!(
            "note: SBML Test Suite not found (set SBML_TEST_SUITE or put it at ../shared/sbml-test-suite); skipped"
        );
        return;
    };
    let cases = list_cases(&dir).expect("the suite's cases are readable");
    assert!(
        cases.len() > 1000,
        "only {} cases in {}",
        cases.len(),
        dir.display()
    );
    let (mut pass, mut refused, mut bad) = (0, 0, Vec::new());
    for case in cases.iter().step_by(5) {
        for round_trip in [false, true] {
            match run_case_with(case, 1e-10, 1e-14, round_trip) {
                Outcome::Pass => pass += 1,
                Outcome::Unsupported(_) | Outcome::NotTimeCourse => refused += 1,
                other => bad.push(format!("{} (round trip: {round_trip}): {other}", case.id)),
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} cases fail:\n{}",
        bad.len(),
        bad.join("\n")
    );
    // 1,151 of 1,821 pass in the full run (both ways); the subset in proportion.
    assert!(pass >= 2 * 220, "{pass} pass, {refused} refused");
}
