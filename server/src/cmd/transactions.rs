//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Commands queued after MULTI are checked only for name and arity (as Redis); EXEC sends
//! them as ONE log entry (`Request::Exec`), applied atomically on every replica. WATCH
//! records each key's version (the log index of its last change); apply aborts the
//! transaction (null reply) if any differs, so the outcome is decided in log order and is
//! the same everywhere. A transaction of reads only runs under one read guard instead.
//!
//! Known gap: a watched key that was absent, then created and deleted again before EXEC,
//! looks unchanged (both versions are "absent").

use std::sync::Arc;

use bytes::Bytes;

use crate::cmd::spec::{CmdResult, CommandSpec, Exec, Flags, Group, KeyFlags, KeySpec};
use crate::cmd::{self, Args, ReadCtx, SessionCtx};
use crate::entry::{Request, Watched};
use crate::error::CmdError;
use crate::reply::Reply;
use crate::session::Session;
use crate::state::Shared;

const TXN_FLAGS: Flags = Flags::NOSCRIPT.with(Flags::LOADING).with(Flags::STALE);

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "multi",
        group: Group::Transactions,
        summary: "Starts a transaction.",
        since: "1.2.0",
        complexity: "O(1)",
        arity: 1,
        flags: TXN_FLAGS.with(Flags::FAST).with(Flags::ALLOW_BUSY),
        exec: Exec::Session(multi),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "exec",
        group: Group::Transactions,
        summary: "Executes all commands in a transaction.",
        since: "1.2.0",
        complexity: "Depends on commands in the transaction",
        arity: 1,
        flags: TXN_FLAGS.with(Flags::SKIP_SLOWLOG),
        // Runs asynchronously (it proposes a log entry): dispatch calls `exec` directly.
        exec: Exec::Session(exec_placeholder),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "discard",
        group: Group::Transactions,
        summary: "Discards a transaction.",
        since: "2.0.0",
        complexity: "O(N), when N is the number of queued commands",
        arity: 1,
        flags: TXN_FLAGS.with(Flags::FAST).with(Flags::ALLOW_BUSY),
        exec: Exec::Session(discard),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "watch",
        group: Group::Transactions,
        summary: "Monitors changes to keys to determine the execution of a transaction.",
        since: "2.2.0",
        complexity: "O(1) for every key.",
        arity: -2,
        flags: TXN_FLAGS.with(Flags::FAST).with(Flags::ALLOW_BUSY),
        keys: &[KeySpec::range(1, -1, 1, KeyFlags::RO)],
        exec: Exec::Session(watch),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "unwatch",
        group: Group::Transactions,
        summary: "Forgets about watched keys of a transaction.",
        since: "2.2.0",
        complexity: "O(1)",
        arity: 1,
        flags: TXN_FLAGS.with(Flags::FAST).with(Flags::ALLOW_BUSY),
        exec: Exec::Session(unwatch),
        ..CommandSpec::DEFAULT
    },
];

/// Commands that run instead of being queued while a transaction is open.
pub fn runs_inside_multi(name: &str) -> bool {
    matches!(name, "exec" | "discard" | "multi" | "watch" | "quit" | "reset")
}

/// Queues `argv` in the open transaction (name and arity were checked by the caller).
pub fn queue(session: &mut Session, spec: &CommandSpec, argv: Vec<Bytes>) -> CmdResult {
    if spec.flags.has(Flags::NO_MULTI) {
        session.multi_failed = true;
        return Err(CmdError::err("Command not allowed inside a transaction"));
    }
    if let Some(queued) = session.multi.as_mut() {
        queued.push(argv);
        session.info.view.lock().multi = queued.len() as i64;
    }
    Ok(Reply::status("QUEUED"))
}

fn multi(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    if cx.session.multi.is_some() {
        return Err(CmdError::err("MULTI calls can not be nested"));
    }
    cx.session.multi = Some(Vec::new());
    cx.session.multi_failed = false;
    cx.session.info.view.lock().multi = 0;
    Ok(Reply::ok())
}

fn end_transaction(session: &mut Session) -> Option<Vec<Vec<Bytes>>> {
    session.multi_failed = false;
    session.watched.clear();
    session.info.view.lock().multi = -1;
    session.multi.take()
}

/// A command refused before it runs (`-BUSY`, `-LOADING`, `-NOREPLICAS` ...), as Redis's
/// rejectCommand: inside MULTI it fails the transaction, and a refused EXEC ends the
/// transaction with `EXECABORT Transaction discarded because of: <error>`.
pub fn rejected(session: &mut Session, spec: &CommandSpec, error: CmdError) -> CmdError {
    if session.multi.is_none() {
        return error;
    }
    if spec.name == "exec" && spec.group == cmd::Group::Transactions {
        end_transaction(session);
        return CmdError::Custom(format!("EXECABORT Transaction discarded because of: {error}"));
    }
    session.multi_failed = true;
    error
}

fn discard(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    if cx.session.multi.is_none() {
        return Err(CmdError::err("DISCARD without MULTI"));
    }
    end_transaction(cx.session);
    Ok(Reply::ok())
}

fn watch(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    if cx.session.multi.is_some() {
        return Err(CmdError::err("WATCH inside MULTI is not allowed"));
    }
    let now_ms = crate::clock::now_ms();
    let ks = cx.shared.read_keyspace()?;
    let db = ks.db(cx.session.db);
    for key in args.take_rest() {
        let version = db.get_entry(key, now_ms).map_or(0, |e| e.version);
        let watched = &mut cx.session.watched;
        if !watched.iter().any(|w| w.db as usize == cx.session.db && w.key == key) {
            watched.push(Watched { db: cx.session.db as u32, key: key.clone(), version });
        }
    }
    Ok(Reply::ok())
}

fn unwatch(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    cx.session.watched.clear();
    Ok(Reply::ok())
}

fn exec_placeholder(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Err(CmdError::Internal)
}

/// `EXEC`: proposes the queued commands as one entry (or runs a read-only transaction
/// under one read guard), then runs the queued session commands in their places.
pub async fn exec(shared: &Arc<Shared>, session: &mut Session) -> CmdResult {
    if session.multi.is_none() {
        return Err(CmdError::err("EXEC without MULTI"));
    }
    let failed = session.multi_failed;
    let watched = std::mem::take(&mut session.watched);
    let cmds = end_transaction(session).unwrap_or_default();
    if failed {
        return Err(CmdError::Custom(
            "EXECABORT Transaction discarded because of previous errors.".into(),
        ));
    }
    let now_ms = crate::clock::now_ms();
    let specs: Vec<_> = cmds.iter().map(|argv| cmd::resolve(argv).ok()).collect();
    let has_writes = specs.iter().flatten().any(|(spec, _, _)| spec.is_write());
    let start_db = session.db;
    let reply = if has_writes {
        let request = Request::Exec { db: start_db as u32, now_ms, watched, cmds: cmds.clone() };
        let rx = shared.log.propose(request).await.map_err(|_| CmdError::Internal)?;
        rx.await.map_err(|_| CmdError::Internal)?
    } else {
        run_reads(shared, start_db, now_ms, &watched, &cmds)
    };
    let Reply::Array(mut replies) = reply else { return Ok(reply) };
    // Session commands (SELECT, PING, CLIENT ...) change this connection: run them here, in
    // their places. Apply already switched databases for SELECT so later commands used it.
    for (i, argv) in cmds.iter().enumerate() {
        if let Some((spec, _, skip)) = specs[i] {
            if let Exec::Session(f) = spec.exec {
                let mut cx = SessionCtx { session, shared };
                replies[i] = f(&mut Args::new(&argv[skip..]), &mut cx).unwrap_or_else(Reply::Error);
            }
        }
    }
    Ok(Reply::Array(replies))
}

/// Whether every watched key still has the version it was watched with.
pub fn watched_unchanged(ks: &crate::keyspace::Keyspace, now_ms: u64, watched: &[Watched]) -> bool {
    watched.iter().all(|w| {
        let current = ks.db(w.db as usize).get_entry(&w.key, now_ms).map_or(0, |e| e.version);
        current == w.version
    })
}

fn run_reads(
    shared: &Arc<Shared>,
    start_db: usize,
    now_ms: u64,
    watched: &[Watched],
    cmds: &[Vec<Bytes>],
) -> Reply {
    let ks = match shared.read_keyspace() {
        Ok(ks) => ks,
        Err(e) => return Reply::Error(e),
    };
    if !watched_unchanged(&ks, now_ms, watched) {
        return Reply::NullArray;
    }
    let mut db = start_db;
    let replies = cmds
        .iter()
        .map(|argv| match cmd::resolve(argv) {
            Err(e) => Reply::Error(e),
            Ok((spec, _, skip)) => match spec.exec {
                Exec::Read(f) => {
                    let cx = ReadCtx {
                        ks: &ks,
                        db,
                        now_ms,
                        shared,
                        may_block: false,
                        seed: None,
                        in_script: false,
                    };
                    f(&mut Args::new(&argv[skip..]), &cx).unwrap_or_else(Reply::Error)
                }
                Exec::Session(_) => {
                    if let Some(index) = select_target(spec, &argv[skip..], ks.len()) {
                        db = index;
                    }
                    Reply::Null
                }
                _ => Reply::Error(CmdError::Internal),
            },
        })
        .collect();
    Reply::Array(replies)
}

/// For `SELECT n` inside a transaction: the database later commands run in.
pub fn select_target(spec: &CommandSpec, args: &[Bytes], databases: usize) -> Option<usize> {
    if spec.name != "select" {
        return None;
    }
    let n = crate::resp::decode::parse_i64(args.first()?)?;
    usize::try_from(n).ok().filter(|&n| n < databases)
}
