//! `struct`: binary pack/unpack/size with lua-struct's format language, as Redis 7.4 exposes it.
//!
//! Owns: format parsing (`>` `<` `!n` `x` `b B h H l L T iN IN f d s cN c0`, spaces ignored),
//! alignment padding under `!` (computed with the mask arithmetic the reference uses, so odd
//! sizes like `i3` pad the same way), C-style number conversions on x86-64 (truncation, out of
//! range becomes the "integer indefinite" value), and the reference's error texts, including
//! its quirks: `size` ignores unknown options, and a missing pack argument is "got nil".
//!
//! Sizes are those of the 64-bit build: `l`, `L` and `T` are 8 bytes, `i` is 4, and `!` alone
//! means 8-byte maximum alignment.

use mlua::{Lua, MultiValue, Table, Value};

use super::{as_number, float_to_i64, lua_error, type_name, Args};

/// The widest integer lua-struct accepts (`i32` of 32 bytes).
const MAX_INT_SIZE: usize = 32;
/// `!` without a number: the platform's maximum alignment.
const DEFAULT_ALIGN: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Int {
        signed: bool,
    },
    Float,
    Double,
    /// Zero-terminated string.
    Str,
    /// Fixed-length string; length 0 means "whole string" (pack) or "previous value" (unpack).
    Chars,
    Pad,
}

#[derive(Clone, Copy, Debug)]
struct Item {
    kind: Kind,
    size: usize,
    /// Padding before the item, given the running offset.
    align: usize,
    big_endian: bool,
}

/// Why a format could not be read.
enum FormatError {
    /// An unknown option character (an argument error in pack/unpack, ignored by size).
    Unknown(u8),
    /// Errors raised with `luaL_error`.
    Fatal(String),
}

/// Reads the format into items. Padding depends on the running offset, so callers apply it.
fn parse_format(fmt: &[u8]) -> Vec<Result<Item, FormatError>> {
    let mut items = Vec::new();
    let mut big_endian = false;
    let mut max_align = 1usize;
    let mut i = 0;
    while i < fmt.len() {
        let opt = fmt[i];
        i += 1;
        let number = |i: &mut usize| -> Result<Option<usize>, FormatError> {
            if !fmt.get(*i).is_some_and(u8::is_ascii_digit) {
                return Ok(None);
            }
            let mut n: usize = 0;
            while let Some(d) = fmt.get(*i).filter(|c| c.is_ascii_digit()) {
                n = n
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(usize::from(d - b'0')))
                    .filter(|n| *n <= i32::MAX as usize)
                    .ok_or_else(|| FormatError::Fatal("integral size overflow".into()))?;
                *i += 1;
            }
            Ok(Some(n))
        };
        let item = |kind, size| Item { kind, size, align: 0, big_endian };
        let next = match opt {
            b' ' => continue,
            b'>' => {
                big_endian = true;
                continue;
            }
            b'<' => {
                big_endian = false;
                continue;
            }
            b'!' => {
                match number(&mut i) {
                    Ok(n) => {
                        let n = n.unwrap_or(DEFAULT_ALIGN);
                        if !n.is_power_of_two() {
                            items.push(Err(FormatError::Fatal(format!(
                                "alignment {n} is not a power of 2"
                            ))));
                            return items;
                        }
                        max_align = n;
                    }
                    Err(e) => {
                        items.push(Err(e));
                        return items;
                    }
                }
                continue;
            }
            b'x' => Ok(item(Kind::Pad, 1)),
            b'b' | b'B' => Ok(item(Kind::Int { signed: opt == b'b' }, 1)),
            b'h' | b'H' => Ok(item(Kind::Int { signed: opt == b'h' }, 2)),
            b'l' | b'L' => Ok(item(Kind::Int { signed: opt == b'l' }, 8)),
            b'T' => Ok(item(Kind::Int { signed: false }, 8)),
            b'f' => Ok(item(Kind::Float, 4)),
            b'd' => Ok(item(Kind::Double, 8)),
            b's' => Ok(item(Kind::Str, 0)),
            b'i' | b'I' => match number(&mut i) {
                Ok(n) => {
                    let size = n.unwrap_or(4);
                    if size > MAX_INT_SIZE {
                        Err(FormatError::Fatal(format!(
                            "integral size {size} is larger than limit of {MAX_INT_SIZE}"
                        )))
                    } else {
                        Ok(item(Kind::Int { signed: opt == b'i' }, size))
                    }
                }
                Err(e) => Err(e),
            },
            b'c' => number(&mut i).map(|n| item(Kind::Chars, n.unwrap_or(1))),
            other => Err(FormatError::Unknown(other)),
        };
        match next {
            Ok(mut it) => {
                if matches!(it.kind, Kind::Int { .. } | Kind::Float | Kind::Double) {
                    it.align = it.size.min(max_align);
                }
                items.push(Ok(it));
            }
            Err(FormatError::Unknown(c)) => items.push(Err(FormatError::Unknown(c))),
            Err(fatal) => {
                items.push(Err(fatal));
                return items;
            }
        }
    }
    items
}

/// Padding before an item at `offset`, with the reference's mask arithmetic (which it also
/// applies to alignments that are not powers of two, e.g. `i3`).
fn padding(align: usize, offset: usize) -> usize {
    if align <= 1 {
        return 0;
    }
    let mask = align - 1;
    align.wrapping_sub(offset & mask) & mask
}

pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("pack", lua.create_function(pack)?)?;
    t.set("unpack", lua.create_function(unpack)?)?;
    t.set("size", lua.create_function(size)?)?;
    Ok(t)
}

/// A format's items, with unknown options turned into the pack/unpack argument error.
fn strict_items(args: &Args, fmt: &[u8]) -> mlua::Result<Vec<Item>> {
    parse_format(fmt)
        .into_iter()
        .map(|item| match item {
            Ok(item) => Ok(item),
            Err(FormatError::Unknown(c)) => {
                Err(args.error(1, format!("invalid format option '{}'", char::from(c))))
            }
            Err(FormatError::Fatal(msg)) => Err(lua_error(args.lua, msg)),
        })
        .collect()
}

/// C's `(unsigned long long)` / `(long long)` conversion of a double as x86-64 code does it:
/// both directions agree on the low bits, and out-of-range or NaN inputs give the values the
/// reference produced (0 above 2^64, i64::MIN below -2^63).
fn integer_bits(n: f64) -> u64 {
    if n < 0.0 {
        float_to_i64(n) as u64
    } else if n < 18_446_744_073_709_551_616.0 {
        n as u64
    } else {
        0
    }
}

fn pack(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::LuaString> {
    let args = Args::new(lua, args);
    let fmt = args.bytes(1)?;
    let items = strict_items(&args, &fmt)?;
    let mut out: Vec<u8> = Vec::new();
    let mut arg = 2;
    // lua-struct reads missing arguments as nil (never "no value").
    let number = |n: usize| -> mlua::Result<f64> {
        let v = args.get(n);
        match as_number(&v) {
            Some(x) => Ok(x),
            None => match &v {
                Value::String(_) => lua
                    .coerce_number(v.clone())?
                    .ok_or_else(|| args.error(n, "number expected, got string")),
                other => Err(args.error(n, format!("number expected, got {}", type_name(other)))),
            },
        }
    };
    let string = |n: usize| -> mlua::Result<Vec<u8>> {
        match args.get(n) {
            Value::Nil => Err(args.error(n, "string expected, got nil")),
            _ => args.bytes(n),
        }
    };
    for item in items {
        out.resize(out.len() + padding(item.align, out.len()), 0);
        match item.kind {
            Kind::Pad => out.push(0),
            Kind::Int { .. } => {
                let bits = integer_bits(number(arg)?);
                arg += 1;
                let low = item.size.min(8);
                let zeros = item.size - low;
                if item.big_endian {
                    out.resize(out.len() + zeros, 0);
                    out.extend_from_slice(&bits.to_be_bytes()[8 - low..]);
                } else {
                    out.extend_from_slice(&bits.to_le_bytes()[..low]);
                    out.resize(out.len() + zeros, 0);
                }
            }
            Kind::Float => {
                let x = number(arg)? as f32;
                arg += 1;
                out.extend_from_slice(&if item.big_endian {
                    x.to_be_bytes()
                } else {
                    x.to_le_bytes()
                });
            }
            Kind::Double => {
                let x = number(arg)?;
                arg += 1;
                out.extend_from_slice(&if item.big_endian {
                    x.to_be_bytes()
                } else {
                    x.to_le_bytes()
                });
            }
            Kind::Str => {
                let s = string(arg)?;
                arg += 1;
                out.extend_from_slice(&s);
                out.push(0);
            }
            Kind::Chars => {
                let s = string(arg)?;
                let n = if item.size == 0 { s.len() } else { item.size };
                if s.len() < n {
                    // The reference names the argument after the string.
                    return Err(args.error(arg + 1, "string too short"));
                }
                arg += 1;
                out.extend_from_slice(&s[..n]);
            }
        }
    }
    lua.create_string(&out)
}

fn unpack(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args = Args::new(lua, args);
    let fmt = args.bytes(1)?;
    let data = args.bytes(2)?;
    let init = args.opt_integer(3, 1)?;
    if init == 0 {
        return Err(args.error(3, "offset must be 1 or greater"));
    }
    let items = strict_items(&args, &fmt)?;
    // A negative start can never be read from (the C code's size_t wraps around).
    let mut pos: i64 = init - 1;
    let too_short = || args.error(2, "data string too short");
    let mut values: Vec<Value> = Vec::new();
    for item in items {
        if pos >= 0 {
            pos += padding(item.align, pos as usize) as i64;
        }
        let take = |pos: i64, n: usize| -> mlua::Result<&[u8]> {
            let start = usize::try_from(pos).map_err(|_| too_short())?;
            let end = start.checked_add(n).ok_or_else(too_short)?;
            data.get(start..end).ok_or_else(too_short)
        };
        match item.kind {
            Kind::Pad => {
                take(pos, 1)?;
                pos += 1;
            }
            Kind::Int { signed } => {
                let bytes = take(pos, item.size)?;
                let fold = |acc: u64, b: &u8| (acc << 8) | u64::from(*b);
                let raw = if item.big_endian {
                    bytes.iter().fold(0u64, fold)
                } else {
                    bytes.iter().rev().fold(0u64, fold)
                };
                let value = if !signed {
                    raw as f64
                } else if item.size >= 8 {
                    raw as i64 as f64
                } else if item.size == 0 {
                    0.0
                } else {
                    let unused = 64 - 8 * item.size as u32;
                    ((raw << unused) as i64 >> unused) as f64
                };
                values.push(Value::Number(value));
                pos += item.size as i64;
            }
            Kind::Float => {
                let bytes = take(pos, 4)?;
                let mut b = [0u8; 4];
                b.copy_from_slice(bytes);
                let x = if item.big_endian { f32::from_be_bytes(b) } else { f32::from_le_bytes(b) };
                values.push(Value::Number(f64::from(x)));
                pos += 4;
            }
            Kind::Double => {
                let bytes = take(pos, 8)?;
                let mut b = [0u8; 8];
                b.copy_from_slice(bytes);
                let x = if item.big_endian { f64::from_be_bytes(b) } else { f64::from_le_bytes(b) };
                values.push(Value::Number(x));
                pos += 8;
            }
            Kind::Str => {
                let rest = take(pos, 0)?;
                let rest = data.get(pos as usize..).unwrap_or(rest);
                let Some(nul) = rest.iter().position(|b| *b == 0) else {
                    return Err(lua_error(lua, "unfinished string in data"));
                };
                values.push(Value::String(lua.create_string(&rest[..nul])?));
                pos += nul as i64 + 1;
            }
            Kind::Chars => {
                let mut n = item.size;
                if n == 0 {
                    n = match values.last().and_then(as_number) {
                        Some(prev) => {
                            values.pop();
                            usize::try_from(float_to_i64(prev)).unwrap_or(usize::MAX)
                        }
                        None => return Err(lua_error(lua, "format 'c0' needs a previous size")),
                    };
                }
                let bytes = take(pos, n)?;
                values.push(Value::String(lua.create_string(bytes)?));
                pos += n as i64;
            }
        }
    }
    values.push(Value::Number((pos + 1) as f64));
    Ok(MultiValue::from_iter(values))
}

fn size(lua: &Lua, args: MultiValue) -> mlua::Result<f64> {
    let args = Args::new(lua, args);
    let fmt = args.bytes(1)?;
    let mut total = 0usize;
    for item in parse_format(&fmt) {
        let item = match item {
            Ok(item) => item,
            // The reference counts unknown options as zero bytes here.
            Err(FormatError::Unknown(_)) => continue,
            Err(FormatError::Fatal(msg)) => return Err(lua_error(lua, msg)),
        };
        match item.kind {
            Kind::Str => return Err(args.error(1, "option 's' has no fixed size")),
            Kind::Chars if item.size == 0 => {
                return Err(args.error(1, "option 'c0' has no fixed size"))
            }
            _ => {}
        }
        total += padding(item.align, total) + item.size;
    }
    Ok(total as f64)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{eval, eval_err};

    // Expected values recorded from the reference Redis 7.4 with
    // `rcli 16379 eval "return struct.pack(...)" 0 | od -An -tx1` and similar probes.

    fn pack_hex(args: &str) -> String {
        eval(&format!(
            "return (struct.pack({args}):gsub('.', function(c) \
             return string.format('%02x', c:byte()) end))"
        ))
    }

    fn list(code: &str) -> String {
        eval(&format!(
            "local r = {{{code}}} for i = 1, #r do r[i] = tostring(r[i]) end \
             return table.concat(r, ',')"
        ))
    }

    #[test]
    fn pack_integers_floats_and_strings() {
        let cases = [
            ("'>i', 1", "00000001"),
            ("'<i', 1", "01000000"),
            ("'i', -2", "feffffff"),
            ("'>h', 65537", "0001"),
            ("'B', 256", "00"),
            ("'>l', 1", "0000000000000001"),
            ("'>L', -1", "ffffffffffffffff"),
            ("'>i3', 0x010203", "010203"),
            ("'<i3', -2", "feffff"),
            ("'>i16', -1", "0000000000000000ffffffffffffffff"),
            ("'<i16', -1", "ffffffffffffffff0000000000000000"),
            ("'>f', 1.5", "3fc00000"),
            ("'<d', 1.5", "000000000000f83f"),
            ("'s', 'a\\0b'", "61006200"),
            ("'c3', 'abcdef'", "616263"),
            ("'c0', 'abc'", "616263"),
            ("'>i', 1.7", "00000001"),
            ("'>i', -1.7", "ffffffff"),
            ("'>i', '12'", "0000000c"),
            ("'>i', 1e20", "00000000"),
            ("'>L', 2^64", "0000000000000000"),
            ("'>I8', 2^63+4096", "8000000000001000"),
            ("'>i0 b', 1, 2", "02"),
            ("'b x b', 1, 2", "010002"),
        ];
        for (args, want) in cases {
            assert_eq!(pack_hex(args), want, "struct.pack({args})");
        }
    }

    #[test]
    fn alignment_pads_numbers_but_not_strings() {
        assert_eq!(pack_hex("'>!4 b i', 1, 2"), "0100000000000002");
        assert_eq!(pack_hex("'!4 b c2 i', 1, 'ab', 3"), "0161620003000000");
        assert_eq!(pack_hex("'!4 b x i', 1, 3"), "0100000003000000");
        assert_eq!(pack_hex("'>!b h', 1, 2"), "01000002");
        assert_eq!(
            list(
                "struct.size('>!4 b i d'), struct.size('b x h'), struct.size('c5 i3'), \
                 struct.size('!8 b d'), struct.size('!4 b i3'), struct.size('!8 bbb i6'), \
                 struct.size('!8 bbbb i7'), struct.size('y'), struct.size('b y i')"
            ),
            "16,4,8,16,6,14,13,0,5"
        );
    }

    #[test]
    fn unpack_values_then_next_position() {
        assert_eq!(list("struct.unpack('<i', '\\255\\255\\255\\255')"), "-1,5");
        assert_eq!(list("struct.unpack('<I', '\\255\\255\\255\\255')"), "4294967295,5");
        assert_eq!(list("struct.unpack('>b B', '\\255\\255')"), "-1,255,3");
        assert_eq!(list("struct.unpack('>h H', '\\255\\254\\255\\254')"), "-2,65534,5");
        assert_eq!(list("struct.unpack('>s', 'abc\\0de')"), "abc,5");
        assert_eq!(list("struct.unpack('>b c0', '\\3abcd')"), "abc,5");
        assert_eq!(list("struct.unpack('>i', '\\0\\0\\0\\1\\0\\0\\0\\2', 5)"), "2,9");
        assert_eq!(list("struct.unpack('>I16', string.rep('\\255', 16))"), "1.844674407371e+19,17");
        assert_eq!(list("struct.unpack('>i16', string.rep('\\255', 16))"), "-1,17");
        assert_eq!(list("struct.unpack('>i9', '\\1\\0\\0\\0\\0\\0\\0\\0\\1')"), "1,10");
        assert_eq!(list("struct.unpack('!4 b i', '\\1\\0\\0\\0\\0\\0\\0\\2')"), "1,33554432,9");
        assert_eq!(list("struct.unpack('bc0', '\\0ab')"), ",2");
        assert_eq!(list("struct.unpack('', 'ab', -1)"), "-1");
    }

    #[test]
    fn error_texts_match_lua_struct() {
        let cases = [
            ("struct.pack('>i', 'x')", "bad argument #2 to 'pack' (number expected, got string)"),
            ("struct.pack('>i')", "bad argument #2 to 'pack' (number expected, got nil)"),
            ("struct.pack('y', 1)", "bad argument #1 to 'pack' (invalid format option 'y')"),
            ("struct.pack('=i', 1)", "bad argument #1 to 'pack' (invalid format option '=')"),
            ("struct.pack('>i33', 1)", "integral size 33 is larger than limit of 32"),
            ("struct.pack('>!3 b i', 1, 2)", "alignment 3 is not a power of 2"),
            ("struct.pack('>i99999999999999', 1)", "integral size overflow"),
            ("struct.pack('c5', 'ab')", "bad argument #3 to 'pack' (string too short)"),
            ("struct.pack('c3')", "bad argument #2 to 'pack' (string expected, got nil)"),
            (
                "struct.unpack('>i', '\\0\\0\\1')",
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            ("struct.unpack('>s', 'abc')", "unfinished string in data"),
            ("struct.unpack('>c0', 'abcd')", "format 'c0' needs a previous size"),
            (
                "struct.unpack('>i', '\\0\\0\\0\\1', 0)",
                "bad argument #3 to 'unpack' (offset must be 1 or greater)",
            ),
            (
                "struct.unpack('>i', '\\0\\0\\0\\1', -1)",
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            ("struct.unpack('i')", "bad argument #2 to 'unpack' (string expected, got no value)"),
            ("struct.size('s')", "bad argument #1 to 'size' (option 's' has no fixed size)"),
            ("struct.size('c0')", "bad argument #1 to 'size' (option 'c0' has no fixed size)"),
            ("struct.size()", "bad argument #1 to 'size' (string expected, got no value)"),
        ];
        for (code, want) in cases {
            assert_eq!(
                eval_err(&format!("return {code}")),
                format!("user_script:1: {want}"),
                "{code}"
            );
        }
    }
}
