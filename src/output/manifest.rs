//! The JSON manifest that makes a run reproducible: what ran, with which model
//! (hash), parameters, doses, solver settings and seed, how long it took.

use std::io;
use std::path::Path;

use serde::Serialize;

use super::atomic::write_atomic;

/// Version of resloop that wrote an output.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Write any serialisable manifest as pretty JSON, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value).map_err(io::Error::other)?;
        w.write_all(b"\n")
    })
}

/// The command line that started this process, for manifests.
pub fn command_line() -> Vec<String> {
    std::env::args().collect()
}
