//! Tidy timeline CSV: one row per time x population x variable.

use std::io;
use std::path::Path;

use super::atomic::write_atomic;
use crate::engine::ode::Timeline;

/// Write `time,population,variable,value` rows (units are listed in the manifest).
pub fn write_timeline_csv(path: &Path, tl: &Timeline) -> io::Result<()> {
    write_atomic(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record(["time", "population", "variable", "value"])?;
        let mut buf = ryu_like::Buf::default();
        for (row, t) in tl.times.iter().enumerate() {
            let ts = buf.fmt(*t).to_string();
            for (col, c) in tl.columns.iter().enumerate() {
                let v = buf.fmt(tl.get(row, col));
                csv.write_record([ts.as_str(), c.population.as_str(), c.variable.as_str(), v])?;
            }
        }
        csv.flush()?;
        Ok(())
    })
}

/// Shortest round-trip formatting of floats (Rust's `Display` for f64 is already
/// shortest-round-trip; this only reuses one buffer).
mod ryu_like {
    use std::fmt::Write;

    #[derive(Default)]
    pub struct Buf(String);

    impl Buf {
        pub fn fmt(&mut self, v: f64) -> &str {
            self.0.clear();
            let _ = write!(self.0, "{v}");
            &self.0
        }
    }
}
