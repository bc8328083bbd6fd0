//! An SBML file: import (XML, MathML, translation, and the compile of the result)
//! must return `Ok` or an error naming the element and line, never panic, hang or
//! exhaust memory; an imported model then binds like any model file.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use resloop::compile::{compile_str, BoundModel};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(imported) = resloop::sbml::import_str(Path::new("fuzz.xml"), &text) {
        if let Ok(model) = compile_str(Path::new("fuzz.toml"), &imported.toml) {
            let _ = BoundModel::new(&model, &model.param_values());
        }
    }
});
