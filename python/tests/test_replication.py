"""Replicated shards through real clients: redis-py's ``RedisCluster`` finds the primary
and the replicas of a 3-node shard started with ``--cluster-enabled yes``, follows a
failover after SIGKILL, and plain ``redis.Redis`` sees Redis's replica behaviour."""

from __future__ import annotations

import socket
import time

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

from engram.server import EngramServer, free_port

FAST_RAFT = ["--raft-heartbeat-ms", "50", "--raft-election-timeout-ms", "300"]


def shard_port() -> int:
    """A free port whose cluster bus port (+10000) is free too."""
    while True:
        port = free_port()
        if port > 55000:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


class Shard:
    def __init__(self, size: int, extra: list[str]) -> None:
        self.ports = [shard_port() for _ in range(size)]
        peers = ",".join(f"127.0.0.1:{p}" for p in self.ports)
        self.nodes = [
            EngramServer(
                ["--node-id", str(i + 1), "--cluster-peers", peers, *FAST_RAFT, *extra],
                port=port,
                start_timeout=30,
            )
            for i, port in enumerate(self.ports)
        ]
        for node in self.nodes:
            node.start()

    def role(self, port: int) -> str | None:
        try:
            with redis.Redis(port=port, socket_timeout=2, decode_responses=True) as r:
                return r.execute_command("ROLE")[0]
        except redis.RedisError:
            return None

    def leader(self, timeout: float = 20) -> int:
        """The index of the node that says it is master, once it takes writes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, port in enumerate(self.ports):
                if self.nodes[i].is_running() and self.role(port) == "master":
                    try:
                        with redis.Redis(port=port, socket_timeout=2) as r:
                            r.set("__probe", 1)
                        return i
                    except redis.RedisError:
                        pass
            time.sleep(0.02)
        raise AssertionError("no leader")

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()


@pytest.fixture
def cluster_shard():
    shard = Shard(3, ["--cluster-enabled", "yes"])
    yield shard
    shard.cleanup()


@pytest.fixture
def plain_shard():
    shard = Shard(3, [])
    yield shard
    shard.cleanup()


def test_redis_cluster_client_finds_the_primary_and_replicas(cluster_shard):
    leader = cluster_shard.leader()
    rc = RedisCluster(host="127.0.0.1", port=cluster_shard.ports[(leader + 1) % 3], decode_responses=True)
    try:
        primary = rc.get_node_from_key("foo", replica=False)
        assert primary.port == cluster_shard.ports[leader]
        replicas = [n for n in rc.get_nodes() if n.server_type == "replica"]
        assert sorted(n.port for n in replicas) == sorted(
            p for i, p in enumerate(cluster_shard.ports) if i != leader
        )
        for i in range(100):
            assert rc.set(f"key:{i}", i)
        assert rc.get("key:42") == "42"
        assert rc.incr("counter") == 1
    finally:
        rc.close()


def test_redis_cluster_reads_from_replicas_see_the_writes(cluster_shard):
    leader = cluster_shard.leader()
    rc = RedisCluster(
        host="127.0.0.1", port=cluster_shard.ports[leader], decode_responses=True
    )
    try:
        rc.set("shared", "v")
        deadline = time.monotonic() + 10
        seen = set()
        while time.monotonic() < deadline and len(seen) < 2:
            for replica in (n for n in rc.get_nodes() if n.server_type == "replica"):
                client = rc.get_redis_connection(replica)
                client.execute_command("READONLY")
                if client.get("shared") == "v":
                    seen.add(replica.port)
            time.sleep(0.01)
        assert len(seen) == 2, "both replicas serve the write after READONLY"
    finally:
        rc.close()


def test_redis_cluster_follows_a_failover(cluster_shard):
    leader = cluster_shard.leader()
    survivor = cluster_shard.ports[(leader + 1) % 3]
    rc = RedisCluster(
        port=survivor,
        decode_responses=True,
        startup_nodes=[ClusterNode("127.0.0.1", p) for p in cluster_shard.ports],
    )
    try:
        for i in range(50):
            rc.set(f"before:{i}", i)
        cluster_shard.nodes[leader].crash()
        killed = time.monotonic()
        deadline = killed + 30
        while True:
            try:
                rc.set("after", "1")
                break
            except redis.RedisError:
                assert time.monotonic() < deadline, "RedisCluster never reached the new primary"
                time.sleep(0.05)
        for i in range(50):
            assert rc.get(f"before:{i}") == str(i)
        assert rc.get("after") == "1"
        new_leader = cluster_shard.leader()
        assert new_leader != leader
    finally:
        rc.close()


def test_plain_clients_see_replica_semantics(plain_shard):
    leader = plain_shard.leader()
    replica_port = plain_shard.ports[(leader + 1) % 3]
    primary = redis.Redis(port=plain_shard.ports[leader], decode_responses=True)
    replica = redis.Redis(port=replica_port, decode_responses=True)
    try:
        assert primary.config_get("durability") == {"durability": "quorum"}
        primary.set("k", "v")
        assert primary.wait(2, 2000) == 2
        with pytest.raises(redis.ReadOnlyError):
            replica.set("k", "x")
        deadline = time.monotonic() + 10
        while replica.get("k") != "v":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        info = replica.info("replication")
        assert info["role"] == "slave"
        assert info["master_port"] == plain_shard.ports[leader]
        info = primary.info("replication")
        assert info["role"] == "master" and info["connected_slaves"] == 2
        with pytest.raises(redis.ResponseError, match="WAIT cannot be used with replica"):
            replica.wait(1, 10)
    finally:
        primary.close()
        replica.close()


def test_a_shard_starts_from_config_files(tmp_path):
    ports = [shard_port() for _ in range(3)]
    peers = ",".join(f"127.0.0.1:{p}" for p in ports)
    nodes = []
    try:
        for i, port in enumerate(ports):
            conf = tmp_path / f"n{i + 1}.conf"
            conf.write_text(
                f"# node {i + 1}\nnode-id {i + 1}\ncluster-peers {peers}\n"
                "raft-heartbeat-ms 50\nraft-election-timeout-ms 300\n"
            )
            nodes.append(EngramServer([], port=port, config_file=conf, start_timeout=30).start())
        deadline = time.monotonic() + 20
        roles = []
        while time.monotonic() < deadline:
            roles = []
            for p in ports:
                with redis.Redis(port=p, decode_responses=True) as r:
                    roles.append(r.execute_command("ROLE")[0])
            if sorted(roles) == ["master", "slave", "slave"]:
                break
            time.sleep(0.02)
        assert sorted(roles) == ["master", "slave", "slave"], roles
        with redis.Redis(port=ports[0], decode_responses=True) as r:
            assert r.config_get("node-id") == {"node-id": "1"}
            assert r.config_get("cluster-peers") == {"cluster-peers": peers}
    finally:
        for n in nodes:
            n.cleanup()
