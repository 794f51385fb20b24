//! Lua scripting (EVAL and FUNCTION): the script cache and function libraries that are
//! part of the replicated state, the per-thread Lua machines that run scripts, and the
//! busy/kill bookkeeping shared with connections.
//!
//! A script that may write is one log entry and runs in apply, on every node, with the
//! entry's time and seed; a read-only one (`EVAL_RO`, `FCALL_RO`, `#!lua flags=no-writes`)
//! runs on the read path. Both talk to the keyspace through a [`host::Host`].

pub mod convert;
pub mod functions;
pub mod host;
pub mod libs;
pub mod runtime;
pub mod vm;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::error::CmdError;

/// The lowercase hex SHA-1 of `body`: a script's name in EVALSHA and SCRIPT LOAD.
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// A fresh generation number: Lua machines compare it with the one their compiled
/// functions were built for. Process-wide, so a reset keyspace never reuses one.
fn next_generation() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// What scripts and functions exist: state changed only by applied entries (EVAL,
/// SCRIPT LOAD/FLUSH, FUNCTION LOAD/DELETE/FLUSH/RESTORE), so every replica and every
/// replay agrees on which EVALSHA and FCALL succeed, and snapshots carry it.
#[derive(Debug)]
pub struct ScriptStore {
    /// Script bodies by lowercase hex SHA-1.
    scripts: BTreeMap<String, Bytes>,
    /// Changes whenever `scripts` loses entries (SCRIPT FLUSH).
    scripts_generation: u64,
    /// Function libraries; shared so a running FCALL holds them while the keyspace is
    /// borrowed by the script's commands.
    pub libraries: std::sync::Arc<functions::Libraries>,
}

impl Default for ScriptStore {
    fn default() -> Self {
        Self {
            scripts: BTreeMap::new(),
            scripts_generation: next_generation(),
            libraries: Default::default(),
        }
    }
}

impl ScriptStore {
    /// The body cached under `sha` (any case).
    pub fn script(&self, sha: &[u8]) -> Option<&Bytes> {
        let sha = std::str::from_utf8(sha).ok()?;
        if sha.bytes().all(|b| !b.is_ascii_uppercase()) {
            self.scripts.get(sha)
        } else {
            self.scripts.get(&sha.to_ascii_lowercase())
        }
    }

    /// Caches `body`, returning its SHA-1.
    pub fn add_script(&mut self, body: Bytes) -> String {
        let sha = sha1_hex(&body);
        self.scripts.entry(sha.clone()).or_insert(body);
        sha
    }

    /// SCRIPT FLUSH.
    pub fn flush_scripts(&mut self) {
        self.scripts.clear();
        self.scripts_generation = next_generation();
    }

    /// Generation of the script cache (see [`next_generation`]).
    pub fn scripts_generation(&self) -> u64 {
        self.scripts_generation
    }

    /// Every cached body, for snapshots.
    pub fn script_bodies(&self) -> impl Iterator<Item = &Bytes> {
        self.scripts.values()
    }

    /// Number of cached scripts (`INFO memory` `number_of_cached_scripts`).
    pub fn script_count(&self) -> usize {
        self.scripts.len()
    }
}

/// EVALSHA's flags as one connection last found them, so that a script which may write
/// goes to the log without a look at the keyspace. A SHA names one body, so its flags
/// never change; whether the script still exists can, and apply checks that.
#[derive(Debug, Default)]
pub struct KnownFlags(Vec<([u8; 40], ScriptFlags)>);

/// Scripts a connection remembers: applications use a handful; a client cycling
/// through many only loses the shortcut.
const KNOWN_FLAGS_MAX: usize = 16;

impl KnownFlags {
    fn key(sha: &[u8]) -> Option<[u8; 40]> {
        let mut key: [u8; 40] = sha.try_into().ok()?;
        key.make_ascii_lowercase();
        Some(key)
    }

    pub fn get(&self, sha: &[u8]) -> Option<ScriptFlags> {
        let key = Self::key(sha)?;
        self.0.iter().find(|(known, _)| *known == key).map(|(_, flags)| *flags)
    }

    pub fn remember(&mut self, sha: &[u8], flags: ScriptFlags) {
        let Some(key) = Self::key(sha) else { return };
        if self.0.iter().any(|(known, _)| *known == key) {
            return;
        }
        if self.0.len() >= KNOWN_FLAGS_MAX {
            self.0.remove(0);
        }
        self.0.push((key, flags));
    }
}

/// Flags a script or function declares (`#!lua flags=...`, `register_function{flags=}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScriptFlags {
    /// The shebang was present at all: without one, an EVAL script is treated as Redis 6
    /// treated every script (may write, no flag checks).
    pub declared: bool,
    pub no_writes: bool,
    pub allow_oom: bool,
    pub allow_stale: bool,
    pub no_cluster: bool,
    pub allow_cross_slot_keys: bool,
}

impl ScriptFlags {
    /// Parses one flag name; false when unknown.
    pub fn set(&mut self, name: &[u8]) -> bool {
        match name {
            b"no-writes" => self.no_writes = true,
            b"allow-oom" => self.allow_oom = true,
            b"allow-stale" => self.allow_stale = true,
            b"no-cluster" => self.no_cluster = true,
            b"allow-cross-slot-keys" => self.allow_cross_slot_keys = true,
            _ => return false,
        }
        true
    }

    /// Names, as FUNCTION LIST prints them.
    pub fn names(self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (on, name) in [
            (self.no_writes, "no-writes"),
            (self.allow_oom, "allow-oom"),
            (self.allow_stale, "allow-stale"),
            (self.no_cluster, "no-cluster"),
            (self.allow_cross_slot_keys, "allow-cross-slot-keys"),
        ] {
            if on {
                out.push(name);
            }
        }
        out
    }
}

/// The flags of an EVAL script's `#!` first line (none when it has no shebang).
pub fn eval_shebang(body: &[u8]) -> Result<ScriptFlags, CmdError> {
    let mut flags = ScriptFlags::default();
    if !body.starts_with(b"#!") {
        return Ok(flags);
    }
    flags.declared = true;
    let line = body.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or_default();
    if engine != b"#!lua" {
        return Err(CmdError::Custom(format!(
            "ERR Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(engine)
        )));
    }
    for part in parts {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return Err(CmdError::Custom(format!(
                "ERR Unknown lua shebang option: {}",
                String::from_utf8_lossy(part)
            )));
        };
        for name in list.split(|&b| b == b',').filter(|n| !n.is_empty()) {
            if !flags.set(name) {
                return Err(CmdError::Custom(format!(
                    "ERR Unexpected flag in script shebang: {}",
                    String::from_utf8_lossy(name)
                )));
            }
        }
    }
    Ok(flags)
}

/// The Lua source of an EVAL body or a library: the `#!` line is blanked rather than
/// cut, so line numbers in errors count from the code's first line (as Redis reports
/// them).
pub fn blank_shebang(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !body.starts_with(b"#!") {
        return std::borrow::Cow::Borrowed(body);
    }
    let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
    let mut src = Vec::with_capacity(body.len() - end + 1);
    src.extend_from_slice(b"\n");
    src.extend_from_slice(body.get(end + 1..).unwrap_or_default());
    std::borrow::Cow::Owned(src)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_is_redis_script_name() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(sha1_hex(b"1"), "356a192b7913b04c54574d18c28d46e6395428ab");
    }

    #[test]
    fn shebangs_parse_as_redis() {
        assert_eq!(eval_shebang(b"return 1").unwrap(), ScriptFlags::default());
        let f = eval_shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1").unwrap();
        assert!(f.declared && f.no_writes && f.allow_oom && !f.no_cluster);
        assert_eq!(
            eval_shebang(b"#!lua flags=bad\n").unwrap_err().to_string(),
            "ERR Unexpected flag in script shebang: bad"
        );
        assert_eq!(
            eval_shebang(b"#!luax\n").unwrap_err().to_string(),
            "ERR Unexpected engine in script shebang: #!luax"
        );
        assert_eq!(&*blank_shebang(b"#!lua\nerror('x')"), b"\nerror('x')");
    }
}
