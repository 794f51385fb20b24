//! `CommandSpec`: one declaration per command, from which dispatch, arity errors,
//! read/write routing, key extraction and `COMMAND` output are derived.

use crate::cmd::args::Args;
use crate::cmd::ctx::{ApplyCtx, ReadCtx, SessionCtx};
use crate::error::CmdError;
use crate::reply::Reply;

/// What a handler returns.
pub type CmdResult = Result<Reply, CmdError>;

/// Command flags (Redis's `COMMAND INFO` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags(pub u32);

impl Flags {
    pub const NONE: Flags = Flags(0);
    pub const WRITE: Flags = Flags(1);
    pub const READONLY: Flags = Flags(1 << 1);
    pub const DENYOOM: Flags = Flags(1 << 2);
    pub const ADMIN: Flags = Flags(1 << 3);
    pub const PUBSUB: Flags = Flags(1 << 4);
    pub const NOSCRIPT: Flags = Flags(1 << 5);
    pub const BLOCKING: Flags = Flags(1 << 6);
    pub const LOADING: Flags = Flags(1 << 7);
    pub const STALE: Flags = Flags(1 << 8);
    pub const SKIP_MONITOR: Flags = Flags(1 << 9);
    pub const SKIP_SLOWLOG: Flags = Flags(1 << 10);
    pub const FAST: Flags = Flags(1 << 11);
    pub const NO_AUTH: Flags = Flags(1 << 12);
    pub const MAY_REPLICATE: Flags = Flags(1 << 13);
    pub const NO_MULTI: Flags = Flags(1 << 14);
    pub const ALLOW_BUSY: Flags = Flags(1 << 15);
    pub const NO_MANDATORY_KEYS: Flags = Flags(1 << 16);
    pub const MOVABLE_KEYS: Flags = Flags(1 << 17);
    pub const NO_ASYNC_LOADING: Flags = Flags(1 << 18);
    /// A module's command (RedisJSON's `JSON.*` report it).
    pub const MODULE: Flags = Flags(1 << 19);

    /// Both sets of flags.
    pub const fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// Whether every flag of `other` is set.
    pub const fn has(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Names as `COMMAND INFO` prints them, in Redis's order.
    pub fn names(self) -> Vec<&'static str> {
        const ALL: &[(Flags, &str)] = &[
            (Flags::WRITE, "write"),
            (Flags::READONLY, "readonly"),
            (Flags::DENYOOM, "denyoom"),
            (Flags::MODULE, "module"),
            (Flags::MOVABLE_KEYS, "movablekeys"),
            (Flags::ADMIN, "admin"),
            (Flags::PUBSUB, "pubsub"),
            (Flags::NOSCRIPT, "noscript"),
            (Flags::BLOCKING, "blocking"),
            (Flags::LOADING, "loading"),
            (Flags::STALE, "stale"),
            (Flags::SKIP_MONITOR, "skip_monitor"),
            (Flags::SKIP_SLOWLOG, "skip_slowlog"),
            (Flags::FAST, "fast"),
            (Flags::NO_AUTH, "no_auth"),
            (Flags::MAY_REPLICATE, "may_replicate"),
            (Flags::NO_ASYNC_LOADING, "no_async_loading"),
            (Flags::NO_MULTI, "no_multi"),
            (Flags::ALLOW_BUSY, "allow_busy"),
            (Flags::NO_MANDATORY_KEYS, "no_mandatory_keys"),
        ];
        ALL.iter().filter(|(f, _)| self.has(*f)).map(|(_, n)| *n).collect()
    }
}

/// Key-spec flags (Redis 7 key specs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyFlags(pub u32);

impl KeyFlags {
    pub const RO: KeyFlags = KeyFlags(1);
    pub const RW: KeyFlags = KeyFlags(1 << 1);
    pub const OW: KeyFlags = KeyFlags(1 << 2);
    pub const RM: KeyFlags = KeyFlags(1 << 3);
    pub const ACCESS: KeyFlags = KeyFlags(1 << 4);
    pub const UPDATE: KeyFlags = KeyFlags(1 << 5);
    pub const INSERT: KeyFlags = KeyFlags(1 << 6);
    pub const DELETE: KeyFlags = KeyFlags(1 << 7);
    pub const NOT_KEY: KeyFlags = KeyFlags(1 << 8);
    pub const INCOMPLETE: KeyFlags = KeyFlags(1 << 9);
    pub const VARIABLE_FLAGS: KeyFlags = KeyFlags(1 << 10);

    /// Both sets of flags.
    pub const fn with(self, other: KeyFlags) -> KeyFlags {
        KeyFlags(self.0 | other.0)
    }

    /// Names as `COMMAND INFO` prints them.
    pub fn names(self) -> Vec<&'static str> {
        const ALL: &[(KeyFlags, &str)] = &[
            (KeyFlags::RO, "RO"),
            (KeyFlags::RW, "RW"),
            (KeyFlags::OW, "OW"),
            (KeyFlags::RM, "RM"),
            (KeyFlags::ACCESS, "access"),
            (KeyFlags::UPDATE, "update"),
            (KeyFlags::INSERT, "insert"),
            (KeyFlags::DELETE, "delete"),
            (KeyFlags::NOT_KEY, "not_key"),
            (KeyFlags::INCOMPLETE, "incomplete"),
            (KeyFlags::VARIABLE_FLAGS, "variable_flags"),
        ];
        ALL.iter().filter(|(f, _)| self.0 & f.0 == f.0).map(|(_, n)| *n).collect()
    }
}

/// Where the first key is (Redis `begin_search`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeginSearch {
    /// At a fixed argv index.
    Index(usize),
    /// After the first occurrence of a keyword, searching from `start`.
    Keyword { keyword: &'static str, start: i32 },
}

/// How keys follow the first one (Redis `find_keys`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindKeys {
    /// `lastkey` relative to begin (-1 = last arg), every `step` args, `limit` (0 = none).
    Range { last: i32, step: usize, limit: usize },
    /// The argument at begin + `key_num_idx` holds the number of keys, which start at
    /// begin + `first_key`, every `step`.
    Keynum { key_num_idx: usize, first_key: usize, step: usize },
}

/// One Redis 7 key spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    pub begin: BeginSearch,
    pub find: FindKeys,
    pub flags: KeyFlags,
}

impl KeySpec {
    /// A single key at argv index `index`.
    pub const fn single(index: usize, flags: KeyFlags) -> KeySpec {
        KeySpec {
            begin: BeginSearch::Index(index),
            find: FindKeys::Range { last: 0, step: 1, limit: 0 },
            flags,
        }
    }

    /// Keys from `index` to the end (offset `last` from the end, -1 = last), every `step`.
    pub const fn range(index: usize, last: i32, step: usize, flags: KeyFlags) -> KeySpec {
        KeySpec {
            begin: BeginSearch::Index(index),
            find: FindKeys::Range { last, step, limit: 0 },
            flags,
        }
    }
}

/// Command groups (COMMAND DOCS `group`, and the `@category` ACL names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Generic,
    String,
    Bitmap,
    HyperLogLog,
    Connection,
    Server,
    Cluster,
    Transactions,
    Scripting,
    Pubsub,
    List,
    Hash,
    Set,
    SortedSet,
    Stream,
    Geo,
    Json,
    Search,
}

impl Group {
    /// The group name as COMMAND DOCS prints it.
    pub fn name(self) -> &'static str {
        match self {
            Group::Generic => "generic",
            Group::String => "string",
            Group::Bitmap => "bitmap",
            Group::HyperLogLog => "hyperloglog",
            Group::Connection => "connection",
            Group::Server => "server",
            Group::Cluster => "cluster",
            Group::Transactions => "transactions",
            Group::Scripting => "scripting",
            Group::Pubsub => "pubsub",
            Group::List => "list",
            Group::Hash => "hash",
            Group::Set => "set",
            Group::SortedSet => "sorted-set",
            Group::Stream => "stream",
            Group::Geo => "geo",
            Group::Json => "module",
            Group::Search => "module",
        }
    }

    /// The ACL category the group implies (`@string`, `@keyspace`, ...), if any.
    pub fn acl_category(self) -> Option<&'static str> {
        match self {
            Group::Generic => Some("keyspace"),
            Group::String => Some("string"),
            Group::Bitmap => Some("bitmap"),
            Group::HyperLogLog => Some("hyperloglog"),
            Group::Connection => Some("connection"),
            Group::Server => None,
            Group::Cluster => None,
            Group::Transactions => Some("transaction"),
            Group::Scripting => Some("scripting"),
            Group::Pubsub => Some("pubsub"),
            Group::List => Some("list"),
            Group::Hash => Some("hash"),
            Group::Set => Some("set"),
            Group::SortedSet => Some("sortedset"),
            Group::Stream => Some("stream"),
            Group::Geo => Some("geo"),
            Group::Json => Some("json"),
            Group::Search => Some("search"),
        }
    }
}

/// A read handler: runs against the keyspace under a read guard.
pub type ReadFn = fn(&mut Args<'_>, &ReadCtx<'_>) -> CmdResult;
/// A session handler: connection and server state, no keyspace guard held.
pub type SessionFn = fn(&mut Args<'_>, &mut SessionCtx<'_>) -> CmdResult;

/// The two halves of a write.
#[derive(Clone, Copy)]
pub struct WriteFns {
    /// Full parse before the entry is proposed; no keyspace access.
    pub check: fn(&mut Args<'_>) -> Result<(), CmdError>,
    /// Parse again and apply, on every replica, in log order.
    pub apply: fn(&mut Args<'_>, &mut ApplyCtx<'_>) -> CmdResult,
}

/// How a command executes.
#[derive(Clone, Copy)]
pub enum Exec {
    /// Against the keyspace, on this node.
    Read(ReadFn),
    /// Through the log.
    Write(WriteFns),
    /// Connection or server state (PING, CLIENT, CONFIG, INFO, ...).
    Session(SessionFn),
    /// A container: dispatch on the subcommand (argv[1]).
    Container,
}

/// One command's declaration.
pub struct CommandSpec {
    pub name: &'static str,
    pub group: Group,
    pub summary: &'static str,
    pub since: &'static str,
    pub complexity: &'static str,
    /// Redis convention: N = exactly N args (with the name), -N = at least N.
    pub arity: i32,
    pub flags: Flags,
    /// ACL categories beyond those derived from flags and group (e.g. "dangerous").
    pub acl: &'static [&'static str],
    pub keys: &'static [KeySpec],
    pub subcommands: &'static [CommandSpec],
    pub exec: Exec,
}

impl CommandSpec {
    /// A spec with empty metadata, for `..CommandSpec::DEFAULT` in tables.
    pub const DEFAULT: CommandSpec = CommandSpec {
        name: "",
        group: Group::Generic,
        summary: "",
        since: "1.0.0",
        complexity: "O(1)",
        arity: 1,
        flags: Flags::NONE,
        acl: &[],
        keys: &[],
        subcommands: &[],
        exec: Exec::Container,
    };

    /// Whether `argc` arguments (including the name) fit the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = i64::from(self.arity);
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    /// Whether this command goes through the log.
    pub fn is_write(&self) -> bool {
        matches!(self.exec, Exec::Write(_))
    }

    /// ACL categories: derived from flags and group, plus the explicit ones.
    pub fn acl_categories(&self) -> Vec<&'static str> {
        let mut cats = Vec::new();
        if self.group == Group::Json {
            // RedisJSON 2.8 declares no ACL categories (COMMAND INFO shows none, and
            // `ACL CAT json` is an unknown category there).
            return cats;
        }
        if self.flags.has(Flags::WRITE) {
            cats.push("write");
        }
        if self.flags.has(Flags::READONLY) {
            cats.push("read");
        }
        if let Some(c) = self.group.acl_category() {
            cats.push(c);
        }
        if self.flags.has(Flags::ADMIN) {
            cats.push("admin");
            if !self.acl.contains(&"dangerous") {
                cats.push("dangerous");
            }
        }
        if self.flags.has(Flags::PUBSUB) && !cats.contains(&"pubsub") {
            cats.push("pubsub");
        }
        if self.flags.has(Flags::FAST) {
            cats.push("fast");
        } else {
            cats.push("slow");
        }
        if self.flags.has(Flags::BLOCKING) {
            cats.push("blocking");
        }
        for c in self.acl {
            if !cats.contains(c) {
                cats.push(c);
            }
        }
        cats
    }
}

/// Builds the `Exec` for a read command type.
pub const fn read<C: ReadCommand>() -> Exec {
    Exec::Read(run_read::<C>)
}

/// Builds the `Exec` for a write command type.
pub const fn write<C: WriteCommand>() -> Exec {
    Exec::Write(WriteFns { check: check_write::<C>, apply: apply_write::<C> })
}

/// Parses a command from its arguments (the name is already consumed).
pub trait Parse: Sized {
    /// Parse, validating everything knowable without the keyspace.
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError>;
}

/// A command that reads the keyspace.
pub trait ReadCommand: Parse {
    /// Run against the keyspace.
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult;
}

/// A command that goes through the log.
pub trait WriteCommand: Parse {
    /// Apply to the keyspace; deterministic (see ARCHITECTURE.md §2.5).
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult;
}

fn run_read<C: ReadCommand>(args: &mut Args<'_>, cx: &ReadCtx<'_>) -> CmdResult {
    let cmd = C::parse(args)?;
    args.finish()?;
    cmd.run(cx)
}

fn check_write<C: WriteCommand>(args: &mut Args<'_>) -> Result<(), CmdError> {
    C::parse(args)?;
    args.finish()
}

fn apply_write<C: WriteCommand>(args: &mut Args<'_>, cx: &mut ApplyCtx<'_>) -> CmdResult {
    let cmd = C::parse(args)?;
    args.finish()?;
    cmd.apply(cx)
}
