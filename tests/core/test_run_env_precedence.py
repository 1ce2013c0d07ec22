"""`export SECRET_KEY=...; make run` runs with the exported key, not `.env`'s.

settings.py reads `.env` without overriding (load_dotenv), but honcho, which `make run`
starts, reads `.env` itself and lets it override the environment of every process.
The test runs `make run`'s own command line (its prerequisites skipped) in a
directory whose Procfile prints what a process sees.
"""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")

PROBE = "import os; print('SECRET_KEY=' + os.environ.get('SECRET_KEY', '-'), 'WORKER_CONCURRENCY=' + os.environ.get('WORKER_CONCURRENCY', '-'), 'PORT=' + os.environ.get('PORT', '-'))"  # noqa: E501


def clean_env(**extra: str) -> dict[str, str]:
    # As a person runs it, also when the suite itself runs under `make test`.
    drop = {"MAKELEVEL", "MAKEFLAGS", "MFLAGS", "PORT", "WS_PORT", "SECRET_KEY"}
    drop |= {"WORKER_CONCURRENCY", "DJANGO_SETTINGS_MODULE"}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


def run_command_line() -> str:
    """The shell line `make run` runs once the database is migrated."""
    planned = subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", "migrate", "run"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert planned.returncode == 0, planned.stderr
    [line] = planned.stdout.strip().splitlines()
    return line


def run_probe(tmp_path: Path, env: dict[str, str]) -> str:
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / "Procfile").write_text(f"probe: {sys.executable} -c {shlex.quote(PROBE)}\n")
    (tmp_path / ".env").write_text(
        "SECRET_KEY=from-dotenv\nWORKER_CONCURRENCY=7\n", encoding="utf-8"
    )
    result = subprocess.run(
        ["sh", "-c", run_command_line()],
        cwd=tmp_path,
        # analytics_project.env from this checkout, whatever the directory.
        env=clean_env(PYTHONPATH=str(ROOT), **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_an_exported_secret_key_wins_over_dotenv_under_make_run(tmp_path):
    seen = run_probe(tmp_path, {"SECRET_KEY": "exported-key"})

    assert "SECRET_KEY=exported-key" in seen, seen
    assert "from-dotenv" not in seen
    # What is not exported still comes from .env, as before.
    assert "WORKER_CONCURRENCY=7" in seen, seen


def test_dotenv_still_fills_what_is_not_exported_under_make_run(tmp_path):
    seen = run_probe(tmp_path, {})

    assert "SECRET_KEY=from-dotenv" in seen, seen
    assert "PORT=8000" in seen, seen  # make run's default port
