//! Runner behaviour: resume after a kill, shards and merge, thread-count independence,
//! failed runs kept, and input errors reported before anything runs.

mod sweep_support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;

use resloop::sweep::{merge, run_sweep, RunOptions, Shard, SweepError};
use sweep_support::{runs_text, toy_spec, CancelAfter, Toy};

const N: usize = 200;

fn toy() -> Toy {
    Toy { fail_above: 0.9 }
}

fn opts(threads: usize) -> RunOptions {
    RunOptions {
        threads: Some(threads),
        ..RunOptions::default()
    }
}

/// The reference: one uninterrupted run on two threads.
fn reference() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let s = run_sweep(&toy_spec(N), &toy(), dir.path(), &opts(2)).unwrap();
    assert_eq!(s.points, N);
    assert!(
        s.failed > 0 && s.ok > 0,
        "the toy should fail for some points"
    );
    let text = runs_text(dir.path());
    (dir, text)
}

#[test]
fn one_and_two_threads_agree_and_failures_are_kept() {
    let (_d, two) = reference();
    let dir = tempfile::tempdir().unwrap();
    run_sweep(&toy_spec(N), &toy(), dir.path(), &opts(1)).unwrap();
    assert_eq!(runs_text(dir.path()), two);
    assert_eq!(two.lines().count(), N + 1);
    assert!(two.contains(",failed,\"x = "));
    let ids: Vec<u64> = two
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ids, (0..N as u64).collect::<Vec<_>>());
}

#[test]
fn cancel_then_resume_is_identical() {
    let (_d, want) = reference();
    let dir = tempfile::tempdir().unwrap();
    let inner = toy();
    let cancel = Arc::new(AtomicBool::new(false));
    let ev = CancelAfter {
        inner: &inner,
        after: 57,
        count: AtomicUsize::new(0),
        cancel: cancel.clone(),
    };
    let options = RunOptions {
        cancel: Some(cancel),
        ..opts(2)
    };
    match run_sweep(&toy_spec(N), &ev, dir.path(), &options) {
        Err(SweepError::Cancelled { finished, total }) => {
            assert!((57..N).contains(&finished), "finished {finished}");
            assert_eq!(total, N);
        }
        other => panic!("expected cancellation, got {other:?}"),
    }
    // Without resume the directory is refused rather than overwritten.
    assert!(matches!(
        run_sweep(&toy_spec(N), &toy(), dir.path(), &opts(2)),
        Err(SweepError::OutputExists { .. })
    ));
    let resume = RunOptions {
        resume: true,
        ..opts(2)
    };
    let s = run_sweep(&toy_spec(N), &toy(), dir.path(), &resume).unwrap();
    assert!(s.reused >= 57 && s.reused + s.evaluated == N);
    assert_eq!(runs_text(dir.path()), want);
}

#[test]
fn torn_last_line_is_dropped_on_resume() {
    let (_d, want) = reference();
    let dir = tempfile::tempdir().unwrap();
    run_sweep(&toy_spec(N), &toy(), dir.path(), &opts(2)).unwrap();
    // Simulate a kill during a write: cut the file in the middle of row 120.
    let cut: usize = want.lines().take(121).map(|l| l.len() + 1).sum::<usize>() + 7;
    std::fs::write(dir.path().join("runs.csv"), &want[..cut]).unwrap();
    let resume = RunOptions {
        resume: true,
        ..opts(1)
    };
    let s = run_sweep(&toy_spec(N), &toy(), dir.path(), &resume).unwrap();
    assert_eq!(s.reused, 120);
    assert_eq!(s.evaluated, N - 120);
    assert_eq!(runs_text(dir.path()), want);
}

#[test]
fn resume_refuses_a_changed_spec() {
    let dir = tempfile::tempdir().unwrap();
    run_sweep(&toy_spec(20), &toy(), dir.path(), &opts(1)).unwrap();
    let resume = RunOptions {
        resume: true,
        ..opts(1)
    };
    assert!(matches!(
        run_sweep(&toy_spec(21), &toy(), dir.path(), &resume),
        Err(SweepError::ResumeMismatch { .. })
    ));
}

#[test]
fn shards_merge_to_the_single_run() {
    let (_d, want) = reference();
    let root = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = (0..3)
        .map(|i| root.path().join(format!("shard{i}")))
        .collect();
    for (i, d) in dirs.iter().enumerate() {
        let o = RunOptions {
            shard: Some(Shard::new(i, 3).unwrap()),
            ..opts(1)
        };
        run_sweep(&toy_spec(N), &toy(), d, &o).unwrap();
    }
    let out = root.path().join("merged");
    let m = merge(&dirs, &out).unwrap();
    assert_eq!(m.points, N);
    assert_eq!(runs_text(&out), want);

    let missing = merge(&dirs[..2], &root.path().join("m2")).unwrap_err();
    let expect = format!("{}-{}", Shard::new(2, 3).unwrap().range(N).start, N - 1);
    assert!(
        matches!(&missing, SweepError::MissingPoints { ids } if *ids == expect),
        "{missing}"
    );

    let twice = vec![
        dirs[0].clone(),
        dirs[1].clone(),
        dirs[2].clone(),
        dirs[1].clone(),
    ];
    let dup = merge(&twice, &root.path().join("m3")).unwrap_err();
    let r = Shard::new(1, 3).unwrap().range(N);
    let expect = format!("{}-{}", r.start, r.end - 1);
    assert!(
        matches!(&dup, SweepError::DuplicatePoints { ids } if *ids == expect),
        "{dup}"
    );
    assert!(dup.to_string().contains(&expect));
}

#[test]
fn bad_input_is_refused_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let never = Toy { fail_above: -1.0 };
    let run = |text: &str| {
        let spec = resloop::sweep::SweepSpec::from_toml(text).unwrap();
        run_sweep(&spec, &never, dir.path(), &opts(1)).unwrap_err()
    };
    let e = run(r#"seed = 1
design = { kind = "sobol", samples = 8 }
parameters = [{ name = "a", lo = 2.0, hi = 1.0 }]"#);
    assert!(
        matches!(&e, SweepError::InvalidBounds { name, .. } if name == "a"),
        "{e}"
    );
    let e = run(r#"seed = 1
design = { kind = "sobol", samples = 8 }
parameters = [{ name = "k", lo = 0.0, hi = 1.0, scale = "log" }]"#);
    assert!(matches!(e, SweepError::LogScaleNonPositive { .. }), "{e}");
    let e = run(r#"seed = 1
design = { kind = "saltelli", samples = 1 }
parameters = [{ name = "a", lo = 0.0, hi = 1.0 }]"#);
    assert!(
        matches!(e, SweepError::SampleTooSmall { got: 1, min: 2, .. }),
        "{e}"
    );
    let e = run(r#"seed = 1
design = { kind = "morris", trajectories = 1, levels = 4 }
parameters = [{ name = "a", lo = 0.0, hi = 1.0 }]"#);
    assert!(matches!(e, SweepError::SampleTooSmall { .. }), "{e}");
    let e = run(r#"seed = 1
design = { kind = "grid", levels = 1 }
parameters = [{ name = "a", lo = 0.0, hi = 1.0 }]"#);
    assert!(matches!(e, SweepError::SampleTooSmall { .. }), "{e}");
    let e = run(r#"seed = 1
design = { kind = "grid", levels = 3 }
parameters = [{ name = "sum", lo = 0.0, hi = 1.0 }]"#);
    assert!(matches!(e, SweepError::DuplicateName { .. }), "{e}");

    let shard = RunOptions {
        shard: Some(Shard { index: 4, count: 4 }),
        ..opts(1)
    };
    let e = run_sweep(&toy_spec(10), &never, dir.path(), &shard).unwrap_err();
    assert!(
        matches!(e, SweepError::ShardOutOfRange { index: 4, count: 4 }),
        "{e}"
    );
    // Nothing was written by any refused run.
    assert!(!dir.path().join("runs.csv").exists());
}
