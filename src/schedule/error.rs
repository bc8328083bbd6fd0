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

/// The key at `offset`: the last `key =` before it on its line, or the key starting
/// at it (an unknown key), prefixed by the table the line is in (`culture.split`,
/// `drug.adaptive.factor`).
fn key_before(text: &str, offset: usize) -> Option<String> {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..offset];
    let is_key = |c: char| c.is_alphanumeric() || c == '_' || c == '-' || c == '.' || c == '"';
    let key = match before.rfind('=') {
        Some(eq) => {
            let head = before[..eq].trim_end();
            let start = head
                .char_indices()
                .rev()
                .find(|&(_, c)| !is_key(c))
                .map_or(0, |(i, c)| i + c.len_utf8());
            Some(head[start..].trim_matches('"').to_string())
        }
        None => {
            // A key at the offset (an unknown key) is followed by `=`.
            let k: String = text[offset..].chars().take_while(|&c| is_key(c)).collect();
            text[offset + k.len()..]
                .trim_start_matches([' ', '\t'])
                .starts_with('=')
                .then(|| k.trim_matches('"').to_string())
        }
    }
    .filter(|k| !k.is_empty());
    // The nearest table header at or above this line.
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let table = text[..line_end]
        .lines()
        .rev()
        .map(str::trim)
        .map(|l| l.split('#').next().unwrap_or(l).trim())
        .find_map(header);
    let on_header = header(
        text[line_start..line_end]
            .split('#')
            .next()
            .unwrap_or_default()
            .trim(),
    )
    .is_some();
    match (table, key) {
        (Some(t), _) if on_header => Some(t),
        (Some(t), Some(k)) => Some(format!("{t}.{k}")),
        (None, k) => k,
        (t, None) => t,
    }
}

/// The table named by a header line (`[culture]`, `[[drug]]`, `[drug.adaptive]`);
/// `None` for any other line (an array element on its own line also starts with `[`).
fn header(line: &str) -> Option<String> {
    let inner = line.strip_prefix('[')?.strip_suffix(']')?;
    let inner = inner.trim_start_matches('[').trim_end_matches(']').trim();
    (!inner.is_empty()
        && inner
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ')))
    .then(|| inner.to_string())
}

#[cfg(test)]
mod tests {
    use super::key_before;

    #[test]
    fn finds_the_key_of_a_value() {
        let t = "[culture]\nsplit = \"8\"\nx = { a = 1, bb = \"2\" }\n";
        assert_eq!(
            key_before(t, t.find("\"8\"").unwrap()),
            Some("culture.split".into())
        );
        assert_eq!(
            key_before(t, t.find("\"2\"").unwrap()),
            Some("culture.bb".into())
        );
        assert_eq!(
            key_before(t, t.find("x =").unwrap()),
            Some("culture.x".into())
        );
        assert_eq!(key_before(t, 1), Some("culture".into()));
        let t = "[[drug]]\nholidays = [\n  [\"9d\", 2],\n]\n";
        assert_eq!(key_before(t, t.find('2').unwrap()), Some("drug".into()));
    }

    #[test]
    fn keys_next_to_multibyte_characters_do_not_split_them() {
        // Found by fuzzing: a non-key character of several bytes before `=`.
        let t = "[schedule]\nreadout_every = \"1\u{fffd}\u{fffd}c50_every = \"2w\"\n";
        for offset in 0..=t.len() {
            let _ = key_before(t, offset);
        }
    }
}
