"""Compiled (numba) kernel behind `chunks.hash_text`: the same 64-bit hash of each string, without the numpy
temporaries (the numpy version widens every byte to 8 bytes and makes several passes over them: most of the
routing CPU of a batch job).

Import only through `chunks._kernels()`, which falls back to the numpy hash when numba is missing or fails. The
kernel compiles on first use (about a second) and is cached on disk (`cache=True`, as `_fastpath_kernels`).
Values are those of the numpy version exactly (checked by `warm` and by the tests): sum of byte * P**k modulo
2**64 over the string's bytes (k from 0), xor length * golden-ratio constant, then the splitmix64 finaliser.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["build_table", "find_in_table", "hash_strings", "warm"]

_P = np.uint64(0x100000001B3)
_LENGTH = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, nogil=True)
def hash_strings(data, offsets, out):  # type: ignore[no-untyped-def]
    """out[i] = hash of data[offsets[i] : offsets[i + 1]] (data: uint8, offsets: int64, out: uint64)."""
    p = _P
    for i in range(len(offsets) - 1):
        start = offsets[i]
        stop = offsets[i + 1]
        # Two accumulators (even and odd bytes, steps of P**2) halve the multiply chain per byte.
        p2 = p * p
        h0 = np.uint64(0)
        h1 = np.uint64(0)
        w = np.uint64(1)
        k = start
        while k + 1 < stop:
            h0 += np.uint64(data[k]) * w
            h1 += np.uint64(data[k + 1]) * w
            w *= p2
            k += 2
        h = h0 + h1 * p
        if k < stop:
            h += np.uint64(data[k]) * w
        h ^= np.uint64(stop - start) * _LENGTH
        h = (h ^ (h >> np.uint64(30))) * _M1
        h = (h ^ (h >> np.uint64(27))) * _M2
        out[i] = h ^ (h >> np.uint64(31))


@njit(cache=True, nogil=True)
def build_table(hashes, slots, mask):  # type: ignore[no-untyped-def]
    """Open addressing (linear probing) over sorted `hashes`: each distinct hash's slot holds the index of its
    first occurrence (what `np.searchsorted(hashes, h)` finds). `slots` (int32 or int64, size a power of two at
    least twice the keys) must be filled with -1; `mask` = size - 1. The hashes are already mixed (splitmix64),
    so their low bits index the table directly."""
    for i in range(len(hashes)):
        if i > 0 and hashes[i] == hashes[i - 1]:
            continue
        s = hashes[i] & mask
        while slots[s] != -1:
            s = (s + np.uint64(1)) & mask
        slots[s] = i


@njit(cache=True, nogil=True)
def find_in_table(hashes, slots, mask, asked, out):  # type: ignore[no-untyped-def]
    """out[k] = index of the first element of `hashes` equal to asked[k], -1 when none (see `build_table`)."""
    for k in range(len(asked)):
        s = asked[k] & mask
        while True:
            j = slots[s]
            if j == -1:
                out[k] = -1
                break
            if hashes[j] == asked[k]:
                out[k] = j
                break
            s = (s + np.uint64(1)) & mask


def warm() -> None:
    """Compile (or load) the kernels once with the argument types `chunks` uses."""
    out = np.zeros(2, dtype=np.uint64)
    hash_strings(np.frombuffer(b"abc", dtype=np.uint8), np.array([0, 1, 3], dtype=np.int64), out)
    for dtype in (np.int32, np.int64):
        slots = np.full(4, -1, dtype=dtype)
        build_table(out, slots, np.uint64(3))
        found = np.zeros(2, dtype=np.int64)
        find_in_table(out, slots, np.uint64(3), out, found)
