"""Compact JSON as the store and the read model write it, encoded by orjson.

`dumps` gives the bytes that `json.dumps(value, ensure_ascii=False,
separators=(",", ":"), sort_keys=...)` would encode to UTF-8 for the values the
controller writes (dicts with string keys, lists, tuples, strings, numbers,
booleans, None; str enums as their values), but for some floats' form (0.00001 for
1e-05: the same number), several times faster: a submit's spec
is encoded for its row, its event and its rendering. Where orjson refuses a value
(an integer past 64 bits, a type it does not know) the standard library encodes it;
where the standard library would write NaN or Infinity, which are not JSON,
orjson writes null.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS
_SORTED = orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS


def dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    try:
        return orjson.dumps(value, option=_SORTED if sort_keys else _OPTIONS)
    except TypeError:  # (orjson.JSONEncodeError) past 64 bits, or a type of its own
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                          sort_keys=sort_keys).encode()


def dumps_str(value: Any, *, sort_keys: bool = False) -> str:
    return dumps(value, sort_keys=sort_keys).decode()
