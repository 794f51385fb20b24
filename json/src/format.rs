//! Serialisation as RedisJSON formats it (JSON.GET INDENT / NEWLINE / SPACE).

use serde_json::Value;

/// The JSON.GET formatting options. The default is compact JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Format {
    /// Written once per nesting level before each member / element.
    pub indent: String,
    /// Written after `[`, `{`, `,` and before the closing bracket of a non-empty container.
    pub newline: String,
    /// Written after `:` in objects.
    pub space: String,
}

impl Format {
    /// True when all three strings are empty (compact output).
    pub fn is_compact(&self) -> bool {
        self.indent.is_empty() && self.newline.is_empty() && self.space.is_empty()
    }
}

/// Serialises `v` with `f` into `out`.
pub fn write_value(out: &mut String, v: &Value, f: &Format) {
    if f.is_compact() {
        write_compact(out, v);
    } else {
        write_pretty(out, v, f, 0);
    }
}

fn write_str(out: &mut String, s: &str) {
    write_escaped(out, s);
}

/// Writes `s` as a JSON string with serde_json's escaping, which is RedisJSON's (it
/// serialises with serde_json too): `"` `\\` and the short forms of backspace, form feed,
/// newline, carriage return and tab; other control characters as `\u00xx`; nothing else.
pub(crate) fn write_escaped(out: &mut String, s: &str) {
    out.push('"');
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        plain = i + 1;
        if short.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(short);
        }
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

fn write_scalar(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(_) | Value::Object(_) => {}
    }
}

/// Writes a number as RedisJSON does: integers in full, floats in ryu's shortest form
/// (`1.0`, `1e300`, `1.5e-7`, `1.2345678901234567e23`). Deterministic on every replica.
pub fn write_number(out: &mut String, n: &serde_json::Number) {
    if let Some(i) = n.as_i64() {
        out.push_str(itoa::Buffer::new().format(i));
    } else if let Some(u) = n.as_u64() {
        out.push_str(itoa::Buffer::new().format(u));
    } else if let Some(f) = n.as_f64() {
        if f.is_finite() {
            out.push_str(ryu::Buffer::new().format_finite(f));
        } else {
            out.push_str("null");
        }
    }
}

fn write_compact(out: &mut String, v: &Value) {
    match v {
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_compact(out, e);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write_compact(out, e);
            }
            out.push('}');
        }
        s => write_scalar(out, s),
    }
}

fn indent(out: &mut String, f: &Format, level: usize) {
    out.push_str(&f.newline);
    for _ in 0..level {
        out.push_str(&f.indent);
    }
}

fn write_pretty(out: &mut String, v: &Value, f: &Format, level: usize) {
    match v {
        Value::Array(a) if !a.is_empty() => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, f, level + 1);
                write_pretty(out, e, f, level + 1);
            }
            indent(out, f, level);
            out.push(']');
        }
        Value::Object(m) if !m.is_empty() => {
            out.push('{');
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, f, level + 1);
                write_str(out, k);
                out.push(':');
                out.push_str(&f.space);
                write_pretty(out, e, f, level + 1);
            }
            indent(out, f, level);
            out.push('}');
        }
        other => write_compact(out, other),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn strings_escape_as_serde_json_does() {
        let all: String = (0u32..0x300).filter_map(char::from_u32).collect();
        for s in [all.as_str(), "", "plain", "a\"b\\c\u{7f}/\u{1f600}"] {
            let mut out = String::new();
            super::write_escaped(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap());
        }
    }
}
