//! Pub/sub commands: SUBSCRIBE and friends, PUBLISH, SPUBLISH and PUBSUB introspection.
//!
//! All are session commands over the registry in `crate::pubsub`; none is a log entry.
//! PUBLISH delivers to this node's subscribers only (single-node Engram; a cluster would
//! have to carry it between nodes). Keyspace notifications are produced on the apply path
//! instead (`crate::notify`). The RESP2 subscribed-mode restriction lives in
//! `crate::pubsub::gate`.

use crate::cmd::args::Args;
use crate::cmd::ctx::SessionCtx;
use crate::cmd::spec::{CmdResult, CommandSpec, Exec, Flags, Group, KeyFlags, KeySpec};
use crate::error::CmdError;
use crate::pubsub::Kind;
use crate::reply::Reply;

const SUBSCRIBE_FLAGS: Flags =
    Flags::PUBSUB.with(Flags::NOSCRIPT).with(Flags::LOADING).with(Flags::STALE);
const PUBLISH_FLAGS: Flags =
    Flags::PUBSUB.with(Flags::LOADING).with(Flags::STALE).with(Flags::FAST);
const INTROSPECTION_FLAGS: Flags = Flags::PUBSUB.with(Flags::LOADING).with(Flags::STALE);
/// Shard channels are declared as keys (for cluster slot routing) that are not keys.
const SHARD_CHANNELS: &[KeySpec] = &[KeySpec::range(1, -1, 1, KeyFlags::NOT_KEY)];

const fn spec(
    name: &'static str,
    summary: &'static str,
    since: &'static str,
    complexity: &'static str,
    arity: i32,
    flags: Flags,
    exec: Exec,
) -> CommandSpec {
    CommandSpec {
        name,
        group: Group::Pubsub,
        summary,
        since,
        complexity,
        arity,
        flags,
        exec,
        ..CommandSpec::DEFAULT
    }
}

pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "subscribe",
        "Listens for messages published to channels.",
        "2.0.0",
        "O(N) where N is the number of channels to subscribe to.",
        -2,
        SUBSCRIBE_FLAGS,
        Exec::Session(subscribe::<{ CHANNEL }>),
    ),
    spec(
        "unsubscribe",
        "Stops listening to messages posted to channels.",
        "2.0.0",
        "O(N) where N is the number of channels to unsubscribe.",
        -1,
        SUBSCRIBE_FLAGS,
        Exec::Session(unsubscribe::<{ CHANNEL }>),
    ),
    spec(
        "psubscribe",
        "Listens for messages published to channels that match one or more patterns.",
        "2.0.0",
        "O(N) where N is the number of patterns to subscribe to.",
        -2,
        SUBSCRIBE_FLAGS,
        Exec::Session(subscribe::<{ PATTERN }>),
    ),
    spec(
        "punsubscribe",
        "Stops listening to messages published to channels that match one or more patterns.",
        "2.0.0",
        "O(N) where N is the number of patterns to unsubscribe.",
        -1,
        SUBSCRIBE_FLAGS,
        Exec::Session(unsubscribe::<{ PATTERN }>),
    ),
    CommandSpec {
        keys: SHARD_CHANNELS,
        ..spec(
            "ssubscribe",
            "Listens for messages published to shard channels.",
            "7.0.0",
            "O(N) where N is the number of shard channels to subscribe to.",
            -2,
            SUBSCRIBE_FLAGS,
            Exec::Session(subscribe::<{ SHARD }>),
        )
    },
    CommandSpec {
        keys: SHARD_CHANNELS,
        ..spec(
            "sunsubscribe",
            "Stops listening to messages posted to shard channels.",
            "7.0.0",
            "O(N) where N is the number of shard channels to unsubscribe.",
            -1,
            SUBSCRIBE_FLAGS,
            Exec::Session(unsubscribe::<{ SHARD }>),
        )
    },
    spec(
        "publish",
        "Posts a message to a channel.",
        "2.0.0",
        "O(N+M) where N is the number of clients subscribed to the receiving channel and M \
         is the total number of subscribed patterns (by any client).",
        3,
        PUBLISH_FLAGS,
        Exec::Session(publish::<{ CHANNEL }>),
    ),
    CommandSpec {
        keys: &[KeySpec::single(1, KeyFlags::NOT_KEY)],
        ..spec(
            "spublish",
            "Post a message to a shard channel",
            "7.0.0",
            "O(N) where N is the number of clients subscribed to the receiving shard channel.",
            3,
            PUBLISH_FLAGS,
            Exec::Session(publish::<{ SHARD }>),
        )
    },
    CommandSpec {
        subcommands: PUBSUB_SUBCOMMANDS,
        ..spec(
            "pubsub",
            "A container for Pub/Sub commands.",
            "2.8.0",
            "Depends on subcommand.",
            -2,
            Flags::NONE,
            Exec::Container,
        )
    },
];

const PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "channels",
        "Returns the active channels.",
        "2.8.0",
        "O(N) where N is the number of active channels, and assuming constant time pattern \
         matching (relatively short channels and patterns)",
        -2,
        INTROSPECTION_FLAGS,
        Exec::Session(channels::<{ CHANNEL }>),
    ),
    spec(
        "numpat",
        "Returns a count of unique pattern subscriptions.",
        "2.8.0",
        "O(1)",
        2,
        INTROSPECTION_FLAGS,
        Exec::Session(numpat),
    ),
    spec(
        "numsub",
        "Returns a count of subscribers to channels.",
        "2.8.0",
        "O(N) for the NUMSUB subcommand, where N is the number of requested channels",
        -2,
        INTROSPECTION_FLAGS,
        Exec::Session(numsub::<{ CHANNEL }>),
    ),
    spec(
        "shardchannels",
        "Returns the active shard channels.",
        "7.0.0",
        "O(N) where N is the number of active shard channels, and assuming constant time \
         pattern matching (relatively short shard channels).",
        -2,
        INTROSPECTION_FLAGS,
        Exec::Session(channels::<{ SHARD }>),
    ),
    spec(
        "shardnumsub",
        "Returns the count of subscribers of shard channels.",
        "7.0.0",
        "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard \
         channels",
        -2,
        INTROSPECTION_FLAGS,
        Exec::Session(numsub::<{ SHARD }>),
    ),
    spec(
        "help",
        "Returns helpful text about the different subcommands.",
        "6.2.0",
        "O(1)",
        2,
        Flags::LOADING.with(Flags::STALE),
        Exec::Session(help),
    ),
];

// Const-generic stand-ins for `Kind` (enums cannot be const parameters on stable).
const CHANNEL: u8 = 0;
const PATTERN: u8 = 1;
const SHARD: u8 = 2;

const fn kind(k: u8) -> Kind {
    match k {
        PATTERN => Kind::Pattern,
        SHARD => Kind::Shard,
        _ => Kind::Channel,
    }
}

/// `SUBSCRIBE channel [channel ...]`, `PSUBSCRIBE pattern [pattern ...]`,
/// `SSUBSCRIBE shardchannel [shardchannel ...]`
fn subscribe<const K: u8>(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let names = args.take_rest();
    Ok(cx.shared.pubsub.subscribe(cx.session.info.id, kind(K), names))
}

/// `UNSUBSCRIBE [channel ...]`, `PUNSUBSCRIBE [pattern ...]`,
/// `SUNSUBSCRIBE [shardchannel ...]`
fn unsubscribe<const K: u8>(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let names = args.take_rest();
    Ok(cx.shared.pubsub.unsubscribe(cx.session.info.id, kind(K), names))
}

/// `PUBLISH channel message`, `SPUBLISH shardchannel message`
fn publish<const K: u8>(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let channel = args.next_bytes()?;
    let message = args.next_bytes()?;
    let n = cx.shared.pubsub.publish(kind(K), &channel, &message, &cx.shared.config);
    Ok(Reply::Int(n))
}

/// `PUBSUB CHANNELS [pattern]`, `PUBSUB SHARDCHANNELS [pattern]`
fn channels<const K: u8>(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    if args.remaining() > 1 {
        let sub = if K == SHARD { "shardchannels" } else { "channels" };
        return Err(CmdError::SubcommandArity { sub: sub.into(), container: "PUBSUB" });
    }
    let pattern = args.take_rest().first();
    let names = cx.shared.pubsub.channels(kind(K), pattern.map(|p| &p[..]));
    Ok(Reply::Array(names.into_iter().map(Reply::Bulk).collect()))
}

/// `PUBSUB NUMSUB [channel ...]`, `PUBSUB SHARDNUMSUB [shardchannel ...]`: a flat array
/// of channel, count pairs in both protocols.
fn numsub<const K: u8>(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let counts = cx.shared.pubsub.numsub(kind(K), args.take_rest());
    let mut out = Vec::with_capacity(counts.len() * 2);
    for (name, n) in counts {
        out.push(Reply::Bulk(name));
        out.push(Reply::Int(n));
    }
    Ok(Reply::Array(out))
}

/// `PUBSUB NUMPAT`
fn numpat(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(Reply::Int(cx.shared.pubsub.numpat()))
}

/// `PUBSUB HELP`
fn help(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(crate::cmd::server::help_reply(
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    ))
}
