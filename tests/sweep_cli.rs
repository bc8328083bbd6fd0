//! The sweep commands end to end through the binary: a sweep killed with SIGKILL and
//! resumed gives the same runs.csv as an uninterrupted one; shards merged equal the
//! whole run; bad input fails before anything is written.

mod sweep_support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use sweep_support::{runs_text, write_sweep};

fn resloop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_resloop"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let o = resloop(args);
    assert!(
        o.status.success(),
        "resloop {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A Latin hypercube of `n` points over the birth-death model, 20 days, with `points`
/// output intervals (more makes each run slower).
fn sweep_text(n: usize, points: usize) -> String {
    format!(
        r#"seed = 11
design = {{ kind = "latin_hypercube", samples = {n} }}
[model]
file = "model.toml"
[schedule]
days = 20
points = {points}
[[parameters]]
name = "b"
[[parameters]]
name = "k"
scale = "log"
[[metrics]]
kind = "final_population"
[[metrics]]
kind = "auc"
variable = "x"
"#
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn killed_sweep_resumes_to_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let n = 3000;
    let sweep = write_sweep(dir.path(), &sweep_text(n, 4000));
    let whole = dir.path().join("whole");
    ok(&[
        "sweep",
        s(&sweep),
        "--out",
        s(&whole),
        "--threads",
        "2",
        "--no-analysis",
    ]);
    let want = runs_text(&whole);

    let killed = dir.path().join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_resloop"))
        .args([
            "sweep",
            s(&sweep),
            "--out",
            s(&killed),
            "--threads",
            "2",
            "--no-analysis",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill once some rows are on disk.
    let runs = killed.join("runs.csv");
    let start = Instant::now();
    while std::fs::read(&runs).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count()) < 50 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no rows appeared"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = std::fs::read_to_string(&runs).unwrap();
    let rows = partial.lines().count() - 1;
    assert!(rows < n, "the sweep finished before it could be killed");
    let manifest = std::fs::read_to_string(killed.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"status\": \"running\""));

    // Without --resume the directory is refused; with it the sweep completes.
    let o = resloop(&["sweep", s(&sweep), "--out", s(&killed), "--no-analysis"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--resume")
            || String::from_utf8_lossy(&o.stderr).contains("resume")
    );
    let out = ok(&[
        "sweep",
        s(&sweep),
        "--out",
        s(&killed),
        "--resume",
        "--no-analysis",
    ]);
    assert!(out.contains("from before"), "{out}");
    assert_eq!(runs_text(&killed), want);
}

#[test]
fn shards_merge_to_the_whole_sweep_and_analysis_runs() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = write_sweep(dir.path(), &sweep_text(60, 100));
    let whole = dir.path().join("whole");
    ok(&["sweep", s(&sweep), "--out", s(&whole)]);
    assert!(whole
        .join("sensitivity/plots/scatter_final_population.png")
        .exists());
    let shards: Vec<_> = (0..3)
        .map(|i| dir.path().join(format!("shard{i}")))
        .collect();
    for (i, d) in shards.iter().enumerate() {
        ok(&[
            "sweep",
            s(&sweep),
            "--out",
            s(d),
            "--shard",
            &format!("{i}/3"),
            "--threads",
            "1",
        ]);
        assert!(!d.join("sensitivity").exists(), "a shard is not analysed");
    }
    let merged = dir.path().join("merged");
    let out = ok(&[
        "merge",
        s(&shards[0]),
        s(&shards[1]),
        s(&shards[2]),
        "--out",
        s(&merged),
    ]);
    assert!(out.contains("60 points"), "{out}");
    assert_eq!(runs_text(&merged), runs_text(&whole));
    assert!(merged.join("sensitivity/plots/scatter_auc_x.svg").exists());
    // A missing shard is named.
    let o = resloop(&[
        "merge",
        s(&shards[0]),
        s(&shards[2]),
        "--out",
        s(&dir.path().join("m2")),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing from every shard: 20-39"));
    // `resloop sensitivity` re-analyses a finished sweep.
    ok(&["sensitivity", s(&merged), "--no-plots"]);
}

#[test]
fn bad_input_fails_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = write_sweep(dir.path(), &sweep_text(10, 10));
    let out = dir.path().join("out");
    for (args, needle) in [
        (vec!["--shard", "3/3"], "shard 3/3 is out of range"),
        (vec!["--shard", "one/3"], "cannot parse shard"),
        (vec!["--threads", "0"], "--threads must be at least 1"),
    ] {
        let mut a = vec!["sweep", s(&sweep), "--out", s(&out)];
        a.extend(args);
        let o = resloop(&a);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{err}");
        assert!(!out.exists(), "{a:?} wrote output");
    }
    let bad = write_sweep(
        dir.path(),
        &sweep_text(10, 10).replace("name = \"k\"", "name = \"kay\""),
    );
    let o = resloop(&["sweep", s(&bad), "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("sweep.toml:11:8: `parameters.kay`"), "{err}");
    assert!(!out.exists());
}
