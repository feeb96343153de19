//! Markup helpers every page module uses: HTML escaping (element content
//! and attribute values), script-safe JSON, value-to-text formatting and a
//! few small elements. It depends on no other module of this crate, so the
//! modules that draw pages form a DAG above it.

use serde_json::Value;
use std::fmt::Write;

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 8);
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

/// Escapes an attribute value (to be written between double quotes). The
/// same escaping as [`esc`], named for what it is used for.
pub fn attr(s: &str) -> String {
    esc(s)
}

/// JSON safe to put inside a `<script>` element: `<`, `>`, `&` and the JS
/// line separators are written as `\uXXXX` escapes (they can only occur
/// inside JSON strings, where such escapes mean the same thing), so no value
/// can close the script element or open a comment.
pub fn script_json(v: &Value) -> String {
    let s = serde_json::to_string(v).unwrap_or_else(|_| "null".into());
    let mut o = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '<' => o.push_str("\\u003c"),
            '>' => o.push_str("\\u003e"),
            '&' => o.push_str("\\u0026"),
            '\u{2028}' => o.push_str("\\u2028"),
            '\u{2029}' => o.push_str("\\u2029"),
            c => o.push(c),
        }
    }
    o
}

/// A string value, or a number/bool rendered as text.
pub fn str_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A value as compact one-line text (strings without quotes).
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "nil".into(),
        other => other.to_string(),
    }
}

/// Quotes one argument for a POSIX shell when needed.
pub fn shell_quote(a: &str) -> String {
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

/// Percent-encodes one path segment for a URL.
pub fn url_path_segment(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            o.push(b as char);
        } else {
            let _ = write!(o, "%{b:02X}");
        }
    }
    o
}

pub fn human_size(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MB", n as f64 / (1u64 << 20) as f64)
    } else if n >= 1 << 10 {
        format!("{:.1} KB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// `<a href="HREF">TEXT</a>`, both escaped.
pub fn link(href: &str, text: &str) -> String {
    format!(r#"<a href="{}">{}</a>"#, attr(href), esc(text))
}

/// A link to history op `index` in the timeline (`#op-<index>`), or the
/// plain text when there is no index.
pub fn op_link(index: Option<u64>, text: &str) -> String {
    match index {
        Some(i) => format!(r##"<a href="#op-{i}" class="oplink">{}</a>"##, esc(text)),
        None => esc(text),
    }
}

/// A verdict badge: green valid, red invalid, amber anything else.
pub fn verdict_badge(v: &str) -> String {
    let class = match v {
        "valid" | "true" => "valid",
        "invalid" | "false" => "invalid",
        _ => "unknown",
    };
    format!(r#"<span class="verdict {class}">{}</span>"#, esc(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escaping_leaves_no_markup() {
        let evil = r#"<a href="x">'&'</a>"#;
        assert_eq!(
            esc(evil),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(attr("\"><script>"), "&quot;&gt;&lt;script&gt;");
        assert_eq!(
            script_json(&json!({"s": "</script>\u{2028}&"})),
            r#"{"s":"\u003c/script\u003e\u2028\u0026"}"#
        );
        assert_eq!(link("a b\"", "<x>"), r#"<a href="a b&quot;">&lt;x&gt;</a>"#);
        assert_eq!(op_link(None, "<x>"), "&lt;x&gt;");
        assert!(op_link(Some(7), "x").contains(r##"href="#op-7""##));
        assert_eq!(
            verdict_badge("<b>"),
            r#"<span class="verdict unknown">&lt;b&gt;</span>"#
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(url_path_segment("a b/c"), "a%20b%2Fc");
        assert_eq!(value_text(&Value::Null), "nil");
        assert_eq!(str_of(&json!(3)), Some("3".into()));
        assert_eq!(human_size(2048), "2.0 KB");
    }
}
