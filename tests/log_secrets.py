"""A pytest plugin of the suite: keeps every log record of the session (in this process, at INFO
and above) and every secret value the hub encrypted or a token it issued, so that
``test_no_log_line_carries_a_secret`` can check at the end that no log of the run — these records
and the log files the end-to-end tests' processes wrote — contains one (under pytest-xdist, the
controller checks every worker's: :mod:`tests.whole_suite`)."""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

#: Secret values seen this session (at least 8 characters: shorter ones match by chance).
SECRETS: set[str] = set()
#: Every log line emitted in this process this session.
LINES: list[str] = []
#: What a leaked credential looks like, whoever made it: admin tokens, inbound keys in a URL,
#: Standard Webhooks signing secrets.
PATTERNS = (re.compile(r"hkh_[A-Za-z0-9_-]{20,}"), re.compile(r"[?&]key=[A-Za-z0-9_-]{20,}"),
            re.compile(r"whsec_[A-Za-z0-9+/=]{20,}"))
MIN_LENGTH = 8
REFERENCE = re.compile(r"\s*\$\{(param|env)\.\w+\}\s*")


class _Keep(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            LINES.append(self.format(record))
        except Exception:  # noqa: S110 - a record that cannot be formatted is not a log line
            pass


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)


def _remember(*values: str) -> None:
    """Keep the secret values among ``values``: not the ``${param.…}`` references that stand for them."""
    SECRETS.update(v for v in values if isinstance(v, str) and len(v) >= MIN_LENGTH and not REFERENCE.fullmatch(v))


@pytest.hookimpl
def pytest_configure(config: pytest.Config) -> None:
    from hub.services import tokens
    from hub.storage.vault import Vault

    handler = _Keep(logging.INFO)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)

    encrypt, encrypt_json, create_token = Vault.encrypt, Vault.encrypt_json, tokens.create_token

    def remembering_encrypt(self: Vault, value: str) -> str:
        _remember(value)
        return encrypt(self, value)

    def remembering_encrypt_json(self: Vault, value: Any) -> str:
        _remember(*_leaves(value))
        return encrypt_json(self, value)

    def remembering_create_token(*args: Any, **kwargs: Any) -> Any:
        token, value = create_token(*args, **kwargs)
        _remember(value)
        return token, value

    Vault.encrypt, Vault.encrypt_json = remembering_encrypt, remembering_encrypt_json   # type: ignore[method-assign]
    tokens.create_token = remembering_create_token

    def restore() -> None:
        Vault.encrypt, Vault.encrypt_json = encrypt, encrypt_json          # type: ignore[method-assign]
        tokens.create_token = create_token
        logging.getLogger().removeHandler(handler)

    config.add_cleanup(restore)


@cache
def code_strings() -> frozenset[str]:
    """Every string literal in the hub's and the built-in plugins' code. Hypothesis (under
    schemathesis and the fuzz tests) draws text from the constants of local modules, so a generated
    "secret" can be ``unavailable`` or another word the hub itself logs: such a value is not one."""
    root = Path(__file__).resolve().parent.parent
    found: set[str] = set()
    for path in [*root.joinpath("hub").rglob("*.py"), *root.joinpath("plugins").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return frozenset(found)


def leaks(text: str, secrets: set[str] = SECRETS) -> list[str]:
    """What in ``text`` is one of ``secrets`` (by default, those this session used), or looks like
    a credential."""
    found = [f"a secret of {len(s)} characters ({s[:3]}…)" for s in secrets
             if s in text and s not in code_strings()]
    found += [f"{m.group(0)[:12]}…" for pattern in PATTERNS for m in pattern.finditer(text)]
    return found


def findings(lines: list[str], files: list[Path], secrets: set[str] = SECRETS) -> dict[str, list[str]]:
    """What in ``lines`` (log records) and ``files`` (log files) :func:`leaks`, by where it is."""
    found = {f"log line {n}": leaked for n, line in enumerate(lines) if (leaked := leaks(line, secrets))}
    found |= {str(path): leaked for path in files if (leaked := leaks(read(path), secrets))}
    return found


def log_files(basetemp: Path) -> list[Path]:
    """The log files the end-to-end tests' processes wrote under the session's temporary folder."""
    return sorted(p for p in basetemp.rglob("*.log") if p.is_file())


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "replace")


__all__ = ["LINES", "SECRETS", "findings", "leaks", "log_files", "read"]
