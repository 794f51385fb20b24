//! engram-json: the JSON document model and JSONPath for the `JSON.*` commands.
//!
//! Pure and synchronous: no sockets, no RESP, no keyspace. The server calls into it from
//! apply. The spec for every result is RedisJSON 2.8 (with Redis 7.4).
//!
//! - [`Path::parse`] parses RedisJSON's JSONPath dialect and its legacy syntax.
//! - [`Document`] is one JSON value (a whole document, or a value given as an argument),
//!   stored compactly (see `tape`), and has one method per command operation. A path that
//!   names one value by keys and indexes is resolved on the stored bytes and the operation
//!   runs on that value alone; other paths run on the whole document as a tree (`Tree`,
//!   whose methods hold each command's semantics). Results are [`Output`]s: `Legacy(x)` for a legacy
//!   path (reply with `x` itself) or `Each(v)` for a `$` path (reply with an array, one entry
//!   per match, `None` as null).
//! - Errors are [`JsonError`]s whose text is RedisJSON's reply text.
#![warn(missing_docs)]

mod array;
mod edit;
mod error;
mod eval;
mod format;
mod ops;
mod path;
mod resp;
mod tape;

pub use array::{parse_index, parse_pop_index};
pub use error::JsonError;
pub use eval::{Loc, Step};
pub use format::Format;
pub use ops::{type_name, NumOp, Output, SetCond};
pub use path::{CmpOp, Expr, Operand, Path, Segment, Selector};
pub use resp::{resp_double_text, RespValue};

/// RedisJSON's nesting limit: JSON text nested this deep is rejected by the parser
/// (`recursion limit exceeded at line 1 column N`, serde_json's limit, as in RedisJSON).
/// Values may still end up deeper by setting nested values at depth, as in RedisJSON.
pub const MAX_DEPTH: usize = 128;

/// A JSON value as a tree: the form every operation's semantics are written against.
/// Documents are decoded into one only for the values an operation touches.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tree {
    pub(crate) root: serde_json::Value,
}

impl Tree {
    pub(crate) fn from_value(root: serde_json::Value) -> Tree {
        Tree { root }
    }

    pub(crate) fn to_json(&self, f: &Format) -> String {
        let mut s = String::new();
        format::write_value(&mut s, &self.root, f);
        s
    }
}

/// A JSON value in its compact stored form (see `tape`): one allocation about the size of
/// the minified text.
#[derive(Clone, PartialEq, Eq)]
pub struct Document {
    bytes: Box<[u8]>,
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Document({})", self.to_json(&Format::default()))
    }
}

/// Where a static path's value sits in a document: its position and the positions of the
/// containers around it, outermost first.
struct Spot {
    at: usize,
    ancestors: Vec<usize>,
}

/// The document outgrew the stored form's u32 sizes (4 GiB).
fn too_large() -> JsonError {
    JsonError::Other("ERR document too large".into())
}

/// The root path of the same kind as `path`: an operation on the value a static path
/// names behaves as the same operation on that value as a whole document.
fn root_like(path: &Path) -> &'static Path {
    static DOLLAR: std::sync::OnceLock<Path> = std::sync::OnceLock::new();
    static LEGACY: std::sync::OnceLock<Path> = std::sync::OnceLock::new();
    if path.is_legacy() {
        LEGACY.get_or_init(Path::root_legacy)
    } else {
        DOLLAR.get_or_init(|| Path::parse("$").unwrap_or_else(|_| Path::root_legacy()))
    }
}

impl Document {
    fn encoded(root: &serde_json::Value) -> Result<Document, JsonError> {
        let mut bytes = Vec::new();
        tape::encode(root, &mut bytes);
        if bytes.len() > tape::MAX_BYTES {
            return Err(too_large());
        }
        Ok(Document { bytes: bytes.into_boxed_slice() })
    }

    /// Parses JSON text as RedisJSON does (serde_json's error messages, depth limit 128).
    pub fn parse(text: &str) -> Result<Document, JsonError> {
        // A number at the top is checked by the stream for what follows it (`1x` is an
        // error, `1 2` is 1): that check is the tree parse's alone.
        let number_first = text.trim_start().starts_with(|c: char| c == '-' || c.is_ascii_digit());
        if let (false, Ok(Some(bytes))) = (number_first, tape::parse(text)) {
            if bytes.len() <= tape::MAX_BYTES {
                return Ok(Document { bytes: bytes.into_boxed_slice() });
            }
            return Err(too_large());
        }
        // Errors, and objects with a repeated key, go through a tree: its parse is the
        // reference for both (the first value of a stream; the first position and the last
        // value of a repeated key).
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>();
        let first = match stream.next() {
            Some(r) => r,
            None => serde_json::from_str::<serde_json::Value>(text),
        };
        let root = first.map_err(|e| JsonError::InvalidJson(e.to_string()))?;
        Document::encoded(&root)
    }

    /// Parses JSON text that must be exactly one value (surrounding whitespace allowed), as
    /// JSON.ARRINDEX parses its value: errors carry the `ERR ` prefix there
    /// (`ERR expected value at line 1 column 1`, `ERR trailing characters at ...`).
    /// Nesting deeper than [`MAX_DEPTH`] is rejected as in [`Document::parse`].
    pub fn parse_exact(text: &str) -> Result<Document, JsonError> {
        Document::encoded(&Tree::parse_exact(text)?.root)
    }

    /// Serialises the whole value.
    pub fn to_json(&self, f: &Format) -> String {
        let mut s = String::with_capacity(self.bytes.len() + self.bytes.len() / 4);
        if f.is_compact() {
            tape::write_compact(&mut s, &self.bytes, 0);
        } else {
            format::write_value(&mut s, &self.to_value(), f);
        }
        s
    }

    /// The value as a `serde_json::Value` tree (decoded: for snapshots' rewrites and tests).
    pub fn to_value(&self) -> serde_json::Value {
        tape::decode(&self.bytes, 0)
    }

    /// Builds a document from a `serde_json::Value`. A value too large for the stored form
    /// (over 4 GiB encoded) becomes null.
    pub fn from_value(root: serde_json::Value) -> Document {
        Document::encoded(&root).unwrap_or(Document { bytes: Box::new([0]) })
    }

    /// The nesting depth (a scalar is 0, `[]` and `{"a":1}` are 1), counted up to just
    /// past `limit`.
    pub fn nesting_depth(&self, limit: usize) -> usize {
        tape::depth(&self.bytes, 0, 0, limit)
    }

    /// The bytes the stored form holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// The values a path selects, in order (search indexes read fields through this).
    pub fn select(&self, path: &Path) -> Vec<serde_json::Value> {
        let segs = path.segments();
        let fixed = segs.iter().take_while(|s| s.is_static()).count();
        let filters = segs[fixed..].iter().any(|s| {
            matches!(
                s,
                Segment::Child(Selector::Filter(_)) | Segment::Descendant(Selector::Filter(_))
            )
        });
        // Without filters (which may look at the root), the rest of the path only sees the
        // value its static start names: decode that alone (`$.tags[*]` decodes the tags).
        if !filters {
            let Some(spot) = self.spot_of(&segs[..fixed]) else { return Vec::new() };
            let sub = tape::decode(&self.bytes, spot.at);
            if fixed == segs.len() {
                return vec![sub];
            }
            return eval::query(&sub, &segs[fixed..]).into_iter().cloned().collect();
        }
        let tree = self.tree();
        eval::query(&tree.root, path.segments()).into_iter().cloned().collect()
    }

    /// The values a path selects, serialised, in order (JSON.GET of several paths).
    pub fn query(&self, path: &Path) -> Vec<String> {
        if let Some(spot) = self.spot(path) {
            let mut s = String::new();
            tape::write_compact(&mut s, &self.bytes, spot.at);
            return vec![s];
        }
        let tree = self.tree();
        eval::query(&tree.root, path.segments())
            .into_iter()
            .map(|v| {
                let mut s = String::new();
                format::write_value(&mut s, v, &Format::default());
                s
            })
            .collect()
    }

    fn tree(&self) -> Tree {
        Tree { root: self.to_value() }
    }

    /// The one value a static path names, if it exists.
    fn spot(&self, path: &Path) -> Option<Spot> {
        self.spot_of(path.segments())
    }

    /// The one value static segments name, if they are static and it exists.
    fn spot_of(&self, segments: &[Segment]) -> Option<Spot> {
        #[cfg(test)]
        if tests::WHOLE_TREE.get() {
            return None;
        }
        let b = &self.bytes;
        let mut at = 0;
        let mut ancestors = Vec::new();
        for seg in segments {
            let next = match seg {
                Segment::Child(Selector::Name(k)) => tape::member(b, at, k)?,
                Segment::Child(Selector::Indexes(ix)) if ix.len() == 1 => {
                    let len = tape::array_len(b, at)?;
                    tape::element(b, at, eval::norm_index(ix[0], len)?)?
                }
                _ => return None,
            };
            ancestors.push(at);
            at = next;
        }
        Some(Spot { at, ancestors })
    }

    /// Runs a reading operation: on the value a static path names when it exists (as the
    /// same operation on a root path), else (or when that fails, so errors name the path
    /// as given) on the whole document.
    fn read<T>(
        &self,
        path: &Path,
        op: impl Fn(&Tree, &Path) -> Result<T, JsonError>,
    ) -> Result<T, JsonError> {
        if let Some(spot) = self.spot(path) {
            let sub = Tree { root: tape::decode(&self.bytes, spot.at) };
            if let Ok(out) = op(&sub, root_like(path)) {
                return Ok(out);
            }
        }
        op(&self.tree(), path)
    }

    /// Runs a changing operation as [`Document::read`] does, writing back only the value it
    /// ran on. An error changes nothing.
    fn write<T>(
        &mut self,
        path: &Path,
        op: impl Fn(&mut Tree, &Path) -> Result<T, JsonError>,
    ) -> Result<T, JsonError> {
        if let Some(spot) = self.spot(path) {
            let mut sub = Tree { root: tape::decode(&self.bytes, spot.at) };
            if let Ok(out) = op(&mut sub, root_like(path)) {
                let mut new = Vec::new();
                tape::encode(&sub.root, &mut new);
                tape::splice(&mut self.bytes, &spot.ancestors, spot.at, &new)
                    .ok_or_else(too_large)?;
                return Ok(out);
            }
        }
        let mut tree = self.tree();
        let out = op(&mut tree, path)?;
        *self = Document::encoded(&tree.root)?;
        Ok(out)
    }

    fn trees(values: &[Document]) -> Vec<Tree> {
        values.iter().map(Document::tree).collect()
    }

    /// JSON.GET with one path: the serialised reply (a single value for a legacy path, an
    /// array of the matches for a `$` path).
    pub fn get(&self, path: &Path, f: &Format) -> Result<String, JsonError> {
        if f.is_compact() {
            if let Some(spot) = self.spot(path) {
                let mut s = String::new();
                if !path.is_legacy() {
                    s.push('[');
                }
                tape::write_compact(&mut s, &self.bytes, spot.at);
                if !path.is_legacy() {
                    s.push(']');
                }
                return Ok(s);
            }
        }
        self.read(path, |t, p| t.get(p, f))
    }

    /// JSON.GET with several paths (see `Tree::get_multi`).
    pub fn get_multi(&self, paths: &[Path], f: &Format) -> Result<String, JsonError> {
        self.tree().get_multi(paths, f)
    }

    /// JSON.SET on an existing document. `Ok(true)` is OK, `Ok(false)` the nil reply (NX/XX
    /// not met, or the parent of a new member does not exist). A new key is
    /// [`Document::new_at`] instead.
    pub fn set(&mut self, path: &Path, value: Document, cond: SetCond) -> Result<bool, JsonError> {
        if let Some(spot) = self.spot(path) {
            if cond == SetCond::Nx {
                return Ok(false);
            }
            if spot.ancestors.is_empty() {
                *self = value;
            } else {
                tape::splice(&mut self.bytes, &spot.ancestors, spot.at, &value.bytes)
                    .ok_or_else(too_large)?;
            }
            return Ok(true);
        }
        // A new member of an object a static path names: appended, as the tree inserts it.
        if let Some((Segment::Child(Selector::Name(key)), parent)) = path.segments().split_last() {
            if let Some(spot) = self.spot_of(parent).filter(|s| tape::is_object(&self.bytes, s.at))
            {
                if cond == SetCond::Xx {
                    return Ok(false);
                }
                let mut member = tape::key_bytes(key);
                member.extend_from_slice(&value.bytes);
                tape::push(&mut self.bytes, &spot.ancestors, spot.at, &member, 1)
                    .ok_or_else(too_large)?;
                return Ok(true);
            }
        }
        let value = value.tree();
        self.write(path, |t, p| t.set(p, value.clone(), cond))
    }

    /// JSON.SET on a key that does not exist: only the root path may create a document.
    pub fn new_at(
        path: &Path,
        value: Document,
        cond: SetCond,
    ) -> Result<Option<Document>, JsonError> {
        if !path.is_root() {
            return Err(JsonError::err("new objects must be created at the root"));
        }
        if cond == SetCond::Xx {
            return Ok(None);
        }
        Ok(Some(value))
    }

    /// JSON.DEL / JSON.FORGET: the number of values deleted. Deleting the root (`$` or `.`)
    /// returns 1 and the caller deletes the key. (See `Tree::del` for which matches go.)
    pub fn del(&mut self, path: &Path) -> usize {
        if path.is_root() {
            return 1;
        }
        if let Some(n) = self.del_in_place(path) {
            return n;
        }
        let mut tree = self.tree();
        let n = tree.del(path);
        if n > 0 {
            if let Ok(doc) = Document::encoded(&tree.root) {
                *self = doc;
            }
        }
        n
    }

    /// JSON.DEL of the one value a static path names, on the bytes: an array element is
    /// removed (the rest move up), an object member is replaced by the object's last member
    /// (RedisJSON's removal order, as `Tree::del`). `None`: not such a path.
    fn del_in_place(&mut self, path: &Path) -> Option<usize> {
        let (last, parent) = path.segments().split_last()?;
        let spot = self.spot_of(parent)?;
        let at = spot.at;
        let mut around = spot.ancestors;
        around.push(at);
        let b = &mut self.bytes;
        match last {
            Segment::Child(Selector::Name(key)) if tape::is_object(b, at) => {
                let (ranges, found) = tape::member_ranges(b, at, key);
                let Some(i) = found else { return Some(0) };
                let (start, end) = ranges[i];
                let (last_start, last_end) = ranges[ranges.len() - 1];
                // Cut the last member out first: it sits after member `i`.
                let moved = if i + 1 < ranges.len() {
                    b[last_start..last_end].to_vec()
                } else {
                    Vec::new()
                };
                if !moved.is_empty() {
                    tape::replace(b, &around, last_start..last_end, &[])?;
                }
                tape::replace(b, &around, start..end, &moved)?;
            }
            Segment::Child(Selector::Indexes(ix)) if ix.len() == 1 => {
                let n = tape::array_len(b, at)?;
                let Some(i) = eval::norm_index(ix[0], n) else { return Some(0) };
                let start = tape::element(b, at, i)?;
                let end = tape::skip(b, start);
                tape::replace(b, &around, start..end, &[])?;
            }
            _ => return None,
        }
        let n = tape::count(b, at);
        tape::set_count(b, at, n - 1);
        Some(1)
    }

    /// JSON.TYPE: the type names (`Legacy(None)` when a legacy path matches nothing).
    pub fn type_of(&self, path: &Path) -> Output<Option<&'static str>> {
        match self.read(path, |t, p| Ok(t.type_of(p))) {
            Ok(out) => out,
            Err(_) => self.tree().type_of(path),
        }
    }

    /// JSON.NUMINCRBY / JSON.NUMMULTBY: the reply text (a bulk string): the new value for a
    /// legacy path, a JSON array with `null` for non-numbers for a `$` path.
    pub fn num_op(&mut self, path: &Path, op: NumOp, arg: &str) -> Result<String, JsonError> {
        self.write(path, |t, p| t.num_op(p, op, arg))
    }

    /// JSON.STRLEN.
    pub fn str_len(&self, path: &Path) -> Result<Output<Option<usize>>, JsonError> {
        self.read(path, |t, p| t.str_len(p))
    }

    /// JSON.STRAPPEND: `value` must be a JSON string.
    pub fn str_append(
        &mut self,
        path: &Path,
        value: &Document,
    ) -> Result<Output<Option<usize>>, JsonError> {
        let value = value.tree();
        self.write(path, |t, p| t.str_append(p, &value))
    }

    /// JSON.ARRAPPEND: the new lengths.
    pub fn arr_append(
        &mut self,
        path: &Path,
        values: &[Document],
    ) -> Result<Output<Option<usize>>, JsonError> {
        // The common case, appending to the one array a static path names, only adds bytes.
        if let Some(spot) = self.spot(path) {
            if let Some(len) = tape::array_len(&self.bytes, spot.at) {
                let items: Vec<u8> = values.iter().flat_map(|v| v.bytes.iter().copied()).collect();
                tape::push(&mut self.bytes, &spot.ancestors, spot.at, &items, values.len())
                    .ok_or_else(too_large)?;
                let len = Some(len + values.len());
                return Ok(if path.is_legacy() {
                    Output::Legacy(len)
                } else {
                    Output::Each(vec![len])
                });
            }
        }
        let values = Document::trees(values);
        self.write(path, |t, p| t.arr_append(p, &values))
    }

    /// JSON.ARRLEN.
    pub fn arr_len(&self, path: &Path) -> Result<Output<Option<usize>>, JsonError> {
        self.read(path, |t, p| t.arr_len(p))
    }

    /// JSON.OBJKEYS (`Legacy(None)`: a legacy path that matches nothing, nil reply).
    pub fn obj_keys(&self, path: &Path) -> Result<Output<Option<Vec<String>>>, JsonError> {
        self.read(path, |t, p| t.obj_keys(p))
    }

    /// JSON.OBJLEN.
    pub fn obj_len(&self, path: &Path) -> Result<Output<Option<usize>>, JsonError> {
        self.read(path, |t, p| t.obj_len(p))
    }

    /// JSON.ARRINDEX (see `Tree::arr_index`).
    pub fn arr_index(
        &self,
        path: &Path,
        value: &Document,
        start: i64,
        stop: i64,
    ) -> Result<Output<Option<i64>>, JsonError> {
        let value = value.tree();
        self.read(path, |t, p| t.arr_index(p, &value, start, stop))
    }

    /// JSON.ARRINSERT (see `Tree::arr_insert`).
    pub fn arr_insert(
        &mut self,
        path: &Path,
        index: i64,
        values: &[Document],
    ) -> Result<Output<Option<usize>>, JsonError> {
        let values = Document::trees(values);
        self.write(path, |t, p| t.arr_insert(p, index, &values))
    }

    /// JSON.ARRPOP (see `Tree::arr_pop`).
    pub fn arr_pop(
        &mut self,
        path: &Path,
        index: i64,
    ) -> Result<Output<Option<String>>, JsonError> {
        self.write(path, |t, p| t.arr_pop(p, index))
    }

    /// JSON.ARRTRIM (see `Tree::arr_trim`).
    pub fn arr_trim(
        &mut self,
        path: &Path,
        start: i64,
        stop: i64,
    ) -> Result<Output<Option<usize>>, JsonError> {
        self.write(path, |t, p| t.arr_trim(p, start, stop))
    }

    /// JSON.CLEAR: the number of values cleared (see `Tree::clear`).
    pub fn clear(&mut self, path: &Path) -> usize {
        self.write(path, |t, p| Ok(t.clear(p))).unwrap_or(0)
    }

    /// JSON.TOGGLE (see `Tree::toggle`).
    pub fn toggle(&mut self, path: &Path) -> Result<Output<Option<bool>>, JsonError> {
        self.write(path, |t, p| t.toggle(p))
    }

    /// JSON.MERGE on an existing document (see `Tree::merge`). For a key that does not
    /// exist use [`Document::new_at`] with [`SetCond::Always`].
    pub fn merge(&mut self, path: &Path, patch: &Document) -> Result<bool, JsonError> {
        let patch = patch.tree();
        self.write(path, |t, p| t.merge(p, &patch))
    }

    /// JSON.RESP (see `Tree::resp`).
    pub fn resp(&self, path: &Path) -> Result<Output<RespValue>, JsonError> {
        self.read(path, |t, p| t.resp(p))
    }

    /// JSON.DEBUG MEMORY: RedisJSON's estimate for each match (see `Tree::memory_usage`).
    pub fn debug_memory(&self, path: &Path) -> Result<Output<usize>, JsonError> {
        self.read(path, |t, p| t.debug_memory(p))
    }

    /// RedisJSON's memory estimate of the whole value (see `Tree::memory_usage`).
    pub fn memory_usage(&self) -> usize {
        self.tree().memory_usage()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    thread_local! {
        /// Makes every operation run on the whole tree (the reference for static paths).
        pub(super) static WHOLE_TREE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// The tree parse the stored form's parser must agree with (the first value of a
    /// stream, as RedisJSON reads its argument).
    fn tree_parse(text: &str) -> Result<serde_json::Value, String> {
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>();
        let first = match stream.next() {
            Some(r) => r,
            None => serde_json::from_str::<serde_json::Value>(text),
        };
        first.map_err(|e| e.to_string())
    }

    #[test]
    fn parsing_agrees_with_the_tree_parse_on_odd_input() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        let ok_deep = "[".repeat(MAX_DEPTH - 1) + &"]".repeat(MAX_DEPTH - 1);
        for text in [
            "",
            " ",
            "1 2",
            "1x",
            "1,",
            "[1] x",
            "{\"a\":1}}",
            "nul",
            "tru",
            "\"abc",
            "[1,]",
            "{\"a\"}",
            "{\"a\":1,}",
            "01",
            "-",
            "1e",
            "1e999",
            "-1e999",
            "NaN",
            "\"\\x\"",
            "\"\\ud800\"",
            "{\"a\":1,\"a\":{\"b\":2},\"c\":3}",
            "[{\"a\":1,\"a\":2}]",
            "\t[1]\n",
            "18446744073709551616",
            "-9223372036854775809",
            "1.7976931348623157e308",
            "{\"a\":[1,{\"b\":null}],\"c\":\"\\u00e9\"}",
            &deep,
            &ok_deep,
        ] {
            let want = tree_parse(text);
            let got = Document::parse(text).map(|d| d.to_value()).map_err(|e| match e {
                JsonError::InvalidJson(m) => m,
                other => format!("{other:?}"),
            });
            assert_eq!(got, want, "{text:?}");
        }
    }

    /// Random documents and random operations on static paths (existing or not, right
    /// type or not): the in-place route must give the same replies and documents as the
    /// whole-tree route.
    #[test]
    fn random_edits_on_static_paths_agree_with_the_tree() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        const PATHS: &[&str] = &[
            "$",
            ".",
            "$.a",
            ".a",
            "$.a.b",
            "$.a.b[0]",
            "$.a.b[-1]",
            "$.a.b[9]",
            "$.a.b[1].c",
            ".a.b[1].c",
            "$.n",
            ".n",
            "$.s",
            ".s",
            "$.t",
            "$.t[0]",
            "$.missing",
            ".missing",
            "$.a.x",
            "$.a['b']",
        ];
        const VALUES: &[&str] = &[
            "1",
            "-2.5",
            "\"str\"",
            "[]",
            "[1,\"x\"]",
            "{}",
            "{\"c\":3}",
            "null",
            "true",
            "9223372036854775807",
        ];
        for round in 0..3000 {
            let text =
                r#"{"a":{"b":[1,{"c":2.5},"x",[true]],"x":{}},"n":7,"s":"hi","t":[false,1]}"#;
            let mut fast = Document::parse(text).unwrap();
            let mut slow = fast.clone();
            for step in 0..6 {
                let path = Path::parse(PATHS[next(PATHS.len())]).unwrap();
                let value = Document::parse(VALUES[next(VALUES.len())]).unwrap();
                let op = next(14);
                let run = |d: &mut Document| -> String {
                    match op {
                        0 => format!("{:?}", d.num_op(&path, NumOp::Incr, "2")),
                        1 => format!("{:?}", d.num_op(&path, NumOp::Mult, "1.5")),
                        2 => format!("{:?}", d.arr_append(&path, std::slice::from_ref(&value))),
                        3 => format!("{:?}", d.set(&path, value.clone(), SetCond::Always)),
                        4 => format!("{:?}", d.set(&path, value.clone(), SetCond::Nx)),
                        5 => format!("{:?}", d.str_append(&path, &value)),
                        6 => format!("{:?}", d.toggle(&path)),
                        7 => format!("{:?}", d.clear(&path)),
                        8 => format!("{:?}", d.arr_pop(&path, -1)),
                        9 => format!("{:?}", d.arr_insert(&path, 0, std::slice::from_ref(&value))),
                        10 => format!("{:?}", d.merge(&path, &value)),
                        11 => format!("{:?}", d.set(&path, value.clone(), SetCond::Xx)),
                        12 => format!("{:?}", d.del(&path)),
                        _ => format!(
                            "{:?} {:?} {:?} {:?}",
                            d.get(&path, &Format::default()),
                            d.type_of(&path),
                            d.arr_len(&path),
                            d.obj_keys(&path)
                        ),
                    }
                };
                let got = run(&mut fast);
                WHOLE_TREE.set(true);
                let want = run(&mut slow);
                WHOLE_TREE.set(false);
                let at = format!("round {round} step {step} op {op} path {}", path.original());
                assert_eq!(got, want, "{at}");
                // Text, not trees: tree equality ignores member order.
                let compact = Format::default();
                assert_eq!(fast.to_json(&compact), slow.to_json(&compact), "{at}");
                assert_eq!(tape::skip(&fast.bytes, 0), fast.bytes.len(), "{at}");
            }
        }
    }

    #[test]
    fn select_decodes_only_below_the_static_start_and_agrees_with_the_tree() {
        let doc = Document::parse(
            r#"{"a":{"tags":["x","y"],"n":[1,{"k":2}]},"b":[{"k":3},{"k":4}],"c":5}"#,
        )
        .unwrap();
        for path in [
            "$.a.tags[*]",
            "$.a.tags",
            "$.a..k",
            "$.b[*].k",
            "$.b[-1].k",
            "$.missing[*]",
            "$.a.n[5]",
            "$..k",
            "$.b[?(@.k>3)].k",
            "$.b[?(@.k==$.c)]",
            "$.*",
            "$.a['tags','n']",
        ] {
            let p = Path::parse(path).unwrap();
            let fast = doc.select(&p);
            WHOLE_TREE.set(true);
            let tree = doc.tree();
            let slow: Vec<serde_json::Value> =
                eval::query(&tree.root, p.segments()).into_iter().cloned().collect();
            WHOLE_TREE.set(false);
            assert_eq!(fast, slow, "{path}");
        }
    }

    #[test]
    fn static_paths_edit_in_place_as_the_tree_would() {
        let text = r#"{"a":{"b":[1,"x",{"c":2.5}]},"n":7,"s":"hi","t":[true]}"#;
        type Op = fn(&mut Document, &Path) -> String;
        let cases: &[(&str, Op)] = &[
            ("$.a.b[2].c", |d, p| d.num_op(p, NumOp::Incr, "1").unwrap()),
            (".n", |d, p| d.num_op(p, NumOp::Mult, "3").unwrap()),
            ("$.a.b", |d, p| format!("{:?}", d.arr_append(p, &[Document::parse("[9]").unwrap()]))),
            (".a.b", |d, p| {
                let two =
                    [Document::parse("{\"z\":[1]}").unwrap(), Document::parse("\"s\"").unwrap()];
                format!("{:?}", d.arr_append(p, &two))
            }),
            ("$.n", |d, p| format!("{:?}", d.arr_append(p, &[Document::parse("1").unwrap()]))),
            ("$.a.b[-1]", |d, p| {
                format!("{:?}", d.set(p, Document::parse("{}").unwrap(), SetCond::Always))
            }),
            ("$.s", |d, p| format!("{:?}", d.str_append(p, &Document::parse("\"!!\"").unwrap()))),
            ("$.t[0]", |d, p| format!("{:?}", d.toggle(p))),
            ("$.a", |d, p| format!("{:?}", d.clear(p))),
            ("$.a.b", |d, p| format!("{:?}", d.arr_pop(p, 0))),
        ];
        for (path, op) in cases {
            let p = Path::parse(path).unwrap();
            let mut fast = Document::parse(text).unwrap();
            let fast_out = op(&mut fast, &p);
            // The same operation on the whole tree.
            let mut slow = Document::parse(text).unwrap();
            WHOLE_TREE.set(true);
            let slow_out = op(&mut slow, &p);
            WHOLE_TREE.set(false);
            assert_eq!(fast_out, slow_out, "{path}");
            let compact = Format::default();
            assert_eq!(fast.to_json(&compact), slow.to_json(&compact), "{path}");
            assert_eq!(tape::skip(&fast.bytes, 0), fast.bytes.len(), "{path}");
        }
    }
}
