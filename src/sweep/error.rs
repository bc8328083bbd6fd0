//! Errors of the sweep layer. Each variant carries the facts a user needs to fix the
//! input (which parameter, which bound, which point ids), never just a message.

use std::path::PathBuf;

/// Everything that can go wrong while building a design, running, resuming or merging
/// a sweep. Input problems are reported before any point is evaluated.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A located problem in a sweep file (or in the model it names): file, line,
    /// column, field and what was expected.
    #[error(transparent)]
    Input(#[from] crate::model::ModelError),
    /// A located problem in the therapy schedule file a sweep names.
    #[error(transparent)]
    Schedule(#[from] crate::schedule::ScheduleError),
    #[error("cannot read sweep spec {path}: {message}")]
    Spec { path: PathBuf, message: String },
    #[error("sweep spec has no parameters")]
    NoParameters,
    #[error("parameter name `{name}` is used twice (or clashes with a metric or a reserved column: id, status, error)")]
    DuplicateName { name: String },
    #[error("parameter `{name}`: invalid bounds lo = {lo}, hi = {hi} (need finite lo < hi)")]
    InvalidBounds { name: String, lo: f64, hi: f64 },
    #[error("parameter `{name}`: log scale needs lo > 0, got lo = {lo}")]
    LogScaleNonPositive { name: String, lo: f64 },
    #[error("design `{design}`: {what} = {got} is too small (need at least {min})")]
    SampleTooSmall {
        design: &'static str,
        what: &'static str,
        got: usize,
        min: usize,
    },
    #[error("design `{design}`: {what} = {got} is too large (at most {max})")]
    SampleTooLarge {
        design: &'static str,
        what: &'static str,
        got: usize,
        max: usize,
    },
    #[error("design `{design}`: {message}")]
    InvalidDesign {
        design: &'static str,
        message: String,
    },
    #[error("explicit points file {path}: {message}")]
    ExplicitPoints { path: PathBuf, message: String },
    #[error("shard {index}/{count} is out of range (need count >= 1 and 0 <= index < count)")]
    ShardOutOfRange { index: usize, count: usize },
    #[error("cannot parse shard `{text}` (expected `i/N`, e.g. `0/4`)")]
    ShardSyntax { text: String },
    #[error(
        "{path} already holds a sweep; pass resume to continue it or choose an empty directory"
    )]
    OutputExists { path: PathBuf },
    #[error("cannot resume in {path}: {message}")]
    ResumeMismatch { path: PathBuf, message: String },
    #[error("{path}, record {record}: {message}")]
    CorruptRuns {
        path: PathBuf,
        record: usize,
        message: String,
    },
    #[error("merge: point ids missing from every shard: {ids}")]
    MissingPoints { ids: String },
    #[error("merge: point ids present more than once: {ids}")]
    DuplicatePoints { ids: String },
    #[error("merge: {message}")]
    MergeMismatch { message: String },
    #[error("sweep cancelled after {finished} of {total} points; rerun with resume to finish")]
    Cancelled { finished: usize, total: usize },
    #[error("cannot build thread pool: {0}")]
    ThreadPool(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Json { path: PathBuf, message: String },
}

impl SweepError {
    /// Wrap an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SweepError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Format a sorted list of ids compactly as ranges, e.g. `3, 7-9, 12`, capped so an
/// error message stays readable when thousands of ids are involved.
pub fn format_ids(ids: &[u64]) -> String {
    const MAX_RANGES: usize = 20;
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for &id in ids {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == id => *end = id,
            _ => ranges.push((id, id)),
        }
    }
    let mut parts: Vec<String> = ranges
        .iter()
        .take(MAX_RANGES)
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    if ranges.len() > MAX_RANGES {
        parts.push(format!("... ({} ids in total)", ids.len()));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::format_ids;

    #[test]
    fn ranges_are_compact() {
        assert_eq!(format_ids(&[1, 2, 3, 5, 9, 10]), "1-3, 5, 9-10");
        assert_eq!(format_ids(&[]), "");
    }
}
