"""The Makefile's .env rule."""

import stat
import subprocess
import sys

from tests.live import ROOT


def test_make_writes_dot_env_readable_by_its_owner_only(tmp_path):
    # A permissive umask, as most shells have: the rule itself must make it 0600.
    done = subprocess.run(
        ["sh", "-c", f'umask 022 && make -s -f "{ROOT}/Makefile" .env PYTHON="{sys.executable}"'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    dot_env = tmp_path / ".env"
    assert stat.S_IMODE(dot_env.stat().st_mode) == 0o600
    name, _, key = dot_env.read_text().strip().partition("=")
    assert name == "SECRET_KEY"
    assert len(key) >= 50
