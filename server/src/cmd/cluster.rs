//! Cluster commands: CLUSTER SHARDS / SLOTS / NODES / REPLICAS / MYID / MYSHARDID / INFO /
//! KEYSLOT / COUNTKEYSINSLOT / GETKEYSINSLOT / LINKS / HELP, READONLY and READWRITE.
//!
//! Engram's cluster is one shard that owns all 16384 slots. Its master is the raft leader
//! and every other member is a replica of it; while there is no leader no node is a
//! master and the slots are reported as not covered (`cluster_state:fail`). With
//! `cluster-enabled yes` and no replication (`Log::shard` is `None`) the node is the master
//! of every slot, alone. Membership changes through configuration and raft, never through
//! CLUSTER ADDSLOTS / REPLICATE, so those are not implemented; CLUSTER MEET and FORGET
//! add and remove shard members through raft (`crate::shard::membership`).
//!
//! Rendering is pure: [`Topology`] is built from a [`ShardView`] (or the single node's
//! settings) and every reply is a function of it, unit-tested below without a server.
//! Nothing here is a log entry; only COUNTKEYSINSLOT and GETKEYSINSLOT read the keyspace
//! (database 0, as Redis Cluster has no other).

use std::fmt::Write as _;

use bytes::Bytes;
use engram_log::ShardView;

use std::collections::BTreeMap;

use crate::cluster::{node_name, shard_name, split_addr, ONLY_SHARD};
use crate::cmd::args::Args;
use crate::cmd::ctx::{ReadCtx, SessionCtx};
use crate::cmd::spec::{CmdResult, CommandSpec, Exec, Flags, Group, Parse, ReadCommand};
use crate::config::ConfigStore;
use crate::error::CmdError;
use crate::keyspace::db::SLOTS;
use crate::reply::Reply;
use crate::state::Shared;

const STALE: Flags = Flags::STALE;
const LOADING_STALE: Flags = Flags::LOADING.with(Flags::STALE);
const ADMIN_STALE: Flags = Flags::ADMIN.with(Flags::STALE);

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
        group: Group::Cluster,
        summary,
        since,
        complexity,
        arity,
        flags,
        exec,
        ..CommandSpec::DEFAULT
    }
}

const CLUSTER_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "countkeysinslot",
        "Returns the number of keys in a hash slot.",
        "3.0.0",
        "O(1)",
        3,
        STALE,
        gated_read::<CountKeysInSlot>(),
    ),
    spec(
        "failover",
        "Forces a replica to perform a manual failover of its master.",
        "3.0.0",
        "O(1)",
        -2,
        ADMIN_STALE,
        Exec::Session(membership_runs_async),
    ),
    spec(
        "forget",
        "Removes a node from the nodes table.",
        "3.0.0",
        "O(1)",
        3,
        ADMIN_STALE,
        Exec::Session(membership_runs_async),
    ),
    spec(
        "getkeysinslot",
        "Returns the key names in a hash slot.",
        "3.0.0",
        "O(N) where N is the number of requested keys",
        4,
        STALE,
        gated_read::<GetKeysInSlot>(),
    ),
    spec(
        "help",
        "Returns helpful text about the different subcommands.",
        "5.0.0",
        "O(1)",
        2,
        LOADING_STALE,
        Exec::Session(cluster_help),
    ),
    spec(
        "info",
        "Returns information about the state of a node.",
        "3.0.0",
        "O(1)",
        2,
        STALE,
        Exec::Session(cluster_info),
    ),
    spec(
        "keyslot",
        "Returns the hash slot for a key.",
        "3.0.0",
        "O(N) where N is the number of bytes in the key",
        3,
        STALE,
        Exec::Session(cluster_keyslot),
    ),
    spec(
        "links",
        "Returns a list of all TCP links to and from peer nodes.",
        "7.0.0",
        "O(N) where N is the total number of Cluster nodes",
        2,
        STALE,
        Exec::Session(cluster_links),
    ),
    spec(
        "meet",
        "Forces a node to handshake with another node.",
        "3.0.0",
        "O(1)",
        -4,
        ADMIN_STALE,
        Exec::Session(membership_runs_async),
    ),
    spec(
        "myid",
        "Returns the ID of a node.",
        "3.0.0",
        "O(1)",
        2,
        STALE,
        Exec::Session(cluster_myid),
    ),
    spec(
        "myshardid",
        "Returns the shard ID of a node.",
        "7.2.0",
        "O(1)",
        2,
        STALE,
        Exec::Session(cluster_myshardid),
    ),
    spec(
        "nodes",
        "Returns the cluster configuration for a node.",
        "3.0.0",
        "O(N) where N is the total number of Cluster nodes",
        2,
        STALE,
        Exec::Session(cluster_nodes),
    ),
    spec(
        "replicas",
        "Lists the replica nodes of a master node.",
        "5.0.0",
        "O(N) where N is the number of replicas.",
        3,
        ADMIN_STALE,
        Exec::Session(cluster_replicas),
    ),
    spec(
        "reset",
        "Resets a node.",
        "3.0.0",
        "O(N) where N is the number of known nodes. The command may execute a FLUSHALL as a side effect.",
        -2,
        Flags::ADMIN.with(Flags::NOSCRIPT).with(Flags::STALE),
        Exec::Session(cluster_reset),
    ),
    spec(
        "shards",
        "Returns the mapping of cluster slots to shards.",
        "7.0.0",
        "O(N) where N is the total number of cluster nodes",
        2,
        LOADING_STALE,
        Exec::Session(cluster_shards),
    ),
    spec(
        "slaves",
        "Lists the replica nodes of a master node.",
        "3.0.0",
        "O(N) where N is the number of replicas.",
        3,
        ADMIN_STALE,
        Exec::Session(cluster_replicas),
    ),
    spec(
        "slots",
        "Returns the mapping of cluster slots to nodes.",
        "3.0.0",
        "O(N) where N is the total number of Cluster nodes",
        2,
        LOADING_STALE,
        Exec::Session(cluster_slots),
    ),
];

const REPLICAOF_FLAGS: Flags =
    Flags::ADMIN.with(Flags::NOSCRIPT).with(Flags::STALE).with(Flags::NO_ASYNC_LOADING);

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        group: Group::Server,
        ..spec(
            "replicaof",
            "Configures a server as replica of another, or promotes it to a master.",
            "5.0.0",
            "O(1)",
            3,
            REPLICAOF_FLAGS,
            Exec::Session(membership_runs_async),
        )
    },
    CommandSpec {
        group: Group::Server,
        ..spec(
            "slaveof",
            "Sets a Redis server as a replica of another, or promotes it to being a master.",
            "1.0.0",
            "O(1)",
            3,
            REPLICAOF_FLAGS,
            Exec::Session(membership_runs_async),
        )
    },
    CommandSpec {
        subcommands: CLUSTER_SUBCOMMANDS,
        exec: Exec::Container,
        ..spec(
            "cluster",
            "A container for Redis Cluster commands.",
            "3.0.0",
            "Depends on subcommand.",
            -2,
            Flags::NONE,
            Exec::Container,
        )
    },
    CommandSpec {
        acl: &["connection"],
        ..spec(
            "readonly",
            "Enables read-only queries for a connection to a Redis Cluster replica node.",
            "3.0.0",
            "O(1)",
            1,
            LOADING_STALE.with(Flags::FAST),
            Exec::Session(readonly),
        )
    },
    CommandSpec {
        acl: &["connection"],
        // Redis's summary, typo included: COMMAND DOCS answers as the reference does.
        ..spec(
            "readwrite",
            "Enables read-write queries for a connection to a Reids Cluster replica node.",
            "3.0.0",
            "O(1)",
            1,
            LOADING_STALE.with(Flags::FAST),
            Exec::Session(readwrite),
        )
    },
];

// ---------------------------------------------------------------------------------------
// The topology every reply is rendered from

/// One node as the CLUSTER commands show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The numeric node id ([`node_name`] makes the 40-hex name).
    pub id: u64,
    /// Host as in the member's client address; empty for a node alone in its cluster
    /// (Redis shows its own address only once a peer has told it).
    pub ip: String,
    pub port: u16,
    pub bus_port: u32,
    /// The shard's master: the raft leader.
    pub master: bool,
    pub myself: bool,
    /// Replication offset (log index): applied here for this node; for the others what
    /// the leader knows they hold (on a follower: the commit index for the leader, which
    /// holds at least that, and 0 for the others, which it cannot know).
    pub offset: u64,
    /// False when the leader knows of nothing the member holds yet (`loading`).
    pub online: bool,
    /// A master that stopped leading with no successor known yet: it keeps the slots,
    /// flagged `fail`, until a new leader is elected (Redis Cluster's view of a master
    /// whose failover is under way).
    pub failed: bool,
}

/// The shard as this node sees it: the master first (if there is one), then the replicas
/// in member order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// This node's numeric id.
    pub me: u64,
    /// The raft term: the current epoch and every node's config epoch.
    pub epoch: u64,
    pub nodes: Vec<Node>,
}

impl Topology {
    /// A replicated shard. `bus_ports` holds the members' cluster bus ports where they
    /// are not their client port + 10000 (see [`bus_ports`]).
    pub fn of(view: &ShardView, bus_ports: &BTreeMap<u64, u16>) -> Topology {
        let is_member = |l: &u64| view.members.iter().any(|m| m.id == *l);
        let leader = view.leader.filter(is_member);
        let leading = leader == Some(view.me);
        let failed_master =
            if leader.is_none() { view.previous_leader.filter(is_member) } else { None };
        let mut nodes: Vec<Node> = view
            .members
            .iter()
            .map(|m| {
                let (ip, port) = split_addr(&m.addr);
                let myself = m.id == view.me;
                let failed = failed_master == Some(m.id);
                let master = leader == Some(m.id) || failed;
                let (offset, online) = if myself {
                    (view.applied, true)
                } else if leading {
                    (m.matched.unwrap_or(0), m.matched.is_some())
                } else if master {
                    (view.committed, true)
                } else {
                    (m.matched.unwrap_or(0), true)
                };
                Node {
                    id: m.id,
                    ip: ip.to_string(),
                    port,
                    bus_port: bus_ports.get(&m.id).map_or(default_bus(port), |&p| u32::from(p)),
                    master,
                    myself,
                    offset,
                    online,
                    failed,
                }
            })
            .collect();
        // Stable: the replicas keep member order.
        nodes.sort_by_key(|n| !n.master);
        Topology { me: view.me, epoch: view.term, nodes }
    }

    /// A node without replication in cluster mode: the master of every slot.
    pub fn single(me: u64, port: u16, cluster_port: u16, applied: u64) -> Topology {
        let node = Node {
            id: me,
            ip: String::new(),
            port,
            bus_port: if cluster_port == 0 { default_bus(port) } else { u32::from(cluster_port) },
            master: true,
            myself: true,
            offset: applied,
            online: true,
            failed: false,
        };
        Topology { me, epoch: 0, nodes: vec![node] }
    }

    /// The master, if the shard has one (then it owns every slot, and serves them
    /// unless it has failed).
    pub fn master(&self) -> Option<&Node> {
        self.nodes.iter().find(|n| n.master)
    }

    /// Whether a live master serves the slots.
    pub fn covered(&self) -> bool {
        self.master().is_some_and(|m| !m.failed)
    }

    /// The replicas of the master (every node when there is no master).
    pub fn replicas(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| !n.master)
    }
}

/// Redis Cluster's bus port for a client port, where nothing else is configured.
fn default_bus(port: u16) -> u32 {
    u32::from(port) + 10000
}

/// The members' bus ports as the shard dials them (`cluster-peers` entries written
/// `host:port@busport`; this node's own `cluster-port` when set), by node id. Members not
/// listed use their client port + 10000.
pub fn bus_ports(config: &ConfigStore) -> BTreeMap<u64, u16> {
    let peers = config.get("cluster-peers").unwrap_or_default();
    let mut ports: BTreeMap<u64, u16> = crate::shard::parse_peers(&peers)
        .unwrap_or_default()
        .into_iter()
        .map(|(id, m)| (id, split_addr(&m.bus).1))
        .filter(|(_, port)| *port != 0)
        .collect();
    let me = u64::try_from(config.get_i64("node-id")).unwrap_or(0);
    if let Ok(port @ 1..) = u16::try_from(config.get_i64("cluster-port")) {
        ports.insert(me, port);
    }
    ports
}

/// The last slot, for `0-16383` ranges.
const LAST_SLOT: i64 = SLOTS as i64 - 1;

/// `CLUSTER SLOTS`: one range, master (failed or not, as Redis) then replicas; empty
/// without a master.
pub fn slots_reply(t: &Topology) -> Reply {
    let Some(master) = t.master() else { return Reply::Array(vec![]) };
    let node = |n: &Node| {
        Reply::Array(vec![
            Reply::bulk(&n.ip),
            Reply::Int(i64::from(n.port)),
            Reply::bulk(node_name(n.id)),
            Reply::Map(vec![]),
        ])
    };
    let mut range = vec![Reply::Int(0), Reply::Int(LAST_SLOT), node(master)];
    range.extend(t.replicas().map(node));
    Reply::Array(vec![Reply::Array(range)])
}

/// `CLUSTER SHARDS`: the one shard, its slots (none without a master) and its nodes.
pub fn shards_reply(t: &Topology) -> Reply {
    let slots =
        if t.master().is_some() { vec![Reply::Int(0), Reply::Int(LAST_SLOT)] } else { vec![] };
    let node = |n: &Node| {
        let field = |k: &str, v: Reply| (Reply::bulk(k), v);
        let health = match (n.failed, n.online) {
            (true, _) => "failed",
            (false, true) => "online",
            (false, false) => "loading",
        };
        Reply::Map(vec![
            field("id", Reply::bulk(node_name(n.id))),
            field("port", Reply::Int(i64::from(n.port))),
            field("ip", Reply::bulk(&n.ip)),
            field("endpoint", Reply::bulk(&n.ip)),
            field("role", Reply::bulk(if n.master { "master" } else { "replica" })),
            field("replication-offset", Reply::Int(n.offset as i64)),
            field("health", Reply::bulk(health)),
        ])
    };
    let nodes = t.master().into_iter().chain(t.replicas()).map(node).collect();
    Reply::Array(vec![Reply::Map(vec![
        (Reply::bulk("slots"), Reply::Array(slots)),
        (Reply::bulk("nodes"), Reply::Array(nodes)),
    ])])
}

/// One `CLUSTER NODES` line, without its newline:
/// `<id> <ip:port@bus> <flags> <master> <ping-sent> <pong-recv> <epoch> <link> [<slots>]`.
pub fn node_line(t: &Topology, n: &Node) -> String {
    let role = if n.master { "master" } else { "slave" };
    let mut flags = if n.myself { format!("myself,{role}") } else { role.to_string() };
    if n.failed {
        flags.push_str(",fail");
    }
    let link = if n.failed && !n.myself { "disconnected" } else { "connected" };
    let master = match (n.master, t.master()) {
        (false, Some(m)) => node_name(m.id),
        _ => "-".to_string(),
    };
    let mut line = format!(
        "{} {}:{}@{} {flags} {master} 0 0 {} {link}",
        node_name(n.id),
        n.ip,
        n.port,
        n.bus_port,
        t.epoch
    );
    if n.master {
        let _ = write!(line, " 0-{LAST_SLOT}");
    }
    line
}

/// `CLUSTER NODES`: one line per node, each ending in `\n`.
pub fn nodes_text(t: &Topology) -> String {
    t.nodes.iter().map(|n| node_line(t, n) + "\n").collect()
}

/// `CLUSTER REPLICAS <node-id>`: the replicas' NODES lines; `name` must be the master's.
pub fn replicas_reply(t: &Topology, name: &[u8]) -> CmdResult {
    let Some(node) = t.nodes.iter().find(|n| node_name(n.id).as_bytes() == name) else {
        return Err(CmdError::UnknownNode(String::from_utf8_lossy(name).into_owned()));
    };
    if !node.master {
        return Err(CmdError::NotAMaster);
    }
    Ok(Reply::Array(t.replicas().map(|r| Reply::bulk(node_line(t, r))).collect()))
}

/// `CLUSTER INFO`. The bus message counters stay zero: raft traffic is not cluster bus
/// traffic, and Redis prints per-type counters only once they are non-zero.
pub fn info_text(t: &Topology) -> String {
    let assigned = t.master().is_some();
    let covered = t.covered();
    let count = |yes: bool| if yes { SLOTS } else { 0 };
    let mut out = String::new();
    let mut line = |k: &str, v: &dyn std::fmt::Display| {
        let _ = write!(out, "{k}:{v}\r\n");
    };
    line("cluster_state", &if covered { "ok" } else { "fail" });
    line("cluster_slots_assigned", &count(assigned));
    line("cluster_slots_ok", &count(covered));
    line("cluster_slots_pfail", &0);
    line("cluster_slots_fail", &count(assigned && !covered));
    line("cluster_known_nodes", &t.nodes.len());
    line("cluster_size", &u8::from(assigned));
    line("cluster_current_epoch", &t.epoch);
    line("cluster_my_epoch", &t.epoch);
    line("cluster_stats_messages_sent", &0);
    line("cluster_stats_messages_received", &0);
    line("total_cluster_links_buffer_limit_exceeded", &0);
    out
}

/// The address (host, port) of the shard's leader, if there is one and it is a member.
pub fn leader_addr(view: &ShardView) -> Option<(&str, u16)> {
    let leader = view.leader?;
    view.members.iter().find(|m| m.id == leader).map(|m| split_addr(&m.addr))
}

/// Whether this node is a replica (a member of a shard that is not its leader).
pub fn is_replica(view: Option<&ShardView>) -> bool {
    view.is_some_and(|v| v.leader != Some(v.me))
}

// ---------------------------------------------------------------------------------------
// Handlers

/// `cluster-enabled yes`.
pub fn enabled(config: &ConfigStore) -> bool {
    config.get("cluster-enabled").is_some_and(|v| v == "yes")
}

/// Every cluster command refuses to run when cluster mode is off (as Redis, even HELP
/// and KEYSLOT).
fn require_cluster(shared: &Shared) -> Result<(), CmdError> {
    if enabled(&shared.config) {
        Ok(())
    } else {
        Err(CmdError::ClusterDisabled)
    }
}

/// This node's topology, from the log's shard view or its own settings.
fn topology(shared: &Shared) -> Topology {
    match shared.log.shard() {
        Some(view) => Topology::of(&view, &bus_ports(&shared.config)),
        None => {
            let cluster_port = u16::try_from(shared.config.get_i64("cluster-port")).unwrap_or(0);
            let me = u64::try_from(shared.config.get_i64("node-id")).unwrap_or(0);
            let port = u16::try_from(shared.port.load(std::sync::atomic::Ordering::Relaxed));
            Topology::single(me, port.unwrap_or(0), cluster_port, shared.log.applied_index())
        }
    }
}

/// A keyspace-reading subcommand, refused before parsing when cluster mode is off (Redis
/// answers that before looking at the arguments).
const fn gated_read<C: ReadCommand>() -> Exec {
    Exec::Read(run_gated::<C>)
}

fn run_gated<C: ReadCommand>(args: &mut Args<'_>, cx: &ReadCtx<'_>) -> CmdResult {
    require_cluster(cx.shared)?;
    let cmd = C::parse(args)?;
    args.finish()?;
    cmd.run(cx)
}

/// `CLUSTER SLOTS`
fn cluster_slots(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    require_cluster(cx.shared)?;
    Ok(slots_reply(&topology(cx.shared)))
}

/// `CLUSTER SHARDS`
fn cluster_shards(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    require_cluster(cx.shared)?;
    Ok(shards_reply(&topology(cx.shared)))
}

/// `CLUSTER NODES`
fn cluster_nodes(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    require_cluster(cx.shared)?;
    Ok(Reply::Verbatim(Bytes::from(nodes_text(&topology(cx.shared)))))
}

/// `CLUSTER REPLICAS node-id` / `CLUSTER SLAVES node-id`
fn cluster_replicas(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    require_cluster(cx.shared)?;
    let name = args.next_bytes()?;
    replicas_reply(&topology(cx.shared), &name)
}

/// `CLUSTER MYID`
fn cluster_myid(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    require_cluster(cx.shared)?;
    Ok(Reply::bulk(node_name(topology(cx.shared).me)))
}

/// `CLUSTER RESET [HARD | SOFT]`: a shard member leaves by CLUSTER FORGET from the
/// others (its raft membership is the shard's, not its own to reset).
fn cluster_reset(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    require_cluster(cx.shared)?;
    if !(args.is_empty() || args.eat("HARD") || args.eat("SOFT")) || !args.is_empty() {
        return Err(CmdError::Syntax);
    }
    Err(CmdError::err(
        "CLUSTER RESET is not supported by Engram shards: remove a node with CLUSTER FORGET \
         on the primary",
    ))
}

/// `CLUSTER MYSHARDID`
fn cluster_myshardid(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    require_cluster(cx.shared)?;
    Ok(Reply::bulk(shard_name(ONLY_SHARD)))
}

/// `CLUSTER INFO`
fn cluster_info(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    require_cluster(cx.shared)?;
    Ok(Reply::Verbatim(Bytes::from(info_text(&topology(cx.shared)))))
}

/// `CLUSTER LINKS`: Engram has no cluster bus (members talk raft), so no bus links.
fn cluster_links(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    require_cluster(cx.shared)?;
    Ok(Reply::Array(vec![]))
}

/// `CLUSTER KEYSLOT key`
fn cluster_keyslot(args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    require_cluster(cx.shared)?;
    let key = args.next_slice()?;
    Ok(Reply::Int(i64::from(crate::cluster::key_slot(key))))
}

/// `CLUSTER HELP`
/// CLUSTER MEET / FORGET / FAILOVER wait on raft, so the dispatcher runs them
/// (`crate::shard::membership`); this is never reached.
fn membership_runs_async(_args: &mut Args<'_>, _cx: &mut SessionCtx<'_>) -> CmdResult {
    Err(CmdError::Internal)
}

fn cluster_help(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    require_cluster(cx.shared)?;
    Ok(crate::cmd::server::help_reply(
        "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "COUNTKEYSINSLOT <slot>",
            "    Return the number of keys in <slot>.",
            "FAILOVER [FORCE|TAKEOVER]",
            "    Promote current replica node to being a master.",
            "FORGET <node-id>",
            "    Remove a node from the cluster.",
            "GETKEYSINSLOT <slot> <count>",
            "    Return key names stored by current node in a slot.",
            "INFO",
            "    Return information about the cluster.",
            "KEYSLOT <key>",
            "    Return the hash slot for <key>.",
            "MEET <ip> <port> [<bus-port>]",
            "    Add a node to the shard (it must be started with its --node-id and the peers).",
            "MYID",
            "    Return the node id.",
            "MYSHARDID",
            "    Return the node's shard id.",
            "NODES",
            "    Return cluster configuration seen by node. Output format:",
            "    <id> <ip:port@bus-port[,hostname]> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
            "REPLICAS <node-id>",
            "    Return <node-id> replicas.",
            "SLOTS",
            "    Return information about slots range mappings. Each range is made of:",
            "    start, end, master and replicas IP addresses, ports and ids",
            "SHARDS",
            "    Return information about slot range mappings and the nodes associated with them.",
            "LINKS",
            "    Return information about all network links between this node and its peers.",
            "    Output format is an array where each array element is a map containing attributes of a link",
        ],
    ))
}

/// The slot argument of COUNTKEYSINSLOT / GETKEYSINSLOT, if in range.
fn slot_index(slot: i64) -> Option<usize> {
    usize::try_from(slot).ok().filter(|s| *s < SLOTS)
}

/// `CLUSTER COUNTKEYSINSLOT slot`
struct CountKeysInSlot {
    slot: usize,
}

impl Parse for CountKeysInSlot {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        let slot = slot_index(args.next_i64()?).ok_or(CmdError::InvalidSlot)?;
        Ok(CountKeysInSlot { slot })
    }
}

impl ReadCommand for CountKeysInSlot {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        // Stored keys, as Redis counts its slot dictionary: one past its deadline but not
        // yet expired by the leader still counts.
        Ok(Reply::Int(cx.ks.db(0).slot_len(self.slot) as i64))
    }
}

/// `CLUSTER GETKEYSINSLOT slot count`
struct GetKeysInSlot {
    slot: usize,
    count: usize,
}

impl Parse for GetKeysInSlot {
    fn parse(args: &mut Args<'_>) -> Result<Self, CmdError> {
        // Both must be integers before either is range-checked.
        let (slot, count) = (args.next_i64()?, args.next_i64()?);
        match (slot_index(slot), usize::try_from(count)) {
            (Some(slot), Ok(count)) => Ok(GetKeysInSlot { slot, count }),
            _ => Err(CmdError::InvalidSlotOrCount),
        }
    }
}

impl ReadCommand for GetKeysInSlot {
    fn run(self, cx: &ReadCtx<'_>) -> CmdResult {
        let keys = cx.ks.db(0).slot_keys(self.slot).take(self.count);
        Ok(Reply::Array(keys.map(|(k, _)| Reply::Bulk(k.to_bytes())).collect()))
    }
}

/// `READONLY`
fn readonly(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    require_cluster(cx.shared)?;
    cx.session.readonly = true;
    Ok(Reply::ok())
}

/// `READWRITE`
fn readwrite(_args: &mut Args<'_>, cx: &mut SessionCtx<'_>) -> CmdResult {
    require_cluster(cx.shared)?;
    cx.session.readonly = false;
    Ok(Reply::ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use engram_log::MemberView;

    fn member(id: u64, port: u16, matched: Option<u64>) -> MemberView {
        MemberView { id, addr: format!("10.0.0.{id}:{port}"), voter: true, matched }
    }

    /// Three members; node 2 leads (term 7, 120 applied there).
    fn view(me: u64, leader: Option<u64>) -> ShardView {
        let leading = leader == Some(me);
        let matched = |m: u64| leading.then_some(m);
        ShardView {
            me,
            leader,
            previous_leader: None,
            term: 7,
            committed: 118,
            applied: 115,
            members: vec![
                member(1, 7001, matched(110)),
                member(2, 7002, matched(120)),
                member(3, 7003, if leading { None } else { Some(99) }),
            ],
        }
    }

    fn names(reply: &Reply) -> Vec<String> {
        let mut out = Vec::new();
        if let Reply::Array(items) = reply {
            for item in items {
                out.extend(names(item));
            }
        } else if let Reply::Bulk(b) = reply {
            let s = String::from_utf8_lossy(b).into_owned();
            if s.len() == 40 {
                out.push(s);
            }
        }
        out
    }

    fn field<'a>(map: &'a Reply, key: &str) -> &'a Reply {
        let Reply::Map(pairs) = map else { panic!("not a map: {map:?}") };
        &pairs.iter().find(|(k, _)| *k == Reply::bulk(key)).unwrap().1
    }

    #[test]
    fn the_leader_is_master_and_listed_first() {
        let t = Topology::of(&view(1, Some(2)), &BTreeMap::new());
        let order: Vec<u64> = t.nodes.iter().map(|n| n.id).collect();
        assert_eq!(order, [2, 1, 3]);
        assert_eq!(t.master().map(|n| n.id), Some(2));
        assert_eq!(t.nodes[1].bus_port, 17001);
        assert!(t.nodes[1].myself && !t.nodes[0].myself);
    }

    #[test]
    fn slots_list_master_then_replicas_with_empty_metadata() {
        let t = Topology::of(&view(1, Some(2)), &BTreeMap::new());
        let Reply::Array(ranges) = slots_reply(&t) else { panic!() };
        assert_eq!(ranges.len(), 1);
        let Reply::Array(range) = &ranges[0] else { panic!() };
        assert_eq!(range[..2], [Reply::Int(0), Reply::Int(16383)]);
        assert_eq!(
            range[2],
            Reply::Array(vec![
                Reply::bulk("10.0.0.2"),
                Reply::Int(7002),
                Reply::bulk(node_name(2)),
                Reply::Map(vec![]),
            ])
        );
        assert_eq!(names(&Reply::Array(range[2..].to_vec())), [2, 1, 3].map(node_name));
    }

    #[test]
    fn without_a_leader_no_slot_is_covered() {
        let t = Topology::of(&view(1, None), &BTreeMap::new());
        assert_eq!(slots_reply(&t), Reply::Array(vec![]));
        let info = info_text(&t);
        assert!(info.starts_with("cluster_state:fail\r\ncluster_slots_assigned:0\r\n"));
        assert!(info.contains("cluster_known_nodes:3\r\ncluster_size:0\r\n"));
        let Reply::Array(shards) = shards_reply(&t) else { panic!() };
        assert_eq!(field(&shards[0], "slots"), &Reply::Array(vec![]));
        let Reply::Array(nodes) = field(&shards[0], "nodes") else { panic!() };
        assert!(nodes.iter().all(|n| field(n, "role") == &Reply::bulk("replica")));
        for line in nodes_text(&t).lines() {
            let words: Vec<&str> = line.split(' ').collect();
            assert!(words[2].ends_with("slave") && words[3] == "-", "{line}");
            assert_eq!(words.len(), 8, "no slots: {line}");
        }
    }

    #[test]
    fn shards_on_the_leader_report_matched_offsets_and_loading_members() {
        let t = Topology::of(&view(2, Some(2)), &BTreeMap::new());
        let Reply::Array(shards) = shards_reply(&t) else { panic!() };
        assert_eq!(
            field(&shards[0], "slots"),
            &Reply::Array(vec![Reply::Int(0), Reply::Int(16383)])
        );
        let Reply::Array(nodes) = field(&shards[0], "nodes") else { panic!() };
        let master = &nodes[0];
        let keys: Vec<String> = match master {
            Reply::Map(p) => p.iter().map(|(k, _)| format!("{k:?}")).collect(),
            _ => panic!(),
        };
        assert_eq!(keys.len(), 7);
        assert_eq!(field(master, "id"), &Reply::bulk(node_name(2)));
        assert_eq!(field(master, "port"), &Reply::Int(7002));
        assert_eq!(field(master, "ip"), &Reply::bulk("10.0.0.2"));
        assert_eq!(field(master, "endpoint"), &Reply::bulk("10.0.0.2"));
        assert_eq!(field(master, "role"), &Reply::bulk("master"));
        // Myself: the applied index, not what the view says was matched.
        assert_eq!(field(master, "replication-offset"), &Reply::Int(115));
        assert_eq!(field(&nodes[1], "replication-offset"), &Reply::Int(110));
        assert_eq!(field(&nodes[1], "health"), &Reply::bulk("online"));
        assert_eq!(field(&nodes[2], "replication-offset"), &Reply::Int(0));
        assert_eq!(field(&nodes[2], "health"), &Reply::bulk("loading"));
    }

    #[test]
    fn nodes_lines_follow_the_redis_format() {
        let t = Topology::of(&view(3, Some(2)), &BTreeMap::new());
        let text = nodes_text(&t);
        let (m, n1, n3) = (node_name(2), node_name(1), node_name(3));
        assert_eq!(
            text,
            format!(
                "{m} 10.0.0.2:7002@17002 master - 0 0 7 connected 0-16383\n\
                 {n1} 10.0.0.1:7001@17001 slave {m} 0 0 7 connected\n\
                 {n3} 10.0.0.3:7003@17003 myself,slave {m} 0 0 7 connected\n"
            )
        );
        // Configured bus ports replace the default.
        let t = Topology::of(&view(3, Some(2)), &BTreeMap::from([(3, 16379), (2, 16400)]));
        assert!(nodes_text(&t).contains("10.0.0.3:7003@16379 myself,slave"));
        assert!(nodes_text(&t).contains("10.0.0.2:7002@16400 master"));
        assert!(nodes_text(&t).contains("10.0.0.1:7001@17001 slave"));
    }

    #[test]
    fn replicas_need_the_master_name() {
        let t = Topology::of(&view(2, Some(2)), &BTreeMap::new());
        let Reply::Array(lines) = replicas_reply(&t, node_name(2).as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], Reply::bulk(node_line(&t, &t.nodes[1])));
        assert_eq!(
            replicas_reply(&t, node_name(1).as_bytes()).unwrap_err().to_string(),
            "ERR The specified node is not a master"
        );
        assert_eq!(
            replicas_reply(&t, b"nosuch").unwrap_err().to_string(),
            "ERR Unknown node nosuch"
        );
        // Names are case-sensitive, as in Redis.
        let upper = node_name(2).to_ascii_uppercase();
        assert!(replicas_reply(&t, upper.as_bytes()).is_err());
    }

    #[test]
    fn during_an_election_the_last_leader_keeps_the_slots_as_a_failed_master() {
        let mut v = view(1, None);
        v.previous_leader = Some(2);
        let t = Topology::of(&v, &BTreeMap::new());
        let Reply::Array(ranges) = slots_reply(&t) else { panic!() };
        let Reply::Array(range) = &ranges[0] else { panic!() };
        assert_eq!(names(&Reply::Array(range[2..].to_vec())), [2, 1, 3].map(node_name));
        let info = info_text(&t);
        assert!(
            info.starts_with(
                "cluster_state:fail\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:0\r\n\
                 cluster_slots_pfail:0\r\ncluster_slots_fail:16384\r\ncluster_known_nodes:3\r\n\
                 cluster_size:1\r\n"
            ),
            "{info}"
        );
        let nodes = nodes_text(&t);
        let master = nodes.lines().next().unwrap();
        assert_eq!(
            master,
            format!(
                "{} 10.0.0.2:7002@17002 master,fail - 0 0 7 disconnected 0-16383",
                node_name(2)
            )
        );
        let Reply::Array(shards) = shards_reply(&t) else { panic!() };
        let Reply::Array(nodes) = field(&shards[0], "nodes") else { panic!() };
        assert_eq!(field(&nodes[0], "health"), &Reply::bulk("failed"));
        // Once a leader is known, the previous one is an ordinary replica again.
        let mut v = view(1, Some(3));
        v.previous_leader = Some(2);
        let t = Topology::of(&v, &BTreeMap::new());
        assert_eq!(t.master().map(|n| (n.id, n.failed)), Some((3, false)));
        assert!(info_text(&t).starts_with("cluster_state:ok\r\n"));
    }

    #[test]
    fn a_single_node_in_cluster_mode_serves_every_slot() {
        let t = Topology::single(0, 6379, 0, 42);
        assert_eq!(
            nodes_text(&t),
            format!("{} :6379@16379 myself,master - 0 0 0 connected 0-16383\n", node_name(0))
        );
        assert_eq!(
            info_text(&t),
            "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\n\
             cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:1\r\n\
             cluster_size:1\r\ncluster_current_epoch:0\r\ncluster_my_epoch:0\r\n\
             cluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n\
             total_cluster_links_buffer_limit_exceeded:0\r\n"
        );
        let Reply::Array(shards) = shards_reply(&t) else { panic!() };
        let Reply::Array(nodes) = field(&shards[0], "nodes") else { panic!() };
        assert_eq!(field(&nodes[0], "replication-offset"), &Reply::Int(42));
        assert_eq!(field(&nodes[0], "ip"), &Reply::bulk(""));
    }

    #[test]
    fn bus_ports_come_from_the_peers_list_and_our_cluster_port() {
        let config = ConfigStore::default();
        config.set("cluster-peers", "h1:7001,h2:7002@18000,h3:7003", true).unwrap();
        config.set("node-id", "3", true).unwrap();
        assert_eq!(bus_ports(&config), BTreeMap::from([(1, 17001), (2, 18000), (3, 17003)]));
        config.set("cluster-port", "19000", true).unwrap();
        assert_eq!(bus_ports(&config)[&3], 19000);
    }

    #[test]
    fn the_leader_address_and_replica_role_come_from_the_view() {
        assert_eq!(leader_addr(&view(1, Some(2))), Some(("10.0.0.2", 7002)));
        assert_eq!(leader_addr(&view(1, None)), None);
        assert!(is_replica(Some(&view(1, Some(2)))));
        assert!(is_replica(Some(&view(1, None))));
        assert!(!is_replica(Some(&view(2, Some(2)))));
        assert!(!is_replica(None));
    }

    #[test]
    fn slot_arguments_are_checked_like_redis() {
        let argv = |s: &[&str]| s.iter().map(|a| Bytes::from(a.to_string())).collect::<Vec<_>>();
        let count = |s: &[&str]| {
            CountKeysInSlot::parse(&mut Args::new(&argv(s))).err().map(|e| e.to_string())
        };
        assert_eq!(count(&["16383"]), None);
        assert_eq!(count(&["16384"]).as_deref(), Some("ERR Invalid slot"));
        assert_eq!(count(&["-1"]).as_deref(), Some("ERR Invalid slot"));
        assert_eq!(count(&["x"]).as_deref(), Some("ERR value is not an integer or out of range"));
        let get = |s: &[&str]| {
            GetKeysInSlot::parse(&mut Args::new(&argv(s))).err().map(|e| e.to_string())
        };
        assert_eq!(get(&["1", "0"]), None);
        assert_eq!(get(&["1", "-1"]).as_deref(), Some("ERR Invalid slot or number of keys"));
        assert_eq!(get(&["16384", "1"]).as_deref(), Some("ERR Invalid slot or number of keys"));
        let not_int = Some("ERR value is not an integer or out of range");
        assert_eq!(get(&["16384", "x"]).as_deref(), not_int);
        assert_eq!(get(&["x", "1"]).as_deref(), not_int);
    }
}
