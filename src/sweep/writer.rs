//! The single writer thread. Workers send finished rows through a channel and never
//! touch the file, so a slow disk cannot stall evaluation and rows are never
//! interleaved. The writer appends each row to the streaming `runs.csv`, flushes
//! whenever the channel is momentarily empty (so a kill loses at most the rows still
//! in flight), and owns the progress meter.

use std::fs::OpenOptions;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::output::progress::Meter;

use super::error::SweepError;
use super::runs::{csv_writer, write_row, RunRow, RunsHeader};

/// Start the writer. It appends to `path` and returns every row it wrote. On an I/O
/// error it raises `abort` so the workers stop taking new points.
pub(super) fn spawn(
    path: PathBuf,
    header: RunsHeader,
    rx: Receiver<RunRow>,
    progress: Option<Meter>,
    abort: Arc<AtomicBool>,
) -> JoinHandle<Result<Vec<RunRow>, SweepError>> {
    std::thread::spawn(move || {
        let result = write_loop(&path, &header, &rx, progress.as_ref());
        if result.is_err() {
            abort.store(true, Ordering::SeqCst);
            // Drain so no worker blocks on a full channel; rows are lost only
            // because the sweep is failing anyway, and a resume reruns them.
            while rx.recv().is_ok() {}
        }
        if let Some(pb) = progress {
            pb.finish();
        }
        result
    })
}

fn write_loop(
    path: &PathBuf,
    header: &RunsHeader,
    rx: &Receiver<RunRow>,
    progress: Option<&Meter>,
) -> Result<Vec<RunRow>, SweepError> {
    let io = |e: std::io::Error| SweepError::io(path, e);
    let file = OpenOptions::new().append(true).open(path).map_err(io)?;
    let mut w = csv_writer(BufWriter::new(file));
    let mut written = Vec::new();
    let mut next = rx.recv().ok();
    while let Some(row) = next {
        write_row(&mut w, header, &row).map_err(|e| io(e.into()))?;
        if let Some(pb) = progress {
            pb.inc(1);
        }
        written.push(row);
        next = match rx.try_recv() {
            Ok(row) => Some(row),
            Err(TryRecvError::Empty) => {
                w.flush().map_err(io)?;
                rx.recv().ok()
            }
            Err(TryRecvError::Disconnected) => None,
        };
    }
    w.flush().map_err(io)?;
    Ok(written)
}

/// Progress of the sweep's points on stderr when `show` (a bar on a terminal, log
/// lines otherwise), else none at all (tests stay quiet).
pub(super) fn progress_bar(show: bool, total: usize, done: usize) -> Option<Meter> {
    show.then(|| Meter::new(true, "sweep points", total as u64, done as u64))
}
