"""Keeping a large import's resident memory small: fewer malloc arenas.

glibc gives every thread that allocates its own arena (up to 8 per core), and each arena keeps
the peak of what its thread once held. An import's parsing, hashing and engine threads would
each keep one; two arenas hold the same work in less memory. Linux/glibc only; elsewhere it does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_ARENA_MAX = -8
_arenas_capped = False


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def cap_malloc_arenas(arenas: int = 2) -> None:
    """Limit glibc's malloc to ``arenas`` arenas for threads that start allocating from now on."""
    global _arenas_capped
    if _arenas_capped:
        return
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        _arenas_capped = bool(libc.mallopt(_M_ARENA_MAX, arenas))
