//! A run folder is complete or absent: a subcommand killed at any moment (SIGKILL or
//! SIGTERM, 50 times at pseudo-random delays) leaves either no run folder or one with
//! exactly the files of a complete run; SIGTERM also leaves no temporary folder, and
//! the next run cleans what a SIGKILL left.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

fn therapy(out: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_resloop"));
    c.args([
        "therapy",
        "models/minimal_loop.toml",
        "models/schedules/minimal_loop_top_dose.toml",
        "--overwrite",
        "--out",
    ])
    .arg(out)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    c
}

fn files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect()
}

#[test]
fn killed_runs_leave_no_folder_or_a_complete_one() {
    let root = tempfile::tempdir().unwrap();
    let reference = root.path().join("reference");
    let t0 = Instant::now();
    assert!(therapy(&reference).status().unwrap().success());
    let full = t0.elapsed();
    let complete = files(&reference);
    assert!(complete.contains("manifest.json") && complete.contains("timeline.csv"));

    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut seen = [0usize; 2]; // (absent, complete)
    for i in 0..50 {
        // xorshift: a fixed sequence of delays over [0, 1.2 x the run's length].
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let delay = full.mul_f64(1.2 * (state % 1000) as f64 / 1000.0);
        let out = root.path().join(format!("run{i}"));
        let mut child = therapy(&out).spawn().unwrap();
        std::thread::sleep(delay);
        let term = i % 2 == 1;
        if term {
            // SAFETY: signalling our own child process.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        } else {
            let _ = child.kill();
        }
        child.wait().unwrap();
        if out.exists() {
            assert_eq!(files(&out), complete, "run {i}: an incomplete run folder");
            seen[1] += 1;
        } else {
            seen[0] += 1;
        }
        let leftovers: Vec<String> = files(root.path())
            .into_iter()
            .filter(|f| f.starts_with(&format!(".run{i}.partial-")))
            .collect();
        if term {
            assert!(leftovers.is_empty(), "run {i}: SIGTERM left {leftovers:?}");
        } else if !leftovers.is_empty() {
            // The next run into the same place removes what the killed one left.
            assert!(therapy(&out).status().unwrap().success());
            assert_eq!(files(&out), complete);
            let again = files(root.path())
                .into_iter()
                .filter(|f| f.starts_with(&format!(".run{i}.partial-")))
                .count();
            assert_eq!(again, 0, "run {i}: a stale temporary folder survived");
        }
    }
    // Not a timing assertion: the delays must have hit both outcomes for the test to
    // mean anything.
    eprintln!(
        "absent {}, complete {} (run length {full:?})",
        seen[0], seen[1]
    );
    assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
}

/// Ctrl-C during a sweep: the sweep stops taking points, its manifest says
/// `cancelled` (not `running`), and `--resume` finishes it with the same rows as an
/// uninterrupted sweep.
#[test]
fn interrupted_sweep_has_a_truthful_manifest_and_resumes() {
    let root = tempfile::tempdir().unwrap();
    let model = std::fs::canonicalize("models/mir34a_axl.toml").unwrap();
    let spec = root.path().join("sweep.toml");
    let text = std::fs::read_to_string("models/sweeps/mir34a_axl_sobol.toml")
        .unwrap()
        .replace("samples = 32", "samples = 128")
        .replace(
            "\"../mir34a_axl.toml\"",
            &format!("{:?}", model.display().to_string()),
        );
    std::fs::write(&spec, text).unwrap();
    let sweep = |out: &Path, extra: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_resloop"));
        c.arg("sweep")
            .arg(&spec)
            .args(["--no-analysis", "--threads", "1", "--out"])
            .arg(out)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    let reference = root.path().join("reference");
    assert!(sweep(&reference, &[]).status().unwrap().success());

    let out = root.path().join("interrupted");
    let mut child = sweep(&out, &[]).spawn().unwrap();
    // Wait for some rows, then Ctrl-C.
    let runs = out.join("runs.csv");
    let t0 = Instant::now();
    while std::fs::read_to_string(&runs).map_or(0, |t| t.lines().count()) < 20 {
        assert!(t0.elapsed().as_secs() < 120, "the sweep wrote no rows");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "a cancelled sweep is not a success");
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"status\": \"cancelled\""), "{manifest}");
    let rows = std::fs::read_to_string(&runs).unwrap().lines().count();
    let all = std::fs::read_to_string(reference.join("runs.csv")).unwrap();
    assert!(
        rows < all.lines().count(),
        "{rows} rows: the sweep was not interrupted"
    );

    assert!(sweep(&out, &["--resume"]).status().unwrap().success());
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"status\": \"complete\""));
    assert_eq!(std::fs::read_to_string(&runs).unwrap(), all);
}

/// Writing into an existing run folder is refused; `--overwrite` replaces the whole
/// folder, so a `--no-plot` rerun leaves no stale plot of the earlier run.
#[test]
fn an_existing_run_folder_is_refused_or_replaced_whole() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("run");
    let simulate = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_resloop"))
            .args([
                "simulate",
                "models/minimal_loop.toml",
                "--days",
                "5",
                "--out",
            ])
            .arg(&out)
            .args(extra)
            .output()
            .unwrap()
    };
    assert!(simulate(&[]).status.success());
    assert!(out.join("timeline.png").exists());
    let again = simulate(&["--no-plot"]);
    assert_eq!(again.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("already exists and is not empty; pass --overwrite to replace it"),
        "{stderr}"
    );
    assert!(simulate(&["--no-plot", "--overwrite"]).status.success());
    assert!(!out.join("timeline.png").exists(), "a stale plot survived");
    assert_eq!(
        files(&out),
        ["manifest.json", "timeline.csv"].map(String::from).into()
    );
    assert_eq!(files(root.path()), ["run"].map(String::from).into());
}
