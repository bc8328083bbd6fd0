//! SBML import: a model in the Systems Biology Markup Language (Levels 2 and 3 core,
//! as BioModels, COPASI and libRoadRunner keep them) becomes a resloop model file,
//! a plain ODE model that every resloop command runs.
//!
//! [`read`] reads the XML (with `roxmltree`) into plain structures, refusing what
//! resloop does not simulate with the element, its id and its line; [`math`] turns
//! MathML into resloop's expression syntax; [`translate`] maps SBML's meaning onto
//! resloop's (see its documentation) and writes TOML. The result is compiled once
//! before it is returned, so an imported model always loads.
//!
//! Beside `model` in the layers: it produces model files and depends on nothing
//! but `model`'s and `expr`'s public types (and `compile` to check its output).

mod error;
pub mod export;
pub mod math;
pub mod read;
pub mod suite;
pub mod translate;

use std::path::Path;

pub use error::{At, SbmlError};
pub use translate::{Imported, Role, Symbol};

/// Read and translate an SBML file.
pub fn import_file(path: &Path) -> Result<Imported, SbmlError> {
    let text = std::fs::read_to_string(path).map_err(|e| SbmlError::Io {
        file: path.display().to_string(),
        message: e.to_string(),
    })?;
    import_str(path, &text)
}

/// Read and translate SBML text (`path` labels errors and becomes the model's
/// `source`).
pub fn import_str(path: &Path, text: &str) -> Result<Imported, SbmlError> {
    let file = path.display().to_string();
    let sbml = read::read(&file, text)?;
    let imported = translate::translate(&sbml)?;
    // The translation must give a model resloop accepts; if it does not, say so
    // here rather than when the user runs it.
    crate::compile::compile_str(Path::new(&format!("{file} (translated)")), &imported.toml)
        .map_err(|e| SbmlError::Translation {
            file: file.clone(),
            message: e.to_string(),
        })?;
    Ok(imported)
}
