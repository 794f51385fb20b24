//! Connection commands: PING, ECHO, SELECT, QUIT, HELLO, AUTH, RESET, CLIENT.

use std::borrow::Cow;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use crate::cmd::spec::{CmdResult, CommandSpec, Exec, Flags, Group};
use crate::cmd::{Args, SessionCtx};
use crate::error::CmdError;
use crate::reply::Reply;
use crate::resp::Proto;
use crate::session::{After, ClientInfo, ReplyMode};

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "ping",
        group: Group::Connection,
        summary: "Returns the server's liveliness response.",
        since: "1.0.0",
        complexity: "O(1)",
        arity: -1,
        flags: Flags::FAST,
        exec: Exec::Session(ping),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "echo",
        group: Group::Connection,
        summary: "Returns the given string.",
        since: "1.0.0",
        complexity: "O(1)",
        arity: 2,
        flags: Flags::LOADING.with(Flags::STALE).with(Flags::FAST),
        exec: Exec::Session(echo),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "select",
        group: Group::Connection,
        summary: "Changes the selected database.",
        since: "1.0.0",
        complexity: "O(1)",
        arity: 2,
        flags: Flags::LOADING.with(Flags::STALE).with(Flags::FAST),
        exec: Exec::Session(select),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "wait",
        group: Group::Generic,
        summary: "Blocks until the asynchronous replication of all preceding write commands \
                  sent by the connection is completed.",
        since: "3.0.0",
        complexity: "O(1)",
        arity: 3,
        flags: Flags::BLOCKING,
        acl: &["connection"],
        exec: Exec::Session(wait),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "waitaof",
        group: Group::Generic,
        summary: "Blocks until all of the preceding write commands sent by the connection are \
                  written to the append-only file of the master and/or replicas.",
        since: "7.2.0",
        complexity: "O(1)",
        arity: 4,
        flags: Flags::BLOCKING,
        acl: &["connection"],
        exec: Exec::Session(waitaof),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "quit",
        group: Group::Connection,
        summary: "Closes the connection.",
        since: "1.0.0",
        complexity: "O(1)",
        arity: -1,
        flags: Flags::ALLOW_BUSY
            .with(Flags::NOSCRIPT)
            .with(Flags::LOADING)
            .with(Flags::STALE)
            .with(Flags::FAST)
            .with(Flags::NO_AUTH),
        exec: Exec::Session(quit),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "hello",
        group: Group::Connection,
        summary: "Handshakes with the Redis server.",
        since: "6.0.0",
        complexity: "O(1)",
        arity: -1,
        flags: Flags::NOSCRIPT
            .with(Flags::LOADING)
            .with(Flags::STALE)
            .with(Flags::FAST)
            .with(Flags::NO_AUTH)
            .with(Flags::ALLOW_BUSY),
        exec: Exec::Session(hello),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "auth",
        group: Group::Connection,
        summary: "Authenticates the connection.",
        since: "1.0.0",
        complexity: "O(N) where N is the number of passwords defined for the user",
        arity: -2,
        flags: Flags::NOSCRIPT
            .with(Flags::LOADING)
            .with(Flags::STALE)
            .with(Flags::FAST)
            .with(Flags::NO_AUTH)
            .with(Flags::ALLOW_BUSY),
        exec: Exec::Session(auth),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "reset",
        group: Group::Connection,
        summary: "Resets the connection.",
        since: "6.2.0",
        complexity: "O(1)",
        arity: 1,
        flags: Flags::NOSCRIPT
            .with(Flags::LOADING)
            .with(Flags::STALE)
            .with(Flags::FAST)
            .with(Flags::NO_AUTH)
            .with(Flags::ALLOW_BUSY),
        exec: Exec::Session(reset),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "client",
        group: Group::Connection,
        summary: "A container for client connection commands.",
        since: "2.4.0",
        complexity: "Depends on subcommand.",
        arity: -2,
        subcommands: CLIENT_SUBCOMMANDS,
        ..CommandSpec::DEFAULT
    },
];

const CLIENT_FLAGS: Flags = Flags::NOSCRIPT.with(Flags::LOADING).with(Flags::STALE);
const CLIENT_ADMIN: Flags = Flags::ADMIN.with(CLIENT_FLAGS);

const fn client_sub(
    name: &'static str,
    summary: &'static str,
    since: &'static str,
    arity: i32,
    flags: Flags,
    exec: crate::cmd::spec::SessionFn,
) -> CommandSpec {
    CommandSpec {
        name,
        group: Group::Connection,
        summary,
        since,
        complexity: "O(1)",
        arity,
        flags,
        exec: Exec::Session(exec),
        ..CommandSpec::DEFAULT
    }
}

const CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    client_sub(
        "id",
        "Returns the unique client ID of the connection.",
        "5.0.0",
        2,
        CLIENT_FLAGS,
        client_id,
    ),
    client_sub("setname", "Sets the connection name.", "2.6.9", 3, CLIENT_FLAGS, client_setname),
    client_sub(
        "getname",
        "Returns the name of the connection.",
        "2.6.9",
        2,
        CLIENT_FLAGS,
        client_getname,
    ),
    CommandSpec {
        complexity: "O(N) where N is the number of client connections",
        ..client_sub("list", "Lists open connections.", "2.4.0", -2, CLIENT_ADMIN, client_list)
    },
    client_sub(
        "info",
        "Returns information about the connection.",
        "6.2.0",
        2,
        CLIENT_FLAGS,
        client_info,
    ),
    CommandSpec {
        complexity: "O(N) where N is the number of client connections",
        ..client_sub("kill", "Terminates open connections.", "2.4.0", -3, CLIENT_ADMIN, client_kill)
    },
    client_sub(
        "setinfo",
        "Sets information specific to the client or connection.",
        "7.2.0",
        4,
        CLIENT_FLAGS,
        client_setinfo,
    ),
    client_sub(
        "reply",
        "Instructs the server whether to reply to commands.",
        "3.2.0",
        3,
        CLIENT_FLAGS,
        client_reply,
    ),
    client_sub(
        "no-evict",
        "Sets the client eviction mode of the connection.",
        "7.0.0",
        3,
        CLIENT_ADMIN,
        client_no_evict,
    ),
    client_sub(
        "no-touch",
        "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
        "7.2.0",
        3,
        CLIENT_FLAGS,
        client_no_touch,
    ),
    CommandSpec {
        complexity: "O(log N) where N is the number of client connections",
        ..client_sub(
            "unblock",
            "Unblocks a client blocked by a blocking command from a different connection.",
            "5.0.0",
            -3,
            CLIENT_ADMIN,
            client_unblock,
        )
    },
    client_sub("pause", "Suspends commands processing.", "3.0.0", -3, CLIENT_ADMIN, client_pause),
    client_sub(
        "unpause",
        "Resumes processing commands from paused clients.",
        "6.2.0",
        2,
        CLIENT_ADMIN,
        client_unpause,
    ),
    client_sub(
        "getredir",
        "Returns the client ID to which the connection's tracking notifications are redirected.",
        "6.0.0",
        2,
        CLIENT_FLAGS,
        crate::tracking::client_getredir,
    ),
    CommandSpec {
        complexity: "O(1). Some options may introduce additional complexity.",
        ..client_sub(
            "tracking",
            "Controls server-assisted client-side caching for the connection.",
            "6.0.0",
            -3,
            CLIENT_FLAGS,
            crate::tracking::client_tracking,
        )
    },
    client_sub(
        "caching",
        "Instructs the server whether to track the keys in the next request.",
        "6.0.0",
        3,
        CLIENT_FLAGS,
        crate::tracking::client_caching,
    ),
    client_sub(
        "trackinginfo",
        "Returns information about server-assisted client-side caching for the connection.",
        "6.2.0",
        2,
        CLIENT_FLAGS,
        crate::tracking::client_trackinginfo,
    ),
    client_sub(
        "help",
        "Returns helpful text about the different subcommands.",
        "5.0.0",
        2,
        Flags::LOADING.with(Flags::STALE),
        client_help,
    ),
];

fn ping(args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    match args.remaining() {
        0 => Ok(Reply::Status(Cow::Borrowed("PONG"))),
        1 => Ok(Reply::Bulk(args.next_bytes()?)),
        _ => Err(CmdError::WrongArity("ping".into())),
    }
}

/// `WAIT numreplicas timeout`: a single node has no replicas to wait for, and every
/// acknowledged write is already in its own log, so it answers at once.
fn wait(args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    args.next_i64()?;
    if args.next_i64()? < 0 {
        return Err(CmdError::TimeoutNegative);
    }
    Ok(Reply::Int(0))
}

/// `WAITAOF numlocal numreplicas timeout`: with a durable log every acknowledged write
/// is already fsynced locally (Redis's "appendfsync always"); `durability none` is
/// Redis without an append-only file.
fn waitaof(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let numlocal = args.next_i64()?;
    args.next_i64()?;
    if args.next_i64()? < 0 {
        return Err(CmdError::TimeoutNegative);
    }
    let durable = cx.shared.config.get("durability").is_none_or(|d| d != "none");
    if numlocal > 0 && !durable {
        return Err(CmdError::err(
            "WAITAOF cannot be used when numlocal is set but appendonly is disabled.",
        ));
    }
    Ok(Reply::Array(vec![Reply::Int(i64::from(durable)), Reply::Int(0)]))
}

fn echo(args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(Reply::Bulk(args.next_bytes()?))
}

fn select(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let index = args.next_i64()?;
    let databases = cx.shared.read_keyspace()?.len() as i64;
    if index < 0 || index >= databases {
        return Err(CmdError::DbIndexOutOfRange);
    }
    cx.session.db = index as usize;
    cx.session.sync_view();
    Ok(Reply::ok())
}

fn quit(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    cx.session.after = Some(After::Close);
    Ok(Reply::ok())
}

/// Checks a password for `user` against `requirepass` (the default user only, until ACL).
fn check_password(cx: &SessionCtx<'_>, user: &[u8], password: &[u8]) -> Result<(), CmdError> {
    let required = cx.shared.config.get("requirepass").unwrap_or_default();
    if user != b"default" || required.is_empty() || required.as_bytes() != password {
        return Err(CmdError::WrongPass);
    }
    Ok(())
}

fn auth(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let (user, password) = match args.remaining() {
        1 => {
            if cx.shared.config.get("requirepass").unwrap_or_default().is_empty() {
                return Err(CmdError::AuthNotConfigured);
            }
            (bytes::Bytes::from_static(b"default"), args.next_bytes()?)
        }
        2 => (args.next_bytes()?, args.next_bytes()?),
        _ => return Err(CmdError::Syntax),
    };
    check_password(cx, &user, &password)?;
    cx.session.authenticated = true;
    Ok(Reply::ok())
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`
fn hello(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let mut proto = cx.session.proto;
    if !args.is_empty() {
        let ver =
            args.next_i64_or(CmdError::err("Protocol version is not an integer or out of range"))?;
        proto = match ver {
            2 => Proto::Resp2,
            3 => Proto::Resp3,
            _ => return Err(CmdError::NoProto),
        };
    }
    let mut name = None;
    while !args.is_empty() {
        if args.peek_is("AUTH") && args.remaining() >= 3 {
            args.next_bytes()?;
            let (user, password) = (args.next_bytes()?, args.next_bytes()?);
            check_password(cx, &user, &password)?;
            cx.session.authenticated = true;
        } else if args.peek_is("SETNAME") && args.remaining() >= 2 {
            args.next_bytes()?;
            let n = args.next_bytes()?;
            if n.iter().any(|&c| c <= b' ' || c > b'~') {
                return Err(CmdError::err(
                    "Client names cannot contain spaces, newlines or special characters.",
                ));
            }
            name = Some(n);
        } else {
            let bad =
                String::from_utf8_lossy(args.peek().map(|b| &b[..]).unwrap_or(b"")).into_owned();
            return Err(CmdError::Custom(format!("ERR Syntax error in HELLO option '{bad}'")));
        }
    }
    if !cx.session.authenticated {
        return Err(CmdError::Custom(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into(),
        ));
    }
    cx.session.proto = proto;
    if let Some(n) = name {
        cx.session.info.view.lock().name = Some(n);
    }
    cx.session.sync_view();
    let cluster = crate::cmd::cluster::enabled(&cx.shared.config);
    let replica = crate::cmd::cluster::is_replica(cx.shared.log.shard().as_ref());
    Ok(Reply::Map(vec![
        (Reply::bulk("server"), Reply::bulk("redis")),
        (Reply::bulk("version"), Reply::bulk(crate::REDIS_VERSION)),
        (Reply::bulk("proto"), Reply::Int(if proto == Proto::Resp3 { 3 } else { 2 })),
        (Reply::bulk("id"), Reply::Int(cx.session.info.id as i64)),
        (Reply::bulk("mode"), Reply::bulk(if cluster { "cluster" } else { "standalone" })),
        (Reply::bulk("role"), Reply::bulk(if replica { "replica" } else { "master" })),
        (Reply::bulk("modules"), Reply::Array(vec![])),
    ]))
}

/// `RESET`: back to a fresh connection's state (db 0, RESP2, replies on, no name, default
/// user, unauthenticated if a password is required). The library name and version stay.
fn reset(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let needs_auth = cx.shared.config.get("requirepass").is_some_and(|p| !p.is_empty());
    let s = &mut *cx.session;
    s.db = 0;
    s.proto = Proto::Resp2;
    s.reply_mode = ReplyMode::On;
    s.authenticated = !needs_auth;
    s.user = "default".into();
    s.multi = None;
    s.multi_failed = false;
    s.watched.clear();
    s.readonly = false;
    cx.shared.pubsub.tracking.disable(s.info.id);
    s.tracking = Default::default();
    {
        let mut v = s.info.view.lock();
        v.name = None;
        v.no_evict = false;
        v.no_touch = false;
    }
    s.sync_view();
    Ok(Reply::status("RESET"))
}

fn client_id(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(Reply::Int(cx.session.info.id as i64))
}

/// Names and library info may hold only printable ASCII without spaces.
fn printable(value: &[u8]) -> bool {
    value.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

fn client_setname(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let name = args.next_bytes()?;
    if !printable(&name) {
        return Err(CmdError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    cx.session.info.view.lock().name = (!name.is_empty()).then_some(name);
    Ok(Reply::ok())
}

fn client_getname(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(cx.session.info.view.lock().name.clone().map_or(Reply::Null, Reply::Bulk))
}

fn client_setinfo(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let attr = args.next_bytes()?;
    let value = args.next_bytes()?;
    let lib_name = attr.eq_ignore_ascii_case(b"lib-name");
    if !lib_name && !attr.eq_ignore_ascii_case(b"lib-ver") {
        return Err(CmdError::Custom(format!(
            "ERR Unrecognized option '{}'",
            String::from_utf8_lossy(&attr)
        )));
    }
    if !printable(&value) {
        return Err(CmdError::Custom(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            if lib_name { "lib-name" } else { "lib-ver" }
        )));
    }
    let value = (!value.is_empty()).then_some(value);
    let mut v = cx.session.info.view.lock();
    if lib_name {
        v.lib_name = value;
    } else {
        v.lib_ver = value;
    }
    Ok(Reply::ok())
}

/// The length of `argv` as a RESP multibulk (what Redis's `qbuf=` shows for the caller).
fn multibulk_len(argv: &[&[u8]]) -> usize {
    let digits = |n: usize| n.to_string().len();
    3 + digits(argv.len())
        + argv.iter().map(|a| 1 + digits(a.len()) + 2 + a.len() + 2).sum::<usize>()
}

/// One CLIENT LIST line (without the newline). `current` is (qbuf, argv-mem) for the
/// client running the command.
pub fn client_line(
    info: &ClientInfo,
    current: Option<(usize, usize)>,
    pubsub: &crate::pubsub::PubSub,
) -> String {
    let now_ms = crate::clock::now_ms();
    let v = info.view.lock();
    let mut flags = String::new();
    if v.multi >= 0 {
        flags.push('x');
    }
    let (tracking_flags, redir) = crate::tracking::client_list_fields(&pubsub.tracking, info.id);
    flags.push_str(tracking_flags);
    if v.no_evict {
        flags.push('e');
    }
    if v.no_touch {
        flags.push('T');
    }
    let (sub, psub, ssub) = pubsub.counts(info.id);
    if sub + psub + ssub > 0 {
        flags.push('P');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let text = |b: &Option<Bytes>| b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
    let (qbuf, argv_mem) = current.unwrap_or((0, 0));
    let qbuf_free = if current.is_some() { 20474usize.saturating_sub(qbuf) } else { 0 };
    let cmd = if v.last_cmd.is_empty() { "NULL" } else { &v.last_cmd };
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={flags} db={} sub={sub} psub={psub} ssub={ssub} multi={} watch=0 qbuf={qbuf} qbuf-free={qbuf_free} argv-mem={argv_mem} multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem={} events=r cmd={cmd} user={} redir={redir} resp={} lib-name={} lib-ver={}",
        info.id,
        info.addr,
        info.laddr,
        info.fd,
        text(&v.name).unwrap_or_default(),
        now_ms.saturating_sub(info.created_ms) / 1000,
        now_ms.saturating_sub(info.last_interaction_ms.load(Ordering::Relaxed)) / 1000,
        v.db,
        v.multi,
        2048 + qbuf + qbuf_free + argv_mem,
        v.user,
        v.resp,
        text(&v.lib_name).unwrap_or_default(),
        text(&v.lib_ver).unwrap_or_default(),
    )
}

/// (qbuf, argv-mem) of the running `CLIENT <sub> args...` command.
fn current_sizes(sub: &str, args: &Args<'_>) -> (usize, usize) {
    let rest = args.rest();
    let mut argv: Vec<&[u8]> = vec![b"client", sub.as_bytes()];
    argv.extend(rest.iter().map(|a| &a[..]));
    (multibulk_len(&argv), argv.iter().map(|a| a.len()).sum())
}

fn lines(
    clients: &[Arc<ClientInfo>],
    me: u64,
    current: (usize, usize),
    pubsub: &crate::pubsub::PubSub,
) -> Reply {
    let mut out = String::new();
    for c in clients {
        out.push_str(&client_line(c, (c.id == me).then_some(current), pubsub));
        out.push('\n');
    }
    Reply::Verbatim(Bytes::from(out))
}

/// Client types CLIENT LIST / KILL accept; every Engram connection is `normal` for now.
fn type_matches(kind: &[u8]) -> Result<bool, CmdError> {
    let lower = kind.to_ascii_lowercase();
    match &lower[..] {
        b"normal" => Ok(true),
        b"master" | b"slave" | b"replica" | b"pubsub" => Ok(false),
        _ => Err(CmdError::Custom(format!(
            "ERR Unknown client type '{}'",
            String::from_utf8_lossy(kind)
        ))),
    }
}

/// `CLIENT LIST [TYPE type] [ID id [id ...]]`
fn client_list(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let current = current_sizes("list", args);
    let mut clients = cx.shared.clients.all();
    if args.eat("TYPE") {
        let kind = args.next_bytes()?;
        if !type_matches(&kind)? {
            clients.clear();
        }
        args.finish()?;
    } else if args.eat("ID") {
        if args.is_empty() {
            return Err(CmdError::Syntax);
        }
        let mut ids = Vec::new();
        for a in args.take_rest() {
            match crate::resp::decode::parse_i64(a) {
                Some(id) if id > 0 => ids.push(id as u64),
                _ => return Err(CmdError::err("Invalid client ID")),
            }
        }
        clients.retain(|c| ids.contains(&c.id));
    } else {
        args.finish()?;
    }
    Ok(lines(&clients, cx.session.info.id, current, &cx.shared.pubsub))
}

fn client_info(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let current = current_sizes("info", args);
    let mut line = client_line(&cx.session.info, Some(current), &cx.shared.pubsub);
    line.push('\n');
    Ok(Reply::Verbatim(Bytes::from(line)))
}

/// `CLIENT KILL ip:port` or `CLIENT KILL <filter> <value> ...`
fn client_kill(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let me = cx.session.info.id;
    if args.remaining() == 1 {
        let addr = args.next_bytes()?;
        let victim = cx.shared.clients.all().into_iter().find(|c| c.addr.as_bytes() == &addr[..]);
        return match victim {
            Some(c) => {
                c.kill();
                Ok(Reply::ok())
            }
            None => Err(CmdError::err("No such client")),
        };
    }
    let mut id = None;
    let mut normal = true;
    let mut addr = None;
    let mut laddr = None;
    let mut skipme = true;
    let mut max_age_s = None;
    while !args.is_empty() {
        let filter = args.next_bytes()?.to_ascii_lowercase();
        let value = args.next_bytes()?;
        match &filter[..] {
            b"id" => match crate::resp::decode::parse_i64(&value) {
                Some(n) if n > 0 => id = Some(n as u64),
                _ => return Err(CmdError::err("client-id should be greater than 0")),
            },
            b"type" => normal = type_matches(&value)?,
            b"addr" => addr = Some(value),
            b"laddr" => laddr = Some(value),
            b"user" => {
                if &value[..] != b"default" {
                    return Err(CmdError::Custom(format!(
                        "ERR No such user '{}'",
                        String::from_utf8_lossy(&value)
                    )));
                }
            }
            b"skipme" => {
                skipme = if value.eq_ignore_ascii_case(b"yes") {
                    true
                } else if value.eq_ignore_ascii_case(b"no") {
                    false
                } else {
                    return Err(CmdError::Syntax);
                }
            }
            b"maxage" => {
                let n = crate::resp::decode::parse_i64(&value).ok_or(CmdError::NotAnInteger)?;
                if n <= 0 {
                    return Err(CmdError::err("maxage should be greater than 0"));
                }
                max_age_s = Some(n as u64);
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    let now_ms = crate::clock::now_ms();
    let mut killed = 0;
    for c in cx.shared.clients.all() {
        let hit = normal
            && !(skipme && c.id == me)
            && id.is_none_or(|id| c.id == id)
            && addr.as_ref().is_none_or(|a| c.addr.as_bytes() == &a[..])
            && laddr.as_ref().is_none_or(|a| c.laddr.as_bytes() == &a[..])
            && max_age_s.is_none_or(|age| now_ms.saturating_sub(c.created_ms) / 1000 >= age);
        if hit {
            c.kill();
            killed += 1;
        }
    }
    Ok(Reply::Int(killed))
}

/// `ON` / `OFF` argument of NO-EVICT and NO-TOUCH.
fn on_off(args: &mut Args<'_>) -> Result<bool, CmdError> {
    if args.eat("ON") {
        Ok(true)
    } else if args.eat("OFF") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

fn client_reply(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    cx.session.reply_mode = if args.eat("ON") {
        ReplyMode::On
    } else if args.eat("OFF") {
        ReplyMode::Off
    } else if args.eat("SKIP") {
        ReplyMode::Skip
    } else {
        return Err(CmdError::Syntax);
    };
    Ok(Reply::ok())
}

fn client_no_evict(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let on = on_off(args)?;
    cx.session.info.view.lock().no_evict = on;
    Ok(Reply::ok())
}

fn client_no_touch(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let on = on_off(args)?;
    cx.session.info.view.lock().no_touch = on;
    Ok(Reply::ok())
}

/// `CLIENT UNBLOCK id [TIMEOUT | ERROR]`: ends another client's blocking wait.
fn client_unblock(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let id = args.next_i64()?;
    let how = if args.is_empty() || args.eat("TIMEOUT") {
        crate::blocking::Unblock::Timeout
    } else if args.eat("ERROR") {
        crate::blocking::Unblock::Error
    } else {
        return Err(CmdError::err("CLIENT UNBLOCK reason should be TIMEOUT or ERROR"));
    };
    args.finish()?;
    let unblocked = u64::try_from(id).is_ok_and(|id| cx.shared.blocked.unblock(id, how));
    Ok(Reply::Int(i64::from(unblocked)))
}

/// `CLIENT PAUSE timeout [WRITE | ALL]`: validated and accepted; pausing is not
/// implemented yet.
fn client_pause(args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    let timeout = args.next_i64_or(CmdError::err("timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    if !args.is_empty() && !args.eat("WRITE") && !args.eat("ALL") {
        return Err(CmdError::Syntax);
    }
    args.finish()?;
    Ok(Reply::ok())
}

fn client_unpause(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(Reply::ok())
}

fn client_help(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(crate::cmd::server::help_reply(
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are: ID <client-id>, TYPE <normal|pubsub>,",
            "    USER <username>, ADDR <ip:port>, LADDR <ip:port>, SKIPME (YES|NO),",
            "    MAXAGE <maxage>.",
            "LIST [options ...]",
            "    Return information about client connections. Options: TYPE <normal|pubsub>,",
            "    ID <id> [<id> ...].",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Accepted; pausing clients is not implemented yet.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "NO-EVICT (ON|OFF)",
            "    Protect the current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Commands of this connection do not change the LRU/LFU of keys.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qbuf_is_the_multibulk_length_of_the_command() {
        assert_eq!(multibulk_len(&[b"client", b"list"]), 26);
        assert_eq!(multibulk_len(&[b"client", b"info"]), 26);
    }

    #[test]
    fn names_must_be_printable_without_spaces() {
        assert!(printable(b"redis.py"));
        assert!(!printable(b"a b"));
        assert!(!printable(b"x\n"));
    }
}
