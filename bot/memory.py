"""Giving memory back to the operating system after building an index."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc


@functools.cache
def _malloc_trim() -> object | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return getattr(libc, "malloc_trim", None)
    except OSError:
        return None


def release_free_memory() -> None:
    """Building an index allocates and frees hundreds of thousands of small objects (one analysis per question
    variant): glibc keeps the freed heap, so a process would hold about twice what the index needs, and more at
    every reload of a large knowledge base. Collect, then hand the free heap back (glibc only; elsewhere a no-op)."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)  # type: ignore[operator]
