//! The JSON-only rule for session data, and the one JSON writer every record goes through.
//!
//! The writer reproduces Go's `encoding/json` byte for byte (HTML-escaped strings, sorted keys,
//! Go's float layout), so a record's size is the same here, in Node, in Python and in a Go
//! service using omnistorage-core. Size is measured here, once.

use serde_json::{Map, Number, Value};
use std::fmt::Write as _;

/// Deepest nesting allowed in session data; the data object itself is level 1.
pub const MAX_DEPTH: usize = 64;

/// Largest integer magnitude that survives every host (JavaScript's `Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// From this magnitude on a float is written in exponent form (`1e+21`), below it a whole
/// float is written as an integer literal (Go's `encoding/json` layout, which the writer keeps).
pub const FLOAT_FORM: f64 = 1e21;

/// Why a value is not plain JSON data (the binding-independent part of the rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotJson {
    /// Where the value sits, as a JSON-pointer-like path (`/a/0/b`).
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Checks session data against the JSON-only rule and normalises it in place: a float with an
/// integral value within the safe range becomes an integer, as Go writes it (`1`, not `1.0`).
pub fn check_data(data: &mut Map<String, Value>) -> Result<(), NotJson> {
    let mut path = String::new();
    check_object(data, 1, &mut path)
}

fn check_object(
    map: &mut Map<String, Value>,
    depth: usize,
    path: &mut String,
) -> Result<(), NotJson> {
    if depth > MAX_DEPTH {
        return Err(not_json(
            path,
            format!("nesting deeper than {MAX_DEPTH} levels"),
        ));
    }
    for (key, value) in map.iter_mut() {
        let len = path.len();
        path.push('/');
        path.push_str(key);
        check_value(value, depth, path)?;
        path.truncate(len);
    }
    Ok(())
}

fn check_value(value: &mut Value, depth: usize, path: &mut String) -> Result<(), NotJson> {
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
        Value::Number(n) => {
            *n = normalise_number(n).map_err(|reason| not_json(path, reason))?;
            Ok(())
        }
        Value::Array(items) => {
            if depth + 1 > MAX_DEPTH {
                return Err(not_json(
                    path,
                    format!("nesting deeper than {MAX_DEPTH} levels"),
                ));
            }
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                let _ = write!(path, "/{i}");
                check_value(item, depth + 1, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => check_object(map, depth + 1, path),
    }
}

fn normalise_number(n: &Number) -> Result<Number, String> {
    if let Some(i) = n.as_i64() {
        if i.abs() > MAX_SAFE_INTEGER {
            return Err(format!("integer {i} is outside ±(2^53-1)"));
        }
        return Ok(n.clone());
    }
    if let Some(u) = n.as_u64() {
        return Err(format!("integer {u} is outside ±(2^53-1)"));
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    if !f.is_finite() {
        return Err("number is not finite".to_owned());
    }
    if f.fract() == 0.0 && f.abs() < FLOAT_FORM {
        // A whole float below 1e21 is written as an integer literal (as Go writes it) and read
        // back as an integer, so it must be one that every host can hold.
        if f.abs() > MAX_SAFE_INTEGER as f64 {
            return Err(format!("integer {f} is outside ±(2^53-1)"));
        }
        return Ok(Number::from(f as i64));
    }
    Ok(n.clone())
}

/// Makes data read from a record safe for every host: an integer outside ±(2^53−1), which
/// only another program can have written (omnisession refuses to store one), is read as the
/// nearest float, as JavaScript's `JSON.parse` reads it. A whole float within that range
/// (`2.0`, written by a Python service) is read as the integer the writer writes for it, so a
/// record read and written back (a `touch`) reads back the same.
pub fn relax_read(data: &mut Map<String, Value>) {
    data.values_mut().for_each(relax_value);
}

fn relax_value(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() <= MAX_SAFE_INTEGER as f64
            {
                *n = Number::from(f as i64);
            }
        }
        Value::Number(n) => {
            let safe = n.as_i64().is_some_and(|i| i.abs() <= MAX_SAFE_INTEGER);
            if !safe && let Some(f) = n.as_f64().and_then(Number::from_f64) {
                *n = f;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(relax_value),
        Value::Object(map) => relax_read(map),
        _ => {}
    }
}

impl NotJson {
    /// A refusal at `path` (`""` is the data object itself, written `/`).
    pub fn at(path: &str, reason: impl Into<String>) -> NotJson {
        NotJson {
            path: if path.is_empty() {
                "/".to_owned()
            } else {
                path.to_owned()
            },
            reason: reason.into(),
        }
    }
}

fn not_json(path: &str, reason: String) -> NotJson {
    NotJson::at(path, reason)
}

/// Appends `value` as Go's `encoding/json` would write it.
pub fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

/// Appends an object with its keys in byte order (Go sorts map keys).
pub fn write_object(out: &mut String, map: &Map<String, Value>) {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push('{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_value(out, value);
    }
    out.push('}');
}

fn write_number(out: &mut String, n: &Number) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else {
        write_float(out, n.as_f64().unwrap_or(0.0));
    }
}

/// Go's float64 layout: shortest round-trip digits, plain decimal for 1e-6 <= |x| < 1e21,
/// otherwise `1e+21` / `1e-7`.
fn write_float(out: &mut String, f: f64) {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let exp = format!("{f:e}");
        match exp.split_once('e') {
            Some((mantissa, e)) if !e.starts_with('-') => {
                let _ = write!(out, "{mantissa}e+{e}");
            }
            _ => out.push_str(&exp),
        }
    } else {
        let _ = write!(out, "{f}");
    }
}

/// Bytes [`write_string`] must look at: control characters, `"`, `\\`, the HTML characters Go
/// escapes, and 0xE2 (the lead byte of U+2028 and U+2029). Every other byte is copied as it is.
static NOTICE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'&' as usize] = true;
    t[0xE2] = true;
    t
};

/// Appends a JSON string with Go's escaping: HTML characters and U+2028/U+2029 as `\uXXXX`.
///
/// Runs of bytes that need no escape are copied whole: a session's long strings (a blob, a
/// token) are written at the speed of a copy, not a character at a time.
pub fn write_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let (mut copied, mut i) = (0, 0);
    while i < bytes.len() {
        if !NOTICE[bytes[i] as usize] {
            i += 1;
            continue;
        }
        // `i` is a char boundary: every byte noticed is ASCII or a lead byte.
        let c = s[i..].chars().next().unwrap_or_default();
        let at = i;
        i += c.len_utf8();
        let short = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => "",
            c if (c as u32) < 0x20 => "",
            // Another character led by 0xE2: copied with its run.
            _ => continue,
        };
        out.push_str(&s[copied..at]);
        if short.is_empty() {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push_str(short);
        }
        copied = i;
    }
    out.push_str(&s[copied..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `write_string` a character at a time: what the run-copying one must equal.
    fn write_string_per_char(s: &str) -> String {
        let mut out = String::from('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}')
                    || (c as u32) < 0x20 =>
                {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    proptest::proptest! {
        #[test]
        fn strings_are_written_as_a_character_at_a_time_would(
            s in "(\\PC|[\"\\\\<>&\u{0}-\u{1f}\u{2028}\u{2029}\u{2000}-\u{20ff}]){0,40}"
        ) {
            let mut out = String::new();
            write_string(&mut out, &s);
            proptest::prop_assert_eq!(out, write_string_per_char(&s));
        }
    }

    fn written(v: &Value) -> String {
        let mut s = String::new();
        write_value(&mut s, v);
        s
    }

    #[test]
    fn floats_follow_go_layout() {
        let cases = [
            (1.5, "1.5"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (1e-7, "1e-7"),
            (1.2e-10, "1.2e-10"),
            (0.000_001, "0.000001"),
            (1e20, "100000000000000000000"),
            (-2.25, "-2.25"),
        ];
        for (f, want) in cases {
            let mut s = String::new();
            write_float(&mut s, f);
            assert_eq!(s, want, "{f}");
        }
    }

    #[test]
    fn strings_are_escaped_like_go() {
        assert_eq!(written(&json!("<a&b>")), r#""\u003ca\u0026b\u003e""#);
        assert_eq!(
            written(&json!("\u{2028}\u{1}\n\u{7f}/é")),
            "\"\\u2028\\u0001\\n\u{7f}/é\""
        );
    }

    #[test]
    fn object_keys_are_sorted_by_bytes() {
        assert_eq!(
            written(&json!({"b": 1, "a": [true, null], "B": {}})),
            r#"{"B":{},"a":[true,null],"b":1}"#
        );
    }

    #[test]
    fn integral_floats_become_integers_and_range_is_enforced() {
        let mut d = json!({"a": 2.0, "b": [1.5], "c": -0.0})
            .as_object()
            .unwrap()
            .clone();
        check_data(&mut d).unwrap();
        assert_eq!(written(&Value::Object(d)), r#"{"a":2,"b":[1.5],"c":0}"#);
        let mut big = json!({"n": 9_007_199_254_740_992_i64})
            .as_object()
            .unwrap()
            .clone();
        let err = check_data(&mut big).unwrap_err();
        assert_eq!(err.path, "/n");
        let mut ok = json!({"n": 9_007_199_254_740_991_i64, "m": -9_007_199_254_740_991_i64});
        check_data(ok.as_object_mut().unwrap()).unwrap();
        // A whole float that would be written as an integer literal is held to the same range.
        for f in [9_007_199_254_740_992.0, 2f64.powi(60), -1e20] {
            let mut d = json!({"n": f});
            assert!(check_data(d.as_object_mut().unwrap()).is_err(), "{f}");
        }
        let mut float = json!({"n": 1e21});
        check_data(float.as_object_mut().unwrap()).unwrap();
    }

    #[test]
    fn integers_out_of_range_written_elsewhere_read_as_floats() {
        let mut d: Map<String, Value> =
            serde_json::from_str(r#"{"a":1000000000000000000,"b":[-9007199254740992,7],"c":{"d":18446744073709551615},"e":1.5}"#)
                .unwrap();
        relax_read(&mut d);
        assert_eq!(d["a"].as_f64(), Some(1e18));
        assert!(d["a"].is_f64() && d["b"][0].is_f64() && d["c"]["d"].is_f64());
        assert_eq!(d["b"][1], json!(7));
        assert_eq!(d["e"], json!(1.5));
    }

    #[test]
    fn whole_floats_written_elsewhere_read_as_the_integers_we_write() {
        // Found by the wire_record fuzz target: `2.0` read as a float, written as `2`, then
        // read back as an integer, so a record changed on a plain read-and-write.
        let mut d: Map<String, Value> =
            serde_json::from_str(r#"{"a":2.0,"b":[-0.0,1e20,0.5],"c":{"d":9007199254740991.0}}"#)
                .unwrap();
        relax_read(&mut d);
        assert_eq!(
            Value::Object(d.clone()),
            json!({"a": 2, "b": [0, 1e20, 0.5], "c": {"d": 9_007_199_254_740_991_i64}})
        );
        let mut out = String::new();
        write_object(&mut out, &d);
        let mut again: Map<String, Value> = serde_json::from_str(&out).unwrap();
        relax_read(&mut again);
        assert_eq!(again, d);
    }

    #[test]
    fn depth_limit_counts_the_data_object_as_level_one() {
        let mut v = json!(1);
        for _ in 0..MAX_DEPTH - 1 {
            v = json!([v]);
        }
        let mut ok = json!({ "k": v.clone() }).as_object().unwrap().clone();
        check_data(&mut ok).unwrap();
        let mut deep = json!({ "k": [v] }).as_object().unwrap().clone();
        assert!(
            check_data(&mut deep)
                .unwrap_err()
                .reason
                .contains("nesting")
        );
    }
}
