//! The cursor and options every `*SCAN` command shares (SCAN, HSCAN, SSCAN, ZSCAN).

use bytes::Bytes;

use crate::cmd::Args;
use crate::error::CmdError;

/// Which option a scan accepts beyond MATCH and COUNT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    /// None (SSCAN, ZSCAN).
    None,
    /// `TYPE type` (SCAN).
    Type,
    /// `NOVALUES` (HSCAN).
    NoValues,
}

/// Parsed `[MATCH pattern] [COUNT count] [TYPE type] [NOVALUES]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOptions {
    /// `None` also for `*`, which matches everything.
    pub pattern: Option<Bytes>,
    pub count: usize,
    pub type_name: Option<Bytes>,
    pub no_values: bool,
}

/// Parses a scan cursor as Redis's `strtoul` does: leading spaces and `+` allowed, the
/// full u64 range, anything else is `ERR invalid cursor`.
pub fn parse_cursor(raw: &[u8]) -> Result<u64, CmdError> {
    let start = raw.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(raw.len());
    let digits = &raw[start..];
    let digits = digits.strip_prefix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(CmdError::InvalidCursor);
    }
    digits.iter().try_fold(0u64, |acc, d| {
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or(CmdError::InvalidCursor)
    })
}

/// Parses the options after the cursor.
pub fn parse_options(args: &mut Args<'_>, extra: Extra) -> Result<ScanOptions, CmdError> {
    let mut options = ScanOptions { pattern: None, count: 10, type_name: None, no_values: false };
    while !args.is_empty() {
        if extra == Extra::NoValues && args.eat("NOVALUES") {
            options.no_values = true;
        } else if args.remaining() < 2 {
            return Err(CmdError::Syntax);
        } else if args.eat("COUNT") {
            let count = args.next_i64()?;
            if count < 1 {
                return Err(CmdError::Syntax);
            }
            options.count = usize::try_from(count).unwrap_or(usize::MAX);
        } else if args.eat("MATCH") {
            let pattern = args.next_bytes()?;
            options.pattern = (&pattern[..] != b"*").then_some(pattern);
        } else if extra == Extra::Type && args.eat("TYPE") {
            options.type_name = Some(args.next_bytes()?);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse_like_strtoul() {
        assert_eq!(parse_cursor(b"0"), Ok(0));
        assert_eq!(parse_cursor(b"007"), Ok(7));
        assert_eq!(parse_cursor(b" +1"), Ok(1));
        assert_eq!(parse_cursor(b"1.5"), Err(CmdError::InvalidCursor));
        assert_eq!(parse_cursor(b"18446744073709551615"), Ok(u64::MAX));
        for bad in [&b"-1"[..], b"x", b"", b"18446744073709551616", b"1 "] {
            assert_eq!(parse_cursor(bad), Err(CmdError::InvalidCursor), "{bad:?}");
        }
    }

    #[test]
    fn options_are_checked_per_command() {
        let argv = |s: &[&str]| s.iter().map(|a| Bytes::from(a.to_string())).collect::<Vec<_>>();
        let a = argv(&["MATCH", "*", "COUNT", "5", "TYPE", "string"]);
        let o = parse_options(&mut Args::new(&a), Extra::Type).unwrap();
        assert_eq!((o.pattern, o.count, o.type_name), (None, 5, Some(Bytes::from("string"))));
        assert_eq!(parse_options(&mut Args::new(&a), Extra::None), Err(CmdError::Syntax));
        let a = argv(&["NOVALUES"]);
        assert!(parse_options(&mut Args::new(&a), Extra::NoValues).unwrap().no_values);
        assert_eq!(parse_options(&mut Args::new(&a), Extra::None), Err(CmdError::Syntax));
        let a = argv(&["COUNT", "0"]);
        assert_eq!(parse_options(&mut Args::new(&a), Extra::None), Err(CmdError::Syntax));
    }
}
