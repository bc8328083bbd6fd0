//! Reading a model file and turning TOML errors into located, named errors.

use std::fmt;
use std::path::Path;

use super::raw::ModelFile;
use super::source::{Located, SourceText};

/// What went wrong with a model file.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelErrorKind {
    Io,
    Toml,
    UnknownName,
    /// A known name used where its kind is not allowed.
    NotAllowed,
    BadFunctionCall,
    DuplicateName,
    BadValue,
    Syntax,
    /// Over a size or depth limit (expressions).
    TooLarge,
}

/// An error in a model (or schedule) file: where, which field, and what was expected.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelError {
    pub kind: ModelErrorKind,
    /// File, line and column (line/column absent only for I/O errors).
    pub at: Located,
    /// The field, e.g. `species.AXL.rate`.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.line > 0 {
            write!(f, "{}", self.at)?;
        } else {
            write!(f, "{}", self.at.file)?;
        }
        if let Some(field) = &self.field {
            write!(f, ": `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ModelError {}

impl ModelError {
    pub fn at(
        src: &SourceText,
        offset: usize,
        kind: ModelErrorKind,
        field: impl Into<Option<String>>,
        message: impl Into<String>,
    ) -> ModelError {
        ModelError {
            kind,
            at: src.locate(offset),
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn io(path: &Path, e: &std::io::Error) -> ModelError {
        ModelError {
            kind: ModelErrorKind::Io,
            at: Located {
                file: path.display().to_string(),
                line: 0,
                column: 0,
            },
            field: None,
            message: format!("cannot read file: {e}"),
        }
    }

    /// Convert a TOML/serde error, keeping its location.
    pub fn from_toml(src: &SourceText, e: &toml::de::Error) -> ModelError {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        ModelError::at(
            src,
            offset,
            ModelErrorKind::Toml,
            None,
            e.message().trim().to_string(),
        )
    }
}

/// Parse TOML text into `T`, with located errors. Shared by model, schedule and
/// sweep files.
pub fn parse_toml<T: serde::de::DeserializeOwned>(src: &SourceText) -> Result<T, ModelError> {
    toml::from_str(&src.text).map_err(|e| ModelError::from_toml(src, &e))
}

/// Read a model file from disk.
pub fn load_file(path: &Path) -> Result<(SourceText, ModelFile), ModelError> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, &e))?;
    load_str(path, text)
}

/// Read a model from text (the path is used in error messages only).
pub fn load_str(path: &Path, text: String) -> Result<(SourceText, ModelFile), ModelError> {
    let src = SourceText::new(path, text);
    let file = parse_toml::<ModelFile>(&src)?;
    Ok((src, file))
}
