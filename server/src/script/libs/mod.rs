//! Redis's bundled Lua helper libraries, written in Rust: `cjson`, `cmsgpack`, `bit` and
//! `struct`.
//!
//! Owns: the four library tables and the argument/error conventions they share. Scripts see the
//! same results and error texts as under Redis 7.4 (which embeds lua-cjson 2.1, lua-cmsgpack
//! 0.4, LuaBitOp and lua-struct); the behaviour was recorded from a reference server, not taken
//! from those libraries' sources.
//!
//! Errors: every failure is a [`LibError`] whose text is exactly the string the C library would
//! have raised, including the `chunk:line: ` position that `luaL_error` prepends (computed from
//! the calling frame, so it is empty when called through `pcall`). The engine recovers that text
//! with [`lib_error_text`].
//!
//! Must not: touch the keyspace, read clocks or randomness (all functions are pure), or keep
//! state outside the Lua state (cjson's settings live in closures owned by its table).

mod bit;
mod cjson;
mod cmsgpack;
mod structlib;

use mlua::{Lua, MultiValue, Value};

/// Registers cjson, cmsgpack, bit and struct as globals in `lua` (before the globals are protected).
pub fn register_all(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    globals.set("cjson", cjson::module(lua)?)?;
    globals.set("cmsgpack", cmsgpack::module(lua)?)?;
    globals.set("bit", bit::module(lua)?)?;
    globals.set("struct", structlib::module(lua)?)?;
    Ok(())
}

/// An error raised by one of these libraries. Its text is final: it already carries the
/// `chunk:line: ` position `luaL_error` would have added (or none, when the caller was a C
/// function such as `pcall`), so the engine must not prepend another one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibError(pub String);

impl std::fmt::Display for LibError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LibError {}

/// The text of a [`LibError`] anywhere in `err`'s cause chain (mlua wraps callback errors), i.e.
/// the exact string a Redis script would have seen; `None` for errors not raised by these
/// libraries.
pub fn lib_error_text(err: &mlua::Error) -> Option<String> {
    match err {
        mlua::Error::CallbackError { cause, .. } => lib_error_text(cause),
        mlua::Error::WithContext { cause, .. } => lib_error_text(cause),
        mlua::Error::ExternalError(e) => e.downcast_ref::<LibError>().map(|e| e.0.clone()),
        _ => None,
    }
}

/// `luaL_where(L, 1)`: "chunk:line: " of the Lua code that called the running Rust function, or
/// nothing when the caller is itself a C function (e.g. `pcall(cjson.decode, s)`).
fn caller_position(lua: &Lua) -> String {
    lua.inspect_stack(1, |debug| {
        let line = debug.current_line()?;
        let source = debug.source();
        let short_src = source.short_src?;
        Some(format!("{short_src}:{line}: "))
    })
    .flatten()
    .unwrap_or_default()
}

/// A `luaL_error`-style error: the caller's position, then `msg`.
fn lua_error(lua: &Lua, msg: impl AsRef<str>) -> mlua::Error {
    raw_error(format!("{}{}", caller_position(lua), msg.as_ref()))
}

/// An error whose text is used verbatim (Lua's own runtime errors raised from C carry no
/// position, e.g. "table index is nil").
fn raw_error(text: String) -> mlua::Error {
    mlua::Error::external(LibError(text))
}

/// A `luaL_argerror`-style error, naming the function as the caller's code spells it ("?" when
/// unknown, e.g. through `pcall`) and shifting the index for method calls, as Lua does.
fn arg_error(lua: &Lua, arg: usize, msg: impl AsRef<str>) -> mlua::Error {
    let (name, is_method) = lua
        .inspect_stack(0, |debug| {
            let names = debug.names();
            (names.name.map(|n| n.into_owned()), names.name_what == Some("method"))
        })
        .unwrap_or((None, false));
    let name = name.unwrap_or_else(|| "?".to_string());
    let text = if is_method {
        if arg == 1 {
            format!("calling '{name}' on bad self ({})", msg.as_ref())
        } else {
            format!("bad argument #{} to '{name}' ({})", arg - 1, msg.as_ref())
        }
    } else {
        format!("bad argument #{arg} to '{name}' ({})", msg.as_ref())
    };
    lua_error(lua, text)
}

/// Lua's own type name for a value (what `type()` and argument errors print).
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::LightUserData(_) | Value::UserData(_) => "userdata",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

/// A Lua number as f64 (mlua hands integral numbers over as `Integer`).
fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// Positional access to a C function's arguments with the `luaL_check*` conventions: numbers
/// accept numeric strings, strings accept numbers, and a missing argument is "no value".
struct Args<'a> {
    lua: &'a Lua,
    values: Vec<Value>,
}

impl<'a> Args<'a> {
    fn new(lua: &'a Lua, values: MultiValue) -> Self {
        Args { lua, values: values.into_iter().collect() }
    }

    fn len(&self) -> usize {
        self.values.len()
    }

    /// The 1-based argument `n` (nil when absent).
    fn get(&self, n: usize) -> Value {
        self.values.get(n.wrapping_sub(1)).cloned().unwrap_or(Value::Nil)
    }

    fn is_none(&self, n: usize) -> bool {
        n == 0 || n > self.values.len()
    }

    fn is_none_or_nil(&self, n: usize) -> bool {
        matches!(self.get(n), Value::Nil)
    }

    fn got(&self, n: usize) -> &'static str {
        if self.is_none(n) {
            "no value"
        } else {
            type_name(&self.get(n))
        }
    }

    fn error(&self, n: usize, msg: impl AsRef<str>) -> mlua::Error {
        arg_error(self.lua, n, msg)
    }

    fn type_error(&self, n: usize, expected: &str) -> mlua::Error {
        self.error(n, format!("{expected} expected, got {}", self.got(n)))
    }

    fn number(&self, n: usize) -> mlua::Result<f64> {
        let value = self.get(n);
        if let Some(x) = as_number(&value) {
            return Ok(x);
        }
        match value {
            Value::String(_) => match self.lua.coerce_number(value)? {
                Some(x) => Ok(x),
                None => Err(self.type_error(n, "number")),
            },
            _ => Err(self.type_error(n, "number")),
        }
    }

    /// `luaL_checkinteger`: the number truncated toward zero.
    fn integer(&self, n: usize) -> mlua::Result<i64> {
        Ok(float_to_i64(self.number(n)?))
    }

    fn opt_integer(&self, n: usize, default: i64) -> mlua::Result<i64> {
        if self.is_none_or_nil(n) {
            Ok(default)
        } else {
            self.integer(n)
        }
    }

    fn bytes(&self, n: usize) -> mlua::Result<Vec<u8>> {
        match self.get(n) {
            Value::String(s) => Ok(s.as_bytes().to_vec()),
            v @ (Value::Integer(_) | Value::Number(_)) => match self.lua.coerce_string(v)? {
                Some(s) => Ok(s.as_bytes().to_vec()),
                None => Err(self.type_error(n, "string")),
            },
            _ => Err(self.type_error(n, "string")),
        }
    }
}

/// 2^63, the first double beyond `i64`.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// C's `(long long)d` as x86-64 performs it: truncation, and the "integer indefinite" value for
/// NaN and out-of-range inputs (Rust's `as` would saturate instead).
fn float_to_i64(n: f64) -> i64 {
    if (-TWO_POW_63..TWO_POW_63).contains(&n) {
        n as i64
    } else {
        i64::MIN
    }
}

/// C's `printf("%.*g", precision, n)` (glibc output for inf/nan included).
fn format_g(n: f64, precision: usize) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if n.is_infinite() {
        return if n < 0.0 { "-inf" } else { "inf" }.to_string();
    }
    let precision = precision.max(1);
    // Rust's `{:e}` rounds correctly (as glibc does), so the decimal exponent after rounding to
    // `precision` significant digits decides between the fixed and exponent styles.
    let sci = format!("{:.*e}", precision - 1, n);
    let (mantissa, exponent) = match sci.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
        None => (sci.clone(), 0),
    };
    let p = precision as i32;
    if exponent < -4 || exponent >= p {
        let mantissa = strip_fraction_zeros(&mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        let decimals = (p - 1 - exponent).max(0) as usize;
        strip_fraction_zeros(&format!("{:.*}", decimals, n))
    }
}

fn strip_fraction_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Lua state with the libraries, and `pcall` handing errors to the script as their text
    /// (what the engine's sandbox does, via [`lib_error_text`]).
    fn state() -> Lua {
        let lua = Lua::new();
        register_all(&lua).unwrap();
        let text = lua
            .create_function(|lua, v: Value| match v {
                Value::Error(e) => {
                    let text = lib_error_text(&e).unwrap_or_else(|| e.to_string());
                    Ok(Value::String(lua.create_string(text)?))
                }
                other => Ok(other),
            })
            .unwrap();
        lua.load(
            "local lua_pcall, text = pcall, ... \
             pcall = function(...) \
               local r = {lua_pcall(...)} \
               if not r[1] then return false, text(r[2]) end \
               return unpack(r, 1, table.maxn(r)) \
             end",
        )
        .call::<()>(text)
        .unwrap();
        lua
    }

    /// Evaluates `code` (as chunk "@user_script", like Redis) with the libraries registered.
    pub(crate) fn eval<R: mlua::FromLuaMulti>(code: &str) -> R {
        state().load(code).set_name("@user_script").eval().unwrap()
    }

    /// The error text a script raising at top level gets.
    pub(crate) fn eval_err(code: &str) -> String {
        let err = state().load(code).set_name("@user_script").exec().unwrap_err();
        lib_error_text(&err).unwrap_or_else(|| err.to_string())
    }

    #[test]
    fn format_g_matches_printf() {
        assert_eq!(format_g(1.23456789012345, 14), "1.2345678901235"); // as the reference prints it
        assert_eq!(format_g(100000000000000.0, 14), "1e+14");
        assert_eq!(format_g(12345678901234.0, 14), "12345678901234");
        assert_eq!(format_g(0.000012345, 14), "1.2345e-05");
        assert_eq!(format_g(-0.0, 14), "-0");
        assert_eq!(format_g(0.1, 14), "0.1");
        assert_eq!(format_g(1e300, 14), "1e+300");
        assert_eq!(format_g(123456.5, 14), "123456.5");
        assert_eq!(format_g(1.23456, 3), "1.23");
    }

    #[test]
    fn all_four_libraries_are_globals() {
        let types: String = eval("return type(cjson)..type(cmsgpack)..type(bit)..type(struct)");
        assert_eq!(types, "tabletabletabletable");
    }

    #[test]
    fn errors_carry_the_callers_position_except_under_pcall() {
        // Recorded from Redis 7.4: `return cjson.decode('x')` vs the same under pcall.
        assert_eq!(
            eval_err("\nreturn cjson.decode('x')"),
            "user_script:2: Expected value but found invalid token at character 1"
        );
        let msg: String = eval("local ok, e = pcall(cjson.decode) return e");
        assert_eq!(msg, "bad argument #1 to '?' (expected 1 argument)");
        assert_eq!(
            eval_err("local f = cjson.decode return f()"),
            "user_script:1: bad argument #1 to 'f' (expected 1 argument)"
        );
        assert_eq!(
            eval_err("return cjson:decode()"),
            "user_script:1: calling 'decode' on bad self (string expected, got table)"
        );
    }
}
