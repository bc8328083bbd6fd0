//! What can go wrong reading or translating an SBML file: each error names the file,
//! the line, the element and its id.

use std::fmt;

/// Where in an SBML file: the file, the line, the element and its id (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    pub file: Box<str>,
    pub line: u32,
    pub element: Box<str>,
    /// Its id (for rules and assignments: the variable or symbol they set).
    pub id: Option<Box<str>>,
}

impl At {
    pub fn new(file: &str, line: u32, element: &str, id: Option<&str>) -> At {
        At {
            file: file.into(),
            line,
            element: element.into(),
            id: id.map(Into::into),
        }
    }
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: <{}", self.file, self.line, self.element)?;
        if let Some(id) = &self.id {
            // Rules and assignments name what they set, not themselves.
            let key = match &*self.element {
                "assignmentRule" | "rateRule" | "eventAssignment" => "variable",
                "initialAssignment" => "symbol",
                _ => "id",
            };
            write!(f, " {key}=\"{id}\"")?;
        }
        write!(f, ">")
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SbmlError {
    #[error("{file}: cannot read file: {message}")]
    Io { file: String, message: String },
    /// Not well-formed XML (truncated, mismatched tags, ...).
    #[error("{file}:{line}:{column}: not well-formed XML: {message}")]
    Xml {
        file: String,
        line: u32,
        column: u32,
        message: String,
    },
    /// Well-formed XML that is not an SBML model of a level and version we read.
    #[error("{at}: {message}")]
    NotSbml { at: At, message: String },
    /// A feature resloop does not simulate; the model is refused, never changed.
    #[error("{at}: unsupported: {what}")]
    Unsupported { at: At, what: String },
    /// A reference to an id the model does not declare.
    #[error("{at}: unknown id `{name}`{hint}")]
    UnknownId {
        at: At,
        name: String,
        /// ` (did you mean ...)` or empty.
        hint: String,
    },
    /// Definitions that depend on each other in a circle (assignment rules, initial
    /// assignments, function definitions).
    #[error("{at}: circular definition: {cycle}")]
    Cycle { at: At, cycle: String },
    /// An attribute or value that is missing, malformed or out of range.
    #[error("{at}: {message}")]
    Invalid { at: At, message: String },
    /// The translated model does not compile (a bug in the translation, or a model
    /// resloop cannot represent); the resloop error is kept.
    #[error("{file}: the translated model is not valid: {message}")]
    Translation { file: String, message: String },
}
