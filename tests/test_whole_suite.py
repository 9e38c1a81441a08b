"""The whole-run checks as the pytest-xdist controller runs them (tests/whole_suite.py), over
records shaped as the workers send them: a hook or a leak seen by no single worker is still found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.hook_calls import HOOKS
from tests.whole_suite import covers_every_test_file, findings

SECRETS = [f"a-session-secret-{n:03}" for n in range(60)]


def record(folder: Path, **changes: Any) -> dict[str, Any]:
    """A clean worker's record, its log files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "serve.log").write_text("hub.web INFO listening\n")
    return {"whole": True, "called": dict.fromkeys(HOOKS, 1), "secrets": list(SECRETS),
            "lines": ["hub.worker INFO delivered"] * 120, "basetemp": str(folder)} | changes


def test_clean_records_of_two_workers_show_nothing(tmp_path):
    assert findings([record(tmp_path / "gw0"), record(tmp_path / "gw1")]) == []


def test_a_hook_is_called_if_any_worker_called_it_and_one_no_worker_called_is_named(tmp_path):
    first, second, never = HOOKS[0], HOOKS[1], HOOKS[2]
    gw0 = record(tmp_path / "gw0", called={name: 1 for name in HOOKS if name not in (second, never)})
    gw1 = record(tmp_path / "gw1", called={first: 2, second: 1})
    assert findings([gw0, gw1]) == [f"no test made the core call {never}"]


def test_a_secret_of_one_worker_in_the_log_file_of_another_is_found(tmp_path):
    gw0 = record(tmp_path / "gw0", secrets=[*SECRETS, "the-first-workers-signing-secret"])
    gw1 = record(tmp_path / "gw1", secrets=SECRETS)
    (tmp_path / "gw1" / "worker.log").write_text("sent with the-first-workers-signing-secret\n")
    assert findings([gw0, gw1]) == [f"a secret in {tmp_path / 'gw1' / 'worker.log'}: a secret of 32 characters (the…)"]


def test_a_log_record_with_a_credential_and_missing_records_are_findings(tmp_path):
    gw0 = record(tmp_path / "gw0", lines=["hub.web INFO POST /hooks/generic/con_1?key=" + "k" * 43] * 120)
    assert findings([gw0]) == [f"a secret in log line {n}: ?key=kkkkkkk…" for n in range(120)]
    empty = record(tmp_path / "gw1", secrets=[], lines=[], basetemp="")
    assert findings([empty]) == ["the session's secrets and logs were not collected",
                                 "the end-to-end tests wrote no log files to read"]


def test_a_run_of_part_of_the_suite_is_not_checked(tmp_path):
    assert findings([record(tmp_path / "gw0", whole=False, called={})]) == []
    tests = Path(__file__).resolve().parent
    assert covers_every_test_file(tests.rglob("test_*.py"))
    assert not covers_every_test_file([Path(__file__)])
