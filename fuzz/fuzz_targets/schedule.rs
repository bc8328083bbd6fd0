//! A schedule file, checked against the teaching model.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use resloop::compile::{compile_file, CompiledModel};
use resloop::schedule::Schedule;

fn model() -> &'static CompiledModel {
    static M: OnceLock<CompiledModel> = OnceLock::new();
    M.get_or_init(|| {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/minimal_loop.toml");
        compile_file(&p).expect("the shipped model compiles")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = Schedule::parse(Path::new("fuzz.toml"), &text, model());
});
