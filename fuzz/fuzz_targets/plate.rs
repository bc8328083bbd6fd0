//! A dose-response plate CSV: read it and build its grid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use resloop::plate::{CsvOptions, Plate};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Plate::from_csv_reader(data, "fuzz.csv", &CsvOptions::default()) {
        let _ = p.grid();
    }
});
