//! The operations behind the JSON.* commands, as methods of [`Tree`].

use crate::error::JsonError;
use crate::eval::{self, get_mut, Loc, Step};
use crate::format::{write_value, Format};
use crate::path::{Path, Segment, Selector};
use crate::Tree;
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;

/// The result of an operation for one path.
#[derive(Debug, Clone, PartialEq)]
pub enum Output<T> {
    /// Legacy path: reply with the single value.
    Legacy(T),
    /// `$` path: reply with an array, one entry per match.
    Each(Vec<T>),
}

/// JSON.SET's condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetCond {
    /// Always set.
    #[default]
    Always,
    /// NX: only when the path does not exist.
    Nx,
    /// XX: only when the path exists.
    Xx,
}

/// NUMINCRBY or NUMMULTBY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumOp {
    /// JSON.NUMINCRBY
    Incr,
    /// JSON.NUMMULTBY
    Mult,
}

/// RedisJSON's type name of a value (JSON.TYPE; WRONGTYPE messages).
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub(crate) fn ser(v: &Value) -> String {
    let mut s = String::new();
    write_value(&mut s, v, &Format::default());
    s
}

/// Parses the NUMINCRBY / NUMMULTBY argument.
fn parse_number(arg: &str) -> Result<Number, JsonError> {
    match serde_json::from_str::<Value>(arg) {
        Ok(Value::Number(n)) => Ok(n),
        Ok(_) => Err(JsonError::Other("bad input number".into())),
        Err(e) => Err(JsonError::err(e)),
    }
}

fn num_apply(cur: &Number, by: &Number, op: NumOp) -> Result<Number, JsonError> {
    if let (Some(a), Some(b)) = (cur.as_i64(), by.as_i64()) {
        let r = match op {
            NumOp::Incr => a.wrapping_add(b),
            NumOp::Mult => a.wrapping_mul(b),
        };
        // RedisJSON 2.8 wraps on i64 overflow (checked against the reference).
        return Ok(Number::from(r));
    }
    let (a, b) = (cur.as_f64().unwrap_or(f64::NAN), by.as_f64().unwrap_or(f64::NAN));
    let r = match op {
        NumOp::Incr => a + b,
        NumOp::Mult => a * b,
    };
    Number::from_f64(r)
        .filter(|_| r.is_finite())
        .ok_or_else(|| JsonError::err("result is not a number"))
}

/// A location as RedisJSON writes it for JSON.DEL: keys as they are, indexes in decimal,
/// joined with `,`.
fn loc_string(l: &[Step]) -> String {
    let parts: Vec<String> = l
        .iter()
        .map(|s| match s {
            Step::Key(k) => k.clone(),
            Step::Index(i) => i.to_string(),
        })
        .collect();
    parts.join(",")
}

/// The position a binary search of sorted `v` reports for `x`: on an equal element it stops
/// at the first midpoint that hits one (halving from `left + size / 2`), which decides
/// which of several duplicates JSON.DEL keeps. Written out rather than calling
/// `slice::binary_search` because std's choice among duplicates is unspecified and changed.
fn legacy_binary_search(v: &[String], x: &str) -> usize {
    let (mut left, mut right) = (0, v.len());
    while left < right {
        let mid = left + (right - left) / 2;
        match v[mid].as_str().cmp(x) {
            std::cmp::Ordering::Less => left = mid + 1,
            std::cmp::Ordering::Greater => right = mid,
            std::cmp::Ordering::Equal => return mid,
        }
    }
    left
}

/// JSON.DEL's deletion order, step by step: two steps that read as unsigned integers (array
/// indexes, or object keys like `"10"`) higher first; a non-numeric step before a numeric
/// one; other steps by string; a location before its own ancestors.
fn del_order(a: &Loc, b: &Loc) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let text = |s: &Step| match s {
        Step::Key(k) => k.clone(),
        Step::Index(i) => i.to_string(),
    };
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (text(x), text(y));
        let o = match (x.parse::<usize>(), y.parse::<usize>()) {
            (Ok(i), Ok(j)) => j.cmp(&i),
            (Ok(_), Err(_)) => Ordering::Greater,
            (Err(_), Ok(_)) => Ordering::Less,
            (Err(_), Err(_)) => x.cmp(&y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    b.len().cmp(&a.len())
}

impl Tree {
    pub(crate) fn locate(&self, path: &Path) -> Vec<Loc> {
        eval::query_located(&self.root, path.segments()).into_iter().map(|(l, _)| l).collect()
    }

    pub(crate) fn values(&self, path: &Path) -> Vec<&Value> {
        eval::query(&self.root, path.segments())
    }

    /// Applies `f` at each location (all of them already validated).
    pub(crate) fn update(&mut self, locs: &[Loc], mut f: impl FnMut(usize, &mut Value)) {
        for (i, l) in locs.iter().enumerate() {
            if let Some(v) = get_mut(&mut self.root, l) {
                f(i, v);
            }
        }
    }

    /// JSON.GET with one path: the serialised reply (a single value for a legacy path, an
    /// array of the matches for a `$` path).
    pub fn get(&self, path: &Path, f: &Format) -> Result<String, JsonError> {
        let vals = self.values(path);
        let mut s = String::new();
        if path.is_legacy() {
            let v = vals.first().ok_or_else(|| JsonError::no_path(path.text()))?;
            write_value(&mut s, v, f);
        } else {
            let arr = Value::Array(vals.into_iter().cloned().collect());
            write_value(&mut s, &arr, f);
        }
        Ok(s)
    }

    /// JSON.GET with several paths: an object keyed by each path as written. If any path
    /// is a `$` path every entry is an array of matches; otherwise entries are single values
    /// and a missing path is an error. RedisJSON's member order for several paths comes from a
    /// hash map; ours is the order of the arguments (duplicates collapse to one member).
    pub fn get_multi(&self, paths: &[Path], f: &Format) -> Result<String, JsonError> {
        let all_legacy = paths.iter().all(Path::is_legacy);
        let mut m = Map::new();
        for p in paths {
            let vals = self.values(p);
            let v = if all_legacy {
                match vals.first() {
                    Some(v) => (*v).clone(),
                    None => return Err(JsonError::no_path(p.original())),
                }
            } else {
                Value::Array(vals.into_iter().cloned().collect())
            };
            m.insert(p.original().to_string(), v);
        }
        let mut s = String::new();
        write_value(&mut s, &Value::Object(m), f);
        Ok(s)
    }

    /// JSON.SET on an existing document. `Ok(true)` is OK, `Ok(false)` the nil reply (NX/XX
    /// not met, or the parent of a new member does not exist). A new key is
    /// [`Tree::new_at`] instead.
    pub fn set(&mut self, path: &Path, value: Tree, cond: SetCond) -> Result<bool, JsonError> {
        let found = eval::query_located(&self.root, path.segments());
        if !found.is_empty() {
            if cond == SetCond::Nx {
                return Ok(false);
            }
            let locs: Vec<Loc> = found.into_iter().map(|(l, _)| l).collect();
            if locs.iter().any(Vec::is_empty) {
                self.root = value.root;
                return Ok(true);
            }
            let mut give = one_per_location(value.root, locs.len());
            self.update(&locs, |_, v| *v = give());
            return Ok(true);
        }
        if cond == SetCond::Xx {
            return Ok(false);
        }
        let segs = path.segments();
        let Some((last, parent)) = segs.split_last() else {
            return Ok(false);
        };
        let key = match last {
            Segment::Child(Selector::Name(k)) => k.clone(),
            Segment::Child(Selector::Indexes(_)) => {
                return Err(JsonError::err("array index out of range"))
            }
            _ => return Err(JsonError::Other("Err wrong static path".into())),
        };
        let parent_path_static = parent.iter().all(|s| match s {
            Segment::Child(Selector::Name(_)) => true,
            Segment::Child(Selector::Indexes(v)) => v.len() == 1,
            _ => false,
        });
        if !parent_path_static {
            return Err(JsonError::Other("Err wrong static path".into()));
        }
        let parents: Vec<Loc> = eval::query_located(&self.root, parent)
            .into_iter()
            .filter(|(_, v)| v.is_object())
            .map(|(l, _)| l)
            .collect();
        if parents.is_empty() {
            return Ok(false);
        }
        let mut give = one_per_location(value.root, parents.len());
        self.update(&parents, |_, v| {
            if let Value::Object(m) = v {
                m.insert(key.clone(), give());
            }
        });
        Ok(true)
    }

    /// JSON.DEL / JSON.FORGET: the number of values deleted. Deleting the root (`$` or `.`)
    /// returns 1 and the caller deletes the key.
    ///
    /// RedisJSON 2.8 chooses what to delete from the matches (duplicates included) by their
    /// path strings (the steps joined with `,`), checked against the reference:
    /// - the strings are sorted; a match is dropped when a string sorted before the position
    ///   a binary search finds for its own string is a prefix of it. So a match nested in
    ///   another is dropped, but so is `arr` next to `a` (a string prefix), and a duplicated
    ///   match is dropped or kept (and then deleted twice) depending on where the search lands;
    /// - the rest are deleted in [`del_order`], each on the document as the previous
    ///   deletions left it (a repeated array index deletes the next element too).
    pub fn del(&mut self, path: &Path) -> usize {
        if path.is_root() {
            return 1;
        }
        let locs = self.locate(path);
        let strs: Vec<String> = locs.iter().map(|l| loc_string(l)).collect();
        let mut sorted = strs.clone();
        sorted.sort();
        let mut kept: Vec<Loc> = locs
            .into_iter()
            .zip(&strs)
            .filter(|(_, s)| {
                let at = legacy_binary_search(&sorted, s);
                !sorted[..at].iter().any(|p| s.starts_with(p.as_str()))
            })
            .map(|(l, _)| l)
            .collect();
        kept.sort_by(del_order);
        let mut n = 0;
        for l in &kept {
            let Some((last, parent)) = l.split_last() else { continue };
            let removed = match (get_mut(&mut self.root, parent), last) {
                // RedisJSON moves the last member into the hole (checked against the reference).
                (Some(Value::Object(m)), Step::Key(k)) => m.swap_remove(k).is_some(),
                (Some(Value::Array(a)), Step::Index(i)) if *i < a.len() => {
                    a.remove(*i);
                    true
                }
                _ => false,
            };
            n += usize::from(removed);
        }
        n
    }

    /// JSON.TYPE: the type names (`Legacy(None)` when a legacy path matches nothing).
    pub fn type_of(&self, path: &Path) -> Output<Option<&'static str>> {
        let vals = self.values(path);
        if path.is_legacy() {
            Output::Legacy(vals.first().map(|v| type_name(v)))
        } else {
            Output::Each(vals.into_iter().map(|v| Some(type_name(v))).collect())
        }
    }

    /// JSON.NUMINCRBY / JSON.NUMMULTBY: the reply text (a bulk string): the new value for a
    /// legacy path, a JSON array with `null` for non-numbers for a `$` path.
    pub fn num_op(&mut self, path: &Path, op: NumOp, arg: &str) -> Result<String, JsonError> {
        let by = parse_number(arg)?;
        let found = eval::query_located(&self.root, path.segments());
        // As RedisJSON: each numeric match is updated in turn on the document as the earlier
        // updates left it (a match named twice is updated twice), and a location that names
        // nothing (an object member a filter selected, located by position) is
        // `ERR Path does not exist`. Computed on an overlay first so an error changes nothing.
        let mut now: BTreeMap<&[Step], Number> = BTreeMap::new();
        let mut results: Vec<Option<Number>> = Vec::with_capacity(found.len());
        for (l, v) in &found {
            if !v.is_number() {
                results.push(None);
                continue;
            }
            let cur = match now.get(l.as_slice()) {
                Some(n) => n.clone(),
                None => match eval::get(&self.root, l) {
                    Some(Value::Number(n)) => n.clone(),
                    Some(_) => {
                        results.push(None);
                        continue;
                    }
                    None => return Err(JsonError::err("Path does not exist")),
                },
            };
            let n = num_apply(&cur, &by, op)?;
            now.insert(l.as_slice(), n.clone());
            results.push(Some(n));
        }
        if path.is_legacy() && !results.iter().any(Option::is_some) {
            return Err(JsonError::err(format_args!(
                "Path '{}' does not exist or does not contains a number",
                path.text()
            )));
        }
        let writes: Vec<(Loc, Number)> = now.into_iter().map(|(l, n)| (l.to_vec(), n)).collect();
        for (l, n) in writes {
            if let Some(v) = get_mut(&mut self.root, &l) {
                *v = Value::Number(n);
            }
        }
        if path.is_legacy() {
            let last = results.iter().rev().flatten().next().cloned();
            Ok(last.map(|n| ser(&Value::Number(n))).unwrap_or_default())
        } else {
            let arr = results.into_iter().map(|n| n.map_or(Value::Null, Value::Number)).collect();
            Ok(ser(&Value::Array(arr)))
        }
    }

    /// JSON.STRLEN.
    pub fn str_len(&self, path: &Path) -> Result<Output<Option<usize>>, JsonError> {
        let vals = self.values(path);
        let len = |v: &Value| match v {
            Value::String(s) => Some(s.len()),
            _ => None,
        };
        if path.is_legacy() {
            let v = vals.first().ok_or_else(|| JsonError::no_path(path.text()))?;
            return match len(v) {
                Some(n) => Ok(Output::Legacy(Some(n))),
                None => Err(JsonError::wrong_type("string", type_name(v))),
            };
        }
        Ok(Output::Each(vals.into_iter().map(len).collect()))
    }

    /// JSON.STRAPPEND: `value` must be a JSON string.
    pub fn str_append(
        &mut self,
        path: &Path,
        value: &Tree,
    ) -> Result<Output<Option<usize>>, JsonError> {
        let Value::String(add) = &value.root else {
            return Err(JsonError::Other(format!(
                "WRONGTYPE wrong type of path value - expected string but found {}",
                value.to_json(&Format::default())
            )));
        };
        let found = eval::query_located(&self.root, path.segments());
        if path.is_legacy() {
            match found.iter().any(|(_, v)| v.is_string()) {
                true => {}
                false => {
                    return Err(JsonError::err(format_args!(
                        "Path '{}' does not exist or not a string",
                        path.text()
                    )))
                }
            }
        }
        let locs: Vec<Loc> = found.iter().map(|(l, _)| l.clone()).collect();
        let mut out = vec![None; locs.len()];
        self.update(&locs, |i, v| {
            if let Value::String(s) = v {
                s.push_str(add);
                out[i] = Some(s.len());
            }
        });
        Ok(if path.is_legacy() {
            Output::Legacy(out.into_iter().flatten().last())
        } else {
            Output::Each(out)
        })
    }

    fn array_check(&self, path: &Path, found: &[(Loc, &Value)]) -> Result<(), JsonError> {
        if path.is_legacy() && !found.iter().any(|(_, v)| v.is_array()) {
            return Err(JsonError::err(format_args!(
                "Path '{}' does not exist or not an array",
                path.original()
            )));
        }
        Ok(())
    }

    /// JSON.ARRAPPEND: the new lengths.
    pub fn arr_append(
        &mut self,
        path: &Path,
        values: &[Tree],
    ) -> Result<Output<Option<usize>>, JsonError> {
        let found = eval::query_located(&self.root, path.segments());
        self.array_check(path, &found)?;
        let locs: Vec<Loc> = found.iter().map(|(l, _)| l.clone()).collect();
        let mut out = vec![None; locs.len()];
        self.update(&locs, |i, v| {
            if let Value::Array(a) = v {
                a.extend(values.iter().map(|d| d.root.clone()));
                out[i] = Some(a.len());
            }
        });
        Ok(if path.is_legacy() {
            Output::Legacy(out.into_iter().flatten().last())
        } else {
            Output::Each(out)
        })
    }

    /// JSON.ARRLEN.
    pub fn arr_len(&self, path: &Path) -> Result<Output<Option<usize>>, JsonError> {
        let found = eval::query_located(&self.root, path.segments());
        if path.is_legacy() {
            match found.first() {
                None => {
                    return Err(JsonError::err(format_args!(
                        "Path '{}' does not exist",
                        path.original()
                    )))
                }
                Some((_, v)) if !v.is_array() => {
                    return Err(JsonError::err(format_args!(
                        "Path '{}' does not exist or not an array",
                        path.original()
                    )))
                }
                _ => {}
            }
        }
        let lens: Vec<Option<usize>> =
            found.iter().map(|(_, v)| v.as_array().map(Vec::len)).collect();
        Ok(if path.is_legacy() {
            Output::Legacy(lens.into_iter().flatten().next())
        } else {
            Output::Each(lens)
        })
    }

    fn object_check(&self, path: &Path, vals: &[&Value], keys: bool) -> Result<bool, JsonError> {
        if path.is_legacy() {
            match vals.first() {
                None => return Ok(false),
                Some(v) if !v.is_object() && !keys => {
                    return Err(JsonError::wrong_type("object", type_name(v)))
                }
                Some(v) if !v.is_object() => {
                    return Err(JsonError::err(format_args!(
                        "Path '{}' does not exist or not an object",
                        path.text()
                    )))
                }
                _ => {}
            }
        }
        Ok(true)
    }

    /// JSON.OBJKEYS (`Legacy(None)`: a legacy path that matches nothing, nil reply).
    pub fn obj_keys(&self, path: &Path) -> Result<Output<Option<Vec<String>>>, JsonError> {
        let vals = self.values(path);
        if !self.object_check(path, &vals, true)? {
            return Ok(Output::Legacy(None));
        }
        let keys: Vec<Option<Vec<String>>> =
            vals.iter().map(|v| v.as_object().map(|m| m.keys().cloned().collect())).collect();
        Ok(if path.is_legacy() {
            Output::Legacy(keys.into_iter().next().flatten())
        } else {
            Output::Each(keys)
        })
    }

    /// JSON.OBJLEN.
    pub fn obj_len(&self, path: &Path) -> Result<Output<Option<usize>>, JsonError> {
        let vals = self.values(path);
        if !self.object_check(path, &vals, false)? {
            return Ok(Output::Legacy(None));
        }
        let lens: Vec<Option<usize>> = vals.iter().map(|v| v.as_object().map(Map::len)).collect();
        Ok(if path.is_legacy() {
            Output::Legacy(lens.into_iter().next().flatten())
        } else {
            Output::Each(lens)
        })
    }
}

/// Hands out `value` for `count` locations: copies for all but the last, which gets the
/// value itself (a whole-document or single-match SET copies nothing).
fn one_per_location(value: Value, count: usize) -> impl FnMut() -> Value {
    let mut left = count;
    let mut value = Some(value);
    move || {
        left = left.saturating_sub(1);
        if left == 0 {
            value.take().unwrap_or_default()
        } else {
            value.clone().unwrap_or_default()
        }
    }
}
