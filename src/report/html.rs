//! HTML pieces of a report: escaping, tables from CSV files and readable renderings
//! of JSON records (the manifest, a summary). Numbers go through
//! [`crate::output::number::num`], so a table never shows `9.999999999999998`.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::output::number::num;

/// Text safe inside HTML elements and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A CSV cell as shown: numbers with a fractional part or an exponent rounded to six
/// significant digits, everything else as written.
fn cell(s: &str) -> (String, bool) {
    match s.parse::<f64>() {
        Ok(v) if s.contains(['.', 'e', 'E']) => (num(v), true),
        Ok(_) => (s.to_string(), true),
        Err(_) => (s.to_string(), false),
    }
}

/// A sortable table of at most `max_rows` rows of a CSV file, and the number of rows
/// in the file. Rows whose `result`/`status` column says pass or fail are marked.
pub fn csv_table(path: &Path, max_rows: usize) -> std::io::Result<(String, usize)> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(std::io::Error::other)?;
    let header: Vec<String> = r
        .headers()
        .map_err(std::io::Error::other)?
        .iter()
        .map(String::from)
        .collect();
    let status_col = header.iter().position(|h| h == "result" || h == "status");
    let mut html = String::from("<div class=\"scroll\"><table class=\"sortable\"><thead><tr>");
    for h in &header {
        let _ = write!(html, "<th>{}</th>", esc(h));
    }
    html.push_str("</tr></thead><tbody>");
    let mut n = 0;
    for rec in r.records() {
        let rec = rec.map_err(std::io::Error::other)?;
        n += 1;
        if n > max_rows {
            continue;
        }
        let class = status_col
            .and_then(|c| rec.get(c))
            .map(|s| s.trim().to_ascii_lowercase())
            .and_then(|s| {
                if s.starts_with("fail") {
                    Some("fail")
                } else if s.starts_with("pass") {
                    Some("pass")
                } else {
                    None
                }
            });
        match class {
            Some(c) => {
                let _ = write!(html, "<tr class=\"{c}\">");
            }
            None => html.push_str("<tr>"),
        }
        for f in rec.iter() {
            let (text, numeric) = cell(f);
            if numeric {
                let _ = write!(html, "<td class=\"num\">{}</td>", esc(&text));
            } else {
                let _ = write!(html, "<td>{}</td>", esc(&text));
            }
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table></div>");
    Ok((html, n))
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), num),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

/// Longest list of scalars shown in full; longer ones show their start.
const LIST: usize = 24;
/// Most rows of a list of records shown inline; longer ones fold.
const ROWS: usize = 60;

/// A JSON value as readable HTML: objects as two-column tables, lists of scalars
/// as comma lists, lists of records as tables (folded when long).
pub fn json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut h = String::from("<table>");
            for (k, x) in m {
                let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), json(x));
            }
            h.push_str("</table>");
            h
        }
        Value::Array(a) if a.iter().all(is_scalar) => {
            let shown: Vec<String> = a.iter().take(LIST).map(|x| esc(&scalar(x))).collect();
            let mut s = shown.join(", ");
            if a.len() > LIST {
                let _ = write!(s, " … and {} more", a.len() - LIST);
            }
            if a.is_empty() {
                s = "(none)".into();
            }
            s
        }
        Value::Array(a) if a.iter().all(|x| x.is_object()) => {
            let mut cols: Vec<&str> = Vec::new();
            for x in a {
                if let Value::Object(m) = x {
                    for k in m.keys() {
                        if !cols.contains(&k.as_str()) {
                            cols.push(k);
                        }
                    }
                }
            }
            let mut h = String::from("<div class=\"scroll\"><table class=\"sortable\"><thead><tr>");
            for c in &cols {
                let _ = write!(h, "<th>{}</th>", esc(c));
            }
            h.push_str("</tr></thead><tbody>");
            for x in a.iter().take(ROWS) {
                h.push_str("<tr>");
                for c in &cols {
                    let cell = x.get(*c).map_or(String::new(), |y| {
                        if is_scalar(y) {
                            esc(&scalar(y))
                        } else {
                            json(y)
                        }
                    });
                    let _ = write!(h, "<td>{cell}</td>");
                }
                h.push_str("</tr>");
            }
            h.push_str("</tbody></table></div>");
            if a.len() > ROWS {
                let _ = write!(h, "<p>{} of {} rows shown.</p>", ROWS, a.len());
            }
            if a.len() > 8 {
                format!(
                    "<details><summary>{} entries</summary>{h}</details>",
                    a.len()
                )
            } else {
                h
            }
        }
        Value::Array(a) => {
            let items: Vec<String> = a.iter().take(ROWS).map(json).collect();
            format!("<ol><li>{}</li></ol>", items.join("</li><li>"))
        }
        other => esc(&scalar(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_rounds() {
        assert_eq!(esc("<a & 'b'>"), "&lt;a &amp; &#39;b&#39;&gt;");
        let v: Value = serde_json::json!({"days": 9.999999999999998, "doses": ["a<b"], "n": 3});
        let h = json(&v);
        assert!(h.contains("<td>10</td>"), "{h}");
        assert!(h.contains("a&lt;b"));
        assert!(h.contains("<td>3</td>"));
    }

    #[test]
    fn csv_tables_mark_pass_and_fail() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.csv");
        std::fs::write(
            &p,
            "fact,value,result\na,0.30000000000000004,pass\nb,2,FAIL\n",
        )
        .unwrap();
        let (h, n) = csv_table(&p, 10).unwrap();
        assert_eq!(n, 2);
        assert!(
            h.contains("<tr class=\"pass\"><td>a</td><td class=\"num\">0.3</td>"),
            "{h}"
        );
        assert!(h.contains("<tr class=\"fail\">"));
        let (h, n) = csv_table(&p, 1).unwrap();
        assert_eq!(n, 2);
        assert!(!h.contains("FAIL"));
    }
}
