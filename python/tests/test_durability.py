"""Durability through redis-py: what a client saw acknowledged survives SIGKILL.

The server is killed with SIGKILL (no shutdown path runs) and restarted on the same data
directory; every write redis-py got a reply for must be there, with its type and TTL.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis

from engram.server import EngramServer


@pytest.fixture
def durable(engram_factory) -> EngramServer:
    return engram_factory()


def test_acknowledged_writes_survive_sigkill(durable: EngramServer) -> None:
    r = durable.client(decode_responses=True)
    pipe = r.pipeline(transaction=False)
    for i in range(500):
        pipe.set(f"s:{i}", f"v{i}")
    pipe.rpush("list", *range(100))
    pipe.hset("hash", mapping={f"f{i}": i for i in range(50)})
    pipe.zadd("zset", {f"m{i}": i / 3 for i in range(50)})
    pipe.sadd("set", *[f"e{i}" for i in range(20)])
    pipe.xadd("stream", {"a": "1"}, id="1-1")
    pipe.set("ttl", "x", px=3_600_000)
    pipe.execute()
    for _ in range(25):
        r.incr("counter")
    ttl_deadline = r.pexpiretime("ttl")
    durable.crash()

    durable.restart()
    r = durable.client(decode_responses=True)
    assert r.dbsize() == 500 + 7
    assert [r.get(f"s:{i}") for i in range(500)] == [f"v{i}" for i in range(500)]
    assert r.lrange("list", 0, -1) == [str(i) for i in range(100)]
    assert r.hlen("hash") == 50 and r.hget("hash", "f49") == "49"
    assert r.zscore("zset", "m10") == 10 / 3  # exactly: scores round-trip bit for bit
    assert r.scard("set") == 20
    assert r.xrange("stream") == [("1-1", {"a": "1"})]
    assert r.get("counter") == "25"
    assert r.pexpiretime("ttl") == ttl_deadline


def test_transactions_are_all_or_nothing_across_a_crash(durable: EngramServer) -> None:
    """Concurrent MULTI/EXEC transfers between two counters: whatever the kill
    interrupts, the sum is invariant and every acknowledged transfer is counted."""
    r = durable.client()
    r.mset({"a": 1000, "b": 0})
    acked = [0]
    stop = threading.Event()

    def transfer() -> None:
        c = durable.client()
        while not stop.is_set():
            try:
                with c.pipeline(transaction=True) as p:
                    p.decrby("a", 1).incrby("b", 1).execute()
                acked[0] += 1
            except redis.ConnectionError:
                return

    workers = [threading.Thread(target=transfer) for _ in range(4)]
    for w in workers:
        w.start()
    deadline = time.monotonic() + 10
    while acked[0] < 200 and time.monotonic() < deadline:
        time.sleep(0.005)
    durable.crash()
    stop.set()
    for w in workers:
        w.join(timeout=10)
    assert acked[0] >= 200, "the transfers did not run"

    durable.restart()
    r = durable.client()
    a, b = int(r.get("a")), int(r.get("b"))
    assert a + b == 1000, (a, b)
    # Up to one transfer per worker may have been applied without its reply arriving.
    assert acked[0] <= b <= acked[0] + len(workers), (b, acked[0])


def test_persistence_commands_and_info(durable: EngramServer) -> None:
    r = durable.client(decode_responses=True)
    assert r.config_get("durability") == {"durability": "local"}
    info = r.info("persistence")
    assert info["loading"] == 0 and info["log_poisoned"] == 0
    assert info["durability"] == "local"
    r.set("k", "v")
    before = r.lastsave()
    time.sleep(1.05)  # LASTSAVE has one-second resolution
    assert r.save() is True
    assert r.lastsave() > before
    assert r.info("persistence")["rdb_changes_since_last_save"] == 0
    assert r.bgsave() is True  # "Background saving started"
    deadline = time.monotonic() + 10
    while r.info("persistence")["rdb_bgsave_in_progress"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert r.info("persistence")["rdb_last_bgsave_status"] == "ok"
    durable.crash()
    durable.restart()
    assert durable.client(decode_responses=True).get("k") == "v"


def test_durability_none_is_reported_and_survives_a_clean_stop(engram_factory) -> None:
    srv = engram_factory("--durability", "none")
    r = srv.client(decode_responses=True)
    assert r.config_get("durability") == {"durability": "none"}
    assert r.info("persistence")["durability"] == "none"
    r.set("cached", "yes")
    assert srv.stop() == 0
    srv.restart()
    assert srv.client(decode_responses=True).get("cached") == "yes"
