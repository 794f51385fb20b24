//! JSON.CLEAR, JSON.TOGGLE and JSON.MERGE.

use crate::error::JsonError;
use crate::eval::{self, get_mut, Loc};
use crate::ops::{Output, SetCond};
use crate::path::Path;
use crate::Tree;
use serde_json::{Map, Value};

/// RFC 7396 merge patch of `patch` into `target`, as RedisJSON applies it: a non-object
/// patch replaces the target (null included); an object patch turns a non-object target
/// into `{}`, deletes members whose patch value is null (the last member moves into the
/// hole, as RedisJSON's object removal does) and merges the others recursively, so nulls
/// inside new members are dropped too.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else { return };
    for (k, pv) in p {
        if pv.is_null() {
            t.swap_remove(k);
            continue;
        }
        match t.get_mut(k) {
            Some(tv) => merge_patch(tv, pv),
            None => {
                let mut nv = Value::Null;
                merge_patch(&mut nv, pv);
                t.insert(k.clone(), nv);
            }
        }
    }
}

fn is_zero(n: &serde_json::Number) -> bool {
    n.as_f64() == Some(0.0)
}

impl Tree {
    /// JSON.CLEAR: empties every matched non-empty array and object and sets every matched
    /// non-zero number to the integer 0; the number of values cleared (already empty
    /// containers, zeros, strings, booleans and null count 0 and stay). As in RedisJSON, the
    /// matches to clear are chosen on the document as it was, then cleared in order: a match
    /// inside a value cleared before it is gone and not counted, and a match named twice
    /// counts twice. A missing key: [`JsonError::no_such_key`].
    pub fn clear(&mut self, path: &Path) -> usize {
        let locs: Vec<Loc> = eval::query_located(&self.root, path.segments())
            .into_iter()
            .filter(|(_, v)| match v {
                Value::Array(a) => !a.is_empty(),
                Value::Object(m) => !m.is_empty(),
                Value::Number(x) => !is_zero(x),
                _ => false,
            })
            .map(|(l, _)| l)
            .collect();
        let mut n = 0;
        for l in &locs {
            let Some(v) = get_mut(&mut self.root, l) else { continue };
            match v {
                Value::Array(a) => a.clear(),
                Value::Object(m) => m.clear(),
                _ => *v = Value::from(0),
            }
            n += 1;
        }
        n
    }

    /// JSON.TOGGLE: flips every matched boolean; the new values. `$` paths: `None` for a
    /// non-boolean (reply 1 / 0 / null per match). Legacy: the last new value, which
    /// RedisJSON replies as the bulk string `true` / `false`; no boolean matched is
    /// `ERR Path '$..' does not exist or not a bool`. A missing key: [`JsonError::no_such_key`].
    pub fn toggle(&mut self, path: &Path) -> Result<Output<Option<bool>>, JsonError> {
        let found = eval::query_located(&self.root, path.segments());
        if path.is_legacy() && !found.iter().any(|(_, v)| v.is_boolean()) {
            return Err(JsonError::err(format_args!(
                "Path '{}' does not exist or not a bool",
                path.text()
            )));
        }
        let locs: Vec<Loc> = found.into_iter().map(|(l, _)| l).collect();
        let mut out = vec![None; locs.len()];
        self.update(&locs, |i, v| {
            if let Value::Bool(b) = v {
                *b = !*b;
                out[i] = Some(*b);
            }
        });
        Ok(if path.is_legacy() {
            Output::Legacy(out.into_iter().flatten().last())
        } else {
            Output::Each(out)
        })
    }

    /// JSON.MERGE on an existing document: merges `patch` (RFC 7396, see the module) into
    /// every match; when the path matches nothing it behaves as JSON.SET (the patch is stored
    /// as given, nulls included; `Ok(false)` is the nil reply when the parent is missing,
    /// `Err wrong static path` / `ERR array index out of range` as for SET). For a key that
    /// does not exist use [`Tree::new_at`] with [`SetCond::Always`] (the value is stored
    /// as given), as RedisJSON does.
    pub fn merge(&mut self, path: &Path, patch: &Tree) -> Result<bool, JsonError> {
        let locs = self.locate(path);
        if locs.is_empty() {
            return self.set(path, patch.clone(), SetCond::Always);
        }
        for l in &locs {
            if let Some(v) = get_mut(&mut self.root, l) {
                merge_patch(v, &patch.root);
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn merged(t: Value, p: Value) -> Value {
        let mut t = t;
        merge_patch(&mut t, &p);
        t
    }

    #[test]
    fn rfc7396_examples() {
        // The examples of RFC 7396 appendix A.
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (json!({"a":"b","b":"c"}), json!({"a":null}), json!({"b":"c"})),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (json!({"a":{"b":"c"}}), json!({"a":{"b":"d","c":null}}), json!({"a":{"b":"d"}})),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (json!({}), json!({"a":{"bb":{"ccc":null}}}), json!({"a":{"bb":{}}})),
        ];
        for (t, p, want) in cases {
            assert_eq!(merged(t, p), want);
        }
    }
}
