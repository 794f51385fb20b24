//! The gate every command passes (ARCHITECTURE.md §2.3/§2.4): lookup, arity, auth, then
//! read / write / session routing. Writes are checked (fully parsed) and proposed to the
//! log; their reply arrives when the entry is applied.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::cmd::{self, Args, Exec, Flags, ReadCtx, SessionCtx};
use crate::entry::Request;
use crate::error::CmdError;
use crate::reply::Reply;
use crate::session::Session;
use crate::state::Shared;

/// The result of dispatching one command.
pub enum Outcome {
    /// The reply is ready.
    Ready(Reply),
    /// A proposed write: the reply comes when its entry is applied.
    Pending(oneshot::Receiver<Reply>),
}

/// What `route` found out about a command before running it.
pub struct Routed {
    /// Stats id (`cmd::table()`), if the command was found.
    pub id: Option<usize>,
    /// Whether it goes through the log.
    pub is_write: bool,
}

/// Looks the command up and reports whether it is a write (connections use this to
/// order reads after in-flight writes).
pub fn route(argv: &[Bytes]) -> Routed {
    match cmd::resolve(argv) {
        Ok((spec, id, _)) => Routed { id: Some(id), is_write: spec.is_write() },
        Err(_) => Routed { id: None, is_write: false },
    }
}

/// Runs the gate and the command.
pub async fn dispatch(shared: &Arc<Shared>, session: &mut Session, argv: Vec<Bytes>) -> Outcome {
    match gate(shared, session, argv).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Ready(Reply::Error(e)),
    }
}

async fn gate(
    shared: &Arc<Shared>,
    session: &mut Session,
    argv: Vec<Bytes>,
) -> Result<Outcome, CmdError> {
    let (spec, _, skip) = cmd::resolve(&argv)?;
    if !session.authenticated && !spec.flags.has(Flags::NO_AUTH) {
        return Err(CmdError::NoAuth);
    }
    match spec.exec {
        Exec::Session(f) => {
            let mut cx = SessionCtx { session, shared };
            Ok(Outcome::Ready(f(&mut Args::new(&argv[skip..]), &mut cx)?))
        }
        Exec::Read(f) => {
            let ks = shared.keyspace.read();
            let cx = ReadCtx { ks: &ks, db: session.db, now_ms: crate::clock::now_ms(), shared };
            Ok(Outcome::Ready(f(&mut Args::new(&argv[skip..]), &cx)?))
        }
        Exec::Write(fns) => {
            // Syntax errors never reach the log.
            (fns.check)(&mut Args::new(&argv[skip..]))?;
            let request =
                Request::Write { db: session.db as u32, now_ms: crate::clock::now_ms(), argv };
            let rx = shared.log.propose(request).await.map_err(|e| {
                tracing::error!(error = %e, "proposal failed");
                CmdError::Internal
            })?;
            Ok(Outcome::Pending(rx))
        }
        Exec::Container => Err(CmdError::Internal),
    }
}
