//! JSON.ARRINDEX, JSON.ARRINSERT, JSON.ARRPOP and JSON.ARRTRIM.
//!
//! Legacy paths: a path that matches no array is an error; with several matches ARRINSERT,
//! ARRPOP and ARRTRIM act on every array and reply for the last one, ARRINDEX looks only at
//! the first match (as RedisJSON 2.8 does). `$` paths reply per match, `None` (null) for a
//! value that is not an array.

use crate::error::JsonError;
use crate::eval::{self, get_mut, Loc};
use crate::ops::{ser, type_name, Output};
use crate::path::Path;
use crate::Tree;
use serde_json::Value;

/// Parses an integer argument (ARRINDEX start/stop, ARRINSERT index, ARRTRIM start/stop)
/// as Redis does: `0`, or an optional `-` and digits without a leading zero, within i64.
/// Anything else is `Couldn't parse as integer`.
pub fn parse_index(arg: &str) -> Result<i64, JsonError> {
    let b = arg.as_bytes();
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    let well_formed = match digits {
        [b'0'] => b.len() == 1,
        [first, rest @ ..] => (b'1'..=b'9').contains(first) && rest.iter().all(u8::is_ascii_digit),
        [] => false,
    };
    if !well_formed {
        return Err(JsonError::not_an_integer());
    }
    arg.parse::<i64>().map_err(|_| JsonError::not_an_integer())
}

/// JSON.ARRPOP's index argument: RedisJSON 2.8 pops the last element when the index does
/// not parse as an integer (`x`, `1.0`, `01` all mean -1), so this never fails.
pub fn parse_pop_index(arg: &str) -> i64 {
    parse_index(arg).unwrap_or(-1)
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_usize(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

/// ARRINDEX's search range `[start, end)` over `len` elements, or `None` when empty.
/// A negative start or stop counts from the end (clamped at 0), a stop of 0 means the end,
/// a stop past the end is the end.
fn index_range(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let n = to_i64(len);
    let s = if start < 0 { n.saturating_add(start).max(0) } else { start };
    if s >= n {
        return None;
    }
    let e = match stop {
        0 => n,
        x if x < 0 => n.saturating_add(x).max(0),
        x => x.min(n),
    };
    (s < e).then(|| (to_usize(s), to_usize(e)))
}

/// ARRTRIM's kept range `[start, end]` (inclusive), or `None` to empty the array.
/// RedisJSON 2.8 treats i64::MIN (whose negation overflows) as past the end: as start it
/// empties the array, as stop it keeps everything.
fn trim_range(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let n = to_i64(len);
    let past_end = |x: i64| if x == i64::MIN { i64::MAX } else { x };
    let (start, stop) = (past_end(start), past_end(stop));
    let s = if start < 0 { n.saturating_add(start).max(0) } else { start };
    let e = if stop < 0 { n.saturating_add(stop).max(0) } else { stop.min(n - 1) };
    (n > 0 && s < n && s <= e).then(|| (to_usize(s), to_usize(e)))
}

fn not_array(path: &Path) -> JsonError {
    JsonError::err(format_args!("Path '{}' does not exist or not an array", path.text()))
}

fn last_array_result<T>(arrays: &[bool], out: Vec<Option<T>>) -> Option<T> {
    let last = arrays.iter().rposition(|a| *a)?;
    out.into_iter().nth(last).flatten()
}

impl Tree {
    /// Parses JSON text that must be exactly one value (surrounding whitespace allowed), as
    /// JSON.ARRINDEX parses its value: errors carry the `ERR ` prefix there
    /// (`ERR expected value at line 1 column 1`, `ERR trailing characters at ...`).
    /// Nesting deeper than [`crate::MAX_DEPTH`] is rejected as in [`Tree::parse`].
    pub fn parse_exact(text: &str) -> Result<Tree, JsonError> {
        serde_json::from_str::<Value>(text)
            .map(Tree::from_value)
            .map_err(|e| JsonError::Other(format!("ERR {e}")))
    }

    /// JSON.ARRINDEX: the index of the first element equal to `value` in `[start, stop)`
    /// (-1 when absent). Omitted start / stop are 0 (0 as stop means the end). Equality is
    /// structural; numbers are equal only within the same kind (1 is not 1.0, 1.0 is 1e0);
    /// object member order does not matter.
    ///
    /// Legacy path: only the first match counts; none is `ERR Path '$..' does not exist`,
    /// a non-array is WRONGTYPE. A missing key: [`JsonError::no_such_key_path`].
    pub fn arr_index(
        &self,
        path: &Path,
        value: &Tree,
        start: i64,
        stop: i64,
    ) -> Result<Output<Option<i64>>, JsonError> {
        let find = |a: &Vec<Value>| -> i64 {
            index_range(a.len(), start, stop)
                .and_then(|(s, e)| a[s..e].iter().position(|x| *x == value.root).map(|i| i + s))
                .map_or(-1, to_i64)
        };
        let vals = self.values(path);
        if path.is_legacy() {
            let v = vals.first().ok_or_else(|| JsonError::no_path(path.text()))?;
            return match v {
                Value::Array(a) => Ok(Output::Legacy(Some(find(a)))),
                other => Err(JsonError::wrong_type("array", type_name(other))),
            };
        }
        Ok(Output::Each(vals.iter().map(|v| v.as_array().map(find)).collect()))
    }

    /// JSON.ARRINSERT: inserts `values` before `index` (negative counts from the end; the
    /// length itself appends) in every matched array; the new lengths. An index outside
    /// `[-len, len]` of any matched array is `ERR index out of bounds` and nothing changes
    /// (RedisJSON 2.8 keeps the insertions into the arrays before the failing one).
    pub fn arr_insert(
        &mut self,
        path: &Path,
        index: i64,
        values: &[Tree],
    ) -> Result<Output<Option<usize>>, JsonError> {
        let found = eval::query_located(&self.root, path.segments());
        if path.is_legacy() && !found.iter().any(|(_, v)| v.is_array()) {
            return Err(not_array(path));
        }
        let mut plan: Vec<(usize, Loc)> = Vec::new();
        for (i, (l, v)) in found.iter().enumerate() {
            if let Value::Array(a) = v {
                let n = to_i64(a.len());
                let pos = if index < 0 { n.saturating_add(index) } else { index };
                if !(0..=n).contains(&pos) {
                    return Err(JsonError::err("index out of bounds"));
                }
                plan.push((i, l.clone()));
            }
        }
        let arrays: Vec<bool> = found.iter().map(|(_, v)| v.is_array()).collect();
        let mut out = vec![None; found.len()];
        for (i, l) in plan {
            if let Some(Value::Array(a)) = get_mut(&mut self.root, &l) {
                let n = to_i64(a.len());
                let pos = to_usize(if index < 0 { n.saturating_add(index) } else { index });
                let pos = pos.min(a.len());
                a.splice(pos..pos, values.iter().map(|d| d.root.clone()));
                out[i] = Some(a.len());
            }
        }
        Ok(if path.is_legacy() {
            Output::Legacy(last_array_result(&arrays, out))
        } else {
            Output::Each(out)
        })
    }

    /// JSON.ARRPOP: removes the element at `index` (default -1; out of range clamps to the
    /// first / last element) of every matched array and returns it serialised; `None` for an
    /// empty array (and, for `$` paths, a non-array). Legacy: the last array's result.
    /// A missing key: [`JsonError::no_such_key`].
    pub fn arr_pop(
        &mut self,
        path: &Path,
        index: i64,
    ) -> Result<Output<Option<String>>, JsonError> {
        let found = eval::query_located(&self.root, path.segments());
        if path.is_legacy() && !found.iter().any(|(_, v)| v.is_array()) {
            return Err(not_array(path));
        }
        let arrays: Vec<bool> = found.iter().map(|(_, v)| v.is_array()).collect();
        let locs: Vec<Loc> = found.into_iter().map(|(l, _)| l).collect();
        let mut out = vec![None; locs.len()];
        self.update(&locs, |i, v| {
            if let Value::Array(a) = v {
                if a.is_empty() {
                    return;
                }
                let n = to_i64(a.len());
                let pos = if index < 0 { n.saturating_add(index).max(0) } else { index.min(n - 1) };
                out[i] = Some(ser(&a.remove(to_usize(pos))));
            }
        });
        Ok(if path.is_legacy() {
            Output::Legacy(last_array_result(&arrays, out))
        } else {
            Output::Each(out)
        })
    }

    /// JSON.ARRTRIM: keeps `[start, stop]` (inclusive; negative counts from the end and
    /// clamps at 0; a stop past the end is the last element; an empty range empties the
    /// array) of every matched array; the new lengths. Legacy: the last array's length.
    pub fn arr_trim(
        &mut self,
        path: &Path,
        start: i64,
        stop: i64,
    ) -> Result<Output<Option<usize>>, JsonError> {
        let found = eval::query_located(&self.root, path.segments());
        if path.is_legacy() && !found.iter().any(|(_, v)| v.is_array()) {
            return Err(not_array(path));
        }
        let arrays: Vec<bool> = found.iter().map(|(_, v)| v.is_array()).collect();
        let locs: Vec<Loc> = found.into_iter().map(|(l, _)| l).collect();
        let mut out = vec![None; locs.len()];
        self.update(&locs, |i, v| {
            if let Value::Array(a) = v {
                match trim_range(a.len(), start, stop) {
                    Some((s, e)) => {
                        a.truncate(e + 1);
                        a.drain(..s);
                    }
                    None => a.clear(),
                }
                out[i] = Some(a.len());
            }
        });
        Ok(if path.is_legacy() {
            Output::Legacy(last_array_result(&arrays, out))
        } else {
            Output::Each(out)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn integers_parse_like_redis() {
        assert_eq!(parse_index("0").unwrap(), 0);
        assert_eq!(parse_index("-12").unwrap(), -12);
        assert_eq!(parse_index("-9223372036854775808").unwrap(), i64::MIN);
        for bad in ["", "-", "-0", "01", "+1", " 1", "1 ", "1.0", "9223372036854775808", "x"] {
            assert!(parse_index(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_pop_index("01"), -1);
    }

    #[test]
    fn ranges() {
        assert_eq!(index_range(9, 0, 0), Some((0, 9)));
        assert_eq!(index_range(9, -1, 0), Some((8, 9)));
        assert_eq!(index_range(9, 0, -100), None);
        assert_eq!(index_range(0, 0, 0), None);
        assert_eq!(trim_range(10, -11, -11), Some((0, 0)));
        assert_eq!(trim_range(10, 1, -100), None);
        assert_eq!(trim_range(10, 9, 20), Some((9, 9)));
        assert_eq!(trim_range(0, 0, 0), None);
        assert_eq!(trim_range(10, i64::MIN, i64::MAX), None);
        assert_eq!(trim_range(10, 0, i64::MIN), Some((0, 9)));
        assert_eq!(trim_range(10, i64::MIN + 1, 5), Some((0, 5)));
    }
}
