//! Progress of a long run on stderr: a bar on a terminal, periodic log lines when
//! stderr is a file or a pipe (a script, a cluster job), nothing when hidden.
//!
//! Both say the time left at the *average* rate since the start, so the estimate
//! moves smoothly instead of jumping with the last few seconds' rate (an agent-based
//! run slows as its population grows; a sweep's points differ in cost). The estimate
//! says what it assumes.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Environment variable: seconds between log lines when stderr is not a terminal
/// (default 10).
pub const LOG_EVERY_ENV: &str = "RESLOOP_PROGRESS_SECONDS";

enum Sink {
    Bar(ProgressBar),
    Log {
        every: Duration,
        last: Mutex<Instant>,
        logged: AtomicU64,
    },
    Hidden,
}

/// A progress meter over `total` units of work (points, replicate-ticks).
pub struct Meter {
    sink: Sink,
    what: String,
    total: u64,
    /// Units done before this run started (a resumed sweep): not counted in the rate.
    start_pos: u64,
    pos: AtomicU64,
    start: Instant,
}

impl Meter {
    /// A meter for `what` (e.g. "sweep points"): a bar on a terminal, log lines
    /// otherwise; hidden when `show` is false.
    pub fn new(show: bool, what: &str, total: u64, done: u64) -> Meter {
        let sink = if !show {
            Sink::Hidden
        } else if std::io::stderr().is_terminal() {
            Sink::Bar(Self::bar(what, total, done))
        } else {
            let every = std::env::var(LOG_EVERY_ENV)
                .ok()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .unwrap_or(10.0);
            Sink::Log {
                every: Duration::from_secs_f64(every),
                last: Mutex::new(Instant::now()),
                logged: AtomicU64::new(0),
            }
        };
        Meter {
            sink,
            what: what.to_string(),
            total,
            start_pos: done,
            pos: AtomicU64::new(done),
            start: Instant::now(),
        }
    }

    fn bar(what: &str, total: u64, done: u64) -> ProgressBar {
        let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let start_pos = done;
        let style = ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {percent}% of {msg} ({left})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "left",
            move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&time_left(
                    s.elapsed(),
                    s.pos().saturating_sub(start_pos),
                    s.len().unwrap_or(0).saturating_sub(s.pos()),
                ));
            },
        );
        pb.set_style(style);
        pb.set_message(what.to_string());
        pb.set_position(done);
        pb
    }

    /// `n` more units done.
    pub fn inc(&self, n: u64) {
        let pos = self.pos.fetch_add(n, Ordering::Relaxed) + n;
        match &self.sink {
            Sink::Bar(b) => b.inc(n),
            Sink::Log {
                every,
                last,
                logged,
            } => {
                let Ok(mut last) = last.try_lock() else {
                    return; // another thread is logging right now
                };
                if last.elapsed() >= *every && pos < self.total {
                    *last = Instant::now();
                    logged.fetch_add(1, Ordering::Relaxed);
                    eprintln!("{}", self.line(pos));
                }
            }
            Sink::Hidden => {}
        }
    }

    /// One log line: how far, how long, how long still to go.
    fn line(&self, pos: u64) -> String {
        let pct = 100.0 * pos as f64 / self.total.max(1) as f64;
        format!(
            "progress: {pct:.0}% of {} after {}; {}",
            self.what,
            clock(self.start.elapsed()),
            time_left(
                self.start.elapsed(),
                pos.saturating_sub(self.start_pos),
                self.total.saturating_sub(pos)
            )
        )
    }

    /// The run is over: clear the bar, or log the total time if lines were logged.
    pub fn finish(&self) {
        match &self.sink {
            Sink::Bar(b) => b.finish_and_clear(),
            Sink::Log { logged, .. } if logged.load(Ordering::Relaxed) > 0 => {
                eprintln!(
                    "progress: {} done in {}",
                    self.what,
                    clock(self.start.elapsed())
                );
            }
            _ => {}
        }
    }
}

/// `1:05:03`, `4:07` or `12 s`.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{}:{:02}", s / 60, s % 60),
        _ => format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60),
    }
}

/// Time left for `left` units at the average rate of the `done` units so far.
fn time_left(elapsed: Duration, done: u64, left: u64) -> String {
    if done == 0 || elapsed < Duration::from_millis(500) {
        return "estimating time left".into();
    }
    let secs = elapsed.as_secs_f64() * left as f64 / done as f64;
    format!(
        "about {} left at the average rate so far",
        clock(Duration::from_secs_f64(secs.min(1e9)))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_uses_the_average_rate() {
        // 10 units in 20 s: 30 more take 60 s.
        assert_eq!(
            time_left(Duration::from_secs(20), 10, 30),
            "about 1:00 left at the average rate so far"
        );
        assert_eq!(
            time_left(Duration::from_secs(20), 0, 30),
            "estimating time left"
        );
        assert_eq!(clock(Duration::from_secs(3723)), "1:02:03");
        assert_eq!(clock(Duration::from_secs(7)), "7 s");
    }

    #[test]
    fn hidden_meter_counts_silently() {
        let m = Meter::new(false, "points", 10, 2);
        m.inc(3);
        assert_eq!(m.pos.load(Ordering::Relaxed), 5);
        assert!(m.line(5).starts_with("progress: 50% of points after"));
        m.finish();
    }
}
