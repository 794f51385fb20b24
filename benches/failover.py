#!/usr/bin/env python3
"""Failover time of a 3-node shard (not a test): a client writes in a loop to whoever is
primary; the primary is killed with SIGKILL; the time from the kill to the first write
acknowledged by the new primary is recorded. Repeated ROUNDS times, the killed node
restarting as a replica each time.

    .venv/bin/python benches/failover.py [--rounds 10] [--election-ms 500] [--heartbeat-ms 100]

Uses the release binary (``CARGO_TARGET_DIR`` or ``target``), ports BASE_PORT..+2
(default 7690) and their bus ports (+10000). Prints each round and the median / max.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--election-ms", type=int, default=500)
    ap.add_argument("--heartbeat-ms", type=int, default=100)
    ap.add_argument("--base-port", type=int, default=int(os.environ.get("BASE_PORT", "7690")))
    args = ap.parse_args()
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if not target.is_absolute():
        target = ROOT / target
    binary = target / "release" / "engram-server"
    ports = [args.base_port + i for i in range(3)]
    peers = ",".join(f"127.0.0.1:{p}" for p in ports)
    work = Path(tempfile.mkdtemp(prefix="engram-failover-"))
    procs: dict[int, subprocess.Popen] = {}

    def start(i: int) -> None:
        d = work / f"n{i + 1}"
        d.mkdir(exist_ok=True)
        log = open(d / "server.log", "ab")
        procs[i] = subprocess.Popen(
            [str(binary), "--port", str(ports[i]), "--dir", str(d), "--node-id", str(i + 1),
             "--cluster-peers", peers, "--raft-heartbeat-ms", str(args.heartbeat_ms),
             "--raft-election-timeout-ms", str(args.election_ms)],
            stdout=log, stderr=subprocess.STDOUT,
        )

    def leader() -> int | None:
        for i, p in enumerate(ports):
            if procs.get(i) is None or procs[i].poll() is not None:
                continue
            try:
                with redis.Redis(port=p, socket_timeout=1) as r:
                    if r.execute_command("ROLE")[0] in (b"master", "master"):
                        return i
            except redis.RedisError:
                pass
        return None

    def write_until_ok(deadline: float, n: int) -> float:
        """Writes to the primary (whoever it is) until one is acknowledged."""
        while time.monotonic() < deadline:
            i = leader()
            if i is not None:
                try:
                    with redis.Redis(port=ports[i], socket_timeout=2) as r:
                        r.set("failover", n)
                        return time.monotonic()
                except redis.RedisError:
                    pass
            time.sleep(0.005)
        raise SystemExit("no write was acknowledged within the deadline")

    times = []
    try:
        for i in range(3):
            start(i)
        write_until_ok(time.monotonic() + 30, 0)
        for rnd in range(args.rounds):
            old = leader()
            assert old is not None
            with redis.Redis(port=ports[old]) as r:
                for k in range(200):
                    r.incr("counter")
            procs[old].send_signal(signal.SIGKILL)
            procs[old].wait()
            killed = time.monotonic()
            done = write_until_ok(killed + 30, rnd + 1)
            took = done - killed
            times.append(took)
            print(f"round {rnd}: killed node {old + 1}; first acknowledged write after {took * 1000:.0f} ms", flush=True)
            start(old)
        counts = []
        time.sleep(0.5)
        for p in ports:
            with redis.Redis(port=p) as r:
                counts.append(int(r.get("counter") or 0))
        print(f"counter on each node: {counts} (expected {200 * args.rounds})")
        print(f"failover (kill -> first acknowledged write), {args.rounds} rounds, election timeout "
              f"{args.election_ms}-{2 * args.election_ms} ms, heartbeat {args.heartbeat_ms} ms: "
              f"median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms")
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
