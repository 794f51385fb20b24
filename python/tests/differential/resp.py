"""A minimal raw RESP2/RESP3 client that keeps the reply's wire type.

redis-py turns replies into Python values and loses the difference between, say, a
RESP3 double and a bulk string, or a RESP2 null bulk and a null array. The differential
test wants exactly that difference, so replies are parsed into tagged tuples:

    ("simple", b"OK")  ("err", b"ERR ...")  ("int", 3)  ("bulk", b"v")
    ("nullbulk",)  ("nullarray",)  ("null",)  ("double", b"1.5")  ("bool", True)
    ("big", b"123")  ("verbatim", b"txt", b"...")  ("array", [...])  ("set", [...])
    ("map", [(k, v), ...])  ("push", [...])
"""

from __future__ import annotations

import socket
from typing import Sequence, Union

Arg = Union[bytes, str, int, float]


def to_bytes(a: Arg) -> bytes:
    if isinstance(a, bytes):
        return a
    if isinstance(a, str):
        return a.encode()
    return str(a).encode()


def encode(args: Sequence[Arg]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = to_bytes(a)
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class ConnectionClosed(Exception):
    pass


class RespConn:
    def __init__(self, port: int, host: str = "127.0.0.1", protocol: int = 2, timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0
        self.protocol = protocol
        if protocol == 3:
            r = self.call(["HELLO", "3"])
            if r[0] != "map":
                raise RuntimeError(f"HELLO 3 failed: {r!r}")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def call(self, args: Sequence[Arg]):
        self.sock.sendall(encode(args))
        return self.read()

    # -- parsing -------------------------------------------------------------------

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionClosed("server closed the connection")
        if self.pos > 0:
            del self.buf[: self.pos]
            self.pos = 0
        self.buf += chunk

    def _line(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos : i])
                self.pos = i + 2
                return line
            self._fill()

    def _exact(self, n: int) -> bytes:
        while len(self.buf) - self.pos < n + 2:
            self._fill()
        data = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n + 2
        return data

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return ("simple", rest)
        if t == b"-":
            return ("err", rest)
        if t == b":":
            return ("int", int(rest))
        if t == b"$":
            n = int(rest)
            return ("nullbulk",) if n < 0 else ("bulk", self._exact(n))
        if t in (b"*", b"~", b">"):
            n = int(rest)
            if n < 0:
                return ("nullarray",)
            items = [self.read() for _ in range(n)]
            return ({b"*": "array", b"~": "set", b">": "push"}[t], items)
        if t == b"%" or t == b"|":
            n = int(rest)
            pairs = [(self.read(), self.read()) for _ in range(n)]
            if t == b"|":  # attribute: skip it, return the value that follows
                return self.read()
            return ("map", pairs)
        if t == b"_":
            return ("null",)
        if t == b",":
            return ("double", rest)
        if t == b"#":
            return ("bool", rest == b"t")
        if t == b"(":
            return ("big", rest)
        if t == b"=":
            data = self._exact(int(rest))
            return ("verbatim", data[:3], data[4:])
        if t == b"!":
            return ("err", self._exact(int(rest)))
        raise RuntimeError(f"bad RESP type byte in {line!r}")


def show(r) -> str:
    """A compact human-readable rendering of a tagged reply."""
    tag = r[0]
    if tag in ("simple", "bulk", "double", "big"):
        p = {"simple": "+", "bulk": "", "double": ",", "big": "("}[tag]
        return p + repr(r[1])[1:] if tag == "bulk" else p + r[1].decode("latin1")
    if tag == "err":
        return "(error) " + r[1].decode("latin1")
    if tag == "int":
        return f":{r[1]}"
    if tag in ("nullbulk", "nullarray", "null"):
        return {"nullbulk": "$-1", "nullarray": "*-1", "null": "_"}[tag]
    if tag == "bool":
        return "#t" if r[1] else "#f"
    if tag == "verbatim":
        return "=" + repr(r[2])
    if tag in ("array", "set", "push"):
        o, c = {"array": ("[", "]"), "set": ("~{", "}"), "push": (">[", "]")}[tag]
        return o + ", ".join(show(x) for x in r[1]) + c
    if tag == "map":
        return "%{" + ", ".join(f"{show(k)}: {show(v)}" for k, v in r[1]) + "}"
    return repr(r)
