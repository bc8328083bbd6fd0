//! Source text with byte-offset to line/column conversion.

use std::fmt;
use std::path::{Path, PathBuf};

/// A model (or schedule) file's text, kept for error locations.
#[derive(Debug, Clone)]
pub struct SourceText {
    pub path: PathBuf,
    pub text: String,
    line_starts: Vec<usize>,
}

/// A 1-based line and column in a named file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

impl SourceText {
    pub fn new(path: &Path, text: String) -> SourceText {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceText {
            path: path.to_path_buf(),
            text,
            line_starts,
        }
    }

    /// Line and column (1-based, column counted in characters) of a byte offset.
    pub fn locate(&self, offset: usize) -> Located {
        // An offset computed inside a string with escapes may fall within a character.
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let column = self.text[start..offset].chars().count() + 1;
        Located {
            file: self.path.display().to_string(),
            line: line + 1,
            column,
        }
    }

    /// Byte offset in the file of byte `pos` inside a string value whose TOML span
    /// (quotes included) starts at `span_start`. Exact for strings without escapes,
    /// which is what expressions are.
    pub fn offset_in_string(&self, span_start: usize, pos: usize) -> usize {
        let rest = &self.text[span_start.min(self.text.len())..];
        let open = if rest.starts_with("\"\"\"") || rest.starts_with("'''") {
            let mut n = 3;
            // A newline right after the opening delimiter is trimmed by TOML.
            if rest[3..].starts_with('\n') {
                n += 1;
            } else if rest[3..].starts_with("\r\n") {
                n += 2;
            }
            n
        } else {
            1
        };
        span_start + open + pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_lines_and_columns() {
        let s = SourceText::new(Path::new("m.toml"), "ab\ncd\n\nxyz".to_string());
        assert_eq!(s.locate(0).line, 1);
        assert_eq!(
            s.locate(4),
            Located {
                file: "m.toml".into(),
                line: 2,
                column: 2
            }
        );
        assert_eq!(s.locate(8).line, 4);
        assert_eq!(s.locate(9).column, 3);
    }
}
