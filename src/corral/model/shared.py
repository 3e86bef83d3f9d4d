"""Values that many jobs hold alike, kept once in memory.

A controller holds every unfinished job, and most of a job's request is the same
as its neighbours': a user's jobs come from the same shell, so they carry the same
environment (often 2 to 5 KB, the biggest part of a job), the same working
directory, output path and often the same script. Keeping one copy of each makes a
pending job cost a few hundred bytes instead of several kilobytes.

- `shared_environment(env)`: one dict for every equal environment (same entries in
  the same order, so a rendering of any of them is byte for byte the same). Jobs
  hold it while they live (weakly referenced here); it is never changed in place:
  the code that needs a changed copy makes one (`dict(spec.environment)`).
- `shared_text(s)`: the interpreter's own interned copy of a string (its entry goes
  when the last holder does); `shared_texts(items)`: one tuple for equal tuples of
  strings seen lately (the last MAX_SHARED_TUPLES different ones).
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Iterable, Mapping


class SharedEnvironment(dict[str, str]):
    """An environment shared by jobs: never to be changed in place."""

    __slots__ = ("__weakref__",)


# (key, value, key, value, …) in order -> the one environment with those entries
_environments: weakref.WeakValueDictionary[tuple[str, ...], SharedEnvironment] = (
    weakref.WeakValueDictionary())


# tuple -> the one kept equal to it; cleared when full (a job keeps the one it got)
_tuples: dict[tuple[str, ...], tuple[str, ...]] = {}
MAX_SHARED_TUPLES = 4096


def shared_text(s: str) -> str:
    return sys.intern(s) if type(s) is str else s


def shared_texts(items: Iterable[str]) -> tuple[str, ...]:
    """The tuple of these strings, one for every equal tuple seen lately (a job's
    command line, features, node lists: alike across a user's jobs)."""
    key = tuple(shared_text(s) for s in items)
    if not key:
        return ()
    try:
        found = _tuples.get(key)
    except TypeError:  # (not all strings: kept as it is)
        return key
    if found is not None:
        return found
    if len(_tuples) >= MAX_SHARED_TUPLES:  # (tuples cannot be weakly referenced)
        _tuples.clear()
    _tuples[key] = key
    return key


def shared_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The one environment with exactly these entries, in this order."""
    if type(env) is SharedEnvironment:
        return env
    key = tuple(x for item in env.items() for x in item)
    found = _environments.get(key)
    if found is not None:
        return found
    made = SharedEnvironment((shared_text(k), shared_text(v)) for k, v in env.items())
    _environments[tuple(x for item in made.items() for x in item)] = made
    return made
