//! The running script, as connections see it: `-BUSY` once it has run past
//! `busy-reply-threshold`, `SCRIPT KILL` / `FUNCTION KILL`, `FUNCTION STATS`, and
//! `SHUTDOWN NOSAVE` while a script spins.
//!
//! A kill is decided on the script's own thread (the Lua hook, or before a write), never
//! by the killer, so "has not written" cannot change between the check and the kill. A
//! script killed (or abandoned by SHUTDOWN NOSAVE) in apply is already in the log; its
//! index goes to `scripts-aborted` in the data directory, fsynced before the script
//! unwinds, and recovery does not run it again: it would spin again, and it answered
//! its client with an error, not with effects.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::error::CmdError;

/// File (in the data directory) listing log indexes whose scripts never completed.
pub const ABORTED_FILE: &str = "scripts-aborted";

/// What `FUNCTION STATS` shows about the running script.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Function name, or empty for EVAL scripts.
    pub name: String,
    /// The command that started it (name and arguments, as FUNCTION STATS prints).
    pub command: Vec<Bytes>,
    pub started: Instant,
    pub is_function: bool,
    /// Log index when it runs in apply; `None` on the read path.
    pub index: Option<u64>,
}

/// Why the running script must stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Killed,
    /// SHUTDOWN NOSAVE: the process exits once the index is recorded.
    Shutdown,
}

/// The one script that may be busy at a time.
#[derive(Debug, Default)]
pub struct ScriptRuntime {
    running: Mutex<Option<RunInfo>>,
    /// Set by the script's hook once it has run past the threshold.
    busy: AtomicBool,
    kill: AtomicBool,
    shutdown: AtomicBool,
    wrote: AtomicBool,
    /// `busy-reply-threshold` in milliseconds, mirrored from the config.
    pub threshold_ms: AtomicU64,
    dir: Mutex<Option<PathBuf>>,
    /// Indexes whose scripts the leader aborted, learned from the log before (or while)
    /// this node applies them.
    remote_aborted: Mutex<BTreeSet<u64>>,
    /// Whether `remote_aborted` has anything: apply asks for every entry, so the common
    /// answer must not take a lock.
    any_remote_aborted: AtomicBool,
    /// Aborted indexes not yet announced to the shard (the leader proposes them).
    unannounced: Mutex<Vec<u64>>,
    /// Wakes the announcer.
    pub announce: tokio::sync::Notify,
    /// Libraries and functions, as of the last FUNCTION change applied: FUNCTION STATS
    /// answers from here while a busy script holds the keyspace.
    libraries: AtomicU64,
    functions: AtomicU64,
}

impl ScriptRuntime {
    /// A runtime recording aborted scripts under `dir`.
    pub fn new(dir: Option<PathBuf>, threshold_ms: u64) -> Self {
        let rt = ScriptRuntime { dir: Mutex::new(dir), ..Default::default() };
        rt.threshold_ms.store(threshold_ms, Ordering::Relaxed);
        rt
    }

    /// Registers a starting script; false if another one is running (a second read-only
    /// script on another thread runs untracked).
    pub fn begin(&self, info: RunInfo) -> bool {
        let mut running = self.running.lock();
        if running.is_some() {
            return false;
        }
        *running = Some(info);
        self.busy.store(false, Ordering::Relaxed);
        self.kill.store(false, Ordering::Relaxed);
        self.wrote.store(false, Ordering::Relaxed);
        true
    }

    /// The tracked script finished.
    pub fn end(&self) {
        *self.running.lock() = None;
        self.busy.store(false, Ordering::Release);
        self.kill.store(false, Ordering::Relaxed);
    }

    /// Whether a busy script is running: `Some(true)` for a function.
    pub fn busy(&self) -> Option<bool> {
        if !self.busy.load(Ordering::Acquire) {
            return None;
        }
        self.running.lock().as_ref().map(|r| r.is_function)
    }

    /// The `-BUSY` error for a command arriving while a script is busy.
    pub fn busy_error(is_function: bool) -> CmdError {
        CmdError::Custom(format!(
            "BUSY Redis is busy running a script. You can only call {} KILL or SHUTDOWN NOSAVE.",
            if is_function { "FUNCTION" } else { "SCRIPT" }
        ))
    }

    /// What FUNCTION STATS reports as `running_script`.
    pub fn running(&self) -> Option<RunInfo> {
        self.running.lock().clone()
    }

    /// Records the library and function counts after a FUNCTION change.
    pub fn set_library_counts(&self, (libraries, functions): (usize, usize)) {
        self.libraries.store(libraries as u64, Ordering::Relaxed);
        self.functions.store(functions as u64, Ordering::Relaxed);
    }

    /// The counts [`ScriptRuntime::set_library_counts`] recorded.
    pub fn library_counts(&self) -> (usize, usize) {
        (
            self.libraries.load(Ordering::Relaxed) as usize,
            self.functions.load(Ordering::Relaxed) as usize,
        )
    }

    /// SCRIPT KILL (`function` false) / FUNCTION KILL (true).
    pub fn kill(&self, function: bool) -> Result<(), CmdError> {
        let running = self.running.lock();
        let Some(info) = running.as_ref() else {
            return Err(CmdError::Custom("NOTBUSY No scripts in execution right now.".into()));
        };
        if info.is_function != function {
            return Err(Self::busy_error(info.is_function));
        }
        if self.wrote.load(Ordering::Acquire) {
            return Err(CmdError::Custom(
                "UNKILLABLE Sorry the script already executed write commands against the \
                 dataset. You can either wait the script termination or kill the server in a \
                 hard way using the SHUTDOWN NOSAVE command."
                    .into(),
            ));
        }
        self.kill.store(true, Ordering::Release);
        Ok(())
    }

    /// SHUTDOWN NOSAVE while a script runs: true if the script will end the process.
    pub fn shutdown(&self) -> bool {
        if self.running.lock().is_none() {
            return false;
        }
        self.shutdown.store(true, Ordering::Release);
        true
    }

    /// Called by the script's thread (the hook, and before each write): marks it busy past
    /// the threshold, and says whether it must stop.
    pub fn check(&self, started: Instant) -> Option<Stop> {
        if !self.busy.load(Ordering::Relaxed)
            && started.elapsed().as_millis() as u64 >= self.threshold_ms.load(Ordering::Relaxed)
        {
            self.busy.store(true, Ordering::Release);
            if let Some(info) = self.running.lock().as_ref() {
                tracing::warn!(
                    name = %info.name,
                    "a script has been running for longer than busy-reply-threshold; \
                     clients get -BUSY until it ends or SCRIPT KILL / FUNCTION KILL"
                );
            }
        }
        if self.shutdown.load(Ordering::Acquire) {
            return Some(Stop::Shutdown);
        }
        if self.kill.load(Ordering::Acquire) && !self.wrote.load(Ordering::Relaxed) {
            return Some(Stop::Killed);
        }
        None
    }

    /// The script is about to write: from now on it cannot be killed. False if a kill
    /// came first (decided under the same lock SCRIPT KILL takes, so exactly one wins).
    pub fn begin_write(&self) -> bool {
        let _running = self.running.lock();
        if self.kill.load(Ordering::Acquire) {
            return false;
        }
        self.wrote.store(true, Ordering::Release);
        true
    }

    /// Records that the entry at `index` never completed, durably, before the script
    /// unwinds (see the module doc).
    pub fn record_aborted(&self, index: u64) {
        self.persist_aborted(index);
        self.unannounced.lock().push(index);
        self.announce.notify_one();
    }

    /// Aborted indexes to announce to the shard's replicas, oldest first.
    pub fn take_unannounced(&self) -> Vec<u64> {
        std::mem::take(&mut *self.unannounced.lock())
    }

    /// The leader aborted the script of entry `index`: remember it durably (a restart
    /// replays the log and must skip it), and stop it if it is running here now. It
    /// had not written on the leader; here it has run the same instructions at most a
    /// moment longer, and a write would make it unkillable (then it completes, as the
    /// leader's would have had it not been killed: a warning, see ARCHITECTURE.md).
    pub fn abort_from_leader(&self, index: u64) {
        if !self.remote_aborted.lock().insert(index) {
            return;
        }
        self.any_remote_aborted.store(true, Ordering::Release);
        self.persist_aborted(index);
        let running = self.running.lock();
        if running.as_ref().is_some_and(|r| r.index == Some(index)) {
            if self.wrote.load(Ordering::Acquire) {
                tracing::warn!(index, "the leader aborted a script that already wrote here");
            }
            self.kill.store(true, Ordering::Release);
        }
    }

    /// Whether the leader aborted the script of entry `index`.
    pub fn aborted_remotely(&self, index: u64) -> bool {
        self.any_remote_aborted.load(Ordering::Acquire)
            && self.remote_aborted.lock().contains(&index)
    }

    fn persist_aborted(&self, index: u64) {
        let Some(dir) = self.dir.lock().clone() else { return };
        let path = dir.join(ABORTED_FILE);
        let result = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| {
                writeln!(f, "{index}")?;
                f.sync_data()
            })
            .and_then(|()| std::fs::File::open(&dir)?.sync_all());
        if let Err(e) = result {
            tracing::error!(error = %e, path = %path.display(), "cannot record an aborted script");
        }
    }
}

/// The indexes recorded by [`ScriptRuntime::record_aborted`] in `dir`.
pub fn load_aborted(dir: &std::path::Path) -> BTreeSet<u64> {
    std::fs::read_to_string(dir.join(ABORTED_FILE))
        .map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(function: bool) -> RunInfo {
        RunInfo {
            name: String::new(),
            command: Vec::new(),
            started: crate::clock::monotonic(),
            is_function: function,
            index: Some(7),
        }
    }

    #[test]
    fn kill_follows_redis_rules() {
        let rt = ScriptRuntime::new(None, 0);
        assert!(rt.kill(false).unwrap_err().to_string().starts_with("NOTBUSY"));
        assert!(rt.begin(info(false)));
        assert!(!rt.begin(info(true)), "one tracked script at a time");
        assert!(rt.kill(true).unwrap_err().to_string().contains("SCRIPT KILL"));
        let started = crate::clock::monotonic();
        assert_eq!(rt.check(started), None);
        assert_eq!(rt.busy(), Some(false), "threshold 0: busy at the first check");
        rt.kill(false).unwrap();
        assert!(!rt.begin_write(), "a killed script may not start writing");
        assert_eq!(rt.check(started), Some(Stop::Killed));
        rt.end();
        assert!(rt.begin(info(false)));
        assert!(rt.begin_write());
        assert!(rt.kill(false).unwrap_err().to_string().starts_with("UNKILLABLE"));
        assert_eq!(rt.check(started), None);
    }

    #[test]
    fn aborted_indexes_survive_in_the_data_dir() {
        let dir = std::env::temp_dir().join(format!("engram-aborted-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rt = ScriptRuntime::new(Some(dir.clone()), 5000);
        rt.record_aborted(12);
        rt.record_aborted(40);
        assert_eq!(load_aborted(&dir), BTreeSet::from([12, 40]));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
