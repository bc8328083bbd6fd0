//! A fact file (placed in models/, so `model = "minimal_loop.toml"` resolves).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fuzz.facts.toml");
    let _ = resloop::facts::parse(&path, text);
});
