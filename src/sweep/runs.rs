//! The `runs.csv` format: one row per point, `id, <parameters>, <metrics>, status,
//! error`. A failed run keeps its row, with empty metrics, `status = failed` and the
//! evaluator's message, so nothing is silently dropped.
//!
//! Numbers are written with Rust's `{:?}` float formatting, the shortest text that
//! parses back to the same bits, so a file read and written again is byte-identical
//! (the property resume and merge rely on). Error messages are written on one line so
//! that every record is one line and a kill can only tear the last one.

use std::io::Write;
use std::path::Path;

use super::error::SweepError;

/// Outcome of one run.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Metric values, in the evaluator's `metric_names` order.
    Ok(Vec<f64>),
    /// The evaluator's error message.
    Failed(String),
}

/// One row of `runs.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: u64,
    pub values: Vec<f64>,
    pub outcome: Outcome,
}

/// Column layout of a `runs.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunsHeader {
    pub parameters: Vec<String>,
    pub metrics: Vec<String>,
}

impl RunsHeader {
    /// All column names, in file order.
    pub fn columns(&self) -> Vec<String> {
        let mut cols = vec!["id".to_string()];
        cols.extend(self.parameters.iter().cloned());
        cols.extend(self.metrics.iter().cloned());
        cols.push("status".into());
        cols.push("error".into());
        cols
    }

    /// The text fields of one row.
    pub fn fields(&self, row: &RunRow) -> Vec<String> {
        let mut f = Vec::with_capacity(self.parameters.len() + self.metrics.len() + 3);
        f.push(row.id.to_string());
        f.extend(row.values.iter().map(|v| format!("{v:?}")));
        match &row.outcome {
            Outcome::Ok(m) => {
                f.extend(m.iter().map(|v| format!("{v:?}")));
                f.push("ok".into());
                f.push(String::new());
            }
            Outcome::Failed(msg) => {
                f.extend(self.metrics.iter().map(|_| String::new()));
                f.push("failed".into());
                f.push(one_line(msg));
            }
        }
        f
    }

    /// Parse one record's fields, or say what is wrong with it.
    fn parse(&self, rec: &csv::StringRecord) -> Result<RunRow, String> {
        let (d, m) = (self.parameters.len(), self.metrics.len());
        if rec.len() != d + m + 3 {
            return Err(format!("{} fields, expected {}", rec.len(), d + m + 3));
        }
        let num = |i: usize| -> Result<f64, String> {
            rec[i]
                .parse::<f64>()
                .map_err(|_| format!("field {} = `{}` is not a number", i + 1, &rec[i]))
        };
        let id = rec[0]
            .parse::<u64>()
            .map_err(|_| format!("id `{}` is not an integer", &rec[0]))?;
        let values = (1..=d).map(num).collect::<Result<Vec<_>, _>>()?;
        let outcome = match &rec[d + m + 1] {
            "ok" => Outcome::Ok((d + 1..=d + m).map(num).collect::<Result<Vec<_>, _>>()?),
            "failed" => Outcome::Failed(rec[d + m + 2].to_string()),
            other => return Err(format!("status `{other}` is neither ok nor failed")),
        };
        Ok(RunRow {
            id,
            values,
            outcome,
        })
    }
}

/// Error messages go on one line (see the module docs).
fn one_line(msg: &str) -> String {
    msg.replace(['\r', '\n'], " ")
}

/// A CSV writer over `w` for rows of `header`.
pub fn csv_writer<W: Write>(w: W) -> csv::Writer<W> {
    csv::WriterBuilder::new().has_headers(false).from_writer(w)
}

/// Write the header line.
pub fn write_header<W: Write>(w: &mut csv::Writer<W>, header: &RunsHeader) -> csv::Result<()> {
    w.write_record(header.columns())
}

/// Write one row.
pub fn write_row<W: Write>(
    w: &mut csv::Writer<W>,
    header: &RunsHeader,
    row: &RunRow,
) -> csv::Result<()> {
    w.write_record(header.fields(row))
}

/// Write a whole `runs.csv` atomically: header, then `rows` in the order given.
pub fn write_runs(path: &Path, header: &RunsHeader, rows: &[RunRow]) -> Result<(), SweepError> {
    crate::output::atomic::write_atomic(path, |w| {
        let mut cw = csv_writer(w);
        write_header(&mut cw, header)?;
        for row in rows {
            write_row(&mut cw, header, row)?;
        }
        cw.flush()
    })
    .map_err(|e| SweepError::io(path, e))
}

/// Read a `runs.csv` written for `header`. With `tolerate_torn`, bytes after the last
/// newline (a record cut short by a kill) are ignored; otherwise they are an error.
/// Every complete record must parse.
pub fn read_runs(
    path: &Path,
    header: &RunsHeader,
    tolerate_torn: bool,
) -> Result<Vec<RunRow>, SweepError> {
    let bytes = std::fs::read(path).map_err(|e| SweepError::io(path, e))?;
    let corrupt = |record: usize, message: String| SweepError::CorruptRuns {
        path: path.to_path_buf(),
        record,
        message,
    };
    let complete = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None => 0,
    };
    if complete < bytes.len() && !tolerate_torn {
        return Err(corrupt(
            0,
            "the last line is incomplete (no final newline)".into(),
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(&bytes[..complete]);
    let mut rows = Vec::new();
    let want = header.columns();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| corrupt(i, e.to_string()))?;
        if i == 0 {
            if rec.iter().ne(want.iter().map(String::as_str)) {
                let got: Vec<&str> = rec.iter().collect();
                return Err(corrupt(
                    0,
                    format!("header {got:?} differs from expected {want:?}"),
                ));
            }
            continue;
        }
        rows.push(header.parse(&rec).map_err(|m| corrupt(i, m))?);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> RunsHeader {
        RunsHeader {
            parameters: vec!["a".into()],
            metrics: vec!["m".into(), "n".into()],
        }
    }

    #[test]
    fn round_trip_is_byte_identical_and_torn_tail_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("runs.csv");
        let rows = vec![
            RunRow {
                id: 0,
                values: vec![1e-300],
                outcome: Outcome::Ok(vec![0.1, f64::NAN]),
            },
            RunRow {
                id: 1,
                values: vec![2.5],
                outcome: Outcome::Failed("bad, \"very\"\nbad".into()),
            },
        ];
        write_runs(&p, &header(), &rows).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let back = read_runs(&p, &header(), false).unwrap();
        assert_eq!(back[1].outcome, Outcome::Failed("bad, \"very\" bad".into()));
        write_runs(&p, &header(), &back).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), text);

        std::fs::write(&p, &text[..text.len() - 5]).unwrap();
        assert_eq!(read_runs(&p, &header(), true).unwrap().len(), 1);
        assert!(read_runs(&p, &header(), false).is_err());
    }
}
