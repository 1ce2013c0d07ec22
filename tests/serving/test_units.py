"""deploy/systemd: each process is restarted whenever it dies, and web serves as `make run` does."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.live import ROOT

UNITS = ROOT / "deploy" / "systemd"
SERVICES = ("analytics-web", "analytics-worker", "analytics-beat", "analytics-live")


def directives(name: str) -> dict[str, str]:
    values = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


@pytest.mark.parametrize("service", SERVICES)
def test_each_process_is_restarted_however_often_it_dies(service):
    unit = directives(f"{service}.service")
    assert unit["Restart"] == "always"
    assert unit["StartLimitIntervalSec"] == "0"  # systemd would give up after 5 in 10 s
    assert unit["PartOf"] == unit["WantedBy"] == "analytics.target"
    assert unit["EnvironmentFile"] == "/etc/analytics/production.env"


def test_the_web_unit_starts_what_the_procfile_starts():
    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line[:4] == "web:")
    procfile = web.split()[1:5]  # gunicorn, the app, --config and its module
    unit = directives("analytics-web.service")["ExecStart"].split()[:4]
    assert Path(unit[0]).name == Path(procfile[0]).name == "gunicorn"
    assert unit[1:] == procfile[1:]


def test_the_live_unit_starts_what_the_procfile_starts():
    live = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line[:5] == "live:"
    )
    procfile = live.split()[1:]
    unit = directives("analytics-live.service")["ExecStart"].split()
    assert Path(unit[0]).name == Path(procfile[0]).name == "uvicorn"
    # The unit sets its defaults (Environment=), the Procfile in ${NAME:-default}.
    assert unit[1:] == [re.sub(r"\$\{(\w+):-[^}]*\}", r"${\1}", arg) for arg in procfile[1:]]
    target = directives("analytics.target")["Wants"].split()
    assert sorted(target) == sorted(f"{service}.service" for service in SERVICES)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_units_pass_systemd_analyze_verify(tmp_path):
    for unit in UNITS.iterdir():  # with this checkout standing in for /opt/analytics
        (tmp_path / unit.name).write_text(unit.read_text().replace("/opt/analytics", str(ROOT)))
    done = subprocess.run(
        ["systemd-analyze", "verify", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""


def test_deploy_readme_gives_the_postgres_keepalives_the_multi_host_run_uses():
    from bench.stack.multihost import POSTGRES_SETTINGS

    text = (ROOT / "deploy" / "README.md").read_text()
    for setting in POSTGRES_SETTINGS:
        name, _, value = setting.partition("=")
        assert f"{name} = {value}" in text
