"""A pytest plugin of the suite: the checks that read what the whole suite did, under pytest-xdist.

Two checks look at the session as a whole once every other test has run: every plugin hook was
called by some test (``test_every_hook_is_called_by_a_test``, from :mod:`tests.hook_calls`' record)
and no log line or log file of the run carries a secret (``test_no_log_line_carries_a_secret``,
from :mod:`tests.log_secrets`' record). They are tests marked ``after_all_others`` when the suite
runs in one process. ``make test`` runs it in several (``pytest -n``): there a worker sees only
what its own tests did, so the workers leave those tests out (each the same way, as xdist
requires), each hands its record to the controller as it ends (xdist's ``workeroutput``), and the
controller runs the same checks over all the records at the end of the session. A finding is
reported and fails the run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from tests import hook_calls, log_secrets

TESTS = Path(__file__).resolve().parent
KEY = "hookhub_whole_suite"
#: The records of the workers that have ended (on the controller).
RECORDS: list[dict[str, Any]] = []
#: Whether a worker's collection holds every test file.
_whole = pytest.StashKey[bool]()


def covers_every_test_file(paths: Iterable[Any]) -> bool:
    """Whether ``paths`` (the collected tests' files) hold every test file of the suite."""
    return set(TESTS.rglob("test_*.py")) <= {Path(str(path)) for path in paths}


def _worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _controller(config: pytest.Config) -> bool:
    return not _worker(config) and config.pluginmanager.get_plugin("dsession") is not None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _worker(config):
        return
    config.stash[_whole] = covers_every_test_file(item.path for item in items)
    readers = [item for item in items if item.get_closest_marker("after_all_others")]
    if readers:
        items[:] = [item for item in items if item not in readers]
        config.hook.pytest_deselected(items=readers)


@pytest.hookimpl
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if _worker(config):
        config.workeroutput[KEY] = {       # type: ignore[attr-defined]
            "whole": config.stash.get(_whole, False),
            "called": dict(hook_calls.CALLED),
            "secrets": sorted(log_secrets.SECRETS),
            "lines": log_secrets.LINES,
            "basetemp": str(config.getoption("basetemp") or ""),
        }
    elif _controller(config) and RECORDS:
        problems = findings(RECORDS)
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if problems:
            if reporter is not None:
                reporter.write_line("")          # after the progress line
                reporter.write_sep("=", "the whole suite's checks failed (tests/whole_suite.py)", red=True)
                for problem in problems:
                    reporter.write_line(problem)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        elif reporter is not None and all(record["whole"] for record in RECORDS):
            reporter.write_line("")          # after the progress line
            reporter.write_line(f"the whole suite's checks (every hook called, no secret in a log) passed over "
                                f"the records of {len(RECORDS)} processes")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """(xdist, on the controller) A worker has ended: keep its record."""
    record = getattr(node, "workeroutput", {}).get(KEY)
    if record is not None:
        RECORDS.append(record)


def findings(records: list[dict[str, Any]]) -> list[str]:
    """What the workers' records say is wrong with the whole run; nothing when it did not run
    every test file (as the tests skip then)."""
    if not all(record["whole"] for record in records):
        return []
    called: Counter[str] = Counter()
    lines: list[str] = []
    secrets: set[str] = set()
    for record in records:
        called.update(record["called"])
        lines += record["lines"]
        secrets.update(record["secrets"])
    problems = [f"no test made the core call {name}" for name in hook_calls.uncalled(called)]
    if len(secrets) <= 50 or len(lines) <= 100:
        problems.append("the session's secrets and logs were not collected")
    files = [path for record in records if record["basetemp"]
             for path in log_secrets.log_files(Path(record["basetemp"]))]
    if not files:
        problems.append("the end-to-end tests wrote no log files to read")
    problems += [f"a secret in {where}: {', '.join(found)}" for where, found in
                 log_secrets.findings(lines, files, secrets).items()]
    return problems
