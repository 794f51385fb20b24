"""Durable session store: one hash per session with a sliding TTL, surviving ``kill -9``.

A web app keeps each login session in a hash ``session:<id>`` (user, roles, cart size,
last page). Every request touches the session and pushes its expiry forward (a sliding
TTL); idle sessions expire on their own. With Engram an acknowledged write is on disk, so
a crash of the server logs nobody out, and expiry deadlines survive too.

Run it (starts its own engram-server in a temporary directory, kills it with SIGKILL,
restarts it on the same data and checks every session)::

    cargo build --bin engram-server
    python examples/recipes/session_store.py

``--url redis://host:port`` runs the store part against a server you started instead
(the crash step is skipped: it only kills servers it started).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from typing import Optional

import redis

SESSION_TTL_S = 30 * 60


class SessionStore:
    """Sessions as hashes with a sliding expiry."""

    def __init__(self, client: redis.Redis, ttl_s: int = SESSION_TTL_S, prefix: str = "session:"):
        self.r = client
        self.ttl_s = ttl_s
        self.prefix = prefix

    def create(self, user: str, **data) -> str:
        sid = secrets.token_urlsafe(16)
        key = self.prefix + sid
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(key, mapping={"user": user, "created_ms": int(time.time() * 1000), **data})
        pipe.expire(key, self.ttl_s)
        pipe.execute()
        return sid

    def touch(self, sid: str, **changes) -> Optional[dict]:
        """Records a request: updates fields, slides the expiry; None if the session is gone."""
        key = self.prefix + sid
        pipe = self.r.pipeline(transaction=True)
        pipe.exists(key)
        if changes:
            pipe.hset(key, mapping=changes)
        pipe.expire(key, self.ttl_s)
        pipe.hgetall(key)
        exists, *rest = pipe.execute()
        if not exists:
            # HSET on a missing key created it; an expired session must stay gone.
            self.r.delete(key)
            return None
        return rest[-1]

    def get(self, sid: str) -> Optional[dict]:
        return self.r.hgetall(self.prefix + sid) or None

    def ttl(self, sid: str) -> int:
        return self.r.ttl(self.prefix + sid)

    def destroy(self, sid: str) -> bool:
        return self.r.delete(self.prefix + sid) == 1

    def count(self) -> int:
        return sum(1 for _ in self.r.scan_iter(match=self.prefix + "*", count=1000))


def populate(store: SessionStore, users: int = 50) -> dict:
    """Creates sessions, touches some, logs one out; returns what must be there afterwards."""
    expected = {}
    for i in range(users):
        sid = store.create(f"user{i}", roles="reader" if i % 3 else "admin", cart="0")
        expected[sid] = {"user": f"user{i}", "roles": "reader" if i % 3 else "admin", "cart": "0"}
    for n, sid in enumerate(list(expected)[:10]):
        store.touch(sid, cart=str(n + 1), last_page=f"/item/{n}")
        expected[sid].update(cart=str(n + 1), last_page=f"/item/{n}")
    gone = list(expected)[-1]
    store.destroy(gone)
    del expected[gone]
    # A session that must expire while the server is down.
    short = store.create("visitor")
    store.r.pexpire(store.prefix + short, 200)
    return {"sessions": expected, "short_lived": short}


def verify(store: SessionStore, state: dict, deadline_s: float = 5.0) -> None:
    for sid, fields in state["sessions"].items():
        got = store.get(sid)
        assert got is not None, f"session {sid} lost"
        for k, v in fields.items():
            assert got[k] == v, f"session {sid}: {k}={got.get(k)!r}, expected {v!r}"
        assert 0 < store.ttl(sid) <= store.ttl_s, f"session {sid} lost its TTL"
    # Expired keys are gone once their deadline passed (poll: expiry is lazy and active).
    end = time.monotonic() + deadline_s
    while store.get(state["short_lived"]) is not None:
        assert time.monotonic() < end, "the short-lived session did not expire"
        time.sleep(0.02)
    assert store.count() == len(state["sessions"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="use this server (no crash demo)")
    args = parser.parse_args(argv)

    if args.url:
        store = SessionStore(redis.Redis.from_url(args.url, decode_responses=True))
        state = populate(store)
        verify(store, state)
        print(f"{len(state['sessions'])} sessions stored and read back at {args.url}")
        return 0

    from engram.server import EngramServer  # noqa: PLC0415

    with EngramServer() as server:
        store = SessionStore(server.client(decode_responses=True))
        state = populate(store)
        print(f"stored {len(state['sessions'])} sessions (TTL {store.ttl_s} s) on port {server.port}")
        server.crash()
        print(f"killed engram-server with SIGKILL; restarting on {server.data_dir}")
        server.restart()
        store = SessionStore(server.client(decode_responses=True))
        verify(store, state)
        sid = next(iter(state["sessions"]))
        print(f"after the crash: {store.count()} sessions, e.g. {sid[:8]}... = {store.get(sid)}, "
              f"TTL {store.ttl(sid)} s; the short-lived one expired as due")
    return 0


if __name__ == "__main__":
    sys.exit(main())
