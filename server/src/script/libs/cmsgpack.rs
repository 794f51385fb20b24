//! `cmsgpack`: MessagePack pack/unpack with the byte-exact choices of lua-cmsgpack 0.4.0 as built
//! into Redis 7.4.
//!
//! Owns: the Lua -> MessagePack type mapping (integral numbers use the smallest int/uint form,
//! other numbers float32 when that is exact, else float64; tables are arrays when their keys are
//! exactly 1..n, else maps; strings use fixstr/str8/str16/str32; anything else is nil), the
//! 16-level nesting cap (deeper tables pack as nil, which also ends cycles), and the decoder with
//! its offset/limit entry points. bin/ext types are refused on input, as the reference does.

use mlua::{Lua, MultiValue, Table, Value};

use super::{as_number, float_to_i64, lua_error, raw_error, Args};

/// Tables nested deeper than this pack as nil.
const MAX_NESTING: usize = 16;

pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("_NAME", "cmsgpack")?;
    t.set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    t.set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                return Err(super::arg_error(lua, 0, "MessagePack pack needs input."));
            }
            let mut out = Vec::new();
            for value in &args {
                pack_value(value, 0, &mut out)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(|lua, args: MultiValue| {
            let args = Args::new(lua, args);
            let data = args.bytes(1)?;
            let (_, values) = unpack_from(lua, &data, 0, 0)?;
            Ok(MultiValue::from_iter(values))
        })?,
    )?;
    t.set(
        "unpack_one",
        lua.create_function(|lua, args: MultiValue| {
            let args = Args::new(lua, args);
            let data = args.bytes(1)?;
            let offset = args.opt_integer(2, 0)?;
            unpack_with_offset(lua, &data, 1, offset)
        })?,
    )?;
    t.set(
        "unpack_limit",
        lua.create_function(|lua, args: MultiValue| {
            let args = Args::new(lua, args);
            let data = args.bytes(1)?;
            let limit = args.integer(2)?;
            let offset = args.opt_integer(3, 0)?;
            unpack_with_offset(lua, &data, limit, offset)
        })?,
    )?;
    Ok(t)
}

/// `unpack_one` / `unpack_limit`: the next offset (-1 once the input is used up), then the values.
fn unpack_with_offset(lua: &Lua, data: &[u8], limit: i64, offset: i64) -> mlua::Result<MultiValue> {
    let len = data.len() as i64;
    if offset < 0 || limit < 0 {
        return Err(lua_error(
            lua,
            format!("Invalid request to unpack with offset of {offset} and limit of {len}."),
        ));
    }
    if offset > len {
        return Err(lua_error(
            lua,
            format!("Start offset {offset} greater than input length {len}."),
        ));
    }
    let (next, values) = unpack_from(lua, data, offset as usize, limit as usize)?;
    let next = if next >= data.len() { -1 } else { next as i64 };
    let mut out = vec![Value::Number(next as f64)];
    out.extend(values);
    Ok(MultiValue::from_iter(out))
}

/// Decodes up to `limit` objects (0 = all) from `start`; returns where decoding stopped.
fn unpack_from(
    lua: &Lua,
    data: &[u8],
    start: usize,
    limit: usize,
) -> mlua::Result<(usize, Vec<Value>)> {
    let mut reader = Reader { data, pos: start };
    let mut values = Vec::new();
    while reader.pos < data.len() && (limit == 0 || values.len() < limit) {
        match reader.value(lua) {
            Ok(v) => values.push(v),
            Err(Fail::Missing) => return Err(lua_error(lua, "Missing bytes in input.")),
            Err(Fail::Bad) => return Err(lua_error(lua, "Bad data format in input.")),
            Err(Fail::Lua(e)) => return Err(e),
        }
    }
    Ok((reader.pos, values))
}

fn pack_value(value: &Value, level: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    match value {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(_) | Value::Number(_) => pack_number(as_number(value).unwrap_or(0.0), out),
        Value::String(s) => {
            let bytes = s.as_bytes();
            let len = bytes.len();
            if len < 32 {
                out.push(0xa0 | len as u8);
            } else if len <= 0xff {
                out.extend_from_slice(&[0xd9, len as u8]);
            } else if len <= 0xffff {
                out.push(0xda);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            }
            out.extend_from_slice(&bytes);
        }
        Value::Table(t) if level < MAX_NESTING => pack_table(t, level + 1, out)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

fn pack_number(n: f64, out: &mut Vec<u8>) {
    // Integral values that fit an i64 (the C code's round-trip test) use integer forms; 2^63
    // and above fail it and fall through to floats.
    let integral = float_to_i64(n) as f64 == n && n < super::TWO_POW_63;
    if integral {
        let i = n as i64;
        if i >= 0 {
            let u = i as u64;
            if u < 128 {
                out.push(u as u8);
            } else if u <= 0xff {
                out.extend_from_slice(&[0xcc, u as u8]);
            } else if u <= 0xffff {
                out.push(0xcd);
                out.extend_from_slice(&(u as u16).to_be_bytes());
            } else if u <= 0xffff_ffff {
                out.push(0xce);
                out.extend_from_slice(&(u as u32).to_be_bytes());
            } else {
                out.push(0xcf);
                out.extend_from_slice(&u.to_be_bytes());
            }
        } else if i >= -32 {
            out.push(i as i8 as u8);
        } else if i >= -128 {
            out.extend_from_slice(&[0xd0, i as i8 as u8]);
        } else if i >= -32768 {
            out.push(0xd1);
            out.extend_from_slice(&(i as i16).to_be_bytes());
        } else if i >= -2_147_483_648 {
            out.push(0xd2);
            out.extend_from_slice(&(i as i32).to_be_bytes());
        } else {
            out.push(0xd3);
            out.extend_from_slice(&i.to_be_bytes());
        }
    } else if f64::from(n as f32) == n || n.is_infinite() {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn pack_table(t: &Table, level: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    // Two streaming passes rather than one collected list: every live Lua value takes a
    // slot of mlua's reference stack, which holds only a few thousand.
    // An array is a table whose keys are exactly the integers 1..n.
    let mut max = 0.0f64;
    let mut is_array = true;
    let mut count = 0usize;
    for pair in t.pairs::<Value, Value>() {
        let (key, _) = pair?;
        count += 1;
        match as_number(&key) {
            Some(k) if is_array && k >= 1.0 && k.floor() == k => max = max.max(k),
            _ => is_array = false,
        }
    }
    if is_array && max == count as f64 {
        header(out, count, 0x90, 0xdc, 0xdd);
        for i in 1..=count {
            let v: Value = t.raw_get(i as i64)?;
            pack_value(&v, level, out)?;
        }
    } else {
        header(out, count, 0x80, 0xde, 0xdf);
        for pair in t.pairs::<Value, Value>() {
            let (key, value) = pair?;
            pack_value(&key, level, out)?;
            pack_value(&value, level, out)?;
        }
    }
    Ok(())
}

/// An array or map header: fix form (up to 15), 16-bit or 32-bit count.
fn header(out: &mut Vec<u8>, count: usize, fix: u8, wide16: u8, wide32: u8) {
    if count < 16 {
        out.push(fix | count as u8);
    } else if count <= 0xffff {
        out.push(wide16);
        out.extend_from_slice(&(count as u16).to_be_bytes());
    } else {
        out.push(wide32);
        out.extend_from_slice(&(count as u32).to_be_bytes());
    }
}

enum Fail {
    Missing,
    Bad,
    Lua(mlua::Error),
}

impl From<mlua::Error> for Fail {
    fn from(e: mlua::Error) -> Self {
        Fail::Lua(e)
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Fail> {
        let end = self.pos.checked_add(n).ok_or(Fail::Missing)?;
        let bytes = self.data.get(self.pos..end).ok_or(Fail::Missing)?;
        self.pos = end;
        Ok(bytes)
    }

    fn be(&mut self, n: usize) -> Result<u64, Fail> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn value(&mut self, lua: &Lua) -> Result<Value, Fail> {
        let tag = self.take(1)?[0];
        let number = |n: f64| Ok(Value::Number(n));
        match tag {
            0x00..=0x7f => number(f64::from(tag)),
            0x80..=0x8f => self.map(lua, usize::from(tag & 0x0f)),
            0x90..=0x9f => self.array(lua, usize::from(tag & 0x0f)),
            0xa0..=0xbf => self.string(lua, usize::from(tag & 0x1f)),
            0xc0 => Ok(Value::Nil),
            0xc2 => Ok(Value::Boolean(false)),
            0xc3 => Ok(Value::Boolean(true)),
            0xca => number(f64::from(f32::from_bits(self.be(4)? as u32))),
            0xcb => number(f64::from_bits(self.be(8)?)),
            0xcc => number(self.be(1)? as f64),
            0xcd => number(self.be(2)? as f64),
            0xce => number(self.be(4)? as f64),
            // The reference reads uint64 through a signed integer.
            0xcf => number(self.be(8)? as i64 as f64),
            0xd0 => number(f64::from(self.be(1)? as u8 as i8)),
            0xd1 => number(f64::from(self.be(2)? as u16 as i16)),
            0xd2 => number(f64::from(self.be(4)? as u32 as i32)),
            0xd3 => number(self.be(8)? as i64 as f64),
            0xd9 => {
                let n = self.be(1)? as usize;
                self.string(lua, n)
            }
            0xda => {
                let n = self.be(2)? as usize;
                self.string(lua, n)
            }
            0xdb => {
                let n = self.be(4)? as usize;
                self.string(lua, n)
            }
            0xdc => {
                let n = self.be(2)? as usize;
                self.array(lua, n)
            }
            0xdd => {
                let n = self.be(4)? as usize;
                self.array(lua, n)
            }
            0xde => {
                let n = self.be(2)? as usize;
                self.map(lua, n)
            }
            0xdf => {
                let n = self.be(4)? as usize;
                self.map(lua, n)
            }
            0xe0..=0xff => number(f64::from(tag as i8)),
            _ => Err(Fail::Bad),
        }
    }

    fn string(&mut self, lua: &Lua, n: usize) -> Result<Value, Fail> {
        let bytes = self.take(n)?;
        Ok(Value::String(lua.create_string(bytes)?))
    }

    fn array(&mut self, lua: &Lua, n: usize) -> Result<Value, Fail> {
        let t = lua.create_table()?;
        for i in 1..=n {
            let v = self.value(lua)?;
            t.raw_set(i as i64, v)?;
        }
        Ok(Value::Table(t))
    }

    fn map(&mut self, lua: &Lua, n: usize) -> Result<Value, Fail> {
        let t = lua.create_table()?;
        for _ in 0..n {
            let key = self.value(lua)?;
            let value = self.value(lua)?;
            // Lua's own errors for these keys, raised (as by lua_settable) without a position.
            match &key {
                Value::Nil => return Err(Fail::Lua(raw_error("table index is nil".into()))),
                Value::Number(k) if k.is_nan() => {
                    return Err(Fail::Lua(raw_error("table index is NaN".into())))
                }
                _ => {}
            }
            t.raw_set(key, value)?;
        }
        Ok(Value::Table(t))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{eval, eval_err};

    // Expected bytes were recorded from the reference Redis 7.4 with
    // `rcli 16379 eval "return cmsgpack.pack(<args>)" 0 | od -An -tx1`.

    fn pack_hex(args: &str) -> String {
        eval(&format!(
            "return (cmsgpack.pack({args}):gsub('.', function(c) \
             return string.format('%02x', c:byte()) end))"
        ))
    }

    #[test]
    fn pack_chooses_integer_forms_like_lua_cmsgpack() {
        let cases = [
            ("0", "00"),
            ("127", "7f"),
            ("128", "cc80"),
            ("256", "cd0100"),
            ("65536", "ce00010000"),
            ("4294967296", "cf0000000100000000"),
            ("-1", "ff"),
            ("-32", "e0"),
            ("-33", "d0df"),
            ("-129", "d1ff7f"),
            ("-32769", "d2ffff7fff"),
            ("-2147483649", "d3ffffffff7fffffff"),
            ("2^53", "cf0020000000000000"),
            ("-2^63", "d38000000000000000"),
            ("-0.0", "00"),
        ];
        for (lua, want) in cases {
            assert_eq!(pack_hex(lua), want, "packing {lua}");
        }
    }

    #[test]
    fn pack_uses_float32_when_exact_else_float64() {
        let cases = [
            ("1.5", "ca3fc00000"),
            ("0.1", "cb3fb999999999999a"),
            ("2^63", "ca5f000000"),
            ("-2^64", "cadf800000"),
            ("1/0", "ca7f800000"),
            ("-1/0", "caff800000"),
            ("0/0", "cbfff8000000000000"),
            ("1e-45", "cb3696d601ad376ab9"),
        ];
        for (lua, want) in cases {
            assert_eq!(pack_hex(lua), want, "packing {lua}");
        }
    }

    #[test]
    fn pack_strings_tables_and_other_types() {
        assert_eq!(pack_hex("''"), "a0");
        assert_eq!(pack_hex("'abc'"), "a3616263");
        assert!(pack_hex("string.rep('a',31)").starts_with("bf61"));
        assert!(pack_hex("string.rep('a',32)").starts_with("d92061"));
        assert!(pack_hex("string.rep('a',256)").starts_with("da010061"));
        assert!(pack_hex("string.rep('a',65536)").starts_with("db0001000061"));
        assert_eq!(pack_hex("{}"), "90");
        assert_eq!(pack_hex("{1,2,3}"), "93010203");
        assert_eq!(pack_hex("{a=1}"), "81a16101");
        assert_eq!(pack_hex("{1,2,x=3}"), "8301010202a17803");
        assert_eq!(pack_hex("{[1]=1,[3]=3}"), "8201010303");
        assert_eq!(pack_hex("{[0]=1}"), "810001");
        assert_eq!(pack_hex("{[1.5]=1}"), "81ca3fc0000001");
        assert_eq!(pack_hex("1,2,3"), "010203");
        assert_eq!(pack_hex("nil,1"), "c001");
        assert_eq!(pack_hex("true,false,cjson.null,string.len"), "c3c2c0c0");
        assert_eq!(
            pack_hex("(function() local t={} for i=1,16 do t[i]=i end return t end)()"),
            "dc00100102030405060708090a0b0c0d0e0f10"
        );
        // Cycles end at the 16-level nesting cap.
        assert_eq!(
            pack_hex("(function() local t={} t[1]=t return t end)()"),
            format!("{}c0", "91".repeat(16))
        );
        assert_eq!(
            eval_err("return cmsgpack.pack()"),
            "user_script:1: bad argument #0 to 'pack' (MessagePack pack needs input.)"
        );
    }

    #[test]
    fn unpack_round_trips_and_reports_bad_input() {
        let r: String = eval(
            "local r = {cmsgpack.unpack(cmsgpack.pack(1,'a',true,false,1.5,0.1,-5,2^40))} \
             local o = {} for i,v in ipairs(r) do o[i] = type(v)..':'..tostring(v) end \
             return table.concat(o, '|')",
        );
        assert_eq!(
            r,
            "number:1|string:a|boolean:true|boolean:false|number:1.5|number:0.1|number:-5|number:1099511627776"
        );
        let nested: String = eval(
            "local t = cmsgpack.unpack(cmsgpack.pack({1,{a={2,3}},x='y'})) \
             return t[1]..t[2].a[2]..t.x",
        );
        assert_eq!(nested, "13y");
        let count: i64 = eval("return select('#', cmsgpack.unpack(cmsgpack.pack(nil, 1, nil)))");
        assert_eq!(count, 3);
        assert_eq!(
            eval::<String>(
                "return tostring(cmsgpack.unpack('\\207\\255\\255\\255\\255\\255\\255\\255\\255'))"
            ),
            "-1"
        );
        assert_eq!(
            eval::<String>("return tostring(cmsgpack.unpack('\\202\\61\\204\\204\\205'))"),
            "0.10000000149012"
        );
        assert_eq!(
            eval_err("return cmsgpack.unpack('\\217\\5abc')"),
            "user_script:1: Missing bytes in input."
        );
        assert_eq!(
            eval_err("return cmsgpack.unpack('\\196\\3abc')"),
            "user_script:1: Bad data format in input."
        );
        assert_eq!(eval_err("return cmsgpack.unpack('\\129\\192\\1')"), "table index is nil");
        assert_eq!(
            eval_err("return cmsgpack.unpack({})"),
            "user_script:1: bad argument #1 to 'unpack' (string expected, got table)"
        );
        assert_eq!(eval::<i64>("return select('#', cmsgpack.unpack(''))"), 0);
    }

    #[test]
    fn unpack_one_and_unpack_limit_return_the_next_offset() {
        let run = |code: &str| -> String {
            eval(&format!(
                "local r = {{{code}}} for i = 1, #r do r[i] = tostring(r[i]) end \
                 return table.concat(r, ',')"
            ))
        };
        assert_eq!(run("cmsgpack.unpack_one('\\1\\2\\3')"), "1,1");
        assert_eq!(run("cmsgpack.unpack_one('\\1\\2\\3', 2)"), "-1,3");
        assert_eq!(run("cmsgpack.unpack_one('\\1\\2\\3', 3)"), "-1");
        assert_eq!(run("cmsgpack.unpack_limit('\\1\\2\\3', 2)"), "2,1,2");
        assert_eq!(run("cmsgpack.unpack_limit('\\1\\2\\3', 0)"), "-1,1,2,3");
        assert_eq!(run("cmsgpack.unpack_limit('\\1\\2\\3', 5, 1)"), "-1,2,3");
        assert_eq!(run("cmsgpack.unpack_one('\\1\\204')"), "1,1");
        assert_eq!(
            eval_err("return cmsgpack.unpack_one('\\1\\2\\3', 4)"),
            "user_script:1: Start offset 4 greater than input length 3."
        );
        assert_eq!(
            eval_err("return cmsgpack.unpack_limit('\\1\\2\\3', -1)"),
            "user_script:1: Invalid request to unpack with offset of 0 and limit of 3."
        );
        assert_eq!(
            eval_err("return cmsgpack.unpack_limit('\\1\\2\\3')"),
            "user_script:1: bad argument #2 to 'unpack_limit' (number expected, got no value)"
        );
    }
}
