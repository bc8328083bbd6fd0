//! A run folder is complete or absent: a subcommand killed at any moment (SIGKILL or
//! SIGTERM, 50 times) leaves either no run folder or one with exactly the files of a
//! complete run; SIGTERM also leaves no temporary folder, and the next run cleans what
//! a SIGKILL left.
//!
//! The moments are of two kinds. Pseudo-random delays over the length of a reference
//! run hit any moment, but how far a run has got after a delay depends on the
//! machine's load; so every other kill instead waits for a stage of the run to be
//! visible on disk (its temporary folder made, a file in it, the final folder in
//! place), polling with a generous deadline. Those stages guarantee kills before and
//! after the rename at any load, so both outcomes are always exercised.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// When a kill is sent.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Moment {
    /// After this delay, wherever the run has got.
    After(Duration),
    /// Once the run has made its temporary folder (it is computing).
    Started,
    /// Once a file is being written into the temporary folder.
    Writing,
    /// Once the final folder is in place (the process may still be exiting).
    Finished,
}

/// Wait until `moment` (or until the child has exited on its own). The temporary
/// folder of `out` is `.NAME.partial-PID` beside it.
fn wait_for(moment: Moment, child: &mut Child, out: &Path) {
    let tmp = out.with_file_name(format!(
        ".{}.partial-{}",
        out.file_name().unwrap().to_string_lossy(),
        child.id()
    ));
    let reached = || match moment {
        Moment::After(_) => true,
        Moment::Started => tmp.exists(),
        Moment::Writing => std::fs::read_dir(&tmp).is_ok_and(|mut d| d.next().is_some()),
        Moment::Finished => out.exists(),
    };
    if let Moment::After(delay) = moment {
        std::thread::sleep(delay);
        return;
    }
    // Generous: a run takes a fraction of a second on an idle machine.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !reached() {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{moment:?} not reached within 120 s"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
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
    let mut started_absent = 0;
    for i in 0..50 {
        // xorshift: a fixed sequence of delays over [0, 1.2 x the run's length].
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let moment = match i % 5 {
            2 => Moment::Started,
            3 => Moment::Writing,
            4 => Moment::Finished,
            _ => Moment::After(full.mul_f64(1.2 * (state % 1000) as f64 / 1000.0)),
        };
        let out = root.path().join(format!("run{i}"));
        let mut child = therapy(&out).spawn().unwrap();
        wait_for(moment, &mut child, &out);
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
            assert_ne!(
                moment,
                Moment::Finished,
                "run {i}: a finished run folder was removed"
            );
            seen[0] += 1;
            started_absent += usize::from(moment == Moment::Started);
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
    eprintln!(
        "absent {}, complete {} (reference run {full:?})",
        seen[0], seen[1]
    );
    // Both outcomes must have occurred for the test to mean anything: a kill while
    // the run computes leaves no folder (10 such kills; one that lost the race to a
    // whole run would be a machine stalled for longer than a run), and a kill after
    // the rename leaves the complete one.
    assert!(
        started_absent > 0,
        "no kill during a run left the folder absent: {seen:?}"
    );
    assert!(seen[1] > 0, "{seen:?}");
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
