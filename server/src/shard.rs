//! Shard membership from configuration: `--node-id N --cluster-peers a:p1,b:p2,c:p3`
//! makes this process node N of a replicated shard (the log's `raft` module does the
//! rest). Peers are named by their client addresses; each one's cluster bus is its client
//! port + 10000, as in Redis Cluster, unless written `host:port@busport`.

use std::collections::BTreeMap;
use std::time::Duration;

use engram_log::raft::{Member, ShardOptions};

use crate::config::ConfigStore;

/// A primary and up to five replicas.
const MAX_MEMBERS: usize = 6;

/// How often a shard snapshots, in log entries (also bounds the raft log kept in memory).
const SNAPSHOT_ENTRIES: u64 = 200_000;

/// The bus address for a client address `host:port` without an explicit `@busport`.
fn default_bus(addr: &str) -> Result<String, String> {
    let (host, port) =
        addr.rsplit_once(':').ok_or_else(|| format!("peer '{addr}' is not host:port"))?;
    let port: u32 = port.parse().map_err(|_| format!("peer '{addr}' has a bad port"))?;
    if port + 10000 > 65535 {
        return Err(format!(
            "peer '{addr}': port + 10000 is not a port; give its bus port as {addr}@BUSPORT"
        ));
    }
    Ok(format!("{host}:{}", port + 10000))
}

/// Parses `cluster-peers` into members numbered from 1 in list order.
pub fn parse_peers(peers: &str) -> Result<BTreeMap<u64, Member>, String> {
    let mut members = BTreeMap::new();
    for (i, peer) in peers.split(',').map(str::trim).filter(|p| !p.is_empty()).enumerate() {
        let member = match peer.split_once('@') {
            Some((addr, bus)) => {
                let (host, _) = addr
                    .rsplit_once(':')
                    .ok_or_else(|| format!("peer '{peer}' is not host:port@busport"))?;
                let bus: u16 =
                    bus.parse().map_err(|_| format!("peer '{peer}' has a bad bus port"))?;
                Member { addr: addr.to_string(), bus: format!("{host}:{bus}") }
            }
            None => Member { addr: peer.to_string(), bus: default_bus(peer)? },
        };
        members.insert(i as u64 + 1, member);
    }
    Ok(members)
}

/// `id=host:port,...`: where to dial each peer's bus instead of its advertised address
/// (fault-injection tests route every link through a proxy they can cut).
fn parse_routes(routes: &str) -> Result<BTreeMap<u64, String>, String> {
    routes
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| {
            let (id, addr) = r.split_once('=').ok_or_else(|| format!("bad bus route '{r}'"))?;
            let id = id.parse().map_err(|_| format!("bad node id in bus route '{r}'"))?;
            Ok((id, addr.to_string()))
        })
        .collect()
}

/// The shard this process belongs to, or `None` for a single node.
pub fn shard_options(
    config: &ConfigStore,
    dir: &str,
    port: u16,
) -> Result<Option<ShardOptions>, String> {
    let node_id = config.get_i64("node-id").max(0) as u64;
    let peers = config.get("cluster-peers").unwrap_or_default();
    if node_id == 0 && peers.trim().is_empty() {
        return Ok(None);
    }
    let mut members = parse_peers(&peers)?;
    if members.len() > MAX_MEMBERS {
        return Err(format!(
            "cluster-peers lists {} nodes; a shard has at most {MAX_MEMBERS}",
            members.len()
        ));
    }
    if node_id == 0 || !members.contains_key(&node_id) {
        return Err(format!(
            "node-id {node_id} must be a position (from 1) in cluster-peers ({} peers)",
            members.len()
        ));
    }
    let bus_port = config.get_i64("cluster-port");
    if let Some(me) = members.get_mut(&node_id) {
        if bus_port > 0 {
            let host = me.bus.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h).to_string();
            me.bus = format!("{host}:{bus_port}");
        }
        let listed: Option<u16> = me.addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok());
        if listed != Some(port) {
            return Err(format!(
                "this node listens on port {port} but cluster-peers lists it as {}",
                me.addr
            ));
        }
    }
    if config.get("durability").as_deref() == Some("local") {
        // With replicas a write is acknowledged once a quorum has it on disk.
        let _ = config.set("durability", "quorum", true);
    }
    Ok(Some(ShardOptions {
        node_id,
        members,
        dir: std::path::Path::new(dir).join("raft"),
        heartbeat: Duration::from_millis(config.get_i64("raft-heartbeat-ms").max(10) as u64),
        election_timeout: Duration::from_millis(
            config.get_i64("raft-election-timeout-ms").max(50) as u64
        ),
        snapshot_entries: match config.get_i64("raft-snapshot-entries") {
            n if n > 0 => n as u64,
            _ => SNAPSHOT_ENTRIES,
        },
        keep_entries: config.get_i64("raft-log-keep").max(0) as u64,
        snapshot_bytes: config.get_i64("snapshot-log-bytes").max(0) as u64,
        unsynced: config.get("durability").as_deref() == Some("none"),
        routes: parse_routes(&config.get("cluster-bus-routes").unwrap_or_default())?,
        on_append: None,
        learner: config.get("cluster-learner").as_deref() == Some("yes"),
    }))
}

/// `WAIT numreplicas timeout` and `WAITAOF numlocal numreplicas timeout` on a shard
/// member: how many replicas hold (on disk: a replica acknowledges an entry only after
/// its fsync) everything this node has applied, waiting up to `timeout` ms (0: forever)
/// for `wanted` of them. The connection's own writes were applied before WAIT ran, so
/// this is a true count for them (it may wait for a little more).
pub async fn wait_replicas(
    shared: &crate::state::Shared,
    argv: &[bytes::Bytes],
    aof: bool,
) -> Result<crate::reply::Reply, crate::error::CmdError> {
    use crate::error::CmdError;
    use crate::reply::Reply;
    let mut args = crate::cmd::Args::new(argv.get(1..).unwrap_or_default());
    if aof {
        args.next_i64()?; // numlocal: this node's own fsync, answered below
    }
    let wanted = args.next_i64()?;
    let timeout = args.next_i64()?;
    if timeout < 0 {
        return Err(CmdError::TimeoutNegative);
    }
    if let Err(engram_log::LogError::NotLeader(_)) = shared.log.writable() {
        let what = if aof { "WAITAOF" } else { "WAIT" };
        return Err(CmdError::Custom(format!(
            "ERR {what} cannot be used with replica instances. Please also note that writes to replicas are just local and are not propagated."
        )));
    }
    let target = shared.log.applied_index();
    let deadline =
        (timeout > 0).then(|| crate::clock::monotonic() + Duration::from_millis(timeout as u64));
    let count = loop {
        let count = shared.log.shard().map_or(0, |view| {
            view.members
                .iter()
                .filter(|m| m.id != view.me && m.matched.is_some_and(|i| i >= target))
                .count() as i64
        });
        let expired = deadline.is_some_and(|d| crate::clock::monotonic() >= d);
        if count >= wanted || expired {
            break count;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    if aof {
        let durable = shared.config.get("durability").is_none_or(|d| d != "none");
        return Ok(Reply::Array(vec![Reply::Int(i64::from(durable)), Reply::Int(count)]));
    }
    Ok(Reply::Int(count))
}

/// Lets the scripts runtime see, as they are appended, the leader's records of scripts it
/// aborted: this node may be running that very script in apply right now.
pub fn script_abort_hook(
    scripts: std::sync::Arc<crate::script::runtime::ScriptRuntime>,
) -> engram_log::raft::AppendHook {
    engram_log::raft::AppendHook(std::sync::Arc::new(move |bytes: &[u8]| {
        // Only the rare abort record is decoded in full; its tag is the second byte.
        if bytes.get(1) != Some(&4) {
            return;
        }
        let decoded = crate::entry::Request::decode(bytes::Bytes::copy_from_slice(bytes));
        if let Ok(crate::entry::Request::ScriptAborted { index, .. }) = decoded {
            scripts.abort_from_leader(index);
        }
    }))
}

/// On the leader: proposes a record for every script aborted here, so replicas (which
/// run the same entry) stop or skip it.
pub async fn announce_aborted_scripts(shared: std::sync::Arc<crate::state::Shared>) {
    loop {
        shared.scripts.announce.notified().await;
        for index in shared.scripts.take_unannounced() {
            if shared.log.writable().is_ok() {
                let request =
                    crate::entry::Request::ScriptAborted { now_ms: crate::clock::now_ms(), index };
                let _ = shared.log.propose_detached(request).await;
            }
        }
    }
}

/// `REPLICAOF host port | NO ONE`. Replication here is raft membership, so this is a view
/// of it: `NO ONE` makes this node the primary (a handover without losing writes, as
/// CLUSTER FAILOVER; a single node already is one); `host port` is accepted when this
/// node already replicates from that primary, and otherwise says how to join.
pub async fn replicaof(
    shared: &crate::state::Shared,
    argv: &[bytes::Bytes],
) -> Result<crate::reply::Reply, crate::error::CmdError> {
    use crate::error::CmdError;
    use crate::reply::Reply;
    let host = String::from_utf8_lossy(argv.get(1).map_or(&[][..], |a| &a[..])).to_string();
    let port = String::from_utf8_lossy(argv.get(2).map_or(&[][..], |a| &a[..])).to_string();
    if host.eq_ignore_ascii_case("no") && port.eq_ignore_ascii_case("one") {
        if shared.log.shard().is_some() {
            shared.log.take_over().await.map_err(|e| CmdError::Custom(format!("ERR {e}")))?;
        }
        return Ok(Reply::ok());
    }
    if port.parse::<u16>().is_err() {
        return Err(CmdError::Custom("ERR Invalid master port".into()));
    }
    let following = shared.log.shard().is_some_and(|view| {
        let leader = view.leader.and_then(|l| view.members.iter().find(|m| m.id == l));
        leader.is_some_and(|m| {
            let (h, p) = crate::cluster::split_addr(&m.addr);
            p.to_string() == port && (h == host || (h == "127.0.0.1" && host == "localhost"))
        })
    });
    if following {
        return Ok(Reply::Status("OK Already connected to specified master".into()));
    }
    Err(CmdError::Custom(
        "ERR replication in Engram is a raft shard: start this node with --node-id and --cluster-peers, then send CLUSTER MEET <ip> <port> to the primary"
            .into(),
    ))
}

/// CLUSTER MEET / FORGET / FAILOVER on a shard member: membership changes go through
/// raft on the leader; FAILOVER asks this replica to take over. MEET answers once the
/// new member is a voter (it is first a learner that receives a snapshot and the log).
pub async fn membership(
    shared: &crate::state::Shared,
    subcommand: &str,
    argv: &[bytes::Bytes],
) -> Result<crate::reply::Reply, crate::error::CmdError> {
    use crate::error::CmdError;
    use crate::reply::Reply;
    let text = |i: usize| argv.get(i).map(|a| String::from_utf8_lossy(a).into_owned());
    let Some(view) = shared.log.shard() else {
        return Err(CmdError::Custom("ERR this node is not a member of a replicated shard".into()));
    };
    let leading = view.leader == Some(view.me);
    match subcommand {
        "failover" => {
            if leading {
                return Err(CmdError::Custom(
                    "ERR You should send CLUSTER FAILOVER to a replica".into(),
                ));
            }
            shared.log.take_over().await.map_err(|e| CmdError::Custom(format!("ERR {e}")))?;
            Ok(Reply::ok())
        }
        "meet" => {
            if !leading {
                return Err(CmdError::Custom(
                    "ERR CLUSTER MEET must be sent to the primary".into(),
                ));
            }
            let host = text(2).unwrap_or_default();
            let port: u16 = text(3).and_then(|p| p.parse().ok()).ok_or_else(|| {
                CmdError::Custom(format!(
                    "ERR Invalid base port specified: {}",
                    text(3).unwrap_or_default()
                ))
            })?;
            let bus_port: u32 = match text(4) {
                Some(b) => b.parse().map_err(|_| {
                    CmdError::Custom(format!("ERR Invalid bus port specified: {b}"))
                })?,
                None => u32::from(port) + 10000,
            };
            let bus = format!("{host}:{bus_port}");
            let (id, learner) = shared.log.node_at(&bus).await.map_err(|e| {
                CmdError::Custom(format!("ERR cannot reach the node's cluster bus at {bus}: {e}"))
            })?;
            if view.members.iter().any(|m| m.id == id) {
                return Ok(Reply::ok());
            }
            if view.members.len() >= MAX_MEMBERS {
                return Err(CmdError::Custom(format!(
                    "ERR a shard has at most {MAX_MEMBERS} members (a primary and {} replicas)",
                    MAX_MEMBERS - 1
                )));
            }
            tracing::info!(node = id, %bus, learner, "adding a shard member");
            shared
                .log
                .add_member(id, format!("{host}:{port}"), bus, !learner)
                .await
                .map_err(|e| CmdError::Custom(format!("ERR {e}")))?;
            Ok(Reply::ok())
        }
        _ => {
            let name = text(2).unwrap_or_default();
            let member = view.members.iter().find(|m| crate::cluster::node_name(m.id) == name);
            let Some(member) = member else { return Err(CmdError::UnknownNode(name)) };
            if member.id == view.me {
                return Err(CmdError::Custom(
                    "ERR I tried hard but I can't forget myself...".into(),
                ));
            }
            if !leading {
                if view.leader == Some(member.id) {
                    return Err(CmdError::Custom("ERR Can't forget my master!".into()));
                }
                return Err(CmdError::Custom(
                    "ERR CLUSTER FORGET must be sent to the primary".into(),
                ));
            }
            tracing::info!(node = member.id, "removing a shard member");
            shared
                .log
                .remove_member(member.id)
                .await
                .map_err(|e| CmdError::Custom(format!("ERR {e}")))?;
            Ok(Reply::ok())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_number_from_one_with_bus_ports() {
        let m =
            parse_peers("127.0.0.1:7000, 127.0.0.1:7001@17100,127.0.0.1:7002").unwrap_or_default();
        assert_eq!(m.len(), 3);
        assert_eq!(m[&1].bus, "127.0.0.1:17000");
        assert_eq!(m[&2].bus, "127.0.0.1:17100");
        assert_eq!(m[&3].addr, "127.0.0.1:7002");
        assert!(parse_peers("127.0.0.1:60000").is_err());
        assert!(parse_peers("nohost").is_err());
    }
}
