//! Agreement with the Python `synergy` package (1.0.0), the reference implementation.
//!
//! `scripts/synergy_reference.sh` generated plates under each no-interaction model and
//! under MuSyC with known parameters (exact and with seeded noise), scored them with the
//! package and stored plates and scores in `tests/data/synergy_reference/`. These tests
//! read the stored files (no Python needed) and require, on every combination cell that
//! both implementations score, agreement within 0.02 (relative for `ci`, an index), and
//! on exact MuSyC plates fitted parameters within 5 % of the package's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use resloop::plate::{CsvOptions, Plate};
use resloop::synergy::{score_plate, Method, MethodDetail, MethodResult, ScoreSettings};

const PLATES: [&str; 7] = [
    "bliss_partial",
    "bliss_partial_noisy",
    "bliss_steep",
    "loewe_null",
    "musyc_synergy",
    "musyc_synergy_noisy",
    "musyc_antagonism",
];

/// Score tolerance (absolute; relative to max(1, |reference|) for `ci`).
const TOL: f64 = 0.02;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/synergy_reference")
}

/// The package's scores: column name -> (dose_a, dose_b) bits -> value (None = NaN).
type Reference = BTreeMap<String, BTreeMap<(u64, u64), Option<f64>>>;

fn reference(name: &str) -> Reference {
    let path = dir().join(format!("{name}_reference.csv"));
    let mut rdr = csv::Reader::from_path(&path).unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let mut out: Reference = BTreeMap::new();
    for rec in rdr.records() {
        let rec = rec.unwrap();
        let num = |k: usize| rec[k].parse::<f64>().ok();
        let key = (num(0).unwrap().to_bits(), num(1).unwrap().to_bits());
        for (k, col) in header.iter().enumerate().skip(3) {
            out.entry(col.clone()).or_default().insert(key, num(k));
        }
    }
    out
}

fn scored(name: &str) -> Vec<MethodResult> {
    let plate = Plate::from_csv_path(
        &dir().join(format!("{name}_plate.csv")),
        &CsvOptions::default(),
    )
    .unwrap();
    score_plate(&plate, &Method::ALL, ScoreSettings::default())
        .unwrap()
        .1
}

/// Agreement of one method on one plate.
#[derive(Debug, Default)]
struct Agreement {
    max_diff: f64,
    both: usize,
    only_reference: usize,
    only_resloop: usize,
}

fn compare(r: &MethodResult, column: &BTreeMap<(u64, u64), Option<f64>>) -> Agreement {
    let mut a = Agreement::default();
    for c in r.cells.iter().filter(|c| c.i > 0 && c.j > 0) {
        let theirs = column[&(c.dose_a.to_bits(), c.dose_b.to_bits())];
        match (c.score, theirs) {
            (Some(ours), Some(theirs)) => {
                let scale = if r.method == Method::Ci {
                    theirs.abs().max(1.0)
                } else {
                    1.0
                };
                a.max_diff = a.max_diff.max((ours - theirs).abs() / scale);
                a.both += 1;
            }
            (None, Some(_)) => a.only_reference += 1,
            (Some(_), None) => a.only_resloop += 1,
            (None, None) => {}
        }
    }
    a
}

fn table() -> Vec<(&'static str, Method, Agreement)> {
    let mut rows = Vec::new();
    for name in PLATES {
        let theirs = reference(name);
        for r in scored(name) {
            if let Some(column) = theirs.get(r.method.name()) {
                rows.push((name, r.method, compare(&r, column)));
            }
        }
    }
    for (name, m, a) in &rows {
        eprintln!(
            "{name:<22} {:<11} max |diff| {:.2e} over {} cells (only reference {}, only resloop {})",
            m.name(),
            a.max_diff,
            a.both,
            a.only_reference,
            a.only_resloop
        );
    }
    rows
}

/// The package's MuSyC fit of a plate, as stored.
fn their_musyc(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir().join(format!("{name}_musyc.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn our_musyc(results: &[MethodResult]) -> resloop::synergy::MusycFit {
    results
        .iter()
        .find_map(|r| match &r.detail {
            MethodDetail::Musyc(f) => Some(f.clone()),
            _ => None,
        })
        .unwrap()
}

/// Plates on which the package's MuSyC fit stops at a visibly worse optimum than ours
/// (r^2 lower by more than 1e-5): there the scores differ because the reference did
/// not converge, so they are not compared; ours must be the better fit.
fn reference_musyc_behind() -> Vec<&'static str> {
    let mut behind = Vec::new();
    for name in PLATES {
        let theirs = their_musyc(name)["fit"]["r_squared"].as_f64().unwrap();
        let ours = our_musyc(&scored(name)).r2;
        assert!(
            ours >= theirs - 1e-6,
            "{name}: our MuSyC r^2 {ours} < reference {theirs}"
        );
        if ours > theirs + 1e-5 {
            eprintln!(
                "{name}: reference MuSyC r^2 {theirs:.6}, ours {ours:.6}: reference stopped early"
            );
            behind.push(name);
        }
    }
    behind
}

#[test]
fn every_shared_method_agrees_within_tolerance() {
    let behind = reference_musyc_behind();
    // The package's fit of the Loewe-null plate stops at alpha21 = 3e-11 (r^2 0.99959);
    // ours reaches r^2 0.99987 with every parameter inside its bounds.
    assert_eq!(behind, ["loewe_null"]);
    let rows = table();
    let bad: Vec<_> = rows
        .iter()
        .filter(|r| r.2.max_diff > TOL)
        .filter(|r| !(r.1 == Method::Musyc && behind.contains(&r.0)))
        .collect();
    assert!(bad.is_empty(), "disagreements: {bad:#?}");
    // Every method is compared on every plate it is defined on.
    for m in Method::ALL {
        assert!(
            rows.iter().filter(|r| r.1 == m && r.2.both > 0).count() >= 3,
            "{m} compared on fewer than 3 plates"
        );
    }
}

#[test]
fn every_method_scores_wherever_the_reference_does_on_exact_plates() {
    for name in PLATES.iter().filter(|n| !n.ends_with("noisy")) {
        let theirs = reference(name);
        for r in scored(name) {
            let a = compare(&r, &theirs[r.method.name()]);
            assert_eq!(a.only_reference, 0, "{name} {}: {a:?}", r.method);
        }
    }
}

/// Relative difference with a floor, for parameters that may be ~0 (E of a full killer).
fn rel(ours: f64, theirs: f64) -> f64 {
    (ours - theirs).abs() / theirs.abs().max(0.01)
}

#[test]
fn musyc_parameters_within_5_percent_on_exact_plates() {
    const NAMES: [&str; 13] = [
        "E0", "E1", "E2", "E3", "h1", "h2", "C1", "C2", "alpha12", "alpha21", "gamma12", "gamma21",
        "beta",
    ];
    for name in [
        "musyc_synergy",
        "musyc_antagonism",
        "bliss_partial",
        "bliss_steep",
    ] {
        let doc = their_musyc(name);
        let fit = our_musyc(&scored(name));
        assert!(fit.converged && fit.at_bounds.is_empty(), "{name}: {fit:?}");
        assert!(fit.failure(0.8).is_none(), "{name}: {fit:?}");
        let ours = fit.params.values();
        for (k, p) in NAMES.iter().enumerate() {
            let theirs = doc["fit"][p].as_f64().unwrap();
            let d = rel(ours[k], theirs);
            eprintln!(
                "{name:<18} {p:<8} ours {:>12.6} reference {theirs:>12.6} rel {d:.1e}",
                ours[k]
            );
            assert!(d < 0.05, "{name} {p}: ours {} reference {theirs}", ours[k]);
            if let Some(truth) = doc["truth"].get(p).and_then(|v| v.as_f64()) {
                assert!(
                    rel(ours[k], truth) < 0.05,
                    "{name} {p}: ours {} truth {truth}",
                    ours[k]
                );
            }
        }
    }
}
