//! The JSON manifest that makes a run reproducible: what ran (version and command
//! line), on which input files (each with its SHA-256), with which settings, how long
//! it took and what it wrote.
//!
//! Every command writes the same envelope, [`Manifest`], around its own settings and
//! results, so a reader (the HTML report, a notebook, a provenance check) finds the
//! version, the command line, the inputs and the outputs under the same keys whatever
//! the command. The manifest is written last: its presence marks a complete folder.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::atomic::write_atomic;

/// Version of resloop that wrote an output.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Write any serialisable value as pretty JSON, atomically.
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

/// An input file of a run: its role (`model`, `schedule`, `facts`, `story`, `plate`,
/// `design`, ...), its name where it declares one, where it was read and the SHA-256
/// of its text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRef {
    pub role: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub path: String,
    pub sha256: String,
}

impl FileRef {
    pub fn new(role: &str, name: &str, path: &str, sha256: &str) -> FileRef {
        FileRef {
            role: role.to_string(),
            name: name.to_string(),
            path: path.to_string(),
            sha256: sha256.to_string(),
        }
    }

    /// A file read from disk now: its hash is of its current bytes.
    pub fn read(role: &str, path: &Path) -> io::Result<FileRef> {
        use sha2::{Digest, Sha256};
        let bytes = std::fs::read(path)?;
        Ok(FileRef::new(
            role,
            "",
            &path.to_string_lossy(),
            &hex::encode(Sha256::digest(&bytes)),
        ))
    }
}

/// The envelope of every `manifest.json`: the version and command line, the input
/// files, the command's own settings and results (`run`, flattened into the same JSON
/// object), the wall time and the files written.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest<B> {
    pub resloop_version: &'static str,
    pub command_line: Vec<String>,
    pub inputs: Vec<FileRef>,
    #[serde(flatten)]
    pub run: B,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_seconds: Option<f64>,
    pub outputs: Vec<String>,
}

impl<B: Serialize> Manifest<B> {
    /// This process's manifest of `run` on `inputs`.
    pub fn new(
        inputs: Vec<FileRef>,
        run: B,
        wall_seconds: Option<f64>,
        outputs: Vec<String>,
    ) -> Self {
        Manifest {
            resloop_version: VERSION,
            command_line: command_line(),
            inputs,
            run,
            wall_seconds,
            outputs,
        }
    }

    /// Write as pretty JSON, atomically.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        write_json(path, self)
    }
}

/// The model file of a run.
pub fn model_ref(m: &crate::compile::CompiledModel) -> FileRef {
    FileRef::new("model", &m.meta.name, &m.meta.path, &m.meta.sha256)
}

/// The schedule file of a run.
pub fn schedule_ref(s: &crate::schedule::Schedule) -> FileRef {
    FileRef::new("schedule", &s.name, &s.path, &s.sha256)
}
