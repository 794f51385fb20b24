//! Incremental request parser.
//!
//! Keeps its position between reads, so a large command arriving in many chunks is
//! scanned once, not once per chunk. Arguments are zero-copy `Bytes` slices of the read
//! buffer; a bulk larger than [`BIG_ARG`] gets its own exact-size buffer so one big value
//! does not pin a read buffer (and small values do not pin a big one).
//!
//! Errors are Redis's protocol errors; after one the connection replies and closes.

use bytes::{Buf, Bytes, BytesMut};

/// Bulks at least this large are read into a buffer of their own.
const BIG_ARG: usize = 32 * 1024;
/// Longest inline command, and longest `*N` / `$N` header line, as in Redis.
const MAX_INLINE: usize = 64 * 1024;
/// Most arguments in one multibulk request, as in Redis.
/// Most arguments in one request, as Redis (INT_MAX); memory grows only as they arrive.
const MAX_MULTIBULK: i64 = i32::MAX as i64;
/// Before AUTH, Redis accepts only tiny requests (its fix for CVE-2021-32675).
const UNAUTH_MAX_MULTIBULK: i64 = 10;
const UNAUTH_MAX_BULK: i64 = 16 * 1024;

/// Size limits the parser enforces (from `proto-max-bulk-len`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted bulk argument in bytes.
    pub max_bulk_len: i64,
    /// Whether the client has authenticated (or no password is required).
    pub authenticated: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_bulk_len: 512 * 1024 * 1024, authenticated: true }
    }
}

/// A framing error: the reply text (after `-ERR `) Redis sends before closing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(what: impl Into<String>) -> Self {
        Self(format!("Protocol error: {}", what.into()))
    }
}

#[derive(Debug, Default)]
enum State {
    /// Between commands.
    #[default]
    Start,
    /// Inside `*N`: `remaining` arguments still to read.
    Multibulk { remaining: usize },
    /// Inside `$len` of a multibulk: waiting for `len` bytes plus CRLF.
    Bulk { remaining: usize, len: usize },
}

/// The per-connection parser.
#[derive(Debug, Default)]
pub struct Decoder {
    state: State,
    args: Vec<Bytes>,
    limits: Limits,
}

impl Decoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Self { state: State::Start, args: Vec::new(), limits }
    }

    /// Changes the limits (CONFIG SET proto-max-bulk-len) for the next argument.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// How many bytes the caller should make room for: a big pending bulk is read whole.
    pub fn wanted(&self, buffered: usize) -> usize {
        match self.state {
            State::Bulk { len, .. } if len + 2 > buffered => len + 2 - buffered,
            _ => 0,
        }
    }

    /// Parses the next complete command out of `buf`, consuming its bytes.
    ///
    /// `Ok(None)` means more input is needed (partial progress is kept). An empty
    /// command (`*0`, blank inline line) is skipped, as Redis does.
    pub fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            match self.state {
                State::Start => {
                    let Some(&first) = buf.first() else { return Ok(None) };
                    if first != b'*' {
                        match self.inline(buf)? {
                            Some(args) if args.is_empty() => continue,
                            other => return Ok(other),
                        }
                    }
                    let Some(n) = header(buf, b'*', "mbulk")? else { return Ok(None) };
                    if n > MAX_MULTIBULK {
                        return Err(ProtocolError::new("invalid multibulk length"));
                    }
                    if !self.limits.authenticated && n > UNAUTH_MAX_MULTIBULK {
                        return Err(ProtocolError::new("unauthenticated multibulk length"));
                    }
                    if n <= 0 {
                        continue;
                    }
                    let n = n as usize;
                    // Never trust the count for the allocation: grow as arguments arrive.
                    self.args = Vec::with_capacity(n.min(1024));
                    self.state = State::Multibulk { remaining: n };
                }
                State::Multibulk { remaining } => {
                    if remaining == 0 {
                        self.state = State::Start;
                        return Ok(Some(std::mem::take(&mut self.args)));
                    }
                    let Some(&first) = buf.first() else { return Ok(None) };
                    if first != b'$' {
                        return Err(ProtocolError::new(format!(
                            "expected '$', got '{}'",
                            first as char
                        )));
                    }
                    let Some(len) = header(buf, b'$', "bulk")? else { return Ok(None) };
                    if len < 0 || len > self.limits.max_bulk_len {
                        return Err(ProtocolError::new("invalid bulk length"));
                    }
                    if !self.limits.authenticated && len > UNAUTH_MAX_BULK {
                        return Err(ProtocolError::new("unauthenticated bulk length"));
                    }
                    let len = len as usize;
                    if len >= BIG_ARG && buf.len() < len + 2 {
                        // Move what we have into an exact-size buffer that becomes the arg.
                        let mut own = BytesMut::with_capacity(len + 2);
                        own.extend_from_slice(buf);
                        *buf = own;
                    }
                    self.state = State::Bulk { remaining, len };
                }
                State::Bulk { remaining, len } => {
                    if buf.len() < len + 2 {
                        return Ok(None);
                    }
                    let arg = buf.split_to(len).freeze();
                    // Redis does not check the CRLF after a bulk; it skips two bytes.
                    buf.advance(2);
                    self.args.push(arg);
                    self.state = State::Multibulk { remaining: remaining - 1 };
                }
            }
        }
    }

    fn inline(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let Some(newline) = memchr::memchr(b'\n', buf) else {
            if buf.len() > MAX_INLINE {
                return Err(ProtocolError::new("too big inline request"));
            }
            return Ok(None);
        };
        if newline > MAX_INLINE {
            return Err(ProtocolError::new("too big inline request"));
        }
        let line = buf.split_to(newline + 1);
        let mut line = &line[..newline];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        split_args(line).map(Some).ok_or_else(|| ProtocolError::new("unbalanced quotes in request"))
    }
}

/// Reads `<prefix><integer>\r\n`; `None` if the line is not complete yet.
fn header(buf: &mut BytesMut, prefix: u8, what: &str) -> Result<Option<i64>, ProtocolError> {
    let Some(cr) = memchr::memchr(b'\r', buf) else {
        if buf.len() > MAX_INLINE {
            return Err(ProtocolError::new(format!("too big {what} count string")));
        }
        return Ok(None);
    };
    if cr > MAX_INLINE {
        return Err(ProtocolError::new(format!("too big {what} count string")));
    }
    if buf.len() < cr + 2 {
        return Ok(None);
    }
    debug_assert_eq!(buf[0], prefix);
    let n = parse_i64(&buf[1..cr]);
    let n = match (n, prefix) {
        (Some(n), _) => n,
        (None, b'*') => return Err(ProtocolError::new("invalid multibulk length")),
        (None, _) => return Err(ProtocolError::new("invalid bulk length")),
    };
    buf.advance(cr + 2);
    Ok(Some(n))
}

/// Parses a decimal `i64` with Redis's strictness: no sign-only, no spaces, no `+`,
/// no leading zeros (except "0"), fits in i64.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if digits.len() > 1 && digits[0] == b'0' {
        return None;
    }
    if neg && digits == b"0" {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        let d = i64::from(d - b'0');
        v = if neg {
            v.checked_mul(10)?.checked_sub(d)?
        } else {
            v.checked_mul(10)?.checked_add(d)?
        };
    }
    Some(v)
}

/// Splits an inline command line as redis-cli / telnet users type it: whitespace
/// separated, `"..."` with C escapes (`\n`, `\xHH`, ...), `'...'` with only `\'`.
/// `None` on unbalanced quotes or a closing quote not followed by a space.
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == line.len() {
            return Some(args);
        }
        let mut current = Vec::new();
        let (mut in_double, mut in_single) = (false, false);
        loop {
            let c = line.get(i).copied();
            if in_double {
                match c {
                    None => return None,
                    Some(b'\\') if i + 3 < line.len() && line[i + 1] == b'x' => {
                        match (hex(line[i + 2]), hex(line[i + 3])) {
                            (Some(h), Some(l)) => {
                                current.push(h * 16 + l);
                                i += 3;
                            }
                            _ => current.push(b'\\'),
                        }
                    }
                    Some(b'\\') if i + 1 < line.len() => {
                        i += 1;
                        current.push(match line[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        if line.get(i + 1).is_some_and(|c| !c.is_ascii_whitespace()) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(c) => current.push(c),
                }
            } else if in_single {
                match c {
                    None => return None,
                    Some(b'\\') if line.get(i + 1) == Some(&b'\'') => {
                        i += 1;
                        current.push(b'\'');
                    }
                    Some(b'\'') => {
                        if line.get(i + 1).is_some_and(|c| !c.is_ascii_whitespace()) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(c) => current.push(c),
                }
            } else {
                match c {
                    None => break,
                    Some(c) if c.is_ascii_whitespace() => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(c) => current.push(c),
                }
            }
            i += 1;
        }
        args.push(Bytes::from(current));
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut d = Decoder::default();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(cmd) = d.next(&mut buf)? {
            out.push(cmd);
        }
        Ok(out)
    }

    #[test]
    fn multibulk_and_inline_commands_parse() {
        let cmds =
            parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nset a \"b c\\x41\"\r\n").unwrap();
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0], vec![Bytes::from("GET"), Bytes::from("k")]);
        assert_eq!(cmds[1], vec![Bytes::from("PING")]);
        assert_eq!(cmds[2], vec![Bytes::from("set"), Bytes::from("a"), Bytes::from("b cA")]);
    }

    #[test]
    fn input_split_at_every_byte_gives_the_same_commands() {
        let input = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n*1\r\n$4\r\nPING\r\n";
        let whole = parse_all(input).unwrap();
        let mut d = Decoder::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for &b in input.iter() {
            buf.extend_from_slice(&[b]);
            while let Some(cmd) = d.next(&mut buf).unwrap() {
                got.push(cmd);
            }
        }
        assert_eq!(got, whole);
        assert_eq!(got[0][2], Bytes::from("va\r\nl"));
    }

    #[test]
    fn bad_lengths_are_protocol_errors() {
        assert_eq!(
            parse_all(b"*abc\r\n").unwrap_err().0,
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            parse_all(b"*1\r\n$-5\r\n").unwrap_err().0,
            "Protocol error: invalid bulk length"
        );
        assert_eq!(
            parse_all(b"*1\r\n$600000000\r\n").unwrap_err().0,
            "Protocol error: invalid bulk length"
        );
        assert_eq!(
            parse_all(b"*2147483648\r\n").unwrap_err().0,
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            parse_all(b"*1\r\nfoo\r\n").unwrap_err().0,
            "Protocol error: expected '$', got 'f'"
        );
        assert_eq!(
            parse_all(b"set \"a\r\n").unwrap_err().0,
            "Protocol error: unbalanced quotes in request"
        );
    }

    #[test]
    fn empty_commands_are_skipped() {
        let cmds = parse_all(b"*0\r\n\r\n   \r\n*-1\r\nPING\r\n").unwrap();
        assert_eq!(cmds, vec![vec![Bytes::from("PING")]]);
    }

    #[test]
    fn integers_follow_redis_rules() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"01"), None);
        assert_eq!(parse_i64(b"-0"), None);
        assert_eq!(parse_i64(b" 1"), None);
        assert_eq!(parse_i64(b"+1"), None);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_all(&input);
        }

        #[test]
        fn any_argv_round_trips(argv in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..40), 1..8)) {
            let mut wire = format!("*{}\r\n", argv.len()).into_bytes();
            for a in &argv {
                wire.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                wire.extend_from_slice(a);
                wire.extend_from_slice(b"\r\n");
            }
            let cmds = parse_all(&wire).unwrap();
            prop_assert_eq!(cmds.len(), 1);
            let got: Vec<Vec<u8>> = cmds[0].iter().map(|b| b.to_vec()).collect();
            prop_assert_eq!(got, argv);
        }
    }
}
