"""What production installs rely on: a built wheel (not the editable checkout) carries everything
needed to migrate and serve; the systemd units pass `systemd-analyze verify`; the example
environment sets only documented variables."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hub.storage.config import Config

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
