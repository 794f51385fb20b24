//! Server commands: INFO, CONFIG, COMMAND, TIME, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB,
//! MEMORY, SLOWLOG, DEBUG, SHUTDOWN, MODULE, LASTSAVE, ROLE, LATENCY.
//!
//! Everything `COMMAND` prints is derived from the `CommandSpec` table; nothing here lists
//! commands by hand. FLUSHDB, FLUSHALL and SWAPDB change the keyspace and so are writes
//! through the log like any other; the rest read server state and never touch the log.
//! `MONITOR` is not implemented yet.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::cmd::spec::{
    read, write, BeginSearch, CmdResult, CommandSpec, Exec, FindKeys, Flags, Group, KeyFlags,
    KeySpec, Parse, ReadCommand, WriteCommand,
};
use crate::cmd::{table, ApplyCtx, Args, ReadCtx, SessionCtx};
use crate::config::SetError;
use crate::error::CmdError;
use crate::reply::Reply;
use crate::session::{After, ReplyMode};
use crate::state::Shared;

const ADMIN: Flags = Flags::ADMIN.with(Flags::NOSCRIPT).with(Flags::LOADING).with(Flags::STALE);
const LOADING_STALE: Flags = Flags::LOADING.with(Flags::STALE);

/// A `HELP` subcommand spec for container `parent`.
const fn help(handler: crate::cmd::spec::SessionFn) -> CommandSpec {
    CommandSpec {
        name: "help",
        group: Group::Server,
        summary: "Returns helpful text about the different subcommands.",
        since: "5.0.0",
        complexity: "O(1)",
        arity: 2,
        flags: LOADING_STALE,
        exec: Exec::Session(handler),
        ..CommandSpec::DEFAULT
    }
}

const fn sub(
    name: &'static str,
    summary: &'static str,
    arity: i32,
    flags: Flags,
    exec: Exec,
) -> CommandSpec {
    CommandSpec {
        name,
        group: Group::Server,
        summary,
        since: "2.0.0",
        complexity: "O(1)",
        arity,
        flags,
        exec,
        ..CommandSpec::DEFAULT
    }
}

const CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        complexity: "O(N) when N is the number of configuration parameters provided",
        ..sub(
            "get",
            "Returns the effective values of configuration parameters.",
            -3,
            ADMIN,
            Exec::Session(config_get),
        )
    },
    CommandSpec {
        complexity: "O(N) when N is the number of configuration parameters provided",
        ..sub(
            "set",
            "Sets configuration parameters in-flight.",
            -4,
            ADMIN,
            Exec::Session(config_set),
        )
    },
    sub("resetstat", "Resets the server's statistics.", 2, ADMIN, Exec::Session(config_resetstat)),
    sub(
        "rewrite",
        "Persists the effective configuration to file.",
        2,
        ADMIN,
        Exec::Session(config_rewrite),
    ),
    help(config_help),
];

const COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    sub("count", "Returns a count of commands.", 2, LOADING_STALE, Exec::Session(command_count)),
    CommandSpec {
        complexity: "O(N) where N is the number of commands to look up",
        acl: &["connection"],
        ..sub(
            "info",
            "Returns information about one, multiple or all commands.",
            -2,
            LOADING_STALE,
            Exec::Session(command_info),
        )
    },
    CommandSpec {
        complexity: "O(N) where N is the number of commands to look up",
        acl: &["connection"],
        ..sub(
            "docs",
            "Returns documentary information about one, multiple or all commands.",
            -2,
            LOADING_STALE,
            Exec::Session(command_docs),
        )
    },
    CommandSpec {
        complexity: "O(N) where N is the total number of Redis commands",
        acl: &["connection"],
        ..sub(
            "list",
            "Returns a list of command names.",
            -2,
            LOADING_STALE,
            Exec::Session(command_list),
        )
    },
    CommandSpec {
        complexity: "O(N) where N is the number of arguments to the command",
        acl: &["connection"],
        ..sub(
            "getkeys",
            "Extracts the key names from an arbitrary command.",
            -3,
            LOADING_STALE,
            Exec::Session(command_getkeys),
        )
    },
    CommandSpec {
        complexity: "O(N) where N is the number of arguments to the command",
        acl: &["connection"],
        ..sub(
            "getkeysandflags",
            "Extracts the key names and access flags for an arbitrary command.",
            -3,
            LOADING_STALE,
            Exec::Session(command_getkeysandflags),
        )
    },
    CommandSpec { acl: &["connection"], ..help(command_help) },
];

const MEMORY_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        keys: &[KeySpec::single(2, KeyFlags::RO)],
        complexity: "O(N) where N is the number of samples.",
        ..sub(
            "usage",
            "Estimates the memory usage of a key.",
            -3,
            Flags::READONLY,
            read::<MemoryUsage>(),
        )
    },
    sub(
        "stats",
        "Returns details about memory usage.",
        2,
        Flags::NONE,
        Exec::Session(memory_stats),
    ),
    sub(
        "doctor",
        "Outputs a memory problems report.",
        2,
        Flags::NONE,
        Exec::Session(memory_doctor),
    ),
    sub(
        "malloc-stats",
        "Returns the allocator statistics.",
        2,
        Flags::NONE,
        Exec::Session(memory_malloc_stats),
    ),
    sub("purge", "Asks the allocator to release memory.", 2, Flags::NONE, Exec::Session(ok)),
    help(memory_help),
];

const SLOWLOG_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        complexity: "O(N) where N is the number of entries returned",
        ..sub(
            "get",
            "Returns the slow log's entries.",
            -2,
            Flags::ADMIN.with(LOADING_STALE),
            Exec::Session(slowlog_get),
        )
    },
    sub(
        "len",
        "Returns the number of entries in the slow log.",
        2,
        Flags::ADMIN.with(LOADING_STALE),
        Exec::Session(slowlog_len),
    ),
    sub(
        "reset",
        "Clears all entries from the slow log.",
        2,
        Flags::ADMIN.with(LOADING_STALE),
        Exec::Session(slowlog_reset),
    ),
    help(slowlog_help),
];

const MODULE_SUBCOMMANDS: &[CommandSpec] = &[
    sub(
        "list",
        "Returns all loaded modules.",
        2,
        Flags::ADMIN.with(Flags::NOSCRIPT),
        Exec::Session(module_list),
    ),
    sub(
        "load",
        "Loads a module.",
        -3,
        Flags::ADMIN.with(Flags::NOSCRIPT),
        Exec::Session(module_load),
    ),
    sub(
        "loadex",
        "Loads a module using extended parameters.",
        -3,
        Flags::ADMIN.with(Flags::NOSCRIPT),
        Exec::Session(module_load),
    ),
    sub(
        "unload",
        "Unloads a module.",
        3,
        Flags::ADMIN.with(Flags::NOSCRIPT),
        Exec::Session(module_unload),
    ),
    help(module_help),
];

const LATENCY_SUBCOMMANDS: &[CommandSpec] = &[
    sub(
        "latest",
        "Returns the latest latency samples for all events.",
        2,
        ADMIN,
        Exec::Session(empty_array),
    ),
    sub(
        "history",
        "Returns timestamp-latency samples for an event.",
        3,
        ADMIN,
        Exec::Session(empty_array),
    ),
    sub(
        "reset",
        "Resets the latency data for one or more events.",
        -2,
        ADMIN,
        Exec::Session(latency_reset),
    ),
    sub(
        "doctor",
        "Returns a human-readable latency analysis report.",
        2,
        ADMIN,
        Exec::Session(latency_doctor),
    ),
    sub(
        "histogram",
        "Returns the cumulative distribution of latencies of a subset or all commands.",
        -2,
        ADMIN,
        Exec::Session(empty_map),
    ),
    sub("graph", "Returns a latency graph for an event.", 3, ADMIN, Exec::Session(latency_graph)),
    help(latency_help),
];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "info",
        group: Group::Server,
        summary: "Returns information and statistics about the server.",
        since: "1.0.0",
        complexity: "O(1)",
        arity: -1,
        flags: LOADING_STALE,
        acl: &["dangerous"],
        exec: Exec::Session(info),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "config",
        group: Group::Server,
        summary: "A container for server configuration commands.",
        since: "2.0.0",
        complexity: "Depends on subcommand.",
        arity: -2,
        subcommands: CONFIG_SUBCOMMANDS,
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "command",
        group: Group::Server,
        summary: "Returns detailed information about all commands.",
        since: "2.8.13",
        complexity: "O(N) where N is the total number of Redis commands",
        arity: -1,
        flags: LOADING_STALE,
        acl: &["connection"],
        subcommands: COMMAND_SUBCOMMANDS,
        exec: Exec::Session(command_all),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "time",
        group: Group::Server,
        summary: "Returns the server time.",
        since: "2.6.0",
        complexity: "O(1)",
        arity: 1,
        flags: LOADING_STALE.with(Flags::FAST),
        exec: Exec::Session(time),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "dbsize",
        group: Group::Server,
        summary: "Returns the number of keys in the database.",
        since: "1.0.0",
        complexity: "O(1)",
        arity: 1,
        flags: Flags::READONLY.with(Flags::FAST),
        acl: &["keyspace"],
        exec: read::<DbSize>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "flushdb",
        group: Group::Server,
        summary: "Removes all keys from the current database.",
        since: "1.0.0",
        complexity: "O(N) where N is the number of keys in the selected database",
        arity: -1,
        flags: Flags::WRITE,
        acl: &["keyspace", "dangerous"],
        exec: write::<FlushDb>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "flushall",
        group: Group::Server,
        summary: "Removes all keys from all databases.",
        since: "1.0.0",
        complexity: "O(N) where N is the total number of keys in all databases",
        arity: -1,
        flags: Flags::WRITE,
        acl: &["keyspace", "dangerous"],
        exec: write::<FlushAll>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "swapdb",
        group: Group::Server,
        summary: "Swaps two Redis databases.",
        since: "4.0.0",
        complexity: "O(N) where N is the count of clients watching or blocking on keys from both databases.",
        arity: 3,
        flags: Flags::WRITE.with(Flags::FAST),
        acl: &["keyspace", "dangerous"],
        exec: write::<SwapDb>(),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "memory",
        group: Group::Server,
        summary: "A container for memory diagnostics commands.",
        since: "4.0.0",
        complexity: "Depends on subcommand.",
        arity: -2,
        subcommands: MEMORY_SUBCOMMANDS,
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "slowlog",
        group: Group::Server,
        summary: "A container for slow log commands.",
        since: "2.2.12",
        complexity: "Depends on subcommand.",
        arity: -2,
        subcommands: SLOWLOG_SUBCOMMANDS,
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "debug",
        group: Group::Server,
        summary: "A container for debugging commands.",
        since: "1.0.0",
        complexity: "Depends on subcommand.",
        arity: -2,
        flags: ADMIN,
        acl: &["dangerous"],
        exec: Exec::Session(debug),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "shutdown",
        group: Group::Server,
        summary: "Synchronously saves the database(s) to disk and shuts down the Redis server.",
        since: "1.0.0",
        complexity: "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)",
        arity: -1,
        flags: ADMIN.with(Flags::NO_MULTI).with(Flags::ALLOW_BUSY),
        exec: Exec::Session(shutdown),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "module",
        group: Group::Server,
        summary: "A container for module commands.",
        since: "4.0.0",
        complexity: "Depends on subcommand.",
        arity: -2,
        subcommands: MODULE_SUBCOMMANDS,
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "save",
        group: Group::Server,
        summary: "Synchronously saves the database(s) to disk.",
        since: "1.0.0",
        complexity: "O(N) where N is the total number of keys in all databases",
        arity: 1,
        flags: Flags::ADMIN
            .with(Flags::NOSCRIPT)
            .with(Flags::NO_ASYNC_LOADING)
            .with(Flags::NO_MULTI),
        acl: &["admin", "dangerous"],
        // Runs in dispatch (it awaits the snapshot); this is never called.
        exec: Exec::Session(|_, _| Err(CmdError::Internal)),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "bgsave",
        group: Group::Server,
        summary: "Asynchronously saves the database(s) to disk.",
        since: "1.0.0",
        complexity: "O(1)",
        arity: -1,
        flags: Flags::ADMIN.with(Flags::NOSCRIPT).with(Flags::NO_ASYNC_LOADING),
        acl: &["admin", "dangerous"],
        exec: Exec::Session(bgsave),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "lastsave",
        group: Group::Server,
        summary: "Returns the Unix timestamp of the last successful save to disk.",
        since: "1.0.0",
        complexity: "O(1)",
        arity: 1,
        flags: LOADING_STALE.with(Flags::FAST),
        acl: &["admin", "dangerous"],
        exec: Exec::Session(lastsave),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "role",
        group: Group::Server,
        summary: "Returns the replication role.",
        since: "2.8.12",
        complexity: "O(1)",
        arity: 1,
        flags: Flags::NOSCRIPT.with(LOADING_STALE).with(Flags::FAST),
        acl: &["admin", "dangerous"],
        exec: Exec::Session(role),
        ..CommandSpec::DEFAULT
    },
    CommandSpec {
        name: "latency",
        group: Group::Server,
        summary: "A container for latency diagnostics commands.",
        since: "2.8.13",
        complexity: "Depends on subcommand.",
        arity: -2,
        subcommands: LATENCY_SUBCOMMANDS,
        ..CommandSpec::DEFAULT
    },
];

// ---------------------------------------------------------------------------------------
// Small shared helpers

fn ok(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(Reply::ok())
}

fn empty_array(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(Reply::Array(vec![]))
}

fn empty_map(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(Reply::Map(vec![]))
}

/// A HELP reply: the header line, then each line, as status strings.
pub fn help_reply(header: &'static str, lines: &[&'static str]) -> Reply {
    let mut out = vec![Reply::status(header)];
    out.extend(lines.iter().map(|l| Reply::status(l)));
    out.push(Reply::status("HELP"));
    out.push(Reply::status("    Print this help."));
    Reply::Array(out)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Redis's human-readable byte count (`1.28M`).
pub fn bytes_human(n: u64) -> String {
    const UNITS: &[(f64, &str)] =
        &[(1024.0, "K"), (1048576.0, "M"), (1073741824.0, "G"), (1099511627776.0, "T")];
    let f = n as f64;
    if f < 1024.0 {
        return format!("{n}B");
    }
    let mut out = format!("{:.2}P", f / 1125899906842624.0);
    for (i, (div, unit)) in UNITS.iter().enumerate() {
        let next = UNITS.get(i + 1).map_or(1125899906842624.0, |u| u.0);
        if f < next {
            out = format!("{:.2}{unit}", f / div);
            break;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// INFO

/// Process figures INFO reports, read once per call.
struct ProcessStats {
    allocated: u64,
    active: u64,
    resident: u64,
    rss: u64,
    user_s: f64,
    sys_s: f64,
    main_user_s: f64,
    main_sys_s: f64,
}

/// Highest `used_memory` seen by INFO or MEMORY STATS.
static PEAK_MEMORY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// `used_memory` when the first INFO asked (a stand-in for Redis's start-up figure).
static STARTUP_MEMORY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Clock ticks per second in /proc stat files (USER_HZ: 100 on every Linux port).
const USER_HZ: f64 = 100.0;

/// (utime, stime) in seconds from a /proc `stat` file.
fn proc_cpu(path: &str) -> (f64, f64) {
    let Ok(text) = std::fs::read_to_string(path) else { return (0.0, 0.0) };
    // The command name is in parentheses and may contain spaces: fields start after ')'.
    let Some(rest) = text.rfind(')').map(|i| &text[i + 1..]) else { return (0.0, 0.0) };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) / USER_HZ, tick(12) / USER_HZ)
}

fn proc_rss() -> u64 {
    // statm: size resident ... in pages.
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|t| t.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        })
        .map_or(0, |kb| kb * 1024)
}

fn process_stats() -> ProcessStats {
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    let allocated = stats::allocated::read().unwrap_or(0) as u64;
    let active = stats::active::read().unwrap_or(0) as u64;
    let resident = stats::resident::read().unwrap_or(0) as u64;
    let rss = proc_rss();
    // Outside the server binary jemalloc may not be the allocator: fall back to RSS.
    let allocated = if allocated == 0 { rss } else { allocated };
    PEAK_MEMORY.fetch_max(allocated, Ordering::Relaxed);
    let _ = STARTUP_MEMORY.compare_exchange(0, allocated, Ordering::Relaxed, Ordering::Relaxed);
    let (user_s, sys_s) = proc_cpu("/proc/self/stat");
    let (main_user_s, main_sys_s) =
        proc_cpu(&format!("/proc/self/task/{}/stat", std::process::id()));
    ProcessStats { allocated, active, resident, rss, user_s, sys_s, main_user_s, main_sys_s }
}

fn os_name() -> String {
    let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_string()).ok();
    let kernel = read("/proc/sys/kernel/ostype").unwrap_or_else(|| std::env::consts::OS.into());
    let release = read("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{kernel} {release} {}", std::env::consts::ARCH)
}

/// INFO sections in the order Redis prints them, and whether `default` includes each.
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("modules", true),
    ("commandstats", false),
    ("errorstats", true),
    ("latencystats", false),
    ("cluster", true),
    ("keyspace", true),
];

/// Which sections `INFO args...` asks for.
fn wanted_sections(args: &[Bytes]) -> Vec<&'static str> {
    let mut want: Vec<&'static str> = Vec::new();
    let mut add = |name: &'static str| {
        if !want.contains(&name) {
            want.push(name);
        }
    };
    if args.is_empty() {
        SECTIONS.iter().filter(|(_, d)| *d).for_each(|(n, _)| add(n));
    }
    for a in args {
        let lower = a.to_ascii_lowercase();
        match &lower[..] {
            b"default" => SECTIONS.iter().filter(|(_, d)| *d).for_each(|(n, _)| add(n)),
            b"all" | b"everything" => SECTIONS.iter().for_each(|(n, _)| add(n)),
            other => {
                if let Some((n, _)) = SECTIONS.iter().find(|(n, _)| n.as_bytes() == other) {
                    add(n);
                }
            }
        }
    }
    want
}

/// The INFO text for `args` (section names, `default`, `all`, `everything`).
pub fn info_text(shared: &Shared, session_count: usize, args: &[Bytes]) -> String {
    let want = wanted_sections(args);
    let mut out = String::new();
    let proc = want.iter().any(|s| matches!(*s, "memory" | "cpu")).then(process_stats);
    for (name, _) in SECTIONS {
        if !want.contains(name) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        match *name {
            "server" => server_section(shared, &mut out),
            "clients" => clients_section(shared, session_count, &mut out),
            "memory" => {
                if let Some(p) = &proc {
                    memory_section(shared, p, &mut out);
                }
            }
            "persistence" => persistence_section(shared, &mut out),
            "stats" => stats_section(shared, &mut out),
            "replication" => replication_section(shared, &mut out),
            "cpu" => {
                if let Some(p) = &proc {
                    cpu_section(p, &mut out);
                }
            }
            "modules" => {
                out.push_str("# Modules\r\n");
                for (name, version) in [
                    (crate::cmd::search::MODULE_NAME, crate::cmd::search::MODULE_VERSION),
                    (crate::cmd::json::MODULE_NAME, crate::cmd::json::MODULE_VERSION),
                ] {
                    out.push_str(&format!(
                        "module:name={name},ver={version},api=1,filters=0,usedby=[],using=[],options=[handle-io-errors]\r\n"
                    ));
                }
            }
            "commandstats" => commandstats_section(shared, &mut out),
            "errorstats" => errorstats_section(shared, &mut out),
            "latencystats" => out.push_str("# Latencystats\r\n"),
            "cluster" => {
                let on = shared.config.get("cluster-enabled").is_some_and(|v| v == "yes");
                let _ = write!(out, "# Cluster\r\ncluster_enabled:{}\r\n", u8::from(on));
            }
            "keyspace" => keyspace_section(shared, &mut out),
            _ => {}
        }
    }
    out
}

fn line(out: &mut String, key: &str, value: impl std::fmt::Display) {
    let _ = write!(out, "{key}:{value}\r\n");
}

fn server_section(shared: &Shared, out: &mut String) {
    let uptime_s = crate::clock::since(shared.started).as_secs();
    let cluster = shared.config.get("cluster-enabled").is_some_and(|v| v == "yes");
    let port = shared.port.load(Ordering::Relaxed);
    let hz = shared.config.get_i64("hz");
    out.push_str("# Server\r\n");
    line(out, "redis_version", crate::REDIS_VERSION);
    line(out, "engram_version", crate::ENGRAM_VERSION);
    line(out, "redis_git_sha1", "00000000");
    line(out, "redis_git_dirty", 0);
    line(out, "redis_build_id", "0");
    line(out, "redis_mode", if cluster { "cluster" } else { "standalone" });
    line(out, "os", os_name());
    line(out, "arch_bits", usize::BITS);
    line(out, "monotonic_clock", "POSIX clock_gettime");
    line(out, "multiplexing_api", "epoll");
    line(out, "atomicvar_api", "c11-builtin");
    line(out, "gcc_version", "0.0.0");
    line(out, "process_id", std::process::id());
    line(out, "process_supervised", "no");
    line(out, "run_id", &shared.run_id);
    line(out, "tcp_port", port);
    line(out, "server_time_usec", crate::clock::now_us());
    line(out, "uptime_in_seconds", uptime_s);
    line(out, "uptime_in_days", uptime_s / 86400);
    line(out, "hz", hz);
    line(out, "configured_hz", hz);
    line(out, "lru_clock", (crate::clock::now_ms() / 1000) & ((1 << 24) - 1));
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default();
    line(out, "executable", exe);
    line(out, "config_file", "");
    line(out, "io_threads_active", 0);
    let bind = shared.config.get("bind").unwrap_or_default();
    let binds: String = bind.split_whitespace().map(|b| format!("bind={b},")).collect();
    line(out, "listener0", format!("name=tcp,{binds}port={port}"));
}

fn clients_section(shared: &Shared, connected: usize, out: &mut String) {
    out.push_str("# Clients\r\n");
    line(out, "connected_clients", connected);
    line(out, "cluster_connections", 0);
    line(out, "maxclients", shared.config.maxclients.load(Ordering::Relaxed));
    line(out, "blocked_clients", shared.blocked.len());
    for k in ["client_recent_max_input_buffer", "client_recent_max_output_buffer"] {
        line(out, k, 0);
    }
    line(out, "tracking_clients", shared.pubsub.tracking.stats().clients);
    for k in
        ["pubsub_clients", "watching_clients", "clients_in_timeout_table", "total_watched_keys"]
    {
        line(out, k, 0);
    }
    line(out, "total_blocking_keys", shared.blocked.keys_len());
    line(out, "total_blocking_keys_on_nokey", shared.blocked.keys_on_nokey_len());
}

fn memory_section(shared: &Shared, p: &ProcessStats, out: &mut String) {
    let peak = PEAK_MEMORY.load(Ordering::Relaxed).max(p.allocated);
    let startup = STARTUP_MEMORY.load(Ordering::Relaxed).min(p.allocated);
    let dataset = p.allocated.saturating_sub(startup);
    let maxmemory = shared.config.get_i64("maxmemory").max(0) as u64;
    let total_system = total_system_memory();
    let pct = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 * 100.0 / b as f64 };
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    out.push_str("# Memory\r\n");
    line(out, "used_memory", p.allocated);
    line(out, "used_memory_human", bytes_human(p.allocated));
    line(out, "used_memory_rss", p.rss);
    line(out, "used_memory_rss_human", bytes_human(p.rss));
    line(out, "used_memory_peak", peak);
    line(out, "used_memory_peak_human", bytes_human(peak));
    line(out, "used_memory_peak_perc", format!("{:.2}%", pct(p.allocated, peak)));
    line(out, "used_memory_overhead", startup);
    line(out, "used_memory_startup", startup);
    line(out, "used_memory_dataset", dataset);
    line(out, "used_memory_dataset_perc", format!("{:.2}%", pct(dataset, p.allocated)));
    line(out, "allocator_allocated", p.allocated);
    line(out, "allocator_active", p.active);
    line(out, "allocator_resident", p.resident);
    line(out, "allocator_muzzy", 0);
    line(out, "total_system_memory", total_system);
    line(out, "total_system_memory_human", bytes_human(total_system));
    let eval_vm = crate::script::vm::EVAL_VM_BYTES.load(Ordering::Relaxed);
    let functions_vm = crate::script::vm::FUNCTION_VM_BYTES.load(Ordering::Relaxed);
    // Never wait for a running script here: INFO must answer while one spins.
    let (scripts, libraries, functions, script_bytes) =
        shared.keyspace.try_read().map_or((0, 0, 0, 0), |ks| {
            let (libraries, functions) = ks.scripts.libraries.counts();
            let bytes: usize = ks.scripts.script_bodies().map(|b| b.len() + 40).sum();
            (ks.scripts.script_count(), libraries, functions, bytes as u64)
        });
    line(out, "used_memory_lua", eval_vm);
    line(out, "used_memory_vm_eval", eval_vm);
    line(out, "used_memory_lua_human", bytes_human(eval_vm));
    line(out, "used_memory_scripts_eval", script_bytes);
    line(out, "number_of_cached_scripts", scripts);
    line(out, "number_of_functions", functions);
    line(out, "number_of_libraries", libraries);
    line(out, "used_memory_vm_functions", functions_vm);
    line(out, "used_memory_vm_total", eval_vm + functions_vm);
    line(out, "used_memory_vm_total_human", bytes_human(eval_vm + functions_vm));
    line(out, "used_memory_functions", 0);
    line(out, "used_memory_scripts", script_bytes);
    line(out, "used_memory_scripts_human", bytes_human(script_bytes));
    line(out, "maxmemory", maxmemory);
    line(out, "maxmemory_human", bytes_human(maxmemory));
    line(out, "maxmemory_policy", shared.config.get("maxmemory-policy").unwrap_or_default());
    line(out, "allocator_frag_ratio", format!("{:.2}", ratio(p.active, p.allocated)));
    line(out, "allocator_frag_bytes", p.active.saturating_sub(p.allocated));
    line(out, "allocator_rss_ratio", format!("{:.2}", ratio(p.resident, p.active)));
    line(out, "allocator_rss_bytes", p.resident.saturating_sub(p.active));
    line(out, "rss_overhead_ratio", format!("{:.2}", ratio(p.rss, p.resident)));
    line(out, "rss_overhead_bytes", p.rss as i64 - p.resident as i64);
    line(out, "mem_fragmentation_ratio", format!("{:.2}", ratio(p.rss, p.allocated)));
    line(out, "mem_fragmentation_bytes", p.rss as i64 - p.allocated as i64);
    for k in [
        "mem_not_counted_for_evict",
        "mem_replication_backlog",
        "mem_total_replication_buffers",
        "mem_clients_slaves",
        "mem_clients_normal",
        "mem_cluster_links",
        "mem_aof_buffer",
    ] {
        line(out, k, 0);
    }
    line(out, "mem_allocator", "jemalloc-5.3.0");
    for k in ["mem_overhead_db_hashtable_rehashing", "active_defrag_running"] {
        line(out, k, 0);
    }
    let (pending, freed) = crate::keyspace::lazyfree::stats();
    line(out, "lazyfree_pending_objects", pending);
    line(out, "lazyfreed_objects", freed);
}

fn persistence_section(shared: &Shared, out: &mut String) {
    out.push_str("# Persistence\r\n");
    let log = &shared.log;
    let load = log.load_progress();
    let snap = log.snapshot_status();
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let loading = log.is_loading();
    line(out, "loading", u8::from(loading));
    line(out, "async_loading", 0);
    if loading {
        let (total, done) = (get(&load.total_bytes), get(&load.loaded_bytes));
        line(out, "loading_start_time", get(&load.started_unix));
        line(out, "loading_total_bytes", total);
        line(out, "loading_rdb_used_mem", 0);
        line(out, "loading_loaded_bytes", done);
        let perc = if total == 0 { 0.0 } else { done as f64 * 100.0 / total as f64 };
        line(out, "loading_loaded_perc", format!("{perc:.2}"));
        let elapsed = crate::clock::now_ms() / 1000
            - get(&load.started_unix).min(crate::clock::now_ms() / 1000);
        let eta = ((total - done.min(total)) * elapsed.max(1)).checked_div(done).unwrap_or(1);
        line(out, "loading_eta_seconds", eta);
    }
    for k in ["current_cow_peak", "current_cow_size", "current_cow_size_age"] {
        line(out, k, 0);
    }
    line(out, "current_fork_perc", "0.00");
    line(out, "current_save_keys_processed", 0);
    line(out, "current_save_keys_total", 0);
    line(out, "rdb_changes_since_last_save", shared.stats.dirty.load(Ordering::Relaxed));
    let in_progress = snap.in_progress.load(Ordering::Relaxed);
    line(out, "rdb_bgsave_in_progress", u8::from(in_progress));
    line(out, "rdb_last_save_time", get(&snap.last_save_unix));
    let failed = snap.last_failed.load(Ordering::Relaxed);
    line(out, "rdb_last_bgsave_status", if failed { "err" } else { "ok" });
    line(out, "rdb_last_bgsave_time_sec", get(&snap.last_duration_secs));
    let current = if in_progress {
        (crate::clock::now_ms() / 1000).saturating_sub(get(&snap.started_unix)) as i64
    } else {
        -1
    };
    line(out, "rdb_current_bgsave_time_sec", current);
    line(out, "rdb_saves", 0);
    line(out, "rdb_last_cow_size", 0);
    line(out, "rdb_last_load_keys_expired", 0);
    line(out, "rdb_last_load_keys_loaded", 0);
    line(out, "aof_enabled", 0);
    line(out, "aof_rewrite_in_progress", 0);
    line(out, "aof_rewrite_scheduled", 0);
    line(out, "aof_last_rewrite_time_sec", -1);
    line(out, "aof_current_rewrite_time_sec", -1);
    line(out, "aof_last_bgrewrite_status", "ok");
    line(out, "aof_rewrites", 0);
    line(out, "aof_rewrites_consecutive_failures", 0);
    line(out, "aof_last_write_status", "ok");
    line(out, "aof_last_cow_size", 0);
    line(out, "module_fork_in_progress", 0);
    line(out, "module_fork_last_cow_size", 0);
    // Engram's own: every write is durable through the log, in this mode.
    line(out, "durability", shared.config.get("durability").unwrap_or_default());
    line(out, "log_applied_index", log.applied_index());
    let stats = log.stats();
    line(out, "log_fsyncs", get(&stats.fsyncs));
    line(out, "log_synced_entries", get(&stats.synced_entries));
    line(out, "log_bytes_written", get(&stats.bytes_written));
    line(out, "log_last_fsync_us", get(&stats.last_fsync_us));
    line(out, "log_bytes_on_disk", log.log_bytes_on_disk());
    line(out, "log_bytes_since_snapshot", get(&stats.bytes_since_snapshot));
    line(out, "snapshot_index", get(&snap.index));
    let poison = log.poisoned();
    line(out, "log_poisoned", u8::from(poison.is_some()));
    if let Some(reason) = poison {
        line(out, "log_poison_reason", reason);
    }
}

fn stats_section(shared: &Shared, out: &mut String) {
    let s = &shared.stats;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    out.push_str("# Stats\r\n");
    line(out, "total_connections_received", get(&s.total_connections_received));
    line(out, "total_commands_processed", get(&s.total_commands_processed));
    line(out, "instantaneous_ops_per_sec", shared.ops_per_sec());
    line(out, "total_net_input_bytes", get(&s.net_input_bytes));
    line(out, "total_net_output_bytes", get(&s.net_output_bytes));
    line(out, "total_net_repl_input_bytes", 0);
    line(out, "total_net_repl_output_bytes", 0);
    for k in [
        "instantaneous_input_kbps",
        "instantaneous_output_kbps",
        "instantaneous_input_repl_kbps",
        "instantaneous_output_repl_kbps",
    ] {
        line(out, k, "0.00");
    }
    line(out, "rejected_connections", get(&s.rejected_connections));
    for k in ["sync_full", "sync_partial_ok", "sync_partial_err", "expired_subkeys"] {
        line(out, k, 0);
    }
    line(out, "expired_keys", get(&s.expired_keys));
    line(out, "expired_stale_perc", "0.00");
    for k in [
        "expired_time_cap_reached_count",
        "expire_cycle_cpu_milliseconds",
        "evicted_keys",
        "evicted_clients",
        "evicted_scripts",
        "total_eviction_exceeded_time",
        "current_eviction_exceeded_time",
    ] {
        line(out, k, 0);
    }
    line(out, "keyspace_hits", get(&s.keyspace_hits));
    line(out, "keyspace_misses", get(&s.keyspace_misses));
    for k in [
        "pubsub_channels",
        "pubsub_patterns",
        "pubsubshard_channels",
        "latest_fork_usec",
        "total_forks",
        "migrate_cached_sockets",
        "slave_expires_tracked_keys",
        "active_defrag_hits",
        "active_defrag_misses",
        "active_defrag_key_hits",
        "active_defrag_key_misses",
        "total_active_defrag_time",
        "current_active_defrag_time",
    ] {
        line(out, k, 0);
    }
    let tracking = shared.pubsub.tracking.stats();
    line(out, "tracking_total_keys", tracking.keys);
    line(out, "tracking_total_items", tracking.items);
    line(out, "tracking_total_prefixes", tracking.prefixes);
    line(out, "unexpected_error_replies", 0);
    line(out, "total_error_replies", get(&s.total_error_replies));
    for k in [
        "dump_payload_sanitizations",
        "total_reads_processed",
        "total_writes_processed",
        "io_threaded_reads_processed",
        "io_threaded_writes_processed",
        "client_query_buffer_limit_disconnections",
        "client_output_buffer_limit_disconnections",
        "reply_buffer_shrinks",
        "reply_buffer_expands",
        "acl_access_denied_auth",
        "acl_access_denied_cmd",
        "acl_access_denied_key",
        "acl_access_denied_channel",
    ] {
        line(out, k, 0);
    }
}

fn replication_section(shared: &Shared, out: &mut String) {
    let local = ReplicationLocal {
        run_id: &shared.run_id,
        applied: shared.log.applied_index(),
        backlog_size: shared.config.get_i64("repl-backlog-size"),
        min_replicas_to_write: shared.config.get_i64("min-replicas-to-write"),
    };
    replication_text(shared.log.shard().as_ref(), &local, out);
}

/// What INFO replication prints that is this node's own rather than the shard's.
pub struct ReplicationLocal<'a> {
    /// The replication id of a node without replication (its run id).
    pub run_id: &'a str,
    /// The log index applied here, for a node without replication.
    pub applied: u64,
    /// `repl-backlog-size`.
    pub backlog_size: i64,
    /// `min-replicas-to-write` (Redis adds `min_slaves_good_slaves` when it is set).
    pub min_replicas_to_write: i64,
}

/// The `# Replication` section, fields in Redis 7.4's order. `view` is the shard this
/// node belongs to: its leader prints itself as master with every other member as a
/// replica, the others print themselves as replicas of the leader (link down while there
/// is none). Offsets are log indexes.
pub fn replication_text(
    view: Option<&engram_log::ShardView>,
    local: &ReplicationLocal<'_>,
    out: &mut String,
) {
    out.push_str("# Replication\r\n");
    let leading = view.is_none_or(|v| v.leader == Some(v.me));
    if leading {
        line(out, "role", "master");
        let replicas: Vec<_> =
            view.into_iter().flat_map(|v| v.members.iter().filter(move |m| m.id != v.me)).collect();
        line(out, "connected_slaves", replicas.len());
        if local.min_replicas_to_write > 0 {
            let good = replicas.iter().filter(|m| m.matched.is_some()).count();
            line(out, "min_slaves_good_slaves", good);
        }
        for (i, m) in replicas.iter().enumerate() {
            let (ip, port) = crate::cluster::split_addr(&m.addr);
            let state = if m.matched.is_some() { "online" } else { "wait_bgsave" };
            let offset = m.matched.unwrap_or(0);
            let _ =
                write!(out, "slave{i}:ip={ip},port={port},state={state},offset={offset},lag=0\r\n");
        }
    } else if let Some(v) = view {
        let leader = crate::cmd::cluster::leader_addr(v);
        let (host, port) = leader.unwrap_or(("", 0));
        line(out, "role", "slave");
        line(out, "master_host", host);
        line(out, "master_port", port);
        line(out, "master_link_status", if leader.is_some() { "up" } else { "down" });
        line(out, "master_last_io_seconds_ago", if leader.is_some() { 0 } else { -1 });
        line(out, "master_sync_in_progress", 0);
        line(out, "slave_read_repl_offset", v.committed.max(v.applied));
        line(out, "slave_repl_offset", v.applied);
        if leader.is_none() {
            line(out, "master_link_down_since_seconds", -1);
        }
        line(out, "slave_priority", 100);
        line(out, "slave_read_only", 1);
        line(out, "replica_announced", 1);
        line(out, "connected_slaves", 0);
        if local.min_replicas_to_write > 0 {
            line(out, "min_slaves_good_slaves", 0);
        }
    }
    line(out, "master_failover_state", "no-failover");
    let replid = match view {
        Some(_) => crate::cluster::replication_id(crate::cluster::ONLY_SHARD),
        None => local.run_id.to_string(),
    };
    line(out, "master_replid", replid);
    line(out, "master_replid2", "0000000000000000000000000000000000000000");
    line(out, "master_repl_offset", view.map_or(local.applied, |v| v.applied));
    line(out, "second_repl_offset", -1);
    line(out, "repl_backlog_active", 0);
    line(out, "repl_backlog_size", local.backlog_size);
    line(out, "repl_backlog_first_byte_offset", 0);
    line(out, "repl_backlog_histlen", 0);
}

fn cpu_section(p: &ProcessStats, out: &mut String) {
    out.push_str("# CPU\r\n");
    line(out, "used_cpu_sys", format!("{:.6}", p.sys_s));
    line(out, "used_cpu_user", format!("{:.6}", p.user_s));
    line(out, "used_cpu_sys_children", "0.000000");
    line(out, "used_cpu_user_children", "0.000000");
    line(out, "used_cpu_sys_main_thread", format!("{:.6}", p.main_sys_s));
    line(out, "used_cpu_user_main_thread", format!("{:.6}", p.main_user_s));
}

fn commandstats_section(shared: &Shared, out: &mut String) {
    out.push_str("# Commandstats\r\n");
    for (id, c) in shared.stats.commands.iter().enumerate() {
        let calls = c.calls.load(Ordering::Relaxed);
        let rejected = c.rejected_calls.load(Ordering::Relaxed);
        let failed = c.failed_calls.load(Ordering::Relaxed);
        if calls == 0 && rejected == 0 && failed == 0 {
            continue;
        }
        let Some((name, _)) = table().get(id) else { continue };
        let usec = c.usec.load(Ordering::Relaxed);
        let per_call = if calls == 0 { 0.0 } else { usec as f64 / calls as f64 };
        let _ = write!(
            out,
            "cmdstat_{name}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}\r\n"
        );
    }
}

fn errorstats_section(shared: &Shared, out: &mut String) {
    out.push_str("# Errorstats\r\n");
    for (code, count) in shared.stats.errors.lock().iter() {
        let _ = write!(out, "errorstat_{code}:count={count}\r\n");
    }
}

fn keyspace_section(shared: &Shared, out: &mut String) {
    out.push_str("# Keyspace\r\n");
    let now_ms = crate::clock::now_ms();
    let ks = shared.keyspace.read();
    for (i, db) in ks.iter() {
        if db.is_empty() {
            continue;
        }
        // Like Redis, avg_ttl is an estimate: from a bounded sample of keys with a TTL.
        let (mut sum, mut n) = (0u64, 0u64);
        for (_, e) in db.iter().filter(|(_, e)| e.expire_at_ms().is_some()).take(1000) {
            if let Some(at) = e.expire_at_ms() {
                sum += at.saturating_sub(now_ms);
                n += 1;
            }
        }
        let avg = sum.checked_div(n).unwrap_or(0);
        let _ = write!(
            out,
            "db{i}:keys={},expires={},avg_ttl={avg},subexpiry=0\r\n",
            db.len(),
            db.volatile_len()
        );
    }
}

/// `INFO [section ...]`
fn info(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let text = info_text(cx.shared, cx.shared.clients.len(), args.take_rest());
    Ok(Reply::Verbatim(Bytes::from(text)))
}

// ---------------------------------------------------------------------------------------
// CONFIG

/// `CONFIG GET parameter [parameter ...]`
fn config_get(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let mut seen: Vec<&'static str> = Vec::new();
    let mut pairs = Vec::new();
    for pattern in args.take_rest() {
        for (name, value) in cx.shared.config.matching(pattern) {
            if !seen.contains(&name) {
                seen.push(name);
                pairs.push((Reply::bulk(name), Reply::bulk(value)));
            }
        }
    }
    Ok(Reply::Map(pairs))
}

/// `CONFIG SET parameter value [parameter value ...]`: all or nothing.
fn config_set(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let rest = args.take_rest();
    if !rest.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let pairs: Vec<(String, String)> =
        rest.chunks(2).map(|p| (lossy(&p[0]), lossy(&p[1]))).collect();
    cx.shared.config.set_many(&pairs).map_err(|e| match e {
        SetError::Unknown(name) => CmdError::Custom(format!(
            "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
        )),
        SetError::Failed { arg, reason } => CmdError::Custom(format!(
            "ERR CONFIG SET failed (possibly related to argument '{arg}') - {reason}"
        )),
    })?;
    cx.shared.configure_log();
    Ok(Reply::ok())
}

fn config_resetstat(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    cx.shared.stats.reset();
    crate::keyspace::lazyfree::reset_stats();
    Ok(Reply::ok())
}

fn config_rewrite(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Err(CmdError::err("The server is running without a config file"))
}

fn config_help(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(help_reply(
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    ))
}

// ---------------------------------------------------------------------------------------
// COMMAND

/// The legacy (first key, last key, step) triple, derived from the key specs.
fn legacy_range(spec: &CommandSpec) -> (i64, i64, i64) {
    let mut range: Option<(i64, i64, i64)> = None;
    for ks in spec.keys {
        let (BeginSearch::Index(begin), FindKeys::Range { last, step, limit }) =
            (ks.begin, ks.find)
        else {
            continue;
        };
        if limit > 1 {
            continue;
        }
        let begin = begin as i64;
        let end = if last < 0 { i64::from(last) } else { begin + i64::from(last) };
        range = Some(match range {
            None => (begin, end, step as i64),
            Some((f, l, s)) => {
                let l = if l < 0 || end < 0 { l.min(end) } else { l.max(end) };
                (f.min(begin), l, s)
            }
        });
    }
    range.unwrap_or((0, 0, 0))
}

/// Whether keys can only be found by looking at the arguments (keyword or keynum specs).
fn has_movable_keys(spec: &CommandSpec) -> bool {
    spec.keys.iter().any(|ks| {
        matches!(ks.begin, BeginSearch::Keyword { .. })
            || matches!(ks.find, FindKeys::Keynum { .. })
            || matches!(ks.find, FindKeys::Range { limit, .. } if limit > 1)
    })
}

fn statuses(names: impl IntoIterator<Item = impl Into<Cow<'static, str>>>) -> Reply {
    Reply::Set(names.into_iter().map(|n| Reply::Status(n.into())).collect())
}

fn key_spec_reply(ks: &KeySpec) -> Reply {
    let begin = match ks.begin {
        BeginSearch::Index(i) => vec![
            (Reply::bulk("type"), Reply::bulk("index")),
            (Reply::bulk("spec"), Reply::Map(vec![(Reply::bulk("index"), Reply::Int(i as i64))])),
        ],
        BeginSearch::Keyword { keyword, start } => vec![
            (Reply::bulk("type"), Reply::bulk("keyword")),
            (
                Reply::bulk("spec"),
                Reply::Map(vec![
                    (Reply::bulk("keyword"), Reply::bulk(keyword)),
                    (Reply::bulk("startfrom"), Reply::Int(i64::from(start))),
                ]),
            ),
        ],
    };
    let find = match ks.find {
        FindKeys::Range { last, step, limit } => vec![
            (Reply::bulk("type"), Reply::bulk("range")),
            (
                Reply::bulk("spec"),
                Reply::Map(vec![
                    (Reply::bulk("lastkey"), Reply::Int(i64::from(last))),
                    (Reply::bulk("keystep"), Reply::Int(step as i64)),
                    (Reply::bulk("limit"), Reply::Int(limit as i64)),
                ]),
            ),
        ],
        FindKeys::Keynum { key_num_idx, first_key, step } => vec![
            (Reply::bulk("type"), Reply::bulk("keynum")),
            (
                Reply::bulk("spec"),
                Reply::Map(vec![
                    (Reply::bulk("keynumidx"), Reply::Int(key_num_idx as i64)),
                    (Reply::bulk("firstkey"), Reply::Int(first_key as i64)),
                    (Reply::bulk("keystep"), Reply::Int(step as i64)),
                ]),
            ),
        ],
    };
    Reply::Map(vec![
        (Reply::bulk("flags"), statuses(ks.flags.names())),
        (Reply::bulk("begin_search"), Reply::Map(begin)),
        (Reply::bulk("find_keys"), Reply::Map(find)),
    ])
}

/// ACL categories in the order Redis lists them (its category table order); categories
/// Redis does not have (json, search) keep their place at the end.
fn redis_order(mut cats: Vec<&'static str>) -> Vec<&'static str> {
    const ORDER: &[&str] = &[
        "keyspace",
        "read",
        "write",
        "set",
        "sortedset",
        "list",
        "hash",
        "string",
        "bitmap",
        "hyperloglog",
        "geo",
        "stream",
        "pubsub",
        "admin",
        "fast",
        "slow",
        "blocking",
        "dangerous",
        "connection",
        "transaction",
        "scripting",
    ];
    cats.sort_by_key(|c| ORDER.iter().position(|o| o == c).unwrap_or(ORDER.len()));
    cats
}

/// One `COMMAND INFO` entry; `full_name` is `get` or `config|get`.
pub fn command_info_reply(full_name: &str, spec: &CommandSpec) -> Reply {
    let mut flags = spec.flags.names();
    flags.retain(|f| *f != "movablekeys");
    if has_movable_keys(spec) || spec.flags.has(crate::cmd::Flags::MOVABLE_KEYS) {
        // Redis always prints movablekeys last.
        flags.push("movablekeys");
    }
    let (first, last, step) = legacy_range(spec);
    let subs: Vec<Reply> = spec
        .subcommands
        .iter()
        .map(|s| command_info_reply(&format!("{full_name}|{}", s.name), s))
        .collect();
    Reply::Array(vec![
        Reply::bulk(full_name),
        Reply::Int(i64::from(spec.arity)),
        statuses(flags),
        Reply::Int(first),
        Reply::Int(last),
        Reply::Int(step),
        statuses(redis_order(spec.acl_categories()).into_iter().map(|c| format!("@{c}"))),
        Reply::Set(vec![]),
        Reply::Array(spec.keys.iter().map(key_spec_reply).collect()),
        Reply::Array(subs),
    ])
}

/// `COMMAND`: every top-level command's info.
fn command_all(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(Reply::Array(table().top_level().map(|s| command_info_reply(s.name, s)).collect()))
}

fn command_count(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(Reply::Int(table().top_level().count() as i64))
}

/// Looks up a command or `container|sub` by name, for INFO/DOCS.
fn find_by_name(name: &[u8]) -> Option<(String, &'static CommandSpec)> {
    let lower = lossy(name).to_ascii_lowercase();
    let id = table().id(&lower)?;
    table().get(id).map(|(n, s)| (n.to_string(), s))
}

/// `COMMAND INFO [command-name ...]`
fn command_info(args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    if args.is_empty() {
        return command_all(args, _cx);
    }
    Ok(Reply::Array(
        args.take_rest()
            .iter()
            .map(|n| match find_by_name(n) {
                Some((full, spec)) => command_info_reply(&full, spec),
                None => Reply::NullArray,
            })
            .collect(),
    ))
}

/// The module a built-in command stands in for (`ReJSON`, `search`), if any.
fn module_of(spec: &CommandSpec) -> Option<&'static str> {
    match spec.group {
        Group::Json => Some(crate::cmd::json::MODULE_NAME),
        Group::Search => Some(crate::cmd::search::MODULE_NAME),
        _ => None,
    }
}

fn docs_reply(spec: &CommandSpec, full_name: &str) -> Reply {
    if let Some(module) = module_of(spec) {
        // The modules register no docs: COMMAND DOCS shows only the group and the module.
        return Reply::Map(vec![
            (Reply::bulk("group"), Reply::bulk("module")),
            (Reply::bulk("module"), Reply::bulk(module)),
        ]);
    }
    let group = if matches!(spec.group, Group::Json | Group::Search) {
        "module"
    } else {
        spec.group.name()
    };
    let mut doc = vec![
        (Reply::bulk("summary"), Reply::bulk(spec.summary)),
        (Reply::bulk("since"), Reply::bulk(spec.since)),
        (Reply::bulk("group"), Reply::bulk(group)),
        (Reply::bulk("complexity"), Reply::bulk(spec.complexity)),
    ];
    if !spec.subcommands.is_empty() {
        let subs = spec
            .subcommands
            .iter()
            .map(|s| {
                let name = format!("{full_name}|{}", s.name);
                (Reply::bulk(&name), docs_reply(s, &name))
            })
            .collect();
        doc.push((Reply::bulk("subcommands"), Reply::Map(subs)));
    }
    Reply::Map(doc)
}

/// `COMMAND DOCS [command-name ...]`
fn command_docs(args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    let mut out = Vec::new();
    if args.is_empty() {
        for spec in table().top_level() {
            out.push((Reply::bulk(spec.name), docs_reply(spec, spec.name)));
        }
    }
    for n in args.take_rest() {
        if let Some((full, spec)) = find_by_name(n) {
            out.push((Reply::bulk(&full), docs_reply(spec, &full)));
        }
    }
    Ok(Reply::Map(out))
}

/// `COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]`
fn command_list(args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    enum Filter {
        All,
        Module(Bytes),
        AclCat(String),
        Pattern(Bytes),
    }
    let filter = if args.is_empty() {
        Filter::All
    } else if args.eat("FILTERBY") && args.remaining() == 2 {
        if args.eat("MODULE") {
            Filter::Module(args.next_bytes()?)
        } else if args.eat("ACLCAT") {
            Filter::AclCat(lossy(&args.next_bytes()?).to_ascii_lowercase())
        } else if args.eat("PATTERN") {
            Filter::Pattern(args.next_bytes()?)
        } else {
            return Err(CmdError::Syntax);
        }
    } else {
        return Err(CmdError::Syntax);
    };
    let mut names = Vec::new();
    for id in 0..table().len() {
        let Some((name, spec)) = table().get(id) else { continue };
        let keep = match &filter {
            Filter::All => true,
            Filter::Module(m) => {
                module_of(spec).is_some_and(|module| m.eq_ignore_ascii_case(module.as_bytes()))
            }
            Filter::AclCat(cat) => spec.acl_categories().iter().any(|c| c == cat),
            Filter::Pattern(p) => crate::glob::matches(p, name.as_bytes(), true),
        };
        if keep {
            names.push(Reply::bulk(name));
        }
    }
    Ok(Reply::Array(names))
}

/// Resolves the command inside COMMAND GETKEYS, with its own error texts.
fn getkeys_target(argv: &[Bytes]) -> Result<&'static CommandSpec, CmdError> {
    match crate::cmd::resolve(argv) {
        Ok((spec, _, _)) => {
            if spec.keys.is_empty() {
                Err(CmdError::err("The command has no key arguments"))
            } else {
                Ok(spec)
            }
        }
        Err(CmdError::WrongArity(_)) => {
            Err(CmdError::err("Invalid number of arguments specified for command"))
        }
        Err(_) => Err(CmdError::err("Invalid command specified")),
    }
}

/// `COMMAND GETKEYS command [arg ...]`
fn command_getkeys(args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    let argv = args.take_rest();
    let spec = getkeys_target(argv)?;
    let keys = crate::cmd::keys_of(spec, argv);
    if keys.is_empty() {
        return Err(CmdError::err("Invalid arguments specified for command"));
    }
    Ok(Reply::Array(keys.into_iter().map(|k| Reply::Bulk(k.clone())).collect()))
}

/// `COMMAND GETKEYSANDFLAGS command [arg ...]`
fn command_getkeysandflags(args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    let argv = args.take_rest();
    let spec = getkeys_target(argv)?;
    // Keys that cannot all be found (a key count past the arguments) are an error for the
    // whole command, not just for that key spec.
    if crate::cmd::keys_of(spec, argv).is_empty() {
        return Err(CmdError::err("Invalid arguments specified for command"));
    }
    let mut out = Vec::new();
    for ks in spec.keys {
        let one = CommandSpec { keys: std::slice::from_ref(ks), ..CommandSpec::DEFAULT };
        for k in crate::cmd::keys_of(&one, argv) {
            out.push(Reply::Array(vec![Reply::Bulk(k.clone()), statuses(ks.flags.names())]));
        }
    }
    if out.is_empty() {
        return Err(CmdError::err("Invalid arguments specified for command"));
    }
    Ok(Reply::Array(out))
}

fn command_help(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(help_reply(
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "(no subcommand)",
            "    Return details about all commands.",
            "COUNT",
            "    Return the total number of commands in this server.",
            "LIST",
            "    Return a list of all commands in this server.",
            "LIST FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)",
            "    Return a list of commands matching the filter.",
            "INFO [<command-name> ...]",
            "    Return details about the given commands, or all of them.",
            "DOCS [<command-name> ...]",
            "    Return documentation about the given commands, or all of them.",
            "GETKEYS <full-command>",
            "    Return the keys of a full command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and their access flags of a full command.",
        ],
    ))
}

// ---------------------------------------------------------------------------------------
// TIME, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, LASTSAVE, ROLE

fn time(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    let us = crate::clock::now_us();
    Ok(Reply::Array(vec![
        Reply::bulk_int((us / 1_000_000) as i64),
        Reply::bulk_int((us % 1_000_000) as i64),
    ]))
}

/// `DBSIZE`
struct DbSize;

impl Parse for DbSize {
    fn parse(_args: &mut Args<'_>) -> Result<Self, CmdError> {
        Ok(DbSize)
    }
}

impl ReadCommand for DbSize {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        Ok(Reply::Int(cx.db().len() as i64))
    }
}

/// `[ASYNC | SYNC]` of FLUSHDB / FLUSHALL: `Some(true)` for ASYNC, `Some(false)` for
/// SYNC, `None` for the `lazyfree-lazy-user-flush` default. Both empty the keyspace at
/// once here (the old tables are dropped on the freeing thread either way); the mode only
/// decides what INFO counts as lazily freed, as Redis would.
fn parse_flush_mode(args: &mut Args<'_>) -> Result<Option<bool>, CmdError> {
    let mode = if args.eat("ASYNC") {
        Some(true)
    } else if args.eat("SYNC") {
        Some(false)
    } else {
        None
    };
    args.finish()?;
    Ok(mode)
}

/// Whether a user's flush (FLUSHALL, FLUSHDB, FUNCTION FLUSH) in `mode` asked to free
/// asynchronously: ASYNC, or no mode with `lazyfree-lazy-user-flush yes`.
pub(crate) fn flush_asks_async(mode: Option<bool>, cx: &ApplyCtx<'_>) -> bool {
    mode.unwrap_or_else(|| {
        cx.shared
            .is_some_and(|s| s.config.get("lazyfree-lazy-user-flush").is_some_and(|v| v == "yes"))
    })
}

/// Whether a flush in `mode` frees lazily as Redis 7.4 counts it: when asked to always;
/// SYNC as a blocking asynchronous flush, except where the client may not block (MULTI,
/// scripts).
fn flush_is_lazy(mode: Option<bool>, cx: &ApplyCtx<'_>) -> bool {
    flush_asks_async(mode, cx) || (cx.may_block && !cx.in_script)
}

/// `FLUSHDB [ASYNC | SYNC]`
struct FlushDb(Option<bool>);

impl Parse for FlushDb {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        parse_flush_mode(args).map(FlushDb)
    }
}

impl WriteCommand for FlushDb {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let lazy = flush_is_lazy(self.0, cx);
        cx.db().flush(lazy);
        Ok(Reply::ok())
    }
}

/// `FLUSHALL [ASYNC | SYNC]`
struct FlushAll(Option<bool>);

impl Parse for FlushAll {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        parse_flush_mode(args).map(FlushAll)
    }
}

impl WriteCommand for FlushAll {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let lazy = flush_is_lazy(self.0, cx);
        cx.ks.flush_all(lazy);
        Ok(Reply::ok())
    }
}

/// `SWAPDB index1 index2`
struct SwapDb {
    a: i64,
    b: i64,
}

impl Parse for SwapDb {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let a = args.next_i64_or(CmdError::err("invalid first DB index"))?;
        let b = args.next_i64_or(CmdError::err("invalid second DB index"))?;
        if a < 0 || b < 0 {
            return Err(CmdError::DbIndexOutOfRange);
        }
        Ok(SwapDb { a, b })
    }
}

impl WriteCommand for SwapDb {
    fn apply(self, cx: &mut ApplyCtx<'_>) -> CmdResult {
        let n = cx.ks.len() as i64;
        if self.a >= n || self.b >= n {
            return Err(CmdError::DbIndexOutOfRange);
        }
        if self.a != self.b {
            cx.ks.swap(self.a as usize, self.b as usize);
        }
        Ok(Reply::ok())
    }
}

fn lastsave(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(Reply::Int(cx.shared.log.snapshot_status().last_save_unix.load(Ordering::Relaxed) as i64))
}

/// SAVE: a snapshot, waited for. Unlike Redis's SAVE it blocks only this client: the
/// snapshot is written in the background while every other command goes on.
pub async fn save(shared: &Shared) -> CmdResult {
    let done = start_snapshot(shared)?;
    match done.await {
        Ok(Ok(())) => Ok(Reply::ok()),
        Ok(Err(e)) => Err(CmdError::Custom(format!("ERR {e}"))),
        Err(_) => Err(CmdError::Internal),
    }
}

fn start_snapshot(
    shared: &Shared,
) -> Result<tokio::sync::oneshot::Receiver<Result<(), engram_log::LogError>>, CmdError> {
    let dirty = shared.stats.dirty.swap(0, Ordering::Relaxed);
    shared.log.start_snapshot().map_err(|e| {
        shared.stats.dirty.fetch_add(dirty, Ordering::Relaxed);
        match e {
            engram_log::LogError::SnapshotInProgress => {
                CmdError::err("Background save already in progress")
            }
            engram_log::LogError::Poisoned(reason) => CmdError::LogPoisoned(reason),
            other => CmdError::Custom(format!("ERR {other}")),
        }
    })
}

fn bgsave(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let schedule = args.eat("SCHEDULE");
    if !args.is_empty() {
        return Err(CmdError::Syntax);
    }
    match start_snapshot(cx.shared) {
        Ok(_) => Ok(Reply::Status("Background saving started".into())),
        Err(_)
            if schedule && cx.shared.log.snapshot_status().in_progress.load(Ordering::Relaxed) =>
        {
            // The running snapshot already covers every write acknowledged before it.
            Ok(Reply::Status("Background saving scheduled".into()))
        }
        Err(e) => Err(e),
    }
}

fn role(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(match cx.shared.log.shard() {
        Some(view) => role_reply(&view),
        None => Reply::Array(vec![
            Reply::bulk("master"),
            Reply::Int(cx.shared.log.applied_index() as i64),
            Reply::Array(vec![]),
        ]),
    })
}

/// ROLE on a member of a replicated shard. The leader: `master`, its applied index and
/// `[ip, port, offset]` (as strings) of every other member. A follower: `slave`, the
/// leader's ip and port, `connected` (`connect` while there is no leader; ip and port are
/// then unknown) and its applied index.
pub fn role_reply(view: &engram_log::ShardView) -> Reply {
    if view.leader == Some(view.me) {
        let replicas = view
            .members
            .iter()
            .filter(|m| m.id != view.me)
            .map(|m| {
                let (ip, port) = crate::cluster::split_addr(&m.addr);
                Reply::Array(vec![
                    Reply::bulk(ip),
                    Reply::bulk_int(i64::from(port)),
                    Reply::bulk_int(m.matched.unwrap_or(0) as i64),
                ])
            })
            .collect();
        return Reply::Array(vec![
            Reply::bulk("master"),
            Reply::Int(view.applied as i64),
            Reply::Array(replicas),
        ]);
    }
    let leader = crate::cmd::cluster::leader_addr(view);
    let (ip, port) = leader.unwrap_or(("", 0));
    Reply::Array(vec![
        Reply::bulk("slave"),
        Reply::bulk(ip),
        Reply::Int(i64::from(port)),
        Reply::bulk(if leader.is_some() { "connected" } else { "connect" }),
        Reply::Int(view.applied as i64),
    ])
}

// ---------------------------------------------------------------------------------------
// MEMORY

/// Bytes a key costs beyond its key and value bytes (table entry, headers), roughly what
/// Redis reports for a small string key.
const KEY_OVERHEAD: usize = 50;

/// `MEMORY USAGE key [SAMPLES count]`
struct MemoryUsage {
    key: Bytes,
}

impl Parse for MemoryUsage {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let key = args.next_bytes()?;
        if args.eat("SAMPLES") {
            let n = args.next_i64()?;
            if n < 0 {
                return Err(CmdError::Syntax);
            }
        }
        Ok(MemoryUsage { key })
    }
}

impl ReadCommand for MemoryUsage {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        match cx.db().get(&self.key, cx.now_ms) {
            None => Ok(Reply::Null),
            Some(v) => {
                let n = KEY_OVERHEAD + self.key.len() + v.heap_bytes();
                Ok(Reply::Int(n.next_multiple_of(8) as i64))
            }
        }
    }
}

fn memory_stats(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let p = process_stats();
    let peak = PEAK_MEMORY.load(Ordering::Relaxed).max(p.allocated);
    let startup = STARTUP_MEMORY.load(Ordering::Relaxed).min(p.allocated);
    let dataset = p.allocated.saturating_sub(startup);
    let (keys, dbs) = {
        let ks = cx.shared.keyspace.read();
        let keys: usize = ks.iter().map(|(_, db)| db.len()).sum();
        let dbs: Vec<(usize, usize, usize)> = ks
            .iter()
            .filter(|(_, db)| !db.is_empty())
            .map(|(i, db)| (i, db.len(), db.volatile_len()))
            .collect();
        (keys, dbs)
    };
    let int = |n: u64| Reply::Int(n as i64);
    let ratio = |a: u64, b: u64| Reply::Double(if b == 0 { 0.0 } else { a as f64 / b as f64 });
    let pct =
        |a: u64, b: u64| Reply::Double(if b == 0 { 0.0 } else { a as f64 * 100.0 / b as f64 });
    let mut m = vec![
        (Reply::bulk("peak.allocated"), int(peak)),
        (Reply::bulk("total.allocated"), int(p.allocated)),
        (Reply::bulk("startup.allocated"), int(startup)),
        (Reply::bulk("replication.backlog"), int(0)),
        (Reply::bulk("clients.slaves"), int(0)),
        (Reply::bulk("clients.normal"), int(0)),
        (Reply::bulk("cluster.links"), int(0)),
        (Reply::bulk("aof.buffer"), int(0)),
        (Reply::bulk("lua.caches"), int(0)),
        (Reply::bulk("functions.caches"), int(0)),
        (Reply::bulk("overhead.total"), int(startup)),
    ];
    for (i, n, v) in dbs {
        m.push((
            Reply::bulk(format!("db.{i}")),
            Reply::Map(vec![
                (Reply::bulk("overhead.hashtable.main"), int((n * 24) as u64)),
                (Reply::bulk("overhead.hashtable.expires"), int((v * 24) as u64)),
            ]),
        ));
    }
    m.extend([
        (Reply::bulk("keys.count"), int(keys as u64)),
        (Reply::bulk("keys.bytes-per-key"), int(if keys == 0 { 0 } else { dataset / keys as u64 })),
        (Reply::bulk("dataset.bytes"), int(dataset)),
        (Reply::bulk("dataset.percentage"), pct(dataset, p.allocated)),
        (Reply::bulk("peak.percentage"), pct(p.allocated, peak)),
        (Reply::bulk("allocator.allocated"), int(p.allocated)),
        (Reply::bulk("allocator.active"), int(p.active)),
        (Reply::bulk("allocator.resident"), int(p.resident)),
        (Reply::bulk("allocator.muzzy"), int(0)),
        (Reply::bulk("allocator-fragmentation.ratio"), ratio(p.active, p.allocated)),
        (Reply::bulk("allocator-fragmentation.bytes"), int(p.active.saturating_sub(p.allocated))),
        (Reply::bulk("allocator.rss-ratio"), ratio(p.resident, p.active)),
        (Reply::bulk("allocator.rss-bytes"), int(p.resident.saturating_sub(p.active))),
        (Reply::bulk("rss-overhead.ratio"), ratio(p.rss, p.resident)),
        (Reply::bulk("rss-overhead.bytes"), Reply::Int(p.rss as i64 - p.resident as i64)),
        (Reply::bulk("fragmentation"), ratio(p.rss, p.allocated)),
        (Reply::bulk("fragmentation.bytes"), Reply::Int(p.rss as i64 - p.allocated as i64)),
    ]);
    Ok(Reply::Map(m))
}

fn memory_doctor(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(Reply::Verbatim(Bytes::from_static(
        b"No memory problems detected: Engram keeps every value in memory and accounts for it with jemalloc; see INFO memory and MEMORY STATS for the figures.",
    )))
}

fn memory_malloc_stats(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    let p = process_stats();
    Ok(Reply::Verbatim(Bytes::from(format!(
        "allocated: {}\nactive: {}\nresident: {}\n",
        p.allocated, p.active, p.resident
    ))))
}

fn memory_help(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(help_reply(
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value.",
        ],
    ))
}

// ---------------------------------------------------------------------------------------
// SLOWLOG

/// `SLOWLOG GET [count]`
fn slowlog_get(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let count = if args.is_empty() {
        10
    } else {
        let n = args.next_i64_or(CmdError::err("count should be greater than or equal to -1"))?;
        if n < -1 {
            return Err(CmdError::err("count should be greater than or equal to -1"));
        }
        if n == -1 {
            usize::MAX
        } else {
            n as usize
        }
    };
    args.finish()?;
    let entries = cx.shared.slowlog.newest(count);
    Ok(Reply::Array(
        entries
            .into_iter()
            .map(|e| {
                Reply::Array(vec![
                    Reply::Int(e.id as i64),
                    Reply::Int(e.time_s as i64),
                    Reply::Int(e.duration_us as i64),
                    Reply::Array(e.argv.into_iter().map(Reply::Bulk).collect()),
                    Reply::bulk(e.addr),
                    Reply::Bulk(e.name),
                ])
            })
            .collect(),
    ))
}

fn slowlog_len(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(Reply::Int(cx.shared.slowlog.len() as i64))
}

fn slowlog_reset(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    cx.shared.slowlog.reset();
    Ok(Reply::ok())
}

fn slowlog_help(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(help_reply(
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    ))
}

// ---------------------------------------------------------------------------------------
// DEBUG

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A 20-byte digest of one value (DEBUG DIGEST-VALUE); all zeros for a missing key.
fn value_digest(value: &crate::keyspace::Value, expire_at_ms: Option<u64>) -> [u8; 20] {
    const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);
    let mut out = [0u8; 20];
    let mut h = CRC64.digest();
    value.digest(&mut |bytes| h.update(bytes));
    let a = h.finalize().to_le_bytes();
    let mut h2 = CRC64.digest();
    h2.update(&a);
    h2.update(&expire_at_ms.unwrap_or(0).to_le_bytes());
    let b = h2.finalize().to_le_bytes();
    out[..8].copy_from_slice(&a);
    out[8..16].copy_from_slice(&b);
    out[16..].copy_from_slice(&a[..4]);
    out
}

fn debug_allowed(cx: &SessionCtx<'_>) -> bool {
    match cx.shared.config.get("enable-debug-command").as_deref() {
        Some("yes") => true,
        Some("local") => {
            let addr = &cx.session.info.addr;
            addr.starts_with("127.") || addr.starts_with("[::1]")
        }
        _ => false,
    }
}

/// `DEBUG subcommand [arg ...]`
fn debug(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    if !debug_allowed(cx) {
        return Err(CmdError::err(
            "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
        ));
    }
    let sub = args.next_bytes()?;
    let name = lossy(&sub).to_ascii_lowercase();
    let bad = || {
        CmdError::Custom(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            lossy(&sub[..sub.len().min(128)])
        ))
    };
    match (name.as_str(), args.remaining()) {
        ("help", 0) => Ok(help_reply(
            "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            &[
                "DIGEST",
                "    Output a hex signature representing the current DB content.",
                "DIGEST-VALUE <key> [<key> ...]",
                "    Output a hex signature of the values of all the specified keys.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background when they are not accessed.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
                "RELOAD",
                "    Accepted for compatibility: the keyspace is rebuilt from the log at start-up.",
                "CHANGE-REPL-ID",
                "    Accepted for compatibility.",
            ],
        )),
        ("sleep", 1) => {
            let secs = args.next_f64()?;
            let d = std::time::Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or_default();
            cx.session.after = Some(After::Sleep(d));
            Ok(Reply::ok())
        }
        ("set-active-expire", 1) => {
            let on = args.next_i64()? != 0;
            cx.shared.active_expire.store(on, Ordering::Relaxed);
            Ok(Reply::ok())
        }
        ("digest", 0) => Ok(Reply::bulk(hex(&cx.shared.keyspace.read().digest()))),
        ("digest-value", _) => {
            let ks = cx.shared.keyspace.read();
            let db = ks.db(cx.session.db);
            let now_ms = crate::clock::now_ms();
            Ok(Reply::Array(
                args.take_rest()
                    .iter()
                    .map(|k| {
                        let d = db
                            .get_entry(k, now_ms)
                            .map_or([0u8; 20], |e| value_digest(&e.value, e.expire_at_ms()));
                        Reply::Status(Cow::Owned(hex(&d)))
                    })
                    .collect(),
            ))
        }
        // A real round trip through a snapshot, as Redis's save-then-load of its RDB.
        ("reload", _) => match cx.shared.log.reload() {
            Ok(()) => Ok(Reply::ok()),
            Err(e) => Err(CmdError::Custom(format!("ERR Error trying to load the snapshot: {e}"))),
        },
        ("change-repl-id", 0) => Ok(Reply::ok()),
        // Engram's own: the log's next segment write or fsync fails as on a full disk.
        ("log-fault", 1) => {
            let fault = match lossy(&args.take_rest()[0]).to_ascii_lowercase().as_str() {
                "write" => engram_log::Fault::Write,
                "fsync" => engram_log::Fault::Fsync,
                _ => return Err(bad()),
            };
            cx.shared.log.inject_fault(fault);
            Ok(Reply::ok())
        }
        _ => Err(bad()),
    }
}

// ---------------------------------------------------------------------------------------
// SHUTDOWN

/// `SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT]`
fn shutdown(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    let (mut save, mut nosave, mut abort, mut other) = (false, false, false, false);
    while !args.is_empty() {
        if args.eat("NOSAVE") {
            nosave = true;
        } else if args.eat("SAVE") {
            save = true;
        } else if args.eat("NOW") || args.eat("FORCE") {
            other = true;
        } else if args.eat("ABORT") {
            abort = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if (save && nosave) || (abort && (save || nosave || other)) {
        return Err(CmdError::Syntax);
    }
    if abort {
        return Err(CmdError::err("No shutdown in progress."));
    }
    // A script spinning in apply would hold up the log's close forever: it ends the
    // process itself at its next check, recording that it never completed.
    if cx.shared.scripts.busy().is_some() {
        cx.shared.scripts.shutdown();
    }
    // Every acknowledged write is already durable in the log: nothing to save first.
    // Like Redis, a successful SHUTDOWN closes the connection without a reply.
    tracing::warn!(client = cx.session.info.id, "SHUTDOWN requested by a client");
    cx.session.reply_mode = ReplyMode::Off;
    cx.session.after = Some(After::Shutdown);
    Ok(Reply::ok())
}

// ---------------------------------------------------------------------------------------
// MODULE, LATENCY

fn module_list(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    // The JSON commands are built in; clients (redis-py, redis-om, redisvl) look for them
    // under RedisJSON's module name and version.
    let module = |name: &str, version: i64| {
        Reply::Map(vec![
            (Reply::bulk("name"), Reply::bulk(name)),
            (Reply::bulk("ver"), Reply::Int(version)),
            (Reply::bulk("path"), Reply::bulk("builtin")),
            (Reply::bulk("args"), Reply::Array(vec![])),
        ])
    };
    Ok(Reply::Array(vec![
        module(crate::cmd::search::MODULE_NAME, crate::cmd::search::MODULE_VERSION),
        module(crate::cmd::json::MODULE_NAME, crate::cmd::json::MODULE_VERSION),
    ]))
}

fn module_load(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Err(CmdError::err("Error loading the extension. Please check the server logs."))
}

fn module_unload(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Err(CmdError::err("Error unloading module: no such module with that name"))
}

fn module_help(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(help_reply(
        "MODULE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "LIST",
            "    Return a list of loaded modules.",
            "LOAD <path> [<arg> ...]",
            "    Load a module library from <path> (not supported: Engram has no modules).",
            "UNLOAD <name>",
            "    Unload a module.",
        ],
    ))
}

fn latency_reset(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(Reply::Int(0))
}

fn latency_doctor(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(Reply::Verbatim(Bytes::from_static(
        b"Latency monitoring is not collecting events yet: no latency spikes to report.\n",
    )))
}

fn latency_graph(args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    let event = lossy(&args.next_bytes()?);
    Err(CmdError::Custom(format!("ERR No samples available for event '{event}'")))
}

fn latency_help(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Ok(help_reply(
        "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "HISTOGRAM [<command> ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram.",
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// JSON text of a reply (maps as objects, sets and arrays as lists), for golden files.
    fn to_json(r: &Reply, out: &mut String, indent: usize) {
        let pad = "  ".repeat(indent + 1);
        let end = "  ".repeat(indent);
        let string = |s: &str, out: &mut String| {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c => out.push(c),
                }
            }
            out.push('"');
        };
        match r {
            Reply::Status(s) => string(s, out),
            Reply::Bulk(b) => string(&String::from_utf8_lossy(b), out),
            Reply::Int(n) => out.push_str(&n.to_string()),
            Reply::Array(items) | Reply::Set(items) => {
                if items.is_empty() {
                    out.push_str("[]");
                    return;
                }
                out.push_str("[\n");
                for (i, item) in items.iter().enumerate() {
                    out.push_str(&pad);
                    to_json(item, out, indent + 1);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                out.push_str(&end);
                out.push(']');
            }
            Reply::Map(pairs) => {
                out.push_str("{\n");
                for (i, (k, v)) in pairs.iter().enumerate() {
                    out.push_str(&pad);
                    to_json(k, out, indent + 1);
                    out.push_str(": ");
                    to_json(v, out, indent + 1);
                    out.push_str(if i + 1 < pairs.len() { ",\n" } else { "\n" });
                }
                out.push_str(&end);
                out.push('}');
            }
            other => out.push_str(&format!("\"{other:?}\"")),
        }
    }

    /// `COMMAND INFO` is a persisted format (STYLE.md rule 11): clients cache it. Any
    /// change must be reviewed: `UPDATE_GOLDEN=1 cargo test -p engram-server command_info`.
    #[test]
    fn command_info_output_is_frozen() {
        let mut all: Vec<&CommandSpec> = table().top_level().collect();
        all.sort_by_key(|s| s.name);
        let reply = Reply::Array(all.iter().map(|s| command_info_reply(s.name, s)).collect());
        let mut text = String::new();
        to_json(&reply, &mut text, 0);
        text.push('\n');
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/command_info.json");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
            return;
        }
        let golden = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            golden == text,
            "COMMAND INFO changed; review and run UPDATE_GOLDEN=1 cargo test -p engram-server command_info"
        );
    }

    /// Three members at 10.0.0.<id>:700<id>; node 2 leads where it leads at all.
    fn shard(me: u64, leader: Option<u64>) -> engram_log::ShardView {
        let leading = leader == Some(me);
        let member = |id: u64, matched: Option<u64>| engram_log::MemberView {
            id,
            addr: format!("10.0.0.{id}:700{id}"),
            voter: true,
            matched: if leading { matched } else { None },
        };
        engram_log::ShardView {
            me,
            leader,
            previous_leader: None,
            term: 4,
            committed: 60,
            applied: 57,
            members: vec![member(1, Some(55)), member(2, Some(60)), member(3, None)],
        }
    }

    fn replication(view: Option<&engram_log::ShardView>, min_replicas: i64) -> String {
        let run_id = "r".repeat(40);
        let local = ReplicationLocal {
            run_id: &run_id,
            applied: 9,
            backlog_size: 1048576,
            min_replicas_to_write: min_replicas,
        };
        let mut out = String::new();
        replication_text(view, &local, &mut out);
        out
    }

    fn field_names(text: &str) -> Vec<&str> {
        text.lines().skip(1).filter_map(|l| l.split(':').next()).collect()
    }

    /// The fields a Redis 7.4 master with replicas prints after its `slaveN` lines, and a
    /// replica after `connected_slaves`.
    const TAIL: &[&str] = &[
        "master_failover_state",
        "master_replid",
        "master_replid2",
        "master_repl_offset",
        "second_repl_offset",
        "repl_backlog_active",
        "repl_backlog_size",
        "repl_backlog_first_byte_offset",
        "repl_backlog_histlen",
    ];

    #[test]
    fn role_on_the_leader_lists_every_other_member_as_strings() {
        let s = |t: &str| Reply::bulk(t);
        assert_eq!(
            role_reply(&shard(2, Some(2))),
            Reply::Array(vec![
                s("master"),
                Reply::Int(57),
                Reply::Array(vec![
                    Reply::Array(vec![s("10.0.0.1"), s("7001"), s("55")]),
                    Reply::Array(vec![s("10.0.0.3"), s("7003"), s("0")]),
                ]),
            ])
        );
    }

    #[test]
    fn role_on_a_follower_names_the_leader() {
        let s = |t: &str| Reply::bulk(t);
        assert_eq!(
            role_reply(&shard(1, Some(2))),
            Reply::Array(vec![
                s("slave"),
                s("10.0.0.2"),
                Reply::Int(7002),
                s("connected"),
                Reply::Int(57)
            ])
        );
        assert_eq!(
            role_reply(&shard(1, None)),
            Reply::Array(vec![s("slave"), s(""), Reply::Int(0), s("connect"), Reply::Int(57)])
        );
    }

    #[test]
    fn info_replication_on_the_leader_reports_each_replica() {
        let text = replication(Some(&shard(2, Some(2))), 0);
        assert!(text.starts_with(
            "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n\
             slave0:ip=10.0.0.1,port=7001,state=online,offset=55,lag=0\r\n\
             slave1:ip=10.0.0.3,port=7003,state=wait_bgsave,offset=0,lag=0\r\n\
             master_failover_state:no-failover\r\n"
        ));
        let replid = crate::cluster::replication_id(crate::cluster::ONLY_SHARD);
        assert!(text.contains(&format!("master_replid:{replid}\r\n")));
        assert!(text.contains("master_repl_offset:57\r\n"));
        assert_eq!(field_names(&text)[4..], *TAIL);
        let text = replication(Some(&shard(2, Some(2))), 1);
        assert!(text.contains("connected_slaves:2\r\nmin_slaves_good_slaves:1\r\nslave0:"));
    }

    #[test]
    fn info_replication_on_a_follower_follows_redis_replica_order() {
        let text = replication(Some(&shard(3, Some(2))), 0);
        let mut want = vec![
            "role",
            "master_host",
            "master_port",
            "master_link_status",
            "master_last_io_seconds_ago",
            "master_sync_in_progress",
            "slave_read_repl_offset",
            "slave_repl_offset",
            "slave_priority",
            "slave_read_only",
            "replica_announced",
            "connected_slaves",
        ];
        want.extend_from_slice(TAIL);
        assert_eq!(field_names(&text), want);
        assert!(text.contains(
            "role:slave\r\nmaster_host:10.0.0.2\r\nmaster_port:7002\r\nmaster_link_status:up\r\n\
             master_last_io_seconds_ago:0\r\nmaster_sync_in_progress:0\r\n\
             slave_read_repl_offset:60\r\nslave_repl_offset:57\r\n"
        ));
        // The replication id is the shard's: the same on every member.
        let leader = replication(Some(&shard(2, Some(2))), 0);
        let replid =
            |t: &str| t.lines().find(|l| l.starts_with("master_replid:")).map(str::to_owned);
        assert_eq!(replid(&text), replid(&leader));
        // No leader: the link is down, since an unknown time.
        let text = replication(Some(&shard(3, None)), 0);
        assert!(text.contains("master_link_status:down\r\nmaster_last_io_seconds_ago:-1\r\n"));
        assert!(text.contains(
            "slave_repl_offset:57\r\nmaster_link_down_since_seconds:-1\r\nslave_priority:100\r\n"
        ));
    }

    #[test]
    fn info_replication_without_a_shard_is_a_lone_master() {
        let text = replication(None, 0);
        assert!(text.starts_with("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"));
        assert!(text.contains(&format!("master_replid:{}\r\n", "r".repeat(40))));
        assert!(text.contains("master_repl_offset:9\r\n"));
        assert_eq!(field_names(&text)[2..], *TAIL);
    }

    #[test]
    fn bytes_print_like_redis() {
        assert_eq!(bytes_human(100), "100B");
        assert_eq!(bytes_human(1338200), "1.28M");
        assert_eq!(bytes_human(2048), "2.00K");
        assert_eq!(bytes_human(3 * 1073741824), "3.00G");
    }

    #[test]
    fn legacy_key_range_comes_from_the_key_specs() {
        let get = table().get(table().id("get").unwrap()).unwrap().1;
        assert_eq!(legacy_range(get), (1, 1, 1));
        let del = table().get(table().id("del").unwrap()).unwrap().1;
        assert_eq!(legacy_range(del), (1, -1, 1));
        let usage = table().get(table().id("memory|usage").unwrap()).unwrap().1;
        assert_eq!(legacy_range(usage), (2, 2, 1));
    }

    #[test]
    fn info_sections_follow_default_all_and_names() {
        let b = |s: &str| Bytes::from(s.to_string());
        assert!(!wanted_sections(&[]).contains(&"commandstats"));
        assert!(wanted_sections(&[b("all")]).contains(&"commandstats"));
        assert_eq!(wanted_sections(&[b("CPU"), b("cpu")]), vec!["cpu"]);
        assert!(wanted_sections(&[b("nosuch")]).is_empty());
    }

    #[test]
    fn flush_modes_parse_and_reject_junk() {
        let argv = |s: &[&str]| s.iter().map(|a| Bytes::from(a.to_string())).collect::<Vec<_>>();
        assert!(FlushAll::parse(&mut Args::new(&argv(&["ASYNC"]))).is_ok());
        assert!(FlushAll::parse(&mut Args::new(&argv(&[]))).is_ok());
        assert_eq!(
            FlushDb::parse(&mut Args::new(&argv(&["async", "sync"]))).err(),
            Some(CmdError::Syntax)
        );
        assert_eq!(
            SwapDb::parse(&mut Args::new(&argv(&["a", "1"]))).err().map(|e| e.to_string()),
            Some("ERR invalid first DB index".into())
        );
    }
}
