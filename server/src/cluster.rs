//! Cluster hash slots and the names cluster commands show. Single-shard today; the
//! keyspace is already split by slot so the cluster issue only adds routing.
//!
//! Redis nodes name themselves with 40 random hex characters; Engram derives every name
//! from configuration (the numeric `node-id`, the shard number), so all members of a
//! shard print the same names for each other without exchanging them, and a restart
//! keeps them.

/// The number of the only shard there is until the cluster has more than one.
pub const ONLY_SHARD: u64 = 0;

/// The slot of `key`: CRC16 (XMODEM) of the key, or of its `{hash tag}` if it has a
/// non-empty one, modulo 16384 — as Redis Cluster.
pub fn key_slot(key: &[u8]) -> u16 {
    // Sixteen bytes per step: every key a write or read touches is hashed for its slot
    // (twice with the lookahead), and a byte at a time was 4% of applying SETs.
    const CRC16: crc::Crc<u16, crc::Table<16>> =
        crc::Crc::<u16, crc::Table<16>>::new(&crc::CRC_16_XMODEM);
    let hashed = match memchr::memchr(b'{', key) {
        Some(open) => match memchr::memchr(b'}', &key[open + 1..]) {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    CRC16.checksum(hashed) & 0x3FFF
}

/// 40 lowercase hex characters derived from `text`.
fn name_of(text: &str) -> String {
    sha1_smol::Sha1::from(text.as_bytes()).digest().to_string()
}

/// The cluster node name (CLUSTER MYID, NODES, SLOTS ...) of the node numbered `id`.
pub fn node_name(id: u64) -> String {
    name_of(&format!("engram-node-{id}"))
}

/// The shard id (CLUSTER MYSHARDID, SHARDS) of shard number `shard`.
pub fn shard_name(shard: u64) -> String {
    name_of(&format!("engram-shard-{shard}"))
}

/// The replication id (INFO `master_replid`) of shard number `shard`. One per shard, not
/// per leader: the raft log continues across leaders, so offsets stay comparable.
pub fn replication_id(shard: u64) -> String {
    name_of(&format!("engram-replication-{shard}"))
}

/// Splits a client address `host:port` (IPv6 hosts may be bracketed) into the host as
/// Redis prints it (no brackets) and the port (0 if there is none).
pub fn split_addr(addr: &str) -> (&str, u16) {
    match addr.rsplit_once(':') {
        Some((host, port)) => {
            let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
            (host, port.parse().unwrap_or(0))
        }
        None => (addr, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_forty_hex_digits_and_stable() {
        for name in [node_name(0), node_name(3), shard_name(ONLY_SHARD), replication_id(0)] {
            assert_eq!(name.len(), 40);
            assert!(name.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        }
        assert_eq!(node_name(2), node_name(2));
        assert_ne!(node_name(1), node_name(2));
        assert_ne!(shard_name(0), replication_id(0));
    }

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(split_addr("10.0.0.1:7000"), ("10.0.0.1", 7000));
        assert_eq!(split_addr("[::1]:7001"), ("::1", 7001));
        assert_eq!(split_addr("node-a:6379"), ("node-a", 6379));
        assert_eq!(split_addr("nohost"), ("nohost", 0));
    }

    #[test]
    fn slots_match_redis_cluster() {
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        // An empty first tag means no tag: the whole key is hashed, not "bar".
        assert_eq!(key_slot(b"foo{}{bar}"), 8363);
        assert_eq!(key_slot(b"123456789"), 0x31C3 & 0x3FFF);
        // Keys of sixteen bytes and more take the table's wide steps.
        assert_eq!(key_slot(b"key:000000012345"), 12533);
        assert_eq!(key_slot(b"a-much-longer-key-than-sixteen-bytes-xyz"), 3604);
        assert_eq!(key_slot(b"{user:1000:profile-with-a-long-tag}.x"), 2672);
    }
}
