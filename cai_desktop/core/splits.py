"""Stable, seeded train/test splits: a prompt's side depends only on (seed, text)."""

from __future__ import annotations

import hashlib


def split_of(text: str, seed: int = 0, test_fraction: float = 0.1) -> str:
    digest = hashlib.sha256(f"{seed}\x00{text}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    return "test" if u < test_fraction else "train"
