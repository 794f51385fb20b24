//! `Args`: a cursor over a command's arguments with Redis's parsing rules (binary-safe
//! bytes, strict integers, case-insensitive keywords).

use bytes::Bytes;

use crate::error::CmdError;
use crate::resp::decode::parse_i64;

/// The arguments after the command (and subcommand) name.
#[derive(Debug, Clone)]
pub struct Args<'a> {
    argv: &'a [Bytes],
    pos: usize,
}

impl<'a> Args<'a> {
    /// A cursor over `argv` (already without the command name).
    pub fn new(argv: &'a [Bytes]) -> Self {
        Self { argv, pos: 0 }
    }

    /// Arguments left.
    pub fn remaining(&self) -> usize {
        self.argv.len() - self.pos
    }

    /// Whether all arguments were consumed.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unconsumed arguments.
    pub fn rest(&self) -> &'a [Bytes] {
        &self.argv[self.pos..]
    }

    /// Consumes all remaining arguments.
    pub fn take_rest(&mut self) -> &'a [Bytes] {
        let rest = self.rest();
        self.pos = self.argv.len();
        rest
    }

    /// The next argument without consuming it.
    pub fn peek(&self) -> Option<&'a Bytes> {
        self.argv.get(self.pos)
    }

    /// The next argument; a missing one is a syntax error.
    pub fn next_bytes(&mut self) -> Result<Bytes, CmdError> {
        let arg = self.argv.get(self.pos).ok_or(CmdError::Syntax)?;
        self.pos += 1;
        Ok(arg.clone())
    }

    /// The next argument as a borrowed slice.
    pub fn next_slice(&mut self) -> Result<&'a [u8], CmdError> {
        let arg = self.argv.get(self.pos).ok_or(CmdError::Syntax)?;
        self.pos += 1;
        Ok(arg)
    }

    /// The next argument as an `i64` (Redis's strict integer rules).
    pub fn next_i64(&mut self) -> Result<i64, CmdError> {
        parse_i64(self.next_slice()?).ok_or(CmdError::NotAnInteger)
    }

    /// The next argument as an `i64`, with a custom error when it is not one.
    pub fn next_i64_or(&mut self, err: CmdError) -> Result<i64, CmdError> {
        parse_i64(self.next_slice()?).ok_or(err)
    }

    /// The next argument as a non-negative integer.
    pub fn next_usize(&mut self) -> Result<usize, CmdError> {
        let n = self.next_i64()?;
        usize::try_from(n).map_err(|_| CmdError::NotAnInteger)
    }

    /// The next argument as a double (`inf`, `-inf`, exponents; not NaN).
    pub fn next_f64(&mut self) -> Result<f64, CmdError> {
        parse_f64(self.next_slice()?).ok_or(CmdError::NotAFloat)
    }

    /// Consumes the next argument if it equals `keyword` (ASCII case-insensitive).
    pub fn eat(&mut self, keyword: &str) -> bool {
        match self.argv.get(self.pos) {
            Some(a) if a.eq_ignore_ascii_case(keyword.as_bytes()) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// Whether the next argument equals `keyword`, without consuming it.
    pub fn peek_is(&self, keyword: &str) -> bool {
        self.argv.get(self.pos).is_some_and(|a| a.eq_ignore_ascii_case(keyword.as_bytes()))
    }

    /// Fails with a syntax error if arguments are left over.
    pub fn finish(&self) -> Result<(), CmdError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(CmdError::Syntax)
        }
    }
}

/// Parses a double as Redis's `getDoubleFromObject` (strtod): no spaces, no NaN, the
/// whole string must be consumed; `inf`/`-inf`/`+inf` are accepted.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(s).ok()?;
    if text.is_empty()
        || text.starts_with(char::is_whitespace)
        || text.ends_with(char::is_whitespace)
    {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            let unsigned = lower.trim_start_matches(['+', '-']);
            if unsigned.starts_with("0x") {
                hex_float(&lower)?
            } else if lower.contains("inf") || lower.contains("nan") {
                return None;
            } else {
                text.parse::<f64>().ok()?
            }
        }
    };
    (!v.is_nan()).then_some(v)
}

/// C's hexadecimal floating-point form, which strtod (so Redis 7.4) accepts wherever it
/// reads a double: `[+-]0x<hex digits>[.<hex digits>][p[+-]<decimal exponent>]`, with at
/// least one digit (`0x10` is 16, `0x1.8p1` is 3). `text` is lowercase.
fn hex_float(text: &str) -> Option<f64> {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let rest = rest.strip_prefix("0x")?;
    let (digits, exponent) = match rest.split_once('p') {
        Some((d, e)) => (d, Some(e)),
        None => (rest, None),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut value = 0.0f64;
    for c in whole.chars() {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0f64 / 16.0;
    for c in fraction.chars() {
        value += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    if let Some(e) = exponent {
        let digits = e.trim_start_matches(['+', '-']);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Past ±2100 every finite mantissa is already 0 or infinite.
        let e: i32 = e
            .parse::<i64>()
            .unwrap_or(if e.starts_with('-') { -2100 } else { 2100 })
            .clamp(-2100, 2100) as i32;
        value *= 2f64.powi(e);
    }
    // strtod reports overflow as ERANGE, which Redis refuses.
    value.is_finite().then_some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hexadecimal_doubles_parse_as_strtod_does() {
        assert_eq!(parse_f64(b"0x10"), Some(16.0));
        assert_eq!(parse_f64(b"-0X1.8p1"), Some(-3.0));
        assert_eq!(parse_f64(b"0x1p3"), Some(8.0));
        assert_eq!(parse_f64(b"+0x.8"), Some(0.5));
        assert_eq!(parse_f64(b"0x1p-2"), Some(0.25));
        for bad in ["0x", "0x.", "0xg", "0x1p", "0x1p+", "0x1q", " 0x1", "0x1p99999"] {
            assert_eq!(parse_f64(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn doubles_follow_strtod_rules() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64(b".5"), Some(0.5));
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b""), None);
        assert_eq!(parse_f64(b"1x"), None);
    }

    #[test]
    fn keywords_are_case_insensitive_and_leftovers_are_syntax_errors() {
        let argv = [Bytes::from("nx"), Bytes::from("10")];
        let mut a = Args::new(&argv);
        assert!(a.eat("NX"));
        assert_eq!(a.finish(), Err(CmdError::Syntax));
        assert_eq!(a.next_i64(), Ok(10));
        assert!(a.finish().is_ok());
    }
}
