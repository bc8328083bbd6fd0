//! How every subcommand writes its run folder and stops on Ctrl-C or SIGTERM.
//!
//! A run folder is complete or absent: the subcommand writes into the temporary
//! sibling of a [`RunDir`] and renames it into place as its last step; an existing
//! non-empty folder is refused unless `--overwrite`. On Ctrl-C, SIGTERM or SIGHUP
//! the temporary folders are removed and the process exits with 130, except while
//! a sweep runs: then the first signal asks the sweep to stop taking points, so it
//! ends with a truthful `cancelled` manifest and can be resumed (a second signal
//! exits at once, leaving a resumable folder as a `kill -9` would).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use resloop::output::atomic::{abandon_all, RunDir};

static OVERWRITE: AtomicBool = AtomicBool::new(false);

/// Set by the first signal while a sweep listens; see [`sweep_cancel_flag`].
fn cancel() -> &'static Arc<AtomicBool> {
    static CANCEL: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    CANCEL.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

static COOPERATIVE: AtomicBool = AtomicBool::new(false);

/// `--overwrite` for every run folder this process writes.
pub fn set_overwrite(on: bool) {
    OVERWRITE.store(on, Ordering::SeqCst);
}

/// Start the run folder `out` (see the module doc).
pub fn begin(out: &Path) -> anyhow::Result<RunDir> {
    Ok(RunDir::begin(out, OVERWRITE.load(Ordering::SeqCst))?)
}

/// Rewrite the temporary folder's path as the final one in a text file of the run
/// (a record that names another file of the same run).
pub fn relocate(run: &RunDir, file: &str) -> anyhow::Result<()> {
    let path = run.path().join(file);
    let text = std::fs::read_to_string(&path)?;
    let (from, to) = (
        run.path().display().to_string(),
        run.out().display().to_string(),
    );
    let text = text.replace(&from, &to);
    resloop::output::atomic::write_atomic(&path, |w| {
        std::io::Write::write_all(w, text.as_bytes())
    })?;
    Ok(())
}

/// Whether `--overwrite` was given (the sweep, which owns its folder, asks).
pub fn overwrite() -> bool {
    OVERWRITE.load(Ordering::SeqCst)
}

/// The flag a running sweep polls; from now on the first signal raises it instead of
/// exiting.
pub fn sweep_cancel_flag() -> Arc<AtomicBool> {
    COOPERATIVE.store(true, Ordering::SeqCst);
    Arc::clone(cancel())
}

/// Set when the command has returned: its run folders are finished, or removed by
/// their drop after an error (a write refused once the handler abandoned them).
static RETURNED: AtomicBool = AtomicBool::new(false);

/// After a command returns: if a signal handler is removing the run folders, wait for
/// it to end the process (exit 130) instead of exiting first, half way through.
pub fn wait_if_interrupted() {
    RETURNED.store(true, Ordering::SeqCst);
    if resloop::output::atomic::abandoning() {
        loop {
            std::thread::park();
        }
    }
}

/// Install the Ctrl-C / SIGTERM / SIGHUP handler (once per process).
pub fn install_signal_handler() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // The handler runs on its own thread, so it may take locks and touch files.
        let r = ctrlc::set_handler(|| {
            if COOPERATIVE.load(Ordering::SeqCst) && !cancel().swap(true, Ordering::SeqCst) {
                eprintln!(
                    "interrupted: finishing the points in progress (signal again to stop now)"
                );
                return;
            }
            abandon_all();
            // The command thread may have been between the check of a write and
            // creating its folder when the flag rose, and recreate the folder after
            // the sweeps: its next write is refused and its error removes the folder.
            // Wait a moment for it to return (a command still computing does not
            // write), then sweep again.
            let deadline = Instant::now() + Duration::from_millis(500);
            while !RETURNED.load(Ordering::SeqCst) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            abandon_all();
            if COOPERATIVE.load(Ordering::SeqCst) {
                eprintln!("interrupted: the sweep folder can be resumed with --resume");
            } else {
                eprintln!("interrupted: no run folder was written");
            }
            std::process::exit(130);
        });
        if let Err(e) = r {
            eprintln!("warning: cannot handle Ctrl-C cleanly: {e}");
        }
    });
}
