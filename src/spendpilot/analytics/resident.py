"""Keeping a large import's resident memory small: fewer malloc arenas, idle engine code paged out.

Both are Linux/glibc specific and best effort: where they do not apply they do nothing.

- glibc gives every thread that allocates its own arena (up to 8 per core), and each arena keeps
  the peak of what its thread once held. An import's parsing, hashing and engine threads would
  each keep one; two arenas hold the same work in less memory.
- chDB's library is about 550 MB of code and tables. Loading it runs its initialisers, and the
  kernel maps the pages around every page touched (fault-around), so about 240 MB of it is
  resident before any query, most of it never run again. Those pages are clean copies of the
  file: dropping them from the process's mapping costs nothing (they stay in the page cache),
  and a page that is run again comes back as a minor fault.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import re
import sys

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8
_MADV_DONTNEED = 4
_MAPPING = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")
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


def drop_clean_code(library: str) -> int:
    """Unmap the resident pages of the read-only, unmodified mappings of the shared library at path
    ``library``; returns the MB dropped.

    Only mappings without a written page qualify (``Private_Dirty`` and ``Anonymous`` both 0, no
    write permission): for them a dropped page is re-read from the file, identical, when next used.
    The relocated (RELRO) and data mappings are never touched.
    """
    libc = _libc()
    if libc is None:
        return 0
    try:
        mappings = _clean_mappings(os.path.realpath(library))
    except OSError:
        return 0
    madvise = libc.madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    dropped = 0
    for start, end, resident_kb in mappings:
        if madvise(start, end - start, _MADV_DONTNEED) == 0:
            dropped += resident_kb
        else:
            log.debug("madvise failed on %s: errno %d", library, ctypes.get_errno())
    return dropped >> 10


def _clean_mappings(library: str) -> list[tuple[int, int, int]]:
    found: list[tuple[int, int, int]] = []
    current: dict | None = None

    def keep(m: dict | None) -> None:
        if (m is not None and m["ok"] and m.get("Rss", 0) and m.get("Private_Dirty", 1) == 0
                and m.get("Anonymous", 1) == 0):
            found.append((m["start"], m["end"], m["Rss"]))

    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = _MAPPING.match(line)
            if head:
                keep(current)
                start, end, perms, path = head.groups()
                current = {"start": int(start, 16), "end": int(end, 16),
                           "ok": path == library and "w" not in perms}
            elif current is not None and current["ok"]:
                key, _, value = line.partition(":")
                if key in ("Rss", "Private_Dirty", "Anonymous"):
                    current[key] = int(value.split()[0])
    keep(current)
    return found
