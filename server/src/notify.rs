//! Keyspace notifications: a [`KeyspaceObserver`] that turns each applied entry's key
//! events into pub/sub messages, `__keyspace@<db>__:<key>` -> event and
//! `__keyevent@<db>__:<event>` -> key, gated by `notify-keyspace-events`.
//!
//! Runs on the apply path, so notifications follow log order. It only publishes (a
//! non-blocking send per subscriber) and reads the flags from the config when somebody
//! is subscribed at all, so a server without subscribers pays one atomic load per entry.
//! It never changes the keyspace.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use crate::config::ConfigStore;
use crate::fsm::KeyspaceObserver;
use crate::keyspace::{KeyEvent, Keyspace};
use crate::pubsub::{Kind, PubSub};

/// Event classes, one bit per flag character.
mod class {
    pub const KEYSPACE: u32 = 1 << 0; // K
    pub const KEYEVENT: u32 = 1 << 1; // E
    pub const GENERIC: u32 = 1 << 2; // g
    pub const STRING: u32 = 1 << 3; // $
    pub const LIST: u32 = 1 << 4; // l
    pub const SET: u32 = 1 << 5; // s
    pub const HASH: u32 = 1 << 6; // h
    pub const ZSET: u32 = 1 << 7; // z
    pub const EXPIRED: u32 = 1 << 8; // x
    pub const EVICTED: u32 = 1 << 9; // e
    pub const STREAM: u32 = 1 << 10; // t
    pub const KEY_MISS: u32 = 1 << 11; // m
    pub const MODULE: u32 = 1 << 12; // d
    pub const NEW: u32 = 1 << 13; // n
    /// `A`: every class except `m` and `n`.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// Class characters in the order Redis prints them (`K`, `E` and `m` come last).
const CLASS_CHARS: &[(char, u32)] = &[
    ('g', class::GENERIC),
    ('$', class::STRING),
    ('l', class::LIST),
    ('s', class::SET),
    ('h', class::HASH),
    ('z', class::ZSET),
    ('x', class::EXPIRED),
    ('e', class::EVICTED),
    ('t', class::STREAM),
    ('d', class::MODULE),
    ('n', class::NEW),
];

/// The reason CONFIG SET gives for a bad flag string.
pub const INVALID_FLAGS: &str = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";

/// Parses a `notify-keyspace-events` value into class bits.
pub fn parse_flags(text: &str) -> Option<u32> {
    let mut flags = 0;
    for c in text.chars() {
        flags |= match c {
            'A' => class::ALL,
            'K' => class::KEYSPACE,
            'E' => class::KEYEVENT,
            'm' => class::KEY_MISS,
            _ => CLASS_CHARS.iter().find(|(ch, _)| *ch == c)?.1,
        };
    }
    Some(flags)
}

/// The canonical text of `flags`, as CONFIG GET shows it: `A` when every class of `A` is
/// set (then `n` is not shown), else the class letters; then `K`, `E`, `m`.
pub fn flags_to_string(flags: u32) -> String {
    let mut out = String::new();
    if flags & class::ALL == class::ALL {
        out.push('A');
    } else {
        out.extend(CLASS_CHARS.iter().filter(|(_, bit)| flags & bit != 0).map(|(c, _)| *c));
    }
    for (c, bit) in [('K', class::KEYSPACE), ('E', class::KEYEVENT), ('m', class::KEY_MISS)] {
        if flags & bit != 0 {
            out.push(c);
        }
    }
    out
}

/// CONFIG SET validation: the canonical text, or the reason it was refused.
pub fn normalise_flags(text: &str) -> Result<String, String> {
    parse_flags(text).map(flags_to_string).ok_or_else(|| INVALID_FLAGS.to_string())
}

/// The class an event name belongs to (unknown names count as generic).
fn class_of(event: &str) -> u32 {
    match event {
        "set" | "setrange" | "incrby" | "incrbyfloat" | "append" | "setbit" | "pfadd" => {
            class::STRING
        }
        "lpush" | "rpush" | "lpop" | "rpop" | "linsert" | "lset" | "lrem" | "ltrim"
        | "sortstore" => class::LIST,
        "sadd" | "srem" | "spop" | "sinterstore" | "sunionstore" | "sdiffstore" => class::SET,
        "hset" | "hdel" | "hincrby" | "hincrbyfloat" | "hexpire" | "hpersist" | "hexpired" => {
            class::HASH
        }
        "zadd" | "zincr" | "zrem" | "zremrangebyscore" | "zremrangebyrank" | "zremrangebylex"
        | "zinterstore" | "zunionstore" | "zdiffstore" | "zrangestore" | "zpopmin" | "zpopmax" => {
            class::ZSET
        }
        "expired" => class::EXPIRED,
        "evicted" => class::EVICTED,
        "new" => class::NEW,
        "keymiss" => class::KEY_MISS,
        e if e.starts_with("xgroup-")
            || matches!(e, "xadd" | "xtrim" | "xdel" | "xsetid" | "xclaim" | "xautoclaim") =>
        {
            class::STREAM
        }
        // RedisJSON notifies its events (`json.set`, `json.del`, ...) as module events.
        e if e.starts_with("json.") => class::MODULE,
        _ => class::GENERIC,
    }
}

/// Publishes keyspace notifications for applied key events.
pub struct Notifier {
    pubsub: Arc<PubSub>,
    config: Arc<ConfigStore>,
}

impl Notifier {
    /// A notifier publishing to `pubsub`, reading its flags from `config`.
    pub fn new(pubsub: Arc<PubSub>, config: Arc<ConfigStore>) -> Self {
        Self { pubsub, config }
    }
}

/// `__<kind>@<db>__:<suffix>`.
fn channel(kind: &str, db: usize, suffix: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(kind.len() + suffix.len() + 16);
    out.put_slice(b"__");
    out.put_slice(kind.as_bytes());
    out.put_u8(b'@');
    out.put_slice(itoa::Buffer::new().format(db).as_bytes());
    out.put_slice(b"__:");
    out.put_slice(suffix);
    out.freeze()
}

impl KeyspaceObserver for Notifier {
    fn on_events(&mut self, events: &[KeyEvent], _ks: &Keyspace, _now_ms: u64) {
        if !self.pubsub.any_subscribed() {
            return;
        }
        let Some(flags) = self.config.get("notify-keyspace-events").and_then(|t| parse_flags(&t))
        else {
            return;
        };
        if flags & (class::KEYSPACE | class::KEYEVENT) == 0 {
            return;
        }
        for ev in events {
            if crate::keyspace::is_db_event(ev.event) || flags & class_of(ev.event) == 0 {
                continue;
            }
            let event = Bytes::from_static(ev.event.as_bytes());
            if flags & class::KEYSPACE != 0 {
                let ch = channel("keyspace", ev.db, &ev.key);
                self.pubsub.publish(Kind::Channel, &ch, &event, &self.config);
            }
            if flags & class::KEYEVENT != 0 {
                let ch = channel("keyevent", ev.db, ev.event.as_bytes());
                self.pubsub.publish(Kind::Channel, &ch, &ev.key, &self.config);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_normalise_as_redis_prints_them() {
        assert_eq!(normalise_flags("gKE").unwrap(), "gKE");
        assert_eq!(normalise_flags("$lshzxeKE").unwrap(), "$lshzxeKE");
        assert_eq!(normalise_flags("KA").unwrap(), "AK");
        assert_eq!(normalise_flags("EA").unwrap(), "AE");
        assert_eq!(normalise_flags("ndtegxzhsl$").unwrap(), "A");
        assert_eq!(normalise_flags("mEK").unwrap(), "KEm");
        assert_eq!(normalise_flags("KK").unwrap(), "K");
        assert_eq!(normalise_flags("").unwrap(), "");
        assert_eq!(normalise_flags("ndt").unwrap(), "tdn");
        assert_eq!(normalise_flags("foo"), Err(INVALID_FLAGS.to_string()));
        assert_eq!(normalise_flags(" "), Err(INVALID_FLAGS.to_string()));
    }

    #[test]
    fn events_fall_into_redis_classes() {
        assert_eq!(class_of("set"), class::STRING);
        assert_eq!(class_of("del"), class::GENERIC);
        assert_eq!(class_of("rename_to"), class::GENERIC);
        assert_eq!(class_of("lpush"), class::LIST);
        assert_eq!(class_of("xgroup-createconsumer"), class::STREAM);
        assert_eq!(class_of("expired"), class::EXPIRED);
        assert_eq!(class_of("hexpired"), class::HASH);
        assert_eq!(class_of("zincr"), class::ZSET);
    }

    #[test]
    fn channels_name_the_database() {
        assert_eq!(channel("keyspace", 9, b"foo"), Bytes::from_static(b"__keyspace@9__:foo"));
        assert_eq!(channel("keyevent", 0, b"del"), Bytes::from_static(b"__keyevent@0__:del"));
    }
}
