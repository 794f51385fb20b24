"""Pipelines (no MULTI): many commands in one write, replies in request order."""

from __future__ import annotations


def test_pipeline_replies_in_order(engram):
    n = 2000
    pipe = engram.pipeline(transaction=False)
    for i in range(n):
        pipe.set(f"key:{i}", f"value:{i}")
        pipe.get(f"key:{i}")
    out = pipe.execute()
    assert len(out) == 2 * n
    for i in range(n):
        assert out[2 * i] is True
        assert out[2 * i + 1] == f"value:{i}"


def test_pipeline_read_your_writes_on_same_key(engram):
    pipe = engram.pipeline(transaction=False)
    for i in range(500):
        pipe.set("counter", str(i))
        pipe.get("counter")
    out = pipe.execute()
    assert out[1::2] == [str(i) for i in range(500)]


def test_pipeline_mixed_commands(engram):
    pipe = engram.pipeline(transaction=False)
    pipe.ping()
    pipe.set("a", "1")
    pipe.set("a", "2", get=True)
    pipe.exists("a", "b")
    pipe.delete("a")
    pipe.get("a")
    pipe.echo("done")
    assert pipe.execute() == [True, True, "1", 1, 1, None, "done"]


def test_empty_pipeline(engram):
    assert engram.pipeline(transaction=False).execute() == []
