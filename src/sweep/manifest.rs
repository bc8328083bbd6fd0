//! The sweep manifest (`manifest.json`): what was run, with which seed and design, by
//! which version, and how it ended. Resume, merge and sensitivity read it back to make
//! sure they work on the sweep they think they do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::SweepError;
use super::shard::Shard;
use super::spec::SweepSpec;

/// How far a sweep directory got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepStatus {
    Running,
    Cancelled,
    Complete,
}

/// Contents of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Crate version that wrote the sweep.
    pub version: String,
    pub spec: SweepSpec,
    pub seed: u64,
    /// Design kind (`saltelli`, `morris`, ...).
    pub design: String,
    /// [`super::Design::fingerprint`] of the full design.
    pub design_fingerprint: String,
    /// Points in the full design.
    pub point_count: usize,
    /// The shard this directory holds, if any.
    pub shard: Option<Shard>,
    /// Points in this directory's slice (the whole design when unsharded).
    pub slice_point_count: usize,
    pub parameters: Vec<String>,
    pub metrics: Vec<String>,
    pub status: SweepStatus,
    pub ok: usize,
    pub failed: usize,
    /// Wall time of the last invocation (or the sum over merged shards), in seconds.
    pub wall_time_s: f64,
    /// Directories merged into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<PathBuf>,
    /// Files the evaluator read (model, schedule) with their SHA-256, so a resume or
    /// merge against an edited model is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputFile>,
    /// Unit of each parameter and metric column that has one (for plot axes).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub units: BTreeMap<String, String>,
}

/// One input file of an evaluator: the manifests' one file reference.
pub use crate::output::manifest::FileRef as InputFile;

/// Why two input lists do not describe the same files (paths may differ between
/// machines; roles and hashes may not), or `None` when they agree.
pub fn inputs_differ(old: &[InputFile], new: &[InputFile]) -> Option<String> {
    let key = |v: &[InputFile]| -> Vec<(String, String)> {
        v.iter()
            .map(|f| (f.role.clone(), f.sha256.clone()))
            .collect()
    };
    if key(old) == key(new) {
        return None;
    }
    let describe = |v: &[InputFile]| -> String {
        v.iter()
            .map(|f| format!("{} {} (sha256 {:.12})", f.role, f.path, f.sha256))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(format!(
        "input files changed: were [{}], now [{}]",
        describe(old),
        describe(new)
    ))
}

/// Path of the manifest in a sweep directory.
pub fn manifest_path(dir: &Path) -> PathBuf {
    dir.join("manifest.json")
}

/// Path of the runs table in a sweep directory.
pub fn runs_path(dir: &Path) -> PathBuf {
    dir.join("runs.csv")
}

impl Manifest {
    /// Read `dir/manifest.json`.
    pub fn read(dir: &Path) -> Result<Manifest, SweepError> {
        let path = manifest_path(dir);
        let text = std::fs::read_to_string(&path).map_err(|e| SweepError::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| SweepError::Json {
            path,
            message: e.to_string(),
        })
    }

    /// Write `dir/manifest.json` atomically.
    pub fn write(&self, dir: &Path) -> Result<(), SweepError> {
        let path = manifest_path(dir);
        crate::output::atomic::write_atomic(&path, |w| {
            serde_json::to_writer_pretty(&mut *w, self).map_err(std::io::Error::other)?;
            w.write_all(b"\n")
        })
        .map_err(|e| SweepError::io(&path, e))
    }
}
