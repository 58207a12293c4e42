//! Writing results: human text or one JSON document on stdout, messages on stderr. A closed
//! pipe (`| head`) ends the output quietly instead of panicking as `println!` would.

use omnisession::options::redact_url;
use omnisession::timestamp::Timestamp;
use serde_json::Value;
use std::fmt::Write as _;
use std::io::Write;

/// Where results go, and in which form.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    pub json: bool,
}

// Methods, not free functions, so a command writes through the value it was handed and its
// form travels with it; the streams themselves are the process's.
#[allow(clippy::unused_self)]
impl Out {
    /// A line of the human form on stdout.
    pub fn line(self, text: &str) {
        let _ = writeln!(std::io::stdout().lock(), "{text}");
    }

    /// The JSON document on stdout.
    pub fn document(self, value: &Value) {
        let text = serde_json::to_string_pretty(value).unwrap_or_default();
        let _ = writeln!(std::io::stdout().lock(), "{text}");
    }

    /// A message on stderr (progress notes, warnings, errors).
    pub fn note(self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }
}

/// An instant in Unix ms as RFC 3339; `never` for none.
pub fn instant(ms: Option<i64>) -> String {
    ms.map_or_else(
        || "never".to_owned(),
        |ms| Timestamp::from_unix_ms(ms).to_string(),
    )
}

/// The same, for JSON: a string, or `null` for never.
pub fn instant_json(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |ms| {
        Timestamp::from_unix_ms(ms).to_string().into()
    })
}

/// `text` with every URL's password hidden (clap repeats arguments in its errors, and an
/// argument may be a URL with a password in it).
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.contains("://") {
            out.push_str(&redact_url(word));
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() || matches!(c, '\'' | '"' | '`') {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// A table: columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                let _ = write!(s, "{cell:<w$}  ");
            }
        }
        s.trim_end().to_owned()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_text_lose_their_passwords() {
        let text = "error: unexpected argument 'redis://u:hunter2@h:1/0' found";
        let shown = redact_text(text);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redis://u:***@h:1/0"), "{shown}");
    }
}
