//! `DUMP` and `RESTORE`: a key's value as an opaque payload and back.
//!
//! The payload is Engram's own, not Redis's RDB encoding: the write commands that
//! recreate the value (the snapshot rewrite's, `rewrite::rewrite_entry`), each with its
//! key left out and its position noted, then a format version and a CRC-64 of all of it (the layout of Redis's trailer).
//! It round-trips between Engram servers of this format version or later (what RESTORE
//! after DUMP, COPY between instances and key migration need); a payload made by Redis
//! is refused as Redis refuses a damaged one. RESTORE runs the commands in its own log
//! entry, so replicas and replay rebuild the same value.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::cmd::spec::{CmdResult, Parse, ReadCommand, WriteCommand};
use crate::cmd::{ApplyCtx, Args, ReadCtx};
use crate::error::CmdError;
use crate::keyspace::Entry;
use crate::reply::Reply;

/// Version of the payload layout, written last but for the checksum.
const PAYLOAD_VERSION: u16 = 1;
/// Leading bytes of every payload.
const MAGIC: &[u8; 4] = b"EGD\0";
/// The checksum Redis uses for its payloads (Jones CRC-64).
const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

const BAD_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";

/// The payload of `entry`'s value (its deadline is RESTORE's argument, not the payload's).
pub fn payload(entry: &Entry) -> Result<Bytes, CmdError> {
    let value = Entry::new(entry.value.clone(), None, 0);
    // Any key will do: it is cut out of every command below.
    let key = Bytes::from_static(b"k");
    let mut commands = Vec::new();
    crate::rewrite::rewrite_entry(&key, &value, &mut |argv| commands.push(argv));
    let mut out = BytesMut::new();
    out.put_slice(MAGIC);
    out.put_u32_le(commands.len() as u32);
    for argv in &commands {
        let (spec, _, _) = crate::cmd::resolve(argv).map_err(|_| CmdError::Internal)?;
        let keys = crate::cmd::keys_of(spec, argv);
        let at = argv
            .iter()
            .position(|item| keys.first().is_some_and(|k| std::ptr::eq(*k, item)))
            .ok_or(CmdError::Internal)?;
        out.put_u32_le(at as u32);
        out.put_u32_le(argv.len() as u32 - 1);
        for item in argv.iter().enumerate().filter(|(i, _)| *i != at).map(|(_, item)| item) {
            out.put_u32_le(item.len() as u32);
            out.put_slice(item);
        }
    }
    out.put_u16_le(PAYLOAD_VERSION);
    let crc = CRC64.checksum(&out);
    out.put_u64_le(crc);
    Ok(out.freeze())
}

/// The commands a payload holds, with `key` put back in place; `None` if the payload is
/// damaged, from another format version, or not one of ours.
fn commands(payload: &[u8], key: &Bytes) -> Option<Vec<Vec<Bytes>>> {
    let (body, crc) = payload.split_last_chunk::<8>()?;
    if CRC64.checksum(body) != u64::from_le_bytes(*crc) {
        return None;
    }
    let (body, version) = body.split_last_chunk::<2>()?;
    if u16::from_le_bytes(*version) != PAYLOAD_VERSION {
        return None;
    }
    let mut input = body.strip_prefix(MAGIC)?;
    let take_u32 = |input: &mut &[u8]| {
        let n = input.try_get_u32_le().ok()?;
        usize::try_from(n).ok()
    };
    let count = take_u32(&mut input)?;
    let mut commands = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let at = take_u32(&mut input)?;
        let items = take_u32(&mut input)?;
        if at == 0 || at > items {
            return None;
        }
        let mut argv = Vec::with_capacity(items.min(1024) + 1);
        for _ in 0..items {
            let len = take_u32(&mut input)?;
            let item = input.get(..len)?;
            argv.push(Bytes::copy_from_slice(item));
            input = &input[len..];
        }
        argv.insert(at, key.clone());
        commands.push(argv);
    }
    input.is_empty().then_some(commands)
}

/// `DUMP key`
pub struct Dump {
    key: Bytes,
}

impl Parse for Dump {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(Dump { key: args.next_bytes()? })
    }
}

impl ReadCommand for Dump {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        match cx.db().get_entry(&self.key, cx.now_ms) {
            Some(entry) => Ok(Reply::Bulk(payload(entry)?)),
            None => Ok(Reply::Null),
        }
    }
}

/// `RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]`
pub struct Restore {
    key: Bytes,
    ttl: i64,
    payload: Bytes,
    replace: bool,
    absolute: bool,
}

impl Parse for Restore {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        let ttl = args.next_i64()?;
        let payload = args.next_bytes()?;
        let mut restore = Restore { key, ttl, payload, replace: false, absolute: false };
        // IDLETIME and FREQ exclude each other (Redis answers a syntax error).
        let (mut idle_given, mut freq_given) = (false, false);
        while !args.is_empty() {
            if args.eat("REPLACE") {
                restore.replace = true;
            } else if args.eat("ABSTTL") {
                restore.absolute = true;
            } else if args.remaining() >= 2 && !freq_given && args.eat("IDLETIME") {
                idle_given = true;
                // Access times are not kept; the value is checked as Redis checks it.
                if args.next_i64()? < 0 {
                    return Err(CmdError::err("Invalid IDLETIME value, must be >= 0"));
                }
            } else if args.remaining() >= 2 && !idle_given && args.eat("FREQ") {
                freq_given = true;
                let freq = args.next_i64()?;
                if !(0..=255).contains(&freq) {
                    return Err(CmdError::err("Invalid FREQ value, must be >= 0 and <= 255"));
                }
            } else {
                return Err(CmdError::Syntax);
            }
        }
        if restore.ttl < 0 {
            return Err(CmdError::err("Invalid TTL value, must be >= 0"));
        }
        Ok(restore)
    }
}

impl WriteCommand for Restore {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let now_ms = cx.now_ms;
        if !self.replace && cx.db().get_entry(&self.key, now_ms).is_some() {
            return Err(CmdError::Custom("BUSYKEY Target key name already exists.".into()));
        }
        let commands =
            commands(&self.payload, &self.key).ok_or(CmdError::Custom(BAD_PAYLOAD.into()))?;
        let deadline = match (self.ttl, self.absolute) {
            (0, _) => None,
            (ttl, true) => Some(ttl as u64),
            (ttl, false) => Some(now_ms.saturating_add(ttl as u64)),
        };
        cx.db().remove(&self.key, now_ms, "del");
        // Already past its deadline: Redis leaves the key out (and still answers OK).
        if deadline.is_some_and(|at| at <= now_ms) {
            return Ok(Reply::ok());
        }
        for argv in &commands {
            if let Reply::Error(_) = crate::fsm::apply_write(argv, cx) {
                // A payload that checks out but does not rebuild (a newer build's value):
                // leave nothing half made, the same way on every replica.
                cx.db().remove(&self.key, now_ms, "del");
                return Err(CmdError::err("Bad data format"));
            }
        }
        if deadline.is_some() {
            cx.db().set_expiry(&self.key, now_ms, deadline, "restore");
        } else {
            cx.db().event(&self.key, "restore");
        }
        Ok(Reply::ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_or_foreign_payloads_are_refused() {
        let key = Bytes::from_static(b"k");
        let entry = Entry::new(crate::keyspace::Value::Str("hello".into()), None, 0);
        let good = payload(&entry).unwrap_or_default();
        let argvs = commands(&good, &Bytes::from_static(b"target"));
        assert_eq!(
            argvs,
            Some(vec![vec![Bytes::from("SET"), Bytes::from("target"), Bytes::from("hello")]])
        );
        for cut in 0..good.len() {
            assert_eq!(commands(&good[..cut], &key), None, "cut at {cut}");
        }
        let mut flipped = good.to_vec();
        flipped[6] ^= 1;
        assert_eq!(commands(&flipped, &key), None);
        // A Redis 7.4 payload of the string "hello".
        let redis = b"\x00\x05hello\x0b\x00\xf3\xa1\x1e\xd9\xa5\x9e\xd5\xa0";
        assert_eq!(commands(redis, &key), None);
    }
}
