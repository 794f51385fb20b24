//! Every client-visible error text lives here; `Display` is the exact wire text (without
//! the leading `-`). Internal failures are [`EngineError`] and never reach the wire as is.

use std::borrow::Cow;

/// An error reply. The text matches Redis 7.4 byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdError {
    /// Unknown command name; `args` is the pre-formatted `'a' 'b' ` list Redis appends.
    #[error("ERR unknown command '{name}', with args beginning with: {args}")]
    UnknownCommand { name: String, args: String },
    /// Unknown subcommand of a container command.
    #[error("ERR unknown subcommand '{sub}'. Try {container} HELP.")]
    UnknownSubcommand { sub: String, container: String },
    #[error("ERR wrong number of arguments for '{0}' command")]
    WrongArity(String),
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR value is not an integer or out of range")]
    NotAnInteger,
    #[error("ERR value is not a valid float")]
    NotAFloat,
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    #[error("ERR increment would produce NaN or Infinity")]
    NanOrInfinity,
    #[error("ERR no such key")]
    NoSuchKey,
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpire(&'static str),
    #[error("ERR NX and XX, GT or LT options at the same time are not compatible")]
    ExpireNxConflict,
    #[error("ERR GT and LT options at the same time are not compatible")]
    ExpireGtLtConflict,
    /// An unknown option of EXPIRE and friends (the argument, cut at 128 bytes).
    #[error("ERR Unsupported option {0}")]
    UnsupportedOption(String),
    #[error("ERR invalid cursor")]
    InvalidCursor,
    /// A C `int` argument out of range (MOVE's db).
    #[error("ERR value is out of range, value must between -2147483648 and 2147483647")]
    IntOutOfRange,
    #[error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")]
    LfuNotSelected,
    #[error("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")]
    LfuSelected,
    #[error("ERR DB index is out of range")]
    DbIndexOutOfRange,
    #[error("ERR source and destination objects are the same")]
    SameObject,
    #[error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]
    StringTooLong,
    #[error("ERR bit offset is not an integer or out of range")]
    BitOffset,
    #[error("ERR bit is not an integer or out of range")]
    BitValue,
    #[error("ERR offset is out of range")]
    OffsetOutOfRange,
    #[error("ERR value is out of range, must be positive")]
    NotPositive,
    #[error("ERR decrement would overflow")]
    DecrementOverflow,
    #[error("ERR The specified keys must contain string values")]
    LcsNotStrings,
    #[error("ERR If you want both the length and indexes, please just use IDX.")]
    LcsLenAndIdx,
    #[error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")]
    LcsTooBig,
    #[error("ERR The bit argument must be 1 or 0.")]
    BitArgument,
    #[error("ERR BITOP NOT must be called with a single source key.")]
    BitopNotSingle,
    #[error("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.")]
    BitfieldType,
    #[error("ERR Invalid OVERFLOW type specified")]
    BitfieldOverflowType,
    #[error("ERR BITFIELD_RO only supports the GET subcommand")]
    BitfieldRoGetOnly,
    #[error("WRONGTYPE Key is not a valid HyperLogLog string value.")]
    HllWrongType,
    #[error("INVALIDOBJ Corrupted HLL object detected")]
    HllCorrupted,
    /// PFDEBUG on a missing key.
    #[error("ERR The specified key does not exist")]
    HllNoSuchKey,
    #[error("ERR HLL encoding is not sparse")]
    HllNotSparse,
    /// PFDEBUG's unknown subcommand (cut at 128 bytes).
    #[error("ERR Unknown PFDEBUG subcommand '{0}'")]
    HllUnknownDebug(String),
    /// PFSELFTEST's failure description.
    #[error("ERR {0}")]
    HllSelfTest(String),
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    #[error("WRONGPASS invalid username-password pair or user is disabled.")]
    WrongPass,
    #[error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")]
    AuthNotConfigured,
    #[error("NOPROTO unsupported protocol version")]
    NoProto,
    #[error("ERR {0}")]
    Other(Cow<'static, str>),
    /// Full text including its code (e.g. `"INVALIDHLL ..."`, `"ERR ..."`).
    #[error("{0}")]
    Custom(String),
    /// An internal failure; detail is logged where it happens, the client sees this.
    #[error("ERR internal error")]
    Internal,
}

impl CmdError {
    /// The code counted by `INFO errorstats` (the text before the first space).
    pub fn code(&self) -> String {
        let text = self.to_string();
        text.split(' ').next().unwrap_or("ERR").to_string()
    }

    /// `ERR <text>` from a static string.
    pub const fn err(text: &'static str) -> Self {
        CmdError::Other(Cow::Borrowed(text))
    }

    /// The unknown-command error for `argv`, formatted as Redis does (name and the first
    /// arguments, each cut at 128 bytes).
    pub fn unknown_command(argv: &[bytes::Bytes]) -> Self {
        let name = lossy_cut(argv.first().map(|b| &b[..]).unwrap_or(b""));
        let mut args = String::new();
        for a in argv.iter().skip(1) {
            if args.len() >= 128 {
                break;
            }
            args.push('\'');
            args.push_str(&lossy_cut(a));
            args.push_str("' ");
        }
        CmdError::UnknownCommand { name, args }
    }
}

fn lossy_cut(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(128)]).into_owned()
}

/// Internal failures: I/O, the log, shutdown. Logged with detail; never sent verbatim.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("log: {0}")]
    Log(#[from] engram_log::LogError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("config: {0}")]
    Config(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn unknown_command_lists_its_arguments_like_redis() {
        let e =
            CmdError::unknown_command(&[Bytes::from("foo"), Bytes::from("a"), Bytes::from("b")]);
        assert_eq!(e.to_string(), "ERR unknown command 'foo', with args beginning with: 'a' 'b' ");
        assert_eq!(e.code(), "ERR");
        assert_eq!(CmdError::WrongType.code(), "WRONGTYPE");
    }
}
