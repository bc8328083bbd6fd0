//! An index page linking run pages (the demo's `index.html`): one section per
//! model, one link per step, relative paths so the folder can be moved or mailed.

use std::fmt::Write as _;
use std::path::Path;

use super::html::esc;
use super::{ReportError, CSS};
use crate::output::atomic::write_atomic;

/// One section of the index: a heading, a line saying what it is, and links
/// (label, path relative to the index).
#[derive(Debug, Clone, Default)]
pub struct Section {
    pub heading: String,
    pub text: String,
    pub links: Vec<(String, String)>,
}

/// Write `dir/index.html` titled `title`, listing `sections`; a link whose target
/// does not exist is left out (a step that wrote nothing).
pub fn write_index(dir: &Path, title: &str, sections: &[Section]) -> Result<(), ReportError> {
    let mut body = String::new();
    for s in sections {
        let links: Vec<String> = s
            .links
            .iter()
            .filter(|(_, href)| dir.join(href).is_file())
            .map(|(label, href)| format!("<li><a href=\"{}\">{}</a></li>", esc(href), esc(label)))
            .collect();
        if links.is_empty() {
            continue;
        }
        let _ = write!(
            body,
            "<h2>{}</h2><p>{}</p><ul>{}</ul>",
            esc(&s.heading),
            esc(&s.text),
            links.join("")
        );
    }
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{t}</title><style>{CSS}</style></head><body><h1>{t}</h1>{body}</body></html>\n",
        t = esc(title)
    );
    let path = dir.join("index.html");
    write_atomic(&path, |w| w.write_all(page.as_bytes())).map_err(|source| ReportError {
        dir: dir.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_only_pages_that_exist() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/report.html"), "x").unwrap();
        let s = Section {
            heading: "m".into(),
            text: "t".into(),
            links: vec![
                ("scenario".into(), "a/report.html".into()),
                ("missing".into(), "b/report.html".into()),
            ],
        };
        write_index(dir.path(), "Demo", &[s]).unwrap();
        let h = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
        assert!(h.contains("<a href=\"a/report.html\">scenario</a>"));
        assert!(!h.contains("missing"));
    }
}
