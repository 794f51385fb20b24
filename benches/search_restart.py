#!/usr/bin/env python3
"""How long a restart takes until vector search is back, side by side with the reference.

For each server: create an HNSW index (COSINE), ingest N random DIM-dim vectors with pipelined
HSET, wait until indexed, SAVE, stop the server (engram: SIGKILL, after SAVE; the reference:
SHUTDOWN NOSAVE after SAVE, so both restart from the snapshot they saved), start it again and
time (1) until it answers commands and (2) until FT.SEARCH sees every document with the index
fully built (num_docs == N, percent_indexed == 1) and a KNN query returns K results.

Usage: search_restart.py --engram-bin PATH --engram-port P --ref-port Q [--n 50000] [--dim 128]
Not a test: numbers are printed, nothing is asserted.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import redis

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../shared/peers/redis-stack.sh")


def info(r, index):
    raw = r.execute_command("FT.INFO", index)
    return {raw[i].decode() if isinstance(raw[i], bytes) else raw[i]: raw[i + 1] for i in range(0, len(raw) - 1, 2)}


def wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except redis.exceptions.ResponseError:
            pass
        except redis.exceptions.ConnectionError:
            pass
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def fully_indexed(r, n, query):
    i = info(r, "bench")
    pct = float(i["percent_indexed"])
    if int(i["num_docs"]) != n or pct < 1.0:
        return False
    res = r.execute_command("FT.SEARCH", "bench", "*=>[KNN 10 @v $q]", "PARAMS", 2, "q", query,
                            "NOCONTENT", "DIALECT", 2)
    return res[0] == 10


def load(r, vectors):
    r.execute_command("FT.CREATE", "bench", "ON", "HASH", "PREFIX", 1, "v:", "SCHEMA", "tag", "TAG", "v", "VECTOR",
                      "HNSW", 10, "TYPE", "FLOAT32", "DIM", vectors.shape[1], "DISTANCE_METRIC", "COSINE", "M", 16,
                      "EF_CONSTRUCTION", 200)
    started = time.monotonic()
    pipe = r.pipeline(transaction=False)
    for i, v in enumerate(vectors):
        pipe.hset(f"v:{i}", mapping={"v": v.tobytes(), "tag": f"t{i % 10}"})
        if i % 500 == 499:
            pipe.execute()
    pipe.execute()
    wait(lambda: fully_indexed(r, len(vectors), vectors[0].tobytes()), 3600, "the first build")
    return time.monotonic() - started


def measure_restart(start, stop, port, n, query):
    stop()
    t0 = time.monotonic()
    start()
    r = redis.Redis(port=port)
    wait(lambda: r.ping() and r.dbsize() == n, 3600, "the server to load")
    serving = time.monotonic() - t0
    wait(lambda: fully_indexed(r, n, query), 3600, "the index")
    return serving, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engram-bin", required=True)
    ap.add_argument("--engram-port", type=int, default=16451)
    ap.add_argument("--ref-port", type=int, default=16450)
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--skip-ref", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(64, args.dim)).astype(np.float32)
    vectors = (centers[rng.integers(0, 64, args.n)] + 0.3 * rng.normal(size=(args.n, args.dim))).astype(np.float32)
    query = vectors[0].tobytes()
    rows = []

    data = tempfile.mkdtemp(prefix="engram-restart-")
    proc = {}

    def start_engram():
        log = open(os.path.join(data, "server.log"), "ab")
        proc["p"] = subprocess.Popen([args.engram_bin, "--port", str(args.engram_port), "--dir", data],
                                     stdout=log, stderr=log)

    def stop_engram():
        proc["p"].send_signal(signal.SIGKILL)
        proc["p"].wait()

    try:
        start_engram()
        r = redis.Redis(port=args.engram_port)
        wait(lambda: r.ping(), 30, "engram to start")
        build = load(r, vectors)
        r.execute_command("SAVE")
        serving, ready = measure_restart(start_engram, stop_engram, args.engram_port, args.n, query)
        rows.append(("engram", build, serving, ready))
    finally:
        if "p" in proc:
            stop_engram()
        # Where the restart's time went, from the server's own log.
        try:
            for line in open(os.path.join(data, "server.log"), errors="replace"):
                if any(w in line for w in ("restored", "ready to accept", "loading the data")):
                    print("engram log:", line.rstrip()[-160:])
        except OSError:
            pass
        shutil.rmtree(data, ignore_errors=True)

    if not args.skip_ref:
        peer = [PEER]
        start_ref = lambda: subprocess.run(peer + ["start", str(args.ref_port)], check=True, capture_output=True)
        stop_ref = lambda: subprocess.run(peer + ["stop", str(args.ref_port)], check=False, capture_output=True)
        home = subprocess.run(peer + ["home"], check=True, capture_output=True, text=True).stdout.strip()
        rdb = os.path.join(home, "run", str(args.ref_port), "dump.rdb")
        if os.path.exists(rdb):
            os.remove(rdb)
        start_ref()
        try:
            r = redis.Redis(port=args.ref_port)
            r.flushall()
            build = load(r, vectors)
            r.execute_command("SAVE")
            serving, ready = measure_restart(start_ref, stop_ref, args.ref_port, args.n, query)
            rows.append(("reference", build, serving, ready))
        finally:
            r = redis.Redis(port=args.ref_port)
            try:
                r.flushall()
                r.execute_command("SAVE")
            except redis.exceptions.RedisError:
                pass
            stop_ref()

    print(f"\n{args.n} x {args.dim} vectors, HNSW M 16 EF_CONSTRUCTION 200, COSINE")
    print(f"{'server':<10} {'ingest+build s':>15} {'restart: serving s':>19} {'restart: search ready s':>24}")
    for name, build, serving, ready in rows:
        print(f"{name:<10} {build:>15.2f} {serving:>19.2f} {ready:>24.2f}")
    if len(rows) == 2:
        e, ref = rows
        print(f"ratio engram/reference: build {e[1] / ref[1]:.2f}x, search ready {e[3] / ref[3]:.3f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
