//! `bit`: LuaBitOp's 32-bit operations on Lua numbers (doubles), as Redis 7.4 exposes them.
//!
//! Owns: the number -> int32 normalisation every function applies to its arguments (round to
//! nearest, ties to even, then keep the low 32 bits; NaN and Inf become 0), and returning results
//! as signed 32-bit numbers. Shift counts use their low 5 bits.

use mlua::{Lua, MultiValue, Table};

use super::Args;

pub(super) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("tobit", unary(lua, |x| x)?)?;
    t.set("bnot", unary(lua, |x| !x)?)?;
    t.set("bswap", unary(lua, i32::swap_bytes)?)?;
    t.set("band", fold(lua, |a, b| a & b)?)?;
    t.set("bor", fold(lua, |a, b| a | b)?)?;
    t.set("bxor", fold(lua, |a, b| a ^ b)?)?;
    t.set("lshift", shift(lua, |x, n| ((x as u32) << n) as i32)?)?;
    t.set("rshift", shift(lua, |x, n| ((x as u32) >> n) as i32)?)?;
    t.set("arshift", shift(lua, |x, n| x >> n)?)?;
    t.set("rol", shift(lua, |x, n| (x as u32).rotate_left(n) as i32)?)?;
    t.set("ror", shift(lua, |x, n| (x as u32).rotate_right(n) as i32)?)?;
    t.set(
        "tohex",
        lua.create_function(|lua, args: MultiValue| {
            let args = Args::new(lua, args);
            let x = tobit(args.number(1)?) as u32;
            let n = if args.is_none(2) { 8 } else { tobit(args.number(2)?) };
            let upper = n < 0;
            let digits = n.unsigned_abs().min(8) as usize;
            let hex = if upper { format!("{x:08X}") } else { format!("{x:08x}") };
            Ok(hex[8 - digits..].to_string())
        })?,
    )?;
    Ok(t)
}

/// LuaBitOp's normalisation: adding 2^52 + 2^51 puts the rounded integer in the low mantissa
/// bits (round-to-nearest-even, wrapping modulo 2^32), exactly as the C library does on doubles.
fn tobit(n: f64) -> i32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32 as i32
}

fn unary(lua: &Lua, op: fn(i32) -> i32) -> mlua::Result<mlua::Function> {
    lua.create_function(move |lua, args: MultiValue| {
        let args = Args::new(lua, args);
        Ok(f64::from(op(tobit(args.number(1)?))))
    })
}

fn fold(lua: &Lua, op: fn(i32, i32) -> i32) -> mlua::Result<mlua::Function> {
    lua.create_function(move |lua, args: MultiValue| {
        let args = Args::new(lua, args);
        let mut acc = tobit(args.number(1)?);
        for i in 2..=args.len() {
            acc = op(acc, tobit(args.number(i)?));
        }
        Ok(f64::from(acc))
    })
}

fn shift(lua: &Lua, op: fn(i32, u32) -> i32) -> mlua::Result<mlua::Function> {
    lua.create_function(move |lua, args: MultiValue| {
        let args = Args::new(lua, args);
        let x = tobit(args.number(1)?);
        let n = tobit(args.number(2)?) as u32 & 31;
        Ok(f64::from(op(x, n)))
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{eval, eval_err};

    // Expected values recorded from the reference Redis 7.4 (`rcli 16379 eval "..." 0`).

    fn list(code: &str) -> String {
        eval(&format!(
            "local r = {{{code}}} for i = 1, #r do r[i] = tostring(r[i]) end \
             return table.concat(r, ',')"
        ))
    }

    #[test]
    fn tobit_rounds_half_to_even_and_wraps_to_32_bits() {
        assert_eq!(
            list(
                "bit.tobit(0xffffffff), bit.tobit(2^32+5), bit.tobit(-1), bit.tobit(1.5), \
                 bit.tobit(2.5), bit.tobit(-1.5), bit.tobit(2^31), bit.tobit(0.5), \
                 bit.tobit(1.4999), bit.tobit(-0.5), bit.tobit(2^53), bit.tobit(2^60+3)"
            ),
            "-1,5,-1,2,2,-2,-2147483648,0,1,0,0,0"
        );
        assert_eq!(
            list("bit.tobit(0/0), bit.tobit(1/0), bit.tobit(-2^31-1), bit.bor(2^53+1), bit.tobit('12')"),
            "0,0,2147483647,0,12"
        );
    }

    #[test]
    fn tohex_digits_and_case() {
        assert_eq!(
            list(
                "bit.tohex(255), bit.tohex(-1), bit.tohex(255, 2), bit.tohex(255, -2), \
                 bit.tohex(0x12345678, 3), bit.tohex(1, 0), bit.tohex(1, 9), bit.tohex(1, -9), \
                 bit.tohex(0x7fffffff, -8), bit.tohex(2^32+255)"
            ),
            "000000ff,ffffffff,ff,FF,678,,00000001,00000001,7FFFFFFF,000000ff"
        );
    }

    #[test]
    fn logic_shifts_rotates_and_bswap() {
        assert_eq!(
            list("bit.bnot(0), bit.band(0xff, 0x0f, 0x3), bit.bor(1,2,4), bit.bxor(5,3,1), bit.band(5)"),
            "-1,3,7,7,5"
        );
        assert_eq!(
            list(
                "bit.lshift(1, 31), bit.lshift(1, 32), bit.lshift(1, 33), bit.rshift(-1, 28), \
                 bit.arshift(-256, 4), bit.rshift(256, -28), bit.rol(0x12345678, 8), \
                 bit.ror(0x12345678, 8), bit.bswap(0x12345678), bit.lshift(1,-1)"
            ),
            "-2147483648,1,2,15,-16,16,878082066,2014458966,2018915346,-2147483648"
        );
    }

    #[test]
    fn argument_errors_match_luabitop() {
        assert_eq!(
            eval_err("return bit.tobit()"),
            "user_script:1: bad argument #1 to 'tobit' (number expected, got no value)"
        );
        assert_eq!(
            eval_err("return bit.band(1, 'x')"),
            "user_script:1: bad argument #2 to 'band' (number expected, got string)"
        );
        assert_eq!(
            eval_err("return bit.band(1, nil)"),
            "user_script:1: bad argument #2 to 'band' (number expected, got nil)"
        );
        assert_eq!(
            eval_err("return bit.lshift(1)"),
            "user_script:1: bad argument #2 to 'lshift' (number expected, got no value)"
        );
        assert_eq!(
            eval_err("return bit.tohex(1, 'x')"),
            "user_script:1: bad argument #2 to 'tohex' (number expected, got string)"
        );
    }
}
