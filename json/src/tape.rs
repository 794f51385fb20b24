//! The stored form of a document: one contiguous byte buffer, about the size of the
//! minified JSON text, instead of a tree of allocations (a `serde_json::Value` tree
//! spent ~10 KB on a 1 KB document, RedisJSON ~2.4 KB).
//!
//! Every value starts with a tag byte:
//! - `NULL`, `FALSE`, `TRUE`: nothing follows;
//! - `I8`, `I16`, `I32`, `I64`: a little-endian signed integer of that width (the
//!   narrowest that holds it); `U64`: an unsigned integer above `i64::MAX`; `F64`: the
//!   bits of a float (kept a float even when integral: `1.0` stays `1.0`);
//! - `STR`: a LEB128 byte length, then the UTF-8 bytes;
//! - `ARR` / `OBJ`: a u32 byte size of the contents and a u32 count of elements or
//!   members, then the contents; an object member is its key (LEB128 length and bytes)
//!   followed by its value, in insertion order.
//!
//! The sizes make skipping a container O(1), so a path is resolved by walking the
//! members it passes without decoding anything. Edits replace one value's bytes and add
//! the difference to the sizes of the containers around it ([`splice`]); nothing else
//! moves. A whole document fits a u32 size (checked where documents are built), so every
//! inner size does too.

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};
use std::collections::HashSet;
use std::fmt;

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const I8: u8 = 3;
const I16: u8 = 4;
const I32: u8 = 5;
const I64: u8 = 6;
const U64: u8 = 7;
const F64: u8 = 8;
const STR: u8 = 9;
const ARR: u8 = 10;
const OBJ: u8 = 11;

/// Tag, u32 byte size, u32 count.
const HEADER: usize = 9;

/// The largest encoded document: container sizes are u32.
pub(crate) const MAX_BYTES: usize = u32::MAX as usize;

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A LEB128 number at `pos`: (value, position after it).
fn varint(b: &[u8], mut pos: usize) -> (usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    loop {
        let byte = b[pos];
        pos += 1;
        n |= usize::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return (n, pos);
        }
        shift += 7;
    }
}

fn u32_at(b: &[u8], pos: usize) -> usize {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[pos..pos + 4]);
    u32::from_le_bytes(w) as usize
}

fn set_u32(b: &mut [u8], pos: usize, n: usize) {
    b[pos..pos + 4].copy_from_slice(&(n as u32).to_le_bytes());
}

fn put_int(out: &mut Vec<u8>, i: i64) {
    if let Ok(x) = i8::try_from(i) {
        out.push(I8);
        out.extend_from_slice(&x.to_le_bytes());
    } else if let Ok(x) = i16::try_from(i) {
        out.push(I16);
        out.extend_from_slice(&x.to_le_bytes());
    } else if let Ok(x) = i32::try_from(i) {
        out.push(I32);
        out.extend_from_slice(&x.to_le_bytes());
    } else {
        out.push(I64);
        out.extend_from_slice(&i.to_le_bytes());
    }
}

fn put_u64(out: &mut Vec<u8>, u: u64) {
    match i64::try_from(u) {
        Ok(i) => put_int(out, i),
        Err(_) => {
            out.push(U64);
            out.extend_from_slice(&u.to_le_bytes());
        }
    }
}

fn put_f64(out: &mut Vec<u8>, f: f64) {
    out.push(F64);
    out.extend_from_slice(&f.to_bits().to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, s: &[u8]) {
    put_varint(out, s.len());
    out.extend_from_slice(s);
}

/// Starts a container; [`close`] fills in its size and count.
fn open(out: &mut Vec<u8>, tag: u8) -> usize {
    let at = out.len();
    out.push(tag);
    out.extend_from_slice(&[0; 8]);
    at
}

fn close(out: &mut [u8], at: usize, count: usize) {
    let size = out.len() - at - HEADER;
    set_u32(out, at + 1, size);
    set_u32(out, at + 5, count);
}

/// Appends the encoding of `v`.
pub(crate) fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(NULL),
        Value::Bool(b) => out.push(if *b { TRUE } else { FALSE }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                put_int(out, i);
            } else if let Some(u) = n.as_u64() {
                put_u64(out, u);
            } else {
                put_f64(out, n.as_f64().unwrap_or(0.0));
            }
        }
        Value::String(s) => {
            out.push(STR);
            put_bytes(out, s.as_bytes());
        }
        Value::Array(items) => {
            let at = open(out, ARR);
            items.iter().for_each(|x| encode(x, out));
            close(out, at, items.len());
        }
        Value::Object(members) => {
            let at = open(out, OBJ);
            for (k, x) in members {
                put_bytes(out, k.as_bytes());
                encode(x, out);
            }
            close(out, at, members.len());
        }
    }
}

/// The position just after the value at `pos`.
pub(crate) fn skip(b: &[u8], pos: usize) -> usize {
    match b[pos] {
        I8 => pos + 2,
        I16 => pos + 3,
        I32 => pos + 5,
        I64 | U64 | F64 => pos + 9,
        STR => {
            let (len, p) = varint(b, pos + 1);
            p + len
        }
        ARR | OBJ => pos + HEADER + u32_at(b, pos + 1),
        _ => pos + 1,
    }
}

/// The element or member count of the container at `pos`.
pub(crate) fn count(b: &[u8], pos: usize) -> usize {
    u32_at(b, pos + 5)
}

/// Where each element of the array at `pos` starts.
fn elements(b: &[u8], pos: usize) -> impl Iterator<Item = usize> + '_ {
    let mut p = pos + HEADER;
    (0..count(b, pos)).map(move |_| {
        let at = p;
        p = skip(b, p);
        at
    })
}

/// The members of the object at `pos`: where each starts (its key), its key's bytes, and
/// where its value starts.
fn members(b: &[u8], pos: usize) -> impl Iterator<Item = (usize, &[u8], usize)> + '_ {
    let mut p = pos + HEADER;
    (0..count(b, pos)).map(move |_| {
        let start = p;
        let (len, kp) = varint(b, p);
        let vp = kp + len;
        p = skip(b, vp);
        (start, &b[kp..vp], vp)
    })
}

fn text(bytes: &[u8]) -> &str {
    // Only `encode` and the parser write these bytes, from `str`s.
    std::str::from_utf8(bytes).unwrap_or_default()
}

/// A string value at `pos` (the tag is STR).
fn str_at(b: &[u8], pos: usize) -> &str {
    let (len, p) = varint(b, pos + 1);
    text(&b[p..p + len])
}

fn int_at(b: &[u8], pos: usize) -> Option<Number> {
    let body = &b[pos + 1..];
    let n = match b[pos] {
        I8 => Number::from(i8::from_le_bytes([body[0]])),
        I16 => Number::from(i16::from_le_bytes([body[0], body[1]])),
        I32 => {
            let mut w = [0u8; 4];
            w.copy_from_slice(&body[..4]);
            Number::from(i32::from_le_bytes(w))
        }
        I64 | U64 | F64 => {
            let mut w = [0u8; 8];
            w.copy_from_slice(&body[..8]);
            match b[pos] {
                I64 => Number::from(i64::from_le_bytes(w)),
                U64 => Number::from(u64::from_le_bytes(w)),
                _ => Number::from_f64(f64::from_bits(u64::from_le_bytes(w)))?,
            }
        }
        _ => return None,
    };
    Some(n)
}

/// The value at `pos`, as a tree.
pub(crate) fn decode(b: &[u8], pos: usize) -> Value {
    match b[pos] {
        NULL => Value::Null,
        FALSE => Value::Bool(false),
        TRUE => Value::Bool(true),
        STR => Value::String(str_at(b, pos).to_owned()),
        ARR => Value::Array(elements(b, pos).map(|p| decode(b, p)).collect()),
        OBJ => Value::Object(
            members(b, pos).map(|(_, key, p)| (text(key).to_owned(), decode(b, p))).collect(),
        ),
        _ => int_at(b, pos).map_or(Value::Null, Value::Number),
    }
}

/// The nesting depth of the value at `pos` (a scalar is `level`, each container one
/// more than its deepest child), no longer counted once past `limit`.
pub(crate) fn depth(b: &[u8], pos: usize, level: usize, limit: usize) -> usize {
    let deeper = |p: usize| depth(b, p, level + 1, limit);
    let deepest_child = match b[pos] {
        _ if level > limit => return level,
        ARR => elements(b, pos).map(deeper).max(),
        OBJ => members(b, pos).map(|(_, _, p)| deeper(p)).max(),
        _ => return level,
    };
    deepest_child.unwrap_or(level + 1)
}

/// The byte ranges of the members of the object at `pos` (each from its key to the end
/// of its value), in order, and the index of the one named `key`.
pub(crate) fn member_ranges(
    b: &[u8],
    pos: usize,
    key: &str,
) -> (Vec<(usize, usize)>, Option<usize>) {
    let mut found = None;
    let ranges = members(b, pos)
        .enumerate()
        .map(|(i, (start, name, p))| {
            if found.is_none() && name == key.as_bytes() {
                found = Some(i);
            }
            (start, skip(b, p))
        })
        .collect();
    (ranges, found)
}

/// Sets the element or member count of the container at `pos`.
pub(crate) fn set_count(b: &mut [u8], pos: usize, n: usize) {
    set_u32(b, pos + 5, n);
}

/// Whether the value at `pos` is an object.
pub(crate) fn is_object(b: &[u8], pos: usize) -> bool {
    b[pos] == OBJ
}

/// An object member's key as it is stored (length, then bytes); its value follows it.
pub(crate) fn key_bytes(key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 2);
    put_bytes(&mut out, key.as_bytes());
    out
}

/// The value of member `key` of the object at `pos`.
pub(crate) fn member(b: &[u8], pos: usize, key: &str) -> Option<usize> {
    if b[pos] != OBJ {
        return None;
    }
    members(b, pos).find(|(_, name, _)| *name == key.as_bytes()).map(|(_, _, p)| p)
}

/// Element `i` of the array at `pos` (`None` when `pos` is no array).
pub(crate) fn element(b: &[u8], pos: usize, i: usize) -> Option<usize> {
    if b[pos] != ARR {
        return None;
    }
    elements(b, pos).nth(i)
}

/// The array length at `pos`.
pub(crate) fn array_len(b: &[u8], pos: usize) -> Option<usize> {
    (b[pos] == ARR).then(|| count(b, pos))
}

/// Replaces the value at `at` (inside the containers starting at `ancestors`) with the
/// encoded value `new`, correcting the ancestors' sizes. `None` when the document would
/// outgrow [`MAX_BYTES`] (nothing changed then).
pub(crate) fn splice(
    doc: &mut Box<[u8]>,
    ancestors: &[usize],
    at: usize,
    new: &[u8],
) -> Option<()> {
    let end = skip(doc, at);
    replace(doc, ancestors, at..end, new)
}

/// Appends encoded elements (`count` of them, concatenated in `items`) to the array at
/// `at`, or members (key bytes then value) to the object at `at`, inside the containers
/// starting at `ancestors`. `None` as for [`splice`].
pub(crate) fn push(
    doc: &mut Box<[u8]>,
    ancestors: &[usize],
    at: usize,
    items: &[u8],
    count: usize,
) -> Option<()> {
    let end = skip(doc, at);
    let mut around = ancestors.to_vec();
    around.push(at);
    replace(doc, &around, end..end, items)?;
    let n = self::count(doc, at) + count;
    set_u32(doc, at + 5, n);
    Some(())
}

/// Replaces the bytes in `range` with `new` and adds the difference to the sizes of the
/// containers at `ancestors`.
pub(crate) fn replace(
    doc: &mut Box<[u8]>,
    ancestors: &[usize],
    range: std::ops::Range<usize>,
    new: &[u8],
) -> Option<()> {
    let old = range.len();
    if old == new.len() {
        doc[range].copy_from_slice(new);
        return Some(());
    }
    let total = doc.len() - old + new.len();
    if total > MAX_BYTES {
        return None;
    }
    let mut bytes = std::mem::take(doc).into_vec();
    // Exact growth, so the boxed slice below takes the buffer as it is.
    bytes.reserve_exact(total.saturating_sub(bytes.len()));
    bytes.splice(range, new.iter().copied());
    for &a in ancestors {
        let size = u32_at(&bytes, a + 1) + new.len() - old;
        set_u32(&mut bytes, a + 1, size);
    }
    *doc = bytes.into_boxed_slice();
    Some(())
}

/// Writes the value at `pos` as compact JSON (as [`crate::format`] writes a tree).
pub(crate) fn write_compact(out: &mut String, b: &[u8], pos: usize) {
    match b[pos] {
        NULL => out.push_str("null"),
        FALSE => out.push_str("false"),
        TRUE => out.push_str("true"),
        STR => crate::format::write_escaped(out, str_at(b, pos)),
        ARR => {
            out.push('[');
            for (i, p) in elements(b, pos).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_compact(out, b, p);
            }
            out.push(']');
        }
        OBJ => {
            out.push('{');
            for (i, (_, key, p)) in members(b, pos).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                crate::format::write_escaped(out, text(key));
                out.push(':');
                write_compact(out, b, p);
            }
            out.push('}');
        }
        _ => match int_at(b, pos) {
            Some(n) => crate::format::write_number(out, &n),
            None => out.push_str("null"),
        },
    }
}

/// Parses JSON text straight into the encoding, with serde_json's parser (so its errors
/// and its nesting limit), reading the first value only. `Ok(None)` when an object repeats
/// a key: the caller goes through a tree, which keeps the first position and last value.
pub(crate) fn parse(text: &str) -> Result<Option<Vec<u8>>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut out = Vec::with_capacity(text.len());
    let mut duplicate = false;
    Writer { out: &mut out, duplicate: &mut duplicate }.deserialize(&mut de)?;
    Ok((!duplicate).then_some(out))
}

/// A serde visitor that appends what it visits to `out`.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
    duplicate: &'a mut bool,
}

impl<'de> DeserializeSeed<'de> for Writer<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Writer<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.out.push(NULL);
        Ok(())
    }

    fn visit_bool<E>(self, b: bool) -> Result<(), E> {
        self.out.push(if b { TRUE } else { FALSE });
        Ok(())
    }

    fn visit_i64<E>(self, i: i64) -> Result<(), E> {
        put_int(self.out, i);
        Ok(())
    }

    fn visit_u64<E>(self, u: u64) -> Result<(), E> {
        put_u64(self.out, u);
        Ok(())
    }

    fn visit_f64<E>(self, f: f64) -> Result<(), E> {
        // serde_json's Value turns a non-finite float into null; the parser never makes one.
        match Number::from_f64(f) {
            Some(_) => put_f64(self.out, f),
            None => self.out.push(NULL),
        }
        Ok(())
    }

    fn visit_str<E>(self, s: &str) -> Result<(), E> {
        self.out.push(STR);
        put_bytes(self.out, s.as_bytes());
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let at = open(self.out, ARR);
        let mut n = 0;
        while seq
            .next_element_seed(Writer { out: &mut *self.out, duplicate: &mut *self.duplicate })?
            .is_some()
        {
            n += 1;
        }
        close(self.out, at, n);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let at = open(self.out, OBJ);
        let mut n = 0;
        // Repeated keys: a linear check over the first members (most objects are small),
        // a set once there are more.
        let mut keys: Vec<(usize, usize)> = Vec::new();
        let mut seen: Option<HashSet<Vec<u8>>> = None;
        loop {
            let start = self.out.len();
            if map.next_key_seed(KeyWriter { out: &mut *self.out })?.is_none() {
                break;
            }
            n += 1;
            if !*self.duplicate {
                let (len, kp) = varint(self.out, start);
                let new = &self.out[kp..kp + len];
                match &mut seen {
                    Some(set) => *self.duplicate = !set.insert(new.to_vec()),
                    None if keys.iter().any(|&(s, e)| &self.out[s..e] == new) => {
                        *self.duplicate = true;
                    }
                    None => {
                        keys.push((kp, kp + len));
                        if keys.len() > 16 {
                            seen =
                                Some(keys.iter().map(|&(s, e)| self.out[s..e].to_vec()).collect());
                        }
                    }
                }
            }
            map.next_value_seed(Writer { out: &mut *self.out, duplicate: &mut *self.duplicate })?;
        }
        close(self.out, at, n);
        Ok(())
    }
}

/// Writes an object key (length and bytes).
struct KeyWriter<'a> {
    out: &'a mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for KeyWriter<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyWriter<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E>(self, s: &str) -> Result<(), E> {
        put_bytes(self.out, s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn round(text: &str) {
        let v: Value = serde_json::from_str(text).unwrap();
        let mut enc = Vec::new();
        encode(&v, &mut enc);
        assert_eq!(skip(&enc, 0), enc.len(), "{text}");
        assert_eq!(decode(&enc, 0), v, "{text}");
        let parsed = parse(text).unwrap().unwrap();
        assert_eq!(parsed, enc, "{text}");
        let mut s = String::new();
        write_compact(&mut s, &enc, 0);
        let mut want = String::new();
        crate::format::write_value(&mut want, &v, &crate::format::Format::default());
        assert_eq!(s, want, "{text}");
    }

    #[test]
    fn values_survive_encoding_parsing_and_printing() {
        for text in [
            "null",
            "true",
            "[false]",
            "0",
            "-1",
            "127",
            "128",
            "-129",
            "40000",
            "-2147483649",
            "9223372036854775807",
            "18446744073709551615",
            "-9223372036854775808",
            "1.0",
            "-0.0",
            "1e300",
            "2.5e-7",
            "\"\"",
            "\"h\\u00e9llo \\\"w\\\"\\n\\t\\u0001 \\ud83d\\ude00\"",
            "[]",
            "{}",
            "[1,[2,[3,{}]],{\"a\":{\"b\":[null]}}]",
            "{\"b\":1,\"a\":2,\"\":3,\"k\\\"ey\":[1.5,\"x\"]}",
        ] {
            round(text);
        }
        let long = format!("\"{}\"", "x".repeat(300));
        round(&long);
        let wide = format!(
            "{{{}}}",
            (0..40).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>().join(",")
        );
        round(&wide);
    }

    #[test]
    fn depth_counts_containers_and_stops_past_the_limit() {
        let depth_of = |text: &str, limit: usize| {
            let v: Value = serde_json::from_str(text).unwrap();
            let mut enc = Vec::new();
            encode(&v, &mut enc);
            depth(&enc, 0, 0, limit)
        };
        assert_eq!(depth_of("1", 64), 0);
        assert_eq!(depth_of("[]", 64), 1);
        assert_eq!(depth_of(r#"{"a":1,"b":{"c":[[],{"d":[2]}]},"e":"x"}"#, 64), 5);
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert_eq!(depth_of(&deep, 200), 100);
        assert_eq!(depth_of(&deep, 10), 11);
    }

    #[test]
    fn repeated_keys_are_left_to_the_tree() {
        assert_eq!(parse("{\"a\":1,\"a\":2}").unwrap(), None);
        let many = format!(
            "{{{},\"k3\":0}}",
            (0..40).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>().join(",")
        );
        assert_eq!(parse(&many).unwrap(), None);
        assert!(parse("{\"a\":{\"b\":1},\"b\":{\"b\":2}}").unwrap().is_some());
    }

    #[test]
    fn navigation_and_splicing_keep_sizes_right() {
        let v: Value = serde_json::from_str(r#"{"a":{"b":[1,"two",{"c":3}]},"d":4}"#).unwrap();
        let mut enc = Vec::new();
        encode(&v, &mut enc);
        let mut doc = enc.into_boxed_slice();
        let a = member(&doc, 0, "a").unwrap();
        let b = member(&doc, a, "b").unwrap();
        let c_obj = element(&doc, b, 2).unwrap();
        let c = member(&doc, c_obj, "c").unwrap();
        assert_eq!(decode(&doc, c), Value::from(3));
        assert!(element(&doc, b, 3).is_none() && member(&doc, a, "x").is_none());
        let mut new = Vec::new();
        encode(&serde_json::json!({"long": "value", "n": 100000}), &mut new);
        splice(&mut doc, &[0, a, b, c_obj], c, &new).unwrap();
        let want: Value = serde_json::from_str(
            r#"{"a":{"b":[1,"two",{"c":{"long":"value","n":100000}}]},"d":4}"#,
        )
        .unwrap();
        assert_eq!(decode(&doc, 0), want);
        assert_eq!(skip(&doc, 0), doc.len());
        let d = member(&doc, 0, "d").unwrap();
        let mut small = Vec::new();
        encode(&Value::from(5), &mut small);
        splice(&mut doc, &[0], d, &small).unwrap();
        assert_eq!(decode(&doc, member(&doc, 0, "d").unwrap()), Value::from(5));
    }
}
