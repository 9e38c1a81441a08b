"""The SHA-256 digests of an exchange that the audit of exchanges shows: the body, byte for byte,
and the headers in one canonical form, so that a party holding the original request can check them.

The canonical form of headers: each header as the line ``name: value\\n``, the name lower-cased,
the value exactly as received or sent; the lines sorted by name (repeated headers keep their
order, which is significant in HTTP); encoded as ISO-8859-1, the encoding of header fields on the
wire (a value that ISO-8859-1 cannot hold, which only a plugin can make, is encoded as UTF-8)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def body_sha256(body: bytes) -> str:
    """Hex SHA-256 of the exact bytes of a body."""
    return hashlib.sha256(body).hexdigest()


def headers_sha256(headers: Iterable[tuple[str, str]]) -> str:
    """Hex SHA-256 of ``headers`` ((name, value) pairs) in the canonical form above."""
    lines = sorted(((name.lower(), value) for name, value in headers), key=lambda line: line[0])
    try:
        data = "".join([f"{name}: {value}\n" for name, value in lines]).encode("latin-1")
    except UnicodeEncodeError:          # each line that ISO-8859-1 cannot hold as UTF-8, the others as before
        data = b"".join(_line(name, value) for name, value in lines)
    return hashlib.sha256(data).hexdigest()


def _line(name: str, value: str) -> bytes:
    line = f"{name}: {value}\n"
    try:
        return line.encode("latin-1")
    except UnicodeEncodeError:
        return line.encode("utf-8", "surrogatepass")
