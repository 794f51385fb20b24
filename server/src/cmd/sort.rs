//! SORT and SORT_RO over lists, sets and sorted sets, with BY (key or hash-field
//! patterns, `nosort`), LIMIT, GET (`#`, keys, hash fields), ASC/DESC, ALPHA and STORE.
//!
//! Routing: Redis flags SORT `write` because of STORE, and the command table derives
//! routing from the flags (`Exec::Write` if and only if `Flags::WRITE`; a registry test
//! holds that), with no per-invocation choice. So SORT always goes through the log, as in
//! Redis where it is always propagated as a write, and SORT_RO is the read-only form that
//! runs on the local keyspace. Sorting in apply is deterministic: it reads only the
//! keyspace and the entry's clock, and sorts with a total order (ties keep the input
//! order, which is itself deterministic for every type).
//!
//! Comparison follows Redis: numeric sorts compare doubles and break ties by comparing the
//! elements as bytes; ALPHA compares bytes (Redis uses strcoll, which is byte order in the
//! C locale); a missing BY value sorts as 0 (numeric) or before any present value (ALPHA).

use bytes::Bytes;

use crate::cmd::args::parse_f64;
use crate::cmd::set::purge_expired;
use crate::cmd::spec::{
    read, write, BeginSearch, CmdResult, CommandSpec, FindKeys, Flags, Group, KeyFlags, KeySpec,
    Parse, ReadCommand, WriteCommand,
};
use crate::cmd::{ApplyCtx, Args, ReadCtx};
use crate::error::CmdError;
use crate::keyspace::{Db, Value};
use crate::reply::Reply;
use crate::types::list::List;

const SORTED_KEY: KeySpec = KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS));

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "sort",
        group: Group::Generic,
        summary: "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.",
        since: "1.0.0",
        complexity: "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).",
        arity: -2,
        flags: Flags::WRITE.with(Flags::DENYOOM).with(Flags::MOVABLE_KEYS),
        acl: &["set", "sortedset", "list", "dangerous"],
        // STORE's key is found by its keyword, searching from the end (the last STORE
        // wins, as in Redis); BY/GET keys come from the data and cannot be declared.
        keys: &[
            SORTED_KEY,
            KeySpec {
                begin: BeginSearch::Keyword { keyword: "STORE", start: -2 },
                find: FindKeys::Range { last: 0, step: 1, limit: 0 },
                flags: KeyFlags::OW.with(KeyFlags::UPDATE),
            },
        ],
        exec: write::<Sort<false>>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "sort_ro",
        group: Group::Generic,
        summary: "Returns the sorted elements of a list, a set, or a sorted set.",
        since: "7.0.0",
        complexity: "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).",
        arity: -2,
        flags: Flags::READONLY.with(Flags::MOVABLE_KEYS),
        acl: &["set", "sortedset", "list", "dangerous"],
        keys: &[SORTED_KEY],
        exec: read::<Sort<true>>(),
        ..CommandSpec::DEFAULT
    },
];

/// `SORT key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]]
/// [ASC | DESC] [ALPHA] [STORE destination]`; `SORT_RO` (`RO = true`) has no STORE.
struct Sort<const RO: bool> {
    key: Bytes,
    by: Option<Bytes>,
    /// A BY pattern without `*` was given: keep the native order. Sticky, as in Redis.
    dontsort: bool,
    limit: Option<(i64, i64)>,
    gets: Vec<Bytes>,
    desc: bool,
    alpha: bool,
    store: Option<Bytes>,
}

impl<const RO: bool> Parse for Sort<RO> {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let mut sort = Sort {
            key: args.next_bytes()?,
            by: None,
            dontsort: false,
            limit: None,
            gets: Vec::new(),
            desc: false,
            alpha: false,
            store: None,
        };
        while !args.is_empty() {
            let left = args.remaining() - 1;
            if args.eat("ASC") {
                sort.desc = false;
            } else if args.eat("DESC") {
                sort.desc = true;
            } else if args.eat("ALPHA") {
                sort.alpha = true;
            } else if left >= 2 && args.eat("LIMIT") {
                sort.limit = Some((args.next_i64()?, args.next_i64()?));
            } else if !RO && left >= 1 && args.eat("STORE") {
                sort.store = Some(args.next_bytes()?);
            } else if left >= 1 && args.eat("BY") {
                let pattern = args.next_bytes()?;
                if !pattern.contains(&b'*') {
                    sort.dontsort = true;
                }
                sort.by = Some(pattern);
            } else if left >= 1 && args.eat("GET") {
                sort.gets.push(args.next_bytes()?);
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(sort)
    }
}

impl<const RO: bool> ReadCommand for Sort<RO> {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let rows = self.rows(cx.db(), cx.now_ms, cx.in_script)?;
        Ok(Reply::Array(rows.into_iter().map(|r| r.map_or(Reply::Null, Reply::Bulk)).collect()))
    }
}

impl<const RO: bool> WriteCommand for Sort<RO> {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let (now_ms, in_script) = (cx.now_ms, cx.in_script);
        let mut db = cx.db();
        purge_expired(&mut db, [&self.key].into_iter().chain(self.store.as_ref()), now_ms);
        let rows = self.rows(db.read(), now_ms, in_script)?;
        let Some(dst) = self.store else {
            return Ok(Reply::Array(
                rows.into_iter().map(|r| r.map_or(Reply::Null, Reply::Bulk)).collect(),
            ));
        };
        let len = rows.len();
        if rows.is_empty() {
            db.remove(&dst, now_ms, "del");
        } else {
            // A missing GET value is stored as an empty string, as Redis does.
            let list: List = rows.into_iter().map(Option::unwrap_or_default).collect();
            db.set(dst, Value::List(list), None, "sortstore");
        }
        Ok(Reply::Int(len as i64))
    }
}

/// An element with what it is compared by.
struct Item<'a> {
    element: &'a [u8],
    score: f64,
    by: Option<Bytes>,
}

impl<const RO: bool> Sort<RO> {
    /// The reply rows: one per element, or one per GET pattern per element.
    fn rows(&self, db: &Db, now_ms: u64, in_script: bool) -> Result<Vec<Option<Bytes>>, CmdError> {
        let (mut elements, ordered): (Vec<&[u8]>, bool) = match db.get(&self.key, now_ms) {
            None => (Vec::new(), true),
            Some(Value::List(l)) => (l.iter().collect(), true),
            Some(Value::ZSet(z)) => (z.iter().map(|(_, m)| m).collect(), true),
            Some(Value::Set(s)) => (s.iter().collect(), false),
            Some(_) => return Err(CmdError::WrongType),
        };
        let (mut dontsort, mut alpha, mut by) = (self.dontsort, self.alpha, self.by.as_ref());
        if dontsort && !ordered && (self.store.is_some() || in_script) {
            // A set has no meaningful native order: Redis sorts what it stores, and what
            // it hands a script, so the result does not depend on the set's history.
            (dontsort, alpha, by) = (false, true, None);
        }
        if dontsort {
            if ordered && self.desc {
                elements.reverse();
            }
        } else {
            let mut items = Vec::with_capacity(elements.len());
            for element in elements {
                let by_value = by.and_then(|p| lookup(db, now_ms, p, element));
                let score = if alpha {
                    0.0
                } else {
                    match (by, &by_value) {
                        (Some(_), None) => 0.0,
                        (Some(_), Some(v)) => parse_score(v)?,
                        (None, _) => parse_score(element)?,
                    }
                };
                items.push(Item { element, score, by: by_value });
            }
            let by_pattern = by.is_some();
            items.sort_by(|a, b| {
                let ord = if !alpha {
                    a.score
                        .partial_cmp(&b.score)
                        .unwrap_or(std::cmp::Ordering::Equal)
                        .then_with(|| a.element.cmp(b.element))
                } else if by_pattern {
                    a.by.cmp(&b.by)
                } else {
                    a.element.cmp(b.element)
                };
                if self.desc {
                    ord.reverse()
                } else {
                    ord
                }
            });
            elements = items.into_iter().map(|i| i.element).collect();
        }
        let (start, end) = limit_range(self.limit, elements.len());
        let chosen = elements.get(start..end).unwrap_or_default();
        if self.gets.is_empty() {
            return Ok(chosen.iter().map(|e| Some(Bytes::copy_from_slice(e))).collect());
        }
        let mut rows = Vec::with_capacity(chosen.len() * self.gets.len());
        for e in chosen {
            for pattern in &self.gets {
                rows.push(lookup(db, now_ms, pattern, e));
            }
        }
        Ok(rows)
    }
}

/// LIMIT as Redis applies it: a negative offset is 0, a negative count means "all".
/// Returns the half-open range of positions to output.
fn limit_range(limit: Option<(i64, i64)>, len: usize) -> (usize, usize) {
    let Some((offset, count)) = limit else { return (0, len) };
    let start = usize::try_from(offset.max(0)).unwrap_or(usize::MAX).min(len);
    let end = match usize::try_from(count) {
        Err(_) => len,
        Ok(count) => start.saturating_add(count).min(len),
    };
    (start, end)
}

/// An element or BY value as a double, as C `strtod` reads it for Redis's SORT: the
/// text ends at the first NUL byte, an empty text is 0, leading whitespace is skipped
/// (but whitespace alone fails), hexadecimal is accepted, and the rest must be consumed;
/// NaN, overflow and underflow (a nonzero mantissa giving zero or a subnormal) fail.
pub(crate) fn parse_score(v: &[u8]) -> Result<f64, CmdError> {
    parse_strtod(v, false)
}

/// `strtod` with Redis's range checks: overflow is refused; underflow is refused when the
/// result is zero, and also when it is subnormal unless `subnormal_ok` (ZADD keeps
/// subnormal scores, SORT refuses them).
pub(crate) fn parse_strtod(v: &[u8], subnormal_ok: bool) -> Result<f64, CmdError> {
    let v = v.split(|&b| b == 0).next().unwrap_or_default();
    if v.is_empty() {
        return Ok(0.0);
    }
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
    let trimmed = v.iter().position(|b| !is_space(b)).map_or(&v[v.len()..], |i| &v[i..]);
    let value =
        parse_hex_f64(trimmed).or_else(|| parse_f64(trimmed)).ok_or(CmdError::SortNotDouble)?;
    let lower = trimmed.to_ascii_lowercase();
    let hex = lower.windows(2).any(|w| w == b"0x");
    let mantissa_end =
        lower.iter().position(|&b| if hex { b == b'p' } else { b == b'e' }).unwrap_or(lower.len());
    let nonzero_mantissa = lower[..mantissa_end].iter().any(|&b| match b {
        b'1'..=b'9' => true,
        b'a'..=b'f' => hex,
        _ => false,
    });
    let overflow = value.is_infinite() && !lower.windows(3).any(|w| w == b"inf");
    let underflow = nonzero_mantissa
        && value.is_finite()
        && (value == 0.0 || (!subnormal_ok && value.abs() < f64::MIN_POSITIVE));
    if overflow || underflow {
        return Err(CmdError::SortNotDouble);
    }
    Ok(value)
}

/// C99 hexadecimal floating point (`[+-]0x<hex>[.<hex>][p[+-]<dec>]`), as `strtod`
/// accepts it; `None` when `s` is not entirely such a number.
fn parse_hex_f64(s: &[u8]) -> Option<f64> {
    let (negative, rest) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let rest = rest.strip_prefix(b"0x").or_else(|| rest.strip_prefix(b"0X"))?;
    let (mantissa, exponent) = match rest.iter().position(|&b| b == b'p' || b == b'P') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (int_part, frac_part) = match mantissa.iter().position(|&b| b == b'.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, &mantissa[mantissa.len()..]),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut value = 0.0f64;
    for &b in int_part {
        value = value * 16.0 + f64::from(char::from(b).to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for &b in frac_part {
        value += f64::from(char::from(b).to_digit(16)?) * scale;
        scale /= 16.0;
    }
    if let Some(exp) = exponent {
        let exp: i32 = std::str::from_utf8(exp).ok()?.parse().ok()?;
        value *= 2f64.powi(exp);
    }
    Some(if negative { -value } else { value })
}

/// Resolves a BY/GET pattern for `element`: `#` is the element itself; otherwise the
/// first `*` is replaced by the element, and a `->field` suffix after it reads a hash
/// field instead of a string. A pattern without `*`, a missing key or a key of another
/// type gives `None`.
fn lookup(db: &Db, now_ms: u64, pattern: &[u8], element: &[u8]) -> Option<Bytes> {
    if pattern == b"#" {
        return Some(Bytes::copy_from_slice(element));
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let arrow = pattern[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| star + 1 + i)
        .filter(|&i| i + 2 < pattern.len());
    let (key_pattern, field) = match arrow {
        Some(i) => (&pattern[..i], Some(&pattern[i + 2..])),
        None => (pattern, None),
    };
    let mut key = Vec::with_capacity(key_pattern.len() + element.len());
    key.extend_from_slice(&key_pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(&key_pattern[star + 1..]);
    match (db.get(&key, now_ms)?, field) {
        (Value::Str(s), None) => Some(s.to_bytes()),
        (Value::Hash(h), Some(f)) => h.get_live(f, now_ms).map(Bytes::copy_from_slice),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::Keyspace;
    use crate::types::hash::Hash;
    use crate::types::set::Set;

    const NOW: u64 = 1_000;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.to_string())
    }

    fn sort(ks: &Keyspace, args: &[&str]) -> Result<Vec<Option<String>>, CmdError> {
        let argv: Vec<Bytes> = args.iter().map(|a| b(a)).collect();
        let cmd = Sort::<false>::parse(&mut Args::new(&argv))?;
        let rows = cmd.rows(ks.db(0), NOW, false)?;
        Ok(rows.into_iter().map(|r| r.map(|v| String::from_utf8_lossy(&v).into_owned())).collect())
    }

    fn strs(v: &[&str]) -> Vec<Option<String>> {
        v.iter().map(|s| Some(s.to_string())).collect()
    }

    fn put(ks: &mut Keyspace, key: &str, value: Value) {
        ks.db_mut(0).set(b(key), value, None, "set");
    }

    #[test]
    fn numeric_alpha_desc_and_limit() {
        let mut ks = Keyspace::new(1);
        let list: List = ["3", "10", "2", "1.5"].into_iter().map(b).collect();
        put(&mut ks, "l", Value::List(list));
        assert_eq!(sort(&ks, &["l"]).unwrap(), strs(&["1.5", "2", "3", "10"]));
        assert_eq!(sort(&ks, &["l", "ALPHA"]).unwrap(), strs(&["1.5", "10", "2", "3"]));
        assert_eq!(sort(&ks, &["l", "DESC", "LIMIT", "1", "2"]).unwrap(), strs(&["3", "2"]));
        assert_eq!(sort(&ks, &["l", "LIMIT", "-5", "-1"]).unwrap().len(), 4);
        assert_eq!(sort(&ks, &["l", "LIMIT", "9", "1"]).unwrap(), strs(&[]));
        assert_eq!(
            sort(&ks, &["l", "BY", "nosort", "DESC"]).unwrap(),
            strs(&["1.5", "2", "10", "3"])
        );
        assert_eq!(sort(&ks, &["l", "LIMIT", "2", "9223372036854775807"]).unwrap().len(), 2);
    }

    #[test]
    fn by_and_get_patterns_read_strings_and_hash_fields() {
        let mut ks = Keyspace::new(1);
        let set = Set::from_members(["a", "b", "c"].into_iter().map(b));
        put(&mut ks, "s", Value::Set(set));
        put(&mut ks, "w_a", Value::Str(b("3").into()));
        put(&mut ks, "w_b", Value::Str(b("1").into()));
        let mut h = Hash::new();
        h.insert(b"f", b"hc");
        put(&mut ks, "h_c", Value::Hash(h));
        // Missing BY values sort as 0, ties broken by the element.
        assert_eq!(sort(&ks, &["s", "BY", "w_*"]).unwrap(), strs(&["c", "b", "a"]));
        assert_eq!(
            sort(&ks, &["s", "BY", "w_*", "GET", "#", "GET", "h_*->f"]).unwrap(),
            vec![
                Some("c".into()),
                Some("hc".into()),
                Some("b".into()),
                None,
                Some("a".into()),
                None
            ]
        );
        assert_eq!(sort(&ks, &["s", "ALPHA", "GET", "const"]).unwrap(), vec![None, None, None]);
        assert_eq!(sort(&ks, &["s", "BY", "w_*", "ALPHA"]).unwrap(), strs(&["c", "b", "a"]));
    }

    #[test]
    fn errors_follow_redis() {
        let mut ks = Keyspace::new(1);
        let set = Set::from_members(["1", "x"].into_iter().map(b));
        put(&mut ks, "s", Value::Set(set));
        put(&mut ks, "str", Value::Str(b("v").into()));
        assert_eq!(sort(&ks, &["s"]), Err(CmdError::SortNotDouble));
        assert_eq!(sort(&ks, &["str"]), Err(CmdError::WrongType));
        assert_eq!(sort(&ks, &["s", "LIMIT", "1"]), Err(CmdError::Syntax));
        assert_eq!(sort(&ks, &["s", "LIMIT", "a", "1"]), Err(CmdError::NotAnInteger));
        assert_eq!(sort(&ks, &["nosuch"]), Ok(vec![]));
        let argv = [b("k"), b("STORE"), b("d")];
        assert!(Sort::<true>::parse(&mut Args::new(&argv)).is_err());
    }

    #[test]
    fn scores_are_read_as_strtod_reads_them() {
        for (text, want) in [
            ("", Some(0.0)),
            (" 1", Some(1.0)),
            ("0x10", Some(16.0)),
            ("-0x1p3", Some(-8.0)),
            ("0X1A", Some(26.0)),
            ("infinity", Some(f64::INFINITY)),
            (" -inf", Some(f64::NEG_INFINITY)),
            ("1\0junk", Some(1.0)),
            ("  ", None),
            ("1 ", None),
            ("1e400", None),
            ("1e-400", None),
            ("1e-310", None),
            ("nan", None),
            ("0x", None),
        ] {
            assert_eq!(parse_score(text.as_bytes()).ok(), want, "{text:?}");
        }
    }

    #[test]
    fn store_sorts_a_set_even_by_nosort() {
        let mut ks = Keyspace::new(1);
        let set = Set::from_members(["b", "c", "a"].into_iter().map(b));
        put(&mut ks, "s", Value::Set(set));
        assert_eq!(sort(&ks, &["s", "BY", "x", "STORE", "d"]).unwrap(), strs(&["a", "b", "c"]));
        assert_eq!(sort(&ks, &["s", "BY", "x"]).unwrap(), strs(&["b", "c", "a"]));
    }

    #[test]
    fn an_arrow_at_the_end_is_part_of_the_key() {
        let mut ks = Keyspace::new(1);
        put(&mut ks, "x:a->", Value::Str(b("100").into()));
        assert_eq!(lookup(ks.db(0), NOW, b"x:*->", b"a"), Some(b("100")));
        assert_eq!(lookup(ks.db(0), NOW, b"#", b"a"), Some(b("a")));
    }
}
