//! `resloop simulate` runs every engine the therapy driver runs, with the outputs of
//! simulate: `timeline.csv` at every output time and one manifest; a stochastic
//! engine's `--replicates` are stacked under a leading `replicate` column, each a
//! pure function of (inputs, seed, replicate), whatever the number of threads. The
//! refusals (a plain ODE model on the agent-based engine, zero replicates) are cases
//! in `tests/bad_inputs/`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn simulate(out: &Path, extra: &[&str], threads: Option<&str>) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_resloop"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "simulate",
            "models/minimal_loop.toml",
            "--days",
            "30",
            "--points",
            "30",
            "--no-plot",
            "--out",
        ])
        .arg(out)
        .args(extra);
    if let Some(t) = threads {
        c.env("RAYON_NUM_THREADS", t);
    }
    let o = c.output().expect("the binary runs");
    assert!(
        o.status.success(),
        "simulate {extra:?} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read_to_string(out.join("timeline.csv")).unwrap()
}

fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap()
}

/// `(time, population, variable) -> value` of one run's rows (`replicate` column
/// dropped by the caller).
fn rows(csv: &str) -> Vec<(f64, String, String, f64)> {
    csv.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].parse().unwrap(),
                f[1].to_string(),
                f[2].to_string(),
                f[3].parse().unwrap(),
            )
        })
        .collect()
}

fn total_cells(rows: &[(f64, String, String, f64)]) -> Vec<(f64, f64)> {
    rows.iter()
        .filter(|r| r.1 == "total" && r.2 == "cells")
        .map(|r| (r.0, r.3))
        .collect()
}

/// The agent-based engine runs under `simulate`: the same columns at the same 31
/// output times as the mean field, whole cells that follow the mean field's
/// expected counts (10^6 cells: a few per cent at most), and a run that depends on
/// the seed and on nothing else.
#[test]
fn simulate_runs_the_agent_based_engine() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |n: &str| tmp.path().join(n);
    let mf = simulate(&dir("mf"), &["--engine", "mean-field"], None);
    let ab = simulate(
        &dir("ab"),
        &["--engine", "agent-based", "--seed", "7"],
        None,
    );
    assert_eq!(manifest(&dir("ab"))["engine"], "agent-based");
    assert_eq!(manifest(&dir("ab"))["replicates"], 1);
    assert_eq!(
        ab.lines().next(),
        Some("time,population,variable,value"),
        "one run: the header of simulate"
    );
    let (mf, ab) = (rows(&mf), rows(&ab));
    let keys = |r: &[(f64, String, String, f64)]| -> BTreeSet<(String, String)> {
        r.iter().map(|x| (x.1.clone(), x.2.clone())).collect()
    };
    assert_eq!(keys(&ab), keys(&mf), "the same columns as the mean field");
    let (cm, ca) = (total_cells(&mf), total_cells(&ab));
    assert_eq!(ca.len(), 31, "a row at every output time, both ends");
    for ((tm, m), (ta, a)) in cm.iter().zip(&ca) {
        assert_eq!(tm, ta);
        assert_eq!(
            a.fract(),
            0.0,
            "day {ta}: {a} is not a whole number of cells"
        );
        assert!(
            (a - m).abs() <= 0.05 * m,
            "day {ta}: agent-based {a} cells, mean field {m}"
        );
    }
    assert!(
        cm.iter().zip(&ca).any(|((_, m), (_, a))| m != a),
        "the agent-based run repeats the mean field exactly"
    );

    let again = simulate(
        &dir("ab2"),
        &["--engine", "agent-based", "--seed", "7"],
        None,
    );
    assert_eq!(rows(&again), ab, "the same seed, the same run");
    let other = simulate(
        &dir("ab3"),
        &["--engine", "agent-based", "--seed", "8"],
        None,
    );
    assert_ne!(total_cells(&rows(&other)), ca, "another seed, another run");
}

/// `--replicates 3`: three runs stacked under a `replicate` column, replicate 0 the
/// single run of the same seed, the same file on 1 thread and on 4; the mean field
/// runs once whatever `--replicates` says.
#[test]
fn replicates_of_a_stochastic_engine_are_stacked_and_reproducible() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |n: &str| tmp.path().join(n);
    for engine in ["agent-based", "hybrid"] {
        let args = ["--engine", engine, "--seed", "3", "--replicates", "3"];
        let three = simulate(&dir(&format!("{engine}-3")), &args, Some("1"));
        let four_threads = simulate(&dir(&format!("{engine}-3b")), &args, Some("4"));
        assert_eq!(three, four_threads, "{engine}: 1 thread and 4 differ");
        assert_eq!(manifest(&dir(&format!("{engine}-3")))["replicates"], 3);
        assert_eq!(
            three.lines().next(),
            Some("replicate,time,population,variable,value")
        );
        let mut by_rep: Vec<String> = vec![String::new(); 3];
        for l in three.lines().skip(1) {
            let (r, rest) = l.split_once(',').unwrap();
            let r: usize = r.parse().unwrap();
            by_rep[r].push_str(rest);
            by_rep[r].push('\n');
        }
        let header = "time,population,variable,value\n";
        let single = simulate(
            &dir(&format!("{engine}-1")),
            &["--engine", engine, "--seed", "3"],
            None,
        );
        assert_eq!(
            format!("{header}{}", by_rep[0]),
            single,
            "{engine}: replicate 0 is not the single run of its seed"
        );
        for r in &by_rep {
            assert_eq!(total_cells(&rows(&format!("{header}{r}"))).len(), 31);
        }
        assert!(
            by_rep[1] != by_rep[0] && by_rep[2] != by_rep[1],
            "{engine}: replicates repeat each other"
        );
    }
    let mf = simulate(
        &dir("mf"),
        &["--engine", "mean-field", "--replicates", "3"],
        None,
    );
    assert_eq!(mf.lines().next(), Some("time,population,variable,value"));
    assert_eq!(manifest(&dir("mf"))["replicates"], 1);
}
