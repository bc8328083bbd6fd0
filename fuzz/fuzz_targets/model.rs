//! A model file: load, compile and bind (symbolic Jacobian, register programs) must
//! return `Ok` or a located error, never panic, hang or exhaust memory.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use resloop::compile::{compile_str, BoundModel};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(model) = compile_str(Path::new("fuzz.toml"), &text) {
        let _ = BoundModel::new(&model, &model.param_values());
    }
});
