"""Identifiers: ``prefix_`` + 26 Crockford base32 characters, 48 bits of milliseconds then 80 random bits."""

import time

from hub.core.ids import _ALPHABET, new_id


def decode(text: str) -> int:
    value = 0
    for char in text:
        value = value * 32 + _ALPHABET.index(char)
    return value


def test_an_id_carries_its_creation_millisecond_and_sorts_by_it():
    before = int(time.time() * 1000)
    made = [new_id("evt") for _ in range(200)]
    after = int(time.time() * 1000)
    for text in made:
        prefix, _, rest = text.partition("_")
        assert prefix == "evt" and len(rest) == 26 and set(rest) <= set(_ALPHABET)
        assert before <= decode(rest) >> 80 <= after
    assert len(set(made)) == 200
    assert [decode(t[4:]) >> 80 for t in sorted(made)] == sorted(decode(t[4:]) >> 80 for t in made)


def test_the_random_part_uses_all_80_bits():
    randoms = [decode(new_id("x")[2:]) & ((1 << 80) - 1) for _ in range(400)]
    assert max(randoms).bit_length() == 80 and min(randoms).bit_length() > 60
    assert any(r & 1 for r in randoms) and any(r >> 79 for r in randoms)
