"""Many clients at once, each on its own connection and keys."""

from __future__ import annotations

import threading

import redis

THREADS = 32
OPS = 150


def test_many_concurrent_clients(engram_server):
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def worker(n: int) -> None:
        try:
            r = redis.Redis(port=engram_server.port, decode_responses=True, socket_timeout=30)
            barrier.wait(timeout=30)
            for i in range(OPS):
                key = f"client:{n}:key:{i}"
                assert r.set(key, f"{n}-{i}") is True
                assert r.get(key) == f"{n}-{i}"
            # Overwrite one shared-name-free key many times and read back the last write.
            for i in range(OPS):
                r.set(f"client:{n}:last", i)
            assert r.get(f"client:{n}:last") == str(OPS - 1)
            r.close()
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    assert errors == []

    r = redis.Redis(port=engram_server.port, decode_responses=True)
    keys = [f"client:{n}:key:{i}" for n in range(THREADS) for i in range(OPS)]
    assert r.exists(*keys) == len(keys)
    assert r.get(f"client:{THREADS - 1}:key:{OPS - 1}") == f"{THREADS - 1}-{OPS - 1}"


def test_concurrent_pipelines(engram_server):
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            r = redis.Redis(port=engram_server.port, decode_responses=True, socket_timeout=30)
            pipe = r.pipeline(transaction=False)
            for i in range(300):
                pipe.set(f"p:{n}:{i}", i)
                pipe.get(f"p:{n}:{i}")
            out = pipe.execute()
            assert out[1::2] == [str(i) for i in range(300)]
            r.close()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
