//! JSON.RESP and JSON.DEBUG MEMORY.

use crate::error::JsonError;
use crate::ops::Output;
use crate::path::Path;
use crate::Tree;
use serde_json::Value;

/// One node of JSON.RESP's reply, for the server to encode.
#[derive(Debug, Clone, PartialEq)]
pub enum RespValue {
    /// JSON null: the null bulk string (`$-1`; `_` in RESP3).
    Null,
    /// `true` / `false`: the simple string `+true` / `+false` (in RESP3 too).
    Bool(bool),
    /// A number that fits an i64: `:n`.
    Int(i64),
    /// Any other number (floats, integers above i64::MAX): a double, written as
    /// [`resp_double_text`] gives it: a bulk string in RESP2, `,text` in RESP3.
    Double(f64),
    /// A string: a bulk string.
    Str(String),
    /// An array: an array whose first element is the simple string `[`, then the elements.
    Array(Vec<RespValue>),
    /// An object: an array whose first element is the simple string `{`, then each key
    /// (bulk string) followed by its value.
    Object(Vec<(String, RespValue)>),
}

impl RespValue {
    fn of(v: &Value) -> RespValue {
        match v {
            Value::Null => RespValue::Null,
            Value::Bool(b) => RespValue::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => RespValue::Int(i),
                None => RespValue::Double(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => RespValue::Str(s.clone()),
            Value::Array(a) => RespValue::Array(a.iter().map(RespValue::of).collect()),
            Value::Object(m) => {
                RespValue::Object(m.iter().map(|(k, v)| (k.clone(), RespValue::of(v))).collect())
            }
        }
    }
}

/// The text of a double in JSON.RESP's reply, as Redis 7.4 writes a module's double reply:
/// `nan`, `inf`, `-inf`, `0`, `-0`; an integral value within ±2^62 as an integer; otherwise
/// the shortest round-trip digits (ryu), written plainly when that is short
/// (`123.456`, `0.000001`, `18446744073709552000`) and as `d.ddde±x` otherwise
/// (`1e+21`, `1.5e-7`, `1e+300`): no zero padding of the exponent.
pub fn resp_double_text(d: f64) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    // 2^62 = i64::MAX / 2 rounded to a double.
    const INT_LIMIT: f64 = 4_611_686_018_427_387_904.0;
    if d.fract() == 0.0 && d.abs() <= INT_LIMIT {
        // Exact: integral and within i64.
        #[allow(clippy::cast_possible_truncation)]
        let i = d as i64;
        return i.to_string();
    }
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(d.abs());
    // Decompose ryu's text into digits × 10^k.
    let (mantissa, exp) = match text.split_once('e') {
        Some((m, e)) => (m, e.parse::<i64>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut k = exp - i64::try_from(frac_part.len()).unwrap_or(0);
    let all: String = format!("{int_part}{frac_part}");
    let trimmed = all.trim_start_matches('0');
    let digits_full = trimmed.trim_end_matches('0');
    k += i64::try_from(trimmed.len() - digits_full.len()).unwrap_or(0);
    let digits = if digits_full.is_empty() { "0" } else { digits_full };
    let nd = i64::try_from(digits.len()).unwrap_or(0);
    let exp10 = k + nd - 1;
    let mut out = String::new();
    if d < 0.0 {
        out.push('-');
    }
    if k >= 0 && exp10.abs() < nd + 7 {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', usize::try_from(k).unwrap_or(0)));
    } else if k < 0 && (k > -7 || exp10.abs() < 4) {
        let before_point = nd + k;
        if before_point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', usize::try_from(-before_point).unwrap_or(0)));
            out.push_str(digits);
        } else {
            let (a, b) = digits.split_at(usize::try_from(before_point).unwrap_or(0));
            out.push_str(a);
            out.push('.');
            out.push_str(b);
        }
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if exp10 < 0 { '-' } else { '+' });
        out.push_str(&exp10.abs().to_string());
    }
    out
}

/// RedisJSON's capacity for a container built by appending `len` members: 4, doubling.
fn capacity(len: usize) -> usize {
    len.next_power_of_two().max(4)
}

/// The JSON.DEBUG MEMORY estimate of a value, in bytes. It models RedisJSON 2.8's in-memory
/// representation (ijson) and matches its replies for freshly parsed values:
/// - every value is an 8-byte slot; null, booleans and integers in -128..=383 need nothing
///   more (8);
/// - other integers within ±8388607 add 4 (12); other numbers (i64, u64, floats) add 16 (24);
/// - a string adds its UTF-8 length (`""` is 8);
/// - an empty array or object is 8; otherwise an array adds a 16-byte header and 8 bytes
///   per slot of capacity, then each element's own estimate; an object adds a 16-byte header
///   and 24 bytes per slot (key, value, hash index), then for each member its key's length
///   plus its value's estimate. Capacity is 4, doubling (5 members → 8 slots).
///
/// RedisJSON measures the real capacity, which after ARRPOP / DEL / ARRTRIM can exceed what
/// the current length implies (it does not shrink); we derive it from the length.
pub(crate) fn memory_of(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(_) => 8,
        Value::Number(n) => match n.as_i64() {
            Some(i) if (-128..=383).contains(&i) => 8,
            Some(i) if (-8_388_607..=8_388_607).contains(&i) => 12,
            _ => 24,
        },
        Value::String(s) => 8 + s.len(),
        Value::Array(a) if a.is_empty() => 8,
        Value::Array(a) => 8 + 16 + 8 * capacity(a.len()) + a.iter().map(memory_of).sum::<usize>(),
        Value::Object(m) if m.is_empty() => 8,
        Value::Object(m) => {
            8 + 16
                + 24 * capacity(m.len())
                + m.iter().map(|(k, v)| k.len() + memory_of(v)).sum::<usize>()
        }
    }
}

impl Tree {
    /// JSON.RESP: the matches as [`RespValue`] trees. Legacy: the first match; none is
    /// `ERR Path '$..' does not exist`. A missing key is the null reply (any path).
    pub fn resp(&self, path: &Path) -> Result<Output<RespValue>, JsonError> {
        let vals = self.values(path);
        if path.is_legacy() {
            let v = vals.first().ok_or_else(|| JsonError::no_path(path.text()))?;
            return Ok(Output::Legacy(RespValue::of(v)));
        }
        Ok(Output::Each(vals.into_iter().map(RespValue::of).collect()))
    }

    /// JSON.DEBUG MEMORY: the [`Tree::memory_usage`] estimate of each match. Legacy: the first match;
    /// none is `ERR Path '$..' does not exist`. A missing key is 0 for a legacy path and an
    /// empty array for a `$` path.
    pub fn debug_memory(&self, path: &Path) -> Result<Output<usize>, JsonError> {
        let vals = self.values(path);
        if path.is_legacy() {
            let v = vals.first().ok_or_else(|| JsonError::no_path(path.text()))?;
            return Ok(Output::Legacy(memory_of(v)));
        }
        Ok(Output::Each(vals.into_iter().map(memory_of).collect()))
    }

    /// The JSON.DEBUG MEMORY estimate of a value, in bytes. It models RedisJSON 2.8's in-memory
    /// representation (ijson) and matches its replies for freshly parsed values:
    /// - every value is an 8-byte slot; null, booleans and integers in -128..=383 need nothing
    ///   more (8);
    /// - other integers within ±8388607 add 4 (12); other numbers (i64, u64, floats) add 16 (24);
    /// - a string adds its UTF-8 length (`""` is 8);
    /// - an empty array or object is 8; otherwise an array adds a 16-byte header and 8 bytes
    ///   per slot of capacity, then each element's own estimate; an object adds a 16-byte header
    ///   and 24 bytes per slot (key, value, hash index), then for each member its key's length
    ///   plus its value's estimate. Capacity is 4, doubling (5 members → 8 slots).
    ///
    /// RedisJSON measures the real capacity, which after ARRPOP / DEL / ARRTRIM can exceed what
    /// the current length implies (it does not shrink); we derive it from the length.
    pub fn memory_usage(&self) -> usize {
        memory_of(&self.root)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn doubles_as_redisjson_replies_them() {
        let cases: &[(f64, &str)] = &[
            (1.5, "1.5"),
            (1.0, "1"),
            (-0.0, "-0"),
            (1e300, "1e+300"),
            (18446744073709551615u64 as f64, "18446744073709552000"),
            (1e7, "10000000"),
            (1e15, "1000000000000000"),
            (1.25e16, "12500000000000000"),
            (0.000001, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (123.456, "123.456"),
            (1e-5, "0.00001"),
            (12345.678e-10, "1.2345678e-6"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (-1.5, "-1.5"),
            (0.1, "0.1"),
            (1e21, "1e+21"),
            (1e20, "1e+20"),
            (-2.5e-8, "-2.5e-8"),
            (0.001234, "0.001234"),
            (2.2250738585072014e-308, "2.2250738585072014e-308"),
        ];
        for (d, want) in cases {
            assert_eq!(resp_double_text(*d), *want, "{d}");
        }
    }

    #[test]
    fn memory_matches_recorded_values() {
        let cases: &[(&str, usize)] = &[
            ("null", 8),
            ("384", 12),
            ("-8388608", 24),
            ("1.0", 24),
            ("\"\u{e9}\"", 10),
            ("[1,2,3,4,5]", 128),
            ("{\"a\":[1,2],\"b\":{\"c\":\"x\"}}", 324),
            ("{\"\":\"\"}", 128),
        ];
        for (text, want) in cases {
            assert_eq!(crate::Document::parse(text).unwrap().memory_usage(), *want, "{text}");
        }
    }
}
