//! `Reply`: what a command returns, independent of the protocol version.
//!
//! Handlers build values; `resp::encode` decides once how each looks in RESP2 and RESP3.

use std::borrow::Cow;

use bytes::Bytes;

use crate::error::CmdError;

/// A protocol-neutral reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+text` (e.g. `OK`, `PONG`, `QUEUED`).
    Status(Cow<'static, str>),
    /// `-CODE text`.
    Error(CmdError),
    /// `:n`.
    Int(i64),
    /// `$len bytes`.
    Bulk(Bytes),
    /// The null bulk (`$-1` in RESP2, `_` in RESP3).
    Null,
    /// The null array (`*-1` in RESP2, `_` in RESP3).
    NullArray,
    /// `*n` of replies.
    Array(Vec<Reply>),
    /// `%n` in RESP3; a flat array of key, value, ... in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// `~n` in RESP3; an array in RESP2.
    Set(Vec<Reply>),
    /// `,d` in RESP3; a bulk string in RESP2.
    Double(f64),
    /// A double already formatted (GEOPOS coordinates keep Redis's `%.17Lf` digits):
    /// `,text` in RESP3; a bulk string in RESP2.
    DoubleText(String),
    /// An array of 2-element arrays in RESP3; one flat array in RESP2 (ZRANGE WITHSCORES,
    /// HRANDFIELD WITHVALUES).
    Pairs(Vec<(Reply, Reply)>),
    /// `%n` in RESP3; an array of 2-element arrays in RESP2 (XREAD, XREADGROUP).
    KeyedArrays(Vec<(Reply, Reply)>),
    /// `#t`/`#f` in RESP3; `:1`/`:0` in RESP2.
    Bool(bool),
    /// `=len txt:...` in RESP3; a bulk string in RESP2.
    Verbatim(Bytes),
    /// `(digits` in RESP3; a bulk string in RESP2 (a script's `{big_number=...}`).
    BigNumber(Bytes),
    /// `>n` in RESP3 (pub/sub messages); an array in RESP2.
    Push(Vec<Reply>),
    /// A reply whose shape depends on the protocol beyond the encoding of one type
    /// (RedisJSON's JSON.TYPE and JSON.NUMINCRBY answer differently in RESP3): the first
    /// is sent to RESP2 clients, the second to RESP3 clients.
    PerProto(Box<(Reply, Reply)>),
    /// Not a wire reply: a blocking command found nothing to serve. The connection waits
    /// for a change to one of the keys and runs the command again (see `net::blocking`).
    /// Never encoded; if it ever were, it would be sent as its timeout reply.
    Blocked(Box<BlockedOn>),
}

/// What a blocked command waits for.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockedOn {
    /// Keys (in the command's database) whose change may let the command proceed.
    pub keys: Vec<Bytes>,
    /// How long to wait in milliseconds; 0 waits forever.
    pub timeout_ms: u64,
    /// The reply when the timeout passes (usually a null array).
    pub on_timeout: Box<Reply>,
    /// The argv to run on each retry, when it differs from the original (XREAD's `$`
    /// becomes the concrete last ID seen when blocking).
    pub retry: Option<Vec<Bytes>>,
    /// The type (`TYPE` name) the blocking keys must hold to serve the client. While
    /// blocked, a key of another type does not end the wait (as Redis); WRONGTYPE about
    /// any other key (BLMOVE's destination) does. Empty: any WRONGTYPE ends the wait.
    pub wants: &'static str,
    /// The wait also ends when a blocking key is deleted (XREADGROUP: its group goes
    /// with the key); Redis counts such keys apart (INFO `total_blocking_keys_on_nokey`).
    pub on_nokey: bool,
}

impl BlockedOn {
    /// The reply to give: `Blocked` when the caller may block, else the timeout reply at
    /// once (inside MULTI/EXEC and scripts blocking commands never block, as in Redis).
    pub fn reply(self, may_block: bool) -> Reply {
        if may_block {
            Reply::Blocked(Box::new(self))
        } else {
            *self.on_timeout
        }
    }
}

impl Reply {
    /// `+OK`.
    pub const fn ok() -> Self {
        Reply::Status(Cow::Borrowed("OK"))
    }

    /// A bulk string copied from `s`.
    pub fn bulk(s: impl AsRef<[u8]>) -> Self {
        Reply::Bulk(Bytes::copy_from_slice(s.as_ref()))
    }

    /// A static status line.
    pub const fn status(s: &'static str) -> Self {
        Reply::Status(Cow::Borrowed(s))
    }

    /// A bulk string holding `n` in decimal.
    pub fn bulk_int(n: i64) -> Self {
        Reply::Bulk(Bytes::copy_from_slice(itoa::Buffer::new().format(n).as_bytes()))
    }

    /// An array of bulk strings.
    pub fn bulks<I, T>(items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<Bytes>,
    {
        Reply::Array(items.into_iter().map(|b| Reply::Bulk(b.into())).collect())
    }

    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}

impl From<CmdError> for Reply {
    fn from(e: CmdError) -> Self {
        Reply::Error(e)
    }
}

/// Formats a double as Redis does in replies and stored values: the shortest text that
/// round-trips, `inf`/`-inf`, integers without a fraction, exponent form as `%.17g` would
/// choose it. One function, so every replica formats the same way.
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(d);
    // ryu writes `1e21`, `1.5e-7`; `%.17g` style wants `1e+21`, `1.5e-07`.
    let s = s.strip_suffix(".0").unwrap_or(s);
    match s.split_once('e') {
        None => s.to_string(),
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            let exp_value: i32 = digits.parse().unwrap_or(0);
            let signed = if sign == '-' { -exp_value } else { exp_value };
            // %.17g uses plain notation for exponents in [-4, 17).
            if (-4..17).contains(&signed) {
                let plain = format!("{d}");
                return plain.strip_suffix(".0").unwrap_or(&plain).to_string();
            }
            format!("{mantissa}e{sign}{digits:0>2}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_format_like_redis() {
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(10.5), "10.5");
        assert_eq!(format_double(-0.1), "-0.1");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(1e21), "1e+21");
        assert_eq!(format_double(1.5e-7), "1.5e-07");
        assert_eq!(format_double(1e16), "10000000000000000");
        assert_eq!(format_double(0.0001), "0.0001");
    }
}
