//! The command line without traps, through the binary: durations in weeks as in
//! schedules, the model's scenario when no dose is given (as `abm` does), the flags
//! every subcommand shares (`--no-plot`, `--quiet`), parameters outside their bounds
//! only on purpose, and progress as log lines when stderr is not a terminal. The
//! refusals are cases in `tests/bad_inputs/`.

use std::path::Path;
use std::process::{Command, Output};

fn resloop(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_resloop"));
    c.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().expect("the binary runs");
    assert!(
        o.status.success(),
        "resloop {args:?} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn dose_interval_in_weeks_like_schedules() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("w");
    resloop(
        &[
            "simulate",
            "models/minimal_loop.toml",
            "--days",
            "15",
            "--dose",
            "tki=1uM@1w",
            "--no-plot",
            "--quiet",
            "--out",
            s(&out),
        ],
        &[],
    );
    // The model counts hours: doses at 0, 168 and 336 h.
    let times: Vec<f64> = manifest(&out)["doses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["time"].as_f64().unwrap())
        .collect();
    assert_eq!(times, vec![0.0, 168.0, 336.0]);
}

#[test]
fn simulate_without_dose_runs_the_scenario_like_abm() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sc");
    let o = resloop(
        &[
            "simulate",
            "models/minimal_loop.toml",
            "--no-plot",
            "--out",
            s(&out),
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("the model's [scenario]"), "{stdout}");
    let specs = manifest(&out)["dose_specs"].clone();
    assert_eq!(specs, serde_json::json!(["tki=1uM@72h"]));
    // --drug-free: no dose at all.
    let free = tmp.path().join("free");
    resloop(
        &[
            "simulate",
            "models/minimal_loop.toml",
            "--days",
            "5",
            "--drug-free",
            "--no-plot",
            "--out",
            s(&free),
        ],
        &[],
    );
    assert_eq!(manifest(&free)["doses"], serde_json::json!([]));
}

#[test]
fn quiet_prints_nothing_and_no_plot_draws_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("q");
    let o = resloop(
        &[
            "simulate",
            "models/minimal_loop.toml",
            "--days",
            "5",
            "--quiet",
            "--no-plot",
            "--out",
            s(&out),
        ],
        &[],
    );
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(!out.join("timeline.png").exists());
    // checkerboard takes the shared flags too.
    let cb = tmp.path().join("cb");
    resloop(
        &[
            "checkerboard",
            "models/minimal_loop.toml",
            "--state",
            "initial",
            "--drug-a",
            "tki",
            "--doses-a",
            "0,0.25,0.5,1",
            "--drug-b",
            "hdaci",
            "--doses-b",
            "0,5,10,20",
            "--methods",
            "bliss",
            "--no-plot",
            "--quiet",
            "--out",
            s(&cb),
        ],
        &[],
    );
    assert!(cb.join("plate.csv").is_file());
    let pngs = std::fs::read_dir(&cb)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "png")
        })
        .count();
    assert_eq!(pngs, 0);
}

#[test]
fn out_of_bounds_on_purpose() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("oob");
    resloop(
        &[
            "simulate",
            "models/minimal_loop.toml",
            "--days",
            "5",
            "--set",
            "k_erode=0.05",
            "--allow-out-of-bounds",
            "--no-plot",
            "--quiet",
            "--out",
            s(&out),
        ],
        &[],
    );
    assert_eq!(manifest(&out)["parameters"]["k_erode"], 0.05);
}

#[test]
fn progress_is_logged_when_stderr_is_not_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("abm");
    let o = resloop(
        &[
            "abm",
            "models/minimal_loop.toml",
            "--cells",
            "200",
            "--replicates",
            "2",
            "--days",
            "3",
            "--no-plot",
            "--out",
            s(&out),
        ],
        &[("RESLOOP_PROGRESS_SECONDS", "0")],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("progress: "), "{err}");
    assert!(err.contains("of 2 replicates after"), "{err}");
    assert!(err.contains("progress: 2 replicates done in"), "{err}");
    // --quiet silences it.
    let o = resloop(
        &[
            "abm",
            "models/minimal_loop.toml",
            "--cells",
            "200",
            "--replicates",
            "2",
            "--days",
            "3",
            "--no-plot",
            "--quiet",
            "--overwrite",
            "--out",
            s(&out),
        ],
        &[("RESLOOP_PROGRESS_SECONDS", "0")],
    );
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.stdout.is_empty());
}
