"""Parse an inbound body by its content type: JSON, form, multipart, or raw text."""

from __future__ import annotations

import io
import json
import math
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.formparser import parse_form_data

from hub.core.errors import InvalidPayload


def parse_body(body: bytes, content_type: str) -> Any:
    """The payload of ``body`` by ``content_type`` (the whole header: multipart needs its boundary):
    a JSON value, a form dict (repeated names become lists),
    a multipart dict (files as ``{"filename", "content_type", "size"}``), or the body as text.

    Raises ``InvalidPayload`` when the body does not parse as its declared JSON or form type."""
    mimetype = (content_type or "").split(";", 1)[0].strip().lower()
    if mimetype == "application/json" or mimetype.endswith("+json"):
        if not body.strip():
            raise InvalidPayload("the body is empty but the content type says JSON")
        try:
            # json.loads(body, parse_constant=…, parse_float=…), without a decoder made per call
            value = _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
        except _NonFinite as exc:
            raise InvalidPayload(f"the body is not valid JSON: {exc}") from None
        except (ValueError, RecursionError) as exc:
            raise InvalidPayload(f"the body is not valid JSON: {_short(exc)}") from None
        # NUL and lone surrogates only reach a JSON string through \u escapes; they cannot be
        # stored by every database, so they become U+FFFD in the payload (the raw body keeps them).
        return storable(value) if b"\\u" in body else value
    if mimetype == "application/x-www-form-urlencoded":
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidPayload("the form body is not UTF-8") from None
        try:
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidPayload(f"the form body cannot be parsed: {_short(exc)}") from None
        return storable(_group(pairs))
    if mimetype.startswith("multipart/form-data"):
        return storable(_parse_multipart(body, content_type))
    return storable(body.decode("utf-8", errors="replace"))


class _NonFinite(ValueError):
    pass


def _refuse_constant(name: str) -> float:
    raise _NonFinite(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NonFinite(f"{text[:40]} is too large for a number")
    return value


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def storable(value: Any) -> Any:
    """The value with NUL characters and lone surrogates in its strings replaced by U+FFFD."""
    if isinstance(value, str):
        if value.isascii():   # the common case, and no surrogates possible: one C-level scan
            return value.replace("\x00", "\ufffd") if "\x00" in value else value
        if "\x00" in value or _has_surrogate(value):
            return "".join("\ufffd" if ch == "\x00" or "\ud800" <= ch <= "\udfff" else ch for ch in value)
        return value
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _group(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            if isinstance(out[key], list):
                out[key].append(value)
            else:
                out[key] = [out[key], value]
        else:
            out[key] = value
    return out


def _parse_multipart(body: bytes, content_type: str) -> dict[str, Any]:
    if "boundary=" not in content_type:
        raise InvalidPayload("multipart body without a boundary in its content type")
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    try:
        _, form, files = parse_form_data(environ, silent=False)
    except Exception as exc:  # werkzeug raises ValueError or HTTPException subclasses
        raise InvalidPayload(f"the multipart body cannot be parsed: {_short(exc)}") from None
    pairs: list[tuple[str, Any]] = list(form.items(multi=True))
    for name, storage in files.items(multi=True):
        data = storage.read()
        pairs.append((name, {"filename": storage.filename, "content_type": storage.mimetype,
                             "size": len(data)}))
    return _group(pairs)


def _short(exc: BaseException) -> str:
    return str(exc)[:200]
