//! Strings: GET, SET and the rest of the string family.

use bytes::Bytes;

use crate::cmd::spec::{
    read, write, CmdResult, CommandSpec, Flags, Group, KeyFlags, KeySpec, Parse, ReadCommand,
    WriteCommand,
};
use crate::cmd::{ApplyCtx, Args, ReadCtx};
use crate::error::CmdError;
use crate::keyspace::Value;
use crate::reply::Reply;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "get",
        group: Group::String,
        summary: "Returns the string value of a key.",
        since: "1.0.0",
        complexity: "O(1)",
        arity: 2,
        flags: Flags::READONLY.with(Flags::FAST),
        keys: &[KeySpec::single(1, KeyFlags::RO.with(KeyFlags::ACCESS))],
        exec: read::<Get>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "set",
        group: Group::String,
        summary: "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        since: "1.0.0",
        complexity: "O(1)",
        arity: -3,
        flags: Flags::WRITE.with(Flags::DENYOOM),
        keys: &[KeySpec::single(
            1,
            KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::UPDATE).with(KeyFlags::VARIABLE_FLAGS),
        )],
        exec: write::<Set>(),
        ..CommandSpec::DEFAULT
    },
];

/// `GET key`
struct Get {
    key: Bytes,
}

impl Parse for Get {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(Get { key: args.next_bytes()? })
    }
}

impl ReadCommand for Get {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        match cx.db().get(&self.key, cx.now_ms) {
            None => Ok(Reply::Null),
            Some(v) => Ok(Reply::Bulk(v.as_str()?.clone())),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cond {
    IfMissing,
    IfExists,
}

/// A TTL as given: relative TTLs stay relative until apply resolves them with the
/// entry's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// Milliseconds from the entry's time.
    In(u64),
    /// Absolute Unix milliseconds.
    At(u64),
    /// Keep the current deadline.
    Keep,
}

impl Ttl {
    /// Parses the amount after EX / PX / EXAT / PXAT; `cmd` names the command in the
    /// error, as Redis does.
    pub fn parse(unit: &str, args: &mut Args<'_>, cmd: &'static str) -> Result<Ttl, CmdError> {
        let n = args.next_i64()?;
        if n <= 0 {
            return Err(CmdError::InvalidExpire(cmd));
        }
        let n = n as u64;
        let ms = |secs: u64| secs.checked_mul(1000).ok_or(CmdError::InvalidExpire(cmd));
        Ok(match unit {
            "EX" => Ttl::In(ms(n)?),
            "PX" => Ttl::In(n),
            "EXAT" => Ttl::At(ms(n)?),
            _ => Ttl::At(n),
        })
    }

    /// The absolute deadline at `now_ms`; `None` for KEEPTTL.
    pub fn resolve(self, now_ms: u64) -> Result<Option<u64>, CmdError> {
        match self {
            Ttl::In(ms) => now_ms.checked_add(ms).map(Some).ok_or(CmdError::InvalidExpire("set")),
            Ttl::At(ms) => Ok(Some(ms)),
            Ttl::Keep => Ok(None),
        }
    }
}

/// `SET key value [NX | XX] [GET] [EX s | PX ms | EXAT ts | PXAT ts-ms | KEEPTTL]`
struct Set {
    key: Bytes,
    value: Bytes,
    cond: Option<Cond>,
    get: bool,
    ttl: Option<Ttl>,
}

impl Parse for Set {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let value = args.next_bytes()?;
        let mut cmd = Set { key, value, cond: None, get: false, ttl: None };
        while !args.is_empty() {
            let duplicate = if args.eat("NX") {
                cmd.cond.replace(Cond::IfMissing).is_some()
            } else if args.eat("XX") {
                cmd.cond.replace(Cond::IfExists).is_some()
            } else if args.eat("GET") {
                std::mem::replace(&mut cmd.get, true)
            } else if args.eat("KEEPTTL") {
                cmd.ttl.replace(Ttl::Keep).is_some()
            } else {
                let unit = ["EX", "PX", "EXAT", "PXAT"].into_iter().find(|u| args.peek_is(u));
                match unit {
                    Some(unit) if args.remaining() >= 2 => {
                        args.next_bytes()?;
                        if cmd.ttl.is_some() {
                            return Err(CmdError::Syntax);
                        }
                        cmd.ttl = Some(Ttl::parse(unit, args, "set")?);
                        false
                    }
                    _ => return Err(CmdError::Syntax),
                }
            };
            if duplicate {
                return Err(CmdError::Syntax);
            }
        }
        Ok(cmd)
    }
}

impl WriteCommand for Set {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        let mut db = cx.db();
        let old = match db.get_entry(&self.key, now_ms) {
            None => None,
            Some(e) => Some((e.value.clone(), e.expire_at_ms)),
        };
        let old_value = match (&old, self.get) {
            (Some((v, _)), true) => Some(v.as_str()?.clone()),
            _ => None,
        };
        let blocked = matches!(
            (self.cond, old.is_some()),
            (Some(Cond::IfMissing), true) | (Some(Cond::IfExists), false)
        );
        let get_reply = || match &old_value {
            Some(v) => Reply::Bulk(v.clone()),
            None => Reply::Null,
        };
        if blocked {
            return Ok(if self.get { get_reply() } else { Reply::Null });
        }
        let expire_at_ms = match self.ttl {
            Some(Ttl::Keep) => old.as_ref().and_then(|(_, at)| *at),
            Some(ttl) => ttl.resolve(now_ms)?,
            None => None,
        };
        db.set(self.key, Value::Str(Bytes::copy_from_slice(&self.value)), expire_at_ms, "set");
        Ok(if self.get { get_reply() } else { Reply::ok() })
    }
}
