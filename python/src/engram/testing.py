"""Small test helpers shared by the pytest suite and examples."""

from __future__ import annotations

import socket
import time


class Raw:
    """A raw TCP connection: send bytes, read replies with a deadline."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.timeout = timeout

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_exactly(self, n: int) -> bytes:
        """Reads until ``n`` bytes arrived, the peer closed, or the deadline passed."""
        deadline = time.monotonic() + self.timeout
        out = b""
        while len(out) < n and time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(n - len(out))
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
        return out

    def exchange(self, data: bytes, expected: bytes) -> bytes:
        self.send(data)
        return self.read_exactly(len(expected))

    def read_until(self, suffix: bytes) -> bytes:
        """Reads until the data ends with ``suffix``, the peer closed, or the deadline."""
        deadline = time.monotonic() + self.timeout
        out = b""
        while not out.endswith(suffix) and time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
        return out

    def read_until_closed(self) -> bytes:
        out = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
        return out

    def close(self) -> None:
        self.sock.close()


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.01):
    """Polls ``predicate`` until it returns a truthy value or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)
