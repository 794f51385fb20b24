"""Start and stop a local ``engram-server`` process for tests and examples.

The binary is found, in order, at:

1. ``$ENGRAM_BIN``;
2. ``${CARGO_TARGET_DIR:-<repo>/target}/debug/engram-server`` then ``.../release/...``
   (a relative ``CARGO_TARGET_DIR`` is taken relative to the repository root, as cargo
   does when it runs there);
3. ``engram-server`` on ``PATH``.

Example::

    with EngramServer() as srv:
        r = redis.Redis(port=srv.port)
        r.set("k", "v")
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterable, Optional, Sequence

BINARY_NAME = "engram-server"


class ServerError(RuntimeError):
    """The server could not be found, or did not start or stop in time."""


def repo_root() -> Optional[Path]:
    """The repository root when running from a source checkout (editable install)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "Cargo.toml").is_file() and (parent / "server").is_dir():
            return parent
    return None


def candidate_binaries() -> list[Path]:
    """Every place :func:`find_binary` looks, in order (for error messages)."""
    out: list[Path] = []
    env = os.environ.get("ENGRAM_BIN")
    if env:
        out.append(Path(env))
    root = repo_root()
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        tdir = Path(target)
        if not tdir.is_absolute() and root is not None:
            tdir = root / tdir
    elif root is not None:
        tdir = root / "target"
    else:
        tdir = None
    if tdir is not None:
        out.append(tdir / "debug" / BINARY_NAME)
        out.append(tdir / "release" / BINARY_NAME)
    on_path = shutil.which(BINARY_NAME)
    if on_path:
        out.append(Path(on_path))
    return out


def find_binary() -> Path:
    """The engram-server binary to run; raises :class:`ServerError` if there is none."""
    candidates = candidate_binaries()
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    looked = ", ".join(str(c) for c in candidates) or "(nowhere)"
    raise ServerError(
        f"{BINARY_NAME} not found (looked in: {looked}); "
        "run `cargo build --bin engram-server` or set ENGRAM_BIN"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ping(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """Whether a server on ``host:port`` answers an inline ``PING`` with ``+PONG``."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"PING\r\n")
            data = b""
            while len(data) < 7:
                chunk = s.recv(7 - len(data))
                if not chunk:
                    break
                data += chunk
            return data == b"+PONG\r\n"
    except OSError:
        return False


class EngramServer:
    """One ``engram-server`` process on a free loopback port with its own data dir.

    ``args`` are extra redis-server style arguments (``["--maxclients", "2"]``);
    ``config_file`` goes first on the command line, like ``redis-server file.conf``.
    """

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        port: Optional[int] = None,
        data_dir: Optional[os.PathLike] = None,
        config_file: Optional[os.PathLike] = None,
        binary: Optional[os.PathLike] = None,
        start_timeout: float = 15.0,
        log_path: Optional[os.PathLike] = None,
    ) -> None:
        self.binary = Path(binary) if binary else find_binary()
        self.args = list(args)
        self.requested_port = port
        self.port: int = port or 0
        self.host = "127.0.0.1"
        self.config_file = config_file
        self.start_timeout = start_timeout
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="engram-py-"))
        self._own_log = log_path is None
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="engram-py-", suffix=".log")
            os.close(fd)
            log_path = name
        self.log_path = Path(log_path)
        self.proc: Optional[subprocess.Popen] = None
        self._log = None

    # -- lifecycle -------------------------------------------------------------------

    def command_line(self, port: int) -> list[str]:
        cmd = [str(self.binary)]
        if self.config_file is not None:
            cmd.append(str(self.config_file))
        cmd += ["--port", str(port), "--dir", str(self.data_dir)]
        cmd += self.args
        return cmd

    def start(self) -> "EngramServer":
        """Starts the process and waits until it answers PING (or raises)."""
        if self.proc is not None:
            raise ServerError("already started")
        attempts = 1 if self.requested_port else 5
        last_error = ""
        for _ in range(attempts):
            port = self.requested_port or free_port()
            self._log = open(self.log_path, "ab")
            env = dict(os.environ)
            env.setdefault("RUST_LOG", "warn")
            self.proc = subprocess.Popen(
                self.command_line(port),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=env,
            )
            self.port = port
            if self._wait_ready():
                return self
            last_error = self._tail_log()
            self._kill()
        raise ServerError(f"engram-server did not start: {last_error}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            if ping(self.port, self.host, timeout=0.5):
                return True
            time.sleep(0.02)
        return False

    def _tail_log(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self, timeout: float = 10.0) -> Optional[int]:
        """SIGTERM, then SIGKILL after ``timeout`` seconds. Returns the exit status."""
        code = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
            code = self.proc.returncode
        self._kill()
        return code

    def crash(self) -> None:
        """SIGKILL: no shutdown path runs (what a power cut or OOM kill leaves behind)."""
        self._kill()

    def restart(self) -> "EngramServer":
        """Starts again on the same port and data dir, waiting until loading is done."""
        if self.is_running():
            self.stop()
        self.requested_port = self.port
        return self.start()

    def cleanup(self) -> None:
        """Stops the server and removes its data dir and log file if this object made them."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        if self._own_log:
            try:
                self.log_path.unlink()
            except OSError:
                pass

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise ServerError("not started")
        return self.proc.pid

    # -- conveniences ----------------------------------------------------------------

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def client(self, **kwargs):
        """A ``redis.Redis`` client for this server (redis-py must be installed)."""
        import redis  # imported lazily: the helper itself has no dependencies

        return redis.Redis(host=self.host, port=self.port, **kwargs)

    def __enter__(self) -> "EngramServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<EngramServer {self.host}:{self.port} {state} dir={self.data_dir}>"


def start(args: Iterable[str] = (), **kwargs) -> EngramServer:
    """Starts a server and returns it (call ``.cleanup()`` when done)."""
    return EngramServer(list(args), **kwargs).start()
