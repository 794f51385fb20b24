"""Differential testing of Engram against a reference Redis 7.4 (see test_differential.py)."""
