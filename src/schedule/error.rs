//! Schedule errors: every one names the file, line, column and field.

use crate::model::{Located, ModelError, SourceText};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    /// The file cannot be read, is not TOML, or has the wrong shape (unknown key,
    /// missing key, wrong type). The field is the key at the error's location.
    #[error("{0}")]
    File(ModelError),
    /// A value the schedule cannot mean (unknown drug, wrong unit for the setting,
    /// overlapping ladder steps, a stop before a start, ...).
    #[error("{at}: `{field}`: {message}")]
    Invalid {
        at: Located,
        field: String,
        message: String,
    },
}

impl ScheduleError {
    pub fn invalid(
        src: &SourceText,
        offset: usize,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ScheduleError {
        ScheduleError::Invalid {
            at: src.locate(offset),
            field: field.into(),
            message: message.into(),
        }
    }

    /// Where the error is (line 0 for I/O errors).
    pub fn location(&self) -> &Located {
        match self {
            ScheduleError::File(e) => &e.at,
            ScheduleError::Invalid { at, .. } => at,
        }
    }

    /// The field named by the error, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            ScheduleError::File(e) => e.field.as_deref(),
            ScheduleError::Invalid { field, .. } => Some(field),
        }
    }

    /// A TOML or shape error, with the field filled in from the key written just
    /// before the error's position (serde's messages for wrong types do not say
    /// which key they are about).
    pub fn from_toml(src: &SourceText, e: &toml::de::Error) -> ScheduleError {
        let mut m = ModelError::from_toml(src, e);
        if m.field.is_none() {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            m.field = key_before(&src.text, offset);
        }
        ScheduleError::File(m)
    }
}

/// The last `key =` on the line of `offset`, before it; or the table header
/// (`[culture]`, `[[drug]]`) of that line.
fn key_before(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let before = &text[line_start..offset];
    let whole = text[line_start..line_end].trim();
    let key = before.rfind('=').and_then(|eq| {
        let head = before[..eq].trim_end();
        let start = head
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '"'))
            .map_or(0, |i| i + 1);
        let k = head[start..].trim_matches('"');
        (!k.is_empty()).then(|| k.to_string())
    });
    key.or_else(|| {
        whole
            .starts_with('[')
            .then(|| whole.trim_matches(|c| c == '[' || c == ']').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::key_before;

    #[test]
    fn finds_the_key_of_a_value() {
        let t = "[culture]\nsplit = \"8\"\nx = { a = 1, bb = \"2\" }\n";
        assert_eq!(
            key_before(t, t.find("\"8\"").unwrap()),
            Some("split".into())
        );
        assert_eq!(key_before(t, t.find("\"2\"").unwrap()), Some("bb".into()));
        assert_eq!(key_before(t, 1), Some("culture".into()));
    }
}
