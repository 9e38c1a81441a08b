"""The console over HTTP without a browser (Flask's test client): the session cookie's flags and
contents, the signing key, expiry, the shared sign-in limiter, CSRF scoped to the console, and
error pages that stay HTML in the console while the API keeps its JSON."""

from __future__ import annotations

import ipaddress
import re
import time

import pytest
from cryptography.fernet import Fernet

from hub.testing import make_app
from tests.conftest import ADMIN_TOKEN


def csrf(client, path: str = "/console/login", **kw) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path, **kw).text).group(1)


def sign_in(client, token: str = ADMIN_TOKEN, **kw):
    return client.post("/console/login", data={"token": token, "csrf_token": csrf(client, **kw)}, **kw)


def session_cookie(response) -> str:
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("hookhub_console=")]
    return cookie


def test_the_session_cookie_is_httponly_lax_scoped_to_the_console_and_holds_the_token_id_not_its_value(app, client):
    answer = sign_in(client)
    assert answer.status_code == 303
    cookie = session_cookie(answer)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie and "Expires=" in cookie
    assert "Secure" not in cookie                      # plain HTTP here: a Secure cookie would never come back
    raw = cookie.split(";")[0].split("=", 1)[1]
    data = app.session_interface.get_signing_serializer(app).loads(raw)
    assert data["token"].startswith("tok_") and ADMIN_TOKEN not in str(data) and ADMIN_TOKEN not in raw
    assert 8 * 3600 - 60 < data["until"] - time.time() <= 8 * 3600


def test_the_session_cookie_is_secure_over_https_and_behind_a_trusted_proxy_only(app, client):
    over_https = {"base_url": "https://hub.example", "headers": {"Referer": "https://hub.example/console/login"}}
    assert "Secure" in session_cookie(sign_in(app.test_client(), **over_https))
    forwarded = {"X-Forwarded-Proto": "https"}
    assert "Secure" not in session_cookie(sign_in(client, headers=forwarded))   # no trusted proxy: ignored
    app.config["HOOKHUB_TRUSTED_PROXIES"] = (ipaddress.ip_network("127.0.0.0/8"),)
    assert "Secure" in session_cookie(sign_in(app.test_client(), headers=forwarded))


def test_the_signing_key_comes_from_the_instance_keys_and_a_cookie_of_another_hub_is_refused(app, client, tmp_path,
                                                                                              redis_url):
    key = app.config["HOOKHUB_SECRET_KEYS"][0]
    assert app.secret_key and app.secret_key not in (key, key.encode())
    database = {"HOOKHUB_DATABASE_URL": app.config["HOOKHUB_DATABASE_URL"]}      # other processes of the same hub…
    same = make_app(tmp_path / "same", redis_url, HOOKHUB_SECRET_KEYS=(key,), **database)
    other = make_app(tmp_path / "other", redis_url, HOOKHUB_SECRET_KEYS=(Fernet.generate_key().decode(),), **database)
    rotated = make_app(tmp_path / "rotated", redis_url, HOOKHUB_SECRET_KEYS=(Fernet.generate_key().decode(), key),
                       **database)                                             # … after a new key was put first
    try:
        assert same.secret_key == app.secret_key                   # every process of one hub agrees
        assert other.secret_key != app.secret_key
        raw = session_cookie(sign_in(client)).split(";")[0].split("=", 1)[1]
        for hub, accepted in ((other, False), (rotated, True)):     # an older key still verifies after rotation
            visitor = hub.test_client()
            visitor.set_cookie("hookhub_console", raw, path="/console")
            assert (visitor.get("/console/connections").status_code == 200) is accepted
    finally:
        for hub in (same, other, rotated):
            hub.close()


def test_a_session_past_its_end_signs_out(client):
    sign_in(client)
    assert client.get("/console/connections").status_code == 200
    with client.session_transaction() as session:
        session["until"] = int(time.time()) - 1
    answer = client.get("/console/connections")
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/console/login")


@pytest.fixture
def settings(settings):
    return {**settings, "HOOKHUB_AUTH_FAILURE_LIMIT": "3/minute"}


def test_failed_sign_ins_are_limited_per_address_with_the_apis_limiter(client, api):
    assert api.get("/connections", token="hkh_wrong").status_code == 401    # one failure through the API…
    for _ in range(2):
        assert sign_in(client, "hkh_wrong").status_code == 401              # … two through the console
    refused = sign_in(client, ADMIN_TOKEN)                                  # even the right token now
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "Too many attempts" in refused.text and "Too many failed sign-ins from 127.0.0.1" in refused.text
    assert api.get("/connections").status_code == 429                       # one limit for both


def test_csrf_is_the_consoles_only_the_api_takes_bearer_posts_without_it(client, api):
    assert api.post("/connections", json={"name": "crm", "provider": "generic"}).status_code == 201
    refused = client.post("/console/login", data={"token": ADMIN_TOKEN})    # no CSRF token: refused
    assert refused.status_code == 400 and "security token" in refused.text
    assert refused.mimetype == "text/html"


def test_error_pages_are_html_in_the_console_without_a_traceback_and_json_in_the_api(client, api, monkeypatch):
    sign_in(client)
    missing = client.get("/console/connections/con_nope")
    assert missing.status_code == 404 and missing.mimetype == "text/html" and "Page not found" in missing.text
    assert 'aria-label="Console"' in missing.text                           # in the layout, with the navigation
    assert client.get("/console/no/such/page").status_code == 404
    assert api.get("/nope").get_json()["error"]["code"] == "not_found"       # the API keeps its JSON

    def broken(*_args, **_kw):
        raise RuntimeError("boom: a bug with a secret detail")

    monkeypatch.setattr("hub.web.console.connections.connection_activity", broken)
    failed = client.get("/console/connections")
    assert failed.status_code == 500 and "Something went wrong" in failed.text
    assert "boom" not in failed.text and "Traceback" not in failed.text


def test_console_pages_carry_a_strict_content_security_policy_and_are_not_cached(client):
    page = client.get("/console/login")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store" and page.headers["X-Frame-Options"] == "DENY"
    assert "<script src=\"/console/static/console.js\"" in page.text and "<script>" not in page.text
    css = client.get("/console/static/console.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
