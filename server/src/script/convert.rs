//! Conversions between command replies and Lua values, as Redis documents them: RESP2
//! or RESP3 into Lua for `redis.call` (the script picks with `redis.setresp`), and Lua
//! into a protocol-neutral [`Reply`] for the script's caller.

use bytes::Bytes;
use mlua::{Lua, Table, Value};

use crate::error::CmdError;
use crate::reply::{format_double, Reply};

/// Deepest table nesting converted: deeper (or cyclic) tables stop there, as Redis stops
/// at its Lua stack limit, instead of overflowing ours.
const MAX_DEPTH: usize = 1000;

/// A table with one field, `{name = value}`.
fn tagged(lua: &Lua, name: &str, value: impl mlua::IntoLua) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(0, 1)?;
    t.raw_set(name, value)?;
    Ok(Value::Table(t))
}

fn array(lua: &Lua, items: Vec<Reply>, resp3: bool) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.into_iter().enumerate() {
        t.raw_set(i + 1, reply_to_lua(lua, item, resp3)?)?;
    }
    Ok(Value::Table(t))
}

fn pairs_array(lua: &Lua, items: Vec<(Reply, Reply)>, resp3: bool) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, (k, v)) in items.into_iter().enumerate() {
        t.raw_set(i + 1, array(lua, vec![k, v], resp3)?)?;
    }
    Ok(Value::Table(t))
}

fn flat(lua: &Lua, items: Vec<(Reply, Reply)>, resp3: bool) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(items.len() * 2, 0)?;
    for (i, (k, v)) in items.into_iter().enumerate() {
        t.raw_set(2 * i + 1, reply_to_lua(lua, k, resp3)?)?;
        t.raw_set(2 * i + 2, reply_to_lua(lua, v, resp3)?)?;
    }
    Ok(Value::Table(t))
}

fn map(lua: &Lua, items: Vec<(Reply, Reply)>, resp3: bool) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(0, items.len())?;
    for (k, v) in items {
        let key = reply_to_lua(lua, k, resp3)?;
        if !key.is_nil() {
            t.raw_set(key, reply_to_lua(lua, v, resp3)?)?;
        }
    }
    tagged(lua, "map", t)
}

/// A command's reply as `redis.call` returns it: RESP2 conversions unless the script
/// chose RESP3 (`redis.setresp(3)`).
pub fn reply_to_lua(lua: &Lua, reply: Reply, resp3: bool) -> mlua::Result<Value> {
    Ok(match reply {
        Reply::Status(s) => tagged(lua, "ok", lua.create_string(s.as_bytes())?)?,
        Reply::Error(e) => {
            // Counted when the command failed: returned as the script's reply, it is not
            // counted again (Redis marks its error tables the same way).
            let t = lua.create_table_with_capacity(0, 2)?;
            t.raw_set("err", lua.create_string(e.to_string())?)?;
            t.raw_set("ignore_err_stats_update", true)?;
            Value::Table(t)
        }
        Reply::Int(n) => Value::Number(n as f64),
        Reply::Bulk(b) => Value::String(lua.create_string(&b)?),
        Reply::Verbatim(b) | Reply::BigNumber(b) if !resp3 => Value::String(lua.create_string(&b)?),
        Reply::BigNumber(b) => tagged(lua, "big_number", lua.create_string(&b)?)?,
        Reply::Verbatim(b) => {
            let t = lua.create_table_with_capacity(0, 2)?;
            t.raw_set("format", "txt")?;
            t.raw_set("string", lua.create_string(&b)?)?;
            tagged(lua, "verbatim_string", t)?
        }
        Reply::Null | Reply::NullArray if resp3 => Value::Nil,
        Reply::Null | Reply::NullArray => Value::Boolean(false),
        Reply::Array(items) | Reply::Push(items) => array(lua, items, resp3)?,
        Reply::Set(items) if resp3 => {
            let t = lua.create_table_with_capacity(0, items.len())?;
            for item in items {
                let key = reply_to_lua(lua, item, resp3)?;
                if !key.is_nil() {
                    t.raw_set(key, true)?;
                }
            }
            tagged(lua, "set", t)?
        }
        Reply::Set(items) => array(lua, items, resp3)?,
        Reply::Map(items) | Reply::KeyedArrays(items) if resp3 => map(lua, items, resp3)?,
        Reply::Map(items) => flat(lua, items, resp3)?,
        Reply::KeyedArrays(items) => pairs_array(lua, items, resp3)?,
        Reply::Pairs(items) if resp3 => pairs_array(lua, items, resp3)?,
        Reply::Pairs(items) => flat(lua, items, resp3)?,
        Reply::Double(d) if resp3 => tagged(lua, "double", d)?,
        Reply::Double(d) => Value::String(lua.create_string(format_double(d))?),
        Reply::DoubleText(s) if resp3 => tagged(lua, "double", s.parse::<f64>().unwrap_or(0.0))?,
        Reply::DoubleText(s) => Value::String(lua.create_string(s)?),
        Reply::Bool(b) if resp3 => Value::Boolean(b),
        Reply::Bool(b) => Value::Number(if b { 1.0 } else { 0.0 }),
        Reply::PerProto(both) => {
            let (resp2_form, resp3_form) = *both;
            reply_to_lua(lua, if resp3 { resp3_form } else { resp2_form }, resp3)?
        }
        Reply::Blocked(on) => reply_to_lua(lua, *on.on_timeout, resp3)?,
    })
}

/// A Lua number passed to `redis.call`, as Redis writes it: the shortest digits that
/// read back the same, plain up to seven zeros past them (so 2^63 is
/// `9223372036854776000`), else in exponent form without padding (`1e+20`, `1e-7`).
/// Lua's own `%.14g` would lose precision (`9007199254740991`).
pub fn format_number_arg(d: f64) -> String {
    if d.is_nan() {
        return if d.is_sign_negative() { "-nan".into() } else { "nan".into() };
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d == 0.0 {
        return "0".into();
    }
    let sci = format!("{:e}", d.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let ndigits = digits.len() as i32;
    let point: i32 = exp.parse().unwrap_or(0);
    // value = digits x 10^k
    let k = point - (ndigits - 1);
    let mut out = String::new();
    if d < 0.0 {
        out.push('-');
    }
    let magnitude = point.abs();
    if k >= 0 && magnitude < ndigits + 7 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', k as usize));
    } else if k < 0 && (k > -7 || magnitude < 4) {
        let offset = ndigits + k;
        if offset <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-offset) as usize));
            out.push_str(&digits);
        } else {
            out.push_str(&digits[..offset as usize]);
            out.push('.');
            out.push_str(&digits[offset as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        if ndigits > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if point < 0 { '-' } else { '+' });
        out.push_str(&magnitude.to_string());
    }
    out
}

/// What a script returned, as the reply its caller gets. Booleans follow the script's
/// protocol (`redis.setresp`): under RESP2 `true` is `:1` and `false` a null, whatever
/// the client speaks.
pub fn lua_to_reply(value: &Value, resp3: bool) -> Reply {
    to_reply(value, 0, resp3)
}

fn string_field(t: &Table, name: &str) -> Option<mlua::LuaString> {
    match t.raw_get::<Value>(name) {
        Ok(Value::String(s)) => Some(s),
        _ => None,
    }
}

fn to_reply(value: &Value, depth: usize, resp3: bool) -> Reply {
    if depth > MAX_DEPTH {
        return Reply::Error(CmdError::Custom("ERR reached lua stack limit".into()));
    }
    match value {
        Value::Nil => Reply::Null,
        Value::Boolean(b) if resp3 => Reply::Bool(*b),
        Value::Boolean(true) => Reply::Int(1),
        Value::Boolean(false) => Reply::Null,
        // Lua numbers are doubles; Redis truncates them toward zero.
        Value::Number(n) => Reply::Int(*n as i64),
        Value::Integer(n) => Reply::Int(*n),
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Table(t) => table_to_reply(t, depth, resp3),
        _ => Reply::Null,
    }
}

fn table_to_reply(t: &Table, depth: usize, resp3: bool) -> Reply {
    if let Some(err) = string_field(t, "err") {
        let text = err.to_string_lossy();
        // An empty error still needs a code on the wire.
        let text = if text.is_empty() { "ERR".to_string() } else { text };
        if let Ok(Value::Boolean(true)) = t.raw_get::<Value>("ignore_err_stats_update") {
            return Reply::Error(CmdError::Reported(text));
        }
        return Reply::Error(CmdError::Custom(text));
    }
    if let Some(ok) = string_field(t, "ok") {
        return Reply::Status(ok.to_string_lossy().into());
    }
    if let Ok(Value::Number(d)) = t.raw_get::<Value>("double") {
        return Reply::Double(d);
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        let mut items = Vec::new();
        for (k, v) in m.pairs::<Value, Value>().flatten() {
            items.push((to_reply(&k, depth + 1, resp3), to_reply(&v, depth + 1, resp3)));
        }
        return Reply::Map(items);
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        let items =
            s.pairs::<Value, Value>().flatten().map(|(k, _)| to_reply(&k, depth + 1, resp3));
        return Reply::Set(items.collect());
    }
    if let Some(n) = string_field(t, "big_number") {
        return Reply::BigNumber(Bytes::copy_from_slice(&n.as_bytes()));
    }
    if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string") {
        if let Some(s) = string_field(&v, "string") {
            return Reply::Verbatim(Bytes::copy_from_slice(&s.as_bytes()));
        }
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(to_reply(&v, depth + 1, resp3)),
        }
    }
    Reply::Array(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_arguments_are_written_as_redis_writes_them() {
        // Recorded from Redis 7.4: `redis.call('set', k, <number>)` then GET.
        for (value, text) in [
            (9007199254740991.0, "9007199254740991"),
            (3.5, "3.5"),
            (0.1, "0.1"),
            (1e20, "1e+20"),
            (1e-7, "1e-7"),
            (123456789012345678.0, "123456789012345680"),
            (-0.0, "0"),
            (f64::INFINITY, "inf"),
            (9223372036854775808.0, "9223372036854776000"),
            (0.30000000000000004, "0.30000000000000004"),
            (-2.5, "-2.5"),
            (100.0, "100"),
        ] {
            assert_eq!(format_number_arg(value), text, "{value}");
        }
    }
}
