"""Per-kind retention from the environment, for every kind the pipeline has.

The list of kinds was typed by hand in settings and drifted: AI usage was left out,
so ANALYTICS_RETENTION_DAYS_AI_USAGE was silently ignored. Run as an operator does: a
process started with the variable set.
"""

import os
import subprocess
import sys

from tests.live import ROOT

ASK = "from apps.ingest.retention import retention_days; print(retention_days({kind!r}))"


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "true", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_kind_has_its_own_retention_setting_ai_usage_too():
    done = manage(
        "shell",
        "-c",
        ASK.format(kind="ai_usage"),
        ANALYTICS_RETENTION_DAYS_AI_USAGE="7",
        ANALYTICS_RETENTION_DAYS="90",
    )
    assert done.stdout.splitlines()[-1] == "7", done.stderr


def test_a_misspelt_kind_stops_start_up_naming_the_kinds():
    done = manage("check", ANALYTICS_RETENTION_DAYS_AI_USGE="7")
    assert done.returncode != 0
    assert "ANALYTICS_RETENTION_DAYS_AI_USGE names no kind of record" in done.stderr
    assert "AI_USAGE" in done.stderr and "REQUEST_LOG" in done.stderr


def test_a_retention_that_is_not_a_number_is_refused_in_one_sentence():
    done = manage("check", ANALYTICS_RETENTION_DAYS_EVENT="a week")
    assert done.returncode != 0
    assert "ANALYTICS_RETENTION_DAYS_EVENT='a week' is not an integer." in done.stderr


def test_env_example_lists_the_retention_of_every_kind():
    from apps.ingest.registry import all_kinds

    listed = (ROOT / ".env.example").read_text()
    missing = [
        kind.name
        for kind in all_kinds()
        if f"ANALYTICS_RETENTION_DAYS_{kind.name.upper()}=" not in listed
    ]
    assert not missing
