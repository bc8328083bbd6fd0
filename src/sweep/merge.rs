//! Merging shard outputs into one sweep directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::{format_ids, SweepError};
use super::manifest::{inputs_differ, runs_path, Manifest, SweepStatus};
use super::runner::count_outcomes;
use super::runs::{read_runs, write_runs, RunRow, RunsHeader};

/// What a merge produced.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeSummary {
    pub runs_csv: PathBuf,
    pub points: usize,
    pub ok: usize,
    pub failed: usize,
}

/// Combine the complete sweep directories `dirs` (normally the shards of one sweep)
/// into `out`: `runs.csv` sorted by point id (byte-identical to an unsharded run) and
/// a manifest. Refuses directories of different sweeps, unfinished shards, point ids
/// present twice, and point ids present nowhere, naming the ids.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<MergeSummary, SweepError> {
    let mismatch = |message: String| SweepError::MergeMismatch { message };
    let first = dirs
        .first()
        .ok_or_else(|| mismatch("no directories to merge".into()))?;
    let base = Manifest::read(first)?;
    let header = RunsHeader {
        parameters: base.parameters.clone(),
        metrics: base.metrics.clone(),
    };
    let mut rows: BTreeMap<u64, RunRow> = BTreeMap::new();
    let mut duplicates = Vec::new();
    let mut wall = 0.0;
    for dir in dirs {
        let m = Manifest::read(dir)?;
        if m.design_fingerprint != base.design_fingerprint
            || m.spec != base.spec
            || m.metrics != base.metrics
        {
            return Err(mismatch(format!(
                "{} holds a different sweep than {}",
                dir.display(),
                first.display()
            )));
        }
        if let Some(why) = inputs_differ(&base.inputs, &m.inputs) {
            return Err(mismatch(format!(
                "{} and {}: {why}",
                first.display(),
                dir.display()
            )));
        }
        if m.status != SweepStatus::Complete {
            return Err(mismatch(format!(
                "{} is not complete ({:?})",
                dir.display(),
                m.status
            )));
        }
        wall += m.wall_time_s;
        for row in read_runs(&runs_path(dir), &header, false)? {
            let id = row.id;
            if rows.insert(id, row).is_some() {
                duplicates.push(id);
            }
        }
    }
    if !duplicates.is_empty() {
        duplicates.sort_unstable();
        duplicates.dedup();
        return Err(SweepError::DuplicatePoints {
            ids: format_ids(&duplicates),
        });
    }
    let missing: Vec<u64> = (0..base.point_count as u64)
        .filter(|id| !rows.contains_key(id))
        .collect();
    if !missing.is_empty() {
        return Err(SweepError::MissingPoints {
            ids: format_ids(&missing),
        });
    }
    if let Some((&id, _)) = rows.range(base.point_count as u64..).next() {
        return Err(mismatch(format!("point id {id} lies outside the design")));
    }
    let rows: Vec<RunRow> = rows.into_values().collect();
    let runs = runs_path(out);
    write_runs(&runs, &header, &rows)?;
    let (ok, failed) = count_outcomes(&rows);
    let manifest = Manifest {
        shard: None,
        slice_point_count: rows.len(),
        status: SweepStatus::Complete,
        ok,
        failed,
        wall_time_s: wall,
        merged_from: dirs.to_vec(),
        ..base
    };
    manifest.write(out)?;
    Ok(MergeSummary {
        runs_csv: runs,
        points: rows.len(),
        ok,
        failed,
    })
}
