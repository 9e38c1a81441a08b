"""The hookhub CLI against a real database (the click runner in-process)."""


def test_db_upgrade_and_tokens_create(run):
    assert "database at head" in run("db", "upgrade").output
    token = run("tokens", "create", "--role", "viewer").output.strip()
    assert token.startswith("hkh_") and len(token) > 40


def test_connection_lifecycle_from_the_cli(run, client):
    created = run("connections", "create", "from cli", "--provider", "generic").output
    cid = created.split()[1]
    url = created.split("inbound URL: ")[1].strip()
    assert cid.startswith("con_") and url.startswith(f"http://hub.test/hooks/generic/{cid}?key=")
    assert cid in run("connections", "list").output
    assert run("connections", "url", cid).output.strip() == url
    new_url = run("connections", "reset-key", cid).output.strip()
    assert new_url != url
    assert client.post(url.replace("http://hub.test", ""), json={}).status_code == 401
    assert client.post(new_url.replace("http://hub.test", ""), json={}).status_code == 200
    run("connections", "deactivate", cid)
    assert "inactive" in run("connections", "list").output
    run("connections", "activate", cid)
    assert "active" in run("connections", "list").output


def test_cli_errors_are_clean_messages(run):
    result = run("connections", "create", "x", "--provider", "nope", ok=False)
    assert result.exit_code == 1
    assert "no provider 'nope'" in result.output and "Traceback" not in result.output
    result = run("connections", "url", "con_missing", ok=False)
    assert result.exit_code == 1 and "no connection" in result.output
    result = run("connections", "create", "abc", "--provider", "generic", "--provider-config", "{oops", ok=False)
    assert result.exit_code == 2 and "not JSON" in result.output


def test_plugins_list_shows_version_kind_and_hooks(run):
    out = run("plugins", "list").output
    assert "provider_generic" in out and "0.1.0" in out and "provider" in out and "built-in" in out
    assert "hooks: hub_register_providers" in out
