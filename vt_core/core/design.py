"""Reproducible designs, shared by every workflow: counterbalanced orders and derived seeds."""

from __future__ import annotations

import hashlib


def balanced_latin_square(n: int) -> list[list[int]]:
    """A Williams design over conditions 0..n-1: every condition once per row and column, and
    every ordered pair (a, b) of different conditions adjacent equally often. For even n that
    takes n rows; for odd n, 2n rows (each row followed by its reverse)."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"a Latin square needs at least one condition, not {n!r}")
    first, low, high = [0], 1, n - 1
    while len(first) < n:
        first.append(low)
        low += 1
        if len(first) < n:
            first.append(high)
            high -= 1
    rows = [[(c + shift) % n for c in first] for shift in range(n)]
    if n % 2 == 1 and n > 1:
        rows += [list(reversed(row)) for row in rows]
    return rows


def derive_seed(*parts: object) -> int:
    """A 31-bit seed from the parts (a run's seed, a sample index, ...), the same on every machine."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
