"""A wrong setting stops every process of ours with its sentence alone.

It used to be the last line of a 55-line traceback. Each process is started
the way the Procfile and deploy/systemd start it, with an environment that
inherits nothing from the test run.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# The Procfile's processes, on ports nothing listens on (they must not get that far).
PROCESSES = {
    "manage.py": [sys.executable, "manage.py", "check"],
    "gunicorn": [
        str(BIN / "gunicorn"),
        "analytics_project.wsgi:application",
        "--config",
        "python:analytics_project.gunicorn_conf",
        "--bind",
        "127.0.0.1:1",
    ],
    "uvicorn": [
        str(BIN / "uvicorn"),
        "analytics_project.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        "1",
        "--lifespan",
        "on",
    ],
    "celery worker": [str(BIN / "celery"), "-A", "analytics_project", "worker", "-Q", "default"],
    "celery beat": [str(BIN / "celery"), "-A", "analytics_project", "beat"],
}

# settings.py reads BASE_DIR/.env for what the environment lacks (`make run` writes
# a SECRET_KEY there); a variable set, even empty, wins over it, so SECRET_KEY=""
# is "no secret key" whether or not this checkout has a .env.
WRONG_SETTINGS = {
    "misspelt boolean": (
        {"DEBUG": "flase"},
        "DEBUG='flase' is not a boolean; use true or false.",
    ),
    "no secret key in production": (
        {"DEBUG": "false", "SECRET_KEY": ""},
        "SECRET_KEY is not set; set SECRET_KEY (or DEBUG=true for local development).",
    ),
}


@pytest.mark.parametrize("process", PROCESSES)
@pytest.mark.parametrize("wrong", WRONG_SETTINGS)
def test_a_wrong_setting_stops_start_up_with_one_sentence(process, wrong):
    variables, sentence = WRONG_SETTINGS[wrong]
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", **variables}

    result = subprocess.run(
        PROCESSES[process], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode != 0
    assert result.stderr == sentence + "\n"
    assert result.stdout == ""


def test_the_right_settings_still_start(tmp_path):
    # The guard must not stop a good configuration (DEBUG spelt right, a key given).
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "DEBUG": "false", "SECRET_KEY": "x" * 50}

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
