"""Keys and values are byte strings: NUL, CR, LF and every other byte round-trip."""

from __future__ import annotations

import os

import pytest

NASTY = [
    b"\x00",
    b"a\x00b",
    b"\r\n",
    b"line1\r\nline2\n\r",
    b"$5\r\nhello\r\n",
    b"*1\r\n$4\r\nPING\r\n",
    bytes(range(256)),
    "ünïcødé ✓".encode(),
    b"\xff\xfe\x00\x01",
]


@pytest.mark.parametrize("blob", NASTY, ids=[f"case{i}" for i in range(len(NASTY))])
def test_binary_key_and_value_roundtrip(engram_bytes, blob):
    key = b"k:" + blob
    value = b"v:" + blob + b":end"
    assert engram_bytes.set(key, value) is True
    assert engram_bytes.get(key) == value
    assert engram_bytes.exists(key) == 1
    # A key that differs only after a NUL is a different key.
    assert engram_bytes.get(key + b"\x00") is None
    assert engram_bytes.delete(key) == 1


def test_random_binary_values(engram_bytes):
    rng = __import__("random").Random(1234)
    pipe = engram_bytes.pipeline(transaction=False)
    items = []
    for i in range(200):
        key = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        value = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
        items.append((key, value))
    # Later writes to a duplicate key win, as they would in Redis.
    expected = dict(items)
    for key, value in items:
        pipe.set(key, value)
    pipe.execute()
    for key, value in expected.items():
        assert engram_bytes.get(key) == value


def test_large_binary_value(engram_bytes):
    blob = os.urandom(3 * 1024 * 1024)
    assert engram_bytes.set(b"big\x00key", blob) is True
    assert engram_bytes.get(b"big\x00key") == blob


def test_echo_is_binary_safe(engram_bytes):
    assert engram_bytes.echo(b"\x00\r\n\xff") == b"\x00\r\n\xff"
