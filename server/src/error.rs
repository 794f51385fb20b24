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
    /// A blocking command's timeout that does not parse (lists, sorted sets).
    #[error("ERR timeout is not a float or out of range")]
    TimeoutNotFloat,
    #[error("ERR timeout is negative")]
    TimeoutNegative,
    #[error("ERR timeout is out of range")]
    TimeoutOutOfRange,
    #[error("ERR numkeys should be greater than 0")]
    NumkeysNotPositive,
    #[error("ERR count should be greater than 0")]
    CountNotPositive,
    #[error("ERR index out of range")]
    IndexOutOfRange,
    #[error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")]
    LposRankZero,
    #[error("ERR COUNT can't be negative")]
    LposCountNegative,
    #[error("ERR MAXLEN can't be negative")]
    LposMaxlenNegative,
    /// A `long` argument that must not be LLONG_MIN (LPOS RANK).
    #[error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")]
    LongOutOfRange,
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
    #[error("OOM command not allowed when used memory > 'maxmemory'.")]
    Oom,
    #[error("NOREPLICAS Not enough good replicas to write.")]
    NoReplicas,
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    #[error("WRONGPASS invalid username-password pair or user is disabled.")]
    WrongPass,
    #[error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")]
    AuthNotConfigured,
    #[error("NOPROTO unsupported protocol version")]
    NoProto,
    // Streams.
    #[error("ERR Invalid stream ID specified as stream command argument")]
    StreamInvalidId,
    #[error("ERR The ID specified in XADD must be greater than 0-0")]
    XaddIdZero,
    #[error("ERR The ID specified in XADD is equal or smaller than the target stream top item")]
    XaddIdTooSmall,
    #[error("ERR The stream has exhausted the last possible ID, unable to add more items")]
    StreamExhausted,
    #[error("ERR The MAXLEN argument must be >= 0.")]
    StreamMaxlenNegative,
    #[error("ERR The LIMIT argument must be >= 0.")]
    StreamLimitNegative,
    #[error("ERR syntax error, MAXLEN and MINID options at the same time are not compatible")]
    StreamTrimConflict,
    #[error("ERR syntax error, LIMIT cannot be used without the special ~ option")]
    StreamLimitWithoutApprox,
    #[error("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")]
    StreamLimitWithoutTrim,
    #[error("ERR syntax error, XTRIM must be called with a trimming strategy")]
    XtrimNoStrategy,
    #[error("ERR invalid start ID for the interval")]
    StreamInvalidStart,
    #[error("ERR invalid end ID for the interval")]
    StreamInvalidEnd,
    /// XREAD/XREADGROUP with an odd number of keys and IDs: (command, the special ID).
    #[error("ERR Unbalanced '{0}' list of streams: for each stream key an ID or '{1}' must be specified.")]
    StreamUnbalanced(&'static str, &'static str),
    #[error("ERR timeout is not an integer or out of range")]
    StreamTimeoutNotInteger,
    #[error("ERR timeout is negative")]
    StreamTimeoutNegative,
    #[error("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")]
    XreadGreaterWithoutGroup,
    #[error("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.")]
    XreadGroupOption,
    #[error("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.")]
    XreadNoackOption,
    #[error("ERR Missing GROUP option for XREADGROUP")]
    XreadgroupMissingGroup,
    /// `$` or `+` given to XREADGROUP.
    #[error("ERR The {0} ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The {0} ID would just return an empty result set.")]
    XreadgroupMeaninglessId(char),
    #[error(
        "NOGROUP No such key '{key}' or consumer group '{group}' in XREADGROUP with GROUP option"
    )]
    NoGroupRead { key: String, group: String },
    #[error("NOGROUP No such key '{key}' or consumer group '{group}'")]
    NoGroup { key: String, group: String },
    #[error("NOGROUP No such consumer group '{group}' for key name '{key}'")]
    NoGroupForKey { group: String, key: String },
    #[error("BUSYGROUP Consumer Group name already exists")]
    BusyGroup,
    #[error("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.")]
    XgroupNoKey,
    #[error("ERR value for ENTRIESREAD must be positive or -1")]
    EntriesReadInvalid,
    /// A container subcommand with bad options: (subcommand as given, container).
    #[error("ERR unknown subcommand or wrong number of arguments for '{0}'. Try {1} HELP.")]
    SubcommandSyntax(String, &'static str),
    /// (argument description, command): `Invalid min-idle-time argument for XCLAIM`.
    #[error("ERR Invalid {0} argument for {1}")]
    StreamInvalidArgument(&'static str, &'static str),
    #[error("ERR Unrecognized XCLAIM option '{0}'")]
    XclaimUnknownOption(String),
    #[error("ERR COUNT must be > 0")]
    StreamCountNotPositive,
    #[error("ERR The ID specified in XSETID is smaller than the target stream top item")]
    XsetidTooSmall,
    #[error("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")]
    XsetidBelowGivenMaxDeleted,
    #[error("ERR The ID specified in XSETID is smaller than current max_deleted_entry_id")]
    XsetidBelowMaxDeleted,
    #[error("ERR entries_added must be positive")]
    XsetidEntriesAddedNegative,
    #[error("ERR The entries_added specified in XSETID is smaller than the target stream length")]
    XsetidEntriesAddedTooSmall,
    /// A RESP2 client in subscribed mode ran anything but the SUBSCRIBE family (full name).
    #[error("ERR Can't execute '{0}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")]
    PubsubContext(String),
    /// CLIENT TRACKING REDIRECT to a client that is not connected.
    #[error("ERR The client ID you want redirect to does not exist")]
    TrackingNoSuchRedirect,
    #[error("ERR A client can only redirect to a single other client")]
    TrackingOneRedirect,
    #[error("ERR PREFIX option requires BCAST mode to be enabled")]
    TrackingPrefixNeedsBcast,
    #[error("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.")]
    TrackingBcastSwitch,
    #[error("ERR OPTIN and OPTOUT are not compatible with BCAST")]
    TrackingOptWithBcast,
    #[error("ERR You can't specify both OPTIN mode and OPTOUT mode")]
    TrackingOptinAndOptout,
    #[error("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.")]
    TrackingOptSwitch,
    /// A BCAST prefix overlapping one the client already has: (new, existing).
    #[error("ERR Prefix '{0}' overlaps with an existing prefix '{1}'. Prefixes for a single client must not overlap.")]
    TrackingPrefixExisting(String, String),
    /// Two overlapping BCAST prefixes in one CLIENT TRACKING call.
    #[error("ERR Prefix '{0}' overlaps with another provided prefix '{1}'. Prefixes for a single client must not overlap.")]
    TrackingPrefixProvided(String, String),
    #[error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled")]
    TrackingCachingOff,
    #[error("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.")]
    TrackingCachingYes,
    #[error("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")]
    TrackingCachingNo,
    /// A known subcommand with the wrong number of arguments, checked by its handler.
    #[error(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {container} HELP."
    )]
    SubcommandArity { sub: String, container: &'static str },
    // Sorted sets and geo.
    #[error("ERR XX and NX options at the same time are not compatible")]
    ZaddXxNx,
    #[error("ERR GT, LT, and/or NX options at the same time are not compatible")]
    ZaddGtLtNx,
    #[error("ERR INCR option supports a single increment-element pair")]
    ZaddIncrPair,
    #[error("ERR resulting score is not a number (NaN)")]
    ZsetNan,
    #[error("ERR min or max is not a float")]
    ZsetMinMaxNotFloat,
    #[error("ERR min or max not valid string range item")]
    ZsetMinMaxNotLex,
    #[error(
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    )]
    ZrangeLimitNeedsBy,
    #[error("ERR syntax error, WITHSCORES not supported in combination with BYLEX")]
    ZrangeWithscoresBylex,
    /// numkeys < 1 for ZUNION and friends (the command's lowercase name).
    #[error("ERR at least 1 input key is needed for '{0}' command")]
    ZsetNoInputKey(&'static str),
    #[error("ERR weight value is not a float")]
    ZsetWeightNotFloat,
    #[error("ERR LIMIT can't be negative")]
    ZsetLimitNegative,
    #[error("ERR value is out of range")]
    ValueOutOfRange,
    /// (longitude, latitude) formatted with `%f`.
    #[error("ERR invalid longitude,latitude pair {0},{1}")]
    GeoInvalidPair(String, String),
    #[error("ERR could not decode requested zset member")]
    GeoNoMember,
    #[error("ERR unsupported unit provided. please use M, KM, FT, MI")]
    GeoUnit,
    #[error("ERR radius cannot be negative")]
    GeoRadiusNegative,
    #[error("ERR height or width cannot be negative")]
    GeoBoxNegative,
    #[error("ERR need numeric radius")]
    GeoRadiusNotNumeric,
    #[error("ERR COUNT must be > 0")]
    GeoCountNotPositive,
    #[error("ERR the ANY argument requires COUNT argument")]
    GeoAnyNeedsCount,
    #[error("ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options")]
    GeoRadiusStoreWith,
    #[error("ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options")]
    GeoSearchStoreWith,
    #[error("ERR exactly one of BYRADIUS and BYBOX can be specified for {0}")]
    GeoSearchNeedsBy(&'static str),
    #[error("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {0}")]
    GeoSearchNeedsFrom(&'static str),
    // Sets and SORT.
    #[error("ERR Number of keys can't be greater than number of args")]
    NumkeysTooMany,
    #[error("ERR One or more scores can't be converted into double")]
    SortNotDouble,
    // Hashes.
    #[error("ERR hash value is not an integer")]
    HashValueNotInteger,
    #[error("ERR hash value is not a float")]
    HashValueNotFloat,
    #[error("ERR value is NaN or Infinity")]
    NanOrInfinityValue,
    #[error("ERR invalid expire time, must be >= 0")]
    HashExpireNegative,
    #[error("ERR Parameter `numFields` should be greater than 0")]
    HashNumFieldsNotPositive,
    #[error("ERR Number of fields must be a positive integer")]
    HashNumFieldsInvalid,
    #[error("ERR The `numfields` parameter must match the number of arguments")]
    HashNumFieldsMismatch,
    #[error("ERR Mandatory argument FIELDS is missing or not at the right position")]
    HashFieldsMissing,
    // Cluster.
    #[error("ERR This instance has cluster support disabled")]
    ClusterDisabled,
    #[error("ERR Invalid slot")]
    InvalidSlot,
    #[error("ERR Invalid slot or number of keys")]
    InvalidSlotOrCount,
    /// CLUSTER REPLICAS of a node id no member has (the id as given).
    #[error("ERR Unknown node {0}")]
    UnknownNode(String),
    #[error("ERR The specified node is not a master")]
    NotAMaster,
    #[error("ERR {0}")]
    Other(Cow<'static, str>),
    /// Full text including its code (e.g. `"INVALIDHLL ..."`, `"ERR ..."`).
    #[error("{0}")]
    Custom(String),
    /// A script's error that a command inside it already counted in `INFO errorstats`
    /// (as Redis, the script's reply does not count it again). Full text.
    #[error("{0}")]
    Reported(String),
    /// The log accepts no writes: a disk write or fsync failed (Redis's MISCONF for a
    /// failing AOF).
    #[error("MISCONF {0}")]
    LogPoisoned(String),
    /// Recovery has not finished.
    #[error("LOADING Redis is loading the dataset in memory")]
    Loading,
    /// An internal failure; detail is logged where it happens, the client sees this.
    #[error("ERR internal error")]
    Internal,
    /// An error text echoing client bytes that are not UTF-8 (unknown command or
    /// subcommand names and arguments), which Redis sends as they came: the exact wire
    /// text, code included. `Display` is lossy; [`CmdError::wire_text`] has the bytes.
    #[error("{}", String::from_utf8_lossy(.0))]
    EchoedBytes(bytes::Bytes),
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

    /// The unknown-command error for `argv`, formatted as Redis does: the name cut at 128
    /// bytes, then quoted arguments while the list is under 128 bytes, each cut to what
    /// is left of those 128; every piece ends at a NUL (Redis prints C strings). Bytes
    /// that are not UTF-8 are kept (see [`CmdError::EchoedBytes`]).
    pub fn unknown_command(argv: &[bytes::Bytes]) -> Self {
        let name = c_str_cut(argv.first().map(|b| &b[..]).unwrap_or(b""), 128);
        let mut args = Vec::new();
        for a in argv.iter().skip(1) {
            if args.len() >= 128 {
                break;
            }
            let cut = c_str_cut(a, 128 - args.len());
            args.push(b'\'');
            args.extend_from_slice(cut);
            args.extend_from_slice(b"' ");
        }
        match (std::str::from_utf8(name), String::from_utf8(args)) {
            (Ok(name), Ok(args)) => CmdError::UnknownCommand { name: name.to_string(), args },
            (_, args) => {
                let args = args.map_or_else(|e| e.into_bytes(), String::into_bytes);
                let mut text = b"ERR unknown command '".to_vec();
                text.extend_from_slice(name);
                text.extend_from_slice(b"', with args beginning with: ");
                text.extend_from_slice(&args);
                CmdError::EchoedBytes(text.into())
            }
        }
    }

    /// The unknown-subcommand error: `sub` as typed (cut at 128 bytes or a NUL, as
    /// Redis prints it), `container` in capitals.
    pub fn unknown_subcommand(sub: &[u8], container: String) -> Self {
        let sub = c_str_cut(sub, 128);
        match std::str::from_utf8(sub) {
            Ok(sub) => CmdError::UnknownSubcommand { sub: sub.to_string(), container },
            Err(_) => {
                let mut text = b"ERR unknown subcommand '".to_vec();
                text.extend_from_slice(sub);
                text.extend_from_slice(format!("'. Try {container} HELP.").as_bytes());
                CmdError::EchoedBytes(text.into())
            }
        }
    }

    /// The exact wire text (without the leading `-`): the `Display` text, except that
    /// echoed client bytes go out as they came.
    pub fn wire_text(&self) -> Cow<'_, [u8]> {
        match self {
            CmdError::EchoedBytes(text) => Cow::Borrowed(text),
            other => Cow::Owned(other.to_string().into_bytes()),
        }
    }
}

/// What C's `%.<max>s` prints of `b`: the bytes before the first NUL, at most `max`.
fn c_str_cut(b: &[u8], max: usize) -> &[u8] {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len()).min(max);
    &b[..end]
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

    #[test]
    fn unknown_command_echoes_bytes_as_redis_prints_c_strings() {
        let argv = |a: &[&[u8]]| a.iter().map(|b| Bytes::copy_from_slice(b)).collect::<Vec<_>>();
        // Not UTF-8: sent as is.
        let e = CmdError::unknown_command(&argv(&[b"fo\xffo", b"a\xfeb"]));
        assert_eq!(
            &e.wire_text()[..],
            b"ERR unknown command 'fo\xffo', with args beginning with: 'a\xfeb' "
        );
        assert_eq!(e.code(), "ERR");
        // Each piece stops at a NUL.
        let e = CmdError::unknown_command(&argv(&[b"f\0oo", b"a\0b", b"c"]));
        assert_eq!(e.to_string(), "ERR unknown command 'f', with args beginning with: 'a' 'c' ");
        // Arguments share one 128-byte budget.
        let (x, y) = ("x".repeat(100), "y".repeat(100));
        let e = CmdError::unknown_command(&argv(&[b"foo", x.as_bytes(), y.as_bytes(), b"z"]));
        let want =
            format!("ERR unknown command 'foo', with args beginning with: '{x}' '{}' ", &y[..25]);
        assert_eq!(e.to_string(), want);
        let e = CmdError::unknown_subcommand(b"n\xffo\0x", "XGROUP".into());
        assert_eq!(&e.wire_text()[..], b"ERR unknown subcommand 'n\xffo'. Try XGROUP HELP.");
    }
}
