//! A sweep file (placed in models/sweeps/, so `../minimal_loop.toml` resolves).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use resloop::sweep::{load_model_sweep_str, LoadOptions};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/sweeps/fuzz.toml");
    let _ = load_model_sweep_str(&path, text, &LoadOptions::default());
});
