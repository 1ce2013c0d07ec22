"""`make test` brings what the suite drives besides PostgreSQL and Redis.

On a fresh machine the admin triage tests failed for want of /usr/bin/chromium,
which only .ci/run installed; the README's command must stand on its own.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(*args: str) -> subprocess.CompletedProcess:
    # As a person runs it, also when the suite itself runs under `make test`.
    env = {k: v for k, v in os.environ.items() if k not in {"MAKELEVEL", "MAKEFLAGS", "MFLAGS"}}
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_test_installs_the_browser_before_it_runs_the_suite():
    planned = make("-n", "test")

    assert planned.returncode == 0, planned.stderr
    lines = planned.stdout.splitlines()
    install = next(i for i, line in enumerate(lines) if "apt-get install" in line)
    suite = next(i for i, line in enumerate(lines) if "bin/pytest" in line)
    assert install < suite
    assert "chromium" in "\n".join(lines[: suite + 1])
    assert not (ROOT / ".ci" / "run").read_text().count("apt-get"), ".ci/run duplicates it"


def test_make_test_says_what_to_install_when_it_cannot_install_it(tmp_path):
    # A browser that is not there and an apt-get that fails (not root, no mirror).
    result = make("test-deps", f"TEST_CHROMIUM={tmp_path / 'chromium'}", "TEST_APT_GET=false")

    assert result.returncode != 0
    sentence, *rest = result.stderr.splitlines()
    assert "apt-get install chromium" in sentence
    assert all(line.startswith("make: ***") for line in rest)  # make's own "Error 1"


def test_make_test_installs_nothing_when_the_browser_is_there(tmp_path):
    chromium = tmp_path / "chromium"
    chromium.write_text("#!/bin/sh\n")
    chromium.chmod(0o755)

    result = make("test-deps", f"TEST_CHROMIUM={chromium}", "TEST_APT_GET=false")

    assert result.returncode == 0, result.stderr
    assert "chromium" not in result.stdout
