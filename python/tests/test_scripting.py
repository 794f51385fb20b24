"""Lua scripting and functions (EVAL, EVALSHA, SCRIPT, FUNCTION, FCALL) through redis-py.

What users bring from Redis: redis-py's ``Lock`` (its release / extend / reacquire are Lua
scripts), a token-bucket rate limiter, cjson / cmsgpack / bit / struct, RESP2 and RESP3 reply
conversions, script errors, SCRIPT KILL under -BUSY, and scripts as durable, deterministic
writes (engram only).

Every expectation here was taken from Redis 7.4. To check the tests themselves against a
reference server, point them at it (its data, functions and scripts are flushed before every
test, so use a dedicated instance, never a shared one)::

    ENGRAM_SCRIPT_TARGET_PORT=16401 python -m pytest python/tests/test_scripting.py

``ENGRAM_SCRIPT_SPARE_PORT`` (default 16402) is where the unkillable-script test starts its
own reference server in that mode (it has to be shut down). Engram-only tests (crash and
restart) are skipped there.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import shutil
import socket
import subprocess
import threading
import time
from typing import Callable, Optional

import pytest
import redis
from redis.backoff import NoBackoff
from redis.exceptions import LockError, LockNotOwnedError, NoScriptError
from redis.retry import Retry

from engram.server import EngramServer

TARGET_PORT = int(os.environ.get("ENGRAM_SCRIPT_TARGET_PORT", "0") or 0)
ON_REFERENCE = TARGET_PORT != 0
SPARE_PORT = int(os.environ.get("ENGRAM_SCRIPT_SPARE_PORT", "16402"))
PEERS = os.environ.get("PEERS", "/work/shared/peers/redis-stack.sh")

engram_only = pytest.mark.skipif(ON_REFERENCE, reason="crash/restart needs an engram server")


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition"):
    """Polls ``predicate`` until it returns something truthy; fails the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


class Target:
    """The server under test: a fresh engram-server, or the reference when requested."""

    def __init__(self, port: int, server: Optional[EngramServer]) -> None:
        self.port = port
        self.server = server
        self._clients: list[redis.Redis] = []

    def client(self, **kwargs) -> redis.Redis:
        c = redis.Redis(host="127.0.0.1", port=self.port, **kwargs)
        self._clients.append(c)
        return c

    def close(self) -> None:
        for c in self._clients:
            try:
                c.close()
            except Exception:
                pass


def _reset_reference(port: int) -> None:
    c = redis.Redis(host="127.0.0.1", port=port)
    try:
        c.execute_command("SCRIPT", "KILL")
    except redis.ResponseError:
        pass
    c.flushall()
    c.function_flush()
    c.script_flush()
    c.config_set("busy-reply-threshold", 5000)
    c.close()


@pytest.fixture
def target(request):
    if ON_REFERENCE:
        _reset_reference(TARGET_PORT)
        t = Target(TARGET_PORT, None)
        yield t
        t.close()
        _reset_reference(TARGET_PORT)
    else:
        srv: EngramServer = request.getfixturevalue("engram_server")
        t = Target(srv.port, srv)
        yield t
        t.close()


@pytest.fixture
def r(target) -> redis.Redis:
    return target.client(decode_responses=True)


@pytest.fixture
def rb(target) -> redis.Redis:
    return target.client()


# --------------------------------------------------------------------------------------
# Raw RESP: byte-exact replies (status vs bulk, RESP3 types redis-py folds together)
# --------------------------------------------------------------------------------------


def encode_command(*args) -> bytes:
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


class RawConn:
    """One raw connection; ``call`` returns the exact bytes of one reply (RESP2 or RESP3)."""

    def __init__(self, port: int, proto: int = 2) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if proto == 3:
            hello = self.call("HELLO", "3")
            assert hello.startswith(b"%"), hello

    def call(self, *args) -> bytes:
        # A PING after the command marks the end of its reply (+PONG in both protocols).
        self.sock.sendall(encode_command(*args) + encode_command("PING"))
        out = b""
        deadline = time.monotonic() + 10
        while not out.endswith(b"+PONG\r\n") and time.monotonic() < deadline:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            out += chunk
        assert out.endswith(b"+PONG\r\n"), out
        return out[: -len(b"+PONG\r\n")]

    def close(self) -> None:
        self.sock.close()


# --------------------------------------------------------------------------------------
# 1. redis-py Lock
# --------------------------------------------------------------------------------------


def test_lock_acquire_release_owned(r):
    lock = r.lock("lock:a", timeout=10, blocking_timeout=1)
    assert not lock.locked()
    assert lock.acquire()
    assert lock.locked() and lock.owned()
    assert r.get("lock:a") == lock.local.token.decode()
    assert 9000 < r.pttl("lock:a") <= 10000
    # A second lock object on the same name cannot take it.
    other = r.lock("lock:a", timeout=10, blocking_timeout=0.1)
    assert other.acquire() is False
    assert not other.owned()
    lock.release()  # the release script (GET == token then DEL)
    assert r.exists("lock:a") == 0
    assert not lock.locked() and not lock.owned()
    assert other.acquire()
    assert other.owned() and not lock.owned()
    other.release()
    with pytest.raises(LockError):
        other.release()  # no token held locally any more


def test_lock_extend_and_reacquire(r):
    lock = r.lock("lock:ext", timeout=2)
    assert lock.acquire(blocking=False)
    assert lock.extend(10)  # adds to the remaining TTL
    assert 10_000 < r.pttl("lock:ext") <= 12_000
    assert lock.extend(5, replace_ttl=True)
    assert 4_000 < r.pttl("lock:ext") <= 5_000
    assert lock.reacquire()  # resets the TTL to the lock's timeout
    assert 1_000 < r.pttl("lock:ext") <= 2_000
    assert lock.owned()
    lock.release()
    assert r.exists("lock:ext") == 0


def test_lock_release_by_non_owner_raises(r):
    lock = r.lock("lock:b", timeout=10)
    assert lock.acquire(blocking=False)
    intruder = r.lock("lock:b", timeout=10)
    intruder.local.token = b"not-the-owner"
    with pytest.raises(LockNotOwnedError):
        intruder.release()
    intruder.local.token = b"not-the-owner"  # release() dropped it
    with pytest.raises(LockNotOwnedError):
        intruder.extend(5)
    with pytest.raises(LockNotOwnedError):
        intruder.reacquire()
    assert not intruder.owned()
    # The owner's lock is untouched by the failed scripts.
    assert r.get("lock:b") == lock.local.token.decode()
    assert 9_000 < r.pttl("lock:b") <= 10_000
    lock.release()


def test_lock_expired_then_taken_over(r):
    first = r.lock("lock:c", timeout=0.2)
    assert first.acquire(blocking=False)
    wait_for(lambda: r.exists("lock:c") == 0, what="the lock's PX to expire")
    second = r.lock("lock:c", timeout=10)
    assert second.acquire(blocking=False)
    token = first.local.token
    with pytest.raises(LockNotOwnedError):
        first.release()
    first.local.token = token  # release() dropped it
    with pytest.raises(LockNotOwnedError):
        first.extend(1)
    assert second.owned()
    assert r.get("lock:c") == second.local.token.decode()
    second.release()


def _lock_worker(port: int, rounds: int) -> None:
    c = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(rounds):
        lock = c.lock("lock:counter", timeout=10, sleep=0.001, blocking_timeout=30)
        if not lock.acquire():
            raise SystemExit(3)
        try:
            value = int(c.get("counter") or 0)
            c.set("counter", value + 1)  # lost updates if the lock does not exclude
        finally:
            lock.release()
    c.close()


def test_lock_contention_from_processes(target, r):
    procs, rounds = 4, 50
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_lock_worker, args=(target.port, rounds)) for _ in range(procs)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=45)
    codes = [w.exitcode for w in workers]
    for w in workers:
        if w.is_alive():
            w.kill()
    assert codes == [0] * procs
    assert r.get("counter") == str(procs * rounds)
    assert r.exists("lock:counter") == 0


# --------------------------------------------------------------------------------------
# 2. Token bucket rate limiter
# --------------------------------------------------------------------------------------

# Tokens are counted in thousandths so that all arithmetic is on integers.
TOKEN_BUCKET = """
local key = KEYS[1]
local rate = tonumber(ARGV[1])          -- tokens per second
local capacity = tonumber(ARGV[2]) * 1000
local now = tonumber(ARGV[3])           -- milliseconds
local requested = tonumber(ARGV[4]) * 1000
local state = redis.call('HMGET', key, 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then
  tokens = capacity
  ts = now
end
local elapsed = math.max(0, now - ts)
tokens = math.min(capacity, tokens + elapsed * rate)
local allowed = 0
if tokens >= requested then
  tokens = tokens - requested
  allowed = 1
end
redis.call('HSET', key, 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', key, math.ceil(capacity / rate) * 2)
return {allowed, tokens}
"""


def token_bucket_model(rate, capacity, calls):
    tokens, ts, out = None, None, []
    for now, requested in calls:
        if tokens is None:
            tokens, ts = capacity * 1000, now
        tokens = min(capacity * 1000, tokens + max(0, now - ts) * rate)
        allowed = 0
        if tokens >= requested * 1000:
            tokens -= requested * 1000
            allowed = 1
        ts = now
        out.append([allowed, tokens])
    return out


def test_token_bucket_rate_limiter(r):
    limiter = r.register_script(TOKEN_BUCKET)
    assert limiter.sha == sha1(TOKEN_BUCKET)
    rate, capacity = 10, 10  # 10 tokens/s, burst of 10
    calls = [(1_000_000, 1)] * 15  # a burst: 10 pass, 5 are denied
    calls += [(1_000_250, 1)] * 3  # 2.5 tokens came back: 2 pass
    calls += [(1_000_300, 1)]  # 0.5 + 0.5 = 1 token: passes
    calls += [(1_000_300, 3), (1_001_000, 3), (1_001_000, 5)]  # 0 -> deny; 7 -> ok; 4 -> deny
    calls += [(1_000_900, 1)]  # a clock going backwards adds nothing: 4 tokens -> ok
    calls += [(1_100_000, 11), (1_100_000, 10)]  # never more than capacity
    rng = random.Random(7)
    now = 1_200_000
    for _ in range(200):
        now += rng.choice([0, 0, 10, 50, 100, 333])
        calls.append((now, rng.choice([1, 1, 1, 2, 5])))
    got = [limiter(keys=["bucket:user1"], args=[rate, capacity, now_, req]) for now_, req in calls]
    expected = token_bucket_model(rate, capacity, calls)
    assert got[:15] == [[1, 9000 - i * 1000] for i in range(10)] + [[0, 0]] * 5
    assert got == expected
    allowed = sum(a for a, _ in got)
    assert 0 < allowed < len(calls)
    assert r.hget("bucket:user1", "ts") == str(calls[-1][0])
    assert 0 < r.pttl("bucket:user1") <= 2000
    # After SCRIPT FLUSH the EVALSHA gets NOSCRIPT and redis-py falls back to loading it.
    r.script_flush()
    assert r.script_exists(limiter.sha) == [False]
    assert limiter(keys=["bucket:other"], args=[rate, capacity, 5, 4]) == [1, 6000]
    assert r.script_exists(limiter.sha) == [True]
    # Buckets are independent keys.
    assert limiter(keys=["bucket:other"], args=[rate, capacity, 5, 7]) == [0, 6000]


# --------------------------------------------------------------------------------------
# 3. cjson, cmsgpack, bit, struct
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc",
    [
        {"a": [1, 2, {"b": None}], "c": True, "d": False},
        [1, 2.5, "x", {"nested": {"deep": ["é", "\u263a"]}}],
        {"n": -12345678, "f": 0.125, "s": "quote\" back\\slash \n newline"},
        "just a string",
        42,
    ],
)
def test_cjson_round_trip(r, doc):
    text = json.dumps(doc)
    out = r.eval("return cjson.encode(cjson.decode(ARGV[1]))", 0, text)
    assert json.loads(out) == doc


def test_cjson_values(r):
    assert r.eval("return cjson.encode({1, 2.5, 'x'})", 0) == '[1,2.5,"x"]'
    assert r.eval("return cjson.encode(3.14)", 0) == "3.14"
    assert r.eval("return cjson.encode(cjson.decode('{\"a\":null}'))", 0) == '{"a":null}'
    assert r.eval("return cjson.encode({})", 0) == "{}"  # an empty table is an object
    assert r.eval("return cjson.encode(cjson.decode('[]'))", 0) == "{}"
    doc = json.dumps({"name": "engram", "tags": ["db", "lua"], "n": 7})
    script = "local t = cjson.decode(ARGV[1]) return {t.name, t.tags[2], t.n + 1, type(t.tags)}"
    assert r.eval(script, 0, doc) == ["engram", "lua", 8, "table"]
    assert r.eval("return cjson.decode(ARGV[1]) == cjson.null and 1 or 0", 0, "null") == 1
    with pytest.raises(redis.ResponseError) as e:
        r.eval("return cjson.decode('[')", 0)
    assert "Expected value but found T_END" in str(e.value)


def test_cmsgpack(rb):
    assert rb.eval("return cmsgpack.pack(1.5)", 0) == b"\xca\x3f\xc0\x00\x00"
    assert rb.eval("return cmsgpack.pack({1, 2, 3}, 'abc')", 0) == b"\x93\x01\x02\x03\xa3abc"
    assert rb.eval("return cmsgpack.pack(-1)", 0) == b"\xff"
    assert rb.eval("return cmsgpack.pack(300)", 0) == b"\xcd\x01\x2c"
    assert rb.eval("return cmsgpack.pack(true, false)", 0) == b"\xc3\xc2"
    script = """
local a, b = cmsgpack.unpack(cmsgpack.pack({1, 2, {x = 'y'}}, 'str'))
return {a[1], a[2], a[3].x, b}
"""
    assert rb.eval(script, 0) == [1, 2, b"y", b"str"]
    # A msgpack map {"k": [1, 2]} built by hand, decoded in the script.
    script = "local t = cmsgpack.unpack(ARGV[1]) return {t.k[1], t.k[2], #t.k}"
    assert rb.eval(script, 0, b"\x81\xa1k\x92\x01\x02") == [1, 2, 2]
    # Binary strings survive.
    blob = bytes(range(256))
    assert rb.eval("return cmsgpack.unpack(cmsgpack.pack(ARGV[1]))", 0, blob) == blob


def test_bit_and_struct(rb):
    script = """
return {bit.band(0xff, 0x0f), bit.bor(1, 2), bit.bxor(5, 3), bit.lshift(1, 10),
        bit.rshift(-1, 28), bit.tohex(255), bit.bnot(0), bit.arshift(-256, 4)}
"""
    assert rb.eval(script, 0) == [15, 3, 6, 1024, 15, b"000000ff", -1, -16]
    assert rb.eval("return struct.pack('>I2i4', 258, -2)", 0) == b"\x01\x02\xff\xff\xff\xfe"
    assert rb.eval("return {struct.unpack('<HH', ARGV[1])}", 0, b"\x01\x00\x02\x00") == [1, 2, 5]
    assert rb.eval("return struct.size('>i4I2')", 0) == 6
    assert rb.eval("return redis.sha1hex('')", 0) == b"da39a3ee5e6b4b0d3255bfef95601890afd80709"
    assert rb.eval("return redis.sha1hex(ARGV[1])", 0, "abc") == sha1("abc").encode()


def test_string_math_table_libraries(r):
    script = """
return {string.format('%05.1f', 3.14159), string.rep('ab', 3), string.upper('x'),
        table.concat({'a', 'b', 'c'}, '-'), math.floor(7.9), math.max(3, 9, 2),
        tostring(math.huge), #ARGV, string.len(ARGV[1])}
"""
    assert r.eval(script, 0, "héllo") == ["003.1", "ababab", "X", "a-b-c", 7, 9, "inf", 1, 6]


def test_sandbox_has_no_os_io_loadfile(r):
    for name in ("io", "loadfile", "dofile", "require", "module", "print"):
        with pytest.raises(redis.ResponseError) as e:
            r.eval(f"return type({name})", 0)
        assert f"nonexistent global variable '{name}'" in str(e.value)
    # os has only os.clock.
    script = "return {type(os), type(os.clock), type(os.execute), type(os.exit), type(os.getenv)}"
    assert r.eval(script, 0) == ["table", "function", "nil", "nil", "nil"]
    for name in ("pcall", "unpack", "loadstring", "setmetatable", "rawget", "tonumber"):
        assert r.eval(f"return type({name})", 0) == "function", name
    # Standard libraries are read-only.
    with pytest.raises(redis.ResponseError) as e:
        r.eval("string.upper = nil return 1", 0)
    assert "Attempt to modify a readonly table" in str(e.value)


# --------------------------------------------------------------------------------------
# 4. Reply conversions, RESP2 and RESP3
# --------------------------------------------------------------------------------------

# (script, protocol, exact reply bytes) as Redis 7.4 answers.
REPLIES = [
    ("return {ok='FINE'}", 2, b"+FINE\r\n"),
    ("return {err='My Error'}", 2, b"-My Error\r\n"),
    ("return redis.error_reply('MYCODE bad thing')", 2, b"-MYCODE bad thing\r\n"),
    ("return redis.status_reply('GOOD')", 2, b"+GOOD\r\n"),
    ("return true", 2, b":1\r\n"),
    ("return false", 2, b"$-1\r\n"),
    ("return nil", 2, b"$-1\r\n"),
    ("return 3.99", 2, b":3\r\n"),
    ("return -3.99", 2, b":-3\r\n"),
    ("return '3.99'", 2, b"$4\r\n3.99\r\n"),
    ("return {1, 2, nil, 4}", 2, b"*2\r\n:1\r\n:2\r\n"),
    ("return {1, {2, 'x'}, {ok='OK'}}", 2, b"*3\r\n:1\r\n*2\r\n:2\r\n$1\r\nx\r\n+OK\r\n"),
    ("return {double=3.14}", 2, b"$4\r\n3.14\r\n"),
    ("return {map={a=1}}", 2, b"*2\r\n$1\r\na\r\n:1\r\n"),
    ("return {set={a=true}}", 2, b"*1\r\n$1\r\na\r\n"),
    ("return {big_number='123'}", 2, b"$3\r\n123\r\n"),
    ("redis.setresp(3) return true", 2, b":1\r\n"),
    ("redis.setresp(3) return false", 2, b":0\r\n"),
    ("redis.setresp(3) return {1, true, false}", 2, b"*3\r\n:1\r\n:1\r\n:0\r\n"),
    ("return redis.call('hgetall', 'h')", 2, b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
    ("redis.setresp(3) return redis.call('hgetall', 'h')", 2, b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
    ("return type(redis.call('get', 'nope'))", 2, b"$7\r\nboolean\r\n"),
    ("redis.setresp(3) return type(redis.call('get', 'nope'))", 2, b"$3\r\nnil\r\n"),
    ("return {ok='FINE'}", 3, b"+FINE\r\n"),
    ("return {err='My Error'}", 3, b"-My Error\r\n"),
    ("return true", 3, b":1\r\n"),
    ("return false", 3, b"_\r\n"),
    ("return nil", 3, b"_\r\n"),
    ("return 3.99", 3, b":3\r\n"),
    ("return {double=3.14}", 3, b",3.14\r\n"),
    ("return {map={a=1}}", 3, b"%1\r\n$1\r\na\r\n:1\r\n"),
    ("return {set={a=true}}", 3, b"~1\r\n$1\r\na\r\n"),
    ("return {big_number='123'}", 3, b"(123\r\n"),
    ("redis.setresp(3) return true", 3, b"#t\r\n"),
    ("redis.setresp(3) return false", 3, b"#f\r\n"),
    ("redis.setresp(3) return nil", 3, b"_\r\n"),
    ("redis.setresp(3) return {1, true, false}", 3, b"*3\r\n:1\r\n#t\r\n#f\r\n"),
    ("return redis.call('hgetall', 'h')", 3, b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
    ("redis.setresp(3) return redis.call('hgetall', 'h')", 3, b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n"),
    ("redis.setresp(3) return redis.call('hget', 'h', 'nope')", 3, b"_\r\n"),
]


@pytest.mark.parametrize("script,proto,expected", REPLIES, ids=lambda v: str(v)[:40])
def test_reply_bytes(target, r, script, proto, expected):
    r.hset("h", "f", "v")
    conn = RawConn(target.port, proto)
    try:
        assert conn.call("EVAL", script, "0") == expected
    finally:
        conn.close()


def test_resp3_client_types(target, r):
    r.hset("h", "f", "v")
    r3 = target.client(protocol=3, decode_responses=True)
    assert r3.eval("redis.setresp(3) return {map={a=1}}", 0) == {"a": 1}
    assert sorted(r3.eval("return {set={x=true, y=true}}", 0)) == ["x", "y"]
    assert r3.eval("return {double=3.14}", 0) == 3.14
    assert r3.eval("redis.setresp(3) return true", 0) is True
    assert r3.eval("redis.setresp(3) return false", 0) is False
    assert r3.eval("return nil", 0) is None
    script = "redis.setresp(3) local t = redis.call('hgetall', KEYS[1]) return t.map.f"
    assert r3.eval(script, 1, "h") == "v"
    assert r3.eval("redis.setresp(3) return redis.call('hgetall', KEYS[1])", 1, "h") == {"f": "v"}
    # The client's protocol decides the shape: a RESP2 client gets a flat array.
    assert r.eval("return {map={a=1}}", 0) == ["a", 1]
    assert r.eval("return {double=3.14}", 0) == "3.14"
    # Numbers passed to redis.call become strings as Redis formats them.
    assert r.eval("redis.call('set', 'n', 0.1) return redis.call('get', 'n')", 0) == "0.1"
    assert r.eval("redis.call('set', 'n', 3.5) return redis.call('get', 'n')", 0) == "3.5"
    assert r.eval("redis.call('set', 'n', 1e20) return redis.call('get', 'n')", 0) == "1e+20"
    assert r.eval("redis.call('set', 'n', 12) return redis.call('get', 'n')", 0) == "12"


def test_keys_and_argv(rb):
    script = "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}"
    assert rb.eval(script, 2, "k1", b"k\x002", "a1", b"\xff\x00") == [
        b"k1",
        b"k\x002",
        b"a1",
        b"\xff\x00",
        2,
        2,
    ]
    assert rb.eval("return #KEYS + #ARGV", 0) == 0
    # redis.call with binary keys and values round-trips them.
    script = "redis.call('set', KEYS[1], ARGV[1]) return redis.call('get', KEYS[1])"
    assert rb.eval(script, 1, b"\x00k", b"\x00\xffv") == b"\x00\xffv"
    assert rb.get(b"\x00k") == b"\x00\xffv"


# --------------------------------------------------------------------------------------
# 5. Script errors
# --------------------------------------------------------------------------------------


def test_runtime_error_has_script_and_line(r):
    script = "local x = 1\nerror('boom')"
    with pytest.raises(redis.ResponseError) as e:
        r.eval(script, 0)
    msg = str(e.value)
    assert msg.startswith("user_script:2: boom")
    assert f"script: {sha1(script)}, on @user_script:2." in msg
    with pytest.raises(redis.ResponseError) as e:
        r.eval("return 1 + nil", 0)
    assert "user_script:1: attempt to perform arithmetic on a nil value" in str(e.value)
    with pytest.raises(redis.ResponseError) as e:
        r.eval("return 1 +", 0)  # compile error
    assert "Error compiling script" in str(e.value)
    assert "user_script" in str(e.value)


def test_call_errors(r):
    r.set("s", "v")
    with pytest.raises(redis.ResponseError) as e:
        r.eval("return redis.call('lpush', KEYS[1], 'x')", 1, "s")
    msg = str(e.value)
    assert msg.startswith("WRONGTYPE Operation against a key holding the wrong kind of value")
    assert "on @user_script:1." in msg
    # pcall hands the error back as a table {err=...}.
    script = "local t = redis.pcall('lpush', KEYS[1], 'x') return {type(t), t['err']}"
    assert r.eval(script, 1, "s") == [
        "table",
        "WRONGTYPE Operation against a key holding the wrong kind of value",
    ]
    with pytest.raises(redis.ResponseError) as e:
        r.eval("return redis.pcall('lpush', KEYS[1], 'x')", 1, "s")
    assert str(e.value) == "WRONGTYPE Operation against a key holding the wrong kind of value"
    with pytest.raises(redis.ResponseError) as e:
        r.eval("return redis.call('nosuchcommand')", 0)
    assert str(e.value).startswith("Unknown Redis command called from script")
    for forbidden in ("multi", "exec", "eval", "subscribe", "blpop"):
        if forbidden == "blpop":
            # Blocking commands are allowed but never block inside a script.
            assert r.eval("return redis.call('blpop', 'nolist', 0)", 0) is None
            continue
        with pytest.raises(redis.ResponseError) as e:
            r.eval(f"return redis.call('{forbidden}')", 0)
        assert "This Redis command is not allowed from script" in str(e.value) or (
            "Wrong number of args calling Redis command from script" in str(e.value)
        ), forbidden
    with pytest.raises(redis.ResponseError) as e:
        r.eval("return redis.call('multi')", 0)
    assert str(e.value).startswith("This Redis command is not allowed from script")
    with pytest.raises(redis.ResponseError) as e:
        r.eval("return redis.call('set')", 0)
    assert str(e.value).startswith("Wrong number of args calling Redis command from script")
    with pytest.raises(redis.ResponseError) as e:
        r.eval("return redis.call()", 0)
    assert "Please specify at least one argument for this redis lib call" in str(e.value)
    with pytest.raises(redis.ResponseError) as e:
        r.eval("return redis.call('get', {})", 0)
    assert "Lua redis lib command arguments must be strings or integers" in str(e.value)


def test_globals_are_protected(r):
    with pytest.raises(redis.ResponseError) as e:
        r.eval("x = 5", 0)
    assert "Attempt to modify a readonly table" in str(e.value)
    with pytest.raises(redis.ResponseError) as e:
        r.eval("return undefined_var", 0)
    assert "Script attempted to access nonexistent global variable 'undefined_var'" in str(e.value)
    # Locals are fine, and nothing leaks from one script to the next.
    assert r.eval("local y = 5 return y", 0) == 5
    with pytest.raises(redis.ResponseError):
        r.eval("return y", 0)


def test_error_midway_keeps_earlier_writes(r):
    script = (
        "redis.call('set', KEYS[1], '1') redis.call('lpush', KEYS[1], 'x') "
        "redis.call('set', KEYS[2], '2')"
    )
    with pytest.raises(redis.ResponseError) as e:
        r.eval(script, 2, "a", "b")
    assert str(e.value).startswith("WRONGTYPE")
    assert r.get("a") == "1"  # the write before the error stays
    assert r.exists("b") == 0  # nothing after it ran


def test_numkeys_and_evalsha_errors(r):
    with pytest.raises(NoScriptError) as e:
        r.evalsha("0" * 40, 0)
    assert str(e.value) == "No matching script. Please use EVAL."
    with pytest.raises(NoScriptError):
        r.evalsha("not-a-sha", 0)
    with pytest.raises(redis.ResponseError) as e:
        r.eval("return 1", 2, "a")
    assert str(e.value) == "Number of keys can't be greater than number of args"
    with pytest.raises(redis.ResponseError) as e:
        r.eval("return 1", -1)
    assert str(e.value) == "Number of keys can't be negative"
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("EVAL", "return 1", "x")
    assert str(e.value) == "value is not an integer or out of range"
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("EVAL", "return 1")
    assert str(e.value) == "wrong number of arguments for 'eval' command"


# --------------------------------------------------------------------------------------
# 6. SCRIPT and FUNCTION
# --------------------------------------------------------------------------------------


def test_script_load_exists_flush(r):
    src = "return 'loaded ' .. ARGV[1]"
    sha = r.script_load(src)
    assert sha == sha1(src)
    assert r.script_exists(sha, "0" * 40, sha.upper()) == [True, False, True]
    assert r.evalsha(sha, 0, "x") == "loaded x"
    assert r.evalsha(sha.upper(), 0, "y") == "loaded y"
    # EVAL caches the script too.
    r.eval("return 'via eval'", 0)
    assert r.script_exists(sha1("return 'via eval'")) == [True]
    assert r.script_flush() is True
    assert r.script_exists(sha, sha1("return 'via eval'")) == [False, False]
    with pytest.raises(NoScriptError):
        r.evalsha(sha, 0, "x")
    assert r.script_flush("ASYNC") is True
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("SCRIPT", "KILL")
    assert str(e.value) == "NOTBUSY No scripts in execution right now."
    with pytest.raises(redis.ResponseError) as e:
        r.script_load("return +")
    assert "Error compiling script" in str(e.value)


LIB = """#!lua name=lib
redis.register_function{function_name='ro', callback=function(keys, args)
  return redis.call('get', keys[1])
end, flags={'no-writes'}}
redis.register_function('rw', function(keys, args)
  return redis.call('set', keys[1], args[1])
end)
redis.register_function{function_name='echo', callback=function(keys, args)
  return {#keys, #args, args[1]}
end, description='echoes'}
"""


def _libraries(listing) -> dict:
    """FUNCTION LIST (RESP2 nested arrays) -> {library: {function: (description, flags)}}."""
    out = {}
    for lib in listing:
        lib = dict(zip(lib[::2], lib[1::2]))
        funcs = {}
        for f in lib["functions"]:
            f = dict(zip(f[::2], f[1::2]))
            funcs[f["name"]] = (f["description"], sorted(f["flags"]))
        out[lib["library_name"]] = (lib["engine"], funcs, lib.get("library_code"))
    return out


def test_function_load_call_list_delete(r):
    assert r.function_load(LIB) == "lib"
    with pytest.raises(redis.ResponseError) as e:
        r.function_load(LIB)
    assert str(e.value) == "Library 'lib' already exists"
    assert r.function_load(LIB, replace=True) == "lib"
    assert r.fcall("rw", 1, "k", "v") == "OK"
    assert r.fcall("ro", 1, "k") == "v"
    assert r.fcall_ro("ro", 1, "k") == "v"
    assert r.fcall("echo", 2, "a", "b", "x") == [2, 1, "x"]
    with pytest.raises(redis.ResponseError) as e:
        r.fcall_ro("rw", 1, "k", "w")
    assert str(e.value) == "Can not execute a script with write flag using *_ro command."
    assert r.get("k") == "v"
    with pytest.raises(redis.ResponseError) as e:
        r.fcall("nosuch", 0)
    assert str(e.value) == "Function not found"
    with pytest.raises(redis.ResponseError) as e:
        r.fcall("rw", 2, "k")
    assert str(e.value) == "Number of keys can't be greater than number of args"

    libs = _libraries(r.function_list())
    assert libs == {
        "lib": (
            "LUA",
            {
                "ro": (None, ["no-writes"]),
                "rw": (None, []),
                "echo": ("echoes", []),
            },
            None,
        )
    }
    with_code = _libraries(r.function_list(withcode=True))
    assert with_code["lib"][2] == LIB
    assert r.function_list(library="nomatch*") == []
    assert len(r.function_list(library="li*")) == 1
    stats = r.function_stats()
    stats = dict(zip(stats[::2], stats[1::2]))
    assert stats["running_script"] is None
    engines = dict(zip(stats["engines"][::2], stats["engines"][1::2]))
    assert dict(zip(engines["LUA"][::2], engines["LUA"][1::2])) == {
        "libraries_count": 1,
        "functions_count": 3,
    }

    assert r.function_delete("lib") is True
    with pytest.raises(redis.ResponseError) as e:
        r.function_delete("lib")
    assert str(e.value) == "Library not found"
    with pytest.raises(redis.ResponseError):
        r.fcall("ro", 1, "k")
    assert r.function_list() == []


def test_function_load_errors(r):
    cases = [
        ("redis.register_function('x', function() return 1 end)", "Missing library metadata"),
        ("#!lua name=l2\nlocal x = 1", "No functions registered"),
        (
            "#!lua name=l3\nredis.register_function{function_name='g', "
            "callback=function() return 1 end, flags={'bogus'}}",
            "Error registering functions: ERR unknown flag given",
        ),
        (
            "#!lua name=l4\nredis.register_function('f', function() return 1 end)\nx = 1",
            "Attempt to modify a readonly table",
        ),
        (
            "#!lua name=l5\nredis.call('set', 'a', 'b')",
            "Script attempted to access nonexistent global variable 'call'",
        ),
        (
            "#!lua name=l6\nredis.register_function('f', function() return 1 end",
            "Error compiling function",
        ),
    ]
    for code, fragment in cases:
        with pytest.raises(redis.ResponseError) as e:
            r.function_load(code)
        assert fragment in str(e.value), (code, str(e.value))
    assert r.function_list() == []
    assert r.exists("a") == 0


def test_function_dump_restore(rb):
    rb.function_load(LIB)
    payload = rb.function_dump()
    assert isinstance(payload, bytes) and len(payload) > 0
    with pytest.raises(redis.ResponseError) as e:
        rb.function_restore(payload)
    assert str(e.value) == "Library lib already exists"
    with pytest.raises(redis.ResponseError) as e:
        rb.function_restore(payload, "APPEND")
    assert str(e.value) == "Library lib already exists"
    assert rb.function_restore(payload, "REPLACE") is True
    assert rb.function_flush() is True
    assert rb.function_list() == []
    assert rb.function_restore(payload) is True
    assert rb.fcall("rw", 1, "k", "restored") == b"OK"
    assert rb.fcall_ro("ro", 1, "k") == b"restored"
    rb.function_load("#!lua name=other\nredis.register_function('o', function() return 'o' end)")
    assert rb.function_restore(payload, "FLUSH") is True
    assert [lib[1] for lib in rb.function_list()] == [b"lib"]
    with pytest.raises(redis.ResponseError) as e:
        rb.function_restore(b"garbage")
    assert str(e.value) == "DUMP payload version or checksum are wrong"
    assert [lib[1] for lib in rb.function_list()] == [b"lib"]


def test_read_only_scripts(r):
    r.set("a", "1")
    assert r.eval_ro("return redis.call('get', KEYS[1])", 1, "a") == "1"
    with pytest.raises(redis.ResponseError) as e:
        r.eval_ro("return redis.call('set', KEYS[1], 'b')", 1, "a")
    assert str(e.value).startswith("Write commands are not allowed from read-only scripts.")
    sha = r.script_load("return redis.call('incr', KEYS[1])")
    with pytest.raises(redis.ResponseError) as e:
        r.evalsha_ro(sha, 1, "a")
    assert str(e.value).startswith("Write commands are not allowed from read-only scripts.")
    with pytest.raises(redis.ResponseError) as e:
        r.eval("#!lua flags=no-writes\nreturn redis.call('set', 'a', 'b')", 0)
    assert str(e.value).startswith("Write commands are not allowed from read-only scripts.")
    assert r.get("a") == "1"
    # A shebang script without no-writes is fine with EVAL, and declares its keys.
    assert r.eval("#!lua\nreturn redis.call('incr', KEYS[1])", 1, "a") == 2
    with pytest.raises(redis.ResponseError) as e:
        r.eval("#!lua flags=bogus\nreturn 1", 0)
    assert str(e.value) == "Unexpected flag in script shebang: bogus"
    with pytest.raises(redis.ResponseError) as e:
        r.eval("#!python\nreturn 1", 0)
    assert str(e.value) == "Unexpected engine in script shebang: #!python"


def test_exec_of_queued_writes_is_refused_when_replicas_go_missing(target, r):
    r.set("xx", 1)
    c = target.client(decode_responses=True)
    assert c.execute_command("MULTI") in ("OK", True)
    assert c.execute_command("INCR", "xx") == "QUEUED"
    r.config_set("min-replicas-to-write", 2)
    try:
        with pytest.raises(redis.exceptions.ExecAbortError) as e:
            c.execute_command("EXEC")
        assert str(e.value) == (
            "Transaction discarded because of: NOREPLICAS Not enough good replicas to write."
        )
    finally:
        r.config_set("min-replicas-to-write", 0)
    assert r.get("xx") == "1"
    assert c.execute_command("ECHO", "out") == "out"


def test_min_replicas_to_write_refuses_writes_and_scripts_that_may_write(r):
    """Without enough good replicas (a single node has none), writes get NOREPLICAS; a
    script declaring it may write is refused whole, one without a shebang runs and its
    first write is refused, and no-writes scripts and reads go on (Redis 7.4)."""
    r.set("x", "some value")
    r.config_set("min-replicas-to-write", 1)
    try:
        nope = "NOREPLICAS Not enough good replicas to write."
        assert r.eval("#!lua flags=no-writes\nreturn redis.call('get','x')", 1, "x") == "some value"
        assert r.eval("return redis.call('get','x')", 1, "x") == "some value"
        with pytest.raises(redis.ResponseError) as e:
            r.eval("#!lua\nreturn redis.call('get','x')", 1, "x")
        assert str(e.value) == nope
        with pytest.raises(redis.ResponseError) as e:
            r.eval("return redis.call('set','x', 1)", 1, "x")
        assert str(e.value).startswith(nope + " script: ")
        sha = r.script_load("redis.call('set', KEYS[1], 'y') return 1")
        for _ in range(2):  # also once the connection knows the script's flags
            with pytest.raises(redis.ResponseError) as e:
                r.evalsha(sha, 1, "x")
            assert str(e.value).startswith(nope + " script: ")
        with pytest.raises(redis.ResponseError) as e:
            r.set("x", "other")
        assert str(e.value) == nope
        pipe = r.pipeline(transaction=True)
        pipe.set("x", "in multi")
        with pytest.raises(redis.ResponseError, match="NOREPLICAS"):
            pipe.execute()
        assert r.get("x") == "some value"
    finally:
        r.config_set("min-replicas-to-write", 0)
    assert r.set("x", "after") and r.get("x") == "after"


def _lazyfree_settled(r) -> dict:
    deadline = time.monotonic() + 10
    while True:
        mem = r.info("memory")
        if mem["lazyfree_pending_objects"] == 0 or time.monotonic() > deadline:
            return mem


def test_function_flush_async_frees_functions_lazily_and_rebuilds_the_engine(r):
    for i in range(100):
        r.function_load(f"#!lua name=lib{i}\nredis.register_function('f{i}', function() return {i} end)")
    assert r.fcall("f7", 0) == 7
    r.config_resetstat()
    assert r.function_flush("ASYNC")
    # 100 functions and the engine, as Redis counts them; the engine starts empty.
    assert _lazyfree_settled(r)["lazyfreed_objects"] == 101
    assert r.info("memory")["used_memory_vm_functions"] < 40000
    assert r.function_list() == []
    r.function_load("#!lua name=again\nredis.register_function('g', function() return 1 end)")
    assert r.fcall("g", 0) == 1
    # A synchronous flush, or one of few functions, frees nothing lazily.
    r.config_resetstat()
    r.function_flush("SYNC")
    assert _lazyfree_settled(r)["lazyfreed_objects"] == 0


def test_lazyfree_counters_follow_redis(r):
    r.config_resetstat()
    # A set past its listpack size: one allocation per member, freed lazily (small
    # collections are a few listpack nodes, which Redis frees in place).
    r.sadd("big", *[f"m{i}" for i in range(1000)])
    r.unlink("big")
    assert _lazyfree_settled(r)["lazyfreed_objects"] == 1
    # FLUSHALL from a client that may block counts its keys; inside MULTI it does not.
    r.mset({"a": 1, "b": 2, "c": 3})
    r.config_resetstat()
    r.flushall()
    assert _lazyfree_settled(r)["lazyfreed_objects"] == 3
    r.mset({"a": 1, "b": 2})
    r.config_resetstat()
    pipe = r.pipeline(transaction=True)
    pipe.flushall()
    pipe.execute()
    assert _lazyfree_settled(r)["lazyfreed_objects"] == 0
    assert r.dbsize() == 0


def test_cluster_reset_is_not_allowed_from_scripts(r):
    for code in ("return redis.call('cluster', 'reset', 'hard')",
                 "return redis.pcall('cluster', 'reset', 'hard')"):
        with pytest.raises(redis.ResponseError) as e:
            r.eval(code, 0)
        assert "This Redis command is not allowed from script" in str(e.value)
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("CLUSTER", "RESET")
    assert str(e.value) == "This instance has cluster support disabled"


# --------------------------------------------------------------------------------------
# 7. Busy scripts, SCRIPT KILL / FUNCTION KILL, UNKILLABLE
# --------------------------------------------------------------------------------------


NO_RETRY = Retry(NoBackoff(), 0)  # a hung server fails the test after one socket_timeout
BUSY_TEXT = (
    "BUSY Redis is busy running a script. You can only call {} KILL or SHUTDOWN NOSAVE."
)


def _run_in_thread(fn) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def body():
        try:
            result["value"] = fn()
        except Exception as e:  # the looping call's error is the result
            result["error"] = e

    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t, result


def _busy_error(c: redis.Redis) -> Optional[str]:
    """None while PING works, the error text once it is refused; fails if PING hangs."""
    try:
        c.ping()
        return None
    except redis.ResponseError as e:
        return str(e)
    except redis.TimeoutError:
        pytest.fail("PING got no reply while a script ran (expected an immediate -BUSY)")


def test_script_kill_under_busy(target, r):
    r.config_set("busy-reply-threshold", 100)
    assert r.config_get("busy-reply-threshold") == {"busy-reply-threshold": "100"}
    looper = target.client(decode_responses=True)
    t, result = _run_in_thread(lambda: looper.eval("while true do end", 0))
    other = target.client(decode_responses=True, socket_timeout=5, retry=NO_RETRY)
    msg = wait_for(lambda: _busy_error(other), what="-BUSY from another client")
    assert msg == BUSY_TEXT.format("SCRIPT")
    with pytest.raises(redis.ResponseError) as e:
        other.get("x")
    assert str(e.value).startswith("BUSY ")
    with pytest.raises(redis.ResponseError) as e:
        other.execute_command("FUNCTION", "KILL")  # it is a script, not a function
    assert str(e.value).startswith("BUSY ")
    assert other.execute_command("SCRIPT", "KILL") in ("OK", True)
    t.join(timeout=10)
    assert not t.is_alive()
    assert "value" not in result
    err = str(result["error"])
    assert "Script killed by user with SCRIPT KILL..." in err
    assert "killed" in err
    assert wait_for(lambda: other.ping(), what="PING after SCRIPT KILL") is True
    with pytest.raises(redis.ResponseError) as e:
        other.execute_command("SCRIPT", "KILL")
    assert str(e.value) == "NOTBUSY No scripts in execution right now."


def test_transactions_while_a_script_is_busy(target, r):
    """MULTI is allowed while a script is busy; a command queued meanwhile is refused with
    -BUSY and fails the transaction; EXEC itself while busy ends it with EXECABORT."""
    r.config_set("busy-reply-threshold", 50)
    r.set("xx", 1)

    def busy_while(body):
        looper = target.client(decode_responses=True)
        t, _ = _run_in_thread(lambda: looper.eval("while true do end", 0))
        other = target.client(decode_responses=True, socket_timeout=5, retry=NO_RETRY)
        wait_for(lambda: _busy_error(other), what="-BUSY from another client")
        try:
            body(other)
        finally:
            other.execute_command("SCRIPT", "KILL")
            t.join(timeout=10)

    c = target.client(decode_responses=True, socket_timeout=5, retry=NO_RETRY)

    def queue_during_busy(other):
        assert c.execute_command("MULTI") in ("OK", True)
        with pytest.raises(redis.ResponseError) as e:
            c.execute_command("INCR", "xx")
        assert str(e.value).startswith("BUSY ")

    busy_while(queue_during_busy)
    wait_for(lambda: r.ping(), what="PING after SCRIPT KILL")
    with pytest.raises(redis.exceptions.ExecAbortError) as e:
        c.execute_command("EXEC")
    assert str(e.value) == "Transaction discarded because of previous errors."
    assert c.execute_command("ECHO", "out") == "out"  # no longer in MULTI

    assert c.execute_command("MULTI") in ("OK", True)
    assert c.execute_command("INCR", "xx") == "QUEUED"

    def exec_during_busy(other):
        with pytest.raises(redis.exceptions.ExecAbortError) as e:
            c.execute_command("EXEC")
        assert str(e.value).startswith("Transaction discarded because of: BUSY ")

    busy_while(exec_during_busy)
    wait_for(lambda: r.ping(), what="PING after SCRIPT KILL")
    assert c.execute_command("ECHO", "out") == "out"
    assert r.get("xx") == "1"


def test_function_kill_under_busy(target, r):
    r.config_set("busy-reply-threshold", 100)
    r.function_load(
        "#!lua name=busy\nredis.register_function('spin', function() while true do end end)"
    )
    looper = target.client(decode_responses=True)
    t, result = _run_in_thread(lambda: looper.fcall("spin", 0))
    other = target.client(decode_responses=True, socket_timeout=5, retry=NO_RETRY)
    msg = wait_for(lambda: _busy_error(other), what="-BUSY from another client")
    assert msg == BUSY_TEXT.format("FUNCTION")
    with pytest.raises(redis.ResponseError) as e:
        other.execute_command("SCRIPT", "KILL")
    assert str(e.value).startswith("BUSY ")
    assert other.execute_command("FUNCTION", "KILL") in ("OK", True)
    t.join(timeout=10)
    assert not t.is_alive()
    assert "Script killed by user with SCRIPT KILL" in str(result.get("error"))
    assert other.ping() is True


def test_short_scripts_never_see_busy(target, r):
    """Scripts shorter than the threshold: concurrent clients are delayed, never refused."""
    r.config_set("busy-reply-threshold", 1000)
    src = "local n = 0 for i = 1, 20000 do n = n + i end redis.call('incr', KEYS[1]) return n"
    stop = threading.Event()
    errors: list[str] = []

    def hammer():
        c = target.client()
        while not stop.is_set():
            try:
                c.ping()
            except redis.ResponseError as e:
                errors.append(str(e))

    t = threading.Thread(target=hammer, daemon=True)
    t.start()
    for _ in range(50):
        assert r.eval(src, 1, "n") == 200010000
    stop.set()
    t.join(timeout=10)
    assert errors == []
    assert r.get("n") == "50"


def _start_dedicated_reference(port: int) -> None:
    subprocess.run([PEERS, "stop", str(port)], capture_output=True, timeout=20)
    subprocess.run([PEERS, "start", str(port)], check=True, capture_output=True, timeout=60)


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.settimeout(0.5)
            s.sendall(b"PING\r\n")
            return s.recv(7) == b"+PONG\r\n"
    except OSError:
        return False


def test_script_that_wrote_is_unkillable(request):
    if ON_REFERENCE:
        _start_dedicated_reference(SPARE_PORT)
        port, srv = SPARE_PORT, None
    else:
        factory = request.getfixturevalue("engram_factory")
        srv = factory()
        port = srv.port
    try:
        admin = redis.Redis(port=port, decode_responses=True, socket_timeout=5, retry=NO_RETRY)
        admin.config_set("busy-reply-threshold", 100)
        looper = redis.Redis(port=port, decode_responses=True)
        t, result = _run_in_thread(
            lambda: looper.eval("redis.call('set', 'x', 'y') while true do end", 0)
        )
        msg = wait_for(lambda: _busy_error(admin), what="-BUSY")
        assert msg.startswith("BUSY ")
        with pytest.raises(redis.ResponseError) as e:
            admin.execute_command("SCRIPT", "KILL")
        assert str(e.value) == (
            "UNKILLABLE Sorry the script already executed write commands against the dataset. "
            "You can either wait the script termination or kill the server in a hard way using "
            "the SHUTDOWN NOSAVE command."
        )
        assert _busy_error(admin) is not None  # still running
        # SHUTDOWN NOSAVE is accepted while busy; the connection drops.
        try:
            admin.shutdown(nosave=True)
        except redis.ConnectionError:
            pass
        wait_for(lambda: not _port_answers(port), what="the server to go down")
        # The listener closes before the process has exited; the script's own
        # connection drops only at exit, which takes longer on a loaded machine.
        t.join(timeout=60)
        assert isinstance(result.get("error"), redis.ConnectionError)
        if srv is not None:
            wait_for(lambda: srv.proc is not None and srv.proc.poll() is not None, what="exit")
            # The script never finished: restarting must not run it again (it would spin
            # forever during recovery), and the server must come up.
            srv.stop()  # reaps the exited process
            srv.restart()
            r = srv.client(decode_responses=True)
            assert r.ping() is True
            assert r.get("x") in (None, "y")
    finally:
        if ON_REFERENCE:
            subprocess.run([PEERS, "stop", str(port)], capture_output=True, timeout=20)


# --------------------------------------------------------------------------------------
# 8. Durability (engram only)
# --------------------------------------------------------------------------------------


@engram_only
def test_acknowledged_eval_writes_survive_sigkill(engram_factory):
    srv = engram_factory()
    script = """
local n = redis.call('incr', KEYS[1])
redis.call('rpush', KEYS[2], ARGV[1] .. ':' .. n)
redis.call('hset', KEYS[3], ARGV[1], n)
return n
"""
    acked = [0] * 4
    failures: list[str] = []
    stop = threading.Event()

    def worker(i: int) -> None:
        c = srv.client()
        s = c.register_script(script)
        while not stop.is_set():
            try:
                n = s(keys=[f"{{w{i}}}:n", f"{{w{i}}}:log", "last"], args=[f"w{i}"])
            except redis.ConnectionError:
                return
            except redis.ResponseError as e:
                failures.append(str(e))
                return
            if n != acked[i] + 1:
                failures.append(f"worker {i}: got {n} after {acked[i]}")
                return
            acked[i] = n

    def progress() -> bool:
        assert not failures, failures
        return sum(acked) >= 400

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    wait_for(progress, timeout=20, what="400 acknowledged scripts")
    srv.crash()
    stop.set()
    for t in threads:
        t.join(timeout=10)

    srv.restart()
    r = srv.client(decode_responses=True)
    for i in range(4):
        n = int(r.get(f"{{w{i}}}:n"))
        # Each script is one log entry: all of its writes or none of them.
        assert acked[i] <= n <= acked[i] + 1, (i, n, acked[i])
        assert r.llen(f"{{w{i}}}:log") == n
        assert r.lindex(f"{{w{i}}}:log", -1) == f"w{i}:{n}"
        assert int(r.hget("last", f"w{i}")) == n


@engram_only
def test_partial_script_and_functions_survive_restart(engram_factory):
    srv = engram_factory()
    r = srv.client(decode_responses=True)
    r.function_load(LIB)
    assert r.fcall("rw", 1, "k", "v1") == "OK"
    with pytest.raises(redis.ResponseError):
        r.eval("redis.call('set', 'a', '1') redis.call('lpush', 'a', 'x')", 0)
    sha = r.script_load("return redis.call('incr', KEYS[1])")
    assert r.evalsha(sha, 1, "c") == 1
    srv.crash()
    srv.restart()
    r = srv.client(decode_responses=True)
    assert r.get("a") == "1"
    assert r.get("k") == "v1"
    assert r.get("c") == "1"
    assert set(_libraries(r.function_list())["lib"][1]) == {"ro", "rw", "echo"}
    assert r.fcall_ro("ro", 1, "k") == "v1"
    assert r.fcall("rw", 1, "k", "v2") == "OK"
    r.function_delete("lib")
    r.function_load("#!lua name=lib2\nredis.register_function('g', function() return 'g2' end)")
    # A clean stop too (snapshot path, if any), after a delete and a new load.
    srv.stop()
    srv.restart()
    r = srv.client(decode_responses=True)
    assert list(_libraries(r.function_list())) == ["lib2"]
    assert r.fcall("g", 0) == "g2"
    assert r.get("k") == "v2"


# --------------------------------------------------------------------------------------
# 9. Determinism: random scripts replay to the same state (engram only)
# --------------------------------------------------------------------------------------

RANDOM_SCRIPTS = [
    # math.random, integers and floats
    "redis.call('set', KEYS[1], math.random(1000000)) return redis.call('get', KEYS[1])",
    "redis.call('zadd', KEYS[1], math.random(), ARGV[1]) return 1",
    # TIME inside a script
    "local t = redis.call('TIME') "
    "redis.call('hset', KEYS[1], 'sec', t[1], 'usec', t[2]) return t[1]",
    # SPOP / SRANDMEMBER choose members at random
    "redis.call('sadd', KEYS[1], 'a', 'b', 'c', 'd', 'e', ARGV[1]) "
    "local m = redis.call('spop', KEYS[1]) if m then redis.call('rpush', KEYS[2], m) end return m",
    "redis.call('sadd', KEYS[1], 'p', 'q', 'r', ARGV[1]) "
    "local ms = redis.call('srandmember', KEYS[1], -3) "
    "for _, m in ipairs(ms) do redis.call('rpush', KEYS[2], m) end return #ms",
    # random choices steer which writes happen
    "if math.random() < 0.5 then redis.call('incr', KEYS[1]) else redis.call('del', KEYS[1]) end "
    "redis.call('expire', KEYS[2], 1000 + math.random(100000)) return 1",
    "local t = {} for i = 1, math.random(1, 5) do t[#t + 1] = tostring(math.random(10)) end "
    "redis.call('rpush', KEYS[2], unpack(t)) return #t",
]


@engram_only
def test_random_scripts_replay_to_identical_digest(engram_factory, tmp_path):
    srv = engram_factory()
    r = srv.client(decode_responses=True)
    r.function_load(
        "#!lua name=rnd\nredis.register_function('rnd', function(keys, args)\n"
        "  local v = math.random(1, 1000000) .. ':' .. redis.call('TIME')[2]\n"
        "  redis.call('rpush', keys[1], v) return v end)"
    )
    shas = [r.script_load(s) for s in RANDOM_SCRIPTS]
    rng = random.Random(2024)
    for i in range(200):
        j = rng.randrange(len(RANDOM_SCRIPTS))
        # KEYS[1] holds one type per script (string, zset, hash, set, ...); KEYS[2] lists.
        keys = [f"k{j}:{rng.randrange(6)}", f"l:{rng.randrange(10)}"]
        arg = f"m{i}"
        how = rng.randrange(3)
        if how == 0:
            r.eval(RANDOM_SCRIPTS[j], 2, *keys, arg)
        elif how == 1:
            r.evalsha(shas[j], 2, *keys, arg)
        else:
            r.fcall("rnd", 1, f"f:{rng.randrange(5)}")
    # Scripts that drew the same random numbers on the same state would hide a bug:
    # make sure the randomness was really used.
    pushed = [v for i in range(5) for v in r.lrange(f"f:{i}", 0, -1)]
    assert len(pushed) > 20 and len(set(pushed)) == len(pushed)
    before = r.execute_command("DEBUG", "DIGEST")
    assert before != "0" * 40
    dbsize = r.dbsize()
    assert dbsize > 10

    # Replay into a fresh node: a copy of the data dir taken after SIGKILL.
    srv.crash()
    copy = tmp_path / "replica"
    shutil.copytree(srv.data_dir, copy)
    fresh = engram_factory(data_dir=copy)
    f = fresh.client(decode_responses=True)
    assert f.dbsize() == dbsize
    assert f.execute_command("DEBUG", "DIGEST") == before
    fresh.stop()

    # And the node itself, restarted.
    srv.restart()
    r = srv.client(decode_responses=True)
    assert r.execute_command("DEBUG", "DIGEST") == before
