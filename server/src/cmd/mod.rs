//! The command table: every family's `COMMANDS` slice, the name lookup, and the registry
//! invariants (tests below). Adding a command = one `CommandSpec` entry in its family
//! file; adding a family = one line in [`FAMILIES`].

pub mod args;
pub mod ctx;
pub mod spec;

pub mod bitmap;
pub mod cluster;
pub mod connection;
pub mod dump;
pub mod generic;
pub mod geo;
pub mod hash;
pub mod hyperloglog;
pub mod json;
pub mod list;
pub mod pubsub;
pub mod scan;
pub mod scripting;
pub mod search;
pub mod server;
pub mod set;
pub mod sort;
pub mod stream;
pub mod string;
pub mod transactions;
pub mod zset;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use bytes::Bytes;

pub use args::Args;
pub use ctx::{ApplyCtx, ReadCtx, SessionCtx};
pub use spec::{CmdResult, CommandSpec, Exec, Flags, Group, KeyFlags, KeySpec};

use crate::error::CmdError;

/// Every command family.
pub static FAMILIES: &[&[CommandSpec]] = &[
    string::COMMANDS,
    bitmap::COMMANDS,
    hyperloglog::COMMANDS,
    generic::COMMANDS,
    connection::COMMANDS,
    server::COMMANDS,
    scripting::COMMANDS,
    list::COMMANDS,
    hash::COMMANDS,
    set::COMMANDS,
    zset::COMMANDS,
    stream::COMMANDS,
    geo::COMMANDS,
    json::COMMANDS,
    search::COMMANDS,
    sort::COMMANDS,
    pubsub::COMMANDS,
    transactions::COMMANDS,
    cluster::COMMANDS,
];

/// Name -> spec lookup, built once. Ids index per-command statistics.
pub struct Table {
    by_name: HashMap<String, usize, BuildHasherDefault<Fnv>>,
    /// (full name as `config|get`, spec), in id order.
    specs: Vec<(String, &'static CommandSpec)>,
}

impl Table {
    fn build() -> Self {
        let mut t = Table { by_name: HashMap::default(), specs: Vec::new() };
        for family in FAMILIES {
            for spec in family.iter() {
                t.insert(spec.name.to_string(), spec);
                for sub in spec.subcommands {
                    t.insert(format!("{}|{}", spec.name, sub.name), sub);
                }
            }
        }
        t
    }

    fn insert(&mut self, name: String, spec: &'static CommandSpec) {
        self.by_name.insert(name.clone(), self.specs.len());
        self.specs.push((name, spec));
    }

    /// The id of a full name (`get`, `config|get`).
    pub fn id(&self, full_name: &str) -> Option<usize> {
        self.by_name.get(full_name).copied()
    }

    /// Number of specs (commands plus subcommands).
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// Always false: the table has commands.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// (full name, spec) by id.
    pub fn get(&self, id: usize) -> Option<(&str, &'static CommandSpec)> {
        self.specs.get(id).map(|(n, s)| (n.as_str(), *s))
    }

    /// Top-level commands (no subcommands), in table order.
    pub fn top_level(&self) -> impl Iterator<Item = &'static CommandSpec> + '_ {
        self.specs.iter().filter(|(n, _)| !n.contains('|')).map(|(_, s)| *s)
    }
}

/// FNV-1a: command names are short, trusted (our own table) and looked up per request,
/// so a keyed SipHash buys nothing here.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// The command table.
pub fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(Table::build)
}

/// Looks up a top-level command by name (any case).
pub fn lookup(name: &[u8]) -> Option<(&'static CommandSpec, usize)> {
    // Every request does this: lowercase on the stack, no allocation.
    let mut buf = [0u8; 32];
    let lower = buf.get_mut(..name.len())?;
    for (dst, src) in lower.iter_mut().zip(name) {
        *dst = src.to_ascii_lowercase();
    }
    let name = std::str::from_utf8(lower).ok()?;
    let id = table().id(name)?;
    table().get(id).map(|(_, s)| (s, id))
}

/// Resolves `argv` to (spec, stats id, number of name args to skip), following
/// subcommands and checking arity — the errors are Redis's.
pub fn resolve(argv: &[Bytes]) -> Result<(&'static CommandSpec, usize, usize), CmdError> {
    let Some(name) = argv.first() else { return Err(CmdError::unknown_command(argv)) };
    let Some((spec, id)) = lookup(name) else { return Err(CmdError::unknown_command(argv)) };
    if spec.subcommands.is_empty() {
        if !spec.arity_ok(argv.len()) {
            // RediSearch registers its commands in capitals and its errors show them so.
            let name = if spec.group == Group::Search {
                spec.name.to_ascii_uppercase()
            } else {
                spec.name.to_string()
            };
            return Err(CmdError::WrongArity(name));
        }
        return Ok((spec, id, 1));
    }
    let Some(sub_name) = argv.get(1) else {
        // A container with its own handler (COMMAND) runs bare.
        if !matches!(spec.exec, Exec::Container) && spec.arity_ok(argv.len()) {
            return Ok((spec, id, 1));
        }
        return Err(CmdError::WrongArity(spec.name.to_string()));
    };
    let lower = String::from_utf8_lossy(sub_name).to_ascii_lowercase();
    let full = format!("{}|{}", spec.name, lower);
    let Some(sub_id) = table().id(&full) else {
        return Err(CmdError::unknown_subcommand(sub_name, spec.name.to_ascii_uppercase()));
    };
    let (_, sub) = table().get(sub_id).ok_or(CmdError::Internal)?;
    if !sub.arity_ok(argv.len()) {
        return Err(CmdError::WrongArity(full));
    }
    let skip = if TYPED_SUBCOMMAND_CONTAINERS.contains(&spec.name) { 1 } else { 2 };
    Ok((sub, sub_id, skip))
}

/// Containers whose subcommand handlers get the subcommand name, as typed, as their first
/// argument: Redis echoes it in their own syntax errors (`... for 'CrEaTe'. Try XGROUP
/// HELP.`), while the arity error above uses the lowercase full name.
const TYPED_SUBCOMMAND_CONTAINERS: &[&str] = &["xgroup", "xinfo"];

/// The keys of `argv` according to `spec`'s key specs (ACL, cluster slots, GETKEYS).
pub fn keys_of<'a>(spec: &CommandSpec, argv: &'a [Bytes]) -> Vec<&'a Bytes> {
    let mut keys = Vec::new();
    for ks in spec.keys {
        let begin = match ks.begin {
            spec::BeginSearch::Index(i) => i,
            spec::BeginSearch::Keyword { keyword, start } => {
                let found = if start >= 0 {
                    (start as usize..argv.len())
                        .find(|&i| argv[i].eq_ignore_ascii_case(keyword.as_bytes()))
                } else {
                    let from = argv.len() as i64 + i64::from(start);
                    (1..=from.max(0) as usize).rev().find(|&i| {
                        argv.get(i).is_some_and(|a| a.eq_ignore_ascii_case(keyword.as_bytes()))
                    })
                };
                match found {
                    Some(i) => i + 1,
                    None => continue,
                }
            }
        };
        match ks.find {
            spec::FindKeys::Range { last, step, limit } => {
                let end = if last >= 0 {
                    begin + last as usize
                } else if limit > 1 {
                    begin + (argv.len().saturating_sub(begin)) / limit - 1
                } else {
                    (argv.len() as i64 + i64::from(last)).max(0) as usize
                };
                let mut i = begin;
                while i <= end && i < argv.len() {
                    keys.push(&argv[i]);
                    i += step.max(1);
                }
            }
            spec::FindKeys::Keynum { key_num_idx, first_key, step } => {
                let n = argv
                    .get(begin + key_num_idx)
                    .and_then(|a| crate::resp::decode::parse_i64(a))
                    .unwrap_or(0)
                    .max(0) as usize;
                // `n` is the client's number: a count beyond the arguments there are makes
                // the command's keys unknowable (as Redis: none, "Invalid arguments"),
                // and must not be walked.
                let first = begin + first_key;
                let step = step.max(1);
                let last = n.checked_sub(1).map(|m| m.saturating_mul(step).saturating_add(first));
                if last.is_some_and(|last| last >= argv.len()) {
                    return Vec::new();
                }
                keys.extend((0..n).map(|j| &argv[first + j * step]));
            }
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> impl Iterator<Item = (&'static str, &'static CommandSpec)> {
        (0..table().len()).filter_map(|i| table().get(i)).map(|(n, s)| {
            let n: &'static str = Box::leak(n.to_string().into_boxed_str());
            (n, s)
        })
    }

    #[test]
    fn names_are_unique_and_lowercase() {
        let mut seen = std::collections::HashSet::new();
        for family in FAMILIES {
            for spec in family.iter() {
                assert_eq!(spec.name, spec.name.to_ascii_lowercase(), "{}", spec.name);
                assert!(seen.insert(spec.name), "duplicate command {}", spec.name);
            }
        }
    }

    #[test]
    fn write_flag_if_and_only_if_write_exec() {
        for (name, spec) in all() {
            if matches!(spec.exec, Exec::Container) {
                continue;
            }
            if spec.group == Group::Scripting
                && scripting::LOGGED_WITHOUT_WRITE_FLAG.contains(&spec.name)
            {
                continue;
            }
            assert_eq!(spec.flags.has(Flags::WRITE), spec.is_write(), "{name}");
            // Session commands with keys (WATCH) are neither, as in Redis.
            if !spec.keys.is_empty() && !matches!(spec.exec, Exec::Session(_)) {
                assert!(
                    spec.flags.has(Flags::WRITE) != spec.flags.has(Flags::READONLY),
                    "{name}: a command with keys is exactly one of WRITE or READONLY"
                );
            }
        }
    }

    #[test]
    fn key_positions_fit_the_arity() {
        for (name, spec) in all() {
            for ks in spec.keys {
                // A fixed arity bounds key positions; a negative one is only a minimum
                // (RedisJSON's JSON.DEBUG: arity -1, key at 2).
                if let (spec::BeginSearch::Index(i), true) = (ks.begin, spec.arity > 0) {
                    assert!(i as i32 <= spec.arity, "{name}: key at {i} beyond arity");
                }
            }
        }
    }

    #[test]
    fn resolve_reports_redis_errors() {
        let argv = |s: &[&str]| s.iter().map(|a| Bytes::from(a.to_string())).collect::<Vec<_>>();
        assert_eq!(
            resolve(&argv(&["nosuch", "a"])).err().unwrap().to_string(),
            "ERR unknown command 'nosuch', with args beginning with: 'a' "
        );
        assert_eq!(
            resolve(&argv(&["GET"])).err().unwrap().to_string(),
            "ERR wrong number of arguments for 'get' command"
        );
    }
}
