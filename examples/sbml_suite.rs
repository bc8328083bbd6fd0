//! Run the SBML Test Suite's semantic cases through `resloop import` and the ODE
//! engine, and write a pass table by component tag and test tag, with the reason
//! of every case that does not pass.
//!
//! ```text
//! cargo run --release --example sbml_suite -- [SUITE_DIR] [--out FILE] [--only N-M] [--round-trip]
//! ```
//! `--round-trip` exports each imported model to SBML and imports it again before
//! running it (a check of `resloop export`).
//! SUITE_DIR defaults to `$SBML_TEST_SUITE`, else `../shared/sbml-test-suite`; the
//! table goes to `--out` (default `target/sbml-suite.md`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use rayon::prelude::*;
use resloop::sbml::suite::{list_cases, run_case_with, Outcome};

/// Solver tolerances for the suite (its own tolerances are 1e-4 relative and
/// usually 1e-7 absolute or looser).
const RTOL: f64 = 1e-10;
const ATOL: f64 = 1e-14;

fn main() {
    let mut dir: Option<PathBuf> = None;
    let mut out = PathBuf::from("target/sbml-suite.md");
    let mut only: Option<(u32, u32)> = None;
    let mut round_trip = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = PathBuf::from(args.next().expect("--out FILE")),
            "--round-trip" => round_trip = true,
            "--only" => {
                let r = args.next().expect("--only N-M");
                let (a, b) = r.split_once('-').unwrap_or((&r, &r));
                only = Some((
                    a.parse().expect("a case number"),
                    b.parse().expect("a case number"),
                ));
            }
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    let dir = dir
        .or_else(|| std::env::var_os("SBML_TEST_SUITE").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("../shared/sbml-test-suite"));
    let mut cases = match list_cases(&dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot read the SBML Test Suite at {}: {e}", dir.display());
            std::process::exit(2);
        }
    };
    if let Some((a, b)) = only {
        cases.retain(|c| c.id.parse::<u32>().is_ok_and(|n| (a..=b).contains(&n)));
    }
    let started = std::time::Instant::now();
    let results: Vec<Outcome> = cases
        .par_iter()
        .map(|c| run_case_with(c, RTOL, ATOL, round_trip))
        .collect();
    let secs = started.elapsed().as_secs_f64();

    let mut by_outcome: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_component: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut by_test: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (c, r) in cases.iter().zip(&results) {
        *by_outcome.entry(r.label()).or_default() += 1;
        let pass = (*r == Outcome::Pass) as usize;
        for t in &c.component_tags {
            let e = by_component.entry(t.clone()).or_default();
            e.0 += pass;
            e.1 += 1;
        }
        for t in &c.test_tags {
            let e = by_test.entry(t.clone()).or_default();
            e.0 += pass;
            e.1 += 1;
        }
    }
    let passed = by_outcome.get("pass").copied().unwrap_or(0);
    let mut md = String::new();
    let _ = writeln!(md, "# SBML Test Suite: resloop\n");
    let _ = writeln!(
        md,
        "{passed} of {} cases pass ({}{} at rtol {RTOL:e}, atol {ATOL:e}; {:.0} s).\n",
        cases.len(),
        if round_trip {
            "imported, exported and imported again; "
        } else {
            ""
        },
        dir.display(),
        secs
    );
    let _ = writeln!(md, "| outcome | cases |\n| --- | ---: |");
    for (k, v) in &by_outcome {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    for (title, table) in [("component tag", &by_component), ("test tag", &by_test)] {
        let _ = writeln!(md, "\n| {title} | pass | cases |\n| --- | ---: | ---: |");
        for (k, (p, n)) in table {
            let _ = writeln!(md, "| {k} | {p} | {n} |");
        }
    }
    let _ = writeln!(md, "\n## Cases that do not pass\n");
    for (c, r) in cases.iter().zip(&results) {
        if *r != Outcome::Pass {
            let _ = writeln!(md, "- {} [{}]: {r}", c.id, c.component_tags.join(", "));
        }
    }
    if let Some(parent) = out.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    if let Err(e) = std::fs::write(&out, &md) {
        eprintln!("cannot write {}: {e}", out.display());
        std::process::exit(2);
    }
    println!(
        "{passed} of {} cases pass; table in {}",
        cases.len(),
        out.display()
    );
    for (k, v) in &by_outcome {
        println!("  {k}: {v}");
    }
}
