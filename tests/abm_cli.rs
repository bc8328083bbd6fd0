//! `resloop abm` through the binary: the same seed gives byte-identical files with
//! `--threads 1` and `--threads 2` (per-cell with noise and doses; under a schedule with
//! adaptive escalation, IC50 assays and random passaging), and bad input fails with a
//! clear message, a non-zero exit and no manifest (so no folder looks complete).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn resloop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_resloop"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

/// The teaching model with extra TOML appended (e.g. a `[heterogeneity]` section),
/// or with a line replaced, in `dir`.
fn variant(dir: &Path, name: &str, replace: (&str, &str), append: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("models/minimal_loop.toml")).unwrap();
    assert!(text.contains(replace.0), "the model has `{}`", replace.0);
    let text = text.replacen(replace.0, replace.1, 1);
    // `[scenario]` is the last table; appended tables go before it.
    let text = text.replacen("[scenario]", &format!("{append}\n[scenario]"), 1);
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Every file of a run folder except the manifest (which records wall time and the
/// command line), by name.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "manifest.json")
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "resloop failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn same_with_1_and_2_threads(args: &[&str], tag: &str) -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.path().join(format!("{tag}_{threads}"));
        let mut a: Vec<&str> = args.to_vec();
        let o = out.to_str().unwrap().to_string();
        a.extend(["--threads", threads, "--out", &o]);
        ok(&resloop(&a));
        assert!(out.join("manifest.json").exists());
        runs.push(files(&out));
    }
    let names: Vec<&String> = runs[0].iter().map(|f| &f.0).collect();
    for want in [
        "timeline.csv",
        "clones.csv",
        "summary.csv",
        "muller.csv",
        "events.csv",
        "population.png",
        "muller.svg",
    ] {
        assert!(
            names.iter().any(|n| *n == want),
            "{want} written: {names:?}"
        );
    }
    assert_eq!(runs[0].len(), runs[1].len());
    for (a, b) in runs[0].iter().zip(&runs[1]) {
        assert_eq!(a.0, b.0);
        assert!(a.1 == b.1, "{} differs between --threads 1 and 2", a.0);
    }
    runs.swap_remove(0)
}

#[test]
fn threads_do_not_change_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let noisy = variant(
        dir.path(),
        "noisy.toml",
        (
            "mutation_probability = 1.0e-7",
            // About ten mutants expected in this run (about 1,000 divisions under
            // the drug), so it exercises mutation with near certainty.
            "mutation_probability = 1.0e-2",
        ),
        "[heterogeneity]\nspecies_noise = 0.05\npartition_cv = 0.1\n",
    );
    // One replicate: with two threads its cells are processed in parallel blocks.
    let files = same_with_1_and_2_threads(
        &[
            "abm",
            noisy.to_str().unwrap(),
            "--cells",
            "6000",
            "--replicates",
            "1",
            "--days",
            "3",
            "--dose",
            "tki=1uM@24h",
            "--seed",
            "7",
        ],
        "noisy",
    );
    let events = &files.iter().find(|f| f.0 == "events.csv").unwrap().1;
    let events = String::from_utf8_lossy(events);
    assert!(events.contains(",mutation,"), "mutants arose");
    assert!(events.contains(",dose,"), "doses are listed");
    // Under a schedule: adaptive escalation (assays on the mean state), passaging at
    // the cap by random sampling, several replicates in parallel.
    let files = same_with_1_and_2_threads(
        &[
            "abm",
            "models/minimal_loop.toml",
            "models/schedules/minimal_loop_adaptive.toml",
            "--cells",
            "200000",
            "--replicates",
            "3",
            "--seed",
            "3",
        ],
        "schedule",
    );
    let events = &files.iter().find(|f| f.0 == "events.csv").unwrap().1;
    let events = String::from_utf8_lossy(events);
    assert!(events.contains(",passage,"), "passaged at the cap");
    assert!(events.contains(",dose_change,"), "escalated");
    assert!(events.contains(",ic50,"), "IC50 readouts");
    let timeline = &files.iter().find(|f| f.0 == "timeline.csv").unwrap().1;
    assert!(String::from_utf8_lossy(timeline).contains(",dose,tki,"));
}

/// Runs `args` (plus `--out`), expects failure with every `needle` in stderr and no
/// manifest written.
fn fails(args: &[&str], needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap().to_string();
    let mut a = args.to_vec();
    a.extend(["--out", &o]);
    let r = resloop(&a);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success(), "accepted {args:?}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks `{n}`: {err}");
    }
    assert!(
        !out.join("manifest.json").exists(),
        "no complete-looking output"
    );
}

#[test]
fn bad_input_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let m = "models/minimal_loop.toml";
    fails(&["abm", m, "--cells", "0", "--days", "1"], &["--cells 0"]);
    let bad_u = variant(
        d,
        "bad_u.toml",
        (
            "mutation_probability = 1.0e-7",
            "mutation_probability = 1.5",
        ),
        "",
    );
    fails(
        &["abm", bad_u.to_str().unwrap(), "--days", "1"],
        &[
            "bad_u.toml:",
            "genotypes.gatekeeper.mutation_probability",
            "[0, 1]",
        ],
    );
    let loud = variant(
        d,
        "loud.toml",
        ("k_enh * (1", "k_enh * (1"),
        "[heterogeneity]\nspecies_noise = 3.0\n",
    );
    fails(
        &[
            "abm",
            loud.to_str().unwrap(),
            "--cells",
            "100",
            "--days",
            "1",
        ],
        &["noise amplitude 3", "negative", "reduce dt"],
    );
    fails(
        &[
            "abm",
            m,
            "--mode",
            "per-cell",
            "--cells",
            "1e6",
            "--days",
            "1",
            "--memory-gb",
            "0.001",
        ],
        &["1000000 cells needs about 20000000 bytes"],
    );
    fails(
        &["abm", m, "--days", "1", "--dose", "tkk=1uM@24h"],
        &["no drug `tkk`", "did you mean `tki`"],
    );
    fails(
        &[
            "abm",
            m,
            "models/schedules/minimal_loop_ladder.toml",
            "--days",
            "3",
        ],
        &["--days", "schedule"],
    );
    fails(
        &["abm", m, "--days", "1", "--resistance", "regrowth:0.5"],
        &["--resistance"],
    );
}
