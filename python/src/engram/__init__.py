"""Engram: Python helpers for a Redis-compatible durable in-memory database.

Engram speaks the Redis protocol, so applications use redis-py (or any Redis client)
directly. This package only adds what tests and examples need: :mod:`engram.server`
to start a local ``engram-server``.
"""

from .server import EngramServer, ServerError, find_binary, free_port

__all__ = ["EngramServer", "ServerError", "find_binary", "free_port"]
__version__ = "0.1.0"
