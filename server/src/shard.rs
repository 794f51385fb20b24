//! Shard membership from configuration: `--node-id N --cluster-peers a:p1,b:p2,c:p3`
//! makes this process node N of a replicated shard (the log's `raft` module does the
//! rest). Peers are named by their client addresses; each one's cluster bus is its client
//! port + 10000, as in Redis Cluster, unless written `host:port@busport`.

use std::collections::BTreeMap;
use std::time::Duration;

use engram_log::raft::{Member, ShardOptions};

use crate::config::ConfigStore;

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
        snapshot_entries: SNAPSHOT_ENTRIES,
        unsynced: config.get("durability").as_deref() == Some("none"),
    }))
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
