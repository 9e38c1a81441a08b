"""Prefixed, time-ordered identifiers (``con_01j…``): sortable by creation, safe in URLs."""

import base64
import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
# RFC 4648's base32 letters, spelled in Crockford's alphabet: base64.b32encode does the arithmetic in C.
_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode())
_PAD = bytes(4)      # 160 bits = 32 characters; the 30 leading zero bits are the 6 characters dropped


def new_id(prefix: str) -> str:
    """``prefix_`` + 26 characters: 48 bits of milliseconds then 80 random bits."""
    raw = _PAD + int(time.time() * 1000).to_bytes(6, "big") + os.urandom(10)
    return f"{prefix}_{base64.b32encode(raw)[6:].translate(_CROCKFORD).decode()}"
