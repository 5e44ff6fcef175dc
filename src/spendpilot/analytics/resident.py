"""Keeping a large import's resident memory small: fewer malloc arenas, freed pages handed back.

glibc gives every thread that allocates its own arena (up to 8 per core), and each arena keeps
the peak of what its thread once held. An import's parsing, hashing and engine threads would
each keep one; two arenas hold the same work in less memory. glibc also keeps the pages of freed
chunks inside an arena (only the arena's top is given back on free): each batch's parse
temporaries stay resident under the next batch's insert unless trimmed. Linux/glibc only;
elsewhere it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_ARENA_MAX = -8
_arenas_capped = False
_libc_handle: ctypes.CDLL | None = None


def _libc() -> ctypes.CDLL | None:
    global _libc_handle
    if _libc_handle is None and sys.platform.startswith("linux"):
        try:
            _libc_handle = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        except OSError:
            return None
    return _libc_handle


def cap_malloc_arenas(arenas: int = 2) -> None:
    """Limit glibc's malloc to ``arenas`` arenas for threads that start allocating from now on."""
    global _arenas_capped
    if _arenas_capped:
        return
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        _arenas_capped = bool(libc.mallopt(_M_ARENA_MAX, arenas))


def trim_malloc() -> None:
    """Give the pages of glibc's free chunks back to the system (every arena, not only its top)."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
