//! Connection commands: PING, ECHO, SELECT, QUIT, HELLO, AUTH, RESET, CLIENT.

use std::borrow::Cow;

use crate::cmd::spec::{CmdResult, CommandSpec, Exec, Flags, Group};
use crate::cmd::{Args, SessionCtx};
use crate::error::CmdError;
use crate::reply::Reply;
use crate::resp::Proto;
use crate::session::After;

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
];

fn ping(args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    match args.remaining() {
        0 => Ok(Reply::Status(Cow::Borrowed("PONG"))),
        1 => Ok(Reply::Bulk(args.next_bytes()?)),
        _ => Err(CmdError::WrongArity("ping".into())),
    }
}

fn echo(args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(Reply::Bulk(args.next_bytes()?))
}

fn select(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let index = args.next_i64()?;
    let databases = cx.shared.keyspace.read().len() as i64;
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
        if args.eat("AUTH") && args.remaining() >= 2 {
            let (user, password) = (args.next_bytes()?, args.next_bytes()?);
            check_password(cx, &user, &password)?;
            cx.session.authenticated = true;
        } else if args.eat("SETNAME") && !args.is_empty() {
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
    Ok(Reply::Map(vec![
        (Reply::bulk("server"), Reply::bulk("redis")),
        (Reply::bulk("version"), Reply::bulk(crate::REDIS_VERSION)),
        (Reply::bulk("proto"), Reply::Int(if proto == Proto::Resp3 { 3 } else { 2 })),
        (Reply::bulk("id"), Reply::Int(cx.session.info.id as i64)),
        (Reply::bulk("mode"), Reply::bulk("standalone")),
        (Reply::bulk("role"), Reply::bulk("master")),
        (Reply::bulk("modules"), Reply::Array(vec![])),
    ]))
}
