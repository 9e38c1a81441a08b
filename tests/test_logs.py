"""No log of a test run carries a secret: not the records of this process (the hub's code under
every test of the session), not the log files the end-to-end tests' processes wrote."""

from __future__ import annotations

import pytest

from tests.log_secrets import LINES, SECRETS, findings, leaks, log_files
from tests.whole_suite import covers_every_test_file


@pytest.mark.after_all_others
def test_no_log_line_carries_a_secret(request, tmp_path_factory):
    if not covers_every_test_file(item.path for item in request.session.items):
        pytest.skip("this check reads the logs of the whole suite; run it with the whole suite")
    assert len(SECRETS) > 50 and len(LINES) > 100, "the session's secrets and logs were not collected"
    files = log_files(tmp_path_factory.getbasetemp())
    assert files, "the end-to-end tests wrote no log files to read"
    found = findings(LINES, files)
    assert found == {}, f"secrets in the logs: {found}"


def test_the_check_finds_a_secret_and_a_credential_shape():
    SECRETS.add("a secret value for the check")
    try:
        assert leaks("… a secret value for the check …") == ["a secret of 28 characters (a s…)"]
    finally:
        SECRETS.discard("a secret value for the check")
    assert leaks("GET /hooks/generic/con_1?key=" + "k" * 43) == ["?key=kkkkkkk…"]
    assert leaks("Authorization: Bearer hkh_" + "t" * 40)[0].startswith("hkh_")
    assert leaks("nothing here") == []


def test_a_word_of_the_hubs_own_code_is_not_taken_for_a_leaked_secret():
    """schemathesis once stored the secret ``unavailable`` (Hypothesis draws from code constants),
    and the worker's line "pacing unavailable for …" then read as a leak."""
    for word in ("unavailable", "a secret not in the code"):
        SECRETS.add(word)
    try:
        assert leaks("pacing unavailable for con_1, sending anyway") == []
        assert leaks("it said: a secret not in the code") == ["a secret of 24 characters (a s…)"]
    finally:
        SECRETS.discard("unavailable")
        SECRETS.discard("a secret not in the code")
